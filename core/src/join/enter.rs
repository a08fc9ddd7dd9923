//! The setns calls: one atomic `setns(pidfd, flags)` where the kernel allows it, else one
//! namespace file at a time in util-linux nsenter's two passes. See setns(2), ioctl_ns(2).
//!
//! Rules that bite:
//! - setns(pidfd, flags) (Linux 5.8) joins every namespace in `flags` from that one process, or
//!   none: no mix of two processes' namespaces if the PID is reused meanwhile. Kernels before 5.8
//!   answer EINVAL (a pidfd is not a namespace file).
//! - The user namespace goes first when joining it raises privilege (an unprivileged caller gets
//!   CAP_SYS_ADMIN over the target's other namespaces only inside their owner) and last when it
//!   lowers it (root that joins a container's user namespace first has no rights left over the
//!   host-owned ones). util-linux tries everything but the user namespace first, ignoring errors,
//!   then the user namespace and whatever failed, reporting errors: both orders in one rule.
//! - Joining the user namespace one is already in fails with EINVAL; so does a threaded caller.
//! - Every namespace file is opened before the first setns: joining a mount namespace changes
//!   what /proc/PID resolves to.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::errno::Errno;

use super::target::{exited, Process};
use crate::cli::{coded, EXIT_TOOL};
use crate::ns::{self, Kind, KINDS};
use crate::trace::{self, Step};

/// `--ns-file KIND=FILE`: a namespace named by a file (a bind mount of /proc/PID/ns/KIND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsFile {
    pub kind: &'static Kind,
    pub path: PathBuf,
}

/// A namespace of the target, by kind and inode (its identity, as `ls -l /proc/PID/ns` shows it).
#[derive(Debug, Clone, Copy)]
pub struct TargetNs {
    pub kind: &'static Kind,
    pub inode: u64,
}

/// An opened namespace file, ready for setns.
pub struct Entry {
    kind: &'static Kind,
    shown: String,
    fd: OwnedFd,
}

/// The target's namespaces to join: `requested` kinds, or with `all` every kind whose namespace
/// differs from ours (util-linux `-a`), minus kinds that come from `--ns-file`.
pub fn choose(
    process: &Process,
    requested: libc::c_int,
    all: bool,
    from_files: libc::c_int,
) -> anyhow::Result<Vec<TargetNs>> {
    let wanted = if all { ns::ALL_FLAGS } else { requested } & !from_files;
    let mut chosen = Vec::new();
    for kind in ns::kinds_in(wanted) {
        if !ns::supported(kind) {
            if all {
                trace::note(format_args!(
                    "-a: skipping {}: this kernel has no {} namespaces",
                    kind.proc_name, kind.proc_name
                ));
                continue;
            }
            return Err(coded(
                EXIT_TOOL,
                format!(
                    "--{}: this kernel has no {} namespaces (no /proc/self/ns/{})",
                    kind.long, kind.proc_name, kind.proc_name
                ),
            ));
        }
        let inode = ns::inode(&process.pid.to_string(), kind).map_err(|e| match process.check_alive() {
            // A zombie is alive to its pidfd but its namespaces are gone.
            Err(gone) => gone,
            Ok(()) if e.kind() == std::io::ErrorKind::NotFound => exited(process.pid),
            Ok(()) => {
                let path = process.proc_path(&format!("ns/{}", kind.proc_name));
                let why = if e.kind() == std::io::ErrorKind::PermissionDenied {
                    ": another user's namespaces need ptrace access to the target (run as root or as its owner)"
                } else {
                    ""
                };
                coded(EXIT_TOOL, format!("cannot read {}: {}{why}", path.display(), crate::process::plain_io(&e)))
            }
        })?;
        let ours = ns::inode("self", kind).ok();
        if ours == Some(inode) && (all || kind.flag == libc::CLONE_NEWUSER) {
            trace::note(format_args!(
                "skipping {}: the target's {}:[{inode}] is ours already",
                kind.proc_name, kind.proc_name
            ));
            continue;
        }
        chosen.push(TargetNs { kind, inode });
    }
    Ok(chosen)
}

/// The bits of `namespaces`, or'ed.
pub fn flags_of(namespaces: &[TargetNs]) -> libc::c_int {
    namespaces.iter().fold(0, |acc, n| acc | n.kind.flag)
}

