//! idmap against the real kernel: the article's experiment 3 (userns remap) step by step, the
//! setuid mode as an unprivileged user, and a differential test against shadow's
//! newuidmap/newgidmap (package uidmap).
//!
//! The unprivileged cases run as the user `isolab-test` with its subordinate ranges
//! `isolab-test:1200000:65536` (by name) and `UID:1265536:100` (by uid, continuing the first),
//! made by scripts/test-user (isolab_tests::user), idempotently, and left for the next run.

use std::io::{BufRead, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::OnceLock;

use isolab_tests::user::{self, copy_idmap, setuid_idmap, TestUser, BY_UID_COUNT, BY_UID_START, SUB_COUNT, SUB_START};
use isolab_tests::{need_root, skip, Run, Scratch, Tool};

/// The shared test user (scripts/test-user), once per run.
fn test_user() -> &'static TestUser {
    static ONCE: OnceLock<TestUser> = OnceLock::new();
    ONCE.get_or_init(user::test_user)
}

/// A subdirectory of `scratch` that `uid` may write (pid files written by the target itself).
fn writable_dir(scratch: &Scratch, uid: u32) -> PathBuf {
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = scratch.path().join("run");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(uid), Some(uid)).unwrap();
    dir
}

/// `setpriv` as the test user: real and effective ids, its groups.
fn as_user(u: &TestUser, program: impl AsRef<std::ffi::OsStr>) -> Tool {
    user::as_user(*u, program)
}

/// A process in a new user namespace made by util-linux `unshare --user`, waiting on stdin.
/// The script prints `ready` once the namespace exists, then reads one line.
struct Target {
    child: Child,
    pid: i32,
    out: BufReader<ChildStdout>,
}

impl Target {
    fn spawn(user: Option<&TestUser>, script: &str) -> Target {
        Target::spawn_as(user.map(|u| (u.uid, u.gid)), script)
    }

