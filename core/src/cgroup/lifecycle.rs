//! A group's life: create (top-down), join, kill what is left, remove, and read OOM kills.
//!
//! Rules that bite:
//! - v2: a controller is listed in the parent's `cgroup.subtree_control` before the child is
//!   made, at every level from the root down; a parent that holds processes refuses (EBUSY).
//! - v1 cpuset: a new group's `cpuset.cpus`/`cpuset.mems` start empty and joining it fails with
//!   ENOSPC, so each new level copies its parent's.
//! - Writing a pid to `cgroup.procs` can fail with EINVAL while the task is still being set up
//!   (TASK_NEW); runc retries 5 times, 30 ms apart.
//! - Killing: v2 has `cgroup.kill` (Linux 5.14), which also catches processes forking at that
//!   moment; on v1 the freezer stops the group first so nothing can fork between the read of
//!   `cgroup.procs` and the kills; without either, kill in rounds until the group is empty.
//! - rmdir returns EBUSY while a killed member is still exiting: retry briefly.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use super::files::{keyed, read_procs};
use super::group::{place_at, Group, Placement};
use super::{CGROUP_PROCS, SUBTREE_CONTROL, TASKS};
use crate::trace::{self, Step};

/// Directories this run created, removed again (deepest first) if setting up fails.
#[derive(Debug, Default)]
pub struct Created(Vec<PathBuf>);

impl Created {
    pub fn rollback(&mut self) {
        while let Some(dir) = self.0.pop() {
            // A parent another run is using stays (EBUSY): that is correct, not a failure.
            let _ = std::fs::remove_dir(&dir).map(|()| trace::explain(&Step::Rmdir(dir.clone()), None));
        }
    }
}

/// Create the group in every placement, parents first. On failure, what was made is removed.
pub fn create(name: &str, placements: &[Placement]) -> anyhow::Result<Group> {
    let mut created = Created::default();
    let mut places = Vec::new();
    for t in placements {
        if let Err(err) = create_one(t, &mut created) {
            created.rollback();
            return Err(err);
        }
        places.push(place_at(t.hierarchy, t.dir()));
    }
    Ok(Group::new(name, places))
}

/// The parents may exist already (`isolab`, a `--cgroup-parent`); the group's own directory is
/// made here or not at all: one that appeared since the caller checked the name (a second run
/// with the same name, another uid in a delegated parent) is someone else's, and adopting it
/// would kill their processes when ours end.
fn create_one(t: &Placement, created: &mut Created) -> anyhow::Result<()> {
    let h = t.hierarchy;
    let mut cur = h.mount.clone();
    let components: Vec<&str> = t.path.split('/').filter(|c| !c.is_empty()).collect();
    // v1 without cpuset (nothing to fill in on the way down): when the parent is there already,
    // as it is after the first run, one stat of it instead of one per level.
    let parent = components.len().saturating_sub(1);
    let skip = if !h.v2 && !h.has("cpuset") && parent > 0 && h.dir_of(&components[..parent].join("/")).is_dir() {
        parent
    } else {
        0
    };
    if skip > 0 {
        cur = h.dir_of(&components[..skip].join("/"));
    }
    for (i, component) in components.iter().enumerate().skip(skip) {
        if h.v2 {
            enable_controllers(&cur, &t.enable)?;
        }
        let next = cur.join(component);
        let own = i + 1 == components.len();
        if own || !next.is_dir() {
            match trace::mkdir(&next) {
                Ok(()) => created.0.push(next.clone()),
                Err(_) if own && next.is_dir() => {
                    anyhow::bail!("a group named {component:?} already exists ({})", next.display())
                }
                // A parent another run made meanwhile is shared, as one that was there before.
                Err(_) if next.is_dir() => {}
                Err(err) => return Err(err),
            }
        }
        if !h.v2 && h.has("cpuset") {
            inherit_cpuset(&cur, &next)?;
        }
        cur = next;
    }
    Ok(())
}

/// Add the controllers `cur` does not yet hand to its children.
fn enable_controllers(dir: &Path, wanted: &[String]) -> anyhow::Result<()> {
    let present = std::fs::read_to_string(dir.join(SUBTREE_CONTROL)).unwrap_or_default();
    let missing: Vec<String> = wanted
        .iter()
        .filter(|c| !present.split_whitespace().any(|p| p == c.as_str()))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    trace::write_file(dir.join(SUBTREE_CONTROL), missing.join(" "))
}

/// A v1 cpuset group with empty cpus or mems refuses members: fill them from the parent.
fn inherit_cpuset(parent: &Path, child: &Path) -> anyhow::Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mine = std::fs::read_to_string(child.join(file)).unwrap_or_default();
        if mine.trim().is_empty() {
            let theirs = std::fs::read_to_string(parent.join(file)).unwrap_or_default();
            trace::write_file(child.join(file), theirs.trim())?;
        }
    }
    Ok(())
}

