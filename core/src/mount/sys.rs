//! A container's /sys: a fresh sysfs, read-only (Docker's default), and /sys/fs/cgroup showing
//! only the container's own groups, read-only. See sysfs(5), cgroups(7) ("cgroup namespaces").
//!
//! Rules that bite:
//! - sysfs can be mounted in a user namespace only by one that owns the network namespace too;
//!   otherwise the host's /sys is bound instead, read-only (runc and bubblewrap do the same).
//! - The host's cgroup mounts show every group on the machine, `release_agent` included. The
//!   view here binds the caller's own group directory of each hierarchy (read before unshare,
//!   when /proc/self/cgroup still names host paths), so it is the same with or without a cgroup
//!   namespace and inside a user namespace, where v1 hierarchies cannot be mounted afresh.
//!   Under `cgexec-rs`, the caller's own group is the container's. A hierarchy in which the
//!   caller sits at the root (no group of its own) is left out.
//! - The binds are made read-only with the rest (mount_setattr AT_RECURSIVE): the container
//!   reads its limits and usage but cannot change them.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use super::fd::{attach, clone_tree, create_at, open_path, openat_nofollow, reopen_same, setattr_rdonly};
use super::mount_fs;
use crate::trace::{self, Step};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The caller's own group in each hierarchy mounted under /sys/fs/cgroup, opened before unshare.
pub struct CgroupView {
    /// (name under /sys/fs/cgroup, "" for a cgroup2 mounted there; host directory; its fd).
    groups: Vec<(PathBuf, PathBuf, OwnedFd)>,
    /// Symlinks of the host's /sys/fs/cgroup (`cpu -> cpu,cpuacct`), to make the same.
    links: Vec<(PathBuf, PathBuf)>,
}

/// Before unshare: find and open the caller's own groups.
pub(super) fn open_cgroups() -> anyhow::Result<CgroupView> {
    let setup = crate::cgroup::Setup::detect()?;
    let mut groups = Vec::new();
    for h in &setup.hierarchies {
        let Ok(rel) = h.mount.strip_prefix(CGROUP_ROOT) else { continue };
        if h.own == "/" {
            // No group of its own here: the root would show every group (and v1's release_agent).
            trace::note(format!("{}: no group of its own in this hierarchy, not shown", h.mount.display()));
            continue;
        }
        let dir = h.dir_of(&h.own);
        let fd = open_path(&dir).map_err(|e| anyhow::anyhow!("cannot open {}: {e:#}", dir.display()))?;
        groups.push((rel.to_path_buf(), dir, fd));
    }
    let mut links = Vec::new();
    if !groups.iter().any(|(rel, _, _)| rel.as_os_str().is_empty()) {
        for entry in std::fs::read_dir(CGROUP_ROOT).into_iter().flatten().flatten() {
            if let Ok(to) = std::fs::read_link(entry.path()) {
                links.push((PathBuf::from(entry.file_name()), to));
            }
        }
    }
    Ok(CgroupView { groups, links })
}

/// A fresh sysfs on `target` (/sys), or the host's bound where the kernel refuses one; then
/// the cgroup view on /sys/fs/cgroup.
pub(super) fn mount_sys(root: &OwnedFd, target: &OwnedFd, view: &CgroupView, read_only: bool) -> anyhow::Result<()> {
    let shown = Path::new("/sys");
    let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if read_only {
        flags |= MsFlags::MS_RDONLY;
    }
    if let Err(e) = mount_fs("sysfs", target, shown, "sysfs", flags, "") {
        trace::note(format!("a fresh sysfs is refused here ({e:#}); binding the host's /sys instead"));
        let tree = clone_tree(&open_path(shown)?, shown, read_only)?;
        attach(&tree, target, shown)?;
    }
    mount_cgroups(root, view, read_only)
}

fn mount_cgroups(root: &OwnedFd, view: &CgroupView, read_only: bool) -> anyhow::Result<()> {
    let shown = Path::new(CGROUP_ROOT);
    let Ok(target) = openat_nofollow(root, OsStr::new("sys/fs/cgroup")) else {
        trace::note("no /sys/fs/cgroup in this sysfs: no cgroup view");
        return Ok(());
    };
    if let [(rel, host, fd)] = view.groups.as_slice() {
        if rel.as_os_str().is_empty() {
            trace::note(format!("/sys/fs/cgroup shows only {}", host.display()));
            let tree = clone_tree(&reopen_same(host, fd)?, host, read_only)?;
            return attach(&tree, &target, shown);
        }
    }
    mount_fs(
        "tmpfs",
        &target,
        shown,
        "tmpfs",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        "mode=755",
    )?;
    let dir = openat_nofollow(root, OsStr::new("sys/fs/cgroup"))
        .map_err(|e| anyhow::anyhow!("cannot open the new /sys/fs/cgroup: {}", e.desc()))?;
    for (rel, host, fd) in &view.groups {
        let at = shown.join(rel);
        trace::note(format!("{} shows only {}", at.display(), host.display()));
        create_at(&dir, rel.as_os_str(), true, &at)?;
        let mount_point = openat_nofollow(&dir, rel.as_os_str())
            .map_err(|e| anyhow::anyhow!("cannot open {}: {}", at.display(), e.desc()))?;
        let tree = clone_tree(&reopen_same(host, fd)?, host, false)?;
        attach(&tree, &mount_point, &at)?;
    }
    let base = super::fd::fd_path(&dir);
    for (name, to) in &view.links {
        let step = Step::Symlink { target: to.display().to_string(), link: shown.join(name) };
        trace::run_io(step, || std::os::unix::fs::symlink(to, base.join(name)))?;
    }
    if read_only {
        setattr_rdonly(&dir, shown)?;
    }
    Ok(())
}
