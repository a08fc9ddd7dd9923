//! Network namespaces kept by a file, as ip-netns(8) keeps them, and joined by that file.
//! See network_namespaces(7), setns(2), unshare(2), ip-netns(8).
//!
//! Rules that bite:
//! - A network namespace lives while a process is in it or a descriptor or bind mount refers to
//!   it. Bound on a file (/run/netns/NAME) it outlives its processes, so whoever detaches it
//!   later (a CNI DEL) still finds the container's end of a veth and its addresses: without the
//!   namespace, the bridge plugin can release the lease but no longer finds the rules it made.
//! - The host's end of a veth, bridges and firewall rules are made from the host's namespace:
//!   the creator goes back (setns to a descriptor of its own namespace, opened before) right
//!   after binding the new one, before any plugin runs.
//! - unshare(CLONE_NEWNET) and setns(CLONE_NEWNET) change only the calling thread: the tools
//!   are single-threaded, so the whole process moves.
//! - A new user namespace's first process may write only its own single id to uid_map, and
//!   must deny setgroups before writing gid_map (user_namespaces(7)).

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};

use crate::ns::{self, NET};
use crate::trace::{self, Step};

/// Where ip-netns(8) keeps named network namespaces; `ip netns exec NAME` and
/// `nsenter --net=/run/netns/NAME` find them here.
pub const NETNS_DIR: &str = "/run/netns";

/// Where the cgroup hierarchies are mounted, below /sys.
const CGROUP_MOUNT: &str = "/sys/fs/cgroup";

/// The file resolv.conf(5) lives in; `ip netns exec` binds /etc/netns/NAME/resolv.conf over it.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// Open a network namespace file (O_RDONLY, close-on-exec), traced.
pub fn open(file: &Path) -> anyhow::Result<OwnedFd> {
    Ok(ns::open(file)?.fd)
}

/// setns(2) into the network namespace `fd` refers to (`shown` names it in the trace).
pub fn join(fd: impl AsFd, shown: &Path) -> anyhow::Result<()> {
    ns::setns(fd, NET.flag, shown.display().to_string())
}

/// A new network namespace with `lo` up and `sysctls` (names under /proc/sys) written in it,
/// bound on `file` (created; its directory too), while the caller stays in its own namespace.
pub fn create_bound(file: &Path, sysctls: &[(&str, &str)]) -> anyhow::Result<()> {
    if let Some(dir) = file.parent().filter(|d| !d.exists()) {
        let step = Step::Mkdir(dir.to_path_buf());
        trace::run_io(step, || std::fs::DirBuilder::new().recursive(true).create(dir))?;
    }
    let home = open(Path::new("/proc/self/ns/net"))?;
    ns::unshare(NET.flag)?;
    // /proc/sys/net/* opened now are the new namespace's: a file's namespace is the opener's.
    let made = ns::loopback_up()
        .and_then(|()| sysctls.iter().try_for_each(|(k, v)| trace::write_file(Path::new("/proc/sys").join(k), v)))
        .and_then(|()| crate::mount::persist(Path::new("/proc/self/ns/net"), file));
    // Back home whatever happened: every later step (plugins, the host's veth end) runs there.
    join(&home, Path::new("/proc/self/ns/net (the caller's own)"))?;
    if made.is_err() && file.exists() {
        let _ = release(file);
    }
    made
}

/// Detach a namespace bound on `file` (lazily, as `ip netns delete` does) and remove the file.
/// The namespace itself ends when nothing else refers to it.
pub fn release(file: &Path) -> anyhow::Result<()> {
    if bound_inode(file).is_some() {
        let step = Step::Umount(file.to_path_buf());
        trace::run(step, || nix::mount::umount2(file, MntFlags::MNT_DETACH))?;
    }
    trace::run_io(Step::Unlink(file.to_path_buf()), || std::fs::remove_file(file))
}

/// The inode of the namespace bound on `file`, if a namespace is bound there (nsfs).
pub fn bound_inode(file: &Path) -> Option<u64> {
    let fs = nix::sys::statfs::statfs(file).ok()?;
    if fs.filesystem_type() != nix::sys::statfs::NSFS_MAGIC {
        return None;
    }
    std::fs::metadata(file).ok().map(|m| m.ino())
}

/// Without root: a new user namespace in which the caller's uid and gid are 0 (`unshare -r`,
/// rootless podman), and a new network namespace it owns, with `lo` up.
pub fn unshare_user_and_net() -> anyhow::Result<()> {
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    ns::unshare(ns::USER.flag | NET.flag)?;
    let me = Path::new("/proc/self");
    trace::write_file(me.join("setgroups"), "deny")?;
    trace::write_file(me.join("uid_map"), format!("0 {uid} 1\n"))?;
    trace::write_file(me.join("gid_map"), format!("0 {gid} 1\n"))?;
    ns::loopback_up()
}

