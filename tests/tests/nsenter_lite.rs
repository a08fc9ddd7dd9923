//! nsenter-lite against the real kernel: targets made with util-linux `unshare`, joined by the
//! built binary, checked by namespace inode from this (untouched) test process.

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::MetadataExt as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use isolab_tests::{need_root, skip, Scratch, Tool};

#[path = "nsenter_lite/support.rs"]
mod support;
use support::{children, descendants, ino, is_zombie, kill, wait_for_process, Payload, PersistedNet, Target};

/// Every kind with its nsenter flag, in util-linux's table order.
const KINDS: [(&str, &str); 8] = [
    ("user", "-U"),
    ("cgroup", "-C"),
    ("ipc", "-i"),
    ("uts", "-u"),
    ("net", "-n"),
    ("pid", "-p"),
    ("mnt", "-m"),
    ("time", "-T"),
];

const EVERY_NS: &[&str] =
    &["--pid", "--mount-proc", "--net", "--uts", "--ipc", "--mount", "--cgroup", "--time", "--user", "--map-root-user"];

/// Assert that `payload` is in `target`'s namespaces of `joined` kinds and in ours for the rest.
#[track_caller]
fn assert_joined(payload: i32, target: &Target, joined: &[&str], how: &str) {
    for (kind, _) in KINDS {
        let (got, want) = (
            ino(&payload.to_string(), kind),
            if joined.contains(&kind) { ino(&target.pid(), kind) } else { ino("self", kind) },
        );
        assert_eq!(
            got,
            want,
            "{how}: {kind} namespace of the command is not {}",
            if joined.contains(&kind) { "the target's" } else { "ours" }
        );
    }
}

// Issue 5: each kind joined alone lands in the target's namespace of that kind and only that
// one, by pidfd and by /proc/PID/ns files.
#[test]
fn each_kind_joined_alone() {
    need_root!("each_kind_joined_alone");
    let target = Target::start(EVERY_NS, &["sleep", "60"], "sleep");
    for (kind, _) in KINDS {
        assert_ne!(ino(&target.pid(), kind), ino("self", kind), "the target must differ from us in {kind}");
    }
    for (kind, flag) in KINDS {
        for mode in [None, Some("--no-pidfd")] {
            let pid = target.pid();
            let args: Vec<&str> = ["-t", &pid, flag].into_iter().chain(mode).collect();
            let payload = Payload::start(&args);
            assert_joined(payload.pid, &target, &[kind], &format!("{args:?}"));
        }
    }
}

// util-linux -a: every namespace that differs from ours, none that is the same (joining our
// own user namespace would fail with EINVAL).
#[test]
fn all_joins_every_differing_namespace() {
    need_root!("all_joins_every_differing_namespace");
    let partial = Target::start(&["--net", "--uts", "--ipc", "--mount"], &["sleep", "60"], "sleep");
    for mode in [None, Some("--no-pidfd")] {
        let pid = partial.pid();
        let args: Vec<&str> = ["-t", &pid, "-a"].into_iter().chain(mode).collect();
        let payload = Payload::start(&args);
        assert_joined(payload.pid, &partial, &["net", "uts", "ipc", "mnt"], &format!("{args:?}"));
    }
    let trace = Tool::new("nsenter-lite").args(["--explain", "-t", &partial.pid(), "-a", "true"]).run();
    trace.ok().stderr_has(", CLONE_NEWIPC|CLONE_NEWUTS|CLONE_NEWNET|CLONE_NEWNS) = 0").stderr_has("skipping user");
    assert!(!trace.stderr.contains("CLONE_NEWUSER"), "tried to join our own user namespace:\n{}", trace.stderr);

    let full = Target::start(EVERY_NS, &["sleep", "60"], "sleep");
    let payload = Payload::start(&["-t", &full.pid(), "-a"]);
    assert_joined(payload.pid, &full, &KINDS.map(|(k, _)| k), "-a");
}

