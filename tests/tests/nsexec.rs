//! nsexec against the real kernel: namespaces, the article's experiments 1-5, exit statuses,
//! signals, descriptors, persistence and bad input.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use isolab_tests::{mountinfo, need_root, Scratch, Tool};

const KINDS: [&str; 8] = ["user", "cgroup", "ipc", "uts", "net", "pid", "mnt", "time"];

fn own_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap().display().to_string()
}

/// The command's namespace links, one per kind, as `readlink` prints them.
fn ns_of(args: &[&str]) -> Vec<String> {
    let mut argv: Vec<&str> = args.to_vec();
    argv.extend([
        "--",
        "sh",
        "-c",
        "for k in user cgroup ipc uts net pid mnt time; do readlink /proc/self/ns/$k; done",
    ]);
    let run = Tool::new("nsexec").args(&argv).run();
    run.ok();
    run.stdout.lines().map(String::from).collect()
}

#[test]
fn each_kind_alone_differs_exactly_where_asked() {
    need_root!("each_kind_alone_differs_exactly_where_asked");
    let flags = ["-U", "-C", "-i", "-u", "-n", "-p", "-m", "-T"];
    for (i, flag) in flags.iter().enumerate() {
        let links = ns_of(&[flag]);
        assert_eq!(links.len(), 8, "{flag}: {links:?}");
        for (j, kind) in KINDS.iter().enumerate() {
            let same = links[j] == own_ns(kind);
            assert_eq!(same, i != j, "{flag}: {kind} namespace {} vs ours {}", links[j], own_ns(kind));
        }
    }
}

#[test]
fn all_differs_everywhere() {
    need_root!("all_differs_everywhere");
    let links = ns_of(&["-a", "--map-root"]);
    for (j, kind) in KINDS.iter().enumerate() {
        assert_ne!(links[j], own_ns(kind), "{kind}");
    }
}

/// A root-owned directory holding a root-owned copy of touch, as the article makes /bin/touch.bak.
fn host_dir_with_touch_bak() -> Scratch {
    let dir = Scratch::new("host");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::copy("/usr/bin/touch", dir.path().join("touch.bak")).unwrap();
    dir
}

fn bind_arg(dir: &Scratch) -> String {
    format!("{}:/mnt", dir.path().display())
}

// Lab 1: root in a container is root on the host.
#[test]
fn experiment_1_root_deletes_a_host_file() {
    need_root!("experiment_1_root_deletes_a_host_file");
    let dir = host_dir_with_touch_bak();
    Tool::new("nsexec").args(["--mount", "--bind", &bind_arg(&dir), "--", "rm", "-f", "/mnt/touch.bak"]).run().ok();
    assert!(!dir.path().join("touch.bak").exists(), "root inside deleted the host's file");
}

// Lab 2: Docker --user 1000:1000.
#[test]
fn experiment_2_user_1000_is_refused() {
    need_root!("experiment_2_user_1000_is_refused");
    let dir = host_dir_with_touch_bak();
    let run = Tool::new("nsexec")
        .args([
            "--mount",
            "--bind",
            &bind_arg(&dir),
            "--user-id",
            "1000:1000",
            "--",
            "sh",
            "-c",
            "id; rm -f /mnt/touch.bak",
        ])
        .run();
    run.stdout_has("uid=1000").stdout_has("gid=1000").stderr_has("Permission denied");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(dir.path().join("touch.bak").exists());
}

// Lab 3: the user-namespace remap: root inside, nobody outside.
#[test]
fn experiment_3_userns_remap_root_is_powerless() {
    need_root!("experiment_3_userns_remap_root_is_powerless");
    let dir = host_dir_with_touch_bak();
    let run = Tool::new("nsexec")
        .args(["--user", "--map-users", "0:100000:65536", "--map-groups", "0:100000:65536", "--mount"])
        .args(["--bind", &bind_arg(&dir), "--", "sh", "-c", "id; rm -f /mnt/touch.bak"])
        .run();
    run.stdout_has("uid=0(root) gid=0(root)").stderr_has("Permission denied");
    assert!(dir.path().join("touch.bak").exists(), "the file survives on the host");
}

