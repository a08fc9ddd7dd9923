//! The new mount API and race-free path resolution: open_tree(2) clones, move_mount(2),
//! mount_setattr(2), and openat2(2) with RESOLVE_IN_ROOT for mount targets. libc has the
//! syscall numbers but not (in every version) the structs, so those are spelled out here.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use nix::errno::Errno;

use super::made::Made;
use crate::trace::{self, Step};

pub(super) fn cstr(p: &Path) -> anyhow::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| anyhow::anyhow!("path '{}' contains a NUL byte", p.display()))
}

pub(super) fn open_path(p: &Path) -> anyhow::Result<OwnedFd> {
    let c = cstr(p)?;
    // SAFETY: a valid C string; the returned fd is owned below.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    let fd = Errno::result(fd).map_err(|e| anyhow::anyhow!("{}", e.desc()))?;
    // SAFETY: fd was just returned by open and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
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
        bail!("{} changed while nsexec was starting: refused", path.display());
    }
    Ok(fd)
}

/// Open `path` (absolute, as the caller resolved it) in the root of process `pid`, as the
/// calling process: the object in that process's mount namespace, reached with our credentials.
/// Symlinks met on the way resolve inside that root (RESOLVE_IN_ROOT), never in ours.
pub fn open_in_root_of(pid: i32, path: &Path) -> anyhow::Result<OwnedFd> {
    let root_dir = PathBuf::from(format!("/proc/{pid}/root"));
    let shown = root_dir.join(path.strip_prefix("/").unwrap_or(path));
    trace::run(Step::Open(shown), || {
        let flags = nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC;
        let root = nix::fcntl::open(&root_dir, flags, nix::sys::stat::Mode::empty())?;
        let rel = path.strip_prefix("/").unwrap_or(path);
        let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
        let c = CString::new(rel.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
        let how = OpenHow { flags: (libc::O_PATH | libc::O_CLOEXEC) as u64, mode: 0, resolve: RESOLVE_IN_ROOT };
        // SAFETY: how is a valid open_how of the size passed; c is a valid C string.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        // SAFETY: on success the kernel returned a new fd that we now own.
        Errno::result(r).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    })
}

/// `/proc/self/fd/N`: a path through which mount(2) reaches exactly the object `fd` is.
pub(super) fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

const OPEN_TREE_CLONE: libc::c_uint = 1;

const AT_RECURSIVE: libc::c_uint = 0x8000;

const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

const MOUNT_ATTR_RDONLY: u64 = 0x1;

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;

const RESOLVE_IN_ROOT: u64 = 0x10;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// A detached copy of the tree at `fd` (open_tree(OPEN_TREE_CLONE|AT_RECURSIVE)), read-only if asked.
pub(super) fn clone_tree(fd: &OwnedFd, shown: &Path, read_only: bool) -> anyhow::Result<OwnedFd> {
    let flags = OPEN_TREE_CLONE | AT_RECURSIVE | libc::AT_EMPTY_PATH as libc::c_uint | libc::O_CLOEXEC as libc::c_uint;
    let step = Step::Call(format!("open_tree({:?}, OPEN_TREE_CLONE|AT_RECURSIVE)", shown.display().to_string()));
    let tree = trace::run(step, || {
        // SAFETY: fd is open; the empty path with AT_EMPTY_PATH names fd itself.
        let r = unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) };
        // SAFETY: on success the kernel returned a new fd that we now own.
        Errno::result(r).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    })?;
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
    let (set, clr, verb) = if read_only { (MOUNT_ATTR_RDONLY, 0, "") } else { (0, MOUNT_ATTR_RDONLY, "clear ") };
    let attr = MountAttr { attr_set: set, attr_clr: clr, propagation: 0, userns_fd: 0 };
    let flags = AT_RECURSIVE | libc::AT_EMPTY_PATH as libc::c_uint;
    let step =
        Step::Call(format!("mount_setattr({:?}, AT_RECURSIVE, {verb}MOUNT_ATTR_RDONLY)", shown.display().to_string()));
    trace::run(step, || {
        // SAFETY: attr is a valid mount_attr of the size passed; fd is open.
        let r = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                fd.as_raw_fd(),
                c"".as_ptr(),
                flags,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
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
    let step = Step::Call(format!("move_mount(tree, {:?})", shown.display().to_string()));
    trace::run(step, || {
        let flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH;
        // SAFETY: both fds are open; empty paths name the fds themselves.
        let r = unsafe {
            libc::syscall(libc::SYS_move_mount, tree.as_raw_fd(), c"".as_ptr(), target.as_raw_fd(), c"".as_ptr(), flags)
        };
        Errno::result(r).map(drop)
    })
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
            "mount target {} does not exist: nsexec makes mount points only inside --rootfs DIR or on a --tmpfs, \
             never on the host's own file system (create it first)",
            path.display()
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
    let c = CString::new(name.as_bytes()).map_err(|_| Errno::EINVAL)?;
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: how is a valid open_how of the size passed; c is a valid C string.
    let r = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    let fd = Errno::result(r)? as RawFd;
    // SAFETY: the kernel returned a new fd that we now own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
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
