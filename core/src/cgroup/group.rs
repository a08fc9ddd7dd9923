//! A named group: where it lives in each hierarchy, and how the tools find it again.
//!
//! Placement (DESIGN.md "Where groups go"): `--cgroup-parent PATH` is absolute from each
//! hierarchy's root or relative to the caller's own cgroup; by default the parent is `isolab`
//! beneath the caller's own cgroup, so a tool run inside a limited environment stays inside its
//! limits. Only on v2, where the caller's group is not the root and holds processes (it always
//! holds the caller), the no-internal-processes rule forbids children that use controllers, and
//! the default falls back to `/isolab` at the root. cgstat and nsenter-lite find a group by the
//! same rule, so the caller's cgroup must be the same for both (it is, in a shell).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::detect::{Hierarchy, Layout, Setup};
use super::files::read_procs;
use super::limits::Limits;
use super::{name_on, validate_name, validate_parent, CGROUP_PROCS, CONTROLLERS, DEFAULT_PARENT};

/// Controllers a new group gets for accounting even without a limit, so cgstat can read it. Not
/// the I/O controller (v1 blkio, v2 io): a group joins it only when an I/O flag asks for it (see
/// the README: v1's counters count only where a throttle rule is set, so a plain group would show
/// a false `0B / 0B`; and an I/O controller not asked for is one more that must be enabled in
/// every ancestor, where it may not be delegated).
const ACCOUNTING: [&str; 4] = ["cpu", "cpuacct", "memory", "pids"];

/// Where a new group goes in one hierarchy, decided before anything is created.
#[derive(Debug, Clone)]
pub struct Placement<'a> {
    pub hierarchy: &'a Hierarchy,
    /// The group's cgroup path (`/process_api/b4/isolab/web`).
    pub path: String,
    /// v2 only: controllers to enable in each ancestor's `cgroup.subtree_control`.
    pub enable: Vec<String>,
}

impl Placement<'_> {
    pub fn dir(&self) -> PathBuf {
        self.hierarchy.dir_of(&self.path)
    }
}

/// Where a new group `name` goes, under `parent` (or the default parent), in each hierarchy
/// that holds a controller its limits need or that accounting uses (and, on v1, the freezer,
/// to kill without races). Refuses a controller no hierarchy has; whether a directory is taken
/// already is the caller's to check, and to word.
pub fn placements<'a>(
    setup: &'a Setup,
    limits: &Limits,
    parent: Option<&str>,
    name: &str,
) -> anyhow::Result<Vec<Placement<'a>>> {
    for (file, _) in &limits.set {
        let c = file.split('.').next().unwrap_or_default();
        if setup.for_controller(c).is_none() {
            anyhow::bail!(
                "--set {file}: the {c} controller is not available on this host (no mounted hierarchy has it)"
            );
        }
    }
    let mut required: Vec<&str> = limits.controllers();
    required.extend(limits.set.iter().filter_map(|(f, _)| f.split('.').next()));
    if let Some(c) = required.iter().find(|c| setup.for_controller(c).is_none()) {
        anyhow::bail!("the {c} controller is not available on this host (no mounted hierarchy has it)");
    }
    let mut wanted: Vec<&str> = required.into_iter().chain(ACCOUNTING).collect();
    if limits.devices.is_some() {
        wanted.push("devices"); // v1 only: on v2 a program attached to the group does it
    }
    if setup.layout() != Layout::V2 {
        wanted.push("freezer");
    }
    let mut placements = Vec::new();
    for h in &setup.hierarchies {
        let mut mine: Vec<String> =
            wanted.iter().filter_map(|c| name_on(c, h.v2)).filter(|c| h.has(c)).map(String::from).collect();
        if mine.is_empty() {
            continue;
        }
        mine.sort();
        mine.dedup();
        let path = format!("{}/{name}", parent_path(h, parent).trim_end_matches('/'));
        placements.push(Placement { hierarchy: h, path, enable: if h.v2 { mine } else { Vec::new() } });
    }
    Ok(placements)
}

