//! Which controller lives on which hierarchy, and where the caller sits in each.
//!
//! Sources: /proc/self/mountinfo (proc(5): fields, then ` - fstype source superopts`; a v1
//! mount's super options name its controllers, `rw,cpu,cpuacct` when co-mounted), the root's
//! `cgroup.controllers` for a cgroup2 mount, and /proc/self/cgroup (cgroups(7): `ID:CTRLS:PATH`,
//! `0::PATH` for v2). Three layouts follow: v1 only, v2 only ("unified"), and hybrid (v1
//! controllers plus a cgroup2 mount that holds whatever controllers v1 did not take).
//! Rules that bite: a controller is bound to one hierarchy at a time; a mount's root may be a
//! sub-path (cgroup namespaces, bind mounts), so the caller's path is taken relative to it.

use std::path::{Path, PathBuf};

/// One mounted hierarchy and the caller's place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted (`/sys/fs/cgroup/memory`, `/sys/fs/cgroup`).
    pub mount: PathBuf,
    pub v2: bool,
    /// Controllers bound to it (v2: the root's `cgroup.controllers`).
    pub controllers: Vec<String>,
    /// The caller's own cgroup, relative to the mount (`/process_api/b42a…`, `/`).
    pub own: String,
}

impl Hierarchy {
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// The directory of cgroup `path` (absolute from this hierarchy's root).
    pub fn dir_of(&self, path: &str) -> PathBuf {
        let rel = path.trim_start_matches('/');
        if rel.is_empty() {
            self.mount.clone()
        } else {
            self.mount.join(rel)
        }
    }
}

/// The host's cgroup layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    pub hierarchies: Vec<Hierarchy>,
}

/// The layout's name, as tests and `--explain` say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    V1,
    V2,
    Hybrid,
}

impl Setup {
    /// Read the running system's layout.
    pub fn detect() -> anyhow::Result<Setup> {
        let mountinfo = read("/proc/self/mountinfo")?;
        let own = read("/proc/self/cgroup")?;
        let setup =
            Setup::parse(&mountinfo, &own, |mount| std::fs::read_to_string(mount.join("cgroup.controllers")).ok());
        if setup.hierarchies.is_empty() {
            anyhow::bail!("no cgroup file system is mounted (see /proc/self/mountinfo)");
        }
        Ok(setup)
    }

    /// Build the layout from the two /proc files; `v2_controllers` reads a cgroup2 mount's list.
    pub fn parse(mountinfo: &str, proc_cgroup: &str, v2_controllers: impl Fn(&Path) -> Option<String>) -> Setup {
        let own = parse_proc_cgroup(proc_cgroup);
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        for m in parse_mountinfo(mountinfo) {
            let (v2, controllers) = match m.fstype.as_str() {
                "cgroup2" => (
                    true,
                    v2_controllers(&m.mount_point).unwrap_or_default().split_whitespace().map(String::from).collect(),
                ),
                "cgroup" => (false, v1_controllers(&m.super_options)),
                _ => continue,
            };
            if !v2 && controllers.is_empty() {
                continue; // a named hierarchy (name=systemd) carries no controller
            }
            let key: Vec<String> = if v2 { Vec::new() } else { controllers.clone() };
            let Some(path) = own.iter().find(|(c, _)| *c == key).map(|(_, p)| p.as_str()) else { continue };
            if hierarchies.iter().any(|h| h.v2 == v2 && (v2 || h.controllers == controllers)) {
                continue; // the same hierarchy mounted twice: the first mount serves
            }
            hierarchies.push(Hierarchy { mount: m.mount_point, v2, controllers, own: relative_to_root(path, &m.root) });
        }
        Setup { hierarchies }
    }

    pub fn layout(&self) -> Layout {
        match (self.hierarchies.iter().any(|h| h.v2), self.hierarchies.iter().any(|h| !h.v2)) {
            (true, false) => Layout::V2,
            (false, _) => Layout::V1,
            (true, true) => Layout::Hybrid,
        }
    }

    /// The hierarchy `controller` is bound to. `blkio` and `io` name the same controller.
    pub fn for_controller(&self, controller: &str) -> Option<&Hierarchy> {
        let alias = super::alias(controller);
        self.hierarchies.iter().find(|h| h.has(controller) || h.has(alias))
    }

    /// The unified (v2) hierarchy, if mounted.
    pub fn unified(&self) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.v2)
    }
}

fn read(path: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {path}: {}", crate::process::plain_io(&e)))
}

/// The parts of a mountinfo line the layout needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub root: String,
    pub mount_point: PathBuf,
    pub fstype: String,
    pub super_options: String,
}

