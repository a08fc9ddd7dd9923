//! isolab-oci against the real kernel and a real engine: the create/start/kill/delete state
//! machine on a bundle made here, bad bundles refused with nothing created, a runtime killed
//! with SIGKILL in the middle of create cleaned up by `delete --force`, the console socket,
//! cgroup limits, the config's confinement side by side with runc's on the same bundle, and
//! podman driving it (run, run -d, exec, stats, stop, rm, -it, --memory, --network, and its
//! default confinement compared with podman on runc).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use isolab_tests::cgroups::{self, wait_until};
use isolab_tests::{bin, need_root, skip, Scratch, Tool};

/// A busybox root file system (busybox-static, installed by the Makefile) with a page to serve.
fn rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "var/www"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("/bin/busybox (package busybox-static)");
    for applet in [
        "sh", "id", "ps", "ls", "cat", "echo", "sleep", "httpd", "wget", "hostname", "touch", "test", "ip", "grep",
        "true", "wc", "mkdir", "tty", "head", "mknod", "rm",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::write(root.join("var/www/index.html"), "hello from isolab-oci\n").unwrap();
    root
}

/// A bundle: rootfs plus config.json with `args` and `extra` merged into linux/top level.
fn bundle(dir: &Path, args: &[&str], extra: serde_json::Value) -> PathBuf {
    let b = dir.join("bundle");
    std::fs::create_dir_all(&b).unwrap();
    let root = rootfs(&b);
    assert!(root.is_dir());
    let mut cfg = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {"args": args, "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}},
        "root": {"path": "rootfs"},
        "hostname": "oci-test",
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"}, {"type": "network"}]}
    });
    merge(&mut cfg, extra);
    std::fs::write(b.join("config.json"), cfg.to_string()).unwrap();
    b
}

fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
    match (into, from) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// isolab-oci with its state in the test's own directory.
fn oci(root: &Path) -> Tool {
    Tool::new("isolab-oci").arg("--root").arg(root)
}

/// `create`, with the container's standard streams on files: the container's init inherits
/// them (as runc's does), so a captured pipe would stay open until the container ends.
fn create(root: &Path, bundle: &Path, id: &str, extra: &[&str]) {
    let log = bundle.with_extension("create.log");
    let status = Command::new(bin("isolab-oci"))
        .arg("--root")
        .arg(root)
        .args(["create", "--bundle"])
        .arg(bundle)
        .args(extra)
        .arg(id)
        .env_remove("ISOLAB_EXPLAIN")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "create {id}: {status}: {}", std::fs::read_to_string(&log).unwrap_or_default());
}

fn state(root: &Path, id: &str) -> serde_json::Value {
    let out = Command::new(bin("isolab-oci")).arg("--root").arg(root).args(["state", id]).output().unwrap();
    assert!(out.status.success(), "state {id}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("state is JSON")
}

fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

// runtime.md's lifecycle: created (the program has not run), running, stopped, deleted; the
// init is PID 1 of its own PID namespace and sits in the group cgexec-rs made.
#[test]
fn state_machine_create_start_kill_delete() {
    need_root!("state_machine_create_start_kill_delete");
    let s = Scratch::new("oci-sm");
    // Whatever the test does, the container's group (isolab/ID) and its processes go at the end.
    let guard = cgroups::Guard::new();
    let id = guard.name().to_string();
    let b = bundle(s.path(), &["sh", "-c", "touch /tmp/ran; exec sleep 60"], serde_json::json!({}));
    let root = s.path().join("state");
    let pidfile = s.path().join("pid");
    create(&root, &b, &id, &["--pid-file", pidfile.to_str().unwrap()]);
    let st = state(&root, &id);
    assert_eq!(st["status"], "created", "{st}");
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap().trim(), pid.to_string());
    assert!(alive(pid));
    assert!(!b.join("rootfs/tmp/ran").exists(), "the program ran before start");
    let ns = |p: &str, k: &str| std::fs::read_link(format!("/proc/{p}/ns/{k}")).unwrap();
    for k in ["pid", "mnt", "uts", "ipc", "net"] {
        assert_ne!(ns(&pid.to_string(), k), ns("self", k), "{k} namespace not new");
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status.lines().any(|l| l.starts_with("NSpid:") && l.trim_end().ends_with("\t1")),
        "not PID 1 inside: {status}"
    );
    assert!(!cgroups::existing_dirs(&id).is_empty(), "no group {id}");
    oci(&root).args(["start", &id]).run().ok();
    assert!(wait_until(5.0, || b.join("rootfs/tmp/ran").exists()), "the program did not run after start");
    assert_eq!(state(&root, &id)["status"], "running");
    oci(&root).args(["start", &id]).run().refused("cannot be started: it is running");
    oci(&root).args(["delete", &id]).run().refused("is running");
    let ps = oci(&root).args(["ps", "--format", "json", &id]).run();
    ps.ok().stdout_has(&pid.to_string());
    oci(&root).args(["kill", &id, "KILL"]).run().ok();
    assert!(wait_until(5.0, || state(&root, &id)["status"] == "stopped"), "not stopped after kill");
    oci(&root).args(["delete", &id]).run().ok();
    assert!(!root.join(&id).exists(), "state left behind");
    assert!(cgroups::existing_dirs(&id).is_empty(), "group left: {:?}", cgroups::existing_dirs(&id));
    oci(&root).args(["state", &id]).run().refused("does not exist");
}

