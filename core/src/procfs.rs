//! A process pinned for as long as a tool works on it, and what /proc says about it.
//! See pidfd_open(2), pidfd_send_signal(2), proc(5).
//!
//! Rules that bite:
//! - A PID is only a name: the process can exit and the number go to another process between
//!   the lookup and the use. A pidfd refers to one process for ever; whatever was read or opened
//!   under /proc/PID is trusted only if the pidfd still shows the process alive afterwards
//!   (pidfd_send_signal with signal 0; EPERM means alive, but not ours to signal).
//! - Without pidfds (kernels before 5.3, or when asked) the start time in /proc/PID/stat is the
//!   identity: read before and after, equal means the same process.
//! - A zombie keeps its PID and its pidfd still takes signal 0, but it has no namespaces left and
//!   its maps are no one's: its state in /proc/PID/stat (`Z`, `X`) says it has exited.
//! - A descriptor of the /proc/PID directory, opened while the process is known to be alive,
//!   stays bound to that process: once it exits every file under it answers ESRCH or ENOENT,
//!   even when the number is reused ([`ProcDir`]).

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use nix::errno::Errno;

use crate::trace::{self, Step};

/// The fields of /proc/PID/stat the tools use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: char,
    /// When the process started (field 22, clock ticks since boot): with the PID, its identity.
    pub start_time: u64,
}

/// Parse /proc/PID/stat. The command name (field 2) may hold spaces and parentheses: the fields
/// are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let mut fields = text[text.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start_time = fields.nth(22 - 4)?.parse().ok()?;
    Some(Stat { state, start_time })
}

/// /proc/PID/stat of process `pid`.
pub fn stat(pid: i32) -> std::io::Result<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&text).ok_or_else(|| std::io::Error::from_raw_os_error(libc::EINVAL))
}

/// When process `pid` started: with the PID, its identity, which a reused PID does not share.
pub fn start_time(pid: i32) -> std::io::Result<u64> {
    stat(pid).map(|s| s.start_time)
}

/// This process's own /proc, opened (traced) before joining a mount namespace whose /proc may
/// show a PID namespace this process is not in (then /proc/self would not be found there).
pub fn open_own() -> anyhow::Result<OwnedFd> {
    use nix::fcntl::OFlag;
    let path = PathBuf::from("/proc");
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    trace::run(Step::Open(path.clone()), || nix::fcntl::open(&path, flags, nix::sys::stat::Mode::empty()))
}

/// Whether to pin with a pidfd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pidfd {
    /// A pidfd or nothing: a kernel without pidfd_open(2) is refused.
    Required,
    /// A pidfd where the kernel has them, else the start time alone.
    Preferred,
    /// The start time alone (`nsenter-lite --no-pidfd`).
    Never,
}

/// Why a process could not be pinned. The tools word it (what was not done is theirs to say).
#[derive(Debug)]
pub enum PinError {
    /// No process has that PID.
    NoSuchProcess,
    /// It exited (or is a zombie) while being pinned.
    Exited,
    /// The kernel refused pidfd_open(2); the traced error says how.
    Refused(anyhow::Error),
}

/// A running process, pinned by a pidfd (where there is one) and its start time.
#[derive(Debug)]
pub struct PinnedProcess {
    pid: i32,
    pidfd: Option<OwnedFd>,
    start_time: u64,
}

