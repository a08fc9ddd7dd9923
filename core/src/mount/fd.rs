//! The new mount API and race-free path resolution: open_tree(2) clones, move_mount(2),
//! mount_setattr(2), and openat2(2) with RESOLVE_IN_ROOT for mount targets. nix wraps openat2,
//! rustix open_tree and move_mount; mount_setattr is a raw syscall on libc's `mount_attr`.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use rustix::mount::{MoveMountFlags, OpenTreeFlags};

use super::made::Made;
use crate::trace::{self, Step};

/// rustix's errno as nix's, which `trace` takes.
fn errno(e: rustix::io::Errno) -> Errno {
    Errno::from_raw(e.raw_os_error())
}

pub(super) fn open_path(p: &Path) -> anyhow::Result<OwnedFd> {
    nix::fcntl::open(p, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| match e {
        Errno::EINVAL if p.as_os_str().as_encoded_bytes().contains(&0) => {
            anyhow::anyhow!("path '{}' contains a NUL byte", p.display())
        }
        e => anyhow::anyhow!("{}", e.desc()),
    })
}

/// Open `path` again in the new mount namespace (open_tree clones only mounts of the caller's
/// own namespace) and make sure it is still the object checked before unshare.
pub(super) fn reopen_same(path: &Path, checked: &OwnedFd) -> anyhow::Result<OwnedFd> {
    // In a new user namespace this runs as the mapped root: a source the host's root could
    // open may be out of its reach (a 0700 directory on the way, say).
    let fd =
        open_path(path).with_context(|| format!("cannot open {} from inside the new namespaces", path.display()))?;
    same_object(path, checked, fd)
}

/// `fd` if it is the object `checked` was (same device and inode), else a refusal.
pub(super) fn same_object(path: &Path, checked: &OwnedFd, fd: OwnedFd) -> anyhow::Result<OwnedFd> {
    let (a, b) = (nix::sys::stat::fstat(checked)?, nix::sys::stat::fstat(&fd)?);
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
        bail!("{} changed while {} was starting: refused", path.display(), crate::exit::tool());
    }
    Ok(fd)
}

/// Open `path` (absolute, as the caller resolved it) in the root of process `pid`, as the
/// calling process: the object in that process's mount namespace, reached with our credentials.
/// Symlinks met on the way resolve inside that root (RESOLVE_IN_ROOT), never in ours.
pub fn open_in_root_of(pid: i32, path: &Path) -> anyhow::Result<OwnedFd> {
    let root_dir = PathBuf::from(format!("/proc/{pid}/root"));
    let rel = path.strip_prefix("/").unwrap_or(path);
    trace::run(Step::Open(root_dir.join(rel)), || {
        let root = nix::fcntl::open(&root_dir, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?;
        let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
        let how = OpenHow::new().flags(OFlag::O_PATH | OFlag::O_CLOEXEC).resolve(ResolveFlag::RESOLVE_IN_ROOT);
        nix::fcntl::openat2(&root, rel, how)
    })
}

/// `/proc/self/fd/N`: a path through which mount(2) reaches exactly the object `fd` is.
pub(super) fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// A detached copy of the tree at `fd` (open_tree(OPEN_TREE_CLONE|AT_RECURSIVE)), read-only if asked.
pub(super) fn clone_tree(fd: &OwnedFd, shown: &Path, read_only: bool) -> anyhow::Result<OwnedFd> {
    let flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::AT_RECURSIVE
        | OpenTreeFlags::AT_EMPTY_PATH
        | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    // The empty path with AT_EMPTY_PATH names `fd` itself.
    let tree =
        trace::run(Step::OpenTree(shown.to_path_buf()), || rustix::mount::open_tree(fd, c"", flags).map_err(errno))?;
    if read_only {
        setattr_rdonly(&tree, shown)?;
    }
    Ok(tree)
}

pub(super) fn setattr_rdonly(fd: &OwnedFd, shown: &Path) -> anyhow::Result<()> {
    setattr(fd, shown, true)
}

/// mount_setattr(2): make the tree at `fd` read-only, or (`read_only` false) writable again.
pub(super) fn setattr(fd: &OwnedFd, shown: &Path, read_only: bool) -> anyhow::Result<()> {
    let rdonly = libc::MOUNT_ATTR_RDONLY;
    let (set, clr) = if read_only { (rdonly, 0) } else { (0, rdonly) };
    let attr = libc::mount_attr { attr_set: set, attr_clr: clr, propagation: 0, userns_fd: 0 };
    let flags = libc::AT_RECURSIVE | libc::AT_EMPTY_PATH;
    let step = Step::MountSetattr { path: shown.to_path_buf(), attr: "MOUNT_ATTR_RDONLY", clear: !read_only };
    trace::run(step, || {
        // SAFETY: attr is a mount_attr of the size passed; fd is open; the empty path with
        // AT_EMPTY_PATH names fd itself. (Neither nix nor rustix wraps mount_setattr.)
        let r = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                fd.as_raw_fd(),
                c"".as_ptr(),
                flags,
                &attr as *const libc::mount_attr,
                std::mem::size_of::<libc::mount_attr>(),
            )
        };
        Errno::result(r).map(drop)
    })
}