/// A group's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub dir: PathBuf,
    pub v2: bool,
    /// v1: the hierarchy's controllers; v2: the group's own `cgroup.controllers`.
    pub controllers: Vec<String>,
}

impl Place {
    /// The place of a group at `dir`, on a hierarchy of version 2 or 1, with `controllers`.
    pub fn new(dir: impl Into<PathBuf>, v2: bool, controllers: &[&str]) -> Place {
        Place { dir: dir.into(), v2, controllers: controllers.iter().map(|c| c.to_string()).collect() }
    }
}

/// A cgroup with the same name in one or more hierarchies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub(crate) name: String,
    pub(crate) places: Vec<Place>,
}

impl Group {
    pub fn new(name: impl Into<String>, places: Vec<Place>) -> Group {
        Group { name: name.into(), places }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// One directory per hierarchy the group is in.
    pub fn places(&self) -> &[Place] {
        &self.places
    }

    /// Where `controller`'s files live for this group: `memory`, `cpu`, `cpuacct`, `pids`,
    /// `blkio`/`io` (either name), `cpuset`, `freezer`. On v2 `cpuacct` means the group's own
    /// directory, whose `cpu.stat` counts usage with or without the cpu controller.
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        self.place(controller).map(|p| p.dir.as_path())
    }

    /// Whether `controller`'s files here are v2 (`memory.current`) or v1 (`memory.usage_in_bytes`).
    pub fn is_v2(&self, controller: &str) -> bool {
        self.place(controller).is_some_and(|p| p.v2)
    }

    pub(crate) fn place(&self, controller: &str) -> Option<&Place> {
        let alias = super::alias(controller);
        let named = |p: &&Place| p.controllers.iter().any(|c| c == controller || c == alias);
        self.places
            .iter()
            .find(|p| !p.v2 && named(p))
            .or_else(|| self.places.iter().find(|p| p.v2 && (controller == "cpuacct" || named(p))))
    }

    /// Member pids (`cgroup.procs` of every place, merged), oldest first.
    pub fn procs(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self.places.iter().flat_map(|p| read_procs(&p.dir)).collect();
        pids.sort_unstable();
        pids.dedup();
        // A process gone meanwhile sorts last.
        pids.sort_by_key(|&pid| (crate::procfs::start_time(pid).unwrap_or(u64::MAX), pid));
        pids
    }
}

/// The default parent's cgroup path, given the caller's own and whether it holds processes.
pub fn default_parent_path(own: &str, v2: bool, own_holds_processes: bool) -> String {
    if v2 && own != "/" && own_holds_processes {
        format!("/{DEFAULT_PARENT}")
    } else {
        join(own, DEFAULT_PARENT)
    }
}

/// The parent's cgroup path in hierarchy `h` (`--cgroup-parent`, or the default rule).
pub fn parent_path(h: &Hierarchy, parent: Option<&str>) -> String {
    match parent {
        Some(p) if p.starts_with('/') => normalize(p),
        Some(p) => join(&h.own, p),
        // Only the v2 rule needs to know whether our own group holds processes: reading
        // cgroup.procs (the root's lists every process) is skipped everywhere else.
        None => {
            // A user's groups go beneath the cgroup delegated to it (see delegate).
            if let Some(home) = super::delegate::home(h) {
                return join(&home, DEFAULT_PARENT);
            }
            let holds = h.v2 && h.own != "/" && !read_procs(&h.dir_of(&h.own)).is_empty();
            default_parent_path(&h.own, h.v2, holds)
        }
    }
}

fn join(base: &str, rel: &str) -> String {
    normalize(&format!("{base}/{rel}"))
}

fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

/// The place of a directory in hierarchy `h`.
pub(crate) fn place_at(h: &Hierarchy, dir: PathBuf) -> Place {
    let controllers = if h.v2 {
        std::fs::read_to_string(dir.join(CONTROLLERS))
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect()
    } else {
        h.controllers.clone()
    };
    Place { dir, v2: h.v2, controllers }
}

