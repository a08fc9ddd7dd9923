//! config.json onto the isolab tools: one pure function per tool, config in, argv out.
//!
//! The container's first process is one exec chain, each tool doing its one mechanism and
//! exec'ing the next (DESIGN.md: the tools meet only through exec, files and the kernel):
//!
//! ```text
//! cgexec-rs --name ID --exec LIMITS --            linux.resources, linux.cgroupsPath
//!   nsenter-lite --ns-file net=PATH ... --        linux.namespaces[] with a path
//!     nsexec -p -m -u ... --rootfs R --bind ... --  new namespaces, uid/gid maps, mounts,
//!                                                 hostname, user, capabilities, no_new_privs,
//!                                                 masked and read-only paths, device nodes,
//!                                                 cwd, the seccomp filter (last)
//!       /proc/self/fd/N init ... -- ARGS          isolab-oci's last stage: the terminal, then
//!                                                 waits on the exec fifo until `start`, then
//!                                                 execs process.args
//! ```
//!
//! What a tool cannot express yet is refused with the field named, or, where runc itself would
//! be lenient, carried out approximately and listed in one warning line (never dropped silently).

use std::path::Path;

use anyhow::bail;

use crate::config::{Config, Process};

mod nsexec_flags;
pub use nsexec_flags::{device_args, nsexec_args, process_args};

/// Where the container's cgroup goes, in cgexec-rs's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub parent: Option<String>,
    pub name: String,
}

/// `linux.cgroupsPath` as cgexec-rs's `--cgroup-parent` and `--name`: an absolute path is taken
/// from each hierarchy's root (as runc does), a relative one beneath the caller's cgroup; without
/// one, the group is the container ID under cgexec-rs's default parent (`isolab`).
pub fn placement(cfg: &Config, id: &str) -> anyhow::Result<Placement> {
    let Some(path) = cfg.linux.cgroups_path.as_deref() else {
        isolab_core::cgroup::validate_name(id).map_err(|e| anyhow::anyhow!("container id as cgroup name: {e:#}"))?;
        return Ok(Placement { parent: None, name: id.to_string() });
    };
    let trimmed = path.trim_end_matches('/');
    let (parent, name) = match trimmed.rsplit_once('/') {
        Some(("", name)) => (Some("/".to_string()), name),
        Some((parent, name)) => (Some(parent.to_string()), name),
        None => (None, trimmed),
    };
    isolab_core::cgroup::validate_name(name).map_err(|e| anyhow::anyhow!("linux.cgroupsPath: {e:#}"))?;
    Ok(Placement { parent, name: name.to_string() })
}

/// The host facts the cgexec-rs mapping needs, looked up by the caller.
pub struct Host<'a> {
    /// memory is on cgroup v1 (kernelTCP has a file there only).
    pub memory_v1: bool,
    /// hugetlb is on cgroup v1 (`hugetlb.2MB.limit_in_bytes`) rather than v2 (`hugetlb.2MB.max`).
    pub hugetlb_v1: bool,
    /// A block device node for MAJOR:MINOR (cgexec-rs takes device paths, as Docker does).
    pub block_device: &'a dyn Fn(i64, i64) -> Option<String>,
}