// exec: another process in the running container's namespaces, group and root, with the
// process object's user, cwd and environment; its status is the runtime's.
#[test]
fn exec_joins_the_running_container() {
    need_root!("exec_joins_the_running_container");
    let s = Scratch::new("oci-exec");
    // Whatever the test does, the container's group (isolab/ID) and its processes go at the end.
    let guard = cgroups::Guard::new();
    let id = guard.name().to_string();
    let b = bundle(s.path(), &["sleep", "60"], serde_json::json!({}));
    let root = s.path().join("state");
    create(&root, &b, &id, &[]);
    oci(&root).args(["start", &id]).run().ok();
    let init = state(&root, &id)["pid"].as_i64().unwrap();
    let process = s.path().join("process.json");
    let obj = serde_json::json!({"args": ["sh", "-c", "id; pwd; echo $GREETING; hostname; cat /proc/self/cgroup; exit 3"],
        "cwd": "/tmp", "env": ["PATH=/bin", "GREETING=hello"], "user": {"uid": 1000, "gid": 1000}});
    std::fs::write(&process, obj.to_string()).unwrap();
    let run = oci(&root).args(["exec", "--process"]).arg(&process).arg(&id).run();
    run.code(3).stdout_has("uid=1000 gid=1000").stdout_has("/tmp\nhello\noci-test\n").stdout_has(&id);
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/pid")).unwrap();
    assert_ne!(ns(&init.to_string()), ns("self"));
    oci(&root).args(["exec", &id, "cat", "/proc/1/comm"]).run().ok().stdout_has("sleep");
    oci(&root).args(["delete", "--force", &id]).run().ok();
    oci(&root).args(["exec", &id, "true"]).run().refused("does not exist");
}

// runc run: the container's status is the runtime's, and nothing is left.
#[test]
fn run_passes_the_status_and_cleans_up() {
    need_root!("run_passes_the_status_and_cleans_up");
    let s = Scratch::new("oci-run");
    // Whatever the test does, the container's group (isolab/ID) and its processes go at the end.
    let guard = cgroups::Guard::new();
    let id = guard.name().to_string();
    let b = bundle(s.path(), &["sh", "-c", "hostname; grep -c . /proc/self/uid_map; exit 7"], serde_json::json!({}));
    let root = s.path().join("state");
    let run = oci(&root).args(["run", "--bundle"]).arg(&b).arg(&id).run();
    run.code(7).stdout_has("oci-test");
    assert!(!root.join(&id).exists());
    assert!(cgroups::existing_dirs(&id).is_empty());
}

// The composed launch is visible tool by tool under --explain.
#[test]
fn explain_traces_every_tool_of_the_chain() {
    need_root!("explain_traces_every_tool_of_the_chain");
    let s = Scratch::new("oci-explain");
    // Whatever the test does, the container's group (isolab/ID) and its processes go at the end.
    let guard = cgroups::Guard::new();
    let id = guard.name().to_string();
    let b = bundle(s.path(), &["true"], serde_json::json!({}));
    let root = s.path().join("state");
    let run = oci(&root).args(["--explain", "run", "--bundle"]).arg(&b).arg(&id).run();
    run.ok();
    for needle in [
        "isolab-oci: mkfifo(",
        "cgexec-rs: mkdir ",
        "nsexec: unshare(",
        "nsexec: pivot_root(",
        "isolab-oci: sendmsg(",
        "execve(\"true\"",
    ] {
        run.stderr_has(needle);
    }
}

