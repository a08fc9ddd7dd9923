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

use crate::capabilities::Sets;
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

/// The fields of /proc/PID/status the tools use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// The real uid (first of `Uid:`).
    pub uid: Option<u32>,
    /// `NSpid:`: the PID in each nested PID namespace, outermost first.
    pub nspid: Vec<i32>,
    /// `CapInh`, `CapPrm`, `CapEff`, `CapBnd`, `CapAmb`: the capability sets, counted in the
    /// process's own user namespace. None if any of the five is missing.
    pub caps: Option<Sets>,
    /// `NoNewPrivs: 1`.
    pub no_new_privs: bool,
    /// `Seccomp:` 0 (none), 1 (strict), 2 (filter); None on a kernel without seccomp.
    pub seccomp: Option<u8>,
    /// `Seccomp_filters:` (Linux 5.9): how many filters the process has, stacked.
    pub seccomp_filters: Option<u32>,
}

impl Status {
    /// PID 1 of a PID namespace below the outermost: a container's init.
    pub fn is_namespace_init(&self) -> bool {
        self.nspid.len() > 1 && self.nspid.last() == Some(&1)
    }
}

/// Parse /proc/PID/status (lines `Key:\tvalue`); a field it lacks stays empty.
pub fn parse_status(text: &str) -> Status {
    let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':'));
    let mask = |key: &str| field(key).and_then(|v| u64::from_str_radix(v.trim(), 16).ok());
    let number = |key: &str| field(key).and_then(|v| v.trim().parse::<u32>().ok());
    let caps = (|| {
        Some(Sets {
            bounding: mask("CapBnd")?,
            effective: mask("CapEff")?,
            permitted: mask("CapPrm")?,
            inheritable: mask("CapInh")?,
            ambient: mask("CapAmb")?,
        })
    })();
    Status {
        uid: field("Uid").and_then(|v| v.split_whitespace().next()?.parse().ok()),
        nspid: field("NSpid")
            .map(|v| v.split_whitespace().filter_map(|n| n.parse().ok()).collect())
            .unwrap_or_default(),
        caps,
        no_new_privs: number("NoNewPrivs") == Some(1),
        seccomp: number("Seccomp").and_then(|n| u8::try_from(n).ok()),
        seccomp_filters: number("Seccomp_filters"),
    }
}

/// /proc/PID/status of process `pid`.
pub fn status(pid: i32) -> std::io::Result<Status> {
    std::fs::read_to_string(format!("/proc/{pid}/status")).map(|t| parse_status(&t))
}

/// The children of process `pid`'s main thread (/proc/PID/task/PID/children, Linux 3.5): PIDs
/// as this process's PID namespace sees them. Empty when it cannot be read.
pub fn children(pid: i32) -> Vec<i32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    text.split_whitespace().filter_map(|c| c.parse().ok()).collect()
}

/// Whether this process may read process `pid`'s namespaces (/proc/PID/ns/user): a ptrace
/// access check, which a non-dumpable process fails for anyone without CAP_SYS_PTRACE over the
/// user namespace it was exec'd in (ptrace(2) "Ptrace access mode checking").
pub fn namespaces_readable(pid: i32) -> std::io::Result<()> {
    std::fs::read_link(format!("/proc/{pid}/ns/user")).map(drop)
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
    fn status_gives_the_real_uid_and_every_pid_level() {
        let parsed = parse_status("Name:\tsh\nUid:\t1000\t0\t0\t0\nNSpid:\t4242\t7\t1\n");
        assert_eq!(parsed, Status { uid: Some(1000), nspid: vec![4242, 7, 1], ..Status::default() });
        assert!(parsed.is_namespace_init());
        assert!(parse_status("Name:\tsleep\nNSpid:\t21370\t1\n").is_namespace_init());
        assert!(!parse_status("NSpid:\t21370\t5\n").is_namespace_init());
        // PID 1 of the host (the outermost namespace) is not a container's init.
        assert!(!parse_status("NSpid:\t1\n").is_namespace_init());
        assert_eq!(parse_status("Name:\tx\n"), Status::default());
        // A key that only begins like another is not it.
        assert_eq!(parse_status("Uidx:\t5\n").uid, None);
        let me = std::process::id() as i32;
        assert_eq!(status(me).unwrap().uid, Some(nix::unistd::getuid().as_raw()));
        assert!(namespaces_readable(me).is_ok());
    }

    // A container's confinement as /proc/PID/status shows it (Docker's 14, filter mode, one
    // filter), as a default `nsexec --rootfs` shows them (the Speculation line: a filter loaded without
    // SECCOMP_FILTER_FLAG_SPEC_ALLOW on a CPU that has the mitigation).
    #[test]
    fn status_gives_the_confinement() {
        let text = "Name:\tprobe\nNSpid:\t9\t1\nCapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\n\
                    CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\n\
                    NoNewPrivs:\t0\nSeccomp:\t2\nSeccomp_filters:\t1\nSpeculation_Store_Bypass:\tthread force mitigated\n";
        let s = parse_status(text);
        let caps = s.caps.unwrap();
        assert_eq!((caps.bounding, caps.effective, caps.permitted), (0xa80425fb, 0xa80425fb, 0xa80425fb));
        assert_eq!((caps.inheritable, caps.ambient), (0, 0));
        assert_eq!((s.no_new_privs, s.seccomp, s.seccomp_filters), (false, Some(2), Some(1)));
        // Without one of the five sets there are none; an older kernel has no Seccomp_filters.
        let old = parse_status("CapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t3f\nSeccomp:\t0\nNoNewPrivs:\t1\n");
        assert_eq!((old.caps, old.seccomp, old.seccomp_filters, old.no_new_privs), (None, Some(0), None, true));
        let me = status(std::process::id() as i32).unwrap();
        assert!(me.caps.is_some() && me.seccomp.is_some(), "{me:?}");
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