/// Without a user namespace (root): a new network namespace with `lo` up.
pub fn unshare_net() -> anyhow::Result<()> {
    ns::unshare(NET.flag)?;
    ns::loopback_up()
}

/// What `ip netns exec` gives a command, in a new mount namespace of its own (a slave of the
/// caller's, so the host's later mounts still arrive and these stay here): a sysfs of the new
/// network namespace on /sys (sysfs shows the network devices of the namespace that mounted
/// it, so the inherited one lists the host's), and `resolv` bound over /etc/resolv.conf.
/// Unlike `ip netns exec`, the cgroup hierarchies mounted at /sys/fs/cgroup stay: a copy of
/// that tree goes back on top of the new sysfs, so that a command below (cgstat, a container's
/// own cgroup view made by `nsexec --rootfs`) still finds its groups.
pub fn private_mounts(resolv: Option<&Path>) -> anyhow::Result<()> {
    ns::unshare(ns::MNT.flag)?;
    let slave = MsFlags::MS_REC | MsFlags::MS_SLAVE;
    let step = mount_step("none", "/", "", "MS_REC|MS_SLAVE");
    trace::run(step, || nix::mount::mount(None::<&str>, "/", None::<&str>, slave, None::<&str>))?;
    // On top of the inherited one rather than instead of it: in a user namespace of its own
    // the caller may not unmount what it inherited (the kernel locks those mounts).
    let sys = Path::new("/sys");
    let read_only =
        nix::sys::statvfs::statvfs(sys).is_ok_and(|st| st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    flags.set(MsFlags::MS_RDONLY, read_only);
    let shown = if read_only { "MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC" } else { "MS_NOSUID|MS_NODEV|MS_NOEXEC" };
    let cgroups = crate::mount::copy_tree(Path::new(CGROUP_MOUNT))?;
    let step = mount_step("sysfs", "/sys", "sysfs", shown);
    trace::run(step, || nix::mount::mount(Some("sysfs"), sys, Some("sysfs"), flags, None::<&str>))?;
    if let Some(tree) = cgroups {
        crate::mount::attach_tree(&tree, Path::new(CGROUP_MOUNT))?;
    }
    if let Some(source) = resolv {
        let step = mount_step(&source.display().to_string(), RESOLV_CONF, "", "MS_BIND");
        trace::run(step, || {
            nix::mount::mount(Some(source), RESOLV_CONF, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        })?;
    }
    Ok(())
}

fn mount_step(source: &str, target: &str, fstype: &str, flags: &str) -> Step {
    Step::Mount {
        source: source.into(),
        target: target.into(),
        fstype: fstype.into(),
        flags: flags.into(),
        data: String::new(),
    }
}

/// Whether this caller may change the host's network (bridges, veths, firewall rules): root.
pub fn privileged() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Where netexec's host-wide network lock lives: /run is root's and a tmpfs (gone at boot).
pub const HOST_NETWORK_LOCK: &str = "/run/isolab-netexec.lock";

/// Held while plugins change the host's side of a network (ADD, DEL): a CNI bridge and its
/// chains are one object for every container of the host, and two first ADDs at once race to
/// make them (the packaged bridge plugin then fails with "could not set bridge's mac"); podman
/// holds a lock for the same reason. Released when dropped.
pub struct HostNetworkLock {
    _held: nix::fcntl::Flock<std::fs::File>,
}

/// Wait for the host-wide network lock at `path` (made 0600 if missing; never through a symlink).
pub fn lock_host_network(path: &Path) -> anyhow::Result<HostNetworkLock> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = trace::run_io(Step::Open(path.to_path_buf()), || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
    })?;
    let held = trace::run(Step::Flock(path.to_path_buf()), || {
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, errno)| errno)
    })?;
    Ok(HostNetworkLock { _held: held })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Another process (util-linux flock -n) cannot take the lock while it is held, and can once
    // it is dropped; the file is made 0600.
    #[test]
    fn the_host_network_lock_is_exclusive_until_dropped() {
        let dir = crate::test_dir("netlock");
        let path = dir.join("net.lock");
        let try_other = || std::process::Command::new("flock").args(["-n"]).arg(&path).arg("true").status().unwrap();
        let held = lock_host_network(&path).unwrap();
        assert_eq!(try_other().code(), Some(1), "flock -n got a lock that is held");
        drop(held);
        assert!(try_other().success(), "the lock stayed after its holder dropped it");
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions()) & 0o777,
            0o600
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