// Hooks, in the lifecycle's order: createRuntime during create, prestart when start is called
// and before the program, poststart after it started, poststop at delete; each reads the state.
#[test]
fn hooks_run_in_the_lifecycle_order_with_the_state() {
    need_root!("hooks_run_in_the_lifecycle_order_with_the_state");
    let s = Scratch::new("oci-hooks");
    // Whatever the test does, the container's group (isolab/ID) and its processes go at the end.
    let guard = cgroups::Guard::new();
    let id = guard.name().to_string();
    let log = s.path().join("hooks.log");
    let hook = |name: &str| {
        let script = format!(
            "read -r state; echo \"{name} $(echo \"$state\" | grep -o '\"status\":\"[a-z]*\"')\" >> {}",
            log.display()
        );
        serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
    };
    let hooks = serde_json::json!({"hooks": {
        "createRuntime": [hook("createRuntime")], "prestart": [hook("prestart")],
        "poststart": [hook("poststart")], "poststop": [hook("poststop")]}});
    let b = bundle(s.path(), &["sleep", "60"], hooks);
    let root = s.path().join("state");
    create(&root, &b, &id, &[]);
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(read(), "createRuntime \"status\":\"creating\"\n");
    oci(&root).args(["start", &id]).run().ok();
    oci(&root).args(["delete", "--force", &id]).run().ok();
    assert_eq!(
        read(),
        "createRuntime \"status\":\"creating\"\nprestart \"status\":\"created\"\npoststart \"status\":\"running\"\npoststop \"status\":\"stopped\"\n"
    );
}

// Bad bundles: refused with the field named (exit 125), and nothing created: no state, no group.
#[test]
fn bad_bundles_are_refused_with_the_field_named() {
    need_root!("bad_bundles_are_refused_with_the_field_named");
    let s = Scratch::new("oci-bad");
    let root = s.path().join("state");
    // Whatever the test does, the container's group (isolab/ID) and its processes go at the end.
    let guard = cgroups::Guard::new();
    let id = guard.name().to_string();
    let empty = s.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    oci(&root).args(["create", "--bundle"]).arg(&empty).arg(&id).run().refused("config.json");
    let cases = [
        (
            serde_json::json!({"linux": {"namespaces": [{"type": "foo"}]}}),
            "linux.namespaces[0].type: unknown namespace type \"foo\"",
        ),
        (
            serde_json::json!({"linux": {"namespaces": [{"type": "user"}, {"type": "mount"}], "uidMappings": [{"containerID": 0, "hostID": 100000}]}}),
            "linux.uidMappings[0].size: missing",
        ),
        (
            serde_json::json!({"linux": {"namespaces": [{"type": "user"}, {"type": "mount"}], "uidMappings": [{"containerID": 0, "hostID": 1, "size": 10}, {"containerID": 5, "hostID": 100, "size": 1}]}}),
            "linux.uidMappings",
        ),
        (serde_json::json!({"process": {"args": []}}), "process.args"),
        (serde_json::json!({"mounts": [{"destination": "/x", "type": "overlay", "source": "o"}]}), "mounts[0].type"),
        (serde_json::json!({"linux": {"cgroupsPath": "system.slice:docker:x"}}), "linux.cgroupsPath"),
    ];
    for (extra, needle) in cases {
        let d = Scratch::new("oci-bad-case");
        let b = bundle(d.path(), &["true"], extra.clone());
        oci(&root).args(["create", "--bundle"]).arg(&b).arg(&id).run().refused(needle);
        assert!(!root.join(&id).exists(), "{extra}: state created");
        assert!(cgroups::existing_dirs(&id).is_empty(), "{extra}: group created");
    }
    oci(&root).args(["--systemd-cgroup", "state", &id]).run().refused("--systemd-cgroup");
}

// kill -9 of the runtime between create and start: the runtime dies in create (held by a
// createRuntime hook), its container's init waits on the fifo; `delete --force` leaves nothing:
// no state, no group, no process (the hook too: PR_SET_PDEATHSIG).
#[test]
fn kill_9_of_the_runtime_then_delete_force_leaves_nothing() {
    need_root!("kill_9_of_the_runtime_then_delete_force_leaves_nothing");
    let s = Scratch::new("oci-kill9");
    // Whatever the test does, the container's group (isolab/ID) and its processes go at the end.
    let guard = cgroups::Guard::new();
    let id = guard.name().to_string();
    let marker = s.path().join("hook-ran");
    let hook = serde_json::json!({"hooks": {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}; exec sleep 60", marker.display())]}]}});
    let b = bundle(s.path(), &["sleep", "60"], hook);
    let root = s.path().join("state");
    let mut creating = Command::new(bin("isolab-oci"))
        .arg("--root")
        .arg(&root)
        .args(["create", "--bundle"])
        .arg(&b)
        .arg(&id)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(20.0, || marker.exists()), "the hook never ran");
    let init = state(&root, &id)["pid"].as_i64().unwrap();
    assert!(init > 0 && alive(init));
    creating.kill().unwrap(); // SIGKILL
    creating.wait().unwrap();
    let hook_pids = || -> Vec<i32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| c.contains(&marker.display().to_string()))
            })
            .collect()
    };
    assert!(wait_until(5.0, || hook_pids().is_empty()), "the hook outlived the runtime: {:?}", hook_pids());
    oci(&root).args(["delete", "--force", &id]).run().ok();
    assert!(!root.join(&id).exists(), "state left");
    assert!(wait_until(5.0, || !alive(init)), "the container's init survived");
    assert!(cgroups::existing_dirs(&id).is_empty(), "group left: {:?}", cgroups::existing_dirs(&id));
    // And a created container whose runtime is long gone: delete without --force is allowed.
    let guard2 = cgroups::Guard::new();
    let id2 = guard2.name().to_string();
    let b2 = bundle(&s.path().join("two"), &["sleep", "60"], serde_json::json!({}));
    create(&root, &b2, &id2, &[]);
    let init2 = state(&root, &id2)["pid"].as_i64().unwrap();
    oci(&root).args(["delete", &id2]).run().ok();
    assert!(wait_until(5.0, || !alive(init2)));
    assert!(cgroups::existing_dirs(&id2).is_empty());
}

