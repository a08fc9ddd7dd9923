//! The target process, found by PID, pidfile or container and pinned (core's
//! [`PinnedProcess`]), and nsenter-lite's words for a target that went away.
//!
//! Everything read under /proc/PID (namespace inodes, root, cwd, the namespace files) is trusted
//! only if the pinned process is still alive afterwards: [`check_alive`] after each.
//!
//! The owner's own container, when its init cannot be read ([`joinable`]). See ptrace(2)
//! "Ptrace access mode checking", proc(5) /proc/PID/ns and /proc/PID/task/TID/children,
//! pid_namespaces(7). `nsexec --init` stays as PID 1 of the container and makes itself
//! non-dumpable, so that the command cannot open /proc/1/exe and write through it to the nsexec
//! binary on the host (runc CVE-2019-5736): for a rootless container that binary is often the
//! student's own, writable by the very uid the container's root maps to. The kernel then lets
//! only CAP_SYS_PTRACE over the init's mm (the host's user namespace: it was exec'd there) read
//! /proc/1/ns/* or setns(pidfd) into it, so even the container's owner is refused.
//!
//! The init stays closed and its command is joined instead: its first child in the same PID
//! namespace (same depth of NSpid, parent the init). That process was exec'd inside the
//! container's user namespace, which its owner holds every capability in, so the owner may read
//! and join it; and it has the init's namespaces, since the init forks it after setting them up
//! (its time namespace is even the one made for children). What it changed since (a namespace it
//! unshared) is the container's own business, as a process of its own would be. Root reads the
//! init as before: nothing changes for it.

use std::os::fd::OwnedFd;

use isolab_core::exit::{coded, EXIT_TOOL};
use isolab_core::procfs::{self, Pidfd, PinError, PinnedProcess};
use isolab_core::trace;

/// The process whose namespaces to join for target `pid`: `pid` itself when its namespaces can
/// be read, else the command of a non-dumpable namespace init (see the module's comment).
pub fn joinable(pid: i32) -> i32 {
    match procfs::namespaces_readable(pid) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
        _ => return pid,
    }
    let Some(depth) = procfs::status(pid).ok().filter(|s| s.is_namespace_init()).map(|s| s.nspid.len()) else {
        return pid;
    };
    match command_of(pid, depth) {
        Some(child) => {
            trace::note(format_args!(
                "process {pid} is PID 1 of its namespace and not dumpable (nsexec --init, CVE-2019-5736): joining its command {child}, which has its namespaces"
            ));
            child
        }
        None => pid,
    }
}

/// The oldest child of `init` in the same PID namespace whose namespaces we may read.
fn command_of(init: i32, depth: usize) -> Option<i32> {
    let mut found: Vec<(u64, i32)> = procfs::children(init)
        .into_iter()
        .filter(|&c| {
            let same_ns = procfs::status(c).is_ok_and(|s| s.nspid.len() == depth);
            same_ns && procfs::namespaces_readable(c).is_ok()
        })
        .filter_map(|c| Some((procfs::start_time(c).ok()?, c)))
        .collect();
    found.sort_unstable();
    found.first().map(|&(_, c)| c)
}

/// Pin process `pid`, with a pidfd where the kernel has them unless `pidfd` is false.
pub fn pin(pid: i32, pidfd: bool) -> anyhow::Result<PinnedProcess> {
    PinnedProcess::pin(pid, if pidfd { Pidfd::Preferred } else { Pidfd::Never }).map_err(|e| match e {
        PinError::NoSuchProcess => coded(EXIT_TOOL, format!("target process {pid}: there is no such process")),
        PinError::Exited => exited(pid),
        PinError::Refused(err) => err,
    })
}

/// Prove that whatever was opened under /proc/PID so far belonged to the pinned process.
pub fn check_alive(process: &PinnedProcess) -> anyhow::Result<()> {
    if process.is_alive() {
        Ok(())
    } else {
        Err(exited(process.pid()))
    }
}

/// The error for a target that went away after it was found.
pub fn exited(pid: i32) -> anyhow::Error {
    coded(EXIT_TOOL, format!("target process {pid} exited before its namespaces could be joined: nothing was joined"))
}

/// A directory of the target (`root`, `cwd`), for fchdir after the join.
pub fn open_dir(process: &PinnedProcess, rel: &str) -> anyhow::Result<OwnedFd> {
    process.open_dir(rel).map_err(|e| if process.is_alive() { e } else { exited(process.pid()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_readable_target_is_itself() {
        let me = std::process::id() as i32;
        assert_eq!(joinable(me), me);
        assert!(!procfs::status(me).unwrap().is_namespace_init(), "the test runner is no namespace init");
    }
}