// Lab 4: a network namespace has only lo, and it is up.
#[test]
fn experiment_4_net_shows_only_lo_up() {
    need_root!("experiment_4_net_shows_only_lo_up");
    let inside = Tool::new("nsexec").args(["--net", "--", "ip", "-o", "link"]).run();
    inside.ok();
    let links: Vec<&str> = inside.stdout.lines().collect();
    assert_eq!(links.len(), 1, "{links:?}");
    assert!(links[0].contains(": lo:") && links[0].contains("UP"), "{links:?}");
    let host = Tool::new("nsexec").args(["--uts", "--", "ip", "-o", "link"]).run();
    assert_eq!(host.stdout.lines().count(), Tool::program("ip").args(["-o", "link"]).run().stdout.lines().count());
}

// Lab 5: a PID namespace; ps sees PID 1 and itself.
#[test]
fn experiment_5_pid_namespace_ps_sees_two() {
    need_root!("experiment_5_pid_namespace_ps_sees_two");
    let run = Tool::new("nsexec").args(["--pid", "--mount", "--", "sh", "-c", "ps -e -o pid= -o comm="]).run();
    run.ok();
    let pids: Vec<&str> = run.stdout.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(pids[0], "1", "{run:?}");
    assert_eq!(pids.len(), 2, "sh as PID 1 and ps: {run:?}");
    let host = Tool::new("nsexec").args(["--uts", "--", "ps", "-e", "-o", "pid="]).run();
    assert!(host.stdout.lines().count() > 2);
}

#[test]
fn exit_status_passes_through() {
    need_root!("exit_status_passes_through");
    for mode in [&["--uts"][..], &["--pid"], &["--pid", "--init"], &["-U", "-r"]] {
        for (script, code) in [("exit 0", 0), ("exit 42", 42), ("kill -9 $$", 137)] {
            if mode == ["--pid"] && script.starts_with("kill") {
                continue; // PID 1 cannot kill itself: the kernel ignores it (see below)
            }
            let run = Tool::new("nsexec").args(mode).args(["--", "sh", "-c", script]).run();
            assert_eq!(run.code, code, "{mode:?} {script}: {run:?}");
        }
    }
    // PID 1 killed from outside: nsexec dies of the same signal.
    let dir = Scratch::new("pidfile");
    let pidfile = dir.path().join("pid");
    let mut c = spawn(&["--pid", "--pidfile", pidfile.to_str().unwrap(), "--", "sleep", "30"]);
    let pid = wait_for_pidfile(&pidfile);
    // SAFETY: kill(2) on the pid nsexec reported for its own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let status = c.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    Tool::new("nsexec").args(["--pid", "--", "/nonexistent"]).run().code(127).stderr_has("cannot run '/nonexistent'");
    Tool::new("nsexec").args(["--uts", "--", "/etc/passwd"]).run().code(126);
}

fn spawn(args: &[&str]) -> std::process::Child {
    let mut cmd = Tool::new("nsexec").args(args).command();
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
    cmd.spawn().unwrap()
}