/// Receive one descriptor (SCM_RIGHTS) on a connected unix stream: runc's console socket
/// protocol, as conmon and containerd's shim read it.
fn recv_fd(stream: &std::os::unix::net::UnixStream) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd as _, FromRawFd as _};
    let mut byte = [0u8; 64];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: byte.len() };
    let mut space = [0u64; 8];
    // SAFETY: a msghdr over our own buffers; the CMSG_* macros walk the control buffer the kernel filled.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = space.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&space);
        if libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) <= 0 {
            return None;
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
            return None;
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>());
        Some(std::os::fd::OwnedFd::from_raw_fd(fd))
    }
}

// runc's console socket: with process.terminal, the engine's socket receives the terminal's
// master; the program's stdin is the slave, a pty of the container's own devpts (/dev/pts/0),
// its controlling terminal. Nothing is left: the socket, the state, the group.
#[test]
fn console_socket_receives_the_terminal() {
    need_root!("console_socket_receives_the_terminal");
    let s = Scratch::new("oci-console");
    let guard = cgroups::Guard::new();
    let id = guard.name().to_string();
    let script = "tty; test -t 0 && echo stdin-is-a-terminal";
    let b = bundle(s.path(), &["sh", "-c", script], serde_json::json!({"process": {"terminal": true}}));
    let root = s.path().join("state");
    let sock = s.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        recv_fd(&stream)
    });
    // Without --console-socket, process.terminal is refused before anything exists.
    oci(&root).args(["create", "--bundle"]).arg(&b).arg(&id).run().refused("process.terminal");
    assert!(!root.join(&id).exists());
    create(&root, &b, &id, &["--console-socket", sock.to_str().unwrap()]);
    let master = receiver.join().unwrap().expect("no descriptor on the console socket");
    oci(&root).args(["start", &id]).run().ok();
    let mut master = std::fs::File::from(master);
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    // The program writes and exits; the last slave closes and the master reads EIO.
    while let Ok(n) = std::io::Read::read(&mut master, &mut buf) {
        if n == 0 {
            break;
        }
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("/dev/pts/0"), "not the container's own devpts: {seen:?}");
    assert!(seen.contains("stdin-is-a-terminal"), "{seen:?}");
    let init = state(&root, &id)["pid"].as_i64().unwrap();
    assert!(wait_until(5.0, || !alive(init)));
    oci(&root).args(["delete", &id]).run().ok();
    assert!(!root.join(&id).exists() && cgroups::existing_dirs(&id).is_empty());
}

// linux.resources onto cgexec-rs: the limits are in the container's group, the init in it.
#[test]
fn cgroup_limits_land_in_the_containers_group() {
    need_root!("cgroup_limits_land_in_the_containers_group");
    let s = Scratch::new("oci-limits");
    let guard = cgroups::Guard::new();
    let id = guard.name().to_string();
    let resources = serde_json::json!({"linux": {"resources": {
        "memory": {"limit": 67108864}, "pids": {"limit": 32}, "cpu": {"quota": 50000, "period": 100000}}}});
    let b = bundle(s.path(), &["sleep", "60"], resources);
    let root = s.path().join("state");
    create(&root, &b, &id, &[]);
    let init = state(&root, &id)["pid"].as_i64().unwrap();
    let v2 = cgroups::hierarchy_of("memory").is_some_and(|h| h.v2);
    let (mem, pids, cpu) = if v2 {
        (
            cgroups::read("memory", &id, "memory.max"),
            cgroups::read("pids", &id, "pids.max"),
            cgroups::read("cpu", &id, "cpu.max"),
        )
    } else {
        let quota = cgroups::read("cpu", &id, "cpu.cfs_quota_us");
        let period = cgroups::read("cpu", &id, "cpu.cfs_period_us");
        (
            cgroups::read("memory", &id, "memory.limit_in_bytes"),
            cgroups::read("pids", &id, "pids.max"),
            format!("{quota} {period}"),
        )
    };
    assert_eq!((mem.as_str(), pids.as_str(), cpu.as_str()), ("67108864", "32", "50000 100000"));
    let procs = std::fs::read_to_string(cgroups::dir("pids", &id).join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l.trim() == init.to_string()), "init {init} not in the group: {procs}");
    oci(&root).args(["delete", "--force", &id]).run().ok();
    assert!(cgroups::existing_dirs(&id).is_empty(), "group left: {:?}", cgroups::existing_dirs(&id));
}

