//! `-t/--tty` (docker run -it, docker exec -it) on a real terminal: the tools run on a pty of
//! the test's own, which types into it and reads the answers. The command gets a terminal of its
//! own (`tty` names it, job control works), the caller's terminal is raw while it runs and as it
//! was after, however the command ends; the exit status passes through. As root and as the
//! unprivileged test user.

use std::time::Duration;

use isolab_tests::pty::Terminal;
use isolab_tests::user::{as_user, test_user};
use isolab_tests::{bin, need_root, Running, Scratch, Tool};

const SECS: u64 = 20;

/// Type the issue's session into a shell on `term`: its own terminal, a background job that
/// job control lists, and `exit 3`, whose status comes back. Checks the caller's terminal is raw
/// meanwhile and restored after.
fn issue_session(mut term: Terminal, prompt: &str) {
    let before = term.initial_mode();
    assert!(before.canonical() && before.echoes(), "the test's terminal starts cooked: {before:?}");
    term.expect(prompt, SECS);
    term.send("tty\n");
    let answer = term.expect(prompt, SECS);
    assert!(answer.contains("/dev/pts/") && !answer.contains("not a tty"), "tty said: {answer:?}");
    let raw = term.mode();
    assert!(!raw.canonical() && !raw.echoes(), "the caller's terminal must be raw while the command runs: {raw:?}");
    term.send("sleep 30 &\n");
    term.expect(prompt, SECS);
    term.send("jobs\n");
    let jobs = term.expect(prompt, SECS);
    assert!(jobs.contains("Running") && jobs.contains("sleep 30"), "jobs said: {jobs:?}");
    term.send("exit 3\n");
    assert_eq!(term.wait(SECS), 3, "the status passes through:\n{}", term.transcript);
    assert_eq!(term.mode(), before, "the caller's terminal is restored");
    assert!(!term.transcript.contains("job control turned off"), "{}", term.transcript);
}

#[test]
fn tty_job_control_and_status_as_root() {
    need_root!("tty_job_control_and_status_as_root");
    issue_session(Terminal::spawn(Tool::new("nsexec").args(["-t", "-p", "-m", "--", "sh"]), 24, 80), "# ");
}

#[test]
fn tty_job_control_and_status_as_a_user() {
    need_root!("tty_job_control_and_status_as_a_user");
    let user = test_user();
    let tool = as_user(user, bin("nsexec")).args(["--tty", "--map-root", "-p", "-m", "--", "sh"]);
    issue_session(Terminal::spawn(tool, 24, 80), "# ");
}