/// `cgexec-rs` arguments (without the program): placement, limits, `--exec --`.
pub fn cgexec_args(
    cfg: &Config,
    place: &Placement,
    host: &Host,
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<String>> {
    let r = &cfg.linux.resources;
    if let Some(field) = r.unsupported.first() {
        bail!("{field}: not supported by isolab-oci (cgexec-rs has no such limit)");
    }
    let mut a = vec!["--name".to_string(), place.name.clone()];
    if let Some(p) = &place.parent {
        a.extend(["--cgroup-parent".into(), p.clone()]);
    }
    let mut flag = |name: &str, value: String| a.extend([name.to_string(), value]);
    if let Some(m) = r.memory_limit.filter(|&m| m > 0) {
        flag("--memory", m.to_string());
    }
    if let Some(m) = r.memory_reservation.filter(|&m| m > 0) {
        flag("--memory-reservation", m.to_string());
    }
    match r.memory_swap {
        Some(-1) => flag("--memory-swap", "-1".into()),
        Some(s) if s > 0 => flag("--memory-swap", s.to_string()),
        _ => {}
    }
    if let Some(k) = r.memory_kernel.filter(|&k| k > 0) {
        flag("--kernel-memory", k.to_string());
    }
    if let Some(k) = r.memory_kernel_tcp.filter(|&k| k > 0) {
        if host.memory_v1 {
            flag("--set", format!("memory.kmem.tcp.limit_in_bytes={k}"));
        } else {
            notes.push("linux.resources.memory.kernelTCP: no such limit on cgroup v2".into());
        }
    }
    if let Some(s) = r.memory_swappiness {
        flag("--memory-swappiness", s.to_string());
    }
    if let Some(s) = r.cpu_shares {
        flag("--cpu-shares", s.to_string());
    }
    if let Some(p) = r.cpu_period {
        flag("--cpu-period", p.to_string());
    }
    if let Some(q) = r.cpu_quota {
        flag("--cpu-quota", q.to_string());
    }
    if let Some(c) = &r.cpu_cpus {
        flag("--cpuset-cpus", c.clone());
    }
    if let Some(m) = &r.cpu_mems {
        flag("--cpuset-mems", m.clone());
    }
    if let Some(p) = r.pids_limit {
        flag("--pids-limit", p.to_string());
    }
    if let Some(w) = r.blkio_weight {
        flag("--blkio-weight", w.to_string());
    }
    let dev = |major: i64, minor: i64, at: &str| {
        (host.block_device)(major, minor)
            .ok_or_else(|| anyhow::anyhow!("{at}: no block device {major}:{minor} on this host"))
    };
    for &(major, minor, w) in &r.blkio_weight_device {
        let path = dev(major, minor, "linux.resources.blockIO.weightDevice")?;
        flag("--blkio-weight-device", format!("{path}:{w}"));
    }
    for &(what, major, minor, rate) in &r.blkio_throttle {
        let path = dev(major, minor, "linux.resources.blockIO.throttle")?;
        flag(&format!("--device-{}", what.replace('_', "-")), format!("{path}:{rate}"));
    }
    if r.disable_oom_killer {
        a.push("--oom-kill-disable".into());
    }
    a.extend(device_rule_args(&r.devices, notes));
    for (size, limit) in &r.hugepage_limits {
        let file =
            if host.hugetlb_v1 { format!("hugetlb.{size}.limit_in_bytes") } else { format!("hugetlb.{size}.max") };
        a.extend(["--set".into(), format!("{file}={limit}")]);
    }
    for (k, v) in &r.unified {
        a.extend(["--set".into(), format!("{k}={v}")]);
    }
    a.extend(["--exec".into(), "--".into()]);
    Ok(a)
}

/// linux.resources.devices onto cgexec-rs, which gives a group Docker's allowlist by default (a
/// v1 devices list, or a v2 BPF_PROG_TYPE_CGROUP_DEVICE program): a config without rules leaves
/// devices unrestricted (runc), `--privileged`; a deny-all rule is the default; allow rules
/// become `--device-cgroup-rule`, added to the allowlist (podman's and runc's own default rules
/// are the same ones); a deny of one device cannot be said after the allowlist and is listed as
/// not applied.
pub fn device_rule_args(rules: &[crate::config::DeviceRule], notes: &mut Vec<String>) -> Vec<String> {
    if rules.is_empty() {
        return vec!["--privileged".into()];
    }
    let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
    let mut a = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let all = rule.kind == "a" && rule.major.is_none() && rule.minor.is_none();
        match (rule.allow, all) {
            (false, true) => {}
            (true, _) => a.extend([
                "--device-cgroup-rule".to_string(),
                format!("{} {}:{} {}", rule.kind, num(rule.major), num(rule.minor), rule.access),
            ]),
            (false, false) => notes.push(format!("linux.resources.devices[{i}]: a deny of one device not applied")),
        }
    }
    a
}

