//! Mounts for a new world: propagation, a new root, binds, tmpfs, /proc and a minimal /dev.
//! See mount_namespaces(7), pivot_root(2), open_tree(2), move_mount(2), mount_setattr(2), openat2(2).
//!
//! Rules that bite:
//! - Make the tree private (recursively) first, or every mount below propagates to the host.
//! - Sources are checked before unshare, opened again inside the new namespace (open_tree clones
//!   only mounts of the caller's own namespace), compared by device and inode, and cloned with
//!   open_tree(OPEN_TREE_CLONE) before any mount of ours: the clone is the tree as it was, so
//!   later mounts (ours, or a racing process's symlink swap) cannot change what gets attached.
//! - Mount targets inside the new root are resolved with openat2(RESOLVE_IN_ROOT) and the last
//!   component must not be a symlink: a rootfs cannot point a mount at a host path (runc
//!   CVE-2021-30465, CVE-2025-31133 family). Mounts go onto the resolved fd, never a re-walked path.
//! - proc can be mounted only by a process in a PID namespace whose owning user namespace it
//!   has CAP_SYS_ADMIN in; otherwise bind the host's /proc (as bubblewrap does).
//! - pivot_root(".", ".") stacks the old root on the new one; a lazy unmount then detaches it.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context as _};
use nix::errno::Errno;
use nix::mount::MsFlags;

use crate::trace::{self, Step};

/// Mount propagation of the new mount namespace (`--propagation`, as util-linux unshare).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Private,
    Slave,
    Shared,
    Unchanged,
}

impl Propagation {
    pub fn parse(s: &str) -> anyhow::Result<Propagation> {
        Ok(match s {
            "private" => Propagation::Private,
            "slave" => Propagation::Slave,
            "shared" => Propagation::Shared,
            "unchanged" => Propagation::Unchanged,
            _ => bail!("invalid --propagation '{s}': expected private, slave, shared or unchanged"),
        })
    }
}

/// `--bind SRC:DST[:ro]` (Docker `-v`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub source: PathBuf,
    pub dest: PathBuf,
    pub read_only: bool,
}

impl Bind {
    pub fn parse(spec: &str) -> anyhow::Result<Bind> {
        let parts: Vec<&str> = spec.split(':').collect();
        let (src, dst, mode) = match parts.as_slice() {
            [s, d] => (*s, *d, None),
            [s, d, m] => (*s, *d, Some(*m)),
            _ => bail!("invalid --bind '{spec}': expected SRC:DST[:ro|rw]"),
        };
        let read_only = match mode {
            None | Some("rw") => false,
            Some("ro") => true,
            Some(m) => bail!("invalid --bind '{spec}': unknown mode '{m}' (ro or rw)"),
        };
        if src.is_empty() || !dst.starts_with('/') {
            bail!("invalid --bind '{spec}': the source must be given and the destination must be absolute");
        }
        Ok(Bind { source: src.into(), dest: clean_dest(dst, "--bind")?, read_only })
    }
}

/// An absolute path inside the new root, without `..` (which could climb out of it).
pub fn clean_dest(dst: &str, flag: &str) -> anyhow::Result<PathBuf> {
    let path = Path::new(dst);
    if !path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir)) {
        bail!("invalid {flag} destination '{dst}': must be an absolute path without '..'");
    }
    Ok(path.to_path_buf())
}

/// Everything nsexec mounts, as asked on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub propagation: Propagation,
    pub rootfs: Option<PathBuf>,
    pub binds: Vec<Bind>,
    pub tmpfs: Vec<PathBuf>,
    pub read_only: bool,
    /// Where to mount a fresh proc (`--mount-proc[=DIR]`), inside the new root.
    pub proc: Option<PathBuf>,
    /// A minimal /dev in the new root (default with `--rootfs`).
    pub dev: bool,
}

/// The sources of a [`Plan`], opened (O_PATH) before any namespace or mount exists.
pub struct Opened {
    plan: Plan,
    rootfs: Option<OwnedFd>,
    binds: Vec<OwnedFd>,
}

