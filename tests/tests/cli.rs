//! Malformed invocations of every tool, as tables (issue 10, "Bad input"): each one exits 125
//! with exactly one line on stderr that names the culprit (the flag or the value), no panic,
//! no backtrace, and nothing created: no new group under any isolab parent, no new mount, and
//! no map written into a target process.
//!
//! The checks of "nothing created" compare snapshots taken just before and just after each
//! run. Other test suites may run on the same host at the same time, so a change counts
//! against a run only when it is ours: anything under this test's own memory cgroup, or a
//! group or mount that names something the invocation gave (our test names, `cgexec-PID`).

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::panic::AssertUnwindSafe;
use std::process::{Child, Command, Stdio};

use isolab_tests::{need_root, Run, Scratch, Tool};

/// `isolab-test-<pid>-cli-<n>`: names this test may use, found by the cleanup checks.
fn tag() -> String {
    format!("isolab-test-{}-cli", std::process::id())
}

/// Every directory in any cgroup hierarchy with `isolab` in its path.
fn isolab_groups() -> BTreeSet<String> {
    let out = Command::new("find").args(["/sys/fs/cgroup", "-path", "*isolab*", "-type", "d"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
}

fn mounts() -> BTreeSet<String> {
    isolab_tests::mountinfo().lines().map(String::from).collect()
}

/// This test's own memory cgroup directory (where the default parent goes on this host).
fn own_memory_dir() -> Option<String> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    own.lines().find_map(|l| l.split_once(":memory:").map(|(_, p)| format!("/sys/fs/cgroup/memory{p}")))
}

/// A process in a new user namespace with no map written yet (the target of idmap's cases).
struct Unmapped(Child);

impl Unmapped {
    fn start() -> Unmapped {
        let child = Command::new("unshare").args(["--user", "sleep", "600"]).stdin(Stdio::null()).spawn().unwrap();
        let pid = child.id();
        // unshare execs sleep once the namespace is made: wait for the new user namespace.
        for _ in 0..200 {
            let ours = std::fs::read_link("/proc/self/ns/user").ok();
            if std::fs::read_link(format!("/proc/{pid}/ns/user")).ok().is_some_and(|ns| Some(ns) != ours) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Unmapped(child)
    }

    fn pid(&self) -> String {
        self.0.id().to_string()
    }

    /// uid_map, gid_map and setgroups as the kernel shows them.
    fn state(&self) -> String {
        ["uid_map", "gid_map", "setgroups"]
            .iter()
            .map(|f| std::fs::read_to_string(format!("/proc/{}/{f}", self.0.id())).unwrap())
            .collect::<Vec<_>>()
            .join("|")
    }
}

impl Drop for Unmapped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A PID that no process has now.
fn dead_pid() -> String {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid.to_string()
}

/// Run `tool` with `args` and collect what went wrong (None when the refusal was right).
fn check(tool: &str, args: &[String], needle: &str, target: Option<&Unmapped>) -> Option<String> {
    let own = own_memory_dir();
    let (groups, mounts_before, map_before) = (isolab_groups(), mounts(), target.map(Unmapped::state));
    let mut cmd = Tool::new(tool).args(args).env("RUST_BACKTRACE", "1").command();
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let child_pid = child.id();
    let out = child.wait_with_output().unwrap();
    let run = Run {
        shown: format!("{tool} {args:?}"),
        code: out.status.code().unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0)),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    let mut problems = Vec::new();
    if let Err(e) = quietly(|| {
        run.refused(needle);
    }) {
        let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
        problems.push(msg.lines().next().unwrap_or("").to_string() + &format!(": {:?}", run.stderr));
    }
    let ours = |line: &str| {
        line.contains(&tag())
            || line.contains(&format!("cgexec-{child_pid}"))
            || own.as_deref().is_some_and(|o| line.starts_with(o))
            || args.iter().any(|a| a.len() > 4 && a.starts_with('/') && line.contains(a.as_str()))
    };
    let new_groups: Vec<String> = isolab_groups().difference(&groups).filter(|g| ours(g)).cloned().collect();
    if !new_groups.is_empty() {
        problems.push(format!("left groups {new_groups:?}"));
    }
    let new_mounts: Vec<String> = mounts().difference(&mounts_before).filter(|m| ours(m)).cloned().collect();
    if !new_mounts.is_empty() {
        problems.push(format!("left mounts {new_mounts:?}"));
    }
    if let (Some(t), Some(before)) = (target, map_before) {
        if t.state() != before {
            problems.push(format!("wrote a map: {:?} -> {:?}", before, t.state()));
        }
    }
    (!problems.is_empty()).then(|| format!("{tool} {args:?} (want {needle:?}): {}", problems.join("; ")))
}

thread_local!(static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });

/// Run `f`, catching its panic without printing it (the table reports every failure at once).
fn quietly(f: impl FnOnce()) -> std::thread::Result<()> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    result
}

/// Run a table; fail once, listing every case that went wrong. One table at a time: a group
/// another table's case makes for a moment must not count against this one.
fn table(tool: &str, cases: &[(Vec<String>, String)], target: Option<&Unmapped>) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    assert!(cases.len() >= 30, "{tool}: only {} cases", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|(args, needle)| check(tool, args, needle, target)).collect();
    let _ = writeln_stderr(&format!("{tool}: {} malformed invocations refused", cases.len() - failures.len()));
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

fn writeln_stderr(s: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    writeln!(std::io::stderr(), "{s}")
}

/// Build a table from `(args, needle)` rows written as string slices.
fn rows(rows: &[(&[&str], &str)]) -> Vec<(Vec<String>, String)> {
    rows.iter().map(|(args, needle)| (args.iter().map(|a| a.to_string()).collect(), needle.to_string())).collect()
}

// Bad input, nsexec: refused before any namespace is made, or after, with nothing left.
#[test]
fn nsexec_refuses_malformed_invocations() {
    need_root!("nsexec_refuses_malformed_invocations");
    let long = "h".repeat(65);
    let mut cases = rows(&[
        (&["--bogus", "true"], "--bogus"),
        (&[], "COMMAND"),
        (&["-U"], "COMMAND"),
        (&["--map-users", "0:100000", "true"], "--map-users"),
        (&["--map-users", "0:100000:0", "true"], "--map-users"),
        (&["--map-users", "0:4294967295:2", "true"], "--map-users"),
        (&["--map-users", "1,2", "true"], "--map-users"),
        (&["--map-users", "0:-1:1", "true"], "--map-users"),
        (&["--map-groups", "x:0:1", "true"], "--map-groups"),
        (&["--map-groups", "4294967295:0:1", "true"], "--map-groups"),
        (&["--map-root", "--map-auto", "true"], "--map-root"),
        (&["--map-root", "--map-users", "0:0:1", "true"], "--map-root"),
        (&["--setgroups", "maybe", "true"], "--setgroups"),
        (&["--kill-child=BOGUS", "true"], "BOGUS"),
        (&["--kill-child=0", "true"], "--kill-child"),
        (&["--kill-child", "--no-kill-child", "true"], "--no-kill-child"),
        (&["--new-session", "--no-new-session", "true"], "--no-new-session"),
        (&["--hostname", "box", "true"], "--hostname"),
        (&["-u", "--hostname", "", "true"], "--hostname"),
        (&["-u", "--hostname", &long, "true"], "--hostname"),
        (&["-u", "--hostname", "a\nb", "true"], "--hostname"),
        (&["-u", "--domainname", "", "true"], "--domainname"),
        (&["--rootfs", "/tmp", "true"], "--rootfs"),
        (&["--bind", "/tmp:/mnt", "true"], "--bind"),
        (&["--tmpfs", "/mnt", "true"], "--tmpfs"),
        (&["--read-only", "true"], "--read-only"),
        (&["-m", "--bind", "/tmp", "true"], "--bind"),
        (&["-m", "--bind", "/tmp:mnt", "true"], "--bind"),
        (&["-m", "--bind", "/tmp:/mnt/../etc", "true"], "--bind"),
        (&["-m", "--bind", "/tmp:/mnt:rx", "true"], "--bind"),
        (&["-m", "--bind", ":/mnt", "true"], "--bind"),
        (&["-m", "--bind", "/a:/b:ro:rw", "true"], "--bind"),
        (&["-m", "--tmpfs", "relative", "true"], "--tmpfs"),
        (&["-m", "--tmpfs", "/a/../b", "true"], "--tmpfs"),
        (&["--mount-proc=relative", "true"], "--mount-proc"),
        (&["--propagation", "weird", "true"], "--propagation"),
        (&["--user-id", "a:b:c", "true"], "--user-id"),
        (&["--user-id", "", "true"], "--user-id"),
        (&["--user-id", "ro ot", "true"], "--user-id"),
        (&["--cap-add", "NOPE", "true"], "--cap-add"),
        (&["--cap-drop", "CAP_", "true"], "--cap-drop"),
        (&["-e", "=x", "true"], "--env"),
        (&["-e", "NOEQUALS", "true"], "--env"),
        (&["--security-opt", "seccomp", "true"], "--security-opt"),
        (&["--security-opt", "apparmor=x", "true"], "apparmor"),
        (&["--security-opt", "seccomp=/nonexistent-isolab.json", "true"], "/nonexistent-isolab.json"),
        (&["--cap-bounding", "CAP_FLY", "true"], "--cap-bounding"),
        (&["--cap-bounding", "CHOWN", "--cap-add", "KILL", "true"], "--cap-add"),
        (&["--mask-path", "proc/kcore", "-m", "true"], "--mask-path"),
        (&["--readonly-path", "/proc/sys", "true"], "--readonly-path"),
        (&["-m", "--device", "/dev/null", "true"], "--device"),
        (&["-m", "--rootfs", "/", "--device", "/dev/null:/mnt/null", "true"], "/dev"),
        // Refused once the kernel is asked: still one line, nothing left behind.
        (&["-m", "--rootfs", "/nonexistent-isolab-rootfs", "true"], "/nonexistent-isolab-rootfs"),
        (&["-m", "--bind", "/nonexistent-isolab-src:/mnt", "true"], "/nonexistent-isolab-src"),
        (&["--net=/nonexistent-isolab-dir/net", "true"], "/nonexistent-isolab-dir/net"),
        (&["--pidfile", "/nonexistent-isolab-dir/pid", "true"], "/nonexistent-isolab-dir/pid"),
        (&["-w", "/nonexistent-isolab-wd", "true"], "/nonexistent-isolab-wd"),
        (&["--map-users", "0:0:1", "--map-users", "0:1:1", "true"], "overlap"),
    ]);
    // A rootfs that is a file, not a directory.
    let scratch = Scratch::new("cli-nsexec");
    let file = scratch.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let file = file.to_string_lossy().into_owned();
    cases.push((vec!["-m".into(), "--rootfs".into(), file.clone(), "true".into()], file));
    table("nsexec", &cases, None);
}

