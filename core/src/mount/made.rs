//! The mount points a set-up made, so that a set-up that fails, or a command that cannot be run,
//! leaves the root file system as it found it (issue 14.8: a bind that failed left an empty file
//! in the rootfs, an empty rootfs got dev/ and proc/ before the 127).
//!
//! Rules that bite:
//! - A mount point cannot be removed while something is mounted on it in our namespace (EBUSY):
//!   detach first (MNT_DETACH also takes what is mounted below it), newest first.
//! - Removing goes by descriptor (fchdir to the parent, umount2 and unlinkat relative to it),
//!   never by a path through /proc, which may itself be among what is undone.
//! - --read-only made the new root read-only: that is cleared before anything is removed.
//! - After the command's credentials are applied (a non-root --user-id) the kernel may no longer
//!   let us: undoing is best effort, and says nothing when refused.

use std::ffi::{CString, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::mount::MntFlags;
use nix::unistd::UnlinkatFlags;

use super::fd::{open_path, setattr};
use crate::trace::{self, Step};

/// One mount point made: the directory it is in, its name, and what it is.
struct Point {
    parent: OwnedFd,
    name: OsString,
    is_dir: bool,
    shown: PathBuf,
}

/// Every mount point a set-up made, in the order they were made.
#[derive(Default)]
pub struct Made {
    points: Vec<Point>,
    /// The new root, when --read-only made it read-only.
    read_only_root: Option<OwnedFd>,
}

impl Made {
    pub(super) fn add(&mut self, parent: &OwnedFd, name: &std::ffi::OsStr, is_dir: bool, shown: &std::path::Path) {
        if let Ok(parent) = parent.try_clone() {
            self.points.push(Point { parent, name: name.to_os_string(), is_dir, shown: shown.to_path_buf() });
        }
    }

    pub(super) fn made_read_only(&mut self, root: &OwnedFd) {
        self.read_only_root = root.try_clone().ok();
    }

    /// Remove every mount point made, newest first, after detaching what is mounted on it.
    pub fn undo(self) {
        if self.points.is_empty() {
            return;
        }
        if let Some(root) = &self.read_only_root {
            let _ = setattr(root, std::path::Path::new("/ (the new root)"), false);
        }
        let cwd = open_path(std::path::Path::new("."));
        for p in self.points.into_iter().rev() {
            remove(&p);
        }
        if let Ok(cwd) = cwd {
            let _ = nix::unistd::fchdir(&cwd);
        }
    }
}

fn remove(p: &Point) {
    let Ok(name) = CString::new(p.name.as_bytes()) else { return };
    if nix::unistd::fchdir(&p.parent).is_err() {
        return;
    }
    let detach = MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW;
    // Each round detaches the topmost mount there; EINVAL: nothing (more) is mounted on it.
    for _ in 0..64 {
        if nix::mount::umount2(name.as_c_str(), detach).is_err() {
            break;
        }
        trace::explain(&Step::Umount(p.shown.clone()), None);
    }
    let (flag, step) = if p.is_dir {
        (UnlinkatFlags::RemoveDir, Step::Rmdir(p.shown.clone()))
    } else {
        (UnlinkatFlags::NoRemoveDir, Step::Unlink(p.shown.clone()))
    };
    if nix::unistd::unlinkat(&p.parent, name.as_c_str(), flag).is_ok() {
        trace::explain(&step, None);
    }
}
