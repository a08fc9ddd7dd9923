//! Mounts for a new world: propagation, a new root, binds, tmpfs, /proc and a minimal /dev.
//! See mount_namespaces(7), pivot_root(2), open_tree(2), move_mount(2), mount_setattr(2), openat2(2).
//!
//! Rules that bite:
//! - Make the tree private (recursively) first, or every mount below propagates to the host.
//! - Sources are checked before unshare, opened again inside the new namespace (open_tree clones
//!   only mounts of the caller's own namespace), compared by device and inode, and cloned with
//!   open_tree(OPEN_TREE_CLONE) before any mount of ours: the clone is the tree as it was, so
//!   later mounts (ours, or a racing process's symlink swap) cannot change what gets attached.
//! - With a new user namespace, root inside (host uid 100000) may not pass the caller's own
//!   directories (root's 0700 home). So the helper that stays outside opens the sources again
//!   through /proc/PID/root of the unshared process, with the caller's credentials, and hands
//!   the descriptors over (runc opens its bind sources from the host the same way). A clone of
//!   the namespace's own copy keeps the kernel's locks: root inside cannot unmount what covers
//!   a directory of the source, as it could in a clone made on the host before unshare.
//! - Mount targets inside the new root are resolved with openat2(RESOLVE_IN_ROOT) and the last
//!   component must not be a symlink: a rootfs cannot point a mount at a host path (runc
//!   CVE-2021-30465, CVE-2025-31133 family). Mounts go onto the resolved fd, never a re-walked path.
//! - proc can be mounted only by a process in a PID namespace whose owning user namespace it
//!   has CAP_SYS_ADMIN in; otherwise bind the host's /proc (as bubblewrap does).
//! - pivot_root(".", ".") stacks the old root on the new one; a lazy unmount then detaches it.
//! - Whether a bind's mount point is a directory is the source's type, read from its descriptor:
//!   by path, after the new root is attached on /tmp, a source under /tmp is looked up in it.
//! - Every mount point made is undone when the set-up fails or the command cannot run ([`Made`]).

mod dev;
mod fd;
mod lock;
mod made;
mod mask;
mod spec;
mod sys;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use nix::mount::MsFlags;

use self::dev::mount_dev;
pub use self::dev::Node;
pub use self::fd::open_in_root_of;
use self::fd::{attach, clone_tree, fd_path, open_path, reopen_same, same_object, set_read_only, target};
pub use self::lock::lock_mounts;
pub use self::made::Made;
pub use self::mask::{DOCKER_MASKED, DOCKER_READONLY};
pub use self::spec::{clean_dest, no_control_chars, Bind, Propagation};
use crate::trace::{self, Step};

/// Everything a new mount namespace gets: propagation, a new root, binds, tmpfs, /proc, /dev.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mounts {
    pub propagation: Propagation,
    pub rootfs: Option<PathBuf>,
    pub binds: Vec<Bind>,
    pub tmpfs: Vec<PathBuf>,
    pub read_only: bool,
    /// Where to mount a fresh proc (`--mount-proc[=DIR]`), inside the new root.
    pub proc: Option<PathBuf>,
    /// A minimal /dev in the new root (default with `--rootfs`).
    pub dev: bool,
    /// A fresh sysfs on /sys with a view of the caller's own cgroups (a container's);
    /// `Some(true)` read-only.
    pub sys: Option<bool>,
    /// Paths hidden (Docker's maskedPaths): /dev/null over a file, an empty tmpfs over a directory.
    pub masked: Vec<PathBuf>,
    /// Paths made read-only (Docker's readonlyPaths).
    pub readonly_paths: Vec<PathBuf>,
    /// Device nodes for /dev (`--device`).
    pub devices: Vec<crate::cgroup::devices::DeviceArg>,
}

impl Mounts {
    /// Whether any mount of the plan is read-only: then, in a user namespace, the mounts are
    /// locked (see lock.rs) so that the payload cannot remount them read-write.
    pub fn has_read_only(&self) -> bool {
        self.read_only
            || self.binds.iter().any(|b| b.read_only)
            || !self.masked.is_empty()
            || !self.readonly_paths.is_empty()
            || self.sys == Some(true)
    }
}

/// The sources of a [`Mounts`], opened (O_PATH) before any namespace or mount exists.
pub struct Opened {
    plan: Mounts,
    rootfs: Option<OwnedFd>,
    binds: Vec<OwnedFd>,
    cgroups: Option<sys::CgroupView>,
    nodes: Vec<Node>,
    /// Whether each bind's source is a directory (then so is its mount point).
    bind_is_dir: Vec<bool>,
    /// The same sources opened in the new mount namespace by the caller's helper ([`Opened::paths`]
    /// order); without them they are opened again by path, with the credentials in force inside.
    inside: Vec<OwnedFd>,
}