fn wait_for_pidfile(file: &std::path::Path) -> i32 {
    for _ in 0..100 {
        if let Some(pid) = std::fs::read_to_string(file).ok().and_then(|s| s.trim().parse().ok()) {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no pid in {}", file.display());
}

fn sigterm_after(child: &mut std::process::Child, wait: Duration) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    std::thread::sleep(wait);
    // SAFETY: kill(2) on the pid of a child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap())
}

#[test]
fn signals_are_forwarded_to_the_command() {
    need_root!("signals_are_forwarded_to_the_command");
    // --init forwards to a command that is not PID 1, so the default action applies: 128+15.
    let mut c = spawn(&["--pid", "--init", "--", "sleep", "30"]);
    assert_eq!(sigterm_after(&mut c, Duration::from_millis(300)), 143);
    // As PID 1 the command sees the signal only through its handler: it exits 7. The signal is
    // sent once the handler is in place (a loaded machine may take longer than any fixed wait).
    let dir = Scratch::new("trap");
    let ready = dir.path().join("ready");
    let script = format!("trap 'exit 7' TERM; touch {}; sleep 30 & wait", ready.display());
    let mut c = spawn(&["--pid", "--", "sh", "-c", &script]);
    for _ in 0..500 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(ready.exists(), "the command never installed its handler");
    assert_eq!(sigterm_after(&mut c, Duration::ZERO), 7);
}

#[test]
fn init_reaps_orphaned_zombies() {
    need_root!("init_reaps_orphaned_zombies");
    // The inner shell exits at once and leaves `sleep 0.2` to PID 1; after it ends, only a
    // reaping PID 1 leaves no zombie behind.
    let script = "sh -c 'sleep 0.2 &'; sleep 1; ps -e -o stat= -o comm=";
    let run = Tool::new("nsexec").args(["--pid", "--mount", "--init", "--", "sh", "-c", script]).run();
    run.ok();
    assert!(!run.stdout.lines().any(|l| l.starts_with('Z')), "a zombie is left: {}", run.stdout);
    assert!(run.stdout.contains("nsexec"), "nsexec stays as PID 1: {}", run.stdout);
}

// runc CVE-2024-21626: no descriptor of the tool's own reaches the command.
#[test]
fn command_sees_only_the_callers_descriptors() {
    need_root!("command_sees_only_the_callers_descriptors");
    // In place, forked, as init, with the id-map helper's pipes, and the full launch.
    let modes: [&[&str]; 5] = [
        &["--uts"],
        &["--pid", "--mount"],
        &["--pid", "--mount", "--init"],
        &["-U", "-r"],
        &["-a", "--map-root", "--rootfs", "/", "--tmpfs", "/tmp"],
    ];
    for mode in modes {
        let run = Tool::new("nsexec").only_stdio().args(mode).args(["--", "sh", "-c", "ls /proc/$$/fd"]).run();
        run.ok();
        let fds: Vec<&str> = run.stdout.split_whitespace().collect();
        assert_eq!(fds, ["0", "1", "2"], "{mode:?}: {run:?}");
    }
}

#[test]
fn persistent_namespace_outlives_the_process() {
    need_root!("persistent_namespace_outlives_the_process");
    let dir = Scratch::new("persist");
    let file = dir.path().join("uts");
    let arg = format!("--uts={}", file.display());
    Tool::new("nsexec").args([arg.as_str(), "--hostname", "persisted", "--", "true"]).run().ok();
    let run = Tool::program("nsenter").arg(format!("--uts={}", file.display())).args(["hostname"]).run();
    let _ = Command::new("umount").arg(&file).status();
    run.ok().stdout_has("persisted");
    let after = Tool::program("nsenter").arg(format!("--uts={}", file.display())).args(["hostname"]).run();
    assert_ne!(after.code, 0, "after umount the file is no namespace: {after:?}");
}

#[test]
fn explain_traces_maps_in_kernel_order() {
    need_root!("explain_traces_maps_in_kernel_order");
    let run = Tool::new("nsexec").env("ISOLAB_EXPLAIN", "json").args(["-U", "-r", "--", "true"]).run();
    run.ok();
    let steps: Vec<serde_json::Value> = run.stderr.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let pos =
        |suffix: &str| steps.iter().position(|s| s["path"].as_str().is_some_and(|p| p.ends_with(suffix))).unwrap();
    assert!(pos("/setgroups") < pos("/gid_map"), "setgroups is denied before gid_map: {}", run.stderr);
    assert!(steps.iter().any(|s| s["op"] == "unshare"));
    let text = Tool::new("nsexec").args(["--explain", "--pid", "--mount", "--", "true"]).run();
    text.ok().stderr_has("nsexec: unshare(CLONE_NEWPID|CLONE_NEWNS) = 0");
}

#[test]
fn bad_input_is_refused_before_anything_changes() {
    need_root!("bad_input_is_refused_before_anything_changes");
    let not_dir = Scratch::new("notdir");
    let file = not_dir.path().join("f");
    std::fs::write(&file, "").unwrap();
    let rootfs_file = file.display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--bogus", "true"], "--bogus"),
        (vec!["--map-users", "0:100000", "true"], "0:100000"),
        (vec!["--map-users", "0:100000:10", "--map-users", "5:200000:10", "true"], "overlap"),
        (vec!["-m", "--rootfs", &rootfs_file, "true"], "--rootfs"),
        (vec!["--rootfs", "/", "true"], "--rootfs needs a mount namespace"),
        (vec!["-m", "--bind", "/nonexistent-src:/x", "true"], "/nonexistent-src"),
        (vec!["--cap-add", "CAP_FLY", "true"], "CAP_FLY"),
        (
            vec!["-u", "--hostname", "h234567890h234567890h234567890h234567890h234567890h234567890h2345", "true"],
            "--hostname",
        ),
        (vec!["--setgroups", "sometimes", "-U", "true"], "--setgroups"),
        (vec!["-m", "--tmpfs", "relative", "true"], "--tmpfs"),
        (vec!["--user-id", "a b", "true"], "--user-id"),
        (vec!["-U"], "COMMAND"),
    ];
    for (args, needle) in cases {
        let before = mountinfo();
        Tool::new("nsexec").args(&args).run().refused(needle);
        // Only mounts this run could have made count: other suites mount meanwhile.
        let ours = |line: &&str| {
            let point = line.split(' ').nth(4).unwrap_or("");
            ["/", "/proc", "/tmp", "/dev"].contains(&point) || args.iter().any(|a| a.len() > 1 && line.contains(a))
        };
        let after = mountinfo();
        let added: Vec<&str> = after.lines().filter(|l| !before.lines().any(|b| b == *l)).filter(ours).collect();
        assert!(added.is_empty(), "{args:?} changed the mount table: {added:?}");
    }
}

