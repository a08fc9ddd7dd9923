//! Groups for a user who is not root: beneath a delegated cgroup-v2 subtree, as systemd's
//! `Delegate=yes` gives one to rootless podman. See Documentation/admin-guide/cgroup-v2.rst
//! "Delegation" and "No Internal Process Constraint", systemd.io/CGROUP_DELEGATION.
//!
//! Rules that bite:
//! - A cgroup is delegated to a user when the user owns its directory, its `cgroup.procs` and
//!   its `cgroup.subtree_control` (systemd chowns those, and `cgroup.threads`). The user may then
//!   make children, hand them the controllers the cgroup was given (`cgroup.controllers`), set
//!   their limits, and move processes between groups below it: a move needs write access to
//!   `cgroup.procs` of the common ancestor of the source and the destination.
//! - No internal processes: a delegated group that holds processes (the user's shell, the tool
//!   itself) cannot hand controllers to children. Its processes move into a leaf of their own
//!   first (`LEAF`), and only if every one of them is the caller's: the kernel would let us move
//!   another user's process that sits there, but it is not ours to move.
//! - Later runs from that shell sit in the leaf: the delegated group is then the leaf's parent,
//!   so every tool finds the same `isolab` parent (cgstat, nsenter-lite --container).
//! - cgroup v1 has no safe delegation, and hybrid hosts keep the controllers on v1: there, and
//!   where nothing is delegated, limits need root.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::bail;

use super::detect::Hierarchy;
use super::files::read_procs;
use super::group::Placement;
use super::lifecycle::join_dir;
use super::limits::Limits;
use super::{name_on, CGROUP_PROCS, CONTROLLERS, SUBTREE_CONTROL};
use crate::{procfs, trace};

/// The leaf a delegated group's own processes move into, so that it may hand out controllers.
pub const LEAF: &str = "caller";

/// The one line for a caller who gets no groups of its own.
const NEED: &str = "cgroup limits need root or a delegated cgroup-v2 subtree";

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The delegated cgroup (a path in `h`) the caller's groups go beneath: its own cgroup when it
/// owns it, or the parent of the leaf it was moved into. None for root, on v1, or undelegated.
pub fn home(h: &Hierarchy) -> Option<String> {
    if !h.v2 || euid() == 0 {
        return None;
    }
    let own = h.own.trim_end_matches('/');
    let candidate = match own.strip_suffix(&format!("/{LEAF}")) {
        Some(parent) if owned(&h.dir_of(parent)) => parent,
        _ => own,
    };
    (!candidate.is_empty() && owned(&h.dir_of(candidate))).then(|| candidate.to_string())
}

/// Whether the caller owns the directory and the two files that make a delegation.
fn owned(dir: &Path) -> bool {
    let me = euid();
    [dir.to_path_buf(), dir.join(CGROUP_PROCS), dir.join(SUBTREE_CONTROL)]
        .iter()
        .all(|p| std::fs::metadata(p).is_ok_and(|m| m.uid() == me))
}

/// Processes of a delegated group to move into its leaf before it hands out controllers.
#[derive(Debug)]
pub struct Room {
    dir: PathBuf,
}

/// For a caller who is not root, before anything is made: each placement must lie in a subtree
/// the caller may write (a delegated v2 group), and only controllers that group was given are
/// enabled below it (a limit's controller missing is refused, by name). Returns the group whose
/// processes must move into its leaf first, if any (see [`Room::make`]).
pub fn admit(placements: &mut [Placement], limits: &Limits) -> anyhow::Result<Option<Room>> {
    if euid() == 0 {
        return Ok(None);
    }
    let mut room = None;
    let mut on_v1: Vec<String> = Vec::new();
    for t in placements.iter_mut() {
        let h = t.hierarchy;
        let beneath = |home: &String| t.path.starts_with(&format!("{}/", home.trim_end_matches('/')));
        let Some(home) = home(h).filter(beneath) else {
            if writable(&t.dir()) {
                continue; // an administrator gave this subtree to the caller by hand
            }
            if !h.v2 {
                on_v1.extend(h.controllers.iter().cloned());
                continue;
            }
            let own = h.dir_of(&h.own);
            let owner = std::fs::metadata(&own).map(|m| m.uid()).unwrap_or(0);
            bail!(
                "{NEED}: {} belongs to uid {owner}, not to uid {} (systemd: systemd-run --user --scope -p Delegate=yes ...)",
                own.display(),
                euid()
            );
        };
        let home_dir = h.dir_of(&home);
        let given = read_list(&home_dir.join(CONTROLLERS));
        for c in limits.controllers().into_iter().filter_map(|c| name_on(c, true)) {
            if !given.iter().any(|g| g == c) {
                bail!(
                    "the {c} controller is not delegated to {} (its {CONTROLLERS}: {}): ask for Delegate={c}",
                    home_dir.display(),
                    given.join(" ")
                );
            }
        }
        t.enable.retain(|c| given.contains(c));
        if !read_procs(&home_dir).is_empty() {
            room = Some(check_own_processes(&home_dir)?);
        }
    }
    if !on_v1.is_empty() {
        let verb = if on_v1.len() == 1 { "is" } else { "are" };
        bail!("{NEED}: {} {verb} on cgroup v1 here, which is not delegated to users", on_v1.join(", "));
    }
    Ok(room)
}

