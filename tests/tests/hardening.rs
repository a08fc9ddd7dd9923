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

/// A command that pushes one character into the terminal on its stdin (TIOCSTI = 0x5412).
const TIOCSTI: &str =
    "perl -e 'my $c = \"x\"; ioctl(STDIN, 0x5412, $c) or die \"TIOCSTI: $!\\n\"; print \"injected\\n\"'";

// CVE-2017-5226: with a new session the payload cannot push input into the caller's terminal.
#[test]
fn tiocsti_fails_in_a_new_session() {
    need_root!("tiocsti_fails_in_a_new_session");
    // script(1) gives the command a terminal on stdin; TIOCSTI = 0x5412. The payload is root in a
    // user namespace only, so CAP_SYS_ADMIN (which bypasses the check) does not apply.
    let payload = TIOCSTI;
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

// Issue 14.2: (uid_t)-1 means "leave unchanged" to setresuid(2) and setresgid(2): as a uid or
// gid it left the payload root with every capability. Refused wherever an id is taken: on the
// command line (125 before anything is made), from the new root's /etc/passwd and /etc/group,
// by nsenter-lite, and in idmap's maps.
#[test]
fn id_minus_one_is_refused_everywhere() {
    need_root!("id_minus_one_is_refused_everywhere");
    for spec in ["4294967295", "4294967295:0", "0:4294967295", "1000:4294967295"] {
        Tool::new("nsexec").args(["-u", "--user-id", spec, "--", "id"]).run().refused("4294967295");
    }
    Tool::new("nsexec").args(["-u", "--groups", "4294967295", "--", "id"]).run().refused("4294967295");
    let root = busybox_rootfs();
    let etc = root.path().join("etc");
    std::fs::write(etc.join("passwd"), "root:x:0:0:root:/:/bin/sh\nminus:x:4294967295:0::/:/bin/sh\n").unwrap();
    std::fs::write(etc.join("group"), "root:x:0:\nminus:x:4294967295:\n").unwrap();
    for user in ["minus", "0:minus"] {
        let run = Tool::new("nsexec")
            .args(["-m", "-p", "--rootfs"])
            .arg(root.path())
            .args(["--user-id", user, "--", "/bin/id"])
            .run();
        run.refused("4294967295");
        assert!(!run.stdout.contains("uid="), "{run:?}");
    }
    Tool::new("nsenter-lite")
        .args(["-t", "1", "-u", "--user-id", "4294967295", "--", "true"])
        .run()
        .refused("4294967295");
    for triple in [["4294967295", "0", "1"], ["0", "4294967295", "1"]] {
        Tool::new("idmap").args(["uid", "1"]).args(triple).run().refused("4294967295");
    }
}

/// Run `tool` with /dev/null open on each of `fds` (not close-on-exec), beside 0, 1 and 2 only.
fn with_fds(tool: Tool, fds: &'static [i32]) -> isolab_tests::Run {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let mut cmd = tool.only_stdio().command();
    // SAFETY: open, dup2 and close are async-signal-safe; the path is a NUL-terminated literal.
    unsafe {
        cmd.pre_exec(move || {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            for &fd in fds {
                libc::dup2(null, fd);
            }
            if !fds.contains(&null) {
                libc::close(null);
            }
            Ok(())
        });
    }
    let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
    isolab_tests::Run {
        shown: format!("{cmd:?} with fds {fds:?}"),
        code: out.status.code().unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0)),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn fds_seen(run: &isolab_tests::Run) -> Vec<&str> {
    run.ok();
    run.stdout.split_whitespace().filter(|w| w.bytes().all(|b| b.is_ascii_digit())).collect()
}

// Issue 14.4 (runc CVE-2024-21626 family): a container (--rootfs) gets 0, 1 and 2 only, whatever
// the caller left open, through cgexec-rs too; more only with --preserve-fds N (runc's flag) or
// socket activation (LISTEN_FDS with LISTEN_PID = nsexec's pid, as runc honours it). A plain
// unshare leaves the caller's descriptors to the caller.
#[test]
fn container_gets_only_stdio_unless_asked() {
    need_root!("container_gets_only_stdio_unless_asked");
    let root = busybox_rootfs();
    let rootfs = root.path().to_str().unwrap().to_string();
    let show = ["--", "/bin/sh", "-c", "ls /proc/$$/fd; echo LISTEN=$LISTEN_PID/$LISTEN_FDS"];
    let container =
        |extra: &[&str]| Tool::new("nsexec").args(["-m", "-p", "--rootfs", &rootfs]).args(extra.to_vec()).args(show);
    assert_eq!(fds_seen(&with_fds(container(&[]), &[10, 251])), ["0", "1", "2"]);
    let chained = Tool::new("cgexec-rs").arg("--").arg(isolab_tests::bin("nsexec"));
    let chained = chained.args(["-m", "-p", "--rootfs", &rootfs]).args(show);
    assert_eq!(fds_seen(&with_fds(chained, &[10, 251])), ["0", "1", "2"]);
    assert_eq!(fds_seen(&with_fds(container(&["--preserve-fds", "2"]), &[3, 4, 10, 251])), ["0", "1", "2", "3", "4"]);
    with_fds(container(&["--preserve-fds", "3"]), &[3, 4]).refused("--preserve-fds");
    // Socket activation: the listening descriptors follow, LISTEN_PID names the command (PID 1).
    let nsexec = isolab_tests::bin("nsexec");
    let activated = |pid: &str| {
        let script = format!("LISTEN_PID={pid} LISTEN_FDS=2 exec {} \"$@\"", nsexec.display());
        Tool::program("sh").args(["-c", &script, "sh", "-m", "-p", "--rootfs", &rootfs]).args(show)
    };
    let run = with_fds(activated("$$"), &[3, 4, 10]);
    assert_eq!(fds_seen(&run), ["0", "1", "2", "3", "4"]);
    run.stdout_has("LISTEN=1/2");
    assert_eq!(fds_seen(&with_fds(activated("1"), &[3, 4, 10])), ["0", "1", "2"], "LISTEN_PID of another process");
    // No root of its own: the caller's descriptors are the caller's business (util-linux unshare).
    let plain = Tool::new("nsexec").args(["-u", "--", "sh", "-c", "ls /proc/$$/fd"]);
    assert_eq!(fds_seen(&with_fds(plain, &[10, 251])), ["0", "1", "10", "2", "251"]);
}

// The same rule for `docker exec` (runc exec passes 0, 1, 2 and --preserve-fds N): a command
// that nsenter-lite runs in another root (a joined mount namespace, or --root) gets none of the
// caller's other descriptors. A container's root can open a joined command's descriptors through
// /proc/PID/fd (it owns the process): the review's admin shell had fd 9 on the host's /etc, and
// the container listed it and walked up to the host's /. A join that keeps our root keeps them.
#[test]
fn joined_container_gets_only_stdio_unless_asked() {
    need_root!("joined_container_gets_only_stdio_unless_asked");
    let root = busybox_rootfs();
    let run = Scratch::new("joined-fds");
    let pidfile = run.path().join("pid");
    let target =
        Tool::new("nsexec").args(["-m", "-p", "-u", "--rootfs"]).arg(root.path()).arg("--pidfile").arg(&pidfile);
    let (mut target, pid) = started(target.args(["--", "/bin/busybox", "sleep", "60"]), &pidfile);
    let pid = pid.as_str();
    // Which descriptors the command holds, by dup (one digit: dash's redirections take no more);
    // a command outside the container's PID namespace has no /proc/self there.
    let probe = "for n in 0 1 2 3 4 5 6 7 8 9; do (: <&$n) 2>/dev/null && echo $n; done; true";
    let join = |extra: &[&str]| {
        Tool::new("nsenter-lite").args(["-t", pid]).args(extra.to_vec()).args(["--", "sh", "-c", probe])
    };
    assert_eq!(fds_seen(&with_fds(join(&["-a"]), &[5, 9])), ["0", "1", "2"]);
    assert_eq!(fds_seen(&with_fds(join(&["-m"]), &[9])), ["0", "1", "2"]);
    assert_eq!(fds_seen(&with_fds(join(&["-r", "-u"]), &[9])), ["0", "1", "2"]);
    assert_eq!(fds_seen(&with_fds(join(&["-a", "--preserve-fds", "2"]), &[3, 4, 9])), ["0", "1", "2", "3", "4"]);
    with_fds(join(&["-a", "--preserve-fds", "3"]), &[3, 4]).refused("--preserve-fds");
    // Our own root: the caller's descriptors are the caller's business (util-linux nsenter).
    assert_eq!(fds_seen(&with_fds(join(&["-u"]), &[5, 9])), ["0", "1", "2", "5", "9"]);
    let _ = target.0.kill();
}

// `make test` runs as root in a /tmp every user writes, and its scratch directories had names
// anyone could predict (`isolab-test-<pid>-<tag>-<n>`; in core's unit tests `isolab-creds-<pid>`,
// `isolab-pidfile-test-<pid>`; the bench's `isolab-bench-<pid>`). In the review isolab-test
// planted `/tmp/isolab-creds-<pid>/passwd -> a root-owned file` for the next 3000 PIDs, and
// root's `cargo test -p isolab-core` wrote its test passwd through it (a directory of the user's
// own: protected_symlinks does not cover it). A planted path must be neither used nor removed.
#[test]
fn scratch_dirs_are_never_planted_ones() {
    need_root!("scratch_dirs_are_never_planted_ones");
    let victim = Scratch::new("victim");
    std::fs::write(victim.path().join("file"), "root's\n").unwrap();
    let stranger = 4_000_123;
    let planted: Vec<std::path::PathBuf> = (0..512)
        .map(|n| std::env::temp_dir().join(format!("isolab-test-{}-planted-{n}", std::process::id())))
        .collect();
    for dir in &planted {
        std::fs::create_dir(dir).unwrap();
        std::os::unix::fs::symlink(victim.path().join("file"), dir.join("passwd")).unwrap();
        std::os::unix::fs::lchown(dir.join("passwd"), Some(stranger), Some(stranger)).unwrap();
        std::os::unix::fs::chown(dir, Some(stranger), Some(stranger)).unwrap();
    }
    let made: Vec<Scratch> = (0..4).map(|_| Scratch::new("planted")).collect();
    let intact = planted.iter().all(|d| d.join("passwd").symlink_metadata().is_ok());
    for d in &planted {
        let _ = std::fs::remove_file(d.join("passwd"));
        let _ = std::fs::remove_dir(d);
    }
    assert!(intact, "a scratch directory removed what another user had planted at its name");
    for s in &made {
        assert!(!planted.contains(&s.0), "{} was planted by uid {stranger}", s.0.display());
        let meta = std::fs::symlink_metadata(s.path()).unwrap();
        assert!(meta.is_dir() && std::os::unix::fs::MetadataExt::uid(&meta) == 0, "{}", s.0.display());
        std::fs::write(s.path().join("passwd"), "test\n").unwrap();
    }
    assert_eq!(std::fs::read_to_string(victim.path().join("file")).unwrap(), "root's\n");
}

/// Every path under `dir`, with its type, sorted: what a run may not leave changed.
fn tree_of(dir: &Path) -> Vec<String> {
    let out = std::process::Command::new("find").arg(dir).args(["-printf", "%P %y\n"]).output().unwrap();
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
    lines.sort();
    lines
}

// Issue 14.8 and 13 §4: a directory source gets a directory mount point wherever it lives (a
// source under /tmp got an empty file: /tmp was where the new root waited); a failed set-up
// removes every mount point it made, whatever failed (a socket's bind, a symlinked target, a
// command that is not there); control characters are refused in mount points and names.
#[test]
fn mount_points_are_right_and_undone_on_failure() {
    need_root!("mount_points_are_right_and_undone_on_failure");
    let root = Scratch::new("bare-root");
    std::fs::create_dir(root.path().join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.path().join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.path().join("bin/ls")).unwrap();
    let www = Scratch::new("www"); // under /tmp, as the newcomer's /tmp/www
    std::fs::write(www.path().join("index.html"), "hello\n").unwrap();
    let nsexec =
        |args: &[&str]| Tool::new("nsexec").args(["-m", "-p", "--rootfs"]).arg(root.path()).args(args.to_vec()).run();
    let bind = format!("{}:/www:ro", www.path().display());
    nsexec(&["--bind", &bind, "--", "/bin/ls", "/www"]).ok().stdout_has("index.html");
    assert!(root.path().join("www").is_dir(), "the mount point of a directory is a directory");
    std::fs::remove_dir(root.path().join("www")).unwrap();
    let before = tree_of(root.path());
    // A socket's bind goes through, then a later bind fails (its target is a symlink).
    let sock_dir = Scratch::new("sock");
    let sock = sock_dir.path().join("s");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::os::unix::fs::symlink("/etc", root.path().join("escape")).unwrap();
    let before_link = tree_of(root.path());
    let sock_bind = format!("{}:/run/app.sock", sock.display());
    nsexec(&["--bind", &sock_bind, "--bind", &bind.replace("/www", "/escape/x"), "--", "/bin/ls"]).refused("symlink");
    assert_eq!(tree_of(root.path()), before_link, "a failed set-up left mount points behind");
    std::fs::remove_file(root.path().join("escape")).unwrap();
    // A command that is not there: 127, and /dev, /proc and the bind's mount point are gone again.
    nsexec(&["--bind", &bind, "--", "/bin/nonexistent"]).code(127);
    assert_eq!(tree_of(root.path()), before, "the failed command left mount points behind");
    nsexec(&["--read-only", "--tmpfs", "/scratch", "--", "/nonexistent"]).code(127);
    assert_eq!(tree_of(root.path()), before, "with --read-only");
    let empty = Scratch::new("empty-root");
    Tool::new("nsexec").args(["-m", "--rootfs"]).arg(empty.path()).args(["--", "/bin/true"]).run().code(127);
    assert_eq!(tree_of(empty.path()), [" d"], "an empty rootfs stays empty");
    // Control characters: refused before anything is made.
    for args in [
        vec!["--bind".to_string(), format!("{}:/a\nb", www.path().display())],
        vec!["--tmpfs".into(), "/tmp\tx".into()],
        vec!["--mount-proc=/pro\u{1b}c".into()],
    ] {
        let mut all: Vec<String> = args.clone();
        all.extend(["--".into(), "/bin/true".into()]);
        let argv: Vec<&str> = all.iter().map(String::as_str).collect();
        nsexec(&argv).refused("control character");
    }
    assert_eq!(tree_of(root.path()), before);
    for flag in ["--hostname", "--domainname"] {
        Tool::new("nsexec").args(["-u", flag, "a\tb", "--", "true"]).run().refused("control character");
    }
    let dir = Scratch::new("persist-name");
    let file = format!("--net={}/a\nb", dir.path().display());
    Tool::new("nsexec").args([file.as_str(), "--", "true"]).run().refused("control character");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the namespace file was not made");
}

// CVE-2017-5226 for `docker exec`: a command nsenter-lite runs from the administrator's terminal
// may be the container's own binary (a joined mount namespace), or be ptraced by the container's
// root once it runs; with that terminal as its controlling one, TIOCSTI typed into the
// administrator's shell (the review's probe from make demo's container: `tiocsti: ok`). On a
// terminal the command gets a new session, as nsexec's payload does; --no-new-session keeps it.
#[test]
fn tiocsti_fails_for_a_joined_command() {
    need_root!("tiocsti_fails_for_a_joined_command");
    let run = Scratch::new("joined-tty");
    std::fs::set_permissions(run.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(run.path(), Some(100000), Some(100000)).unwrap(); // nsexec writes the pidfile as root inside
    let pidfile = run.path().join("pid");
    let target = Tool::new("nsexec")
        .args(["--all", "--map-users", "0:100000:65536", "--map-groups", "0:100000:65536"])
        .args(["--rootfs", "/", "--read-only", "--tmpfs", "/tmp", "--pidfile"])
        .arg(&pidfile)
        .args(["--", "sleep", "60"]);
    let (mut target, pid) = started(target, &pidfile);
    let nsenter = isolab_tests::bin("nsenter-lite");
    let joined = |extra: &str| {
        let inner = format!("{} -t {pid} -a {extra} -- sh -c '{}'", nsenter.display(), TIOCSTI.replace('\'', "'\\''"));
        Tool::program("script").args(["-qec", &inner, "/dev/null"]).run()
    };
    let run = joined("");
    assert!(!run.stdout.contains("injected") && run.stdout.contains("TIOCSTI"), "{run:?}");
    let run = joined("--no-new-session");
    if std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti").is_ok_and(|v| v.trim() == "1") {
        assert!(run.stdout.contains("injected"), "{run:?}");
    }
    let _ = target.0.kill();
}

/// What a container's root runs to catch a tool joining from outside (perl, which `make test`
/// installs): stop every process named `nsenter-lite` the moment it shows in this PID namespace
/// and say whether its /proc/PID/exe opens and whether ptrace(PTRACE_SEIZE) attaches. A catch
/// counts only while the process is still nsenter-lite (stopped between its setns and its exec);
/// the watcher ends after the first one. Arguments: seconds, SYS_ptrace, PTRACE_SEIZE, PTRACE_DETACH.
const WATCH_JOINERS: &str = r#"
# Numbers, not strings: perl passes a string to syscall(2) as a pointer.
my ($secs, $sys_ptrace, $seize, $detach) = map { $_ + 0 } @ARGV; my $until = time + $secs; my %seen; $| = 1;
print "watching\n";
while (time < $until) {
  opendir(my $d, "/proc") or die "opendir /proc: $!";
  for my $p (grep { /^\d+$/ && !$seen{$_} && $_ != $$ } readdir $d) {
    open(my $c, "<", "/proc/$p/comm") or next; my $comm = <$c>; close $c; $seen{$p} = 1;
    next unless $comm eq "nsenter-lite\n";
    kill 'STOP', $p; $p += 0;
    my $exe = defined(readlink("/proc/$p/exe")) ? "exe reached" : "exe refused";
    my $pt = syscall($sys_ptrace, $seize, $p, 0, 0) == 0 ? "ptrace attached" : "ptrace refused";
    syscall($sys_ptrace, $detach, $p, 0, 0);
    open($c, "<", "/proc/$p/comm") or next; my $still = <$c>; close $c;
    kill 'CONT', $p;
    if ($still eq "nsenter-lite\n") { print "caught $p: $exe, $pt\n"; exit 0; }
  }
}
print "nothing caught\n";
"#;

/// Start `launch` (a tool that writes `pidfile`) and wait for the PID it writes.
fn started(launch: Tool, pidfile: &Path) -> (Launch, String) {
    let launch = Launch(launch.command().spawn().unwrap());
    // nsexec makes the pidfile as it starts and writes the PID once the process is set up and
    // confined: wait for the PID, not for the file. (Launch's drop ends the launch if it never comes.)
    let pid = isolab_tests::wait_for_pidfile(pidfile);
    (launch, pid.to_string())
}

/// A launch that is killed if the test ends early.
struct Launch(std::process::Child);

impl Drop for Launch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// runc CVE-2016-9962 / CVE-2019-5736: `make demo`'s container (every namespace, root remapped to
// host uid 100000) and an administrator who joins it (`nsenter-lite -a`, as lab 11 does). Between
// its setns and its exec nsenter-lite sits in the container's user and PID namespaces while still
// host uid 0, holding the host's /proc: the container's root, which has CAP_SYS_PTRACE there,
// could stop it, ptrace it, and through that /proc write the host's sysctls (kernel.core_pattern
// opened for writing in the review). Non-dumpable from before its first setns, it is out of reach.
#[test]
fn container_root_cannot_reach_a_joining_nsenter_lite() {
    need_root!("container_root_cannot_reach_a_joining_nsenter_lite");
    let w = Scratch::new("joiner");
    std::fs::set_permissions(w.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // The pidfile is written by nsexec as root of the namespace: host uid 100000.
    std::os::unix::fs::chown(w.path(), Some(100000), Some(100000)).unwrap();
    std::fs::write(w.path().join("watch.pl"), WATCH_JOINERS).unwrap();
    let bind = format!("{}:/tmp/w:ro", w.path().display());
    let pidfile = w.path().join("pid");
    let (sys_ptrace, seize, detach) = (libc::SYS_ptrace.to_string(), "16902", "17"); // PTRACE_SEIZE = 0x4206
                                                                                     // The container and the joining tool share one CPU, the tool at the lowest priority, so the
                                                                                     // watcher runs while the tool is in its window (the race an attacker wins by retrying).
    let mut cmd = Tool::program("taskset")
        .args(["-c", "0"])
        .arg(isolab_tests::bin("nsexec"))
        .args(["--all", "--map-users", "0:100000:65536", "--map-groups", "0:100000:65536"])
        .args(["--rootfs", "/", "--read-only", "--tmpfs", "/tmp", "--bind", &bind, "--pidfile"])
        .arg(&pidfile)
        .args(["--", "perl", "/tmp/w/watch.pl", "60", &sys_ptrace, seize, detach])
        .command();
    let mut launch = Launch(cmd.stdout(std::process::Stdio::piped()).spawn().unwrap());
    let mut out = std::io::BufReader::new(launch.0.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "watching\n", "the watcher did not start");
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let nsenter = isolab_tests::bin("nsenter-lite");
    let start = std::time::Instant::now();
    while launch.0.try_wait().unwrap().is_none() && start.elapsed() < std::time::Duration::from_secs(50) {
        Tool::program("taskset")
            .args(["-c", "0", "nice", "-n", "19"])
            .arg(&nsenter)
            .args(["-t", pid.trim(), "-a", "--", "true"])
            .run();
    }
    let mut report = String::new();
    std::io::Read::read_to_string(&mut out, &mut report).unwrap();
    assert!(report.starts_with("caught "), "the watcher never stopped nsenter-lite in its window: {report:?}");
    assert!(report.contains("exe refused") && report.contains("ptrace refused"), "{report}");
}