/// `nsenter-lite` arguments for the namespaces config.json gives a `path` to, or None.
pub fn nsenter_args(cfg: &Config) -> Option<Vec<String>> {
    let files: Vec<String> = cfg
        .linux
        .namespaces
        .iter()
        .filter_map(|n| n.path.as_ref().map(|p| format!("{}={}", n.kind.proc_name, p.display())))
        .collect();
    if files.is_empty() {
        return None;
    }
    let mut a = Vec::new();
    for f in files {
        a.extend(["--ns-file".to_string(), f]);
    }
    a.push("--".into());
    Some(a)
}

/// The file descriptors the chain hands to the last stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fds {
    /// isolab-oci's own executable, sealed in a memfd (runc CVE-2019-5736: the container never
    /// sees the host's binary).
    pub exe: i32,
    /// The host's dynamic loader and library directory, for a dynamically linked isolab-oci.
    pub loader: Option<(i32, i32)>,
    /// The socket the last stage reports "ready" on.
    pub sync: i32,
    /// exec.fifo, opened O_PATH; the last stage opens it for writing and blocks until `start`.
    pub fifo: i32,
    /// The engine's console socket, connected (process.terminal).
    pub console: Option<i32>,
}

/// Where the last stage finds the descriptors `ours` (in that order): right after the
/// `preserved` ones, since nsexec and nsenter-lite pass only 0-2 and `--preserve-fds N` into a
/// new root (as runc does); each as `(ours, theirs)`.
pub fn stage_fds(ours: &[i32], preserved: u32) -> Vec<(i32, i32)> {
    ours.iter().zip(3 + preserved as i32..).map(|(&fd, at)| (fd, at)).collect()
}

/// The last stage's argv: `/proc/self/fd/N init ... -- ARGS`. nsexec has switched the user and
/// set the capability sets by then: the stage takes the terminal, reports, waits and execs.
pub fn init_argv(p: &Process, fds: Fds, preserve_fds: u32, unset_explain: bool) -> Vec<String> {
    let mut a = stage_prefix(fds.exe, fds.loader);
    a.extend([
        "--sync-fd".into(),
        fds.sync.to_string(),
        "--fifo-fd".into(),
        fds.fifo.to_string(),
        "--exe-fd".into(),
        fds.exe.to_string(),
    ]);
    if let Some(console) = fds.console {
        a.extend(["--console-fd".into(), console.to_string()]);
    }
    command_tail(&mut a, p, preserve_fds, unset_explain);
    a
}

/// The end of the init's command line, the same for `create` and `exec`: the umask, the kept
/// descriptors, whether --explain stays set, then `--` and the process's argv.
pub fn command_tail(a: &mut Vec<String>, p: &Process, preserve_fds: u32, unset_explain: bool) {
    if let Some(u) = p.umask {
        a.extend(["--umask".into(), format!("{u:o}")]);
    }
    if preserve_fds > 0 {
        a.extend(["--preserve-fds".into(), preserve_fds.to_string()]);
    }
    if unset_explain {
        a.push("--unset-explain".into());
    }
    a.push("--".into());
    a.extend(p.args.iter().cloned());
}