/// Check and open every source: a missing rootfs or bind source fails here, before anything changes.
pub fn open_sources(plan: &Plan) -> anyhow::Result<Opened> {
    let rootfs = match &plan.rootfs {
        Some(dir) => {
            if !dir.is_dir() {
                bail!("invalid --rootfs '{}': not a directory", dir.display());
            }
            Some(open_path(dir).with_context(|| format!("invalid --rootfs '{}'", dir.display()))?)
        }
        None => None,
    };
    let binds = plan
        .binds
        .iter()
        .map(|b| open_path(&b.source).with_context(|| format!("invalid --bind source '{}'", b.source.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Opened { plan: plan.clone(), rootfs, binds })
}

fn cstr(p: &Path) -> anyhow::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| anyhow::anyhow!("path '{}' contains a NUL byte", p.display()))
}

fn open_path(p: &Path) -> anyhow::Result<OwnedFd> {
    let c = cstr(p)?;
    // SAFETY: a valid C string; the returned fd is owned below.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    let fd = Errno::result(fd).map_err(|e| anyhow::anyhow!("{}", e.desc()))?;
    // SAFETY: fd was just returned by open and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Open `path` again in the new mount namespace (open_tree clones only mounts of the caller's
/// own namespace) and make sure it is still the object checked before unshare.
fn reopen_same(path: &Path, checked: &OwnedFd) -> anyhow::Result<OwnedFd> {
    // In a new user namespace this runs as the mapped root: a source the host's root could
    // open may be out of its reach (a 0700 directory on the way, say).
    let fd =
        open_path(path).with_context(|| format!("cannot open {} from inside the new namespaces", path.display()))?;
    let (a, b) = (nix::sys::stat::fstat(checked)?, nix::sys::stat::fstat(&fd)?);
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
        bail!("{} changed while nsexec was starting: refused", path.display());
    }
    Ok(fd)
}

/// `/proc/self/fd/N`: a path through which mount(2) reaches exactly the object `fd` is.
fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Set up the new mount namespace. Runs in the child, after unshare(CLONE_NEWNS).
/// `new_pid_ns` says whether a fresh proc will show our own PID namespace.
pub fn setup(opened: Opened, new_pid_ns: bool) -> anyhow::Result<()> {
    let plan = &opened.plan;
    set_propagation(plan.propagation)?;
    let root_tree = match (&opened.rootfs, &plan.rootfs) {
        (Some(fd), Some(dir)) => Some(clone_tree(&reopen_same(dir, fd)?, dir, false)?),
        _ => None,
    };
    let bind_trees = opened
        .binds
        .iter()
        .zip(&plan.binds)
        .map(|(fd, b)| clone_tree(&reopen_same(&b.source, fd)?, &b.source, b.read_only))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let staging = Path::new("/tmp");
    let root = match root_tree {
        Some(tree) => {
            trace::note("the new root waits on /tmp of the new mount namespace until pivot_root; paths below are inside it");
            attach(&tree, &open_path(staging)?, staging)?;
            open_path(staging)?
        }
        None => open_path(Path::new("/"))?,
    };
    // Mount points in the root itself are made while it is still writable; then it turns
    // read-only; then the mounts go on top (they keep their own flags, as Docker's volumes do
    // with --read-only). A target under one of our own file systems (a bind into a --tmpfs) is
    // made when its turn comes, on that file system.
    let order = mount_order(plan);
    // Mount points are made only in a root of the user's (never the host's own file system,
    // which `--rootfs /` also is) or on a file system mounted here.
    let own_root = plan.rootfs.as_deref().is_some_and(|r| r.canonicalize().map_or(true, |r| r != Path::new("/")));
    let on_own_fs = |i: usize| order[..i].iter().any(|earlier| earlier.is_fs() && order[i].dest.starts_with(&earlier.dest));
    if plan.read_only {
        for i in (0..order.len()).filter(|&i| !on_own_fs(i)) {
            target(&root, &order[i].dest, order[i].is_dir, own_root)?;
        }
        set_read_only(&root, if plan.rootfs.is_some() { Path::new("/ (the new root)") } else { Path::new("/") })?;
    }
    for (i, m) in order.iter().enumerate() {
        let fd = target(&root, &m.dest, m.is_dir, own_root || on_own_fs(i))?;
        match m.what {
            What::Dev => mount_dev(&root, &fd)?,
            What::Proc => mount_proc(&fd, &m.dest, new_pid_ns)?,
            What::Tmpfs => mount_fs("tmpfs", &fd, &m.dest, "tmpfs", MsFlags::MS_NOSUID | MsFlags::MS_NODEV, "mode=1777")?,
            What::Bind(i) => attach(&bind_trees[i], &fd, &m.dest)?,
        }
    }
    if plan.rootfs.is_some() {
        pivot_into(&root)?;
    }
    Ok(())
}

