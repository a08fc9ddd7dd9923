//! The process whose maps are written, pinned so that a reused PID is never mapped.
//! See pidfd_open(2), pidfd_send_signal(2), proc(5).
//!
//! A PID is only a number: between reading it and writing /proc/PID/uid_map the process can
//! exit and the number can go to another process. So: pidfd_open(PID) first, then open the
//! /proc/PID directory, then ask the pidfd whether the process is still alive. If it is, the
//! directory was opened while PID still named our process, and a /proc directory descriptor
//! stays bound to that process for good: once it exits, every file under it answers ESRCH or
//! ENOENT, even when the number is reused. Every later step goes through `/proc/self/fd/N`.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::bail;
use nix::errno::Errno;

use crate::trace::{self, Step};

/// A live process, pinned by a pidfd and a descriptor of its /proc directory.
#[derive(Debug)]
pub struct Target {
    pub pid: i32,
    pidfd: OwnedFd,
    dir: File,
}

impl Target {
    /// Pin process `pid`; refuse when it does not exist or has already exited (a zombie).
    pub fn open(pid: i32) -> anyhow::Result<Target> {
        if pid <= 0 {
            bail!("{pid} is not a process id");
        }
        let pidfd = trace::run(Step::PidfdOpen(pid), || {
            // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
            let fd = Errno::result(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
            // SAFETY: the kernel just gave us this descriptor (close-on-exec by definition).
            Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
        })
        .map_err(|e| no_such(pid, e))?;
        let path = PathBuf::from(format!("/proc/{pid}"));
        let dir = trace::run_io(Step::Open(path.clone()), || {
            std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY).open(&path)
        })
        .map_err(|e| no_such(pid, e))?;
        let target = Target { pid, pidfd, dir };
        target.check_alive()?;
        trace::note(format!("{} is /proc/{pid}, pinned while the pidfd says it is alive", target.proc_dir().display()));
        Ok(target)
    }

    /// The process's /proc directory, through the pinned descriptor.
    pub fn proc_dir(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.dir.as_raw_fd()))
    }

    /// The owner of the process, as /proc shows it: its effective uid and gid (root when it is
    /// not dumpable), which is what shadow's newuidmap checks.
    pub fn owner(&self) -> anyhow::Result<(u32, u32)> {
        let meta = self.dir.metadata()?;
        Ok((meta.uid(), meta.gid()))
    }

    /// Refuse a target that has exited, even if not yet reaped: signal 0 through the pidfd, then
    /// the state letter in /proc/PID/stat (Z or X: a zombie's maps are no one's).
    pub fn check_alive(&self) -> anyhow::Result<()> {
        let sent = trace::run(Step::Call(format!("pidfd_send_signal({}, 0, NULL, 0)", self.pidfd.as_raw_fd())), || {
            // SAFETY: signal 0 only checks; no siginfo pointer is passed.
            let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, self.pidfd.as_raw_fd(), 0, std::ptr::null::<u8>(), 0) };
            match Errno::result(r) {
                // EPERM: alive, but not ours to signal; ownership is judged elsewhere.
                Ok(_) | Err(Errno::EPERM) => Ok(()),
                Err(e) => Err(e),
            }
        });
        if sent.is_err() || matches!(self.state().as_deref(), None | Some("Z") | Some("X")) {
            bail!("process {} has exited: nothing was mapped", self.pid);
        }
        Ok(())
    }

    fn state(&self) -> Option<String> {
        let stat = std::fs::read_to_string(self.proc_dir().join("stat")).ok()?;
        // "pid (comm) S ...": comm may hold spaces and parentheses; the state follows the last ')'.
        let after = &stat[stat.rfind(')')? + 1..];
        after.split_whitespace().next().map(str::to_string)
    }
}

fn no_such(pid: i32, err: anyhow::Error) -> anyhow::Error {
    if Path::new(&format!("/proc/{pid}")).exists() {
        err
    } else {
        anyhow::anyhow!("process {pid} does not exist (or has exited): nothing was mapped")
    }
}

/// Read a PID file (`nsexec --pidfile`, `unshare`'s `echo $$ > F`): one decimal number.
pub fn read_pidfile(path: &Path) -> anyhow::Result<i32> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read pid file {}: {}", path.display(), crate::process::plain_io(&e)))?;
    let text = text.trim();
    match text.parse::<i32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => bail!("pid file {} does not hold a process id", path.display()),
    }
}
