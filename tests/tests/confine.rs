//! A container is confined by default (issue 16): the probe (tests/probe/confine-probe.c) runs
//! inside `cgexec-rs -- nsexec --rootfs` and reports what it may do. Probes are read-only or
//! use invalid arguments, so a broken confinement shows as EINVAL/EFAULT/ENODEV and nothing is
//! ever mounted or loaded. Runs on the host (hybrid) and in both VM layouts (tests/vm/suites).

use std::collections::BTreeMap;

use isolab_tests::{bin, need_root, skip, Run, Scratch, Tool};

/// Docker's default capabilities as /proc/PID/status shows them.
const DOCKER_CAPS: &str = "00000000a80425fb";

fn probe_path() -> Option<&'static str> {
    Some(env!("ISOLAB_PROBE")).filter(|p| !p.is_empty())
}

/// A root file system of mount points only (a remapped root may not make them) and a scratch
/// dir bound read-only.
struct Setup {
    root: Scratch,
    ro: Scratch,
    probe: &'static str,
}

impl Setup {
    fn new(test: &str) -> Option<Setup> {
        if !isolab_tests::is_root() {
            skip(test, "needs root (the kernel refuses these namespaces and cgroups to others)");
            return None;
        }
        let Some(probe) = probe_path() else {
            skip(test, "the probe was not built (gcc -static failed at build time)");
            return None;
        };
        let ro = Scratch::new("ro");
        // Owned by the remapped root too, so that only the read-only flag stands in the way.
        std::os::unix::fs::chown(ro.path(), Some(100000), Some(100000)).unwrap();
        let root = Scratch::new("rootfs");
        for dir in ["dev", "proc", "sys", "ro"] {
            std::fs::create_dir(root.path().join(dir)).unwrap();
        }
        std::fs::write(root.path().join("probe"), "").unwrap();
        Some(Setup { root, ro, probe })
    }

    /// `cgexec-rs CG --memory 100m -- nsexec -m -p -n -u -i -C --rootfs ROOT --bind ... NS`,
    /// without its command.
    fn launch(&self, cg: &[&str], ns: &[&str]) -> Tool {
        Tool::new("cgexec-rs")
            .args(cg)
            .args(["--memory", "100m", "--"])
            .arg(bin("nsexec"))
            .args(["-m", "-p", "-n", "-u", "-i", "-C", "--rootfs"])
            .arg(self.root.path())
            .args(["--bind", &format!("{}:/ro:ro", self.ro.path().display())])
            .args(["--bind", &format!("{}:/probe:ro", self.probe)])
            .args(ns)
    }

    /// The chain `cgexec-rs CG -- nsexec -m -p -n -u -i -C --rootfs ROOT NS -- /probe`.
    fn chain(&self, cg: &[&str], ns: &[&str]) -> Tool {
        self.launch(cg, ns).args(["-e", "PROBE_RO=/ro", "--", "/probe"])
    }

    /// `seccomp=FILE` of a profile of our own: everything allowed but mount, which fails with EBUSY.
    fn mount_ebusy_profile(&self) -> String {
        let profile = self.ro.path().join("profile.json");
        let text = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 16}]}"#;
        std::fs::write(&profile, text).unwrap();
        format!("seccomp={}", profile.display())
    }

    fn probe(&self, cg: &[&str], ns: &[&str]) -> Probe {
        Probe::of(self.chain(cg, ns).run())
    }

    /// The same container, named, running `/probe sleep` until dropped, for nsenter-lite to join.
    fn start(&self, tag: &str, cg: &[&str], ns: &[&str]) -> Container {
        let name = format!("isolab-test-{}-{tag}", std::process::id());
        let run = Scratch::new("run");
        let pidfile = run.path().join("pid");
        let mut cmd = self
            .launch(&[&["--name", &name][..], cg].concat(), ns)
            .arg("--pidfile")
            .arg(&pidfile)
            .args(["--", "/probe", "sleep"])
            .command();
        cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
        let child = cmd.spawn().expect("start a container");
        // The pidfile names the command once it is confined and exec'd (nsexec waits for it).
        let pid = isolab_tests::wait_for_pidfile(&pidfile);
        Container { name, pid, child, _run: run }
    }
}

/// A named container whose PID 1 waits (`/probe sleep`, which SIGTERM ends): dropped, cgexec-rs
/// gets SIGTERM, forwards it through nsexec, and removes the group once the probe has exited.
struct Container {
    name: String,
    /// Its PID 1, as the host sees it.
    pid: i32,
    child: std::process::Child,
    _run: Scratch,
}