pub(super) fn set_read_only(root: &OwnedFd, shown: &Path) -> anyhow::Result<()> {
    setattr_rdonly(root, shown)
}

/// Attach a detached tree onto the object `target` refers to (move_mount).
pub(super) fn attach(tree: &OwnedFd, target: &OwnedFd, shown: &Path) -> anyhow::Result<()> {
    let step = Step::MoveMount { to: shown.to_path_buf() };
    // Empty paths name the descriptors themselves.
    let flags = MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH;
    trace::run(step, || rustix::mount::move_mount(tree, c"", target, c"", flags).map_err(errno))
}

/// Resolve `path` under `root` without leaving it; create it (a directory or an empty file)
/// if missing and `may_create`, and note what was made in `made`. The last component may not be
/// a symlink: a mount target fails closed.
pub(super) fn target(
    root: &OwnedFd,
    path: &Path,
    is_dir: bool,
    may_create: bool,
    made: &mut Made,
) -> anyhow::Result<OwnedFd> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    if rel.as_os_str().is_empty() {
        return dup(root);
    }
    let parent = match rel.parent() {
        Some(p) if !p.as_os_str().is_empty() => target(root, &Path::new("/").join(p), true, may_create, made)?,
        _ => dup(root)?,
    };
    let name = rel.file_name().ok_or_else(|| anyhow::anyhow!("bad mount target '{}'", path.display()))?;
    match openat_nofollow(&parent, name) {
        Ok(fd) => Ok(fd),
        Err(Errno::ELOOP) => {
            bail!("mount target {} is a symlink: refused, it could lead outside the new root", path.display())
        }
        Err(Errno::ENOENT) if !may_create => bail!(
            "mount target {} does not exist: {} makes mount points only inside --rootfs DIR or on a --tmpfs, \
             never on the host's own file system (create it first)",
            path.display(),
            crate::exit::tool()
        ),
        Err(Errno::ENOENT) => {
            create_at(&parent, name, is_dir, path)?;
            made.add(&parent, name, is_dir, path);
            openat_nofollow(&parent, name)
                .map_err(|e| anyhow::anyhow!("cannot open mount target {}: {}", path.display(), e.desc()))
        }
        Err(e) => bail!("cannot open mount target {}: {}", path.display(), e.desc()),
    }
}

pub(super) fn dup(fd: &OwnedFd) -> anyhow::Result<OwnedFd> {
    Ok(fd.try_clone()?)
}

/// openat2(O_PATH|O_NOFOLLOW, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) of one name in `dir`.
pub(super) fn openat_nofollow(dir: &OwnedFd, name: &OsStr) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = nix::fcntl::openat2(dir, name, how)?;
    // O_PATH|O_NOFOLLOW opens a symlink itself rather than failing: refuse it here.
    let st = nix::sys::stat::fstat(&fd)?;
    if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        return Err(Errno::ELOOP);
    }
    Ok(fd)
}

pub(super) fn create_at(dir: &OwnedFd, name: &OsStr, is_dir: bool, shown: &Path) -> anyhow::Result<()> {
    // O_PATH fds cannot be used for mkdirat/openat creation directly: go through /proc/self/fd.
    let dir_path = fd_path(dir).join(name);
    let step = Step::MountPoint { path: shown.to_path_buf(), dir: is_dir };
    if is_dir {
        trace::run_io(step, || std::fs::create_dir(&dir_path))
    } else {
        trace::run_io(step, || std::fs::OpenOptions::new().write(true).create_new(true).open(&dir_path).map(drop))
    }
}
