//! Namespaces: the eight kinds as one table, and unshare(2). See namespaces(7), unshare(2), setns(2).
//!
//! Rules that bite:
//! - CLONE_NEWUSER fails with EINVAL in a threaded process: no thread may exist before unshare.
//! - A new PID namespace applies to children only: the caller must fork so that the command is
//!   PID 1 of it; likewise a new time namespace applies to children (time_for_children).
//! - The table order is util-linux nsenter's join order (user, cgroup, ipc, uts, net, pid, mnt,
//!   time): the mount namespace comes late because joining it changes what /proc resolves to.

use std::os::unix::fs::MetadataExt;

/// One namespace kind, as the kernel and util-linux name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// CLONE_NEW* bit.
    pub flag: libc::c_int,
    /// The name under /proc/PID/ns/.
    pub proc_name: &'static str,
    /// util-linux short and long option.
    pub short: char,
    pub long: &'static str,
    pub clone_name: &'static str,
    pub man: &'static str,
}

const fn kind(
    flag: libc::c_int,
    proc_name: &'static str,
    short: char,
    long: &'static str,
    clone_name: &'static str,
    man: &'static str,
) -> Kind {
    Kind { flag, proc_name, short, long, clone_name, man }
}

/// Every namespace kind, in util-linux nsenter's join order.
pub const KINDS: [Kind; 8] = [
    kind(libc::CLONE_NEWUSER, "user", 'U', "user", "CLONE_NEWUSER", "user_namespaces(7)"),
    kind(libc::CLONE_NEWCGROUP, "cgroup", 'C', "cgroup", "CLONE_NEWCGROUP", "cgroup_namespaces(7)"),
    kind(libc::CLONE_NEWIPC, "ipc", 'i', "ipc", "CLONE_NEWIPC", "ipc_namespaces(7)"),
    kind(libc::CLONE_NEWUTS, "uts", 'u', "uts", "CLONE_NEWUTS", "uts_namespaces(7)"),
    kind(libc::CLONE_NEWNET, "net", 'n', "net", "CLONE_NEWNET", "network_namespaces(7)"),
    kind(libc::CLONE_NEWPID, "pid", 'p', "pid", "CLONE_NEWPID", "pid_namespaces(7)"),
    kind(libc::CLONE_NEWNS, "mnt", 'm', "mount", "CLONE_NEWNS", "mount_namespaces(7)"),
    kind(libc::CLONE_NEWTIME, "time", 'T', "time", "CLONE_NEWTIME", "time_namespaces(7)"),
];

/// Every CLONE_NEW* bit together (`-a/--all`).
pub const ALL_FLAGS: libc::c_int = {
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
pub fn kinds_in(flags: libc::c_int) -> impl Iterator<Item = &'static Kind> {
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

/// unshare(2), traced.
pub fn unshare(flags: libc::c_int) -> anyhow::Result<()> {
    crate::trace::run(crate::trace::Step::Unshare(flags), || {
        // SAFETY: unshare takes a plain flag word and touches no memory of ours.
        nix::errno::Errno::result(unsafe { libc::unshare(flags) }).map(drop)
    })?;
    if flags & libc::CLONE_NEWUSER != 0 {
        // New credentials (those of the new namespace): keep the parent-death signal.
        crate::process::rearm_tether()?;
    }
    Ok(())
}

/// Bring `lo` up in the current network namespace, as Docker does: a new network namespace
/// has only a loopback device, and it starts down. ioctl(SIOCSIFFLAGS), see netdevice(7).
pub fn loopback_up() -> anyhow::Result<()> {
    #[repr(C)]
    struct IfreqFlags {
        name: [u8; libc::IFNAMSIZ],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    let step = crate::trace::Step::Call("ioctl(SIOCSIFFLAGS, \"lo\", IFF_UP)".into());
    crate::trace::run(step, || {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        // SAFETY: plain socket(2); the fd is owned right below.
        let fd = nix::errno::Errno::result(unsafe {
            libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
        })?;
        // SAFETY: fd was just created and is owned by nobody else.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut req = IfreqFlags { name: [0; libc::IFNAMSIZ], flags: 0, _pad: [0; 22] };
        req.name[..2].copy_from_slice(b"lo");
        // SAFETY: req is a properly sized ifreq for SIOCGIFFLAGS/SIOCSIFFLAGS.
        nix::errno::Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
        req.flags |= libc::IFF_UP as libc::c_short;
        // SAFETY: as above.
        nix::errno::Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) }).map(drop)
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