fn set_propagation(p: Propagation) -> anyhow::Result<()> {
    let (flag, name) = match p {
        Propagation::Unchanged => return Ok(()),
        Propagation::Private => (MsFlags::MS_PRIVATE, "MS_REC|MS_PRIVATE"),
        Propagation::Slave => (MsFlags::MS_SLAVE, "MS_REC|MS_SLAVE"),
        Propagation::Shared => (MsFlags::MS_SHARED, "MS_REC|MS_SHARED"),
    };
    let step = Step::Mount {
        source: "none".into(),
        target: "/".into(),
        fstype: String::new(),
        flags: name.into(),
        data: String::new(),
    };
    trace::run(step, || nix::mount::mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | flag, None::<&str>))
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
fn clone_tree(fd: &OwnedFd, shown: &Path, read_only: bool) -> anyhow::Result<OwnedFd> {
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

fn setattr_rdonly(fd: &OwnedFd, shown: &Path) -> anyhow::Result<()> {
    let attr = MountAttr { attr_set: MOUNT_ATTR_RDONLY, attr_clr: 0, propagation: 0, userns_fd: 0 };
    let flags = AT_RECURSIVE | libc::AT_EMPTY_PATH as libc::c_uint;
    let step = Step::Call(format!("mount_setattr({:?}, AT_RECURSIVE, MOUNT_ATTR_RDONLY)", shown.display().to_string()));
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

fn set_read_only(root: &OwnedFd, shown: &Path) -> anyhow::Result<()> {
    setattr_rdonly(root, shown)
}

/// Attach a detached tree onto the object `target` refers to (move_mount).
fn attach(tree: &OwnedFd, target: &OwnedFd, shown: &Path) -> anyhow::Result<()> {
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

/// One mount of a plan, in the order they are made: /dev, /proc, tmpfs, binds.
struct Planned {
    what: What,
    dest: PathBuf,
    is_dir: bool,
}

enum What {
    Dev,
    Proc,
    Tmpfs,
    Bind(usize),
}

impl Planned {
    /// A file system of our own (rather than a bind): later targets under it are made on it.
    fn is_fs(&self) -> bool {
        !matches!(self.what, What::Bind(_))
    }
}

fn mount_order(plan: &Plan) -> Vec<Planned> {
    let dir = |what, dest: &Path| Planned { what, dest: dest.to_path_buf(), is_dir: true };
    let mut order = Vec::new();
    if plan.dev {
        order.push(dir(What::Dev, Path::new("/dev")));
    }
    if let Some(p) = &plan.proc {
        order.push(dir(What::Proc, p));
    }
    order.extend(plan.tmpfs.iter().map(|t| dir(What::Tmpfs, t)));
    order.extend(plan.binds.iter().enumerate().map(|(i, b)| Planned {
        what: What::Bind(i),
        dest: b.dest.clone(),
        is_dir: b.source.is_dir(),
    }));
    order
}

/// Resolve `path` under `root` without leaving it; create it (a directory or an empty file)
/// if missing and `may_create`. The last component may not be a symlink: a mount target fails closed.
fn target(root: &OwnedFd, path: &Path, is_dir: bool, may_create: bool) -> anyhow::Result<OwnedFd> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    if rel.as_os_str().is_empty() {
        return dup(root);
    }
    let parent = match rel.parent() {
        Some(p) if !p.as_os_str().is_empty() => target(root, &Path::new("/").join(p), true, may_create)?,
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
            openat_nofollow(&parent, name)
                .map_err(|e| anyhow::anyhow!("cannot open mount target {}: {}", path.display(), e.desc()))
        }
        Err(e) => bail!("cannot open mount target {}: {}", path.display(), e.desc()),
    }
}

fn dup(fd: &OwnedFd) -> anyhow::Result<OwnedFd> {
    Ok(fd.try_clone()?)
}

/// openat2(O_PATH|O_NOFOLLOW, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) of one name in `dir`.
fn openat_nofollow(dir: &OwnedFd, name: &OsStr) -> Result<OwnedFd, Errno> {
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

fn create_at(dir: &OwnedFd, name: &OsStr, is_dir: bool, shown: &Path) -> anyhow::Result<()> {
    // O_PATH fds cannot be used for mkdirat/openat creation directly: go through /proc/self/fd.
    let dir_path = fd_path(dir).join(name);
    if is_dir {
        trace::run_io(Step::Mkdir(shown.to_path_buf()), || std::fs::create_dir(&dir_path))
            .with_context(|| format!("cannot create mount point {}", shown.display()))
    } else {
        let step = Step::Call(format!("creat({:?})", shown.display().to_string()));
        trace::run_io(step, || std::fs::OpenOptions::new().write(true).create_new(true).open(&dir_path).map(drop))
    }
}

/// `MS_NOSUID|MS_NODEV`, as strace prints mount flags.
fn flag_names(flags: MsFlags) -> String {
    let names: Vec<&str> = flags.iter_names().map(|(name, _)| name).collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

/// mount(2) onto the object `target` refers to; `shown` is its path inside the new root.
fn mount_fs(source: &str, target: &OwnedFd, shown: &Path, fstype: &str, flags: MsFlags, data: &str) -> anyhow::Result<()> {
    let path = fd_path(target);
    let step = Step::Mount {
        source: source.into(),
        target: shown.to_path_buf(),
        fstype: fstype.into(),
        flags: flag_names(flags),
        data: data.into(),
    };
    trace::run(step, || {
        nix::mount::mount(Some(source), &path, Some(fstype), flags, if data.is_empty() { None } else { Some(data) })
    })
}

fn bind_path(source: &Path, target: &OwnedFd, shown: &Path, recursive: bool) -> anyhow::Result<()> {
    let path = fd_path(target);
    let flags = if recursive { MsFlags::MS_BIND | MsFlags::MS_REC } else { MsFlags::MS_BIND };
    let step = Step::Mount {
        source: source.display().to_string(),
        target: shown.to_path_buf(),
        fstype: String::new(),
        flags: flag_names(flags),
        data: String::new(),
    };
    trace::run(step, || nix::mount::mount(Some(source), &path, None::<&str>, flags, None::<&str>))
}

/// A fresh proc; where this process may not mount one (no PID namespace of its own inside a
/// user namespace), the host's /proc bound instead, as bubblewrap does.
fn mount_proc(target: &OwnedFd, shown: &Path, new_pid_ns: bool) -> anyhow::Result<()> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    match mount_fs("proc", target, shown, "proc", flags, "") {
        Err(e) if !new_pid_ns => {
            trace::note(format!("a fresh proc is refused here ({e:#}); binding the host's /proc instead"));
            bind_path(Path::new("/proc"), target, shown, true)
        }
        other => other,
    }
}

/// The device nodes a container needs, bound from the host (mknod is refused in user namespaces).
const DEV_NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// A minimal /dev: tmpfs, the six usual nodes, a private devpts, /dev/shm and the fd links.
fn mount_dev(root: &OwnedFd, target: &OwnedFd) -> anyhow::Result<()> {
    let at = |name: &str| Path::new("/dev").join(name);
    mount_fs("tmpfs", target, Path::new("/dev"), "tmpfs", MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC, "mode=755,size=65536k")?;
    // `target` still names the directory under the new tmpfs: look the name up again to get the tmpfs.
    let dev = &openat_nofollow(root, OsStr::new("dev"))
        .map_err(|e| anyhow::anyhow!("cannot open the new /dev: {}", e.desc()))?;
    for node in DEV_NODES {
        let target = create_and_open(dev, node, false)?;
        bind_path(&at(node), &target, &at(node), false)?;
    }
    let pts = create_and_open(dev, "pts", true)?;
    mount_fs("devpts", &pts, &at("pts"), "devpts", MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")?;
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
        let step = Step::Call(format!("symlink({to:?}, \"/dev/{link}\")"));
        trace::run_io(step, || std::os::unix::fs::symlink(to, base.join(link)))?;
    }
    Ok(())
}

fn create_and_open(dir: &OwnedFd, name: &str, is_dir: bool) -> anyhow::Result<OwnedFd> {
    let shown = Path::new("/dev").join(name);
    create_at(dir, OsStr::new(name), is_dir, &shown)?;
    openat_nofollow(dir, OsStr::new(name)).map_err(|e| anyhow::anyhow!("cannot open {}: {}", shown.display(), e.desc()))
}

/// Make `root` the root: pivot_root(".", "."), then detach the old root stacked on top.
fn pivot_into(root: &OwnedFd) -> anyhow::Result<()> {
    trace::run(Step::Chdir("<new root>".into()), || nix::unistd::fchdir(root))?;
    let step = Step::PivotRoot { new_root: ".".into(), put_old: ".".into() };
    trace::run(step, || nix::unistd::pivot_root(".", "."))?;
    trace::run(Step::Umount(".".into()), || nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH))?;
    trace::run(Step::Chdir("/".into()), || nix::unistd::chdir("/"))
}

/// Bind-mount a namespace file (/proc/PID/ns/KIND) onto `file` so the namespace outlives its
/// processes (util-linux `unshare --net=FILE`); the file is created if missing.
pub fn persist(ns_file: &Path, file: &Path) -> anyhow::Result<()> {
    if !file.exists() {
        let step = Step::Call(format!("creat({:?})", file.display().to_string()));
        trace::run_io(step, || {
            std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(file).map(drop)
        })?;
    }
    let step = Step::Mount {
        source: ns_file.display().to_string(),
        target: file.to_path_buf(),
        fstype: String::new(),
        flags: "MS_BIND".into(),
        data: String::new(),
    };
    trace::run(step, || nix::mount::mount(Some(ns_file), file, None::<&str>, MsFlags::MS_BIND, None::<&str>))
}

/// Undo [`persist`] (after a later step failed).
pub fn unpersist(file: &Path) {
    let _ =
        trace::run(Step::Umount(file.to_path_buf()), || nix::mount::umount2(file, nix::mount::MntFlags::MNT_DETACH));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_parse_like_docker_volumes() {
        let b = Bind::parse("/srv/data:/data:ro").unwrap();
        assert_eq!(b, Bind { source: "/srv/data".into(), dest: "/data".into(), read_only: true });
        assert!(!Bind::parse("/a:/b").unwrap().read_only);
        assert!(!Bind::parse("/a:/b:rw").unwrap().read_only);
        for bad in ["/a", "/a:b", ":/b", "/a:/b:rx", "/a:/b/../../etc", "/a:/b:ro:x"] {
            let e = Bind::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad) || e.contains("'/b/../../etc'"), "{bad}: {e}");
        }
    }

    #[test]
    fn propagation_names() {
        assert_eq!(Propagation::parse("slave").unwrap(), Propagation::Slave);
        assert!(Propagation::parse("rprivate").is_err());
    }
}