// Nothing left behind: without a root of its own, nsexec never makes a mount point on the host.
#[test]
fn missing_mount_point_on_the_host_is_refused() {
    need_root!("missing_mount_point_on_the_host_is_refused");
    let dir = Scratch::new("src");
    let dest = format!("/isolab-no-such-dir-{}", std::process::id());
    let bind = format!("{}:{dest}", dir.path().display());
    for args in [vec!["-m", "--bind", &bind], vec!["-m", "--rootfs", "/", "--bind", &bind]] {
        Tool::new("nsexec").args(&args).args(["--", "true"]).run().refused("does not exist");
        assert!(!std::path::Path::new(&dest).exists(), "{args:?} created {dest} on the host");
    }
    // On a tmpfs of its own it may: the tmpfs lives in the new mount namespace only.
    let inside = format!("{}:/mnt/x/y", dir.path().display());
    Tool::new("nsexec").args(["-m", "--tmpfs", "/mnt", "--bind", &inside, "--", "test", "-d", "/mnt/x/y"]).run().ok();
}

// runc CVE-2021-30465 family: a mount target that is a symlink fails closed.
#[test]
fn symlinked_bind_destination_fails_closed() {
    need_root!("symlinked_bind_destination_fails_closed");
    let root = Scratch::new("rootfs");
    let outside = Scratch::new("outside");
    std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
    let bind = "/etc:/escape".to_string();
    let run = Tool::new("nsexec").args(["-m", "--rootfs"]).arg(root.path()).args(["--bind", &bind, "--", "true"]).run();
    run.refused("symlink");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "nothing created outside the root");
}

// Issue 14.6: docker stop's rule in every mode. A command that ignores SIGTERM gets SIGKILL
// --stop-timeout seconds after a forwarded SIGTERM: as PID 1, under --init, without a PID
// namespace (-f), and with cgexec-rs in front (SIGTERM to cgexec-rs).
#[test]
fn stop_timeout_applies_in_every_mode() {
    need_root!("stop_timeout_applies_in_every_mode");
    use std::io::BufRead as _;
    let nsexec = isolab_tests::bin("nsexec").display().to_string();
    let stubborn = ["--", "sh", "-c", "trap '' TERM; echo ready; exec sleep 30"];
    let launches: [(&str, Vec<&str>); 4] = [
        ("--pid", vec![&nsexec, "--stop-timeout", "1", "--pid"]),
        ("--pid --init", vec![&nsexec, "--stop-timeout", "1", "--pid", "--init"]),
        ("-f", vec![&nsexec, "--stop-timeout", "1", "-f"]),
        ("cgexec-rs, --pid --init", vec!["cgexec-rs", "--", &nsexec, "--stop-timeout", "1", "--pid", "--init"]),
    ];
    for (mode, argv) in launches {
        let program =
            if argv[0] == "cgexec-rs" { isolab_tests::bin("cgexec-rs").display().to_string() } else { argv[0].into() };
        let mut child = Command::new(program)
            .args(&argv[1..])
            .args(stubborn)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n", "{mode}");
        let start = std::time::Instant::now();
        let code = sigterm_after(&mut child, Duration::from_millis(100));
        let took = start.elapsed();
        assert_eq!(code, 137, "{mode}: SIGKILL after the timeout");
        assert!(took < Duration::from_secs(10), "{mode}: the command ran on for {took:?}");
    }
}