/// The issue's report: `nsexec -a --map-root --rootfs R -- sh` said "can't access tty". With a
/// busybox root of its own, `tty` names /dev/pts/0 of the container's own devpts.
#[test]
fn tty_in_a_root_of_its_own_as_a_user() {
    need_root!("tty_in_a_root_of_its_own_as_a_user");
    let scratch = Scratch::new("tty-rootfs");
    let rootfs = scratch.path().join("rootfs");
    let mk = Tool::program(concat!(env!("CARGO_MANIFEST_DIR"), "/../labs/mkrootfs")).arg(&rootfs).run();
    mk.ok();
    std::fs::set_permissions(scratch.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let user = test_user();
    let tool =
        as_user(user, bin("nsexec")).args(["-t", "-a", "--map-root", "--rootfs"]).arg(&rootfs).args(["--", "sh"]);
    let mut term = Terminal::spawn(tool, 24, 80);
    term.expect("# ", SECS);
    term.send("tty\n");
    assert!(term.expect("# ", SECS).contains("/dev/pts/0"), "{}", term.transcript);
    term.send("exit 3\n");
    assert_eq!(term.wait(SECS), 3, "{}", term.transcript);
}

/// The caller's terminal comes back on every way the command can end: EOF (Ctrl-D), kill -9 of
/// the command, SIGTERM to nsexec (then SIGKILL after --stop-timeout, as docker stop does).
#[test]
fn tty_raw_mode_is_restored_on_every_exit_path() {
    need_root!("tty_raw_mode_is_restored_on_every_exit_path");
    let scratch = Scratch::new("tty-exit");
    let pidfile = scratch.path().join("pid");
    let start = || {
        let tool = Tool::new("nsexec").args(["-t", "-p", "-m", "--stop-timeout", "1", "--pidfile"]);
        let mut term = Terminal::spawn(tool.arg(&pidfile).args(["--", "sh"]), 24, 80);
        let before = term.initial_mode();
        term.expect("# ", SECS);
        assert!(!term.mode().canonical(), "raw while it runs");
        (term, before)
    };
    let (mut eof, before) = start();
    eof.send("\x04");
    assert_eq!(eof.wait(SECS), 0, "Ctrl-D ends the shell:\n{}", eof.transcript);
    assert_eq!(eof.mode(), before, "after EOF");

    let (mut killed, before) = start();
    let payload: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    // SAFETY: kill of the payload this test started (its pid from nsexec's pidfile).
    assert_eq!(unsafe { libc::kill(payload, libc::SIGKILL) }, 0);
    assert_eq!(killed.wait(SECS), 137, "the command's death passes through:\n{}", killed.transcript);
    assert_eq!(killed.mode(), before, "after kill -9 of the command");

    let (mut stopped, before) = start();
    // SAFETY: SIGTERM to the nsexec this test started.
    assert_eq!(unsafe { libc::kill(stopped.pid(), libc::SIGTERM) }, 0);
    assert_eq!(stopped.wait(SECS), 137, "sh ignores SIGTERM: SIGKILL after 1 s:\n{}", stopped.transcript);
    assert_eq!(stopped.mode(), before, "after SIGTERM to nsexec");
}

/// Ctrl-C reaches only the foreground job; the background one keeps running.
#[test]
fn tty_ctrl_c_reaches_only_the_foreground_job() {
    need_root!("tty_ctrl_c_reaches_only_the_foreground_job");
    let mut term = Terminal::spawn(Tool::new("nsexec").args(["-t", "-p", "-m", "--", "sh"]), 24, 80);
    term.expect("# ", SECS);
    term.send("sleep 100 &\n");
    term.expect("# ", SECS);
    term.send("sleep 200\n");
    let sleep = wait_in_foreground(term.pid(), "200");
    term.send("\x03");
    if term.try_expect("# ", SECS).is_none() {
        let status = std::fs::read_to_string(format!("/proc/{sleep}/status")).unwrap_or_else(|e| format!("gone: {e}"));
        let signals: Vec<&str> = status.lines().filter(|l| l.starts_with("State") || l.starts_with("Sig")).collect();
        panic!(
            "no prompt within {SECS} s of ^C; sleep 200 (pid {sleep}): {signals:?}; the caller's terminal canonical: \
             {}; the terminal showed:\n{}",
            term.mode().canonical(),
            term.transcript
        );
    }
    term.send("jobs; ps -o pid=,args= | grep -c '[s]leep 200'\n");
    let after = term.expect("# ", SECS);
    assert!(after.contains("Running") && after.contains("sleep 100"), "the background job lives: {after:?}");
    assert!(after.contains("\r\n0\r\n"), "the foreground sleep 200 got SIGINT: {after:?}");
    term.send("fg\n");
    let _ = wait_in_foreground(term.pid(), "100");
    term.send("\x03");
    term.expect("# ", SECS);
    term.send("exit 3\n");
    assert_eq!(term.wait(SECS), 3, "{}", term.transcript);
}

/// Wait until `sleep ARG`, below `ancestor`, is its terminal's foreground job; its pid (its process group
/// is the terminal's, /proc/PID/stat): a Ctrl-C sent before that reaches the shell, which is still
/// starting the job (a fixed pause lost that race on a loaded machine).
fn wait_in_foreground(ancestor: i32, arg: &str) -> i32 {
    let stat = |pid: i32| -> Option<Vec<i32>> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // After "(comm)": state ppid pgrp session tty_nr tpgid.
        let fields: Vec<&str> = text[text.rfind(')')? + 2..].split(' ').collect();
        [1, 2, 5].iter().map(|&i| fields.get(i)?.parse().ok()).collect()
    };
    let below = |mut pid: i32| {
        while pid > 1 {
            if pid == ancestor {
                return true;
            }
            pid = stat(pid).map_or(0, |f| f[0]);
        }
        false
    };
    let want = format!("sleep\0{arg}\0");
    let deadline = std::time::Instant::now() + Duration::from_secs(SECS);
    loop {
        let found =
            std::fs::read_dir("/proc").unwrap().flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).find(
                |&pid: &i32| {
                    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want.as_bytes())
                        && stat(pid).is_some_and(|f| f[1] == f[2])
                        && below(pid)
                },
            );
        if let Some(pid) = found {
            return pid;
        }
        assert!(std::time::Instant::now() < deadline, "sleep {arg} never became the foreground job");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The window size at start, and again after the caller's terminal is resized (SIGWINCH).
