//! cgroup helpers for tests: the layout under test, where a group of a given name lives (by
//! DESIGN.md's default placement, computed here independently of isolab-core so the tests do not
//! grade the code with itself), and a `Drop` guard that kills a test group's members and
//! removes it whatever happens to the test.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The cgroup layout the tests must see: `ISOLAB_VM_LAYOUT` (`v2`, `v1`) in the test VM, else
/// the development host's hybrid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    V1,
    V2,
    Hybrid,
}

/// One mounted hierarchy, from /proc/self/mountinfo and /proc/self/cgroup.
#[derive(Debug, Clone)]
pub struct Hier {
    pub mount: PathBuf,
    pub v2: bool,
    pub controllers: Vec<String>,
    /// The test process's own cgroup in it.
    pub own: String,
}

/// The expected layout, checked against what is mounted: a test on the wrong layout fails.
pub fn layout() -> Layout {
    let expected = match std::env::var("ISOLAB_VM_LAYOUT").as_deref() {
        Ok("v2") => Layout::V2,
        Ok("v1") => Layout::V1,
        _ => Layout::Hybrid,
    };
    let hs = hierarchies();
    let v2_with_memory = hs.iter().any(|h| h.v2 && h.controllers.iter().any(|c| c == "memory"));
    let any_v1 = hs.iter().any(|h| !h.v2);
    let seen = match (any_v1, hs.iter().any(|h| h.v2)) {
        (false, true) => Layout::V2,
        (true, true) if !v2_with_memory => Layout::Hybrid,
        (true, false) => Layout::V1,
        _ => Layout::Hybrid,
    };
    assert_eq!(seen, expected, "mounted cgroup layout differs from ISOLAB_VM_LAYOUT: {hs:?}");
    expected
}

/// Every hierarchy with controllers.
pub fn hierarchies() -> Vec<Hier> {
    let own = std::fs::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let mut out: Vec<Hier> = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        let mount = PathBuf::from(left[4]);
        let (v2, controllers): (bool, Vec<String>) = match right[0] {
            "cgroup2" => (
                true,
                std::fs::read_to_string(mount.join("cgroup.controllers"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(String::from)
                    .collect(),
            ),
            "cgroup" => (
                false,
                right[2]
                    .split(',')
                    .filter(|o| !o.contains('=') && !["rw", "ro", "xattr", "clone_children", "noprefix"].contains(o))
                    .map(String::from)
                    .collect(),
            ),
            _ => continue,
        };
        if (!v2 && controllers.is_empty()) || out.iter().any(|h| h.mount == mount) {
            continue;
        }
        let key = if v2 { String::new() } else { controllers.join(",") };
        let Some(path) = own.lines().find_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, c, path) = (p.next()?, p.next()?, p.next()?);
            let mut cs: Vec<&str> = c.split(',').collect();
            cs.sort();
            let mut want: Vec<&str> = key.split(',').collect();
            want.sort();
            (cs == want).then(|| path.to_string())
        }) else {
            continue;
        };
        out.push(Hier { mount, v2, controllers, own: path });
    }
    out
}

/// The hierarchy holding `controller` (`cpuacct` on v2 is the unified one).
pub fn hierarchy_of(controller: &str) -> Option<Hier> {
    let hs = hierarchies();
    let alias = if controller == "blkio" { "io" } else { controller };
    hs.iter()
        .find(|h| h.controllers.iter().any(|c| c == controller || c == alias))
        .or_else(|| hs.iter().find(|h| h.v2 && controller == "cpuacct"))
        .cloned()
}

/// Where cgexec-rs puts group `name` by default in hierarchy `h`: `isolab` beneath the caller's
/// cgroup, or `/isolab` on v2 when the caller's group is not the root (it holds the caller).
pub fn default_dir(h: &Hier, name: &str) -> PathBuf {
    let parent =
        if h.v2 && h.own != "/" { "/isolab".to_string() } else { format!("{}/isolab", h.own.trim_end_matches('/')) };
    h.mount.join(parent.trim_start_matches('/')).join(name)
}

/// The directory of group `name` for `controller`.
pub fn dir(controller: &str, name: &str) -> PathBuf {
    let h = hierarchy_of(controller).unwrap_or_else(|| panic!("no hierarchy has the {controller} controller"));
    default_dir(&h, name)
}

/// Read a file of group `name` (trimmed); panics with the path when it cannot.
pub fn read(controller: &str, name: &str, file: &str) -> String {
    let path = dir(controller, name).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())).trim().to_string()
}

/// Every directory group `name` has (in any hierarchy, by the default placement).
pub fn existing_dirs(name: &str) -> Vec<PathBuf> {
    hierarchies().iter().map(|h| default_dir(h, name)).filter(|d| d.exists()).collect()
}

/// A fresh test group name: `isolab-test-<pid>-<n>`.
pub fn unique_name() -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!("isolab-test-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Removes group `name` (killing its members first) when dropped, whatever the test did.
pub struct Guard(pub String);

impl Guard {
    pub fn new() -> Guard {
        Guard(unique_name())
    }

    pub fn name(&self) -> &str {
        &self.0
    }
}

impl Default for Guard {
    fn default() -> Self {
        Guard::new()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for dir in existing_dirs(&self.0) {
            kill_and_remove(&dir);
        }
    }
}

fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

fn kill_and_remove(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        for pid in procs(dir) {
            // SAFETY: kill(2) with a pid read from the test's own group.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Poll `cond` every 10 ms for up to `secs` seconds.
pub fn wait_until(secs: f64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// CPU time used by group `name`, in microseconds: v1 `cpuacct.usage` (ns), v2 `cpu.stat` usage_usec.
pub fn cpu_usage_usec(name: &str) -> u64 {
    if layout() == Layout::V2 {
        let stat = read("cpu", name, "cpu.stat");
        stat.lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .and_then(|v| v.parse().ok())
            .expect("usage_usec in cpu.stat")
    } else {
        read("cpuacct", name, "cpuacct.usage").parse::<u64>().expect("cpuacct.usage") / 1000
    }
}

/// A cgroup-v2 subtree delegated to `uid` the way systemd does it for `Delegate=yes`: a group
/// beneath the test's own, its directory, cgroup.procs, cgroup.subtree_control and
/// cgroup.threads chowned to the user. On drop everything in it is killed (cgroup.kill) and its
/// directories are removed, deepest first.
pub struct Delegated {
    pub dir: PathBuf,
    /// Its path from the hierarchy's root, as /proc/PID/cgroup shows it.
    pub path: String,
}

impl Delegated {
    pub fn new(uid: u32, gid: u32) -> Delegated {
        let h = hierarchies().into_iter().find(|h| h.v2).expect("a cgroup2 mount");
        let path = format!("{}/{}-delegated", h.own.trim_end_matches('/'), unique_name());
        let dir = h.mount.join(path.trim_start_matches('/'));
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        for f in ["", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"] {
            std::os::unix::fs::chown(dir.join(f), Some(uid), Some(gid)).unwrap();
        }
        Delegated { dir, path }
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("cgroup.kill"), "1");
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut todo = vec![self.dir.clone()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    todo.push(e.path());
                }
            }
            dirs.push(d);
        }
        for d in dirs.iter().rev() {
            kill_and_remove(d);
        }
    }
}
