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
        let sent = trace::run(Step::PidfdSendSignal { pidfd: self.pidfd.as_raw_fd(), signal: 0 }, || {
            // SAFETY: signal 0 only checks; no siginfo pointer is passed.
            let r = unsafe {
                libc::syscall(libc::SYS_pidfd_send_signal, self.pidfd.as_raw_fd(), 0, std::ptr::null::<u8>(), 0)
            };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idmap::{write_map, Extent, Which};
    use std::process::{Child, Command};

    /// `unshare --user sleep 30`, once it is in its new namespace.
    fn in_new_userns() -> Child {
        let mut child = Command::new("unshare").args(["--user", "sleep", "30"]).spawn().expect("unshare");
        let ours = std::fs::metadata("/proc/self/ns/user").unwrap().ino();
        for _ in 0..500 {
            let comm = std::fs::read_to_string(format!("/proc/{}/comm", child.id())).unwrap_or_default();
            let ns = std::fs::metadata(format!("/proc/{}/ns/user", child.id())).map(|m| m.ino()).unwrap_or(ours);
            if ns != ours && comm.trim() == "sleep" {
                return child;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("unshare --user did not start");
    }

    fn end(mut child: Child) {
        let _ = child.kill();
        let _ = child.wait();
    }

    // PID reuse race (peers.md §4): the number goes to a new process between pinning and writing.
    // ns_last_pid hands the old number to the next process, so the race is forced, not hoped for.
    #[test]
    fn a_reused_pid_is_never_mapped() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP a_reused_pid_is_never_mapped: needs root (ns_last_pid)");
            return;
        }
        let first = in_new_userns();
        let pid = first.id() as i32;
        let target = Target::open(pid).unwrap();
        end(first);
        let second = (0..200)
            .find_map(|_| {
                std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).unwrap();
                let child = in_new_userns();
                if child.id() as i32 == pid {
                    Some(child)
                } else {
                    end(child);
                    None
                }
            })
            .expect("pid was not reused in 200 tries");
        let err =
            write_map(&target.proc_dir(), Which::Uid, &[Extent { inside: 0, outside: 100000, count: 1 }]).unwrap_err();
        let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
        end(second);
        assert_eq!(err.to_string(), format!("process {pid} has exited: nothing was mapped"));
        assert_eq!(uid_map, "", "the new process with the old number was mapped");
        assert!(target.check_alive().is_err());
    }
}
