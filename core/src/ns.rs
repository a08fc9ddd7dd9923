//! Namespaces: the eight kinds as one table, and unshare(2). See namespaces(7), unshare(2), setns(2).
//!
//! Rules that bite:
//! - CLONE_NEWUSER fails with EINVAL in a threaded process: no thread may exist before unshare.
//! - A new PID namespace applies to children only: the caller must fork so that the command is
//!   PID 1 of it; likewise a new time namespace applies to children (time_for_children).
//! - The table order is util-linux nsenter's join order (user, cgroup, ipc, uts, net, pid, mnt,
//!   time): the mount namespace comes late because joining it changes what /proc resolves to.

use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;
use nix::sched::CloneFlags;

use crate::trace::{self, Step};

/// A set of CLONE_NEW* bits, as unshare(2) and setns(2) take them.
pub type Flags = libc::c_int;

/// One namespace kind, as the kernel and util-linux name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// CLONE_NEW* bit.
    pub flag: Flags,
    /// The name under /proc/PID/ns/.
    pub proc_name: &'static str,
    /// util-linux short and long option.
    pub short: char,
    pub long: &'static str,
    pub clone_name: &'static str,
    pub man: &'static str,
}

const fn kind(
    flag: Flags,
    proc_name: &'static str,
    short: char,
    long: &'static str,
    clone_name: &'static str,
    man: &'static str,
) -> Kind {
    Kind { flag, proc_name, short, long, clone_name, man }
}

pub const USER: Kind = kind(libc::CLONE_NEWUSER, "user", 'U', "user", "CLONE_NEWUSER", "user_namespaces(7)");
pub const CGROUP: Kind =
    kind(libc::CLONE_NEWCGROUP, "cgroup", 'C', "cgroup", "CLONE_NEWCGROUP", "cgroup_namespaces(7)");
pub const IPC: Kind = kind(libc::CLONE_NEWIPC, "ipc", 'i', "ipc", "CLONE_NEWIPC", "ipc_namespaces(7)");
pub const UTS: Kind = kind(libc::CLONE_NEWUTS, "uts", 'u', "uts", "CLONE_NEWUTS", "uts_namespaces(7)");
pub const NET: Kind = kind(libc::CLONE_NEWNET, "net", 'n', "net", "CLONE_NEWNET", "network_namespaces(7)");
pub const PID: Kind = kind(libc::CLONE_NEWPID, "pid", 'p', "pid", "CLONE_NEWPID", "pid_namespaces(7)");
pub const MNT: Kind = kind(libc::CLONE_NEWNS, "mnt", 'm', "mount", "CLONE_NEWNS", "mount_namespaces(7)");
pub const TIME: Kind = kind(libc::CLONE_NEWTIME, "time", 'T', "time", "CLONE_NEWTIME", "time_namespaces(7)");

/// Every namespace kind, in util-linux nsenter's join order.
pub const KINDS: [Kind; 8] = [USER, CGROUP, IPC, UTS, NET, PID, MNT, TIME];

/// Every CLONE_NEW* bit together (`-a/--all`).
pub const ALL_FLAGS: Flags = {
    let mut all = 0;
    let mut i = 0;
    while i < KINDS.len() {
        all |= KINDS[i].flag;
        i += 1;
    }
    all
};

/// Look a kind up by its /proc name, long option or short letter (`net`, `mount`, `mnt`, `n`).
pub fn kind_by_name(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.proc_name == name || k.long == name || (name.len() == 1 && name.starts_with(k.short)))
}

/// The kinds whose bits are set in `flags`, in table order.
pub fn kinds_in(flags: Flags) -> impl Iterator<Item = &'static Kind> {
    KINDS.iter().filter(move |k| flags & k.flag != 0)
}

/// The file that names the namespace a process's *children* get, where that differs (pid, time).
pub fn for_children_name(kind: &Kind) -> &'static str {
    match kind.flag {
        libc::CLONE_NEWPID => "pid_for_children",
        libc::CLONE_NEWTIME => "time_for_children",
        _ => kind.proc_name,
    }
}

/// The inode of a process's namespace of `kind` (`pid` = "self" for the caller): the namespace's identity.
pub fn inode(pid: &str, kind: &Kind) -> std::io::Result<u64> {
    Ok(std::fs::metadata(format!("/proc/{pid}/ns/{}", kind.proc_name))?.ino())
}

/// Whether this kernel has namespaces of `kind` at all.
pub fn supported(kind: &Kind) -> bool {
    std::path::Path::new(&format!("/proc/self/ns/{}", kind.proc_name)).exists()
}