// --explain: each setns with the namespace's inode, in the pidfd form and the file form.
#[test]
fn explain_shows_each_setns_with_inodes() {
    need_root!("explain_shows_each_setns_with_inodes");
    let target = Target::start(&["--net", "--uts"], &["sleep", "60"], "sleep");
    let (pid, net, uts) = (target.pid(), ino(&target.pid(), "net"), ino(&target.pid(), "uts"));
    Tool::new("nsenter-lite").args(["--explain", "-t", &pid, "-n", "-u", "true"]).run().ok().stderr_has(&format!(
        "nsenter-lite: setns(pidfd {pid} [uts:[{uts}] net:[{net}]], CLONE_NEWUTS|CLONE_NEWNET) = 0"
    ));
    Tool::new("nsenter-lite")
        .args(["--explain", "--no-pidfd", "-t", &pid, "-n", "true"])
        .run()
        .ok()
        .stderr_has(&format!("nsenter-lite: setns(/proc/{pid}/ns/net [net:[{net}]], CLONE_NEWNET) = 0"));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// busybox httpd on 127.0.0.1:PORT in its own network, PID and mount namespaces, serving `page`.
fn http_server(dir: &Scratch, page: &str) -> (Target, String) {
    std::fs::write(dir.path().join("index.html"), page).unwrap();
    let url = format!("http://127.0.0.1:{}/", free_port());
    let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let script = format!("busybox ip link set lo up && exec busybox httpd -f -p {addr} -h {}", dir.path().display());
    let target = Target::start(&["--pid", "--mount-proc", "--net", "--mount"], &["sh", "-c", &script], "busybox");
    (target, url)
}

/// Experiment 6 checks on a running server: a client that joins its network namespace gets the
/// page, one that does not cannot connect; joining its PID and mount namespaces shows its processes.
fn check_experiment_6(join: &[&str], target: &Target, url: &str, page: &str) {
    let fetch = |extra: &[&str]| {
        Tool::new("nsenter-lite").args(join).args(extra).args(["--", "busybox", "wget", "-qO-", url]).run()
    };
    let mut got = fetch(&["--net"]);
    for _ in 0..50 {
        if got.code == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        got = fetch(&["--net"]);
    }
    got.ok().stdout_has(page);
    let outside = Tool::program("busybox").args(["wget", "-qO-", "-T", "2", url]).run();
    assert_ne!(outside.code, 0, "a client outside the namespace reached the server:\n{}", outside.stdout);
    let ps = Tool::new("nsenter-lite").args(join).args(["--pid", "--mount", "--", "ps", "aux"]).run();
    ps.ok().stdout_has("busybox httpd");
    let pids: Vec<&str> = ps.stdout.lines().skip(1).filter_map(|l| l.split_whitespace().nth(1)).collect();
    assert_eq!(pids.first(), Some(&"1"), "the server is PID 1 of its namespace:\n{}", ps.stdout);
    assert!(pids.len() <= 3, "ps lists processes outside the server's PID namespace:\n{}", ps.stdout);
    assert_ne!(ino(&target.pid(), "net"), ino("self", "net"), "the server must have a network namespace of its own");
}

// Experiment 6 (docker --net=container:http, --pid=container:http), targeted by --pidfile.
#[test]
fn experiment_6_shared_network_namespace() {
    need_root!("experiment_6_shared_network_namespace");
    let dir = Scratch::new("exp6");
    let page = format!("isolab experiment 6, served by {}", std::process::id());
    let (server, url) = http_server(&dir, &page);
    let pidfile = dir.path().join("server.pid");
    std::fs::write(&pidfile, format!("{}\n", server.pid)).unwrap();
    check_experiment_6(&["--pidfile", pidfile.to_str().unwrap()], &server, &url, &page);
}

// Experiment 6 by name: the server launched as `cgexec-rs --name NAME -- unshare ...`, found by
// `--container NAME` (the group's init). The VM suite selects this with the filter `container`.
#[test]
fn container_experiment_6_by_name() {
    need_root!("container_experiment_6_by_name");
    let probe = Tool::new("cgexec-rs").args(["--name", "probe", "--help"]).run();
    if probe.code != 0 || !probe.stdout.contains("--name") {
        skip("container_experiment_6_by_name", "cgexec-rs is not built on this branch yet");
        return;
    }
    let dir = Scratch::new("exp6c");
    let page = format!("isolab experiment 6 by name, {}", std::process::id());
    std::fs::write(dir.path().join("index.html"), &page).unwrap();
    let url = format!("http://127.0.0.1:{}/", free_port());
    let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let name = isolab_tests::cgroups::unique_name();
    let script = format!("busybox ip link set lo up && exec busybox httpd -f -p {addr} -h {}", dir.path().display());
    let mut cgexec = Command::new(isolab_tests::bin("cgexec-rs"));
    cgexec.args(["--name", &name, "--", "unshare"]);
    let server =
        Target::start_with(cgexec, &["--pid", "--mount-proc", "--net", "--mount"], &["sh", "-c", &script], "busybox");
    check_experiment_6(&["--container", &name], &server, &url, &page);
    Tool::new("nsenter-lite").args(["--container", "no-such-group", "-n", "true"]).run().refused(&name);
}

// A namespace kept by a bind mount outlives the process that made it (unshare --net=FILE,
// nsexec --net=FILE, ip netns) and is entered by file.
#[test]
fn persisted_namespace_is_entered_by_file() {
    need_root!("persisted_namespace_is_entered_by_file");
    let dir = Scratch::new("nsfile");
    let file = dir.path().join("net");
    std::fs::write(&file, "").unwrap();
    let _mounted = PersistedNet { file: file.clone() };
    Tool::program("unshare").arg(format!("--net={}", file.display())).arg("true").run().ok();
    let net = std::fs::metadata(&file).unwrap().ino();
    assert_ne!(net, ino("self", "net"), "unshare --net=FILE did not persist a namespace");
    let spec = format!("net={}", file.display());
    Tool::new("nsenter-lite")
        .args(["--ns-file", &spec, "--", "readlink", "/proc/self/ns/net"])
        .run()
        .ok()
        .stdout_has(&format!("net:[{net}]"));
    Tool::new("nsenter-lite")
        .args(["--ns-file", &spec, "--", "busybox", "ip", "-o", "link"])
        .run()
        .ok()
        .stdout_has("lo:");
    Tool::new("nsenter-lite")
        .args(["--ns-file", &format!("uts={}", file.display()), "true"])
        .run()
        .refused("that is a net namespace, not a uts namespace");
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "").unwrap();
    Tool::new("nsenter-lite")
        .args(["--ns-file", &format!("net={}", plain.display()), "true"])
        .run()
        .refused("not a namespace file");
}