impl Opened {
    /// Every source as the caller resolved it (the rootfs first, then the binds): the paths the
    /// helper opens again in the new mount namespace.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.rootfs.iter().chain(&self.binds).map(|fd| std::fs::read_link(fd_path(fd)).unwrap_or_default()).collect()
    }

    /// Take the helper's descriptors, one per [`Opened::paths`] entry.
    pub fn adopt(&mut self, inside: Vec<OwnedFd>) {
        self.inside = inside;
    }
}

/// A detached copy of the mounts at and below `path` (open_tree(OPEN_TREE_CLONE|AT_RECURSIVE)),
/// to put back with [`attach_tree`] once something is mounted over a directory above it; None
/// when `path` is no mount point (nothing is mounted there to keep).
pub fn copy_tree(path: &Path) -> anyhow::Result<Option<OwnedFd>> {
    let (Ok(here), Some(Ok(above))) = (nix::sys::stat::stat(path), path.parent().map(nix::sys::stat::stat)) else {
        return Ok(None);
    };
    if here.st_dev == above.st_dev {
        return Ok(None);
    }
    let fd = open_path(path).with_context(|| format!("cannot open {}", path.display()))?;
    clone_tree(&fd, path, false).map(Some)
}

/// Attach a tree from [`copy_tree`] on `path` (move_mount).
pub fn attach_tree(tree: &OwnedFd, path: &Path) -> anyhow::Result<()> {
    let target = open_path(path).with_context(|| format!("cannot open {}", path.display()))?;
    attach(tree, &target, path)
}

/// Check and open every source: a missing rootfs or bind source fails here, before anything changes.
pub fn open_sources(plan: &Mounts) -> anyhow::Result<Opened> {
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
    let bind_is_dir = binds
        .iter()
        .map(|fd| Ok(nix::sys::stat::fstat(fd)?.st_mode & libc::S_IFMT == libc::S_IFDIR))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Read now, while /proc/self/cgroup names host paths (a cgroup namespace hides them).
    let cgroups = if plan.sys.is_some() { Some(sys::open_cgroups()?) } else { None };
    let nodes = plan.devices.iter().map(Node::resolve).collect::<anyhow::Result<_>>()?;
    Ok(Opened { plan: plan.clone(), rootfs, binds, bind_is_dir, inside: Vec::new(), cgroups, nodes })
}

/// Set up the new mount namespace. Runs in the child, after unshare(CLONE_NEWNS).
/// `new_pid_ns` says whether a fresh proc will show our own PID namespace. Returns the mount
/// points made, for the caller to undo if the command cannot run; on failure they are undone.
pub fn setup(mut opened: Opened, new_pid_ns: bool) -> anyhow::Result<Made> {
    let mut made = Made::default();
    let inside = std::mem::take(&mut opened.inside);
    match build(&opened, inside, new_pid_ns, &mut made) {
        Ok(()) => Ok(made),
        Err(err) => {
            made.undo();
            Err(err)
        }
    }
}