/// proc(5) mountinfo: `ID PARENT MAJ:MIN ROOT POINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS`.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            Some(Mount {
                root: unescape(left.get(3)?),
                mount_point: PathBuf::from(unescape(left.get(4)?)),
                fstype: right.first()?.to_string(),
                super_options: right.get(2).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal `\040`.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // Three octal digits whose value fits a byte (\000-\377); anything else stays as it is.
        let octal = |b: &u8| (b'0'..=b'7').contains(b);
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1] <= b'3' && bytes[i + 1..i + 4].iter().all(octal) {
            out.push((bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The controllers named in a v1 mount's super options (everything but rw/ro, name=, flags).
fn v1_controllers(super_options: &str) -> Vec<String> {
    const NOT_CONTROLLERS: [&str; 6] = ["rw", "ro", "noprefix", "clone_children", "xattr", "cpuset_v2_mode"];
    let mut list: Vec<String> = super_options
        .split(',')
        .filter(|o| !o.contains('=') && !NOT_CONTROLLERS.contains(o))
        .map(String::from)
        .collect();
    list.sort();
    list
}

/// cgroups(7) /proc/PID/cgroup: `ID:CTRL,CTRL:PATH`; the v2 line has an empty list.
/// Returns (sorted controllers, path); `name=` entries are dropped from the list.
pub fn parse_proc_cgroup(text: &str) -> Vec<(Vec<String>, String)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
            let mut list: Vec<String> =
                ctrls.split(',').filter(|c| !c.is_empty() && !c.contains('=')).map(String::from).collect();
            list.sort();
            if list.is_empty() && !ctrls.is_empty() {
                return None; // name=systemd
            }
            Some((list, path.to_string()))
        })
        .collect()
}

/// The caller's path relative to where the hierarchy is mounted from.
fn relative_to_root(path: &str, root: &str) -> String {
    if root == "/" {
        return path.to_string();
    }
    match path.strip_prefix(root) {
        Some("") => "/".into(),
        Some(rest) if rest.starts_with('/') => rest.into(),
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST_MOUNTINFO: &str = include_str!("../../testdata/host-hybrid.mountinfo");
    const HOST_CGROUP: &str = include_str!("../../testdata/host-hybrid.cgroup");

    fn controllers(list: &str) -> impl Fn(&Path) -> Option<String> + '_ {
        move |_| Some(list.to_string())
    }

    #[test]
    fn the_development_host_is_hybrid_with_separate_cpu_and_cpuacct() {
        let setup = Setup::parse(HOST_MOUNTINFO, HOST_CGROUP, controllers("hugetlb\n"));
        assert_eq!(setup.layout(), Layout::Hybrid);
        let memory = setup.for_controller("memory").unwrap();
        assert_eq!(memory.mount, PathBuf::from("/sys/fs/cgroup/memory"));
        assert!(!memory.v2);
        assert!(memory.own.starts_with("/process_api/"), "{}", memory.own);
        assert_eq!(setup.for_controller("cpu").unwrap().controllers, vec!["cpu"]);
        assert_eq!(setup.for_controller("cpuacct").unwrap().own, "/");
        assert_eq!(setup.for_controller("io").unwrap().mount, PathBuf::from("/sys/fs/cgroup/blkio"));
        assert_eq!(setup.for_controller("hugetlb").unwrap().mount, PathBuf::from("/sys/fs/cgroup/unified"));
        assert!(setup.hierarchies.iter().all(|h| !h.controllers.is_empty()), "name=systemd is no controller hierarchy");
    }

    #[test]
    fn pure_v2_in_a_nested_group() {
        let mi = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
        let setup = Setup::parse(
            mi,
            "0::/user.slice/user-0.slice/session-1.scope\n",
            controllers("cpuset cpu io memory pids\n"),
        );
        assert_eq!(setup.layout(), Layout::V2);
        let h = setup.for_controller("blkio").unwrap();
        assert!(h.v2);
        assert_eq!(h.own, "/user.slice/user-0.slice/session-1.scope");
        assert_eq!(h.dir_of("/isolab/web"), PathBuf::from("/sys/fs/cgroup/isolab/web"));
        assert_eq!(h.dir_of("/"), PathBuf::from("/sys/fs/cgroup"));
    }

    #[test]
    fn pure_v1_with_cpu_and_cpuacct_co_mounted() {
        let mi = "\
25 24 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
27 25 0:24 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd
";
        let own = "4:memory:/user.slice\n3:cpu,cpuacct:/\n1:name=systemd:/user.slice/x.scope\n";
        let setup = Setup::parse(mi, own, |_| None);
        assert_eq!(setup.layout(), Layout::V1);
        let cpu = setup.for_controller("cpu").unwrap();
        assert_eq!(cpu, setup.for_controller("cpuacct").unwrap());
        assert_eq!(cpu.mount, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(setup.for_controller("memory").unwrap().own, "/user.slice");
        assert_eq!(setup.hierarchies.len(), 2);
    }

    #[test]
    fn a_mount_rooted_below_the_hierarchy_root() {
        let mi = "40 30 0:30 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n";
        let setup = Setup::parse(mi, "4:memory:/docker/abc/inner\n", |_| None);
        assert_eq!(setup.hierarchies[0].own, "/inner");
        assert_eq!(unescape(r"/a\040b"), "/a b");
    }
}
