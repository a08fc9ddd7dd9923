//! nsexec's part of the chain: new namespaces (a user namespace with its maps), the root,
//! mounts and /dev, the host name, the user, the five capability sets, no_new_privs, cwd,
//! masked and read-only paths, device nodes and the seccomp filter.
//!
//! nsexec gives a `--rootfs` Docker's confinement unless told otherwise; an OCI config says
//! exactly what it wants, so what it leaves out is asked for as "none" (`--mask-path=`,
//! `--readonly-path=`, `seccomp=unconfined`, every capability), as runc does with such a config.

use std::path::Path;

use anyhow::bail;

use crate::config::{Config, Mount, Process};

/// nsexec's flag for a new namespace of `proc_name`.
fn nsexec_flag(proc_name: &str) -> &'static str {
    match proc_name {
        "user" => "--user",
        "mnt" => "--mount",
        "pid" => "--pid",
        "net" => "--net",
        "uts" => "--uts",
        "ipc" => "--ipc",
        "cgroup" => "--cgroup",
        _ => "--time",
    }
}

/// `linux.devices` as nsexec `--device HOST:CONTAINER`: nsexec makes a node like a host's one
/// (mknod is refused in user namespaces, so it binds), so each entry needs a host node of the
/// same type and numbers, found by `host_node`; the minimal /dev's own nodes are skipped.
pub fn device_args(cfg: &Config, host_node: &dyn Fn(&str, i64, i64) -> Option<String>) -> anyhow::Result<Vec<String>> {
    let mut a = Vec::new();
    for (i, d) in cfg.linux.devices.iter().enumerate().filter(|(_, d)| !MINIMAL_DEV.contains(&d.path.as_str())) {
        let host = host_node(&d.kind, d.major, d.minor).ok_or_else(|| {
            anyhow::anyhow!(
                "linux.devices[{i}]: {}: no {} device {}:{} on this host to give it",
                d.path,
                d.kind,
                d.major,
                d.minor
            )
        })?;
        a.extend(["--device".into(), format!("{host}:{}", d.path)]);
    }
    Ok(a)
}

/// The device nodes nsexec's minimal /dev always has (bound from the host).
const MINIMAL_DEV: [&str; 6] = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"];