// Bad input, nsenter-lite: no target, bad kinds, bad names, dead processes.
#[test]
fn nsenter_lite_refuses_malformed_invocations() {
    need_root!("nsenter_lite_refuses_malformed_invocations");
    let scratch = Scratch::new("cli-nsenter");
    let empty = scratch.path().join("empty");
    let garbage = scratch.path().join("garbage");
    std::fs::write(&empty, "").unwrap();
    std::fs::write(&garbage, "not a pid\n").unwrap();
    let (empty, garbage) = (empty.to_string_lossy().into_owned(), garbage.to_string_lossy().into_owned());
    let dead = dead_pid();
    let missing = format!("{}-none", tag());
    let long = "c".repeat(256);
    let cases = rows(&[
        (&["--bogus"], "--bogus"),
        (&[], "target"),
        (&["-t", "0", "-a"], "--target"),
        (&["-t", "-5", "-a"], "-5"),
        (&["-t", "abc", "-a"], "--target"),
        (&["-t", "99999999999", "-a"], "--target"),
        (&["-t", "1"], "nothing to join"),
        (&["-n"], "--net"),
        (&["-a"], "--all"),
        (&["-r"], "--root"),
        (&["-w"], "--wd"),
        (&["--ns-file", "net"], "--ns-file"),
        (&["--ns-file", "bogus=/x"], "--ns-file"),
        (&["--ns-file", "net="], "--ns-file"),
        (&["--ns-file", "n=/x"], "--ns-file"),
        (&["--ns-file", "net=/a", "--ns-file", "net=/b"], "--ns-file"),
        (&["--ns-file", "net=/nonexistent-isolab/x", "--", "true"], "/nonexistent-isolab/x"),
        (&["--ns-file", "net=/etc/hostname", "--", "true"], "/etc/hostname"),
        (&["--container", "../x", "-a"], "--container"),
        (&["--container", "a/b", "-a"], "--container"),
        (&["--container", "", "-a"], "--container"),
        (&["--container", &long, "-a"], "--container"),
        (&["--container", "a\nb", "-a"], "--container"),
        (&["--container", &missing, "-a", "--", "true"], &missing),
        (&["--cgroup-parent", "x", "-t", "1", "-a"], "--cgroup-parent"),
        (&["--container", "x", "--cgroup-parent", "../up", "-a"], "--cgroup-parent"),
        (&["-t", "1", "--container", "x", "-a"], "--container"),
        (&["-t", "1", "-a", "--user-id", "abc"], "--user-id"),
        (&["-t", "1", "-a", "--user-id", "4294967295"], "--user-id"),
        (&["-t", "1", "-a", "--user-id", "1:-1"], "--user-id"),
        (&["-t", "1", "-a", "--user-id", "0", "--preserve-credentials"], "--preserve-credentials"),
        (&["--pidfile", "/nonexistent-isolab/pid", "-a", "--", "true"], "/nonexistent-isolab/pid"),
        (&["--pidfile", &empty, "-a", "--", "true"], &empty),
        (&["--pidfile", &garbage, "-a", "--", "true"], &garbage),
        (&["-t", &dead, "-a", "--", "true"], &dead),
        (&["-t", "1", "--bogus-ns"], "--bogus-ns"),
    ]);
    table("nsenter-lite", &cases, None);
}