#[test]
fn tty_window_size_follows_the_callers() {
    need_root!("tty_window_size_follows_the_callers");
    let mut term = Terminal::spawn(Tool::new("nsexec").args(["-t", "--uts", "--", "sh"]), 30, 100);
    term.expect("# ", SECS);
    term.send("stty size\n");
    assert!(term.expect("# ", SECS).contains("30 100"), "{}", term.transcript);
    term.resize(40, 120);
    std::thread::sleep(Duration::from_millis(200));
    term.send("stty size\n");
    assert!(term.expect("# ", SECS).contains("40 120"), "{}", term.transcript);
    term.send("exit\n");
    assert_eq!(term.wait(SECS), 0);
}

/// `-i` style: input that is not a terminal is copied in and ends with EOF; output comes back.
#[test]
fn tty_forwards_stdin_that_is_not_a_terminal() {
    need_root!("tty_forwards_stdin_that_is_not_a_terminal");
    let run = Tool::new("nsexec").args(["-t", "--uts", "--", "sh"]).stdin("tty\nexit 5\n").run();
    run.code(5).stdout_has("/dev/pts/");
    let cat = Tool::new("nsexec").args(["-t", "--uts", "--", "sh", "-c", "cat; echo done"]).stdin("no newline").run();
    cat.ok().stdout_has("done");
}

/// docker exec -it: nsenter-lite --tty into a running container, as root, and as a user into
/// the user's own (whose init is closed to it: its command is joined).
#[test]
fn nsenter_lite_tty_into_a_container() {
    need_root!("nsenter_lite_tty_into_a_container");
    let user = test_user();
    let scratch = Scratch::new("tty-exec");
    std::os::unix::fs::chown(scratch.path(), Some(user.uid), Some(user.gid)).unwrap();
    let pidfile = scratch.path().join("pid");
    let init = ["--init", "-p", "-m", "-u", "--hostname", "boxed", "--pidfile"];
    for as_root in [true, false] {
        let (nsexec, nsenter) = if as_root {
            (Tool::new("nsexec"), Tool::new("nsenter-lite"))
        } else {
            (as_user(user, bin("nsexec")).arg("--map-root"), as_user(user, bin("nsenter-lite")))
        };
        let container = Running::start(nsexec.args(init).arg(&pidfile).args(["--", "sleep", "60"]), &pidfile);
        let tool = nsenter.args(["-t", &container.pid.to_string(), "-a", "--tty", "--", "sh"]);
        issue_session(Terminal::spawn(tool, 24, 80), "# ");
        let _ = std::fs::remove_file(&pidfile);
    }
}