/// One write(2), as `trace::write_file` does, for steps that retry inside one traced step.
fn write_once(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

/// Move process `pid` into the group in every hierarchy.
pub fn join(group: &Group, pid: i32) -> anyhow::Result<()> {
    group.places().iter().try_for_each(|place| join_dir(&place.dir, pid))
}

/// Move the calling process, which must have one thread (a forked child has: fork copies only
/// the calling thread; the tools start none), into the group in every hierarchy: on v1 `0`
/// written to `tasks`, on v2 to `cgroup.procs`.
///
/// Why `tasks` on v1: a write to `cgroup.procs`, or of any other task's pid, takes the kernel's
/// global cgroup_threadgroup_rwsem for writing, and a percpu rwsem's first writer after a quiet
/// spell waits for an RCU grace period (rcu_sync): 3-5 ms of wall time on this kind of host, once
/// per launch when launches are not back to back. Moving only the caller's own thread
/// (`tasks`, pid 0) needs no threadgroup stability and skips that lock (kernel/cgroup/cgroup.c,
/// cgroup_procs_write_start: `*threadgroup_locked = pid || threadgroup`); for a process with
/// one thread it moves the whole process. v2 has no per-thread move between domain groups.
pub fn join_self(group: &Group) -> anyhow::Result<()> {
    for place in group.places() {
        let file = if place.v2 { CGROUP_PROCS } else { TASKS };
        trace::write_file(place.dir.join(file), "0")?;
    }
    Ok(())
}

/// Move process `pid` into the cgroup at `dir`.
pub fn join_dir(dir: &Path, pid: i32) -> anyhow::Result<()> {
    let path = dir.join(CGROUP_PROCS);
    let value = pid.to_string();
    trace::run_io(Step::Write { path: path.clone(), value: value.clone() }, || {
        let mut tries = 0;
        loop {
            match write_once(&path, &value) {
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) && tries < 5 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(30));
                }
                other => return other,
            }
        }
    })
}

/// Kill every member: `cgroup.kill` on v2, freeze-kill-thaw with the v1 freezer, else rounds.
/// Returns once the group holds no process (or after a few seconds, leaving rmdir to say why).
pub fn kill_all(group: &Group) -> anyhow::Result<()> {
    if group.procs().is_empty() {
        return Ok(());
    }
    let v2_kill = group.places().iter().find(|p| p.v2).map(|p| p.dir.join("cgroup.kill")).filter(|f| f.exists());
    if let Some(file) = v2_kill {
        trace::write_file(&file, "1")?;
    } else if let Some(freezer) = group.dir("freezer").filter(|_| !group.is_v2("freezer")) {
        freeze_and_kill(freezer)?;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = group.procs();
        if left.is_empty() || Instant::now() > deadline {
            return Ok(());
        }
        left.iter().for_each(|&pid| kill(pid));
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn freeze_and_kill(freezer: &Path) -> anyhow::Result<()> {
    let state = freezer.join("freezer.state");
    trace::write_file(&state, "FROZEN")?;
    let deadline = Instant::now() + Duration::from_secs(1);
    while std::fs::read_to_string(&state).unwrap_or_default().trim() != "FROZEN" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    read_procs(freezer).into_iter().for_each(kill);
    // A frozen task cannot act on SIGKILL until thawed.
    trace::write_file(&state, "THAWED")
}

fn kill(pid: i32) {
    let step = Step::Kill { pid, signal: "SIGKILL".into() };
    // ESRCH: it ended on its own meanwhile, which is what we wanted.
    let _ = trace::run(step, || {
        signal::kill(Pid::from_raw(pid), Signal::SIGKILL).or_else(|e| {
            if e == nix::errno::Errno::ESRCH {
                Ok(())
            } else {
                Err(e)
            }
        })
    });
}

/// Remove the group's directory in every hierarchy, retrying EBUSY while members finish exiting.
pub fn remove(group: &Group) -> anyhow::Result<()> {
    let mut first_error = None;
    for place in group.places() {
        let dir = place.dir.clone();
        let result = trace::run_io(Step::Rmdir(dir.clone()), || {
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                match std::fs::remove_dir(&dir) {
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                    other => return other,
                }
            }
        });
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Kill what is left and remove the group (`--rm`, and the end of every run).
///
/// Most runs end with the group empty (the command and its children gone): each directory is
/// removed straight away, and the kernel's refusal (EBUSY: members left) is what sends the rest
/// of the group, from that directory on, through [`kill_all`] and [`remove`]. Nothing is read
/// before an rmdir that succeeds, and nothing left behind escapes the kill.
pub fn destroy(group: &Group) -> anyhow::Result<()> {
    for (i, place) in group.places().iter().enumerate() {
        match std::fs::remove_dir(&place.dir) {
            Ok(()) => trace::explain(&Step::Rmdir(place.dir.clone()), None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => {
                let rest = Group::new(group.name(), group.places()[i..].to_vec());
                kill_all(&rest)?;
                return remove(&rest);
            }
        }
    }
    Ok(())
}

/// How many processes of the group the OOM killer took: v2 `memory.events` `oom_kill`,
/// v1 `memory.oom_control` `oom_kill` (Linux 4.13+).
pub fn oom_kills(group: &Group) -> u64 {
    let Some(dir) = group.dir("memory") else { return 0 };
    let file = if group.is_v2("memory") { "memory.events" } else { "memory.oom_control" };
    let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
    keyed(&text, "oom_kill").unwrap_or(0)
}