/// What a probe reads of its confinement: the capability sets, no_new_privs, the seccomp mode,
/// a masked file (/proc/timer_list: 0 bytes when masked, kilobytes otherwise), a read-only /proc/sys, a profile's rule
/// (mkdir refused with EPERM), and the device allowlist (mknod of /dev/mem allowed, reading it not).
const PROBE: &str = "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; \
    echo timer_list=$(wc -c < /proc/timer_list); \
    (echo isolab > /proc/sys/kernel/hostname) 2>/dev/null && echo proc-sys=writable || echo proc-sys=read-only; \
    mkdir /tmp/d 2>/dev/null && echo mkdir=allowed || echo mkdir=refused; \
    mknod /tmp/mem c 1 1 && (head -c 1 /tmp/mem > /dev/null 2>&1 && echo mem=readable || echo mem=denied); \
    rm -rf /tmp/mem /tmp/d";

/// What [`PROBE`] prints under [`confined`]'s config.
const CONFINED: [&str; 8] = [
    "CapEff:\t00000000a80425fb",
    "CapBnd:\t00000000a80425fb",
    "NoNewPrivs:\t1",
    "Seccomp:\t2",
    "timer_list=0",
    "proc-sys=read-only",
    "mkdir=refused",
    "mem=denied",
];

/// A config as an engine writes one: Docker's 14 capabilities, no_new_privs, a seccomp profile
/// that refuses mkdir, masked and read-only paths, a device allowlist without /dev/mem, and a
/// relative cgroupsPath (beneath each runtime's own group).
fn confined(group: &str) -> serde_json::Value {
    let caps = isolab_tests::DOCKER_CAPS;
    let allow = |t: &str, maj: i64, min: i64| serde_json::json!({"allow": true, "type": t, "major": maj, "minor": min, "access": "rwm"});
    serde_json::json!({
        "process": {"noNewPrivileges": true, "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps}},
        "linux": {
            "cgroupsPath": group,
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"],
            "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]},
            "resources": {"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "access": "m"},
                allow("c", 1, 3), allow("c", 1, 5), allow("c", 1, 8), allow("c", 1, 9), allow("c", 5, 0)]}
        }
    })
}

// Issue 16 through an OCI config: the same bundle under isolab-oci and under runc 1.1 reads the
// same capability sets, no_new_privs, seccomp mode, masked and read-only paths, profile rule
// and device allowlist; and `exec` gets the container's confinement.
#[test]
fn confinement_from_the_config_matches_runc_on_the_same_bundle() {
    need_root!("confinement_from_the_config_matches_runc_on_the_same_bundle");
    if Command::new("runc").arg("--version").output().is_err() {
        skip(
            "confinement_from_the_config_matches_runc_on_the_same_bundle",
            "runc is not installed (Makefile PACKAGES has it)",
        );
        return;
    }
    let s = Scratch::new("oci-confine");
    let guard = cgroups::Guard::new();
    let id = guard.name().to_string();
    let b = bundle(s.path(), &["sh", "-c", PROBE], confined(&id));
    let ours = oci(&s.path().join("state")).args(["run", "--bundle"]).arg(&b).arg(&id).run();
    ours.ok();
    let runc_root = s.path().join("runc");
    let runc_id = format!("{id}-runc");
    let theirs =
        Tool::program("runc").arg("--root").arg(&runc_root).args(["run", "--bundle"]).arg(&b).arg(&runc_id).run();
    let _ = Tool::program("runc").arg("--root").arg(&runc_root).args(["delete", "--force", &runc_id]).run();
    theirs.ok();
    assert_eq!(ours.stdout, theirs.stdout, "isolab-oci (left) and runc (right) differ");
    for line in CONFINED {
        assert!(ours.stdout.contains(line), "{line} missing:\n{}", ours.stdout);
    }
    assert!(cgroups::existing_dirs(&id).is_empty(), "group left: {:?}", cgroups::existing_dirs(&id));
    // exec: nsenter-lite gives the new process the container's bounding set, no_new_privs and
    // filter; its process file's capabilities are the container's.
    let b2 = bundle(&s.path().join("two"), &["sleep", "60"], confined(&id));
    let root = s.path().join("state");
    create(&root, &b2, &id, &[]);
    oci(&root).args(["start", &id]).run().ok();
    let process = s.path().join("process.json");
    let caps = &confined(&id)["process"]["capabilities"];
    let obj = serde_json::json!({"args": ["sh", "-c", PROBE], "cwd": "/", "env": ["PATH=/bin"], "capabilities": caps});
    std::fs::write(&process, obj.to_string()).unwrap();
    let exec = oci(&root).args(["exec", "--process"]).arg(&process).arg(&id).run();
    exec.ok();
    oci(&root).args(["delete", "--force", &id]).run().ok();
    for line in CONFINED {
        assert!(exec.stdout.contains(line), "exec: {line} missing:\n{}", exec.stdout);
    }
}

