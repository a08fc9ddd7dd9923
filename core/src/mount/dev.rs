//! A minimal /dev for a new root: a tmpfs with the usual nodes bound from the host (mknod is
//! refused in user namespaces), a private devpts instance, /dev/shm and the fd links.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::mount::MsFlags;

use super::fd::{create_at, fd_path, openat_nofollow};
use super::{bind_path, mount_fs};
use crate::trace::{self, Step};

/// The device nodes a container needs, bound from the host (mknod is refused in user namespaces).
const DEV_NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// A minimal /dev: tmpfs, the six usual nodes, a private devpts, /dev/shm and the fd links.
pub(super) fn mount_dev(root: &OwnedFd, target: &OwnedFd) -> anyhow::Result<()> {
    let at = |name: &str| Path::new("/dev").join(name);
    mount_fs(
        "tmpfs",
        target,
        Path::new("/dev"),
        "tmpfs",
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        "mode=755,size=65536k",
    )?;
    // `target` still names the directory under the new tmpfs: look the name up again to get the tmpfs.
    let dev = &openat_nofollow(root, OsStr::new("dev"))
        .map_err(|e| anyhow::anyhow!("cannot open the new /dev: {}", e.desc()))?;
    for node in DEV_NODES {
        let target = create_and_open(dev, node, false)?;
        bind_path(&at(node), &target, &at(node), false)?;
    }
    let pts = create_and_open(dev, "pts", true)?;
    mount_fs(
        "devpts",
        &pts,
        &at("pts"),
        "devpts",
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=620",
    )?;
    let shm = create_and_open(dev, "shm", true)?;
    mount_fs(
        "shm",
        &shm,
        &at("shm"),
        "tmpfs",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        "mode=1777,size=65536k",
    )?;
    let base = fd_path(dev);
    for (link, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let step = Step::Symlink { target: to.into(), link: Path::new("/dev").join(link) };
        trace::run_io(step, || std::os::unix::fs::symlink(to, base.join(link)))?;
    }
    Ok(())
}

fn create_and_open(dir: &OwnedFd, name: &str, is_dir: bool) -> anyhow::Result<OwnedFd> {
    let shown = Path::new("/dev").join(name);
    create_at(dir, OsStr::new(name), is_dir, &shown)?;
    openat_nofollow(dir, OsStr::new(name)).map_err(|e| anyhow::anyhow!("cannot open {}: {}", shown.display(), e.desc()))
}