// Bad input, idmap (both grammars): refused, and the target's maps stay unwritten.
#[test]
fn idmap_refuses_malformed_invocations() {
    need_root!("idmap_refuses_malformed_invocations");
    let target = Unmapped::start();
    let p = target.pid();
    let p = p.as_str();
    assert_eq!(target.state(), "||allow\n", "the target starts with no maps");
    let dead = dead_pid();
    let scratch = Scratch::new("cli-idmap");
    let empty = scratch.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let empty = empty.to_string_lossy().into_owned();
    let mut cases = rows(&[
        (&[], "PID"),
        (&["--show"], "PID"),
        (&[p], "nothing to map"),
        (&["abc", "--map-root"], "'abc'"),
        (&["0", "--map-root"], "'0'"),
        (&["-5", "--map-root"], "-5"),
        (&[p, "--bogus"], "--bogus"),
        (&[p, p, "--map-root"], p),
        (&[p, "--uid", ""], "--uid"),
        (&[p, "--uid", "0:100000"], "--uid"),
        (&[p, "--uid", "0:100000:0"], "--uid"),
        (&[p, "--uid", "0:4294967295:2"], "--uid"),
        (&[p, "--uid", "1,2,3,4"], "--uid"),
        (&[p, "--uid", " 0:0:1"], "--uid"),
        (&[p, "--uid", "0:0:1\n1:1:1"], "--uid"),
        (&[p, "--gid", "a:b:c"], "--gid"),
        (&[p, "--uid", "0:1:1", "--uid", "0:2:1"], "overlap"),
        (&[p, "--gid", "0:5:1", "--gid", "1:5:1"], "overlap"),
        (&[p, "--setgroups", "maybe", "--map-root"], "--setgroups"),
        (&[p, "--show", "--uid", "0:0:1"], "--show"),
        (&[p, "--json", "--map-root"], "--json"),
        (&[p, "--user", "root", "--map-root"], "--auto"),
        (&[p, "--pidfile", "/x", "--map-root"], "--pidfile"),
        (&["--pidfile", "/nonexistent-isolab/pid", "--map-root"], "/nonexistent-isolab/pid"),
        (&["--pidfile", &empty, "--map-root"], &empty),
        (&[&dead, "--map-root"], &dead),
        (&[p, "--auto", "--user", "nosuchuser-isolab"], "nosuchuser-isolab"),
        (&["uid"], "idmap uid PID"),
        (&["uid", p, "0", "100000"], "idmap uid PID"),
        (&["uid", "abc", "0", "100000", "1"], "'abc'"),
        (&["uid", p, "0", "x", "1"], "'x'"),
        (&["gid", p, "0", "0", "0"], "count"),
        (&["uid", p, "0", "4294967295", "1"], "4294967295"),
        (&["gid", p, "0", "0", "1", "0", "0", "1"], "overlap"),
    ]);
    // 341 one-id ranges: one line more than the kernel takes.
    let mut too_many = vec![p.to_string()];
    for i in 0..341 {
        too_many.extend(["--uid".to_string(), format!("{i}:{i}:1")]);
    }
    cases.push((too_many, "340".into()));
    table("idmap", &cases, Some(&target));
}