/// The last stage's user switch for `exec`: `--user UID:GID [--groups G,...]`.
pub fn user_args(p: &Process) -> Vec<String> {
    let mut a = vec!["--user".to_string(), format!("{}:{}", p.uid, p.gid)];
    if !p.additional_gids.is_empty() {
        a.extend(["--groups".into(), p.additional_gids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")]);
    }
    a
}

/// How the last stage is started: the memfd itself (a static build), or through the host's
/// loader (a container's root has no host libc): `/proc/self/fd/LD --library-path
/// /proc/self/fd/DIR /proc/self/fd/EXE init --loader-fds LD,DIR`.
pub fn stage_prefix(exe: i32, loader: Option<(i32, i32)>) -> Vec<String> {
    match loader {
        None => vec![format!("/proc/self/fd/{exe}"), "init".into()],
        Some((ld, dir)) => vec![
            format!("/proc/self/fd/{ld}"),
            "--library-path".into(),
            format!("/proc/self/fd/{dir}"),
            format!("/proc/self/fd/{exe}"),
            "init".into(),
            "--loader-fds".into(),
            format!("{ld},{dir}"),
        ],
    }
}

/// The capability sets in one argument: `e=CAP_A,CAP_B;p=...;i=...;a=...` (bounding is nsexec's).
pub fn caps_arg(c: &crate::config::Capabilities) -> String {
    format!(
        "e={};p={};i={};a={}",
        c.effective.join(","),
        c.permitted.join(","),
        c.inheritable.join(","),
        c.ambient.join(",")
    )
}

/// The whole chain for `create`, program paths included.
#[derive(Debug, Clone, Copy)]
pub struct Programs<'a> {
    pub cgexec: &'a Path,
    pub nsenter: &'a Path,
    pub nsexec: &'a Path,
}

/// Every argument of the create chain, from cgexec-rs to the user's program.
pub fn chain(
    progs: Programs,
    cgexec: Vec<String>,
    nsenter: Option<Vec<String>>,
    nsexec: Vec<String>,
    init: Vec<String>,
) -> Vec<String> {
    let mut argv = vec![progs.cgexec.display().to_string()];
    argv.extend(cgexec);
    if let Some(n) = nsenter {
        argv.push(progs.nsenter.display().to_string());
        argv.extend(n);
    }
    argv.push(progs.nsexec.display().to_string());
    argv.extend(nsexec);
    argv.push("--".into());
    argv.extend(init);
    argv
}

/// `nsenter-lite` arguments that carry linux.sysctl into the container's namespaces: the
/// namespaces each key lives in, joined from the container's init. The runtime writes them with
/// its own privileges, as runc does: `--privileged` leaves out the container's confinement,
/// which nsenter-lite gives a command by default (no CAP_NET_ADMIN, /proc/sys read-only).
pub fn sysctl_args(cfg: &Config, pid: i32) -> anyhow::Result<Option<Vec<String>>> {
    let sysctls = sysctls(cfg);
    if sysctls.is_empty() {
        return Ok(None);
    }
    let has = |name: &str| cfg.linux.namespaces.iter().any(|n| n.kind.proc_name == name);
    let mut kinds: Vec<&str> = Vec::new();
    for key in sysctls.keys() {
        let kind = sysctl_namespace(key)
            .ok_or_else(|| anyhow::anyhow!("linux.sysctl: {key:?} is not namespaced: it would change the host"))?;
        if !has(kind) {
            bail!("linux.sysctl: {key:?} needs a {kind} namespace of the container's own in linux.namespaces");
        }
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    let mut a = vec!["--privileged".to_string(), "-t".to_string(), pid.to_string()];
    a.extend(kinds.iter().map(|k| format!("--{}", if *k == "net" { "net" } else { k })));
    Ok(Some(a))
}

/// linux.sysctl, plus the host and domain names when the uts namespace is joined by path
/// (nsexec sets them only in a uts namespace of its own).
pub fn sysctls(cfg: &Config) -> std::collections::BTreeMap<String, String> {
    let mut all = cfg.linux.sysctl.clone();
    let joined_uts = cfg.linux.namespaces.iter().any(|n| n.kind.proc_name == "uts" && n.path.is_some());
    if joined_uts {
        for (key, value) in [("kernel.hostname", &cfg.hostname), ("kernel.domainname", &cfg.domainname)] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                all.insert(key.to_string(), v.to_string());
            }
        }
    }
    all
}