fn read_list(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file).unwrap_or_default().split_whitespace().map(String::from).collect()
}

/// The nearest existing directory at or above `dir` is writable by us.
fn writable(dir: &Path) -> bool {
    let existing = dir.ancestors().find(|d| d.is_dir());
    existing.is_some_and(|d| nix::unistd::access(d, nix::unistd::AccessFlags::W_OK).is_ok())
}

/// Every process in the delegated group must be the caller's (real uid) to be moved.
fn check_own_processes(dir: &Path) -> anyhow::Result<Room> {
    let me = nix::unistd::getuid().as_raw();
    for pid in read_procs(dir) {
        let uid = procfs::status(pid).ok().and_then(|s| s.uid);
        if uid.is_some_and(|u| u != me) {
            bail!(
                "{} holds process {pid} of uid {}: cgroup v2 gives controllers only to a group without processes, and another user's are not ours to move into {LEAF}/",
                dir.display(),
                uid.unwrap_or_default()
            );
        }
    }
    Ok(Room { dir: dir.to_path_buf() })
}

impl Room {
    /// Move the delegated group's processes (all the caller's) into its leaf, until none is
    /// left: one may fork meanwhile, so read again after each round.
    pub fn make(&self) -> anyhow::Result<()> {
        let leaf = self.dir.join(LEAF);
        trace::note(format_args!(
            "{} holds processes: moving them into {LEAF}/ (no internal processes)",
            self.dir.display()
        ));
        if !leaf.is_dir() {
            trace::mkdir(&leaf)?;
        }
        for _ in 0..10 {
            let left = read_procs(&self.dir);
            if left.is_empty() {
                return Ok(());
            }
            for pid in left {
                // ESRCH: it ended meanwhile, which is as good as moved.
                if let Err(e) = join_dir(&leaf, pid) {
                    if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                        return Err(e);
                    }
                }
            }
        }
        bail!("{} keeps getting new processes: cannot empty it into {LEAF}/", self.dir.display())
    }
}

/// For a user without groups of its own, what is missing, in words (None for root, or where a
/// subtree is delegated): cgstat adds it to an empty listing's line.
pub fn user_lacks() -> Option<String> {
    if euid() == 0 {
        return None;
    }
    let setup = super::Setup::detect().ok()?;
    let h = setup.for_controller("memory").or(setup.hierarchies.first())?;
    if home(h).is_some() {
        return None;
    }
    Some(if h.v2 {
        format!("{NEED}, and {} is not delegated to uid {}", h.dir_of(&h.own).display(), euid())
    } else {
        format!("{NEED}, and memory is on cgroup v1 here")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hierarchy(own: &str, v2: bool) -> Hierarchy {
        Hierarchy { mount: "/sys/fs/cgroup".into(), v2, controllers: vec!["memory".into()], own: own.into() }
    }

    #[test]
    fn no_home_on_v1_or_in_a_group_of_roots() {
        assert_eq!(home(&hierarchy("/", false)), None);
        // The test runner's own v2 cgroup on the host or in the VM belongs to root.
        if euid() != 0 {
            assert_eq!(home(&hierarchy("/", true)), None);
        }
    }
}