/// The flag word as nix takes it; CLONE_NEWTIME is a bit nix's `CloneFlags` does not name.
fn clone_flags(flags: Flags) -> CloneFlags {
    CloneFlags::from_bits_retain(flags)
}

/// unshare(2), traced.
pub fn unshare(flags: Flags) -> anyhow::Result<()> {
    trace::run(Step::Unshare(flags), || nix::sched::unshare(clone_flags(flags)))?;
    if flags & libc::CLONE_NEWUSER != 0 {
        // New credentials (those of the new namespace): keep the parent-death signal.
        crate::process::rearm_tether()?;
    }
    Ok(())
}

/// setns(2) on a namespace file or a pidfd (then `flags` may name several kinds), traced as
/// `shown` (the file and the inodes it names). A refusal carries its errno ([`trace::errno_of`]).
pub fn setns(fd: impl AsFd, flags: Flags, shown: String) -> anyhow::Result<()> {
    trace::run(Step::Setns { target: shown, flags }, || nix::sched::setns(fd, clone_flags(flags)))
}

/// A namespace file opened for setns: /proc/PID/ns/KIND, or a bind mount of one.
#[derive(Debug)]
pub struct NsFd {
    pub fd: std::os::fd::OwnedFd,
    /// Which kind of namespace it names (NS_GET_NSTYPE); `None`: not a namespace file.
    pub kind: Option<&'static Kind>,
    /// The namespace's identity, as `ls -l /proc/PID/ns` shows it.
    pub inode: u64,
}

/// Open a namespace file close-on-exec, traced, and say what it names.
pub fn open(path: &std::path::Path) -> anyhow::Result<NsFd> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let fd =
        trace::run(Step::Open(path.to_path_buf()), || nix::fcntl::open(path, flags, nix::sys::stat::Mode::empty()))?;
    let inode = nix::sys::stat::fstat(&fd)?.st_ino;
    Ok(NsFd { kind: kind_of(&fd), fd, inode })
}

/// ioctl(NS_GET_NSTYPE) (Linux 4.11, ioctl_ns(2)): the kind of namespace a descriptor names;
/// `None` when it names none (not a namespace file).
pub fn kind_of(fd: impl AsFd) -> Option<&'static Kind> {
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the descriptor's inode.
    let flag = Errno::result(unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::NS_GET_NSTYPE) }).ok()?;
    KINDS.iter().find(|k| k.flag == flag)
}

/// sethostname(2), traced: the UTS namespace's host name.
pub fn set_hostname(name: &str) -> anyhow::Result<()> {
    trace::run(Step::Sethostname(name.into()), || nix::unistd::sethostname(name))
}

/// setdomainname(2), traced: the UTS namespace's NIS domain name.
pub fn set_domainname(name: &str) -> anyhow::Result<()> {
    trace::run(Step::Setdomainname(name.into()), || {
        rustix::system::setdomainname(name.as_bytes()).map_err(|e| Errno::from_raw(e.raw_os_error()))
    })
}

/// Bring `lo` up in the current network namespace, as Docker does: a new network namespace
/// has only a loopback device, and it starts down. ioctl(SIOCSIFFLAGS), see netdevice(7).
pub fn loopback_up() -> anyhow::Result<()> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    trace::run(Step::SetLinkUp("lo".into()), || {
        let sock = socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)?;
        let mut req =
            libc::ifreq { ifr_name: [0; libc::IFNAMSIZ], ifr_ifru: libc::__c_anonymous_ifr_ifru { ifru_flags: 0 } };
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo") {
            *dst = *src as libc::c_char;
        }
        // SAFETY: req is an ifreq, as SIOCGIFFLAGS takes; the kernel fills its flags, which are
        // then the union's field in use.
        let flags = unsafe {
            Errno::result(libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req))?;
            req.ifr_ifru.ifru_flags
        };
        req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
        // SAFETY: as above.
        Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) }).map(drop)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete_and_unique() {
        let mut seen = 0;
        for k in KINDS {
            assert_eq!(seen & k.flag, 0, "{} repeats a bit", k.proc_name);
            seen |= k.flag;
        }
        assert_eq!(seen, ALL_FLAGS);
        assert_eq!(kind_by_name("mount").unwrap().proc_name, "mnt");
        assert_eq!(kind_by_name("mnt").unwrap().long, "mount");
        assert_eq!(kind_by_name("n").unwrap().proc_name, "net");
        assert!(kind_by_name("bogus").is_none());
    }
}