fn build(opened: &Opened, inside: Vec<OwnedFd>, new_pid_ns: bool, made: &mut Made) -> anyhow::Result<()> {
    let plan = &opened.plan;
    set_propagation(plan.propagation)?;
    let mut inside = inside.into_iter();
    let mut reopen = |path: &Path, checked: &OwnedFd| match inside.next() {
        Some(fd) => same_object(path, checked, fd),
        None => reopen_same(path, checked),
    };
    let root_tree = match (&opened.rootfs, &plan.rootfs) {
        (Some(fd), Some(dir)) => Some(clone_tree(&reopen(dir, fd)?, dir, false)?),
        _ => None,
    };
    let bind_trees = opened
        .binds
        .iter()
        .zip(&plan.binds)
        .map(|(fd, b)| clone_tree(&reopen(&b.source, fd)?, &b.source, b.read_only))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let staging = Path::new("/tmp");
    let root = match root_tree {
        Some(tree) => {
            trace::note(
                "the new root waits on /tmp of the new mount namespace until pivot_root; paths below are inside it",
            );
            attach(&tree, &open_path(staging)?, staging)?;
            open_path(staging)?
        }
        None => open_path(Path::new("/"))?,
    };
    // Mount points in the root itself are made while it is still writable; then it turns
    // read-only; then the mounts go on top (they keep their own flags, as Docker's volumes do
    // with --read-only). A target under one of our own file systems (a bind into a --tmpfs) is
    // made when its turn comes, on that file system.
    let order = mount_order(plan, &opened.bind_is_dir);
    // Mount points are made only in a root of the user's (never the host's own file system,
    // which `--rootfs /` also is) or on a file system mounted here.
    let own_root = plan.rootfs.as_deref().is_some_and(|r| r.canonicalize().map_or(true, |r| r != Path::new("/")));
    let on_own_fs =
        |i: usize| order[..i].iter().any(|earlier| earlier.is_fs() && order[i].dest.starts_with(&earlier.dest));
    if plan.read_only {
        for i in (0..order.len()).filter(|&i| !on_own_fs(i)) {
            target(&root, &order[i].dest, order[i].is_dir, own_root, made)?;
        }
        set_read_only(&root, if plan.rootfs.is_some() { Path::new("/ (the new root)") } else { Path::new("/") })?;
        made.made_read_only(&root);
    }
    for (i, m) in order.iter().enumerate() {
        let fd = target(&root, &m.dest, m.is_dir, own_root || on_own_fs(i), made)?;
        match m.what {
            What::Dev => mount_dev(&root, &fd, &opened.nodes)?,
            What::Proc => mount_proc(&fd, &m.dest, new_pid_ns)?,
            What::Sys(ro) => {
                let view = opened.cgroups.as_ref().ok_or_else(|| anyhow::anyhow!("no cgroup view opened"))?;
                sys::mount_sys(&root, &fd, view, ro)?
            }
            What::Tmpfs => {
                mount_fs("tmpfs", &fd, &m.dest, "tmpfs", MsFlags::MS_NOSUID | MsFlags::MS_NODEV, "mode=1777")?
            }
            What::Bind(i) => attach(&bind_trees[i], &fd, &m.dest)?,
        }
    }
    // Last, over /proc and /sys as mounted above (and over any bind into them).
    mask::apply(&root, &plan.masked, &plan.readonly_paths)?;
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

/// One mount of a plan, in the order they are made: /dev, /proc, tmpfs, binds.
struct Planned {
    what: What,
    dest: PathBuf,
    is_dir: bool,
}

enum What {
    Dev,
    Proc,
    /// sysfs, read-only if true.
    Sys(bool),
    Tmpfs,
    Bind(usize),
}

impl Planned {
    /// A file system of our own (rather than a bind): later targets under it are made on it.
    fn is_fs(&self) -> bool {
        !matches!(self.what, What::Bind(_))
    }
}

fn mount_order(plan: &Mounts, bind_is_dir: &[bool]) -> Vec<Planned> {
    let dir = |what, dest: &Path| Planned { what, dest: dest.to_path_buf(), is_dir: true };
    let mut order = Vec::new();
    if plan.dev {
        order.push(dir(What::Dev, Path::new("/dev")));
    }
    if let Some(p) = &plan.proc {
        order.push(dir(What::Proc, p));
    }
    if let Some(ro) = plan.sys {
        order.push(dir(What::Sys(ro), Path::new("/sys")));
    }
    order.extend(plan.tmpfs.iter().map(|t| dir(What::Tmpfs, t)));
    order.extend(plan.binds.iter().enumerate().map(|(i, b)| Planned {
        what: What::Bind(i),
        dest: b.dest.clone(),
        is_dir: bind_is_dir.get(i).copied().unwrap_or(true),
    }));
    order
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
fn mount_fs(
    source: &str,
    target: &OwnedFd,
    shown: &Path,
    fstype: &str,
    flags: MsFlags,
    data: &str,
) -> anyhow::Result<()> {
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

/// chdir(2), traced.
pub fn chdir(dir: &Path) -> anyhow::Result<()> {
    trace::run(Step::Chdir(dir.to_path_buf()), || nix::unistd::chdir(dir))
}

/// fchdir(2) to a directory opened earlier, traced as `shown` (`<target's root>`).
pub fn fchdir(dir: &OwnedFd, shown: &str) -> anyhow::Result<()> {
    trace::run(Step::Fchdir(shown.into()), || nix::unistd::fchdir(dir))
}

/// chroot(2), traced.
pub fn chroot(dir: &Path) -> anyhow::Result<()> {
    trace::run(Step::Chroot(dir.to_path_buf()), || nix::unistd::chroot(dir))
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
/// processes (util-linux `unshare --net=FILE`); the file is created if missing. Like util-linux,
/// the binding stays even if a later set-up step fails: `umount FILE` releases it.
pub fn persist(ns_file: &Path, file: &Path) -> anyhow::Result<()> {
    if !file.exists() {
        let step = Step::Creat(file.to_path_buf());
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