/// The group called `name` under `parent` (or the default parent), by DESIGN's placement rule.
/// Without `--cgroup-parent`, a group made from another cgroup is also found if its name is
/// unique among every isolab parent. An unknown name is an error that lists the names there are.
///
/// Without `--cgroup-parent` a name finds only the caller's own groups, whose directories its
/// effective uid owns: a user with a delegated subtree (systemd's user@UID.service) makes
/// `isolab/NAME` there as easily as root makes it in its own, and root's tools would otherwise
/// join, kill or report that user's processes under the name of root's container. A parent
/// named explicitly is the caller's choice, whoever owns it.
pub fn locate(name: &str, parent: Option<&str>) -> anyhow::Result<Group> {
    validate_name(name)?;
    if let Some(p) = parent {
        validate_parent(p)?;
    }
    let setup = Setup::detect()?;
    let me = nix::unistd::geteuid().as_raw();
    let trusted = |dir: &Path| parent.is_some() || owner(dir) == Some(me);
    let places: Vec<Place> = setup
        .hierarchies
        .iter()
        .map(|h| (h, h.dir_of(&parent_path(h, parent)).join(name)))
        .filter(|(_, dir)| dir.is_dir() && trusted(dir))
        .map(|(h, dir)| place_at(h, dir))
        .collect();
    if !places.is_empty() {
        return Ok(Group::new(name, places));
    }
    let known = if parent.is_some() { list(parent)? } else { list_all()? };
    if let Some(found) = known.iter().find(|g| g.name == name) {
        let (ours, theirs): (Vec<&Place>, Vec<&Place>) = found.places.iter().partition(|p| trusted(&p.dir));
        if !ours.is_empty() {
            return Ok(Group::new(name, ours.into_iter().cloned().collect()));
        }
        if let Some(other) = theirs.first() {
            let uid = owner(&other.dir).map_or("another user".to_string(), |u| format!("uid {u}"));
            anyhow::bail!(
                "no group named {name:?} of uid {me}: the one at {} belongs to {uid} (name its parent with --cgroup-parent to use it)",
                other.dir.display()
            );
        }
    }
    let names: Vec<&str> = known.iter().map(|g| g.name()).collect();
    let listing =
        if names.is_empty() { "there are none".to_string() } else { format!("there are: {}", names.join(", ")) };
    anyhow::bail!("no group named {name:?}: {listing}")
}

/// The uid that owns a cgroup directory: whoever made it (mkdir), or was handed it (chown).
fn owner(dir: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(dir).ok().map(|m| m.uid())
}

/// The groups under the isolab parent (or `--cgroup-parent`), sorted by name.
pub fn list(parent: Option<&str>) -> anyhow::Result<Vec<Group>> {
    if let Some(p) = parent {
        validate_parent(p)?;
    }
    let setup = Setup::detect()?;
    let mut found = Found::default();
    for h in &setup.hierarchies {
        found.children_of(h, &h.dir_of(&parent_path(h, parent)));
    }
    Ok(found.groups())
}

/// The directories [`list`] looks in, one per hierarchy, each with why it gave no group when it
/// gave none: missing, unreadable (the kernel's error), or empty.
pub fn parent_dirs(parent: Option<&str>) -> anyhow::Result<Vec<(PathBuf, std::io::Result<usize>)>> {
    let setup = Setup::detect()?;
    Ok(setup
        .hierarchies
        .iter()
        .map(|h| {
            let dir = h.dir_of(&parent_path(h, parent));
            let entries = std::fs::read_dir(&dir).map(|e| e.flatten().filter(|e| e.path().is_dir()).count());
            (dir, entries)
        })
        .collect())
}