impl PinnedProcess {
    /// Pin process `pid`: a pidfd (as `pidfd` asks) and its start time, then proof that both
    /// are the same process's. Where a pidfd is required it is the identity and comes first;
    /// where it may be missing the start time is, and comes first, so that a pidfd opened on a
    /// newcomer that took the PID meanwhile is caught by the check.
    pub fn pin(pid: i32, pidfd: Pidfd) -> Result<PinnedProcess, PinError> {
        let start_time = || match stat(pid) {
            Ok(s) if pid > 0 => Ok(s.start_time),
            _ => Err(PinError::NoSuchProcess),
        };
        let (pidfd, start_time) = match pidfd {
            Pidfd::Never => (None, start_time()?),
            Pidfd::Preferred => {
                let t = start_time()?;
                (open_pidfd(pid, false)?, t)
            }
            Pidfd::Required => (open_pidfd(pid, true)?, start_time()?),
        };
        let pinned = PinnedProcess { pid, pidfd, start_time };
        if pinned.is_alive() {
            Ok(pinned)
        } else {
            Err(PinError::Exited)
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The pidfd, absent on kernels without pidfd_open(2) or when not wanted.
    pub fn pidfd(&self) -> Option<&OwnedFd> {
        self.pidfd.as_ref()
    }

    /// `/proc/PID/rel`. What is opened through it is the pinned process's only if
    /// [`is_alive`](Self::is_alive) still holds afterwards.
    pub fn path(&self, rel: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/{rel}", self.pid))
    }

    /// Whether the pinned process still runs (not a zombie): so whatever was opened under
    /// /proc/PID before this call was its.
    pub fn is_alive(&self) -> bool {
        self.pidfd.as_ref().is_none_or(|fd| signal0(fd).is_ok()) && self.same_and_running()
    }

    /// [`is_alive`](Self::is_alive), the pidfd's signal shown under `--explain` (idmap shows its
    /// checks: the race between pinning and writing is what its lab teaches).
    pub fn is_alive_traced(&self) -> bool {
        let signalled = self.pidfd.as_ref().is_none_or(|fd| {
            trace::run(Step::PidfdSendSignal { pidfd: fd.as_raw_fd(), signal: 0 }, || signal0(fd)).is_ok()
        });
        signalled && self.same_and_running()
    }

    /// /proc/PID/stat still shows the process pinned (same start time), and not a zombie.
    fn same_and_running(&self) -> bool {
        stat(self.pid).is_ok_and(|s| s.start_time == self.start_time && !matches!(s.state, 'Z' | 'X'))
    }

    /// Open directory /proc/PID/`rel` (`root`, `cwd`) close-on-exec, traced, for fchdir later.
    pub fn open_dir(&self, rel: &str) -> anyhow::Result<OwnedFd> {
        use nix::fcntl::OFlag;
        let path = self.path(rel);
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        trace::run(Step::Open(path.clone()), || nix::fcntl::open(&path, flags, nix::sys::stat::Mode::empty()))
    }

    /// The /proc/PID directory as a descriptor bound to this process, traced. The caller checks
    /// [`is_alive`](Self::is_alive) afterwards: then the directory is the pinned process's.
    pub fn open_proc_dir(&self) -> anyhow::Result<ProcDir> {
        let path = PathBuf::from(format!("/proc/{}", self.pid));
        let dir = trace::run_io(Step::Open(path.clone()), || {
            std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY).open(&path)
        })?;
        Ok(ProcDir { dir })
    }
}

/// A process's /proc directory held open: the files under [`path`](Self::path) are that
/// process's, or answer ESRCH once it has exited, whoever has its PID by then.
#[derive(Debug)]
pub struct ProcDir {
    dir: File,
}

impl ProcDir {
    /// `/proc/self/fd/N`: the directory, reached through the descriptor.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.dir.as_raw_fd()))
    }

    /// The process's owner as /proc shows it: its effective uid and gid (root when it is not
    /// dumpable), which shadow's newuidmap checks.
    pub fn owner(&self) -> std::io::Result<(u32, u32)> {
        let meta = self.dir.metadata()?;
        Ok((meta.uid(), meta.gid()))
    }
}

/// pidfd_open(2), traced; `None` on a kernel without it (before 5.3) unless `required`.
fn open_pidfd(pid: i32, required: bool) -> Result<Option<OwnedFd>, PinError> {
    let opened = rustix::process::Pid::from_raw(pid).ok_or(Errno::ESRCH).and_then(|p| {
        // Close-on-exec by definition (and explicitly since Linux 5.10).
        rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty())
            .map_err(|e| Errno::from_raw(e.raw_os_error()))
    });
    let traced = trace::run(Step::PidfdOpen(pid), || opened.as_ref().map(drop).map_err(|e| *e));
    match opened {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOSYS) if !required => {
            trace::note("this kernel has no pidfd_open (before 5.3): checking the target by its start time");
            Ok(None)
        }
        Err(Errno::ESRCH) => Err(PinError::NoSuchProcess),
        Err(_) => Err(PinError::Refused(traced.unwrap_err())),
    }
}

/// pidfd_send_signal(pidfd, 0): whether the process has not exited. EPERM: alive, but not ours
/// to signal (an unprivileged caller's target); ownership is judged elsewhere.
fn signal0(fd: &OwnedFd) -> nix::Result<()> {
    // SAFETY: signal 0 only checks; a null siginfo and zero flags are allowed. (rustix's
    // pidfd_send_signal takes only real signals.)
    let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), 0, std::ptr::null::<u8>(), 0) };
    match Errno::result(r) {
        Ok(_) | Err(Errno::EPERM) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_survives_odd_command_names() {
        let stat = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200";
        assert_eq!(parse_stat(stat), Some(Stat { state: 'S', start_time: 987654 }));
        assert_eq!(parse_stat("4242 (sleep) Z 1"), None);
        assert_eq!(parse_stat("garbage"), None);
        let me = std::process::id() as i32;
        assert_eq!(start_time(me).unwrap(), start_time(me).unwrap());
    }

    #[test]
    fn our_own_process_pins_and_stays_alive() {
        let me = PinnedProcess::pin(std::process::id() as i32, Pidfd::Preferred).unwrap();
        assert!(me.is_alive() && me.is_alive_traced());
        assert_eq!(me.path("ns/net"), PathBuf::from(format!("/proc/{}/ns/net", me.pid())));
        let dir = me.open_proc_dir().unwrap();
        assert!(dir.path().join("stat").exists());
        assert!(matches!(PinnedProcess::pin(2_147_483_646, Pidfd::Required), Err(PinError::NoSuchProcess)));
        assert!(matches!(PinnedProcess::pin(0, Pidfd::Never), Err(PinError::NoSuchProcess)));
    }
}