/// Join `namespaces` of the target in one setns on its pidfd. Ok(false): the kernel refused the
/// pidfd form for a reason other than the target's death; the caller joins file by file instead,
/// which also names the namespace that is refused.
pub fn join_by_pidfd(process: &Process, pidfd: &OwnedFd, namespaces: &[TargetNs]) -> anyhow::Result<bool> {
    let flags = flags_of(namespaces);
    let listed: Vec<String> = namespaces.iter().map(|n| format!("{}:[{}]", n.kind.proc_name, n.inode)).collect();
    let target = format!("pidfd {} [{}]", process.pid, listed.join(" "));
    let result = setns(pidfd, flags);
    let traced = trace::run(Step::Setns { target, flags }, || result);
    match result {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Err(exited(process.pid)),
        Err(errno) => {
            drop(traced);
            trace::note(format_args!("setns on a pidfd failed ({errno:?}): joining the namespace files one by one"));
            Ok(false)
        }
    }
}

/// Open the target's namespace files for `namespaces`, proven to be the pinned process's.
pub fn open_target_files(process: &Process, namespaces: &[TargetNs]) -> anyhow::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for n in namespaces {
        let path = process.proc_path(&format!("ns/{}", n.kind.proc_name));
        let entry =
            open_entry(n.kind, path)
                .map_err(|e| if process.check_alive().is_err() { exited(process.pid) } else { e })?;
        entries.push(entry);
    }
    process.check_alive()?;
    Ok(entries)
}

/// Open `--ns-file` namespaces, checking each is a namespace of the kind it was given as.
pub fn open_files(files: &[NsFile]) -> anyhow::Result<Vec<Entry>> {
    files
        .iter()
        .map(|f| {
            open_entry(f.kind, f.path.clone())
                .map_err(|e| e.context(format!("--ns-file {}={}", f.kind.proc_name, f.path.display())))
        })
        .collect()
}

fn open_entry(kind: &'static Kind, path: PathBuf) -> anyhow::Result<Entry> {
    use nix::fcntl::OFlag;
    let fd = trace::run(Step::Open(path.clone()), || {
        nix::fcntl::open(&path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
    })?;
    check_kind(&fd, kind, &path)?;
    let inode = nix::sys::stat::fstat(&fd)?.st_ino;
    let shown = format!("{} [{}:[{inode}]]", path.display(), kind.proc_name);
    Ok(Entry { kind, shown, fd })
}

/// ioctl(NS_GET_NSTYPE) (Linux 4.11): which kind of namespace a descriptor names.
fn check_kind(fd: &OwnedFd, kind: &Kind, path: &std::path::Path) -> anyhow::Result<()> {
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703; // _IO(0xb7, 0x3), linux/nsfs.h
                                                 // SAFETY: NS_GET_NSTYPE takes no argument and only reads the descriptor's inode.
    let found = Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) });
    match found {
        Ok(flag) if flag == kind.flag => Ok(()),
        Ok(flag) => {
            let other = KINDS.iter().find(|k| k.flag == flag).map_or("another", |k| k.proc_name);
            Err(coded(
                EXIT_TOOL,
                format!(
                    "--ns-file {}={}: that is a {other} namespace, not a {} namespace",
                    kind.proc_name,
                    path.display(),
                    kind.proc_name
                ),
            ))
        }
        Err(_) => Err(coded(
            EXIT_TOOL,
            format!(
                "--ns-file {}={}: not a namespace file (expected /proc/PID/ns/{} or a bind mount of it)",
                kind.proc_name,
                path.display(),
                kind.proc_name
            ),
        )),
    }
}

/// util-linux's two passes: everything but the user namespace (errors ignored), then the user
/// namespace and what failed before (errors reported, naming the namespace). Returns the bits joined.
pub fn join_files(mut entries: Vec<Entry>) -> anyhow::Result<libc::c_int> {
    entries.sort_by_key(|e| KINDS.iter().position(|k| k.flag == e.kind.flag));
    let mut joined = 0;
    let mut left = Vec::new();
    for e in entries {
        if e.kind.flag != libc::CLONE_NEWUSER && join_entry(&e).is_ok() {
            joined |= e.kind.flag;
        } else {
            left.push(e);
        }
    }
    // The user namespace sorts first, so it is joined before the retries.
    for e in left {
        join_entry(&e)?;
        joined |= e.kind.flag;
    }
    Ok(joined)
}

fn join_entry(e: &Entry) -> anyhow::Result<()> {
    trace::run(Step::Setns { target: e.shown.clone(), flags: e.kind.flag }, || setns(&e.fd, e.kind.flag))
}

fn setns(fd: impl AsFd, flags: libc::c_int) -> nix::Result<()> {
    // SAFETY: setns takes a descriptor and a flag word; it changes only this (single-threaded) process.
    Errno::result(unsafe { libc::setns(fd.as_fd().as_raw_fd(), flags) }).map(drop)
}