/// `nsexec` arguments (without the program and without the command after `--`).
pub fn nsexec_args(
    cfg: &Config,
    bundle: &Path,
    own_caps: &[String],
    seccomp_file: &Path,
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<String>> {
    let mut a: Vec<String> =
        vec!["--no-kill-child".into(), "--no-new-session".into(), "--stop-timeout".into(), "0".into()];
    let new = |name: &str| cfg.linux.namespaces.iter().any(|n| n.kind.proc_name == name && n.path.is_none());
    for n in cfg.linux.namespaces.iter().filter(|n| n.path.is_none()) {
        a.push(nsexec_flag(n.kind.proc_name).into());
    }
    if !new("mnt") {
        bail!("linux.namespaces: isolab-oci needs a new mount namespace (type \"mount\") to set up root.path");
    }
    for e in &cfg.linux.uid_mappings {
        a.extend(["--map-users".into(), format!("{}:{}:{}", e.inside, e.outside, e.count)]);
    }
    for e in &cfg.linux.gid_mappings {
        a.extend(["--map-groups".into(), format!("{}:{}:{}", e.inside, e.outside, e.count)]);
    }
    // In a joined uts namespace the names are written as sysctls (see sysctls()).
    if new("uts") {
        if let Some(h) = cfg.hostname.as_deref().filter(|h| !h.is_empty()) {
            a.extend(["--hostname".into(), h.into()]);
        }
        if let Some(d) = cfg.domainname.as_deref().filter(|d| !d.is_empty()) {
            a.extend(["--domainname".into(), d.into()]);
        }
    }
    a.extend(["--rootfs".into(), cfg.rootfs.display().to_string()]);
    if cfg.readonly {
        a.push("--read-only".into());
    }
    if let Some(p) = &cfg.linux.rootfs_propagation {
        let mode = match p.trim_start_matches('r') {
            "private" => "private",
            "slave" => "slave",
            "shared" => "shared",
            _ => {
                notes.push(format!("linux.rootfsPropagation {p:?}: private instead"));
                "private"
            }
        };
        a.extend(["--propagation".into(), mode.into()]);
    }
    for (i, m) in cfg.mounts.iter().enumerate() {
        a.extend(mount_args(m, i, bundle, notes)?);
    }
    // An empty list means none (not Docker's defaults, which nsexec gives a list not given).
    if cfg.linux.masked_paths.is_empty() {
        a.push("--mask-path=".into());
    }
    for p in &cfg.linux.masked_paths {
        a.extend(["--mask-path".into(), p.clone()]);
    }
    if cfg.linux.readonly_paths.is_empty() {
        a.push("--readonly-path=".into());
    }
    for p in &cfg.linux.readonly_paths {
        a.extend(["--readonly-path".into(), p.clone()]);
    }
    // No linux.seccomp: no filter, as runc loads none for such a config.
    let seccomp = match &cfg.linux.seccomp {
        Some(_) => format!("seccomp={}", seccomp_file.display()),
        None => "seccomp=unconfined".into(),
    };
    a.extend(["--security-opt".into(), seccomp]);
    if let Some(field) = cfg.linux.unsupported.first() {
        bail!("{field}: not supported by isolab-oci");
    }
    if let Some(label) = &cfg.linux.mount_label {
        bail!("linux.mountLabel: {label:?}: SELinux labels are not supported by isolab-oci");
    }
    if let Some(p) = &cfg.process {
        a.extend(process_args(p, own_caps)?);
    }
    Ok(a)
}

/// One `mounts[]` entry as nsexec flags. nsexec makes /proc, a minimal /dev (with devpts and
/// /dev/shm) itself for a --rootfs; binds and tmpfs map to --bind and --tmpfs.
fn mount_args(m: &Mount, i: usize, bundle: &Path, notes: &mut Vec<String>) -> anyhow::Result<Vec<String>> {
    let at = format!("mounts[{i}]");
    let dest = m.destination.trim_end_matches('/');
    let dest = if dest.is_empty() { "/" } else { dest };
    let known_flags = ["nosuid", "nodev", "noexec", "relatime", "strictatime", "noatime", "rprivate", "private"];
    match (m.kind.as_str(), dest) {
        ("proc", "/proc") | ("tmpfs", "/dev") | ("devpts", "/dev/pts") | ("tmpfs", "/dev/shm") => Ok(vec![]),
        ("proc", _) => bail!("{at}: proc at {dest}: nsexec mounts proc at /proc only"),
        // nsexec mounts a fresh read-only /sys and a view of the container's cgroups itself.
        ("sysfs", "/sys") | ("cgroup", "/sys/fs/cgroup") | ("cgroup2", "/sys/fs/cgroup") => Ok(vec![]),
        ("mqueue", _) | ("cgroup", _) | ("cgroup2", _) => {
            notes.push(format!("{at}: {} at {dest}: not mounted (nsexec has no such mount)", m.kind));
            Ok(vec![])
        }
        ("tmpfs", _) => {
            if m.options
                .iter()
                .any(|o| !known_flags.contains(&o.as_str()) && !o.starts_with("mode=") && !o.starts_with("size="))
            {
                notes.push(format!("{at}: tmpfs options {:?}: nsexec's tmpfs defaults instead", m.options));
            }
            Ok(vec!["--tmpfs".into(), dest.into()])
        }
        ("bind", _) | ("none", _) if m.options.iter().any(|o| o == "bind" || o == "rbind") || m.kind == "bind" => {
            if m.source.is_empty() {
                bail!("{at}.source: a bind mount needs a source");
            }
            let source = bundle.join(&m.source);
            if !source.exists() {
                bail!("{at}.source: {} does not exist", source.display());
            }
            let ro = m.options.iter().any(|o| o == "ro");
            let extra: Vec<&str> = m
                .options
                .iter()
                .map(String::as_str)
                .filter(|o| !["bind", "rbind", "ro", "rw", "rprivate", "private"].contains(o))
                .collect();
            if !extra.is_empty() {
                notes.push(format!("{at}: bind options {} not applied", extra.join(",")));
            }
            if source.display().to_string().contains(':') || dest.contains(':') {
                bail!("{at}: paths with ':' cannot be passed to nsexec --bind");
            }
            Ok(vec!["--bind".into(), format!("{}:{dest}{}", source.display(), if ro { ":ro" } else { "" })])
        }
        (kind, _) => {
            bail!("{at}.type: {kind:?} at {dest}: isolab-oci mounts proc, sysfs, tmpfs, devpts and binds only")
        }
    }
}

/// The `process` fields nsexec applies: the user and groups, the five capability sets exactly
/// (without a capabilities object, `own`: the runtime's own, which runc leaves the process),
/// no_new_privs, cwd.
pub fn process_args(p: &Process, own: &[String]) -> anyhow::Result<Vec<String>> {
    if let Some(profile) = &p.apparmor_profile {
        bail!("process.apparmorProfile: {profile:?}: AppArmor is not supported by isolab-oci");
    }
    if let Some(label) = &p.selinux_label {
        bail!("process.selinuxLabel: {label:?}: SELinux is not supported by isolab-oci");
    }
    let mut a = vec!["--user-id".to_string(), format!("{}:{}", p.uid, p.gid)];
    if !p.additional_gids.is_empty() {
        a.extend(["--groups".into(), p.additional_gids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")]);
    }
    let none = Vec::new();
    let own = own.to_vec();
    let sets = match &p.capabilities {
        Some(c) => [&c.bounding, &c.effective, &c.permitted, &c.inheritable, &c.ambient],
        None => [&own, &own, &own, &none, &none],
    };
    for (flag, set) in ["bounding", "effective", "permitted", "inheritable", "ambient"].iter().zip(sets) {
        a.push(format!("--cap-{flag}={}", set.join(",")));
    }
    if p.no_new_privileges {
        a.extend(["--security-opt".into(), "no-new-privileges".into()]);
    }
    a.extend(["--workdir".into(), p.cwd.clone()]);
    Ok(a)
}