// PID reuse (peers.md §4): a target that exits between lookup and join is an error, and the
// command never runs in another process's namespaces. strace holds setns back for a second
// while the target is killed and reaped, so its PID is free when the pidfd is used.
#[test]
fn target_exiting_before_join_is_an_error() {
    need_root!("target_exiting_before_join_is_an_error");
    if Command::new("strace").arg("-V").stdout(Stdio::null()).status().is_err() {
        skip("target_exiting_before_join_is_an_error", "strace is not installed (apt-get install strace)");
        return;
    }
    let mut target = Target::start(&["--net"], &["sleep", "60"], "sleep");
    let pid = target.pid();
    let mut tool = Command::new("strace");
    tool.args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=setns", "-e", "inject=setns:delay_enter=1500000"])
        .arg(isolab_tests::bin("nsenter-lite"))
        .args(["--explain", "-t", &pid, "-n", "--", "echo", "RAN"])
        .env_remove("ISOLAB_EXPLAIN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = tool.spawn().expect("strace");
    // Held back by strace, nsenter-lite sits at the entry of setns: /proc/PID/syscall says so.
    let at_setns = |p: i32| {
        std::fs::read_to_string(format!("/proc/{p}/syscall"))
            .is_ok_and(|s| s.starts_with(&format!("{} ", libc::SYS_setns)))
    };
    let tool_pid = wait_for_process(|| descendants(child.id() as i32).into_iter().find(|&p| at_setns(p)));
    assert!(tool_pid.is_some(), "nsenter-lite never reached setns");
    target.stop();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(out.stdout.is_empty(), "the command ran");
    assert!(stderr.contains(&format!("setns(pidfd {pid} [net:[")) && stderr.contains("= -1 ESRCH"), "{stderr}");
    let last = stderr.lines().last().unwrap_or("");
    assert_eq!(
        last,
        format!("nsenter-lite: target process {pid} exited before its namespaces could be joined: nothing was joined"),
        "{stderr}"
    );

    // A zombie keeps its PID but has no namespaces left.
    let parent = Target::start(&["--net"], &["sh", "-c", "true & exec sleep 60"], "sleep");
    let zombie = wait_for_process(|| children(parent.pid).into_iter().find(|&p| is_zombie(p))).expect("zombie child");
    for mode in [None, Some("--no-pidfd")] {
        let z = zombie.to_string();
        let args: Vec<&str> = ["-t", &z, "-n"].into_iter().chain(mode).chain(["echo", "RAN"]).collect();
        let run = Tool::new("nsenter-lite").args(&args).run();
        run.refused(&format!("target process {zombie} exited before its namespaces could be joined"));
        assert!(run.stdout.is_empty());
    }
}

const NOBODY: [&str; 3] = ["--reuid=65534", "--regid=65534", "--clear-groups"];

/// The setns lines of an --explain trace, as (what, result) in order.
fn setns_lines(stderr: &str) -> Vec<String> {
    stderr.lines().filter(|l| l.starts_with("nsenter-lite: setns(")).map(str::to_string).collect()
}

// util-linux's two passes (util-linux#1510, #315): an unprivileged caller gets rights over its
// rootless container's network namespace only by joining the user namespace first; root joins
// a container's user namespace last, or it would lose its rights over the rest.
#[test]
fn user_namespace_first_or_last() {
    need_root!("user_namespace_first_or_last");
    let mut as_nobody = Command::new("setpriv");
    as_nobody.args(NOBODY).arg("unshare");
    let rootless = Target::start_with(as_nobody, &["--user", "--map-root-user", "--net"], &["sleep", "60"], "sleep");
    let pid = rootless.pid();
    let join = |mode: &[&str]| {
        Tool::program("setpriv")
            .args(NOBODY)
            .arg(isolab_tests::bin("nsenter-lite"))
            .args(["--explain", "-t", &pid, "-U", "-n"])
            .args(mode)
            .args(["--", "id", "-u"])
            .run()
    };
    join(&[]).ok().stdout_has("0\n");
    let files = join(&["--no-pidfd"]);
    files.ok().stdout_has("0\n");
    let steps = setns_lines(&files.stderr);
    assert_eq!(steps.len(), 3, "{}", files.stderr);
    assert!(steps[0].contains("CLONE_NEWNET) = -1 EPERM"), "net before user must fail for nobody:\n{}", files.stderr);
    assert!(steps[1].contains("CLONE_NEWUSER) = 0") && steps[2].contains("CLONE_NEWNET) = 0"), "{}", files.stderr);

    let container = Target::start(EVERY_NS, &["sleep", "60"], "sleep");
    let root = Tool::new("nsenter-lite").args(["--explain", "--no-pidfd", "-t", &container.pid(), "-a", "true"]).run();
    let steps = setns_lines(&root.ok().stderr);
    assert_eq!(steps.len(), 8, "{}", root.stderr);
    assert!(steps[7].contains("CLONE_NEWUSER) = 0"), "root must join the user namespace last:\n{}", root.stderr);
    assert!(steps.iter().all(|l| l.ends_with(") = 0")), "{}", root.stderr);
}

// Exit status passthrough, with and without the fork a PID namespace needs.
#[test]
fn exit_status_passes_through() {
    need_root!("exit_status_passes_through");
    let target = Target::start(&["--pid", "--mount-proc", "--net"], &["sleep", "60"], "sleep");
    let pid = target.pid();
    for flag in ["-p", "-n"] {
        let run = |script: &str| Tool::new("nsenter-lite").args(["-t", &pid, flag, "--", "sh", "-c", script]).run();
        run("exit 0").code(0);
        run("exit 42").code(42);
        run("kill -9 $$").code(128 + 9);
    }
    Tool::new("nsenter-lite").args(["-t", &pid, "-p", "--", "no-such-command-isolab"]).run().code(127);
    Tool::new("nsenter-lite").args(["-t", &pid, "-n", "--", "/etc"]).run().code(126);
}

// Signal forwarding: SIGTERM to nsenter-lite reaches the command inside the PID namespace.
#[test]
fn sigterm_reaches_command_in_pid_namespace() {
    need_root!("sigterm_reaches_command_in_pid_namespace");
    let target = Target::start(&["--pid", "--mount-proc"], &["sleep", "60"], "sleep");
    let script = "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.1; done";
    let mut cmd = Tool::new("nsenter-lite").args(["-t", &target.pid(), "-p", "--", "sh", "-c", script]).command();
    let mut tool = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(tool.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    kill(tool.id() as i32, libc::SIGTERM);
    out.read_line(&mut line).unwrap();
    assert_eq!(tool.wait().unwrap().code(), Some(7), "{line}");
    assert_eq!(line, "ready\ngot-term\n");
}

// --root/--wd: the target's root and working directory, opened before setns (util-linux -r -w).
#[test]
fn root_and_wd_are_the_targets() {
    need_root!("root_and_wd_are_the_targets");
    let rootfs = Scratch::new("rootfs");
    std::fs::create_dir_all(rootfs.path().join("bin")).unwrap();
    std::fs::create_dir_all(rootfs.path().join("work/here")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.path().join("bin/busybox")).unwrap();
    std::fs::write(rootfs.path().join("marker-isolab"), "").unwrap();
    let root = format!("--root={}", rootfs.path().display());
    let target = Target::start(&["--mount", &root, "--wd=/work/here"], &["/bin/busybox", "sleep", "60"], "busybox");
    let pid = target.pid();
    let run = |extra: &[&str], cmd: &[&str]| {
        Tool::new("nsenter-lite").args(["-t", &pid, "-m"]).args(extra).arg("--").args(cmd).run()
    };
    run(&["-r", "-w"], &["/bin/busybox", "pwd"]).ok().stdout_has("/work/here");
    run(&["-r"], &["/bin/busybox", "pwd"]).ok().stdout_has("/\n");
    run(&["-r"], &["/bin/busybox", "ls", "/"]).ok().stdout_has("marker-isolab");
}

// Credentials: 0/0 in a joined user namespace (its setgroups is 'deny', said under --explain),
// --preserve-credentials keeps ours, --user-id sets others.
#[test]
fn credentials_after_joining() {
    need_root!("credentials_after_joining");
    let target = Target::start(&["--user", "--map-root-user", "--net"], &["sleep", "60"], "sleep");
    let pid = target.pid();
    let id =
        |extra: &[&str]| Tool::new("nsenter-lite").args(["--explain", "-t", &pid]).args(extra).args(["--", "id"]).run();
    id(&["-U", "-n"]).ok().stdout_has("uid=0(root) gid=0(root) groups=0(root)").stderr_has("setgroups is 'deny'");
    id(&["-n", "--user-id", "4242:4243"]).ok().stdout_has("uid=4242 gid=4243 groups=4243\n");
    let preserved = id(&["-U", "--preserve-credentials"]);
    preserved.ok();
    assert!(!preserved.stderr.contains("setresuid"), "{}", preserved.stderr);
}

// Bad input: exit 125 and one line naming the flag or value; nothing runs.
#[test]
fn bad_input_is_refused() {
    let refused = |args: &[&str], needle: &str| {
        let run = Tool::new("nsenter-lite").args(args).args(["--", "echo", "RAN"]).run();
        run.refused(needle);
        assert!(run.stdout.is_empty());
    };
    refused(&[], "no target");
    refused(&["-n"], "--net needs a target");
    refused(&["--ns-file", "bogus=/x"], "unknown namespace kind \"bogus\"");
    refused(&["-t", "abc", "-n"], "abc");
    refused(&["-t", "-5", "-n"], "-5");
    refused(&["-t", "1", "--pidfile", "/x", "-n"], "cannot be used with");
    refused(&["--pidfile", "/nonexistent/isolab.pid", "-n"], "--pidfile: cannot read /nonexistent/isolab.pid");
    refused(&["-t", "2147483647", "-n"], "target process 2147483647: there is no such process");
    refused(&["-t", "1"], "nothing to join");
    refused(&["--container", "../etc", "-n"], "--container: invalid name");
}

/// A subtree of the test's own cgroup handed to another uid, as systemd's `Delegate=` hands
/// user@UID.service to its user, with a process of that uid in a group of its own: removed on drop.
struct Delegated {
    /// The pids hierarchy's mount, read once (a test must not depend on reading the layout twice).
    mount: std::path::PathBuf,
    top: std::path::PathBuf,
    group: std::path::PathBuf,
    process: std::process::Child,
}

impl Delegated {
    /// As `uid`: `isolab/NAME` in its delegated subtree, holding a process in a UTS namespace
    /// whose host name is `attacker` (root makes the namespace, the process then drops to `uid`).
    fn new(uid: u32, name: &str) -> Delegated {
        let h = isolab_tests::cgroups::hierarchy_of("pids").expect("a hierarchy with the pids controller");
        let top = h.mount.join(h.own.trim_start_matches('/')).join(format!("isolab-test-{}-deleg", std::process::id()));
        std::fs::create_dir(&top).unwrap();
        for file in ["", "cgroup.procs"] {
            std::os::unix::fs::chown(top.join(file), Some(uid), Some(uid)).unwrap();
        }
        let group = top.join("isolab").join(name);
        let ids = uid.to_string();
        let mkdir = Command::new("setpriv")
            .args(["--reuid", &ids, "--regid", &ids, "--clear-groups", "mkdir", "-p"])
            .arg(&group)
            .status()
            .unwrap();
        assert!(mkdir.success(), "uid {uid} could not make its own group in its subtree");
        let script = format!("hostname attacker && exec setpriv --reuid {uid} --regid {uid} --clear-groups sleep 60");
        let process = Command::new("unshare").args(["-u", "sh", "-c", &script]).spawn().unwrap();
        std::fs::write(group.join("cgroup.procs"), process.id().to_string()).unwrap();
        Delegated { mount: h.mount, top, group, process }
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        for dir in [self.group.clone(), self.top.join("isolab"), self.top.clone()] {
            for _ in 0..50 {
                if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

// An unprivileged user with a delegated cgroup subtree (user@UID.service on a systemd host) makes
// `isolab/web` in it, with a process of its own. Root, whose own `web` is gone (or never was, or
// was made from another cgroup), types `nsenter-lite --container web -m -p -- sh`: the lookup fell
// back to every isolab parent and took the user's group, joined its namespaces and ran the user's
// `sh` (bind-mounted over /usr/local/bin in its mount namespace) as host root; `cgexec-rs --rm web`
// killed its processes, `cgstat web` showed them. By name, a tool takes only the caller's own
// groups (owned by its uid); --cgroup-parent names another place explicitly.
#[test]
fn container_by_name_is_only_the_callers_own_group() {
    need_root!("container_by_name_is_only_the_callers_own_group");
    let uid = 4_000_123;
    let name = isolab_tests::cgroups::unique_name();
    let theirs = Delegated::new(uid, &name);
    let join = Tool::new("nsenter-lite").args(["--container", &name, "-u", "--", "hostname"]).run();
    assert!(!join.stdout.contains("attacker"), "root joined another uid's group: {join:?}");
    join.refused(&format!("uid {uid}"));
    Tool::new("cgexec-rs").args(["--rm", &name]).run().refused(&format!("uid {uid}"));
    Tool::new("cgstat").args(["--no-stream", "--interval", "0.1", &name]).run().refused(&format!("uid {uid}"));
    assert!(theirs.group.join("cgroup.procs").exists(), "cgexec-rs --rm removed another uid's group");
    // Named explicitly, the place is the caller's choice.
    let parent = theirs.group.parent().unwrap().strip_prefix(&theirs.mount).unwrap();
    let explicit = Tool::new("nsenter-lite")
        .args(["--container", &name, "--cgroup-parent", &format!("/{}", parent.display()), "--no-join-cgroup"])
        .args(["-u", "--", "hostname"])
        .run();
    explicit.ok().stdout_has("attacker");
}
