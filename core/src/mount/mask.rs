//! Masked and read-only paths: the parts of /proc and /sys a container must not read or write
//! (Docker's maskedPaths and readonlyPaths). See proc(5), mount(2), open_tree(2).
//!
//! Rules that bite:
//! - A masked file gets /dev/null bound over it (reads are empty, writes vanish); a masked
//!   directory an empty read-only tmpfs; a path this kernel lacks is skipped (/proc/timer_stats
//!   went away in Linux 4.11).
//! - A read-only path is bound onto itself and the copy made read-only (open_tree, then
//!   mount_setattr): the rest of /proc stays writable where the process may write.
//! - Over mounts like these, only the kernel's lock keeps a payload with CAP_SYS_ADMIN in its
//!   own user namespace from unmounting them (see lock.rs); without a user namespace, a payload
//!   without CAP_SYS_ADMIN and with a seccomp filter cannot mount or unmount at all.
//! - Targets are resolved inside the new root without following a symlink at the end, like
//!   every other mount target of nsexec.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::bail;
use nix::errno::Errno;
use nix::mount::MsFlags;

use super::fd::{attach, clone_tree, openat_nofollow};
use super::{bind_path, mount_fs};
use crate::trace;

/// Docker's masked paths (moby oci/defaults.go), as issue 16 lists them.
pub const DOCKER_MASKED: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const DOCKER_READONLY: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// `path` under `root`, or None when it does not exist.
fn lookup(root: &OwnedFd, path: &Path) -> anyhow::Result<Option<OwnedFd>> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    match openat_nofollow(root, OsStr::new(rel)) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(Errno::ELOOP) => {
            bail!("{} is a symlink in the new root: refused, a mask must not land elsewhere", path.display())
        }
        Err(e) => bail!("cannot open {} in the new root: {}", path.display(), e.desc()),
    }
}

/// Mask each path of `masked` and make each of `readonly` read-only, inside `root`.
pub(super) fn apply(root: &OwnedFd, masked: &[PathBuf], readonly: &[PathBuf]) -> anyhow::Result<()> {
    for path in masked {
        let Some(fd) = lookup(root, path)? else {
            trace::note(format!("mask {}: not on this kernel, nothing to hide", path.display()));
            continue;
        };
        if nix::sys::stat::fstat(&fd)?.st_mode & libc::S_IFMT == libc::S_IFDIR {
            let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            mount_fs("tmpfs", &fd, path, "tmpfs", flags, "mode=555")?;
        } else {
            bind_path(Path::new("/dev/null"), &fd, path, false)?;
        }
    }
    for path in readonly {
        let Some(fd) = lookup(root, path)? else {
            trace::note(format!("read-only {}: not on this kernel, skipped", path.display()));
            continue;
        };
        let copy = clone_tree(&fd, path, true)?;
        attach(&copy, &fd, path)?;
    }
    Ok(())
}