/// The namespace a sysctl key belongs to (runc's list), or None for a host-wide one.
pub fn sysctl_namespace(key: &str) -> Option<&'static str> {
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        Some("ipc")
    } else if key.starts_with("net.") {
        Some("net")
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some("uts")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use std::path::PathBuf;

    /// A bundle that is always there and leaves nothing behind: `/`, with `tmp` as its root
    /// and etc/passwd as a file to bind.
    fn bundle() -> PathBuf {
        PathBuf::from("/")
    }

    fn cfg(extra: &str) -> Config {
        let text = format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":"tmp"}},"process":{{"args":["sh","-c","id"],"cwd":"/tmp","user":{{"uid":1000,"gid":100,"additionalGids":[5,6]}}}}{extra}}}"#
        );
        config::parse(&text, &bundle()).unwrap()
    }

    const NS: &str = r#""namespaces":[{"type":"pid"},{"type":"mount"},{"type":"uts"},{"type":"network","path":"/proc/self/ns/net"}]"#;

    /// The runtime's own capabilities, as the caller passes them.
    fn own() -> Vec<String> {
        vec!["CAP_KILL".into(), "CAP_SYS_ADMIN".into()]
    }

    fn host() -> Host<'static> {
        Host { memory_v1: true, hugetlb_v1: false, block_device: &|maj, min| Some(format!("/dev/block/{maj}:{min}")) }
    }

    #[test]
    fn resources_become_cgexec_flags() {
        let c = cfg(&format!(
            r#","linux":{{{NS},"cgroupsPath":"/libpod_parent/libpod-abc","resources":{{"memory":{{"limit":67108864,"swap":-1}},
            "cpu":{{"shares":512,"quota":50000,"period":100000}},"pids":{{"limit":64}},
            "blockIO":{{"throttleReadBpsDevice":[{{"major":8,"minor":0,"rate":1048576}}]}},"devices":[{{"allow":false,"access":"rwm"}}]}}}}"#
        ));
        let place = placement(&c, "abc").unwrap();
        assert_eq!(place, Placement { parent: Some("/libpod_parent".into()), name: "libpod-abc".into() });
        let mut notes = vec![];
        let a = cgexec_args(&c, &place, &host(), &mut notes).unwrap().join(" ");
        assert!(
            a.starts_with("--name libpod-abc --cgroup-parent /libpod_parent --memory 67108864 --memory-swap -1"),
            "{a}"
        );
        assert!(a.contains("--cpu-shares 512 --cpu-period 100000 --cpu-quota 50000 --pids-limit 64"), "{a}");
        assert!(a.contains("--device-read-bps /dev/block/8:0:1048576"), "{a}");
        // A deny-all rule is cgexec-rs's default allowlist: nothing to say.
        assert!(!a.contains("devices.") && !a.contains("--device-cgroup-rule") && !a.contains("--privileged"), "{a}");
        assert!(a.ends_with("--exec --"), "{a}");
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn placement_follows_cgroups_path() {
        let p = |path: &str| placement(&cfg(&format!(r#","linux":{{"cgroupsPath":"{path}"}}"#)), "id1").unwrap();
        assert_eq!(p("/web"), Placement { parent: Some("/".into()), name: "web".into() });
        assert_eq!(p("a/b/c"), Placement { parent: Some("a/b".into()), name: "c".into() });
        assert_eq!(p("c"), Placement { parent: None, name: "c".into() });
        assert_eq!(placement(&cfg(""), "id1").unwrap(), Placement { parent: None, name: "id1".into() });
        assert!(placement(&cfg(""), "a+b").unwrap_err().to_string().contains("container id"));
    }

    #[test]
    fn namespaces_split_between_nsenter_and_nsexec() {
        let c = cfg(&format!(r#","hostname":"web","linux":{{{NS}}}"#));
        assert_eq!(nsenter_args(&c).unwrap(), vec!["--ns-file", "net=/proc/self/ns/net", "--"]);
        let mut notes = vec![];
        let a = nsexec_args(&c, &bundle(), &own(), Path::new("/s"), &mut notes).unwrap().join(" ");
        assert!(a.contains("--pid --mount --uts --hostname web --rootfs "), "{a}");
        assert!(!a.contains("--net"), "{a}");
        assert!(a.contains("--user-id 1000:100 --groups 5,6") && a.ends_with("--workdir /tmp"), "{a}");
        assert!(nsenter_args(&cfg(r#","linux":{"namespaces":[{"type":"mount"}]}"#)).is_none());
    }

    #[test]
    fn mounts_map_or_are_refused() {
        let c = cfg(
            r#","mounts":[{"destination":"/proc","type":"proc","source":"proc"},{"destination":"/sys","type":"sysfs","source":"sysfs"},
            {"destination":"/etc/hostname","type":"bind","source":"etc/passwd","options":["bind","ro","nosuid"]},
            {"destination":"/run","type":"tmpfs","source":"tmpfs","options":["mode=755"]}],"linux":{"namespaces":[{"type":"mount"}]}"#,
        );
        let mut notes = vec![];
        let a = nsexec_args(&c, &bundle(), &own(), Path::new("/s"), &mut notes).unwrap().join(" ");
        assert!(!a.contains("/sys"), "nsexec mounts a read-only sysfs itself: {a}");
        assert!(a.contains("--bind /etc/passwd:/etc/hostname:ro"), "{a}");
        assert!(a.contains("--tmpfs /run"), "{a}");
        assert!(notes.iter().any(|n| n.contains("nosuid")), "{notes:?}");
        let bad = cfg(
            r#","mounts":[{"destination":"/x","type":"overlay","source":"o"}],"linux":{"namespaces":[{"type":"mount"}]}"#,
        );
        let e = nsexec_args(&bad, &bundle(), &own(), Path::new("/s"), &mut notes).unwrap_err();
        assert!(e.to_string().contains("mounts[0].type"), "{e}");
        let no_mnt = cfg(r#","linux":{"namespaces":[{"type":"pid"}]}"#);
        assert!(nsexec_args(&no_mnt, &bundle(), &own(), Path::new("/s"), &mut notes).is_err());
    }

    // Issue 16 through issue 20: the config's confinement goes to nsexec's flags as it is.
    #[test]
    fn confinement_goes_to_nsexec_as_the_config_says() {
        let c = cfg(
            r#","linux":{"namespaces":[{"type":"mount"}],"maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"],"seccomp":{"defaultAction":"SCMP_ACT_ALLOW"}}"#,
        );
        let mut notes = vec![];
        let a = nsexec_args(&c, &bundle(), &own(), Path::new("/s/seccomp.json"), &mut notes).unwrap().join(" ");
        assert!(
            a.contains("--mask-path /proc/kcore --readonly-path /proc/sys --security-opt seccomp=/s/seccomp.json"),
            "{a}"
        );
        assert!(!a.contains("--mask-path=") && !a.contains("unconfined"), "{a}");
    }

    #[test]
    fn capabilities_are_the_five_sets_exactly() {
        let c = cfg(
            r#","process":{"args":["id"],"noNewPrivileges":true,"user":{"uid":1000,"gid":100,"additionalGids":[5]},"capabilities":{"bounding":["CAP_KILL","CAP_CHOWN"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"]}},"linux":{"namespaces":[{"type":"mount"}]}"#,
        );
        let p = c.process.unwrap();
        let a = process_args(&p, &own()).unwrap().join(" ");
        assert_eq!(
            a,
            "--user-id 1000:100 --groups 5 --cap-bounding=CAP_KILL,CAP_CHOWN --cap-effective=CAP_KILL \
             --cap-permitted=CAP_KILL --cap-inheritable= --cap-ambient= --security-opt no-new-privileges --workdir /"
        );
        let fds = Fds { exe: 7, loader: None, sync: 8, fifo: 9, console: Some(10) };
        let init = init_argv(&p, fds, 0, false).join(" ");
        assert_eq!(init, "/proc/self/fd/7 init --sync-fd 8 --fifo-fd 9 --exe-fd 7 --console-fd 10 -- id");
        let all = cfg(r#","process":{"args":["id"]},"linux":{"namespaces":[{"type":"mount"}]}"#);
        let a = process_args(&all.process.unwrap(), &own()).unwrap().join(" ");
        assert!(a.contains("--cap-bounding=CAP_KILL,CAP_SYS_ADMIN --cap-effective=CAP_KILL,CAP_SYS_ADMIN"), "{a}");
        assert!(a.contains("--cap-inheritable= --cap-ambient=") && !a.contains("no-new-privileges"), "{a}");
    }

    #[test]
    fn what_the_config_leaves_out_is_asked_for_as_none() {
        let c = cfg(
            r#","mounts":[{"destination":"/sys","type":"sysfs","source":"sysfs"}],"linux":{"namespaces":[{"type":"mount"}]}"#,
        );
        let mut notes = vec![];
        let a = nsexec_args(&c, &bundle(), &own(), Path::new("/s"), &mut notes).unwrap().join(" ");
        assert!(a.contains("--mask-path= --readonly-path= --security-opt seccomp=unconfined"), "{a}");
        assert!(!a.contains("/sys:/sys"), "nsexec mounts /sys itself: {a}");
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn devices_need_a_host_node_of_the_same_numbers() {
        let c = cfg(
            r#","linux":{"namespaces":[{"type":"mount"}],"devices":[{"path":"/dev/null","type":"c","major":1,"minor":3},
            {"path":"/dev/fuse","type":"c","major":10,"minor":229},{"path":"/dev/test1","type":"b","major":99,"minor":1}]}"#,
        );
        let lookup =
            |kind: &str, major, minor| (kind == "c" && major == 10 && minor == 229).then(|| "/dev/fuse".to_string());
        let e = device_args(&c, &lookup).unwrap_err();
        assert!(e.to_string().contains("linux.devices[2]: /dev/test1: no b device 99:1"), "{e}");
        let fuse_only = cfg(
            r#","linux":{"namespaces":[{"type":"mount"}],"devices":[{"path":"/dev/fuse","type":"c","major":10,"minor":229}]}"#,
        );
        assert_eq!(device_args(&fuse_only, &lookup).unwrap(), vec!["--device", "/dev/fuse:/dev/fuse"]);
    }

    #[test]
    fn device_rules_for_a_cgexec_with_an_allowlist() {
        let rule = |allow, kind: &str, major, minor| crate::config::DeviceRule {
            allow,
            kind: kind.into(),
            major,
            minor,
            access: "rwm".into(),
        };
        let mut notes = vec![];
        assert_eq!(device_rule_args(&[], &mut notes), vec!["--privileged"]);
        let rules =
            [rule(false, "a", None, None), rule(true, "c", Some(10), Some(200)), rule(false, "c", Some(1), Some(3))];
        assert_eq!(device_rule_args(&rules, &mut notes), vec!["--device-cgroup-rule", "c 10:200 rwm"]);
        assert!(notes[0].contains("linux.resources.devices[2]"), "{notes:?}");
    }

    #[test]
    fn the_stage_finds_its_descriptors_after_the_preserved_ones() {
        assert_eq!(stage_fds(&[7, 9, 4], 0), [(7, 3), (9, 4), (4, 5)]);
        assert_eq!(stage_fds(&[7], 2), [(7, 5)]);
    }

    #[test]
    fn names_in_a_joined_uts_namespace_are_sysctls() {
        let c = cfg(
            r#","hostname":"h1","linux":{"namespaces":[{"type":"mount"},{"type":"uts","path":"/proc/self/ns/uts"}]}"#,
        );
        let mut notes = vec![];
        let a = nsexec_args(&c, &bundle(), &own(), Path::new("/s"), &mut notes).unwrap().join(" ");
        assert!(!a.contains("--hostname"), "{a}");
        assert_eq!(sysctl_args(&c, 7).unwrap().unwrap(), vec!["--privileged", "-t", "7", "--uts"]);
        assert_eq!(sysctls(&c).get("kernel.hostname").map(String::as_str), Some("h1"));
    }

    #[test]
    fn sysctls_go_to_their_namespaces() {
        let c = cfg(
            r#","linux":{"namespaces":[{"type":"mount"},{"type":"network"},{"type":"ipc"}],"sysctl":{"net.ipv4.ping_group_range":"0 0","kernel.shmmax":"100"}}"#,
        );
        assert_eq!(sysctl_args(&c, 42).unwrap().unwrap(), vec!["--privileged", "-t", "42", "--ipc", "--net"]);
        let host_wide = cfg(r#","linux":{"namespaces":[{"type":"mount"}],"sysctl":{"vm.swappiness":"1"}}"#);
        assert!(sysctl_args(&host_wide, 1).unwrap_err().to_string().contains("not namespaced"));
        let no_ns = cfg(r#","linux":{"namespaces":[{"type":"mount"}],"sysctl":{"net.core.somaxconn":"1"}}"#);
        assert!(sysctl_args(&no_ns, 1).unwrap_err().to_string().contains("net namespace"));
    }
}