// ---- podman ---------------------------------------------------------------------------------

/// podman with its storage in the test's directory, isolab-oci as the runtime, cgroupfs.
struct Podman {
    dir: Scratch,
    parent: String,
    made: Vec<PathBuf>,
}

impl Podman {
    /// None (and a printed skip, or a failure under ISOLAB_TEST_STRICT) when podman cannot run.
    fn new(test: &str) -> Option<Podman> {
        if !isolab_tests::is_root() {
            skip(test, "needs root (rootful podman)");
            return None;
        }
        if Command::new("podman").arg("--version").output().is_err() {
            skip(test, "podman is not installed (Makefile PACKAGES has it: make deps)");
            return None;
        }
        default_runtime_roots();
        LIVE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = Scratch::new("podman");
        // The container's group goes beneath our own memory cgroup (podman uses one path in
        // every hierarchy): in the others, the path's missing directories are made and removed here.
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let mem = own.lines().find_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, c, path) = (p.next()?, p.next()?, p.next()?);
            (c.split(',').any(|x| x == "memory") || c.is_empty()).then(|| path.to_string())
        });
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let parent = format!("{}/isolab-oci-{}-{n}", mem.unwrap_or_default().trim_end_matches('/'), std::process::id());
        // Directories on the way that this test process made (in hierarchies where our own group
        // is higher up): every Podman tries to remove them when it goes, the last one succeeds.
        static BEFORE: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
        let existed = BEFORE.get_or_init(|| {
            cgroup_mounts()
                .iter()
                .flat_map(|m| {
                    let mut p = m.join(parent.trim_start_matches('/'));
                    let mut present = Vec::new();
                    while &p != m {
                        if p.exists() {
                            present.push(p.clone());
                        }
                        p = p.parent().unwrap().to_path_buf();
                    }
                    present
                })
                .collect()
        });
        let made = cgroup_mounts()
            .iter()
            .flat_map(|m| {
                let mut chain = Vec::new();
                let mut p = m.join(parent.trim_start_matches('/'));
                while &p != m {
                    chain.push(p.clone());
                    p = p.parent().unwrap().to_path_buf();
                }
                chain
            })
            .filter(|d| !existed.contains(d))
            .collect();
        let p = Podman { dir, parent, made };
        // podman 4.3 picks its network backend by what it finds (netavark on a "fresh" system,
        // CNI when /etc/cni/net.d holds more than its default network, which netexec's tests
        // change): say CNI, the backend notes/engines.md describes, so that the bridge and its
        // routes are always cni-podman0's.
        std::fs::write(p.dir.path().join("containers.conf"), "[network]\nnetwork_backend = \"cni\"\n").unwrap();
        let tar = p.dir.path().join("rootfs.tar");
        let root = rootfs(p.dir.path());
        let ok = Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".").status().unwrap().success();
        assert!(ok, "tar of the rootfs");
        let import = p.cmd().arg("import").arg(&tar).arg("localhost/isolab-busybox").output().unwrap();
        if !import.status.success() {
            skip(test, &format!("podman import fails here: {}", String::from_utf8_lossy(&import.stderr).trim()));
            return None;
        }
        Some(p)
    }

    fn cmd(&self) -> Command {
        self.cmd_on(&bin("isolab-oci"))
    }

    /// podman with `runtime` (isolab-oci, or runc to compare).
    fn cmd_on(&self, runtime: &Path) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root").arg(self.dir.path().join("storage")).arg("--runroot").arg(self.dir.path().join("run"));
        // libpod's own state (the boot's alive lock) too, so parallel tests do not share it.
        c.arg("--tmpdir").arg(self.dir.path().join("libpod"));
        c.args(["--storage-driver", "vfs", "--events-backend", "file", "--cgroup-manager", "cgroupfs"]);
        // The runtime keeps its state in its default root (/run/isolab-oci, /run/runc): podman's
        // clean-up process (`podman container cleanup`, from conmon) calls it without podman's
        // --runtime-flag, and conmon runs it with an environment of podman's choosing, so no
        // other root reaches every call (see default_runtime_roots).
        c.arg("--runtime").arg(runtime);
        c.env("CONTAINERS_CONF", self.dir.path().join("containers.conf"));
        c.env_remove("ISOLAB_EXPLAIN");
        c
    }

    /// `podman run` with the options every run here needs: the machine's low hard limits (notes/
    /// engines.md), conmon kept in our cgroup, the group beneath ours. podman's own confinement
    /// (its capabilities, seccomp profile, masked and read-only paths) is left as it is.
    fn run(&self) -> Command {
        self.run_on(&bin("isolab-oci"))
    }

    fn run_on(&self, runtime: &Path) -> Command {
        let mut c = self.cmd_on(runtime);
        c.args(["run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--cgroups=no-conmon"]);
        c.arg(format!("--cgroup-parent={}", self.parent));
        c
    }
}