/// Every group under any directory named `isolab` in any hierarchy (a few levels deep).
pub fn list_all() -> anyhow::Result<Vec<Group>> {
    const DEPTH: usize = 5;
    let setup = Setup::detect()?;
    let mut found = Found::default();
    for h in &setup.hierarchies {
        let mut level = vec![h.mount.clone()];
        for _ in 0..DEPTH {
            let mut next = Vec::new();
            for dir in &level {
                for sub in subdirs(dir) {
                    if sub.file_name().is_some_and(|n| n == DEFAULT_PARENT) {
                        found.children_of(h, &sub);
                    } else {
                        next.push(sub);
                    }
                }
            }
            level = next;
        }
    }
    Ok(found.groups())
}

/// Any cgroup by its path from the hierarchy roots (`/system.slice/cron.service`), in every
/// hierarchy where it exists; its name is the last component.
pub fn at_path(path: &str) -> anyhow::Result<Group> {
    validate_parent(path)?;
    let setup = Setup::detect()?;
    let path = normalize(path);
    let places: Vec<Place> = setup
        .hierarchies
        .iter()
        .map(|h| (h, h.dir_of(&path)))
        .filter(|(_, dir)| dir.join(CGROUP_PROCS).exists())
        .map(|(h, dir)| place_at(h, dir))
        .collect();
    if places.is_empty() {
        anyhow::bail!("no cgroup {path} in any hierarchy");
    }
    let name = path.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("/");
    Ok(Group::new(name, places))
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> =
        entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect();
    // Siblings: their bytes sort as their paths do, without comparing component by component.
    dirs.sort_unstable_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
    dirs
}

/// Groups gathered by name across hierarchies.
#[derive(Default)]
struct Found(BTreeMap<String, Vec<Place>>);

impl Found {
    fn children_of(&mut self, h: &Hierarchy, parent: &Path) {
        for dir in subdirs(parent) {
            let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(String::from) else { continue };
            if validate_name(&name).is_err() {
                continue;
            }
            let places = self.0.entry(name).or_default();
            if !places.iter().any(|p| p.dir.as_os_str() == dir.as_os_str()) {
                places.push(place_at(h, dir));
            }
        }
    }

    fn groups(self) -> Vec<Group> {
        self.0.into_iter().map(|(name, places)| Group::new(name, places)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_parent_follows_the_no_internal_processes_rule() {
        assert_eq!(default_parent_path("/", true, true), "/isolab");
        assert_eq!(default_parent_path("/user.slice/s.scope", true, true), "/isolab");
        assert_eq!(default_parent_path("/user.slice/s.scope", true, false), "/user.slice/s.scope/isolab");
        assert_eq!(default_parent_path("/process_api/b4", false, true), "/process_api/b4/isolab");
        assert_eq!(normalize("//a//b/"), "/a/b");
        assert_eq!(join("/", "isolab"), "/isolab");
    }

    #[test]
    fn controllers_resolve_to_their_place() {
        let hybrid = Group::new(
            "web",
            vec![
                Place::new("/sys/fs/cgroup/memory/isolab/web", false, &["memory"]),
                Place::new("/sys/fs/cgroup/blkio/isolab/web", false, &["blkio"]),
                Place::new("/sys/fs/cgroup/cpuacct/isolab/web", false, &["cpuacct"]),
            ],
        );
        assert_eq!(hybrid.dir("io"), Some(Path::new("/sys/fs/cgroup/blkio/isolab/web")));
        assert_eq!(hybrid.dir("cpuacct"), Some(Path::new("/sys/fs/cgroup/cpuacct/isolab/web")));
        assert!(!hybrid.is_v2("memory"));
        assert_eq!(hybrid.dir("pids"), None);

        let v2 = Group::new("web", vec![Place::new("/sys/fs/cgroup/isolab/web", true, &["memory", "pids"])]);
        assert_eq!(v2.dir("cpuacct"), Some(Path::new("/sys/fs/cgroup/isolab/web")));
        assert!(v2.is_v2("memory"));
        assert_eq!(v2.dir("blkio"), None, "io is not enabled for this group");
    }
}