// Bad input, cgexec-rs: every limit flag, names, --set, --rm; refusals that come from the
// kernel once the group exists must remove it (CVE-2022-0492 for --set release_agent).
#[test]
fn cgexec_refuses_malformed_invocations() {
    need_root!("cgexec_refuses_malformed_invocations");
    let name = format!("{}-1", tag());
    let long = "n".repeat(256);
    let missing = format!("{}-none", tag());
    let named = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec!["--name".into(), name.clone()];
        v.extend(args.iter().map(|a| a.to_string()));
        v.extend(["--".into(), "true".into()]);
        v
    };
    let mut cases: Vec<(Vec<String>, String)> = [
        (&["--bogus"][..], "--bogus"),
        (&["--memory", "lots"], "--memory"),
        (&["--memory", "1.2.3m"], "--memory"),
        (&["--memory", "-1"], "-1"),
        (&["--memory", "1m"], "--memory"),
        (&["--memory", "99999999p"], "--memory"),
        (&["--memory", "100m", "--memory-swap", "-2"], "--memory-swap"),
        (&["--memory", "100m", "--memory-swap", "50m"], "--memory-swap"),
        (&["--memory-swap", "1g"], "--memory-swap"),
        (&["--memory-swappiness", "101"], "--memory-swappiness"),
        (&["--memory-reservation", "x"], "--memory-reservation"),
        (&["--kernel-memory", "x"], "--kernel-memory"),
        (&["--cpu-shares", "abc"], "--cpu-shares"),
        (&["--cpus", "-1"], "--cpus"),
        (&["--cpus", "NaN"], "--cpus"),
        (&["--cpus", "inf"], "--cpus"),
        (&["--cpus", "1", "--cpu-quota", "1000"], "--cpus"),
        (&["--cpu-period", "10"], "--cpu-period"),
        (&["--cpuset-cpus", "3-1"], "--cpuset-cpus"),
        (&["--cpuset-cpus", "0-99999999"], "--cpuset-cpus"),
        (&["--cpuset-cpus", "999"], "--cpuset-cpus"),
        (&["--cpuset-mems", "a"], "--cpuset-mems"),
        (&["--blkio-weight", "5"], "--blkio-weight"),
        (&["--blkio-weight-device", "/dev/sda"], "--blkio-weight-device"),
        (&["--device-read-bps", "sda:1mb"], "--device-read-bps"),
        (&["--device-write-bps", "/dev/sda:fast"], "--device-write-bps"),
        (&["--device-read-iops", "/dev/sda:1.5"], "--device-read-iops"),
        (&["--device-write-iops", "/dev/nonexistent-isolab:10"], "/dev/nonexistent-isolab"),
        (&["--device-read-bps", "/dev/null:1mb"], "/dev/null"),
        (&["--pids-limit", "abc"], "--pids-limit"),
        (&["--set", "memory.high"], "--set"),
        (&["--set", "release_agent=/bin/sh"], "release_agent"),
        (&["--set", "notify_on_release=1"], "notify_on_release"),
        (&["--set", "cgroup.procs=1"], "cgroup.procs"),
        (&["--set", "memory.high=1\n2"], "--set"),
        (&["--set", "../memory.high=1"], "--set"),
        (&["--set", "memory.no_such_file_isolab=1"], "memory.no_such_file_isolab"),
        (&["--set", "memory.soft_limit_in_bytes=abc"], "memory.soft_limit_in_bytes"),
        (&["--cgroup-parent", "../../x"], "--cgroup-parent"),
        (&["--cgroup-parent", "a\nb"], "--cgroup-parent"),
        (&["--device", "dev/null"], "--device"),
        (&["--device", "/dev/null:/dev/x:rwx"], "--device"),
        (&["--device", "/dev/isolab-no-such-device"], "/dev/isolab-no-such-device"),
        (&["--device", "/etc/passwd"], "not a device node"),
        (&["--device-cgroup-rule", "c 1:3"], "--device-cgroup-rule"),
        (&["--device-cgroup-rule", "x *:* rwm"], "--device-cgroup-rule"),
        (&["--privileged", "--device", "/dev/null"], "--privileged"),
    ]
    .iter()
    .map(|(args, needle)| (named(args), needle.to_string()))
    .collect();
    cases.extend(rows(&[
        (&["--name", "../x", "--", "true"], "--name"),
        (&["--name", "a/b", "--", "true"], "--name"),
        (&["--name", "", "--", "true"], "--name"),
        (&["--name", "-x", "--", "true"], "-x"),
        (&["--name", &long, "--", "true"], "--name"),
        (&["--name", "a\nb", "--", "true"], "--name"),
        (&["--name", "x"], "COMMAND"),
        (&["--rm", "x", "--memory", "1g"], "--rm"),
        (&["--rm", "x", "--", "true"], "--rm"),
        (&["--rm", "../x"], "--rm"),
        (&["--rm", &missing], &missing),
        (&["--keep", "--exec", "--", "true"], "--exec"),
    ]));
    table("cgexec-rs", &cases, None);
}

