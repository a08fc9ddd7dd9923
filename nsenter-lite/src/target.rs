//! The target process, found by PID, pidfile or container and pinned (core's
//! [`PinnedProcess`]), and nsenter-lite's words for a target that went away.
//!
//! Everything read under /proc/PID (namespace inodes, root, cwd, the namespace files) is trusted
//! only if the pinned process is still alive afterwards: [`check_alive`] after each.

use std::os::fd::OwnedFd;

use isolab_core::exit::{coded, EXIT_TOOL};
use isolab_core::procfs::{Pidfd, PinError, PinnedProcess};

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
