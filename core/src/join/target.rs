//! The target process: found by PID or pidfile, pinned with a pidfd. See pidfd_open(2), proc(5).
//!
//! Rules that bite:
//! - A PID is only a name: the process can exit and the number be reused between the lookup and
//!   the join. A pidfd refers to one process for ever; everything read under /proc/PID is trusted
//!   only if the pidfd still shows the process alive afterwards (pidfd_send_signal with signal 0).
//! - Without pidfds (kernels before 5.3) the start time in /proc/PID/stat is the identity: read
//!   it before and after opening, equal means the same process.
//! - A zombie still has its PID and pidfd, but no namespaces: /proc/PID/ns/* are gone and
//!   setns(pidfd) fails with ESRCH.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use nix::errno::Errno;

use crate::cli::{coded, EXIT_TOOL};
use crate::trace::{self, Step};

/// A running process whose namespaces are to be joined.
pub struct Process {
    pub pid: i32,
    /// Absent on kernels without pidfd_open(2), or when asked (`--no-pidfd`).
    pub pidfd: Option<OwnedFd>,
    start_time: u64,
}

impl Process {
    /// Pin process `pid`: its start time, then (when wanted and possible) a pidfd.
    pub fn pin(pid: i32, want_pidfd: bool) -> anyhow::Result<Process> {
        let start_time = crate::process::start_time(pid).map_err(|_| gone(pid, "there is no such process"))?;
        let pidfd = if want_pidfd { open_pidfd(pid)? } else { None };
        let process = Process { pid, pidfd, start_time };
        // The pidfd may have been opened on a newcomer that took the PID after we read the start time.
        process.check_alive()?;
        Ok(process)
    }

    /// /proc/PID/`rel`.
    pub fn proc_path(&self, rel: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/{rel}", self.pid))
    }

    /// Prove that whatever was opened under /proc/PID so far belonged to the pinned process.
    pub fn check_alive(&self) -> anyhow::Result<()> {
        let alive = match &self.pidfd {
            // EPERM: alive, but not ours to signal (an unprivileged caller's target).
            Some(fd) => matches!(pidfd_signal0(fd), Ok(()) | Err(Errno::EPERM)),
            None => crate::process::start_time(self.pid).is_ok_and(|t| t == self.start_time),
        };
        if alive {
            Ok(())
        } else {
            Err(exited(self.pid))
        }
    }

    /// Open a directory of the target (`root`, `cwd`) close-on-exec, for fchdir after the join.
    pub fn open_dir(&self, rel: &str) -> anyhow::Result<OwnedFd> {
        use nix::fcntl::OFlag;
        let path = self.proc_path(rel);
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        trace::run(Step::Open(path.clone()), || nix::fcntl::open(&path, flags, nix::sys::stat::Mode::empty()))
            .map_err(|e| if self.check_alive().is_err() { exited(self.pid) } else { e })
    }
}

/// The error for a target that went away after it was found.
pub fn exited(pid: i32) -> anyhow::Error {
    coded(EXIT_TOOL, format!("target process {pid} exited before its namespaces could be joined: nothing was joined"))
}

fn gone(pid: i32, why: &str) -> anyhow::Error {
    coded(EXIT_TOOL, format!("target process {pid}: {why}"))
}

fn open_pidfd(pid: i32) -> anyhow::Result<Option<OwnedFd>> {
    // SAFETY: pidfd_open takes a pid and a flag word; it returns a new descriptor or -1.
    // Since Linux 5.10 the pidfd is always close-on-exec.
    let result = Errno::result(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) });
    let traced = trace::run(Step::PidfdOpen(pid), || result);
    match result {
        // SAFETY: a non-negative result of pidfd_open is a descriptor we now own.
        Ok(fd) => Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })),
        Err(Errno::ENOSYS) => {
            trace::note("this kernel has no pidfd_open (before 5.3): checking the target by its start time");
            Ok(None)
        }
        Err(Errno::ESRCH) => Err(gone(pid, "there is no such process")),
        Err(_) => traced.map(|_| None),
    }
}

fn pidfd_signal0(fd: &OwnedFd) -> nix::Result<()> {
    // SAFETY: signal 0 only checks that the process exists; null info and zero flags are allowed.
    Errno::result(unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), 0, std::ptr::null::<u8>(), 0) })
        .map(drop)
}