// Bad input, cgstat: names, paths, intervals; unknown groups refused at once, not streamed.
#[test]
fn cgstat_refuses_malformed_invocations() {
    need_root!("cgstat_refuses_malformed_invocations");
    let long = "s".repeat(256);
    let missing = format!("{}-none", tag());
    let cases = rows(&[
        (&["--bogus"], "--bogus"),
        (&["--interval", "0", "--no-stream"], "--interval"),
        (&["--interval", "-1", "--no-stream"], "--interval"),
        (&["--interval", "abc", "--no-stream"], "--interval"),
        (&["--interval", "NaN", "--no-stream"], "--interval"),
        (&["--interval", "inf", "--no-stream"], "--interval"),
        (&["--interval", "1e400", "--no-stream"], "--interval"),
        (&["--interval", "86401", "--no-stream"], "--interval"),
        (&["--interval", "", "--no-stream"], "--interval"),
        (&["--interval", "1s", "--no-stream"], "--interval"),
        (&["--interval"], "--interval"),
        (&["../x", "--no-stream"], "../x"),
        (&["a/b", "--no-stream"], "a/b"),
        (&["", "--no-stream"], "\"\""),
        (&[&long, "--no-stream"], &long),
        (&["a\nb", "--no-stream"], "a\\nb"),
        (&["-x", "--no-stream"], "-x"),
        (&["-a", "web"], "--all"),
        (&["-a", "--cgroup-parent", "x"], "--all"),
        (&["-a", "--path", "/x"], "--all"),
        (&["web", "--path", "/x"], "--path"),
        (&["--cgroup-parent", "x", "--path", "/y"], "--path"),
        (&["--cgroup-parent", "../x", "--no-stream"], "--cgroup-parent"),
        (&["--cgroup-parent", "a\nb", "--no-stream"], "--cgroup-parent"),
        (&["--cgroup-parent", ".", "--no-stream"], "--cgroup-parent"),
        (&["--path", "/a/../b", "--no-stream"], "--path"),
        (&["--path", ".", "--no-stream"], "--path"),
        (&["--path"], "--path"),
        (&["--no-stream=1"], "--no-stream"),
        (&["--no-trunc=yes"], "--no-trunc"),
        (&["--json", "--bogus"], "--bogus"),
        (&["--no-stream", &missing], &missing),
        (&["--no-stream", "--path", "/nonexistent-isolab-test"], "/nonexistent-isolab-test"),
        (&["--no-stream", "--format", "{{.Bogus}}"], ".Bogus"),
        (&["--no-stream", "--format", "{{.Name"], "--format"),
        (&["--no-stream", "--format", "{{nope .Name}}"], "nope"),
        (&["--json", "--format", "json"], "--json"),
        (&["--listen", "9338"], "--listen"),
        (&["--listen", "256.0.0.1:9338"], "--listen"),
        (&["--listen", "127.0.0.1:0"], "--listen"),
        (&["--listen", "127.0.0.1:9338", "--format", "table"], "--listen"),
        (&["--listen", "127.0.0.1:9338", "--no-stream"], "--no-stream"),
        (&["--listen", "127.0.0.1:9338", &missing], &missing),
        (&["--events", "--format", "json"], "--format"),
        (&["--events", "--path", "/x"], "--path"),
    ]);
    table("cgstat", &cases, None);
}

