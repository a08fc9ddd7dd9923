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

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use isolab_core::exit::{coded, EXIT_TOOL};
use isolab_core::ns::{self, Flags, Kind, KINDS};
use isolab_core::procfs::PinnedProcess;
use isolab_core::trace::{self, Errno};

use crate::target::{check_alive, exited};

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
    process: &PinnedProcess,
    requested: Flags,
    all: bool,
    from_files: Flags,
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
        let inode = ns::inode(&process.pid().to_string(), kind).map_err(|e| match check_alive(process) {
            // A zombie is alive to its pidfd but its namespaces are gone.
            Err(gone) => gone,
            Ok(()) if e.kind() == std::io::ErrorKind::NotFound => exited(process.pid()),
            Ok(()) => {
                let path = process.path(&format!("ns/{}", kind.proc_name));
                let why = if e.kind() == std::io::ErrorKind::PermissionDenied {
                    ": another user's namespaces need ptrace access to the target (run as root or as its owner)"
                } else {
                    ""
                };
                coded(EXIT_TOOL, format!("cannot read {}: {}{why}", path.display(), isolab_core::process::plain_io(&e)))
            }
        })?;
        let ours = ns::inode("self", kind).ok();
        if ours == Some(inode) && (all || kind.flag == ns::USER.flag) {
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
pub fn flags_of(namespaces: &[TargetNs]) -> Flags {
    namespaces.iter().fold(0, |acc, n| acc | n.kind.flag)
}

/// Join `namespaces` of the target in one setns on its pidfd. Ok(false): the kernel refused the
/// pidfd form for a reason other than the target's death; the caller joins file by file instead,
/// which also names the namespace that is refused.
pub fn join_by_pidfd(process: &PinnedProcess, pidfd: &OwnedFd, namespaces: &[TargetNs]) -> anyhow::Result<bool> {
    let flags = flags_of(namespaces);
    let listed: Vec<String> = namespaces.iter().map(|n| format!("{}:[{}]", n.kind.proc_name, n.inode)).collect();
    let target = format!("pidfd {} [{}]", process.pid(), listed.join(" "));
    match ns::setns(pidfd, flags, target).map_err(|e| trace::errno_of(&e)) {
        Ok(()) => Ok(true),
        Err(Some(Errno::ESRCH)) => Err(exited(process.pid())),
        Err(errno) => {
            let errno = errno.unwrap_or(Errno::UnknownErrno);
            trace::note(format_args!("setns on a pidfd failed ({errno:?}): joining the namespace files one by one"));
            Ok(false)
        }
    }
}

/// Open the target's namespace files for `namespaces`, proven to be the pinned process's.
pub fn open_target_files(process: &PinnedProcess, namespaces: &[TargetNs]) -> anyhow::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for n in namespaces {
        let path = process.path(&format!("ns/{}", n.kind.proc_name));
        let entry =
            open_entry(n.kind, path).map_err(|e| if !process.is_alive() { exited(process.pid()) } else { e })?;
        entries.push(entry);
    }
    check_alive(process)?;
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
    let opened = ns::open(&path)?;
    check_kind(opened.kind, kind, &path)?;
    let shown = format!("{} [{}:[{}]]", path.display(), kind.proc_name, opened.inode);
    Ok(Entry { kind, shown, fd: opened.fd })
}

/// The file names a namespace of the kind it was given as (`found`, by NS_GET_NSTYPE).
fn check_kind(found: Option<&Kind>, kind: &Kind, path: &std::path::Path) -> anyhow::Result<()> {
    match found {
        Some(found) if found.flag == kind.flag => Ok(()),
        Some(other) => {
            let other = other.proc_name;
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
        None => Err(coded(
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
pub fn join_files(mut entries: Vec<Entry>) -> anyhow::Result<Flags> {
    entries.sort_by_key(|e| KINDS.iter().position(|k| k.flag == e.kind.flag));
    let mut joined = 0;
    let mut left = Vec::new();
    for e in entries {
        if e.kind.flag != ns::USER.flag && join_entry(&e).is_ok() {
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
    ns::setns(&e.fd, e.kind.flag, e.shown.clone())
}
