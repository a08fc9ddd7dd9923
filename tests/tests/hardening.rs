//! Escapes that hit runc, bubblewrap and shadow, as tests against nsexec.

use std::path::Path;

use isolab_tests::{need_root, Scratch, Tool};

/// A tiny root file system: busybox-static and the directories a container expects.
fn busybox_rootfs() -> Scratch {
    let root = Scratch::new("rootfs");
    for dir in ["bin", "proc", "dev", "tmp", "etc"] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.path().join("bin/busybox")).expect("busybox-static is installed by make test");
    for applet in ["sh", "pwd", "ls", "cat", "id"] {
        std::os::unix::fs::symlink("busybox", root.path().join("bin").join(applet)).unwrap();
    }
    std::fs::write(root.path().join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").unwrap();
    root
}

fn status_field(text: &str, name: &str) -> u64 {
    let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in {text}"));
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

// runc CVE-2022-29162: no inheritable (or other) capability survives into a non-root payload.
#[test]
fn non_root_user_ends_with_no_capabilities() {
    need_root!("non_root_user_ends_with_no_capabilities");
    let run = Tool::new("nsexec").args(["--uts", "--user-id", "1000:1000", "--", "cat", "/proc/self/status"]).run();
    run.ok();
    for set in ["CapInh:", "CapPrm:", "CapEff:", "CapAmb:"] {
        assert_eq!(status_field(&run.stdout, set), 0, "{set} {}", run.stdout);
    }
    // --cap-add keeps exactly that capability, through the ambient set.
    let run = Tool::new("nsexec")
        .args(["--uts", "--user-id", "1000", "--cap-add", "NET_BIND_SERVICE", "--", "cat", "/proc/self/status"])
        .run();
    run.ok();
    let bit = 1u64 << 10; // CAP_NET_BIND_SERVICE
    for set in ["CapInh:", "CapPrm:", "CapEff:", "CapAmb:"] {
        assert_eq!(status_field(&run.stdout, set), bit, "{set} {}", run.stdout);
    }
    // --cap-drop ALL for root: the bounding set is empty, so exec grants nothing.
    let run = Tool::new("nsexec").args(["--uts", "--cap-drop", "ALL", "--", "cat", "/proc/self/status"]).run();
    run.ok();
    assert_eq!(status_field(&run.stdout, "CapBnd:"), 0);
    assert_eq!(status_field(&run.stdout, "CapEff:"), 0);
}

// runc CVE-2024-21626: a working directory reached through a descriptor stays inside the root.
#[test]
fn workdir_through_proc_self_fd_stays_inside() {
    need_root!("workdir_through_proc_self_fd_stays_inside");
    let root = busybox_rootfs();
    for n in 0..64 {
        let wd = format!("/proc/self/fd/{n}");
        let run = Tool::new("nsexec")
            .only_stdio()
            .args(["-m", "-p", "--rootfs"])
            .arg(root.path())
            .args(["-w", &wd, "--", "/bin/pwd"])
            .run();
        match run.code {
            0 => assert!(
                !run.stdout.contains(&*root.path().to_string_lossy()) && run.stdout.starts_with('/'),
                "fd {n}: {run:?}"
            ),
            125 => assert!(run.stderr.contains("--workdir"), "fd {n}: {run:?}"),
            _ => panic!("fd {n}: {run:?}"),
        }
    }
}

// runc CVE-2019-5736: nothing inside can reach nsexec's binary through /proc/1/exe.
#[test]
fn init_binary_is_out_of_reach() {
    need_root!("init_binary_is_out_of_reach");
    let probe = "(exec 3>>/proc/1/exe) 2>/dev/null && echo opened-for-writing; (exec 4</proc/1/exe) 2>/dev/null && echo opened; readlink /proc/1/exe || echo refused";
    let run = Tool::new("nsexec").args(["-U", "-r", "--pid", "--mount", "--init", "--", "sh", "-c", probe]).run();
    assert!(!run.stdout.contains("opened"), "{run:?}");
    run.stdout_has("refused");
    let status = Tool::new("nsexec")
        .args(["--pid", "--mount", "--init", "--", "grep", "-h", "Name:\\|dumpable", "/proc/1/status"])
        .run();
    status.ok().stdout_has("nsexec");
}

// CVE-2017-5226: with a new session the payload cannot push input into the caller's terminal.
#[test]
fn tiocsti_fails_in_a_new_session() {
    need_root!("tiocsti_fails_in_a_new_session");
    // script(1) gives the command a terminal on stdin; TIOCSTI = 0x5412. The payload is root in a
    // user namespace only, so CAP_SYS_ADMIN (which bypasses the check) does not apply.
    let payload = "perl -e 'my $c = \"x\"; ioctl(STDIN, 0x5412, $c) or die \"TIOCSTI: $!\\n\"; print \"injected\\n\"'";
    let nsexec = isolab_tests::bin("nsexec");
    let inner = format!("{} -U -r -- sh -c '{}'", nsexec.display(), payload.replace('\'', "'\\''"));
    let run = Tool::program("script").args(["-qec", &inner, "/dev/null"]).run();
    assert!(!run.stdout.contains("injected"), "{run:?}");
    assert!(run.stdout.contains("TIOCSTI"), "{run:?}");
    // The opt-out keeps the terminal (and so the old behaviour), as documented.
    let inner = format!("{} --no-new-session -U -r -- sh -c '{}'", nsexec.display(), payload.replace('\'', "'\\''"));
    let run = Tool::program("script").args(["-qec", &inner, "/dev/null"]).run();
    if std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti").is_ok_and(|v| v.trim() == "1") {
        assert!(run.stdout.contains("injected"), "{run:?}");
    }
}

