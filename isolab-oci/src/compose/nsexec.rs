//! nsexec's part of the chain: new namespaces (a user namespace with its maps), the root,
//! mounts and /dev, the host name, the bounding set, no_new_privs and cwd; with a confining
//! nsexec (the confinement work), seccomp, masked and read-only paths and device nodes.

use std::path::Path;

use anyhow::bail;

use super::NsexecFeatures;
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
pub fn device_args(
    cfg: &Config,
    features: NsexecFeatures,
    host_node: &dyn Fn(&str, i64, i64) -> Option<String>,
) -> anyhow::Result<Vec<String>> {
    let mut a = Vec::new();
    for (i, d) in cfg.linux.devices.iter().enumerate().filter(|(_, d)| !MINIMAL_DEV.contains(&d.path.as_str())) {
        if !features.device {
            bail!("linux.devices[{i}]: {}: this nsexec cannot add device nodes yet (--device)", d.path);
        }
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
    features: NsexecFeatures,
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
        a.extend(mount_args(m, i, bundle, features.default_confinement, notes)?);
    }
    if features.default_confinement {
        // What the config leaves out, nsexec must not add (Docker's defaults are its, not OCI's).
        if cfg.linux.masked_paths.is_empty() {
            a.push("--mask-path=".into());
        }
        if cfg.linux.readonly_paths.is_empty() {
            a.push("--readonly-path=".into());
        }
        if cfg.linux.seccomp.is_none() {
            a.extend(["--security-opt".into(), "seccomp=unconfined".into()]);
        }
    }
    if !cfg.linux.masked_paths.is_empty() {
        if !features.mask_path {
            bail!("linux.maskedPaths: this nsexec cannot mask paths yet (--mask-path); with podman: --security-opt unmask=ALL");
        }
        for p in &cfg.linux.masked_paths {
            a.extend(["--mask-path".into(), p.clone()]);
        }
    }
    if !cfg.linux.readonly_paths.is_empty() {
        if !features.readonly_path {
            bail!("linux.readonlyPaths: this nsexec cannot make paths read-only yet (--readonly-path); with podman: --security-opt unmask=ALL");
        }
        for p in &cfg.linux.readonly_paths {
            a.extend(["--readonly-path".into(), p.clone()]);
        }
    }
    if cfg.linux.seccomp.is_some() {
        if !features.seccomp {
            bail!("linux.seccomp: this nsexec cannot load a seccomp filter yet (--security-opt seccomp=FILE); with podman: --security-opt seccomp=unconfined");
        }
        a.extend(["--security-opt".into(), format!("seccomp={}", seccomp_file.display())]);
    }
    if let Some(field) = cfg.linux.unsupported.first() {
        bail!("{field}: not supported by isolab-oci");
    }
    if let Some(label) = &cfg.linux.mount_label {
        bail!("linux.mountLabel: {label:?}: SELinux labels are not supported by isolab-oci");
    }
    if let Some(p) = &cfg.process {
        a.extend(process_args(p, features)?);
    }
    Ok(a)
}

/// One `mounts[]` entry as nsexec flags. nsexec makes /proc, a minimal /dev (with devpts and
/// /dev/shm) itself for a --rootfs; binds and tmpfs map to --bind and --tmpfs.
fn mount_args(
    m: &Mount,
    i: usize,
    bundle: &Path,
    own_sys: bool,
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<String>> {
    let at = format!("mounts[{i}]");
    let dest = m.destination.trim_end_matches('/');
    let dest = if dest.is_empty() { "/" } else { dest };
    let known_flags = ["nosuid", "nodev", "noexec", "relatime", "strictatime", "noatime", "rprivate", "private"];
    match (m.kind.as_str(), dest) {
        ("proc", "/proc") | ("tmpfs", "/dev") | ("devpts", "/dev/pts") | ("tmpfs", "/dev/shm") => Ok(vec![]),
        ("proc", _) => bail!("{at}: proc at {dest}: nsexec mounts proc at /proc only"),
        // A confining nsexec mounts a read-only /sys and a view of the container's cgroups itself.
        ("sysfs", "/sys") | ("cgroup", "/sys/fs/cgroup") | ("cgroup2", "/sys/fs/cgroup") if own_sys => Ok(vec![]),
        ("sysfs", "/sys") => {
            notes.push(format!("{at}: sysfs: the host's /sys bound read-only"));
            Ok(vec!["--bind".into(), "/sys:/sys:ro".into()])
        }
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

/// The `process` fields nsexec applies: the bounding set, no_new_privs, cwd. The user and
/// groups are switched in the last stage (see init.rs), which also lowers the other sets.
pub fn process_args(p: &Process, features: NsexecFeatures) -> anyhow::Result<Vec<String>> {
    if let Some(profile) = &p.apparmor_profile {
        bail!("process.apparmorProfile: {profile:?}: AppArmor is not supported by isolab-oci");
    }
    if let Some(label) = &p.selinux_label {
        bail!("process.selinuxLabel: {label:?}: SELinux is not supported by isolab-oci");
    }
    let mut a = Vec::new();
    if let Some(c) = &p.capabilities {
        a.extend(["--cap-drop".into(), "ALL".into()]);
        // Kept until the last stage: what the process will hold (a capability must be in the
        // bounding set while it is raised), and what the stage needs to switch the user and set
        // the final bounding set (CAP_SETUID, CAP_SETGID, CAP_SETPCAP). The stage then lowers
        // every set to the config's.
        let mut keep: Vec<String> = Vec::new();
        let needed = ["CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"].map(String::from);
        for cap in c
            .bounding
            .iter()
            .chain(&c.permitted)
            .chain(&c.effective)
            .chain(&c.ambient)
            .chain(&c.inheritable)
            .chain(&needed)
        {
            if !keep.contains(cap) {
                keep.push(cap.clone());
            }
        }
        for cap in keep {
            a.extend(["--cap-add".into(), cap]);
        }
    }
    if p.capabilities.is_none() && features.default_confinement {
        // No capabilities object: runc leaves the process every capability it has.
        a.extend(["--cap-add".into(), "ALL".into()]);
    }
    if p.no_new_privileges {
        a.push("--no-new-privs".into());
    }
    a.extend(["--workdir".into(), p.cwd.clone()]);
    Ok(a)
}