impl Drop for Container {
    fn drop(&mut self) {
        // SAFETY: kill(2) of the cgexec-rs this test started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// `nsenter-lite --container NAME -a EXTRA -- /probe` (with the read-only bind to try).
fn exec_probe(c: &Container, extra: &[&str]) -> Probe {
    let tool = Tool::new("nsenter-lite").args(["--container", &c.name, "-a"]).args(extra);
    Probe::of(tool.env("PROBE_RO", "/ro").args(["--", "/probe"]).run())
}

/// The probe's answers.
struct Probe {
    /// What ran and what it printed, for failure messages.
    run: String,
    answers: BTreeMap<String, String>,
}

impl Probe {
    fn of(run: Run) -> Probe {
        run.ok();
        Probe::parse(&run.stdout, format!("{run:?}"))
    }

    /// The answers in `text` (lines `name result`; a terminal's `\r\n` too).
    fn parse(text: &str, run: String) -> Probe {
        let answers = text
            .lines()
            .filter_map(|l| l.trim_end_matches('\r').split_once(' ').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        Probe { run, answers }
    }

    fn get(&self, key: &str) -> &str {
        self.answers.get(key).map(String::as_str).unwrap_or_else(|| panic!("no {key} in {}", self.run))
    }

    #[track_caller]
    fn is(&self, key: &str, want: &str) -> &Probe {
        assert_eq!(self.get(key), want, "{key}: {}", self.run);
        self
    }

    #[track_caller]
    fn one_of(&self, key: &str, want: &[&str]) -> &Probe {
        assert!(want.contains(&self.get(key)), "{key} = {} not in {want:?}: {}", self.get(key), self.run);
        self
    }

    #[track_caller]
    fn not(&self, key: &str, refused: &str) -> &Probe {
        assert_ne!(self.get(key), refused, "{key}: {}", self.run);
        self
    }
}

/// A masked file reads empty; on a kernel without it there is nothing to mask.
fn masked(path: &str) -> &'static [&'static str] {
    if std::path::Path::new(path).exists() {
        &["empty"]
    } else {
        &["ENOENT"]
    }
}

// The issue's first experiment, as root without a user namespace: Docker's defaults.
#[test]
fn a_default_container_is_confined_as_docker_confines() {
    let Some(s) = Setup::new("a_default_container_is_confined_as_docker_confines") else { return };
    let p = s.probe(&[], &[]);
    for set in ["cap_eff", "cap_prm", "cap_bnd"] {
        p.is(set, DOCKER_CAPS);
    }
    p.is("cap_inh", "0000000000000000").is("cap_amb", "0000000000000000").is("seccomp", "2");
    for call in ["mount", "unshare_user", "keyctl", "add_key", "kexec_load", "init_module"] {
        p.is(call, "EPERM");
    }
    p.is("clone3", "ENOSYS").is("proc_sys_write", "EROFS");
    p.one_of("proc_kcore", masked("/proc/kcore")).one_of("proc_keys", masked("/proc/keys"));
    p.one_of("proc_timer_list", masked("/proc/timer_list"));
    p.one_of("sys_firmware", if std::path::Path::new("/sys/firmware").exists() { &["empty"] } else { &["ENOENT"] });
    p.is("sys_mount", "ro").is("cgroup_mount", "ro").is("release_agent", "hidden");
    p.is("mknod", "ok").is("device_open", "EPERM");
    p.is("ro_remount", "EPERM").is("ro_write", "EROFS");
}

// --privileged turns all of it off, as Docker's does: every probe reaches the kernel.
#[test]
fn a_privileged_container_gets_what_dockers_gets() {
    let Some(s) = Setup::new("a_privileged_container_gets_what_dockers_gets") else { return };
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let host_eff = host.lines().find_map(|l| l.strip_prefix("CapEff:")).unwrap().trim().to_string();
    let p = s.probe(&["--privileged"], &["--privileged"]);
    p.is("cap_eff", &host_eff).is("seccomp", "0");
    p.is("mount", "ENODEV").is("unshare_user", "EINVAL").is("keyctl", "EINVAL").is("add_key", "EFAULT");
    // The kernel's own answer: EINVAL, or ENOSYS/EPERM where kexec or modules are off on this kernel.
    p.one_of("kexec_load", &["EINVAL", "ENOSYS", "EPERM"])
        .one_of("init_module", &["ENOEXEC", "EFAULT", "ENOSYS", "EPERM"]);
    p.is("clone3", "EINVAL").is("proc_sys_write", "ok").is("sys_mount", "rw").is("cgroup_mount", "rw");
    p.not("proc_keys", "empty").is("mknod", "ok").is("device_open", "ok");
    p.is("ro_remount", "ok").is("ro_write", "ok");
}

// Without --rootfs nsexec is the unshare pipelines know: nothing added. (Own UTS namespace for
// the host name probe; the device node goes to a scratch dir, never the host's /dev.)
#[test]
fn without_rootfs_nothing_is_added() {
    need_root!("without_rootfs_nothing_is_added");
    let Some(probe) = probe_path() else { return skip("without_rootfs_nothing_is_added", "no probe") };
    let dev = Scratch::new("dev");
    let run = Tool::new("nsexec")
        .args(["-m", "-p", "-u", "-e", &format!("PROBE_DEV={}", dev.path().display()), "--", probe])
        .run();
    let p = Probe::of(run);
    p.is("seccomp", "0").is("mount", "ENODEV").is("unshare_user", "EINVAL").is("proc_sys_write", "ok");
    assert_ne!(p.get("cap_eff"), DOCKER_CAPS);
    p.not("proc_keys", "empty").is("mknod", "ok");
}

// With a user namespace: the same capabilities and filter, and the mounts' flags locked by the
// kernel, so that even --privileged (or CAP_SYS_ADMIN) cannot remount :ro or --read-only.
#[test]
fn in_a_user_namespace_read_only_stays_read_only() {
    let Some(s) = Setup::new("in_a_user_namespace_read_only_stays_read_only") else { return };
    let userns = ["-U", "--map-users", "0:100000:65536", "--map-groups", "0:100000:65536"];
    let p = s.probe(&[], &userns);
    p.is("cap_eff", DOCKER_CAPS).is("seccomp", "2").is("mount", "EPERM").is("unshare_user", "EPERM");
    p.is("sys_mount", "ro").is("ro_remount", "EPERM").is("ro_write", "EROFS");
    for extra in [&["--privileged"][..], &["--cap-add", "SYS_ADMIN"]] {
        let ns: Vec<&str> = userns.iter().chain(extra).copied().collect();
        let p = s.probe(&[], &ns);
        p.not("mount", "EPERM"); // mounting as such is allowed: the lock is what holds
        p.is("ro_remount", "EPERM").is("ro_write", "EROFS");
        // The root file system too, with --read-only.
        let root_ro: Vec<&str> = ns.iter().copied().chain(["--read-only", "-e", "PROBE_RO=/"]).collect();
        s.probe(&[], &root_ro).is("ro_remount", "EPERM").is("ro_write", "EROFS");
    }
}

// Without a user namespace, --read-only holds by the dropped CAP_SYS_ADMIN and the filter.
#[test]
fn as_root_read_only_root_stays_read_only() {
    let Some(s) = Setup::new("as_root_read_only_root_stays_read_only") else { return };
    s.probe(&[], &["--read-only", "-e", "PROBE_RO=/"]).is("ro_remount", "EPERM").is("ro_write", "EROFS");
}

// Docker's --cap-add/--cap-drop rules, --user-id, and the exact sets an OCI config gives.
#[test]
fn capability_flags_follow_docker() {
    let Some(s) = Setup::new("capability_flags_follow_docker") else { return };
    let p = s.probe(&[], &["--cap-drop", "ALL", "--cap-add", "NET_RAW"]);
    p.is("cap_bnd", "0000000000002000").is("cap_eff", "0000000000002000");
    let p = s.probe(&[], &["--cap-drop", "CHOWN"]);
    p.is("cap_eff", "00000000a80425fa");
    // CAP_SYS_ADMIN opens what Docker's profile opens with it.
    let p = s.probe(&[], &["--cap-add", "SYS_ADMIN"]);
    p.is("cap_eff", "00000000a82425fb").is("mount", "ENODEV").is("unshare_user", "EINVAL").is("keyctl", "EPERM");
    let p = s.probe(&[], &["--user-id", "1000:1000"]);
    p.is("cap_eff", "0000000000000000").is("cap_prm", "0000000000000000").is("cap_bnd", DOCKER_CAPS);
    let exact =
        ["--cap-bounding", "CAP_CHOWN,CAP_KILL", "--cap-permitted", "CAP_CHOWN", "--cap-effective", "CAP_CHOWN"];
    let p = s.probe(&[], &exact);
    p.is("cap_bnd", "0000000000000021").is("cap_inh", "0000000000000000");
}

// --security-opt: a profile file in Docker's format, unconfined, no-new-privileges.
#[test]
fn security_opt_loads_profiles_and_no_new_privileges() {
    let Some(s) = Setup::new("security_opt_loads_profiles_and_no_new_privileges") else { return };
    let opt = s.mount_ebusy_profile();
    let p = s.probe(&[], &["--security-opt", &opt]);
    p.is("seccomp", "2").is("mount", "EBUSY").is("keyctl", "EINVAL").is("cap_eff", DOCKER_CAPS);
    let p = s.probe(&[], &["--security-opt", "seccomp=unconfined"]);
    p.is("seccomp", "0").is("keyctl", "EINVAL").is("mount", "EPERM").is("cap_eff", DOCKER_CAPS);
    let p = s.probe(&[], &["--security-opt", "no-new-privileges"]);
    p.is("no_new_privs", "1").is("seccomp", "2").is("keyctl", "EPERM");
}

// A malformed profile: one line naming the field, exit 125, before any namespace or mount.
#[test]
fn a_malformed_profile_is_refused_naming_the_field() {
    let Some(s) = Setup::new("a_malformed_profile_is_refused_naming_the_field") else { return };
    let bad = s.ro.path().join("bad.json");
    let cases = [
        (
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALOW"}]}"#,
            "syscalls[0].action",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
            "syscalls[0].args[0].index",
        ),
        (r#"{"syscalls": []}"#, "defaultAction"),
        (r#"{"defaultAction": "SCMP_ACT_ERRNO",}"#, "not valid JSON"),
    ];
    let before = isolab_tests::mountinfo();
    for (text, field) in cases {
        std::fs::write(&bad, text).unwrap();
        let opt = format!("seccomp={}", bad.display());
        let run = Tool::new("nsexec")
            .args(["-m", "-p", "--rootfs"])
            .arg(s.root.path())
            .args(["--security-opt", &opt, "--", "/probe"])
            .run();
        run.refused(field);
        assert!(run.stderr.starts_with("nsexec: --security-opt seccomp: "), "{run:?}");
    }
    assert_eq!(std::fs::read_dir(s.root.path()).unwrap().count(), 5, "no mount point was made in the rootfs");
    assert_eq!(isolab_tests::mountinfo().lines().count(), before.lines().count());
}

// --device on both tools: cgexec-rs lets the group use the node, nsexec makes it in /dev.
#[test]
fn device_flags_make_and_allow_the_node() {
    let Some(s) = Setup::new("device_flags_make_and_allow_the_node") else { return };
    if !std::path::Path::new("/dev/kmsg").exists() {
        return skip("device_flags_make_and_allow_the_node", "no /dev/kmsg");
    }
    let ns = ["--device", "/dev/kmsg:/dev/probe-kmsg", "-e", "PROBE_NODE=/dev/probe-kmsg"];
    s.probe(&[], &ns).is("node_open", "EPERM");
    s.probe(&["--device", "/dev/kmsg:w"], &ns).is("node_open", "ok").is("device_open", "ok");
    s.probe(&["--device-cgroup-rule", "c 1:11 w"], &ns).is("node_open", "ok");
    s.probe(&["--device", "/dev/kmsg:r"], &ns).is("node_open", "EPERM");
}

// --explain shows the capability sets, the filter, each masked path and the device rules.
#[test]
fn explain_shows_the_confinement() {
    let Some(s) = Setup::new("explain_shows_the_confinement") else { return };
    let run = s.chain(&["--explain"], &["--explain"]).run();
    run.ok();
    for needle in [
        "cgexec-rs: # devices: all denied but c *:* m, b *:* m, c 1:3 rwm",
        "nsexec: # capabilities: bounding = permitted = effective = 0x00000000a80425fb (Docker's default 14",
        "nsexec: # seccomp: Docker's default profile: ",
        "default SCMP_ACT_ERRNO(EPERM)",
        "nsexec: seccomp(SECCOMP_SET_MODE_FILTER, 0, {len=",
        "nsexec: prctl(PR_CAPBSET_DROP, {",
        "nsexec: capset({version=_LINUX_CAPABILITY_VERSION_3, pid=0}, {effective=CAP_CHOWN|CAP_DAC_OVERRIDE|",
        "nsexec: mount(\"sysfs\", \"/sys\", \"sysfs\", MS_RDONLY|",
        "nsexec: mount(\"/dev/null\", \"/proc/keys\", \"\", MS_BIND, NULL) = 0",
        "nsexec: mount_setattr(\"/proc/sys\", AT_RECURSIVE, MOUNT_ATTR_RDONLY) = 0",
    ] {
        run.stderr_has(needle);
    }
    let v1_devices = run.stderr.contains("devices.deny = a");
    let v2_program = run.stderr.contains("bpf(BPF_PROG_ATTACH, {target_fd=");
    assert!(v1_devices != v2_program, "one device mechanism: {run:?}");
    // The filter goes in after everything but the capability drop, which it must allow.
    let at = |s: &str| run.stderr.find(s).unwrap_or_else(|| panic!("{s}: {run:?}"));
    assert!(at("pivot_root") < at("seccomp(SECCOMP_SET_MODE_FILTER") && at("seccomp(SECCOMP") < at("capset("));
}

/// Docker's default profile as dockerd hands it to runc for Docker's 14 capabilities on amd64
/// (moby setupSeccomp), computed here from the vendored JSON, independently of isolab-core.
fn docker_seccomp_for_runc(caps: &[&str]) -> serde_json::Value {
    use serde_json::{json, Value};
    let p: Value = serde_json::from_str(include_str!("../../core/src/seccomp/default.json")).unwrap();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut nums = release.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u64>().unwrap_or(0));
    let kernel = (nums.next().unwrap(), nums.next().unwrap());
    let at_least = |v: &Value| {
        let (a, b) = v.as_str().unwrap().split_once('.').unwrap();
        kernel >= (a.parse().unwrap(), b.parse().unwrap())
    };
    let list = |v: &Value| -> Vec<String> {
        v.as_array().map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect()).unwrap_or_default()
    };
    let keep = |r: &Value| {
        let (inc, exc) = (&r["includes"], &r["excludes"]);
        let excluded = list(&exc["arches"]).iter().any(|a| a == "amd64")
            || list(&exc["caps"]).iter().any(|c| caps.contains(&c.as_str()))
            || (!exc["minKernel"].is_null() && at_least(&exc["minKernel"]));
        let inc_arches = list(&inc["arches"]);
        let included = (inc_arches.is_empty() || inc_arches.iter().any(|a| a == "amd64"))
            && list(&inc["caps"]).iter().all(|c| caps.contains(&c.as_str()))
            && (inc["minKernel"].is_null() || at_least(&inc["minKernel"]));
        !excluded && included
    };
    let syscalls: Vec<Value> = p["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| keep(r))
        .map(|r| {
            let mut s = json!({ "names": r["names"], "action": r["action"] });
            for k in ["errnoRet", "args"] {
                if !r[k].is_null() {
                    s[k] = r[k].clone();
                }
            }
            s
        })
        .collect();
    let entry = p["archMap"].as_array().unwrap().iter().find(|a| a["architecture"] == "SCMP_ARCH_X86_64").unwrap();
    let mut arches = vec![entry["architecture"].clone()];
    arches.extend(entry["subArchitectures"].as_array().unwrap().iter().cloned());
    json!({ "defaultAction": p["defaultAction"], "defaultErrnoRet": p["defaultErrnoRet"], "architectures": arches, "syscalls": syscalls })
}

/// `runc run` of the probe with the config dockerd gives a default `docker run`: Docker's 14
/// capabilities, its seccomp profile, masked and read-only paths, device allowlist, a private
/// cgroup namespace, and the same read-only bind.
fn runc_probe(s: &Setup) -> Option<Probe> {
    use serde_json::json;
    let state = Scratch::new("runc-state");
    let bundle = Scratch::new("runc-bundle");
    if Tool::program("runc").args(["spec", "--bundle"]).arg(bundle.path()).run().code != 0 {
        return None;
    }
    let file = bundle.path().join("config.json");
    let mut spec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let caps = isolab_tests::DOCKER_CAPS;
    spec["process"]["terminal"] = false.into();
    spec["process"]["noNewPrivileges"] = false.into(); // Docker's default; runc spec says true
    spec["process"]["args"] = json!(["/probe"]);
    spec["process"]["env"] = json!(["PATH=/bin", "PROBE_RO=/ro"]);
    spec["process"]["capabilities"] =
        json!({ "bounding": caps, "effective": caps, "permitted": caps, "inheritable": [], "ambient": [] });
    spec["root"] = json!({ "path": s.root.path(), "readonly": false });
    spec["hostname"] = "runc".into();
    let mounts = spec["mounts"].as_array_mut().unwrap();
    mounts.push(json!({ "destination": "/ro", "type": "bind", "source": s.ro.path(), "options": ["rbind", "ro"] }));
    mounts.push(json!({ "destination": "/probe", "type": "bind", "source": s.probe, "options": ["bind", "ro"] }));
    let linux = &mut spec["linux"];
    linux["seccomp"] = docker_seccomp_for_runc(&caps);
    linux["maskedPaths"] = json!([
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap"
    ]);
    linux["readonlyPaths"] = json!(["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]);
    let allow = |t: &str, maj: i64, min: Option<i64>| json!({ "allow": true, "type": t, "major": maj, "minor": min, "access": "rwm" });
    linux["resources"] = json!({ "devices": [
        { "allow": false, "access": "rwm" },
        { "allow": true, "type": "c", "access": "m" },
        { "allow": true, "type": "b", "access": "m" },
        allow("c", 1, Some(3)), allow("c", 1, Some(5)), allow("c", 1, Some(7)), allow("c", 1, Some(8)),
        allow("c", 1, Some(9)), allow("c", 5, Some(0)), allow("c", 5, Some(1)), allow("c", 5, Some(2)),
        allow("c", 136, None), allow("c", 10, Some(200)),
    ]});
    let id = format!("isolab-test-{}-runc", std::process::id());
    linux["cgroupsPath"] = id.clone().into();
    let namespaces = linux["namespaces"].as_array_mut().unwrap();
    if !namespaces.iter().any(|n| n["type"] == "cgroup") {
        namespaces.push(json!({ "type": "cgroup" }));
    }
    std::fs::write(&file, spec.to_string()).unwrap();
    let root = ["--root", &state.path().display().to_string()].map(String::from);
    let run = Tool::program("runc").args(&root).args(["run", "--bundle"]).arg(bundle.path()).arg(&id).run();
    let _ = Tool::program("runc").args(&root).args(["delete", "--force", &id]).run();
    Some(Probe::of(run))
}

/// Where isolab is stricter than runc 1.1.5, on purpose (README "What a container gets"): on a
/// pure v1 host runc leaves the container at the root of hierarchies it does not manage (misc),
/// and its cgroup namespace then shows that root, release_agent included; isolab leaves a
/// hierarchy without a group of the container's own out of the view.
fn known_difference(key: &str, ours: &str, runc: &str) -> bool {
    key == "release_agent" && ours == "hidden" && runc.starts_with("visible")
}

/// The probe's answers in its order, as the README's table names them.
const LABELS: [(&str, &str); 26] = [
    ("cap_eff", "CapEff"),
    ("cap_prm", "CapPrm"),
    ("cap_bnd", "CapBnd"),
    ("cap_inh", "CapInh"),
    ("cap_amb", "CapAmb"),
    ("seccomp", "Seccomp"),
    ("no_new_privs", "NoNewPrivs"),
    ("mount", "`mount` of an unknown file system type"),
    ("unshare_user", "`unshare(CLONE_NEWUSER)` (with a bad flag)"),
    ("keyctl", "`keyctl` (a keyring that does not exist)"),
    ("add_key", "`add_key` (a bad pointer)"),
    ("kexec_load", "`kexec_load` (too many segments)"),
    ("init_module", "`init_module` (an empty image)"),
    ("clone3", "`clone3`"),
    ("proc_sys_write", "write /proc/sys/kernel/hostname"),
    ("proc_kcore", "read /proc/kcore"),
    ("proc_keys", "read /proc/keys"),
    ("proc_timer_list", "read /proc/timer_list"),
    ("sys_firmware", "list /sys/firmware"),
    ("sys_mount", "/sys mounted"),
    ("cgroup_mount", "the hierarchies under /sys/fs/cgroup"),
    ("release_agent", "a v1 `release_agent` under /sys/fs/cgroup"),
    ("mknod", "`mknod` c 1:11 (kmsg)"),
    ("device_open", "open that node write-only"),
    ("ro_remount", "remount a `:ro` bind read-write"),
    ("ro_write", "create a file in it"),
];

// The README's table: the same probe in isolab's default container, with --privileged, and in
// `runc run` with Docker's default config. Every row where isolab and runc differ is listed
// here with its reason (and in README.md "What a container gets").
#[test]
fn side_by_side_with_runc() {
    let Some(s) = Setup::new("side_by_side_with_runc") else { return };
    if Tool::program("sh").args(["-c", "command -v runc"]).run().code != 0 {
        return skip("side_by_side_with_runc", "runc is not installed (make deps)");
    }
    let ours = s.probe(&[], &[]);
    let privileged = s.probe(&["--privileged"], &["--privileged"]);
    let Some(runc) = runc_probe(&s) else { return skip("side_by_side_with_runc", "runc spec failed") };
    let mut table =
        String::from("| probe | isolab | isolab --privileged | runc, Docker's defaults |\n|---|---|---|---|\n");
    let mut differ = Vec::new();
    for (key, label) in LABELS {
        let (value, theirs) = (ours.get(key), runc.get(key));
        table.push_str(&format!("| {label} | {value} | {} | {theirs} |\n", privileged.get(key)));
        if value != theirs && !known_difference(key, value, theirs) {
            differ.push(format!("{key}: isolab {value}, runc {theirs}"));
        }
    }
    assert_eq!(LABELS.len(), ours.answers.len(), "a probe without a label");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("confine-table.md");
    std::fs::write(&out, &table).unwrap();
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{table}(written to {})", out.display());
    assert!(differ.is_empty(), "isolab and runc differ: {differ:?}\n{table}");
}

/// Every probe of the README's table answers the same in `a` and `b`.
#[track_caller]
fn same_answers(a: &Probe, b: &Probe, what: &str) {
    let differ: Vec<String> = LABELS
        .iter()
        .filter(|(key, _)| a.get(key) != b.get(key))
        .map(|(key, _)| format!("{key}: {} vs {}", a.get(key), b.get(key)))
        .collect();
    assert!(differ.is_empty(), "{what}: {differ:?}\n{}\n{}", a.run, b.run);
}

// docker exec: a command nsenter-lite runs in a default container is confined as the
// container's own command is, probe for probe: Docker's capabilities, the container's very
// seccomp filter (copied, as root), its masks and read-only binds, its device allowlist (the
// group is joined). In a --privileged container it gets what that container's command gets.
#[test]
fn nsenter_lite_gives_the_command_the_containers_confinement() {
    let Some(s) = Setup::new("nsenter_lite_gives_the_command_the_containers_confinement") else { return };
    let own = s.probe(&[], &[]);
    let c = s.start("exec", &[], &[]);
    let joined = exec_probe(&c, &["--explain"]);
    same_answers(&own, &joined, "nsenter-lite into a default container");
    assert!(joined.run.contains("nsenter-lite: ptrace(PTRACE_SECCOMP_GET_FILTER, "), "{}", joined.run);
    assert!(joined.run.contains("filter(s) copied as they are"), "{}", joined.run);
    drop(c);
    let own = s.probe(&["--privileged"], &["--privileged"]);
    let c = s.start("exec-privileged", &["--privileged"], &["--privileged"]);
    same_answers(&own, &exec_probe(&c, &[]), "nsenter-lite into a --privileged container");
}

// nsenter-lite --privileged leaves the confinement out: nsenter-lite's own capabilities and no
// filter. The container's mounts are still its mounts (masks, read-only /proc/sys), as
// docker exec --privileged leaves them.
#[test]
fn nsenter_lite_privileged_leaves_the_confinement_out() {
    let Some(s) = Setup::new("nsenter_lite_privileged_leaves_the_confinement_out") else { return };
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let host_eff = host.lines().find_map(|l| l.strip_prefix("CapEff:")).unwrap().trim().to_string();
    let c = s.start("exec-opt-out", &[], &[]);
    let p = exec_probe(&c, &["--privileged"]);
    p.is("cap_eff", &host_eff).is("cap_bnd", &host_eff).is("seccomp", "0").is("no_new_privs", "0");
    p.is("mount", "ENODEV").is("keyctl", "EINVAL").is("unshare_user", "EINVAL");
    p.one_of("proc_keys", masked("/proc/keys")).is("proc_sys_write", "EROFS");
}

// The filter is the target's own, not Docker's default: a container made with a profile of
// its own (mount fails with EBUSY) gives the command that profile. no_new_privileges follows.
#[test]
fn nsenter_lite_copies_a_profile_of_the_containers_own() {
    let Some(s) = Setup::new("nsenter_lite_copies_a_profile_of_the_containers_own") else { return };
    let opt = s.mount_ebusy_profile();
    let c = s.start("exec-profile", &[], &["--security-opt", &opt, "--security-opt", "no-new-privileges"]);
    let p = exec_probe(&c, &[]);
    p.is("seccomp", "2").is("mount", "EBUSY").is("keyctl", "EINVAL").is("cap_eff", DOCKER_CAPS);
    p.is("no_new_privs", "1");
}

// nsexec --init: the init is confined as its command is (docker run --init's tini is), so the
// container's PID 1, which nsenter-lite -t joins, gives the command the container's confinement.
#[test]
fn an_init_container_is_confined_from_its_pid_1() {
    let Some(s) = Setup::new("an_init_container_is_confined_from_its_pid_1") else { return };
    let run = Scratch::new("init");
    let pidfile = run.path().join("pid");
    let tool = s.launch(&[], &["--init", "--pidfile"]).arg(&pidfile).args(["--", "/probe", "sleep"]);
    let init = isolab_tests::Running::start(tool, &pidfile);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        let text = std::fs::read_to_string(format!("/proc/{}/status", init.pid)).unwrap();
        // Without no_new_privs the filter goes in before the capabilities go (runc's order):
        // wait for both, not for the first.
        let confined = text.contains("\nSeccomp:\t2") && text.contains(&format!("\nCapBnd:\t{DOCKER_CAPS}\n"));
        if confined || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.contains(&format!("\nCapBnd:\t{DOCKER_CAPS}\n")) && status.contains("\nSeccomp:\t2"), "{status}");
    let pid = init.pid.to_string();
    let p = Probe::of(Tool::new("nsenter-lite").args(["-t", &pid, "-a", "--", "/probe"]).run());
    p.is("cap_eff", DOCKER_CAPS).is("cap_bnd", DOCKER_CAPS).is("seccomp", "2").is("mount", "EPERM");
    p.is("keyctl", "EPERM").one_of("proc_keys", masked("/proc/keys"));
}

// As a user: a rootless container (a user namespace, root mapped to the user) gets the same
// capabilities and filter where the kernel allows, as rootless podman does, and so does the
// command its owner runs in it. The owner may not read the filter (PTRACE_SECCOMP_GET_FILTER is
// root's): it is derived, Docker's default for the container's bounding set, and --explain says so.
#[test]
fn a_rootless_container_and_its_exec_are_confined() {
    let Some(s) = Setup::new("a_rootless_container_and_its_exec_are_confined") else { return };
    let user = isolab_tests::user::test_user();
    let dir = Scratch::new("rootless");
    std::os::unix::fs::chown(dir.path(), Some(user.uid), Some(user.gid)).unwrap();
    let pidfile = dir.path().join("pid");
    let nsexec = |args: &[&str]| {
        isolab_tests::user::as_user(user, bin("nsexec"))
            .args(["-U", "--map-root", "-m", "-p", "-n", "-u", "-i", "-C", "--rootfs"])
            .arg(s.root.path())
            .args(["--bind", &format!("{}:/probe:ro", s.probe)])
            .args(args)
    };
    let own = Probe::of(nsexec(&["--", "/probe"]).run());
    own.is("cap_eff", DOCKER_CAPS).is("cap_bnd", DOCKER_CAPS).is("seccomp", "2");
    own.is("mount", "EPERM").is("unshare_user", "EPERM").is("keyctl", "EPERM").is("sys_mount", "ro");
    own.one_of("proc_keys", masked("/proc/keys"));
    let box_ =
        isolab_tests::Running::start(nsexec(&["--pidfile"]).arg(&pidfile).args(["--", "/probe", "sleep"]), &pidfile);
    let exec = isolab_tests::user::as_user(user, bin("nsenter-lite"))
        .args(["--explain", "-t", &box_.pid.to_string(), "-a", "--", "/probe"])
        .run();
    let joined = Probe::of(exec);
    same_answers(&own, &joined, "nsenter-lite as the owner into its rootless container");
    assert!(joined.run.contains("derived as Docker's default profile for its bounding set"), "{}", joined.run);
    assert!(!joined.run.contains("PTRACE_SEIZE"), "the target is not stopped for nothing: {}", joined.run);
}

// -t (docker run -it): the pty is made inside the container from its own /dev/ptmx, so the device
// allowlist (c 5:2, c 136:*) and Docker's filter must let a terminal through; the command on it
// is confined as any other. As root under cgexec-rs's allowlist, as a user (rootless), and
// nsenter-lite --tty into a default container (docker exec -it).
#[test]
fn a_terminal_in_a_confined_container() {
    let Some(s) = Setup::new("a_terminal_in_a_confined_container") else { return };
    let on_a_terminal = |tool: Tool, what: &str| {
        let mut term = isolab_tests::pty::Terminal::spawn(tool.env("PROBE_TTY", "1"), 24, 80);
        let status = term.wait(20);
        let p = Probe::parse(&term.transcript, format!("{what}:\n{}", term.transcript));
        assert_eq!(status, 0, "{}", p.run);
        assert!(p.get("tty").starts_with("/dev/pts/"), "{}", p.run);
        p.is("cap_eff", DOCKER_CAPS).is("seccomp", "2").is("mount", "EPERM");
    };
    on_a_terminal(s.launch(&[], &["-t"]).args(["--", "/probe"]), "nsexec -t under cgexec-rs");
    let user = isolab_tests::user::test_user();
    let rootless = isolab_tests::user::as_user(user, bin("nsexec"))
        .args(["-t", "-U", "--map-root", "-m", "-p", "-n", "-u", "-i", "-C", "--rootfs"])
        .arg(s.root.path())
        .args(["--bind", &format!("{}:/probe:ro", s.probe), "--", "/probe"]);
    on_a_terminal(rootless, "nsexec -t as a user");
    let c = s.start("exec-tty", &[], &[]);
    let exec = Tool::new("nsenter-lite").args(["--container", &c.name, "-a", "--tty", "--", "/probe"]);
    on_a_terminal(exec, "nsenter-lite --tty");
}

// A target that cannot be seized (strace traces it already): nsenter-lite does not fail, it
// derives the filter (Docker's default for the target's bounding set) and says so.
#[test]
fn nsenter_lite_derives_the_filter_of_a_traced_target() {
    let Some(s) = Setup::new("nsenter_lite_derives_the_filter_of_a_traced_target") else { return };
    let c = s.start("exec-traced", &[], &[]);
    let pid = c.pid.to_string();
    let mut strace = std::process::Command::new("strace")
        .args(["-qq", "-e", "trace=none", "-p", &pid])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("strace (make deps)");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let traced = || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status.lines().any(|l| l.starts_with("TracerPid:") && l.split_whitespace().nth(1) != Some("0"))
    };
    while !traced() {
        assert!(std::time::Instant::now() < deadline, "strace did not attach to {pid}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let p = exec_probe(&c, &["--explain"]);
    let _ = strace.kill();
    let _ = strace.wait();
    assert!(
        p.run.contains("ptrace(PTRACE_SEIZE, ") && p.run.contains("derived as Docker's default profile"),
        "{}",
        p.run
    );
    p.is("seccomp", "2").is("cap_eff", DOCKER_CAPS).is("mount", "EPERM").is("keyctl", "EPERM");
}

// --pidfile names a process only once it is confined, as runc writes its pid file only when the
// container's init is set up: whoever reads the PID the moment it is there (a script, or
// nsenter-lite -t, which copies the target's bounding set and filter) finds Docker's 14
// capabilities and the filter, never the full set the set-up runs with. Polled without a pause,
// 20 launches each: the command as PID 1 (--pid), the --init PID 1, and nsexec exec'd in place
// (no PID namespace); every other launch with no-new-privileges, which moves the filter last.
#[test]
fn the_pidfile_names_only_a_confined_process() {
    let Some(s) = Setup::new("the_pidfile_names_only_a_confined_process") else { return };
    let run = Scratch::new("pidfile");
    let pidfile = run.path().join("pid");
    let mut unconfined = Vec::new();
    for (mode, ns) in [("--pid", &["-p"][..]), ("--init", &["-p", "--init"]), ("in place", &[])] {
        for i in 0..20 {
            let nnp = i % 2 == 1;
            let nnp_opt: &[&str] = if nnp { &["--security-opt", "no-new-privileges"] } else { &[] };
            let tool = Tool::new("nsexec")
                .args(["-m", "-n", "-u", "-i", "-C"])
                .args(ns)
                .arg("--rootfs")
                .arg(s.root.path())
                .args(["--bind", &format!("{}:/probe:ro", s.probe)])
                .args(nnp_opt)
                .arg("--pidfile")
                .arg(&pidfile)
                .args(["--", "/probe", "sleep"]);
            // The last launch's PID must not be taken for this one's.
            let _ = std::fs::remove_file(&pidfile);
            let mut cmd = tool.command();
            cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
            let mut child = cmd.spawn().expect("start nsexec");
            let seen = status_at_first_sight(&pidfile, &mut child);
            let _ = child.kill();
            let _ = child.wait();
            let (pid, status) = seen.unwrap_or_else(|e| panic!("{mode}, launch {i}: {e}"));
            let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).unwrap_or("?");
            let seen = [field("CapBnd:"), field("Seccomp:"), field("NoNewPrivs:")];
            if seen != [DOCKER_CAPS, "2", if nnp { "1" } else { "0" }] {
                unconfined.push(format!("{mode}, launch {i}: process {pid}: CapBnd, Seccomp, NoNewPrivs {seen:?}"));
            }
        }
    }
    assert!(
        unconfined.is_empty(),
        "{} of 60 pidfiles named a process not yet confined:\n{}",
        unconfined.len(),
        unconfined.join("\n")
    );
}

/// The PID `pidfile` names and that process's /proc/PID/status, read the moment the PID is
/// there (polled without a pause); an error when the launcher ended first or nothing came.
fn status_at_first_sight(
    pidfile: &std::path::Path,
    launcher: &mut std::process::Child,
) -> Result<(i32, String), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(pid) = std::fs::read_to_string(pidfile).ok().and_then(|s| s.trim().parse::<i32>().ok()) {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status"));
            return status.map(|s| (pid, s)).map_err(|e| format!("process {pid} named by the pidfile: {e}"));
        }
        if let Ok(Some(ended)) = launcher.try_wait() {
            return Err(format!("nsexec ended ({ended}) without writing the pidfile"));
        }
        if std::time::Instant::now() > deadline {
            return Err("the pidfile was not written within 10 s".into());
        }
        std::thread::yield_now();
    }
}