// runc CVE-2021-30465 family: a rootfs whose dev is a symlink to a host path fails closed.
#[test]
fn rootfs_with_symlinked_dev_fails_closed() {
    need_root!("rootfs_with_symlinked_dev_fails_closed");
    let root = busybox_rootfs();
    let outside = Scratch::new("victim");
    std::fs::remove_dir(root.path().join("dev")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("dev")).unwrap();
    let run = Tool::new("nsexec").args(["-m", "--rootfs"]).arg(root.path()).args(["--", "/bin/true"]).run();
    run.refused("symlink");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    assert!(!Path::new(&outside.path().join("null")).exists());
}

/// A memory group beneath our own, removed on drop: a test that pokes at cgroups from inside a
/// container does it in here, so even a failed protection could only touch this group.
struct ThrowawayGroup(std::path::PathBuf);

impl ThrowawayGroup {
    fn new() -> ThrowawayGroup {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let rel = own
            .lines()
            .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_string()))
            .expect("memory v1 hierarchy");
        let dir = Path::new("/sys/fs/cgroup/memory")
            .join(rel.trim_start_matches('/'))
            .join(format!("isolab-test-{}-hard", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        ThrowawayGroup(dir)
    }
}

impl Drop for ThrowawayGroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

// CVE-2022-0492: root of a remapped user namespace, even with its own cgroup and mount
// namespaces, cannot write cgroup v1 control files (release_agent, notify_on_release, limits).
#[test]
fn userns_root_cannot_write_cgroup_v1() {
    need_root!("userns_root_cannot_write_cgroup_v1");
    if std::env::var("ISOLAB_VM_LAYOUT").as_deref() == Ok("v2")
        || !Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()
    {
        isolab_tests::skip("userns_root_cannot_write_cgroup_v1", "no cgroup v1 memory hierarchy here");
        return;
    }
    let group = ThrowawayGroup::new();
    let payload = "mkdir -p /tmp/cg && mount -t cgroup -o memory cgroup /tmp/cg || exit 0; \
                   for f in release_agent notify_on_release memory.soft_limit_in_bytes; do \
                     (echo 1 > /tmp/cg/$f) 2>/dev/null && echo wrote $f; done; \
                   mkdir /tmp/cg/escape 2>/dev/null && echo made-group; true";
    let script = format!("echo $$ > {}/cgroup.procs && exec {} -U --map-users 0:100000:65536 --map-groups 0:100000:65536 -C -m --tmpfs /tmp -- sh -c '{payload}'",
        group.0.display(), isolab_tests::bin("nsexec").display());
    let run = Tool::program("sh").args(["-c", &script]).run();
    run.ok();
    assert!(!run.stdout.contains("wrote") && !run.stdout.contains("made-group"), "{run:?}");
    assert_eq!(std::fs::read_to_string(group.0.join("notify_on_release")).unwrap().trim(), "0");
}