    /// As host `ids` (uid, gid), or as root when None.
    fn spawn_as(ids: Option<(u32, u32)>, script: &str) -> Target {
        let mut cmd = match ids {
            Some((uid, gid)) => {
                let mut c = Command::new("setpriv");
                c.args(["--reuid", &uid.to_string(), "--regid", &gid.to_string(), "--clear-groups", "unshare"]);
                c
            }
            None => Command::new("unshare"),
        };
        cmd.args(["--user", "sh", "-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("unshare");
        let pid = child.id() as i32;
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n", "target did not start");
        Target { child, pid, out }
    }

    /// A target that only waits.
    fn waiting(user: Option<&TestUser>) -> Target {
        Target::spawn(user, "echo ready; read x")
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{name}", self.pid)).unwrap()
    }

    /// Let the script go on; return what it printed.
    fn release(mut self) -> String {
        let mut stdin = self.child.stdin.take().unwrap();
        let _ = stdin.write_all(b"go\n");
        drop(stdin);
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.out, &mut rest).unwrap();
        let _ = self.child.wait();
        rest
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn idmap() -> Tool {
    Tool::new("idmap")
}

/// The lines of a map as `inside outside count`, whitespace normalised.
fn lines(map: &str) -> Vec<String> {
    map.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|l| !l.is_empty()).collect()
}

// Lab 3: userns remap (Docker userns-remap, `0 100000 65536`), step by step as a lab does it.
#[test]
fn experiment_3_container_root_is_host_100000() {
    need_root!("experiment_3_container_root_is_host_100000");
    let scratch = Scratch::new("idmap-lab3");
    let dir = scratch.path();
    let (owned, rootfile, pidfile) =
        (dir.join("owned-by-100000"), dir.join("touch.bak"), writable_dir(&scratch, 100000).join("pid"));
    std::fs::write(&owned, "").unwrap();
    std::os::unix::fs::chown(&owned, Some(100000), Some(100000)).unwrap();
    std::fs::write(&rootfile, "host\n").unwrap();
    // The payload runs as host uid 100000, as Docker starts it: once the maps are written it is
    // uid 0 inside with no setuid of its own. (A payload started by host root stays host root,
    // unmapped inside: the kernel does not change credentials when a map is written.)
    let script = format!(
        "echo $$ > {pid}; echo ready; read x; sh -c \
         'exec 2>&1; id -u; id -g; stat -c %u:%U {owned}; stat -c %u {root}; echo x >> {root} && echo WROTE || echo DENIED; rm -f {root} && echo REMOVED || echo KEPT'",
        pid = pidfile.display(),
        owned = owned.display(),
        root = rootfile.display()
    );
    let target = Target::spawn_as(Some((100000, 100000)), &script);
    assert_eq!(target.file("uid_map"), "", "a new user namespace starts unmapped");
    idmap().arg("--pidfile").arg(&pidfile).args(["--uid", "0:100000:65536", "--gid", "0:100000:65536"]).run().ok();
    assert_eq!(lines(&target.file("uid_map")), ["0 100000 65536"]);
    assert_eq!(lines(&target.file("gid_map")), ["0 100000 65536"]);
    let out = target.release();
    let got: Vec<&str> = out.lines().filter(|l| !l.contains("Permission denied")).collect();
    assert_eq!(got, ["0", "0", "0:root", "65534", "DENIED", "KEPT"], "{out}");
    assert_eq!(out.matches("Permission denied").count(), 2, "{out}");
    assert_eq!(std::fs::read_to_string(&rootfile).unwrap(), "host\n", "the host file survives");
}

// --show and --json read back exactly what was written (and the table names both maps).
#[test]
fn show_and_json_round_trip() {
    need_root!("show_and_json_round_trip");
    let target = Target::waiting(None);
    let pid = target.pid.to_string();
    let uid = ["0:100000:1000", "1000:500000:10", "2000:600000:1"];
    let mut args = vec![pid.clone()];
    for u in uid {
        args.extend(["--uid".to_string(), u.to_string()]);
    }
    args.extend(["--gid".into(), "100000,0,65536".into()]); // util-linux 2.38 order
    idmap().args(&args).run().ok();
    let run = idmap().args(["--show", &pid, "--json"]).run();
    run.ok();
    let objs: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let seen: Vec<String> = objs
        .iter()
        .map(|o| format!("{}:{}:{}:{}", o["map"].as_str().unwrap(), o["inside"], o["outside"], o["count"]))
        .collect();
    assert_eq!(seen, ["uid:0:100000:1000", "uid:1000:500000:10", "uid:2000:600000:1", "gid:0:100000:65536"]);
    assert!(objs.iter().all(|o| o["pid"] == target.pid));
    let table = idmap().args(["--show", &pid]).run();
    table.ok();
    assert_eq!(
        lines(&table.stdout),
        [
            "MAP INSIDE OUTSIDE COUNT",
            "uid 0-999 -> 100000-100999 1000",
            "uid 1000-1009 -> 500000-500009 10",
            "uid 2000-2000 -> 600000-600000 1",
            "gid 0-65535 -> 100000-165535 65536",
            "setgroups: allow",
        ]
    );
    let arrows: Vec<usize> = table.stdout.lines().filter_map(|l| l.find("->")).collect();
    assert!(arrows.len() == 4 && arrows.iter().all(|&a| a == arrows[0]), "columns line up:\n{}", table.stdout);
    // And a process whose maps are not written yet says so.
    let fresh = Target::waiting(None);
    idmap().args(["--show", &fresh.pid.to_string()]).run().ok().stdout_has("uid  (not written)");
}

// Maps are write-once; the kernel's refusals are explained, and nothing is written.
#[test]
fn kernel_refusals_are_explained() {
    need_root!("kernel_refusals_are_explained");
    let target = Target::waiting(None);
    let pid = target.pid.to_string();
    idmap().args([&pid, "--uid", "0:100000:65536"]).run().ok();
    idmap()
        .args([&pid, "--uid", "0:200000:65536"])
        .run()
        .refused("a map can be written only once per process, and it already holds '0 100000 65536'");
    // The test runner's own process is in the host's user namespace, not a child of it.
    idmap()
        .args([&std::process::id().to_string(), "--uid", "0:100000:1"])
        .run()
        .refused("in idmap's own user namespace");
    idmap().args(["2147483646", "--uid", "0:100000:1"]).run().refused("process 2147483646 does not exist");
    // Both maps are checked before either is written.
    let half = Target::waiting(None);
    let hp = half.pid.to_string();
    idmap().args([&hp, "--gid", "0:100000:10"]).run().ok();
    idmap()
        .args([&hp, "--uid", "0:100000:10", "--gid", "0:100000:10"])
        .run()
        .refused("gid_map: a map can be written only once");
    assert_eq!(half.file("uid_map"), "", "uid_map must stay unwritten when gid_map is refused");
    // Validation runs before any write.
    for (args, why) in [
        (vec!["--uid", "0:100000:0"], "count must be at least 1"),
        (vec!["--uid", "0:4294967295:2"], "overflows"),
        (
            vec!["--uid", "0:100000:65536", "--uid", "1000:1000:1000"],
            "uid ranges 0-65535 and 1000-1999 overlap inside the namespace",
        ),
    ] {
        let fresh = Target::waiting(None);
        idmap().arg(fresh.pid.to_string()).args(args).run().refused(why);
        assert_eq!(fresh.file("uid_map"), "");
    }
}

// Kernel CVE-2018-18955: more than five extents in a nested user namespace were mistranslated.
#[test]
fn six_extents_nested_read_back_exactly() {
    need_root!("six_extents_nested_read_back_exactly");
    let scratch = Scratch::new("idmap-nested");
    let copy = copy_idmap(&scratch, 0o755);
    let run_dir = writable_dir(&scratch, 100000);
    let (inner_pid, inner_map) = (run_dir.join("inner.pid"), run_dir.join("inner.map"));
    // Inside ns A (0 -> 100000), root makes ns B and maps six ranges of A's ids into it.
    let six: Vec<String> = (0..6).map(|i| format!("{}:{}:{}", i * 10, 1000 + i * 100, 5)).collect();
    let flags: String = six.iter().map(|s| format!(" --uid {s}")).collect();
    let script = format!(
        "echo ready; read x; exec sh -c '\\
         unshare --user sh -c \"echo \\$\\$ > {ip}; exec sleep 30\" </dev/null >/dev/null 2>&1 & \\
         while [ ! -s {ip} ]; do sleep 0.02; done; \\
         {copy} $(cat {ip}){flags} && cat /proc/$(cat {ip})/uid_map > {im}'",
        ip = inner_pid.display(),
        im = inner_map.display(),
        copy = copy.display()
    );
    let outer = Target::spawn_as(Some((100000, 100000)), &script);
    idmap().args([&outer.pid.to_string(), "--uid", "0:100000:65536", "--gid", "0:100000:65536"]).run().ok();
    let out = outer.release();
    let inner: i32 = std::fs::read_to_string(&inner_pid).unwrap().trim().parse().unwrap();
    let seen_in_a = std::fs::read_to_string(&inner_map).unwrap_or_else(|_| panic!("nested idmap failed: {out}"));
    let seen_on_host = std::fs::read_to_string(format!("/proc/{inner}/uid_map")).unwrap();
    // SAFETY: kill of the sleep this test started (its pid read back from the file it wrote).
    unsafe { libc::kill(inner, libc::SIGKILL) };
    let want_a: Vec<String> = (0..6).map(|i| format!("{} {} 5", i * 10, 1000 + i * 100)).collect();
    assert_eq!(lines(&seen_in_a), want_a, "as seen from ns A");
    let want_host: Vec<String> = (0..6).map(|i| format!("{} {} 5", i * 10, 101000 + i * 100)).collect();
    assert_eq!(lines(&seen_on_host), want_host, "as seen from the host");
}

fn refused_nothing_written(run: &Run, needle: &str, target: &Target) {
    run.refused(needle);
    assert_eq!(target.file("uid_map"), "", "uid_map written despite the refusal");
    assert_eq!(target.file("gid_map"), "", "gid_map written despite the refusal");
}

// Setuid mode, as newuidmap: grants from /etc/subuid|subgid, own id, own processes only.
#[test]
fn setuid_mode_grants_and_refusals() {
    need_root!("setuid_mode_grants_and_refusals");
    let user = test_user();
    let scratch = Scratch::new("idmap-setuid");
    let Some(copy) = setuid_idmap(&scratch) else { return };
    let run = |target: &Target, args: &[&str]| as_user(user, &copy).arg(target.pid.to_string()).args(args).run();
    let range = format!("0:{SUB_START}:{SUB_COUNT}");

    // Granted by name: both maps, and setgroups stays allow because a subgid range was used.
    let t = Target::waiting(Some(user));
    run(&t, &["--uid", &range, "--gid", &range]).ok();
    assert_eq!(lines(&t.file("uid_map")), [format!("0 {SUB_START} {SUB_COUNT}")]);
    assert_eq!(t.file("setgroups").trim(), "allow");

    // --auto: the first range to 0; --map-root: own ids, and setgroups denied (CVE-2018-7169).
    let t = Target::waiting(Some(user));
    run(&t, &["--auto"]).ok();
    assert_eq!(lines(&t.file("gid_map")), [format!("0 {SUB_START} {SUB_COUNT}")]);
    let t = Target::waiting(Some(user));
    run(&t, &["--map-root"]).ok();
    assert_eq!(lines(&t.file("uid_map")), [format!("0 {} 1", user.uid)]);
    assert_eq!(lines(&t.file("gid_map")), [format!("0 {} 1", user.gid)]);
    assert_eq!(t.file("setgroups").trim(), "deny");
    let t = Target::waiting(Some(user));
    run(&t, &["--map-root", "--setgroups", "allow"]).refused("CVE-2018-7169");

    // Ungranted ranges, overflow, another user's process: refused, nothing written.
    let t = Target::waiting(Some(user));
    let r = run(&t, &["--uid", "0:100000:65536", "--gid", &range]);
    refused_nothing_written(&r, "uid range 0-65535 -> 100000-165535 is not granted to isolab-test by /etc/subuid", &t);
    let t = Target::waiting(Some(user));
    refused_nothing_written(
        &run(&t, &["--uid", &format!("0:{SUB_START}:{}", SUB_COUNT + BY_UID_COUNT + 1)]),
        "is not granted",
        &t,
    );
    let t = Target::waiting(Some(user));
    refused_nothing_written(&run(&t, &["--uid", "0:4294967295:2"]), "overflows", &t);
    let t = Target::waiting(Some(user));
    refused_nothing_written(&run(&t, &["--auto", "--user", "root"]), "only root may map another user's", &t);
    let roots = Target::waiting(None);
    refused_nothing_written(&run(&roots, &["--uid", &range]), "belongs to uid 0 gid 0, not to isolab-test", &roots);

    // Non-dumpable and only CAP_SETUID|CAP_SETGID before the first write (the trace is the oracle).
    let t = Target::waiting(Some(user));
    let r = run(&t, &["--explain", "--uid", &range]);
    r.ok();
    let dumpable = r.stderr.find("prctl(PR_SET_DUMPABLE, 0) = 0").expect("non-dumpable");
    let caps =
        r.stderr.find("capset({version=_LINUX_CAPABILITY_VERSION_3, pid=0}, {effective=CAP_SET").expect("capset");
    let write = r.stderr.find("write /proc/").expect("write");
    assert!(dumpable < caps && caps < write, "{}", r.stderr);
    let last_capset = r.stderr.lines().rfind(|l| l.contains("capset(")).unwrap();
    assert!(
        !last_capset.contains("SETFCAP") && last_capset.contains("CAP_SETUID") && last_capset.contains("CAP_SETGID"),
        "{last_capset}"
    );
}

// A target that exits before or during the run is refused, never a panic, nothing mapped.
#[test]
fn exited_and_zombie_targets_are_refused() {
    need_root!("exited_and_zombie_targets_are_refused");
    let user = test_user();
    let scratch = Scratch::new("idmap-exit");
    let Some(copy) = setuid_idmap(&scratch) else { return };
    let range = format!("0:{SUB_START}:{SUB_COUNT}");
    let t = Target::waiting(Some(user));
    let pid = t.pid.to_string();
    drop(t);
    as_user(user, &copy).args([&pid, "--uid", &range]).run().refused("does not exist (or has exited)");
    // A zombie: it has exited but its parent (a sleeping shell) never reaps it; /proc/PID remains.
    let zpid = writable_dir(&scratch, user.uid).join("zombie.pid");
    let mut holder = Command::new("setpriv")
        .args(["--reuid", &user.uid.to_string(), "--regid", &user.gid.to_string(), "--init-groups", "sh", "-c"])
        .arg(format!("unshare --user sh -c 'echo $$ > {}' & exec sleep 30", zpid.display()))
        .spawn()
        .unwrap();
    let zombie = wait_for_zombie(&zpid);
    as_user(user, &copy)
        .args([&zombie, "--uid", &range])
        .run()
        .refused(&format!("process {zombie} has exited: nothing was mapped"));
    assert_eq!(std::fs::read_to_string(format!("/proc/{zombie}/uid_map")).unwrap_or_default(), "");
    let _ = holder.kill();
    let _ = holder.wait();
}

fn wait_for_zombie(pidfile: &Path) -> String {
    for _ in 0..500 {
        if let Ok(pid) = std::fs::read_to_string(pidfile) {
            let pid = pid.trim().to_string();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z')) {
                return pid;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("no zombie appeared");
}

// setgroups 'deny' is written before gid_map when the writer is unprivileged (CVE-2014-8989),
// shown by the JSON trace's order.
#[test]
fn setgroups_is_denied_before_gid_map() {
    need_root!("setgroups_is_denied_before_gid_map");
    let user = test_user();
    let scratch = Scratch::new("idmap-plain");
    let plain = copy_idmap(&scratch, 0o755);
    let t = Target::waiting(Some(user));
    // Plain (not setuid) idmap run by the user: only its own ids, as the kernel allows.
    let run = as_user(user, &plain).arg(t.pid.to_string()).arg("--map-root").env("ISOLAB_EXPLAIN", "json").run();
    run.ok();
    let writes: Vec<String> = run
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|o| o["op"] == "write")
        .map(|o| o["path"].as_str().unwrap().rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(writes, ["uid_map", "setgroups", "gid_map"]);
    assert_eq!(t.file("setgroups").trim(), "deny");
    // Without privileges, anything beyond its own id is explained, not attempted.
    let t = Target::waiting(Some(user));
    let r = as_user(user, &plain).arg(t.pid.to_string()).args(["--uid", &format!("0:{SUB_START}:10")]).run();
    refused_nothing_written(&r, "without CAP_SETUID a process may map only its own uid", &t);
}

/// One map, as newuidmap's arguments: `INNER OUTER COUNT ...`.
struct Case {
    which: &'static str,
    triples: String,
}

fn cases(user: &TestUser) -> Vec<Case> {
    let (u, g, s) = (user.uid, user.gid, SUB_START);
    let uid = |t: String| Case { which: "uid", triples: t };
    let gid = |t: String| Case { which: "gid", triples: t };
    let six: String = (0..6).map(|i| format!("{} {} 5 ", i * 10, s + i * 100)).collect();
    vec![
        uid(format!("0 {s} 65536")),                           // granted by name
        uid(format!("0 {s} 1")),                               // part of a grant
        uid(format!("0 {u} 1")),                               // self only
        uid(format!("1 {u} 1")),                               // self, elsewhere inside
        uid(format!("0 {s} {}", SUB_COUNT + BY_UID_COUNT)),    // name grant continued by the uid grant
        uid(format!("0 {BY_UID_START} {BY_UID_COUNT}")),       // granted by uid
        uid(format!("0 {BY_UID_START} {}", BY_UID_COUNT + 1)), // one past the grants
        uid(format!("0 {} 2", s - 1)),                         // one before
        uid("0 100000 65536".into()),                          // ungranted
        uid("0 0 1".into()),                                   // host root
        uid(format!("0 {u} 2")),                               // self, count 2
        uid(format!("0 {s} 0")),                               // count 0
        uid("0 4294967295 2".into()),                          // overflow outside (CVE-2016-6252)
        uid(format!("4294967290 {s} 10")),                     // overflow inside
        uid(format!("0 {s} 10 5 {} 10", s + 100)),             // overlap inside
        uid(format!("0 {s} 10 100 {} 10", s + 5)),             // overlap outside
        uid(format!("0 {s} 10 10 {} 10", s + 10)),             // two lines
        uid(format!("0 {u} 1 1 {s} 65536")),                   // self + range (unshare --map-auto -r)
        uid(format!("0 {s} 65536 65536 {u} 1")),               // range + self
        uid(six.trim_end().into()),                            // six lines (CVE-2018-18955)
        uid("0 1 1".into()),                                   // another user's id
        gid(format!("0 {g} 1")),                               // self only: setgroups deny
        gid(format!("0 {s} 65536")),                           // granted: setgroups stays allow
        gid(format!("0 {g} 2")),                               // self, count 2
        gid("0 1300000 1".into()),                             // ungranted
        gid(format!("0 {g} 1 1 {s} 100")),                     // self + granted
    ]
}

/// What a writer left behind in a fresh target: exit status, map lines, setgroups.
/// `idmap` is None for shadow's newuidmap/newgidmap, else the setuid idmap (same triples).
fn outcome(user: &TestUser, idmap: Option<&Path>, case: &Case) -> (bool, Vec<String>, String) {
    outcome_as((user.uid, user.gid), idmap, case)
}

/// [`outcome`], with the target and the writer both running as host `ids` (uid, gid).
fn outcome_as(ids: (u32, u32), idmap: Option<&Path>, case: &Case) -> (bool, Vec<String>, String) {
    let t = Target::spawn_as(Some(ids), "echo ready; read x");
    let program = match idmap {
        Some(copy) => copy.to_path_buf(),
        None => PathBuf::from(format!("/usr/bin/new{}map", case.which)),
    };
    let tool = Tool::program("setpriv")
        .args(["--reuid", &ids.0.to_string(), "--regid", &ids.1.to_string(), "--clear-groups"])
        .arg(program);
    let tool = if idmap.is_some() { tool.arg(case.which) } else { tool };
    let run = tool.arg(t.pid.to_string()).args(case.triples.split_whitespace()).run();
    let map = lines(&t.file(&format!("{}_map", case.which)));
    (run.code == 0, map, t.file("setgroups").trim().to_string())
}

// Differential: idmap (setuid) and shadow's newuidmap/newgidmap, run by the same unprivileged
// user, accept and refuse the same maps and leave the same setgroups.
#[test]
fn differential_against_newuidmap() {
    need_root!("differential_against_newuidmap");
    if !Path::new("/usr/bin/newuidmap").exists() {
        skip("differential_against_newuidmap", "shadow's newuidmap is not installed (package uidmap)");
        return;
    }
    let user = test_user();
    let scratch = Scratch::new("idmap-diff");
    let Some(copy) = setuid_idmap(&scratch) else { return };
    let table = cases(user);
    assert!(table.len() >= 20);
    let (accepted, refused) = agree_with_newuidmap(user, &copy, &table);
    assert!(accepted >= 8 && refused >= 8, "table is lopsided: {accepted} accepted, {refused} refused");
}

/// Each case run by newuidmap/newgidmap and by the setuid idmap `copy` must end alike.
/// Returns how many were accepted and how many refused.
fn agree_with_newuidmap(user: &TestUser, copy: &Path, cases: &[Case]) -> (usize, usize) {
    let (mut accepted, mut refused) = (0, 0);
    for case in cases {
        let theirs = outcome(user, None, case);
        let ours = outcome(user, Some(copy), case);
        assert_eq!(
            ours, theirs,
            "{} {}: idmap (left) and new{}map (right) differ",
            case.which, case.triples, case.which
        );
        assert_eq!(theirs.0, !theirs.1.is_empty(), "{}: accepted iff written", case.triples);
        if theirs.0 {
            accepted += 1
        } else {
            refused += 1
        }
    }
    (accepted, refused)
}

/// Run `tool` to the end, or kill it after `limit` (an unbounded read never ends by itself).
fn run_within(tool: Tool, limit: std::time::Duration) -> Run {
    let mut cmd = tool.command();
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    Run {
        shown: format!("{cmd:?}"),
        code: out.status.code().unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0)),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

// Issue 14.1: setuid idmap opens every file the caller names with the caller's rights (--show
// too), reads a pidfile with a small bound, and never echoes what it read.
#[test]
fn setuid_mode_opens_named_files_as_the_caller() {
    need_root!("setuid_mode_opens_named_files_as_the_caller");
    let user = test_user();
    let scratch = Scratch::new("idmap-files");
    let Some(copy) = setuid_idmap(&scratch) else { return };
    // A world-writable directory with a symlink to /etc/shadow (protected_symlinks aside: the
    // link is root's, in a directory root owns); a directory only root may enter.
    let open = scratch.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", open.join("link")).unwrap();
    let closed = scratch.path().join("closed");
    std::fs::create_dir(&closed).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(closed.join("exists"), "42\n").unwrap();
    let secret = writable_dir(&scratch, user.uid).join("secret");
    std::fs::write(&secret, "isolab-secret-token\n").unwrap();
    std::os::unix::fs::chown(&secret, Some(user.uid), Some(user.gid)).unwrap();
    let limit = std::time::Duration::from_secs(10);
    for mode in [&["--show"][..], &["--map-root"]] {
        let run = |file: &Path| run_within(as_user(user, &copy).args(mode).arg("--pidfile").arg(file), limit);
        for file in [Path::new("/etc/shadow"), &open.join("link")] {
            let r = run(file);
            r.refused("Permission denied");
            assert!(!r.stderr.contains("root:"), "{mode:?}: the file's content was shown: {}", r.stderr);
        }
        // What exists in a directory the caller may not enter is as unknown as what does not.
        let exists = run(&closed.join("exists"));
        let missing = run(&closed.join("missing"));
        exists.refused("Permission denied");
        missing.refused("Permission denied");
        assert_eq!(exists.stderr.replace("exists", "X"), missing.stderr.replace("missing", "X"), "{mode:?}");
        let r = run(&secret);
        r.refused("does not hold a process id");
        assert!(!r.stderr.contains("isolab-secret-token"), "{mode:?}: {}", r.stderr);
        // An endless file is read only as far as a PID can go.
        run(Path::new("/dev/zero")).refused("does not hold a process id");
    }
}

// Issue 14.5: as a drop-in, idmap reads newuidmap's arguments as newuidmap does (strtoul(3)
// base 0: 0x hex, a leading 0 octal, a sign, leading blanks) and refuses what it refuses; and
// like newuidmap (shadow's tests/newuidmap/01_newuidmap) it refuses a caller running with a gid
// that is not its primary group from /etc/passwd, even on its own process.
#[test]
fn differential_spellings_and_groups_against_newuidmap() {
    need_root!("differential_spellings_and_groups_against_newuidmap");
    if !Path::new("/usr/bin/newuidmap").exists() {
        skip(
            "differential_spellings_and_groups_against_newuidmap",
            "shadow's newuidmap is not installed (package uidmap)",
        );
        return;
    }
    let user = test_user();
    let scratch = Scratch::new("idmap-spell");
    let Some(copy) = setuid_idmap(&scratch) else { return };
    let s = SUB_START;
    let uid = |t: String| Case { which: "uid", triples: t };
    let spellings = [
        uid(format!("0 0{s} 1")),                        // octal 01200000 = 327680: not granted
        uid(format!("0 0{:o} 65536", s)),                // octal spelling of the grant
        uid(format!("0 {:#x} 0x10000", s)),              // hex
        uid(format!("0 0X{:X} 1", s)),                   // HEX
        uid(format!("+0 +{s} +65536")),                  // signs
        uid(format!("-0 {s} 1")),                        // minus zero is zero
        uid(format!("0 {s} -1")),                        // a negative count wraps: overflow
        uid(format!("0 {} 1", s as i64 - (1i64 << 32))), // a negative id
        uid(format!("0 {s} 08")),                        // 8 is no octal digit
        uid(format!("0 {s} 0x")),                        // 0x without digits
        uid(format!("0 {s} 1e3")),                       // no exponents
        uid(format!("0 {s}0 1")),                        // 12000000: not granted
        uid(format!("00 0{:o} 010", s)),                 // octal everywhere
        Case { which: "gid", triples: format!("0 {:#x} 1", s) },
    ];
    let (accepted, refused) = agree_with_newuidmap(user, &copy, &spellings);
    assert!(accepted >= 5 && refused >= 5, "{accepted} accepted, {refused} refused");
    // The caller and its process run with gid 65534, not isolab-test's primary group.
    let other = (user.uid, 65534);
    for case in [uid(format!("0 {s} 65536")), uid(format!("0 {} 1", user.uid))] {
        let theirs = outcome_as(other, None, &case);
        assert!(!theirs.0, "newuidmap took a caller outside its primary group: {theirs:?}");
        assert_eq!(outcome_as(other, Some(&copy), &case), theirs, "{}", case.triples);
    }
}

// The review followed README's idmap example as root while isolab-test held /tmp/pid with the
// PID of a user namespace of its own: the payload (uid 100000) could not overwrite that file,
// and root's `idmap --pidfile /tmp/pid --uid 0:100000:65536 --gid 0:100000:65536` mapped host
// ids 100000-165535 into the user's namespace. The examples (README, --help) take the PID from
// `$!`, never from a file in a directory every user may write.
#[test]
fn examples_read_no_pid_from_a_shared_directory() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let help = idmap().arg("--help").run();
    help.ok();
    for (doc, text) in [("README.md", readme.as_str()), ("idmap --help", help.stdout.as_str())] {
        for line in text.lines() {
            let shared = ["/tmp/", "/var/tmp/", "/dev/shm/"].iter().any(|d| line.contains(d));
            let pid_file = ["--pidfile", "$$ >", "$(cat "].iter().any(|p| line.contains(p));
            assert!(!(shared && pid_file), "{doc} tells root to read a PID from a shared directory: {line}");
        }
    }
}