/// Every cgroup hierarchy mounted here, named ones (name=systemd) included: podman makes the
/// parent in each hierarchy of /proc/self/cgroup.
fn cgroup_mounts() -> Vec<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut mounts: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            let mount = PathBuf::from(left.split(' ').nth(4)?);
            (fstype == "cgroup" || fstype == "cgroup2").then_some(mount)
        })
        .collect();
    mounts.dedup();
    mounts
}

/// The runtimes' default state directories (see `cmd_on`): those that were not there as the
/// first podman test began are removed as each test ends (the last one succeeds; while one holds
/// a container's state, it stays for that container's test).
fn default_runtime_roots() -> &'static [PathBuf] {
    static ABSENT: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
    ABSENT.get_or_init(|| {
        ["/run/runc", "/run/isolab-oci"].into_iter().map(PathBuf::from).filter(|d| !d.exists()).collect()
    })
}

/// Podman instances alive in this test process: the last one to go waits for the runtimes'
/// default roots to empty (podman's clean-up process deletes the last container a moment after
/// `podman rm` returns) and removes them.
static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd().args(["rm", "--all", "--force", "--time", "0"]).output();
        let last = LIVE.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1;
        for dir in default_runtime_roots() {
            let gone = || std::fs::remove_dir(dir).is_ok() || !dir.exists();
            if last {
                wait_until(5.0, gone);
            } else {
                gone();
            }
        }
        // Deepest first; a directory another test still uses stays for that test's Drop.
        for dir in &self.made {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// `sh -c ATTACHED_FIRST sh CMD...`: CMD after a second. podman 4.3 loses what a container
/// writes before its attach is in place (about one run in ten on these machines, with runc as
/// with isolab-oci): the quick commands here wait for it.
const ATTACHED_FIRST: &str = "sleep 1; exec \"$@\"";

fn out(c: &mut Command) -> (bool, String, String) {
    let o = c.output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

// podman run --rm IMAGE id, with isolab-oci as the runtime.
#[test]
fn podman_run_rm_id() {
    let Some(p) = Podman::new("podman_run_rm_id") else { return };
    let (ok, stdout, stderr) =
        out(p.run().args(["--rm", "localhost/isolab-busybox", "sh", "-c", ATTACHED_FIRST, "sh", "id"]));
    assert!(ok, "podman run: {stderr}");
    assert!(stdout.contains("uid=0(root) gid=0(root)"), "{stdout}");
}

/// What a probe in a podman container reads of its confinement (podman's defaults: its 11
/// capabilities, its seccomp profile, masked and read-only paths, the device allowlist).
const PODMAN_PROBE: &str =
    "sleep 1; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; \
    echo timer_list=$(wc -c < /proc/timer_list); \
    (echo isolab > /proc/sys/kernel/hostname) 2>/dev/null && echo proc-sys=writable || echo proc-sys=read-only; \
    (echo x > /sys/kernel/uevent_helper) 2>/dev/null && echo sys=writable || echo sys=read-only; \
    mknod /tmp/mem c 1 1 2>/dev/null; (head -c 1 /tmp/mem > /dev/null 2>&1 && echo mem=readable || echo mem=denied)";

// podman's default confinement reaches the container through isolab-oci as through runc: the
// same probe in `podman run` on each runtime reads the same capability sets, seccomp mode,
// masked and read-only paths, and device allowlist.
#[test]
fn podman_default_confinement_matches_runc() {
    let Some(p) = Podman::new("podman_default_confinement_matches_runc") else { return };
    let probe = |runtime: &Path| {
        let (ok, stdout, stderr) =
            out(p.run_on(runtime).args(["--rm", "localhost/isolab-busybox", "sh", "-c", PODMAN_PROBE]));
        assert!(ok, "podman run on {}: {stderr}", runtime.display());
        stdout
    };
    let ours = probe(&bin("isolab-oci"));
    let runc = Command::new("sh").args(["-c", "command -v runc"]).output().unwrap();
    let runc = PathBuf::from(String::from_utf8_lossy(&runc.stdout).trim());
    assert!(runc.is_file(), "runc is not installed (Makefile PACKAGES has it)");
    let theirs = probe(&runc);
    assert_eq!(ours, theirs, "podman on isolab-oci (left) and on runc (right) differ");
    for line in ["Seccomp:\t2", "timer_list=0", "proc-sys=read-only", "sys=read-only", "mem=denied"] {
        assert!(ours.contains(line), "{line} missing:\n{ours}");
    }
    let eff = ours.lines().find_map(|l| l.strip_prefix("CapEff:\t")).unwrap();
    assert_ne!(eff, "000001fffeffffff", "the host's whole set");
}

// run -d --name web httpd (on podman's CNI bridge, in the namespace podman hands over),
// exec web ps, stats --no-stream web, --memory 64m in the group, stop web, rm web.
#[test]
fn podman_web_cycle() {
    let Some(p) = Podman::new("podman_web_cycle") else { return };
    let (ok, _, stderr) = out(p.run().args([
        "-d",
        "--name",
        "web",
        "--memory",
        "64m",
        "localhost/isolab-busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/var/www",
    ]));
    assert!(ok, "run -d: {stderr}");
    let (ok, ps, stderr) = out(p.cmd().args(["exec", "web", "ps"]));
    assert!(ok, "exec: {stderr}");
    assert!(ps.lines().any(|l| l.trim_start().starts_with("1 ") && l.contains("httpd")), "httpd is not PID 1: {ps}");
    let (ok, stats, stderr) =
        out(p.cmd().args(["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", "web"]));
    assert!(ok && !stderr.contains("Failed"), "stats: {stderr}");
    assert!(stats.contains("web") && stats.contains("67.11MB"), "{stats}");
    let (_, pid, _) = out(p.cmd().args(["inspect", "-f", "{{.State.Pid}}", "web"]));
    let cg = std::fs::read_to_string(format!("/proc/{}/cgroup", pid.trim())).unwrap();
    let mem = cg.lines().find(|l| l.contains(":memory:")).map(|l| l.splitn(3, ':').nth(2).unwrap().to_string());
    if let Some(mem) = mem {
        let limit = std::fs::read_to_string(format!("/sys/fs/cgroup/memory{mem}/memory.limit_in_bytes")).unwrap();
        assert_eq!(limit.trim(), "67108864");
        assert!(mem.starts_with(&p.parent), "{mem} not under {}", p.parent);
    } else {
        let path = cg.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
        let limit = std::fs::read_to_string(format!("/sys/fs/cgroup{path}/memory.max")).unwrap();
        assert_eq!(limit.trim(), "67108864");
    }
    let (_, ip, _) = out(p.cmd().args(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]));
    let ip = ip.trim();
    if !ip.is_empty() {
        let url = format!("http://{ip}/");
        assert!(wait_until(10.0, || http_get(ip).contains("hello from isolab-oci")), "{url}: {:?}", http_get(ip));
    }
    let (ok, _, stderr) = out(p.cmd().args(["stop", "-t", "1", "web"]));
    assert!(ok, "stop: {stderr}");
    let (ok, _, stderr) = out(p.cmd().args(["rm", "web"]));
    assert!(ok, "rm: {stderr}");
    assert!(!alive(pid.trim().parse().unwrap()));
}

// --network none: the network namespace is the one isolab-oci made (nsexec --net): only lo.
#[test]
fn podman_network_none_is_ours() {
    let Some(p) = Podman::new("podman_network_none_is_ours") else { return };
    let (ok, stdout, stderr) = out(p
        .run()
        .args(["--rm", "--network", "none", "localhost/isolab-busybox", "sh", "-c", ATTACHED_FIRST, "sh"])
        .args(["ip", "-o", "link"]));
    assert!(ok, "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("lo:") && stdout.contains("UP"), "{stdout}");
}

// podman run -it: the program's stdin is a terminal (through runc's console socket protocol).
#[test]
fn podman_it_gives_a_terminal() {
    let Some(p) = Podman::new("podman_it_gives_a_terminal") else { return };
    let mut c = p.run();
    c.args(["--rm", "-it", "localhost/isolab-busybox", "sh", "-c", "sleep 1; test -t 0 && echo stdin-is-a-terminal"]);
    let line: Vec<String> =
        std::iter::once(c.get_program()).chain(c.get_args()).map(|a| shell_quote(&a.to_string_lossy())).collect();
    // script(1) gives podman a terminal of its own to pass on.
    let (ok, stdout, stderr) =
        out(Command::new("script").args(["-qec", &line.join(" "), "/dev/null"]).stdin(Stdio::null()));
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("stdin-is-a-terminal"), "{stdout}");
}

/// GET / from IP:80 over plain TCP (the host's busybox wget is not to be relied on).
fn http_get(ip: &str) -> String {
    use std::io::{Read as _, Write as _};
    let addr = format!("{ip}:80").parse().unwrap();
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    let _ = s.write_all(format!("GET / HTTP/1.0\r\nHost: {ip}\r\n\r\n").as_bytes());
    let mut page = String::new();
    let _ = s.read_to_string(&mut page);
    page
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
