//! Faults against the full chain, on the real kernel (issue 10, "Faults"): signals at random
//! moments of a launch, a thousand launches in a row, the OOM killer, pids exhaustion, a payload
//! that closes stdout or runs away with setsid. Whatever happens, the status is reported and
//! nothing is left behind: no group, no mount, no process.
//!
//! The chain: `cgexec-rs --name N -- nsexec -a --map-root -- sh -c PAYLOAD`, and
//! `nsenter-lite --container N -a` into it. Counts scale down in the test VM
//! (`isolab_tests::scaled`); `ISOLAB_FAULT_RUNS` and `ISOLAB_LAUNCHES` set them.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use isolab_tests::{bin, need_root, scaled};

/// Test group names: `isolab-test-<pid>-<what>-<n>`.
fn name(what: &str, n: u64) -> String {
    format!("isolab-test-{}-{what}-{n}", std::process::id())
}

/// The thousand launches count the test process's descriptors and zombies: they run alone (write),
/// the other tests of this file beside each other (read).
static ALONE: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn beside_others() -> std::sync::RwLockReadGuard<'static, ()> {
    ALONE.read().unwrap_or_else(|e| e.into_inner())
}

fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A small xorshift: random moments without a crate, reproducible from the printed seed.
struct Random(u64);

impl Random {
    fn new() -> Random {
        let seed = std::env::var("ISOLAB_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
        });
        say(&format!("faults: ISOLAB_FAULT_SEED={seed}"));
        Random(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn chain(name: &str, payload: &str) -> Command {
    limited_chain(name, &[], &["sh", "-c", payload])
}

/// The chain with cgexec-rs `limits` and nsexec running `argv`.
fn limited_chain(name: &str, limits: &[&str], argv: &[&str]) -> Command {
    let mut cmd = Command::new(bin("cgexec-rs"));
    cmd.args(["--name", name]).args(limits).arg("--").arg(bin("nsexec")).args(["-a", "--map-root", "--"]).args(argv);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    cmd
}

/// Every group directory, in any hierarchy, whose name is `name`.
fn group_dirs(name: &str) -> Vec<String> {
    let out = Command::new("find").args(["/sys/fs/cgroup", "-type", "d", "-name", name]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
}

/// Members of the group `name` (from cgroup.procs in every hierarchy that has it).
fn members(name: &str) -> BTreeSet<i32> {
    group_dirs(name)
        .iter()
        .flat_map(|d| {
            std::fs::read_to_string(format!("{d}/cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn comm(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).ok().map(|s| s.trim().to_string())
}

/// A process that exists and is not a zombie.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with(|c| c != 'Z' && c != 'X')))
        .unwrap_or(false)
}

/// `pid` and all its descendants, now.
fn tree(pid: i32) -> Vec<i32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        let children = std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
        out.extend(children.split_whitespace().filter_map(|c| c.parse::<i32>().ok()));
        i += 1;
    }
    out
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a PID this test started (or its descendant).
    unsafe { libc::kill(pid, sig) };
}

/// Wait for `child` for at most `limit`; kill it (and fail) if it outlives that.
fn finish(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("pid {} still running after {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Poll until `done` holds, for at most `limit`.
fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}

/// What a run left: the group's directories, members, processes seen during the run still
/// alive, and mounts naming the group.
fn leftovers(name: &str, seen: &BTreeSet<i32>) -> Vec<String> {
    let mut left = Vec::new();
    eventually(Duration::from_secs(2), || group_dirs(name).is_empty() && !seen.iter().any(|&p| alive(p)));
    let dirs = group_dirs(name);
    if !dirs.is_empty() {
        left.push(format!("groups {dirs:?} with members {:?}", members(name)));
    }
    let procs: Vec<String> = seen.iter().filter(|&&p| alive(p)).map(|&p| format!("{p} {:?}", comm(p))).collect();
    if !procs.is_empty() {
        left.push(format!("processes {procs:?}"));
    }
    if isolab_tests::mountinfo().contains(name) {
        left.push("a mount naming the group".into());
    }
    left
}

const SIGNALS: [(i32, &str); 3] = [(libc::SIGINT, "INT"), (libc::SIGTERM, "TERM"), (libc::SIGKILL, "KILL")];

/// The first process of `tool` in the tree of `top`, waiting until it appears (or the tree ends).
fn find_tool(top: i32, tool: &str, seen: &mut BTreeSet<i32>) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let now = tree(top);
        seen.extend(&now);
        if let Some(&p) = now.iter().find(|&&p| comm(p).as_deref() == Some(tool)) {
            return Some(p);
        }
        if !alive(top) {
            return None;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    None
}

/// Signal `tool` of the chain at a random moment of a launch, `runs` times per signal.
fn signal_the_chain(tool: &str, tag: &str) {
    let runs = scaled("ISOLAB_FAULT_RUNS", 100, 10);
    let mut rng = Random::new();
    let mut failures = Vec::new();
    let start = Instant::now();
    for (sig, sig_name) in SIGNALS {
        let mut signalled = 0;
        for n in 0..runs {
            let name = name(&format!("{tag}-{sig_name}"), n);
            let mut child = chain(&name, "sleep 0.1").spawn().unwrap();
            let top = child.id() as i32;
            std::thread::sleep(Duration::from_micros(rng.below(60_000)));
            let mut seen = BTreeSet::new();
            let Some(target) = find_tool(top, tool, &mut seen) else {
                finish(&mut child, Duration::from_secs(10));
                continue; // the launch ended before the tool appeared: nothing was signalled
            };
            seen.extend(tree(top));
            kill(target, sig);
            signalled += 1;
            let status = finish(&mut child, Duration::from_secs(10));
            if sig == libc::SIGKILL && tool == "cgexec-rs" {
                // The documented remedy for a killed supervisor (cgexec-rs --help): --rm.
                let rm = Command::new(bin("cgexec-rs")).args(["--rm", &name]).output().unwrap();
                let gone = rm.status.success() || String::from_utf8_lossy(&rm.stderr).contains("no group");
                if !gone {
                    failures.push(format!("{name}: cgexec-rs --rm: {}", String::from_utf8_lossy(&rm.stderr)));
                }
            }
            let left = leftovers(&name, &seen);
            if !left.is_empty() {
                failures.push(format!(
                    "{name} (SIG{sig_name} to {tool} {target}, status {status:?}): left {}",
                    left.join(", ")
                ));
                let _ = Command::new(bin("cgexec-rs")).args(["--rm", &name]).status();
            }
        }
        // A run whose launch ended before the tool appeared signals nothing; most must not.
        assert!(signalled * 2 >= runs, "SIG{sig_name} reached {tool} in only {signalled} of {runs} runs");
    }
    say(&format!("faults: {} signal runs on {tool} in {:?}", runs * 3, start.elapsed()));
    assert!(failures.is_empty(), "{} runs left something:\n{}", failures.len(), failures.join("\n"));
}

// Faults: SIGINT, SIGTERM, SIGKILL to the supervisor cgexec-rs at random moments.
#[test]
fn signals_to_cgexec_leave_nothing() {
    need_root!("signals_to_cgexec_leave_nothing");
    let _turn = beside_others();
    signal_the_chain("cgexec-rs", "sig-cg");
}

// Faults: SIGINT, SIGTERM, SIGKILL to nsexec inside the chain at random moments.
#[test]
fn signals_to_nsexec_leave_nothing() {
    need_root!("signals_to_nsexec_leave_nothing");
    let _turn = beside_others();
    signal_the_chain("nsexec", "sig-ns");
}

/// A running container for nsenter-lite to enter; killed and removed on drop.
struct Container {
    name: String,
    child: Child,
}

impl Container {
    fn start(name: String) -> Container {
        Container::start_with(name, &["--map-root"])
    }

    /// A container whose nsexec maps ids with `maps` (`--map-root`, `--map-users ...`).
    fn start_with(name: String, maps: &[&str]) -> Container {
        let mut launch = Command::new(bin("cgexec-rs"));
        launch.args(["--name", &name, "--"]).arg(bin("nsexec")).arg("-a").args(maps).args(["--", "sleep", "600"]);
        let child = launch.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let ready =
            eventually(Duration::from_secs(10), || members(&name).iter().any(|&p| comm(p).as_deref() == Some("sleep")));
        assert!(ready, "container {name} did not start");
        Container { name, child }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        kill(self.child.id() as i32, libc::SIGKILL);
        let _ = self.child.wait();
        let _ = Command::new(bin("cgexec-rs")).args(["--rm", &self.name]).status();
    }
}

// Faults: SIGINT, SIGTERM, SIGKILL to nsenter-lite joining a running container.
#[test]
fn signals_to_nsenter_lite_leave_nothing() {
    need_root!("signals_to_nsenter_lite_leave_nothing");
    let _turn = beside_others();
    let runs = scaled("ISOLAB_FAULT_RUNS", 100, 10);
    let container = Container::start(name("enter", 0));
    let mut rng = Random::new();
    let mut failures = Vec::new();
    let start = Instant::now();
    for (sig, sig_name) in SIGNALS {
        for n in 0..runs {
            let mut child = Command::new(bin("nsenter-lite"))
                .args(["--container", &container.name, "-a", "--", "sh", "-c", "sleep 0.1"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let top = child.id() as i32;
            std::thread::sleep(Duration::from_micros(rng.below(40_000)));
            let seen: BTreeSet<i32> = tree(top).into_iter().collect();
            kill(top, sig);
            let status = finish(&mut child, Duration::from_secs(10));
            let left: Vec<i32> = {
                eventually(Duration::from_secs(2), || !seen.iter().any(|&p| alive(p)));
                seen.iter().copied().filter(|&p| alive(p)).collect()
            };
            if !left.is_empty() {
                failures.push(format!("run {n}: SIG{sig_name} to nsenter-lite ({status:?}) left {left:?}"));
            }
        }
    }
    say(&format!("faults: {} signal runs on nsenter-lite in {:?}", runs * 3, start.elapsed()));
    assert!(failures.is_empty(), "{} runs left something:\n{}", failures.len(), failures.join("\n"));
}

/// SIGKILL the supervisor `child` once its `sleep` runs; whether every process it started died too.
fn command_dies_with(mut child: Child) -> bool {
    let top = child.id() as i32;
    let mut seen = BTreeSet::new();
    assert!(eventually(Duration::from_secs(10), || {
        seen.extend(tree(top));
        seen.iter().any(|&p| comm(p).as_deref() == Some("sleep"))
    }));
    kill(top, libc::SIGKILL);
    let _ = child.wait();
    eventually(Duration::from_secs(1), || !seen.iter().any(|&p| p != top && alive(p)))
}

// SIGKILL of cgexec-rs takes its command along (PR_SET_PDEATHSIG through process::fork_tethered);
// the emptied group is what remains, and `cgexec-rs --rm` removes it.
#[test]
fn sigkill_of_cgexec_kills_the_command() {
    need_root!("sigkill_of_cgexec_kills_the_command");
    let _others = beside_others();
    let name = name("pdeath", 0);
    let died = command_dies_with(chain(&name, "sleep 5").spawn().unwrap());
    let _ = Command::new(bin("cgexec-rs")).args(["--rm", &name]).status();
    assert!(died, "the command outlived its supervisor");
}

// SIGKILL of nsenter-lite takes the command it forked into a PID namespace along.
#[test]
fn sigkill_of_nsenter_lite_kills_the_command() {
    need_root!("sigkill_of_nsenter_lite_kills_the_command");
    let _others = beside_others();
    let container = Container::start(name("enter-pdeath", 0));
    let child = Command::new(bin("nsenter-lite"))
        .args(["--container", &container.name, "-a", "--", "sleep", "5"])
        .spawn()
        .unwrap();
    assert!(command_dies_with(child), "the command outlived nsenter-lite");
}

/// A launch of the chain for the group NAME.
type Launch<'a> = dyn Fn(&str) -> Command + 'a;

/// The launch of the tether tests: `cgexec-rs --keep` (the kept group tells which processes
/// outlive a kill, and cgexec-rs itself kills none of them) around nsexec with `creds`, payload
/// `sleep 30`.
fn kept_chain(name: &str, creds: &[&str]) -> Command {
    let mut cmd = Command::new(bin("cgexec-rs"));
    cmd.args(["--keep", "--name", name, "--"]).arg(bin("nsexec")).args(creds).args(["--", "sleep", "30"]);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

/// SIGKILL `victim` (cgexec-rs or nsexec) of `launch(NAME)` at a random moment, `runs` times.
/// Every process of the launch must die with it: the kept group empties by itself. Returns the
/// runs where something outlived the kill (then killed here by `cgexec-rs --rm`).
fn kill_at_random(victim: &str, tag: &str, runs: u64, launch: &Launch<'_>) -> Vec<String> {
    let mut rng = Random::new();
    let mut failures = Vec::new();
    let mut killed = 0;
    for n in 0..runs {
        let name = name(tag, n);
        let mut child = launch(&name).spawn().unwrap();
        let top = child.id() as i32;
        std::thread::sleep(Duration::from_micros(rng.below(80_000)));
        let mut seen = BTreeSet::new();
        if let Some(target) = find_tool(top, victim, &mut seen) {
            seen.extend(tree(top));
            kill(target, libc::SIGKILL);
            killed += 1;
        }
        let _ = finish(&mut child, Duration::from_secs(10));
        let outlived = || seen.iter().copied().chain(members(&name)).filter(|&p| alive(p)).collect::<BTreeSet<_>>();
        if !eventually(Duration::from_secs(3), || outlived().is_empty()) {
            let left: Vec<String> = outlived().iter().map(|&p| format!("{p} {:?}", comm(p))).collect();
            failures.push(format!("{name}: SIGKILL to {victim} left {left:?}"));
        }
        let _ = Command::new(bin("cgexec-rs")).args(["--rm", &name]).stderr(Stdio::null()).status();
    }
    assert!(killed * 2 >= runs, "SIGKILL reached {victim} in only {killed} of {runs} runs ({tag})");
    failures
}

// Issue 14.3: the kernel clears PR_SET_PDEATHSIG when a process's effective or filesystem ids
// change, so the tools set their tether again after every credential change (and check that the
// parent is still there). SIGKILL of cgexec-rs or nsexec at random moments, on every path that
// changes credentials (--map-users, --map-auto, --user-id; nsenter-lite into a user namespace):
// nothing may outlive it.
#[test]
fn sigkill_on_every_credential_path_leaves_nothing() {
    need_root!("sigkill_on_every_credential_path_leaves_nothing");
    let _turn = beside_others();
    let runs = scaled("ISOLAB_TETHER_RUNS", 30, 4);
    let remap = ["--map-users", "0:100000:65536", "--map-groups", "0:100000:65536"];
    // --map-auto maps root's first /etc/subuid and /etc/subgid ranges: here a file of the test's
    // own, bound over both in a mount namespace of the launch's own.
    let dir = isolab_tests::Scratch::new("subid");
    let subid = dir.path().join("subid");
    std::fs::write(&subid, "root:100000:65536\n").unwrap();
    let bind = format!("mount --bind {0} /etc/subuid && mount --bind {0} /etc/subgid && exec \"$@\"", subid.display());
    let auto = |name: &str| {
        let inner = kept_chain(name, &["-a", "--map-auto"]);
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "sh", "-c", &bind, "sh"]).arg(inner.get_program()).args(inner.get_args());
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    };
    let users = |name: &str| kept_chain(name, &[&["-a"][..], &remap].concat());
    let user_id = |name: &str| kept_chain(name, &["-p", "-m", "--user-id", "1000:1000"]);
    let paths: [(&str, &Launch<'_>); 3] = [("users", &users), ("auto", &auto), ("id", &user_id)];
    let mut failures = Vec::new();
    let start = Instant::now();
    for victim in ["cgexec-rs", "nsexec"] {
        for (tag, launch) in paths {
            failures.extend(kill_at_random(victim, &format!("tether-{tag}"), runs, launch));
        }
    }
    // nsenter-lite joins the user namespace (root inside is host uid 100000), then setresuid(0).
    let container = Container::start_with(name("tether-enter", 0), &remap);
    let own: BTreeSet<i32> = members(&container.name);
    let mut rng = Random::new();
    for n in 0..runs {
        let mut child = Command::new(bin("nsenter-lite"))
            .args(["--container", &container.name, "-a", "--", "sleep", "30"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(60_000)));
        kill(child.id() as i32, libc::SIGKILL);
        let _ = child.wait();
        let joined = || members(&container.name).difference(&own).copied().collect::<Vec<_>>();
        if !eventually(Duration::from_secs(3), || joined().is_empty()) {
            let left = joined();
            failures.push(format!("nsenter-lite run {n}: SIGKILL left {left:?} in the container"));
            left.iter().for_each(|&p| kill(p, libc::SIGKILL));
        }
    }
    say(&format!("faults: {} SIGKILLs on the credential paths in {:?}", runs * 7, start.elapsed()));
    assert!(failures.is_empty(), "{} runs left something:\n{}", failures.len(), failures.join("\n"));
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn file_nr() -> u64 {
    let text = std::fs::read_to_string("/proc/sys/fs/file-nr").unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

/// Zombie children of this test process.
fn zombies() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|s| {
            let rest: Vec<&str> = s.rsplit_once(')').map_or(vec![], |(_, r)| r.split_whitespace().collect());
            rest.first() == Some(&"Z") && rest.get(1) == Some(&me.as_str())
        })
        .count()
}

fn our_groups() -> usize {
    let tag = name("run", 0).trim_end_matches('0').to_string();
    let out = Command::new("find").args(["/sys/fs/cgroup", "-path", "*isolab*", "-type", "d"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains(&tag)).count()
}

/// The host's mounts a launch could leak: on the mount points its new world uses (/, /proc,
/// /dev, /tmp), or naming this test. Not the host's whole table: other suites mount and unmount
/// in their own scratch directories meanwhile.
fn launch_mounts() -> usize {
    let tag = format!("isolab-test-{}-", std::process::id());
    isolab_tests::mountinfo()
        .lines()
        .filter(|l| {
            let point = l.split(' ').nth(4).unwrap_or("");
            ["/", "/proc", "/dev", "/tmp"].contains(&point) || l.contains(&tag)
        })
        .count()
}

fn all_isolab_groups() -> usize {
    let out = Command::new("find").args(["/sys/fs/cgroup", "-path", "*isolab*", "-type", "d"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

// Faults: a thousand full launches in a row leak no group, mount, descriptor or zombie.
#[test]
fn a_thousand_launches_leak_nothing() {
    need_root!("a_thousand_launches_leak_nothing");
    let _alone = ALONE.write().unwrap_or_else(|e| e.into_inner());
    let launches = scaled("ISOLAB_LAUNCHES", 1000, 50);
    let before = (our_groups(), all_isolab_groups(), launch_mounts(), fd_count(), file_nr(), zombies());
    let start = Instant::now();
    for n in 0..launches {
        let name = name("run", n);
        let out = chain(&name, "true").output().unwrap();
        assert!(out.status.success(), "launch {n}: {:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    let took = start.elapsed();
    let after = (our_groups(), all_isolab_groups(), launch_mounts(), fd_count(), file_nr(), zombies());
    say(&format!(
        "faults: {launches} launches in {took:?} ({:?} each); before/after: our groups {}/{}, all isolab groups {}/{}, \
         mounts {}/{}, test fds {}/{}, file-nr {}/{}, zombies {}/{}",
        took / launches as u32,
        before.0, after.0, before.1, after.1, before.2, after.2, before.3, after.3, before.4, after.4, before.5, after.5
    ));
    assert_eq!(after.0, 0, "groups left by the launches");
    assert_eq!(after.2, before.2, "host mounts changed");
    assert_eq!(after.3, before.3, "descriptors of the test process");
    assert_eq!(after.5, 0, "zombie children");
    // file-nr counts the whole host (other suites run too): a leak would be one per launch.
    assert!(after.4 < before.4 + launches / 2, "file-nr grew from {} to {}", before.4, after.4);
}

/// Run a chain to the end; returns (status code, stderr) and checks nothing is left.
fn run_and_check(name: &str, cmd: &mut Command) -> (i32, String) {
    let mut child = cmd.spawn().unwrap();
    let top = child.id() as i32;
    let mut seen = BTreeSet::new();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        seen.extend(tree(top));
        assert!(start.elapsed() < Duration::from_secs(30), "{name} still running");
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    let left = leftovers(name, &seen);
    assert!(left.is_empty(), "{name} left {}", left.join(", "));
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

// Faults, Lab 7: the OOM killer inside the nested chain: 137, said on stderr, group removed.
#[test]
fn oom_in_the_chain_is_reported_and_cleaned() {
    need_root!("oom_in_the_chain_is_reported_and_cleaned");
    let _turn = beside_others();
    let name = name("oom", 0);
    let mut cmd = limited_chain(&name, &["--memory", "16m"], &["tail", "/dev/zero"]);
    let (code, stderr) = run_and_check(&name, &mut cmd);
    assert_eq!(code, 137, "{stderr}");
    assert!(stderr.contains("OOM"), "{stderr}");
}

// Faults, Lab 10: pids exhaustion: forks fail inside, the status comes back, the group goes.
#[test]
fn pids_exhaustion_is_reported_and_cleaned() {
    need_root!("pids_exhaustion_is_reported_and_cleaned");
    let _turn = beside_others();
    let name = name("pids", 0);
    let fork_bomb = "i=0; while [ $i -lt 20 ]; do sleep 5 & i=$((i+1)); done; wait";
    let mut cmd = limited_chain(&name, &["--pids-limit", "8"], &["sh", "-c", fork_bomb]);
    let start = Instant::now();
    let (code, stderr) = run_and_check(&name, &mut cmd);
    assert_ne!(code, 0, "forks past --pids-limit succeeded: {stderr}");
    assert!(stderr.contains("fork") || stderr.contains("resource"), "{code}: {stderr}");
    assert!(start.elapsed() < Duration::from_secs(5) + Duration::from_secs(3), "the group's sleepers were waited for");
}

// Faults: a payload that closes its stdout, and one whose reader goes away (SIGPIPE, 141).
#[test]
fn closed_stdout_is_reported_and_cleaned() {
    need_root!("closed_stdout_is_reported_and_cleaned");
    let _turn = beside_others();
    let name1 = name("stdout", 0);
    let (code, stderr) = run_and_check(&name1, &mut chain(&name1, "exec >&-; sleep 0.1; echo still-here >&2"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("still-here"), "{stderr}");
    let name2 = name("stdout", 1);
    let mut cmd = chain(&name2, "yes");
    cmd.stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut seen: BTreeSet<i32> = BTreeSet::new();
    eventually(Duration::from_secs(5), || {
        seen.extend(tree(child.id() as i32));
        seen.iter().any(|&p| comm(p).as_deref() == Some("yes"))
    });
    drop(child.stdout.take());
    let status = finish(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(141), "yes with its reader gone: {status:?}");
    let left = leftovers(&name2, &seen);
    assert!(left.is_empty(), "{name2} left {}", left.join(", "));
}

// Faults: a payload that double-forks and setsid()s away is still in the group, and goes with it.
#[test]
fn setsid_runaway_goes_with_the_group() {
    need_root!("setsid_runaway_goes_with_the_group");
    let _turn = beside_others();
    // Without a PID namespace only the group holds the runaway: cgexec-rs's clean-up must kill it.
    let name1 = name("setsid", 0);
    let out = Command::new(bin("cgexec-rs"))
        .args(["--name", &name1, "--", "sh", "-c", "setsid sh -c 'sleep 30 & echo $!' & wait"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let runaway: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("the runaway's pid");
    let seen: BTreeSet<i32> = [runaway].into();
    let left = leftovers(&name1, &seen);
    assert!(left.is_empty(), "{name1} left {}", left.join(", "));
    // In the nested chain: the status of the payload comes back, the group goes.
    let name2 = name("setsid", 1);
    let (code, stderr) = run_and_check(&name2, &mut chain(&name2, "setsid sh -c 'sleep 30 &' & sleep 0.1; exit 3"));
    assert_eq!(code, 3, "{stderr}");
}
