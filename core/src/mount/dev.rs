//! A minimal /dev for a new root: a tmpfs with the usual nodes bound from the host (mknod is
//! refused in user namespaces), a private devpts instance, /dev/shm and the fd links; and the
//! nodes `--device` asks for, made with mknod (bound from the host inside a user namespace).

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use super::fd::{create_at, fd_path, openat_nofollow};
use super::{bind_path, mount_fs};
use crate::trace::{self, Step};

/// The device nodes a container needs, bound from the host (mknod is refused in user namespaces).
const DEV_NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// A device node `--device` asks for, as the host has it (stat'd before unshare).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub host: PathBuf,
    /// Where in the container: under /dev.
    pub container: PathBuf,
    pub kind: char,
    pub major: u32,
    pub minor: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Node {
    /// The host node `arg` names, checked: a character or block device; the container path under /dev.
    pub fn resolve(arg: &crate::cgroup::devices::DeviceArg) -> anyhow::Result<Node> {
        let host = PathBuf::from(&arg.host);
        let (kind, major, minor, mode) = crate::cgroup::devices::node(&host)?;
        let container = PathBuf::from(&arg.container);
        if !container.starts_with("/dev/") {
            anyhow::bail!("--device {}: the container path {} must be under /dev", arg.host, container.display());
        }
        let st = nix::sys::stat::stat(&host).map_err(|e| anyhow::anyhow!("{}: {}", host.display(), e.desc()))?;
        Ok(Node { host, container, kind, major, minor, mode, uid: st.st_uid, gid: st.st_gid })
    }
}

/// A minimal /dev: tmpfs, the six usual nodes, a private devpts, /dev/shm and the fd links,
/// then the `--device` nodes.
pub(super) fn mount_dev(root: &OwnedFd, target: &OwnedFd, nodes: &[Node]) -> anyhow::Result<()> {
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
    for node in nodes {
        add_node(dev, node)?;
    }
    Ok(())
}

/// mknod in the new /dev (owner and mode as on the host); where the kernel refuses device
/// nodes (a user namespace), the host's node bound on an empty file instead, as runc does.
fn add_node(dev: &OwnedFd, node: &Node) -> anyhow::Result<()> {
    let rel = node.container.strip_prefix("/dev").unwrap_or(&node.container);
    let mut dir = super::fd::dup(dev)?;
    let mut shown = PathBuf::from("/dev");
    if let Some(parent) = rel.parent() {
        for part in parent.components() {
            shown.push(part);
            let name = part.as_os_str();
            if openat_nofollow(&dir, name).is_err() {
                create_at(&dir, name, true, &shown)?;
            }
            dir = openat_nofollow(&dir, name)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {}", shown.display(), e.desc()))?;
        }
    }
    let name =
        rel.file_name().ok_or_else(|| anyhow::anyhow!("--device: no node name in {}", node.container.display()))?;
    let kind = if node.kind == 'b' { nix::sys::stat::SFlag::S_IFBLK } else { nix::sys::stat::SFlag::S_IFCHR };
    let path = fd_path(&dir).join(name);
    let step = Step::Mknod {
        path: node.container.clone(),
        kind: node.kind,
        major: node.major,
        minor: node.minor,
        mode: node.mode,
    };
    let made = trace::run(step, || {
        let perm = nix::sys::stat::Mode::from_bits_truncate(node.mode);
        nix::sys::stat::mknod(&path, kind, perm, nix::sys::stat::makedev(node.major.into(), node.minor.into()))
    });
    match made {
        Ok(()) => {
            let step = Step::Chown { path: node.container.clone(), uid: node.uid, gid: node.gid };
            trace::run(step, || nix::unistd::chown(&path, Some(node.uid.into()), Some(node.gid.into())))
        }
        Err(e) => {
            trace::note(format!("{e:#}: binding the host's {} instead", node.host.display()));
            let target = create_and_open(&dir, &name.to_string_lossy(), false)?;
            bind_path(&node.host, &target, &node.container, false)
        }
    }
}

fn create_and_open(dir: &OwnedFd, name: &str, is_dir: bool) -> anyhow::Result<OwnedFd> {
    let shown = Path::new("/dev").join(name);
    create_at(dir, OsStr::new(name), is_dir, &shown)?;
    openat_nofollow(dir, OsStr::new(name)).map_err(|e| anyhow::anyhow!("cannot open {}: {}", shown.display(), e.desc()))
}