/// Run `tool args` with stdin closed, `stdout` and `stderr` where asked.
fn run_into(tool: &str, args: &[&str], stdout: Stdio, stderr: Stdio) -> (i32, String) {
    let mut cmd = Command::new(isolab_tests::bin(tool));
    cmd.args(args).env_remove("ISOLAB_EXPLAIN").stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    let out = cmd.output().unwrap();
    let code = out.status.code().unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0));
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn dev_full() -> Stdio {
    Stdio::from(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap())
}

// Issue 14.7: a tool whose stderr is /dev/full died of SIGABRT (134) when it reported an error
// (a failed eprintln! panics, and the panic hook's own eprintln! aborts). A failed write of the
// error line exits with the error's status quietly (125, or 127 for a command not found); a
// report that cannot be written says so once, plainly, and exits 125.
#[test]
fn errors_to_a_full_stderr_keep_their_status() {
    let mut cases: Vec<(&str, &[&str], i32)> = vec![
        ("nsexec", &["--bogus"], 125),
        ("nsexec", &["-m", "--rootfs", "/nonexistent", "--", "true"], 125),
        ("nsenter-lite", &["--bogus"], 125),
        ("nsenter-lite", &["-t", "2147483646", "-n", "--", "true"], 125),
        ("cgexec-rs", &["--memory", "1x", "true"], 125),
        ("idmap", &["2147483646", "--uid", "0:100000:1"], 125),
        ("cgstat", &["--interval", "0"], 125),
        ("cgstat", &["--no-stream", "isolab-test-no-such-group"], 125),
    ];
    if isolab_tests::is_root() {
        // Trace lines and the error line both go nowhere; the status still says "not found".
        cases.push(("nsexec", &["--explain", "--uts", "--", "/nonexistent"], 127));
    }
    for (tool, args, want) in cases {
        let (code, _) = run_into(tool, args, Stdio::null(), dev_full());
        assert_eq!(code, want, "{tool} {args:?} with stderr on /dev/full");
    }
    // A report that cannot be written: one plain line, exit 125.
    for (tool, args) in
        [("cgstat", &["--no-stream", "--interval", "0.01", "--path", "/"][..]), ("idmap", &["--show", "1"])]
    {
        let (code, stderr) = run_into(tool, args, dev_full(), Stdio::piped());
        assert_eq!(code, 125, "{tool} {args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{tool}: {stderr}");
        assert!(stderr.starts_with(&format!("{tool}: cannot write")), "{tool}: {stderr}");
        assert!(stderr.contains("No space left on device") && !stderr.contains("os error"), "{tool}: {stderr}");
    }
}
