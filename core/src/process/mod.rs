//! Processes: fork, exec, wait, signal forwarding, and passing the payload's status on.
//! See fork(2), execve(2), wait(2), signal(7), PR_SET_PDEATHSIG in prctl(2).
//!
//! Rules that bite:
//! - A supervising parent must die the way its child died, so a shell or Makefile sees the same
//!   status: re-raise the fatal signal on itself (default handler, unblocked, no core dump), and
//!   exit 128+N only if it survives (it can: PID 1 of a namespace ignores unhandled signals).
//! - Exec goes through std's `CommandExt::exec`, never a raw execvp: Rust's runtime ignores
//!   SIGPIPE and a raw exec would hand that on (`yes | head` would never end); std resets it.
//! - PR_SET_PDEATHSIG fires when the parent *thread* exits and is cleared by exec of a set-id
//!   binary; check the parent is still the expected one right after setting it.
//! - The kernel also clears it whenever the process's effective or filesystem uid or gid change
//!   (commit_creds): a tethered process that becomes another user (setresuid into a user
//!   namespace, --user-id) is set free. [`rearm_tether`] sets it again after every credential
//!   change, and [`inherit_tether`] remembers one a tool was exec'd with, so the chain
//!   `cgexec-rs -- nsexec --map-users ...` holds.

pub mod handoff;

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::Context as _;
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::sys::signal::{self, SigHandler};
use nix::sys::wait::{waitpid, WaitPidFlag};
// The types of this module's API, so that a tool names them without a dependency of its own.
pub use nix::sys::signal::{SigSet, Signal};
pub use nix::sys::wait::WaitStatus;
pub use nix::unistd::{ForkResult, Pid};

use crate::exit::{self, coded, EXIT_CANNOT_EXEC, EXIT_NOT_FOUND, EXIT_TOOL};
use crate::trace::{self, Prctl, Step};

/// The signals a supervising parent passes on to its child (Docker `--sig-proxy`).
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// fork(2), traced. Callers are single-threaded (the tools never start threads).
pub fn fork() -> anyhow::Result<ForkResult> {
    // Traced before the call: the child often runs (and traces) before the parent returns.
    trace::explain(&Step::Fork, None);
    // SAFETY: the tools are single-threaded, so the child may run any code after fork.
    let forked = unsafe { nix::unistd::fork() }.map_err(|e| trace::failure(&Step::Fork, e))?;
    if forked.is_child() {
        // The kernel gives a child no parent-death signal: nor does our record of it.
        *tether() = None;
    }
    Ok(forked)
}

/// The parent-death signal this process holds and how to tell that its parent is still there.
struct Tether {
    signal: Signal,
    parent: Parent,
}

enum Parent {
    /// The read end of a pipe whose write end only the parent holds: EOF once it is gone.
    Pipe(std::os::fd::OwnedFd),
    /// The parent's PID when the tool started (it was exec'd with the signal already set).
    Pid(Pid),
}

impl Tether {
    fn parent_gone(&self) -> bool {
        use std::os::fd::AsFd;
        match &self.parent {
            Parent::Pipe(alive) => {
                let mut fds = [nix::poll::PollFd::new(alive.as_fd(), nix::poll::PollFlags::POLLIN)];
                nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).is_ok_and(|n| n > 0)
            }
            // Re-parented (to init or a subreaper): the parent that set the signal is gone. In a
            // new PID namespace the parent is outside and shows as 0: that cannot be told.
            Parent::Pid(ppid) => ppid.as_raw() != 0 && nix::unistd::getppid() != *ppid,
        }
    }
}

/// This process's tether (single-threaded tools: the lock is never contended).
fn tether() -> std::sync::MutexGuard<'static, Option<Tether>> {
    static TETHER: std::sync::Mutex<Option<Tether>> = std::sync::Mutex::new(None);
    TETHER.lock().unwrap_or_else(|e| e.into_inner())
}

/// At start: a tool exec'd by a tethered process (cgexec-rs's child execs nsexec) holds its
/// parent-death signal across exec; remember it, to set it again after a credential change.
pub fn inherit_tether() {
    if let Ok(Some(signal)) = nix::sys::prctl::get_pdeathsig() {
        *tether() = Some(Tether { signal, parent: Parent::Pid(nix::unistd::getppid()) });
    }
}

/// Set the parent-death signal again, and die now if the parent died while it was off. Call
/// after every credential change (setresuid, setresgid, capset, unshare or setns of a user
/// namespace); a no-op for a process without a tether.
pub fn rearm_tether() -> anyhow::Result<()> {
    let held = tether();
    let Some(t) = held.as_ref() else { return Ok(()) };
    trace::run(Step::Prctl(Prctl::SetPdeathsig(t.signal)), || nix::sys::prctl::set_pdeathsig(t.signal))?;
    if t.parent_gone() {
        let _ = signal::raise(t.signal);
        std::process::exit(EXIT_TOOL.into());
    }
    Ok(())
}

/// End this process at once with `code`: _exit(2), so that no destructor or atexit handler of
/// the parent's image runs twice in a forked helper.
pub fn exit_now(code: u8) -> ! {
    // SAFETY: _exit has no preconditions; it never returns.
    unsafe { libc::_exit(code.into()) }
}

/// Whether this process leads its process group (setsid(2) refuses a group leader).
pub fn is_group_leader() -> bool {
    nix::unistd::getpgrp() == nix::unistd::getpid()
}

/// setsid(2), traced: a new session without a controlling terminal.
pub fn new_session() -> anyhow::Result<()> {
    trace::run(Step::Setsid, || nix::unistd::setsid().map(drop))
}

/// A one-time go signal from a parent to a helper it forks: the helper [`Gate::wait`]s until
/// the parent [`GateKey::open`]s it, or learns that the parent dropped the key unused. A pipe,
/// both ends close-on-exec.
pub fn gate() -> anyhow::Result<(Gate, GateKey)> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    Ok((Gate(read), GateKey(write)))
}

/// The helper's end of [`gate`].
pub struct Gate(OwnedFd);

/// The parent's end of [`gate`].
pub struct GateKey(OwnedFd);

impl Gate {
    /// Block until released (true), or until the key is gone unused (false).
    pub fn wait(self) -> anyhow::Result<bool> {
        let mut byte = [0u8; 1];
        loop {
            match nix::unistd::read(&self.0, &mut byte) {
                Ok(n) => return Ok(n > 0),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl GateKey {
    pub fn open(self) -> anyhow::Result<()> {
        nix::unistd::write(&self.0, b"1")?;
        Ok(())
    }
}

/// A report from forked processes to the parent that forked them that they are ready (set up,
/// confined, about to exec): a pipe, both ends close-on-exec. Each holder of the [`ReadyFlag`]
/// (a process forked later inherits a copy) says "ready" once, and its copy goes when it execs or
/// drops it; the parent [`ReadyWait::wait`]s until every copy is gone. A holder killed before it
/// said so simply closes its copy: the parent learns it too.
pub fn ready_pipe() -> anyhow::Result<(ReadyWait, ReadyFlag)> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    Ok((ReadyWait(read), ReadyFlag(write)))
}

/// The parent's end of [`ready_pipe`].
pub struct ReadyWait(OwnedFd);

/// The forked processes' end of [`ready_pipe`].
pub struct ReadyFlag(OwnedFd);

const SAID_READY: u8 = b'r';
const FAILED_AFTER: u8 = b'x';

impl ReadyFlag {
    /// "Ready": the last step before exec (the copy then closes on exec), or before dropping it.
    pub fn say(&self) -> anyhow::Result<()> {
        nix::unistd::write(&self.0, &[SAID_READY]).context("saying ready on the set-up pipe")?;
        Ok(())
    }

    /// Taken back: the exec that followed "ready" failed.
    pub fn failed(&self) {
        let _ = nix::unistd::write(&self.0, &[FAILED_AFTER]);
    }
}

impl ReadyWait {
    /// Block until every copy of the flag is gone (exec'd, dropped, or its holder dead); true
    /// when exactly `holders` said ready and none took it back. Signals (a supervisor forwards
    /// them meanwhile) are waited through.
    pub fn wait(self, holders: usize) -> anyhow::Result<bool> {
        let (mut ready, mut failed) = (0, false);
        let mut buf = [0u8; 16];
        loop {
            match nix::unistd::read(&self.0, &mut buf) {
                Ok(0) => return Ok(ready == holders && !failed),
                Ok(n) => {
                    ready += buf[..n].iter().filter(|&&b| b == SAID_READY).count();
                    failed |= buf[..n].contains(&FAILED_AFTER);
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e).context("waiting on the set-up pipe"),
            }
        }
    }
}

/// A channel on which a helper hands descriptors to the process that forked it, one per
/// message (SCM_RIGHTS over a SOCK_SEQPACKET socket pair; both ends, and every descriptor
/// received, close-on-exec). The helper keeps the [`FdSender`], the parent the [`FdReceiver`].
pub fn fd_channel() -> anyhow::Result<(FdSender, FdReceiver)> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    let (send, recv) =
        socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).context("socketpair")?;
    Ok((FdSender(send), FdReceiver(recv)))
}

/// The helper's end of [`fd_channel`].
pub struct FdSender(OwnedFd);

/// The parent's end of [`fd_channel`].
pub struct FdReceiver(OwnedFd);

/// A sender over any connected unix socket (an engine's console socket, runc's protocol).
impl From<OwnedFd> for FdSender {
    fn from(socket: OwnedFd) -> FdSender {
        FdSender(socket)
    }
}

impl FdSender {
    /// One descriptor in one message, traced as `sendmsg(socket, SCM_RIGHTS [what])`.
    pub fn send(&self, fd: &OwnedFd, what: &str) -> anyhow::Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        use std::os::fd::AsRawFd;
        let raw = [fd.as_raw_fd()];
        let iov = [std::io::IoSlice::new(b"f")];
        trace::run(Step::SendFd(what.to_string()), || {
            sendmsg::<()>(self.0.as_raw_fd(), &iov, &[ControlMessage::ScmRights(&raw)], MsgFlags::MSG_NOSIGNAL, None)
        })?;
        Ok(())
    }
}

impl FdReceiver {
    /// The descriptor of the next message, or None at end of stream (the helper is gone: a
    /// helper that fails sends fewer and exits, and its end closes). A signal that interrupts
    /// the wait (a supervisor forwards them meanwhile) is waited through.
    pub fn recv(&self, what: &str) -> anyhow::Result<Option<OwnedFd>> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        use std::os::fd::{AsRawFd, FromRawFd, RawFd};
        let step = Step::RecvFd(what.to_string());
        let mut byte = [0u8; 1];
        let mut iov = [std::io::IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = loop {
            match recvmsg::<()>(self.0.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(trace::failure(&step, e)),
                Ok(msg) => break msg,
            }
        };
        for cmsg in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                if let Some(&fd) = fds.first() {
                    trace::explain(&step, None);
                    // SAFETY: the kernel installed this descriptor for us; nobody else owns it.
                    return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
                }
            }
        }
        Ok(None)
    }
}

/// Block the forwarded signals; returns the mask to restore with [`restore_mask`].
pub fn block_forwarded() -> signal::SigSet {
    let forwarded: signal::SigSet = FORWARDED.iter().copied().collect();
    let mut previous = signal::SigSet::empty();
    let _ = signal::sigprocmask(signal::SigmaskHow::SIG_BLOCK, Some(&forwarded), Some(&mut previous));
    previous
}

pub fn restore_mask(previous: signal::SigSet) {
    let _ = signal::sigprocmask(signal::SigmaskHow::SIG_SETMASK, Some(&previous), None);
}

/// fork(2) for a parent that will supervise the child: a SIGTERM arriving between the fork and
/// the parent's forwarding set-up would otherwise kill the parent and orphan the child. The
/// forwarded signals stay blocked across the fork; the parent forwards from then on; both
/// return with the caller's mask.
pub fn fork_supervised() -> anyhow::Result<ForkResult> {
    let previous = block_forwarded();
    let forked = fork();
    if let Ok(ForkResult::Parent { child }) = forked {
        forward_signals_to(child);
    }
    restore_mask(previous);
    forked
}

/// [`fork_supervised`], and the child gets `death_signal` when the supervisor dies, even by
/// SIGKILL (PR_SET_PDEATHSIG), so a killed tool never leaves its command running. The parent
/// keeps the tether pipe's write end for the rest of its life (close-on-exec).
pub fn fork_tethered(death_signal: Option<Signal>) -> anyhow::Result<ForkResult> {
    let (alive_r, alive_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    let forked = fork_supervised()?;
    match forked {
        ForkResult::Child => {
            drop(alive_w);
            if let Some(signal) = death_signal {
                *tether() = Some(Tether { signal, parent: Parent::Pipe(alive_r) });
                // The child must never return an error into its parent's code paths (clean-up).
                if let Err(e) = rearm_tether() {
                    exit::report_and_exit(&e);
                }
            }
        }
        ForkResult::Parent { .. } => std::mem::forget(alive_w),
    }
    Ok(forked)
}

/// The most a pidfile is read: a PID and the blanks around it fit; a longer file holds no PID
/// (and `--pidfile /dev/zero` must not read for ever).
const PIDFILE_MAX: usize = 64;

/// The PID written in a pidfile (`nsexec --pidfile`, `echo $$ > F`) (first line, surrounding
/// blanks ignored). At most [`PIDFILE_MAX`] bytes are read, and what was read is never shown:
/// a tool with privileges (idmap installed setuid) must not become a way to read files.
pub fn read_pidfile(path: &std::path::Path) -> anyhow::Result<i32> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let cannot =
        |e: std::io::Error| coded(EXIT_TOOL, format!("--pidfile: cannot read {}: {}", path.display(), plain_io(&e)));
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOCTTY).open(path).map_err(cannot)?;
    let mut bytes = Vec::with_capacity(PIDFILE_MAX + 1);
    file.take(PIDFILE_MAX as u64 + 1).read_to_end(&mut bytes).map_err(cannot)?;
    let pid = Some(bytes)
        .filter(|b| b.len() <= PIDFILE_MAX)
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|text| text.lines().next().and_then(|first| first.trim().parse::<i32>().ok()))
        .filter(|&pid| pid > 0);
    pid.with_context(|| {
        format!("--pidfile: {} does not hold a process id (a number above 0 on its first line)", path.display())
    })
}

/// Socket activation (sd_listen_fds(3)): how many descriptors from 3 on were passed to this
/// process, when `LISTEN_PID` names it; 0 otherwise (runc honours them the same way).
pub fn listen_fds() -> u32 {
    let pid = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<i32>().ok());
    if pid != Some(nix::unistd::getpid().as_raw()) {
        return 0;
    }
    std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Check that descriptors `first..first+count` came from the caller: open, and not
/// close-on-exec (which no descriptor that survived an exec is). `what` names the flag.
pub fn check_inherited(first: i32, count: u32, what: &str) -> anyhow::Result<()> {
    for fd in (first..).take(count as usize) {
        // SAFETY: F_GETFD only reads the flags of a descriptor number, open or not.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags < 0 || flags & libc::FD_CLOEXEC != 0 {
            anyhow::bail!("{what}: descriptor {fd} was not passed by the caller (runc: unable to stat preserved-fd)");
        }
    }
    Ok(())
}

/// Every descriptor from `first` on becomes close-on-exec, so the command gets only those below
/// it: close_range(2) with CLOSE_RANGE_CLOEXEC (Linux 5.11), else one fcntl per open descriptor.
pub fn close_on_exec_from(first: u32) -> anyhow::Result<()> {
    let step = Step::CloseRange { first };
    // SAFETY: close_range only sets FD_CLOEXEC on descriptors; no memory is touched.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    match Errno::result(r) {
        Ok(_) => {
            trace::explain(&step, None);
            Ok(())
        }
        Err(Errno::ENOSYS | Errno::EINVAL) => {
            let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
                .context("listing /proc/self/fd to close descriptors")?
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|&fd: &i32| fd >= first as i32)
                .collect();
            for fd in open {
                // SAFETY: F_SETFD on a descriptor number; a stale one (the listing's own) fails harmlessly.
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
            Ok(())
        }
        Err(e) => Err(trace::failure(&step, e)),
    }
}

/// The environment a command is exec'd with: the tool's own (by default) or an empty one, then
/// `set`, in order. Passed to execve(2) explicitly: the tool never edits its own environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    /// Start from an empty environment instead of the tool's.
    pub clear: bool,
    pub set: Vec<(OsString, OsString)>,
}

/// Replace this process with `argv`, in `env`. Returns only on failure: 127 when not found, else 126.
/// A tool traced by `--explain` hands the switch on ([`trace::exported`]) unless `env` is cleared.
pub fn exec(argv: &[OsString], env: &Env) -> anyhow::Error {
    let Some((prog, args)) = argv.split_first() else {
        return coded(EXIT_TOOL, "no command given");
    };
    let shown: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    trace::explain(&Step::Exec { argv: shown }, None);
    let mut command = std::process::Command::new(prog);
    command.args(args);
    if env.clear {
        command.env_clear();
    } else if let Some((key, value)) = trace::exported() {
        command.env(key, value);
    }
    // A PATH in `env` is the one execvp searches, as if the tool had set it on itself.
    let err = command.envs(env.set.iter().map(|(k, v)| (k, v))).exec();
    let name = prog.to_string_lossy();
    let code = if err.kind() == std::io::ErrorKind::NotFound { EXIT_NOT_FOUND } else { EXIT_CANNOT_EXEC };
    coded(code, format!("cannot run '{name}': {}", plain_io(&err)))
}

/// Whether `argv[0]` can be found as execvp(3) would look for it (a path as given, else each
/// PATH entry): before a container's confinement goes in, so that a missing command is the same
/// 127 with the set-up still undoable (without CAP_SYS_ADMIN and under the filter, mount points
/// could no longer be unmounted).
/// The PATH searched is the one [`exec`] hands the command: the last PATH in `env`, else ours
/// (none after `clear`: then glibc's default, /bin:/usr/bin).
pub fn check_command(argv: &[OsString], env: &Env) -> anyhow::Result<()> {
    let Some(prog) = argv.first() else { return Ok(()) };
    let path = std::path::Path::new(prog);
    let found = if prog.as_encoded_bytes().contains(&b'/') {
        path.exists()
    } else {
        let given = env.set.iter().rev().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone());
        let inherited = if env.clear { None } else { std::env::var_os("PATH") };
        let dirs = given.or(inherited).unwrap_or_else(|| "/bin:/usr/bin".into());
        std::env::split_paths(&dirs).any(|d| d.join(path).is_file())
    };
    if found {
        return Ok(());
    }
    let err = std::io::Error::from_raw_os_error(libc::ENOENT);
    Err(coded(EXIT_NOT_FOUND, format!("cannot run '{}': {}", prog.to_string_lossy(), plain_io(&err))))
}

/// The kernel's words for an I/O error without Rust's " (os error N)" suffix.
pub fn plain_io(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(n) => Errno::from_raw(n).desc().to_string(),
        None => err.to_string(),
    }
}

/// Wait for `pid` to end, retrying on EINTR (forwarded signals interrupt the wait).
pub fn wait_for(pid: Pid) -> anyhow::Result<WaitStatus> {
    loop {
        match waitpid(pid, None) {
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return Ok(status),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(e).with_context(|| format!("waiting for process {pid}")),
        }
    }
}

/// The shell's view of a wait status: the exit code, or 128+N for signal N.
pub fn status_code(status: WaitStatus) -> u8 {
    match status {
        WaitStatus::Exited(_, code) => code as u8,
        WaitStatus::Signaled(_, sig, _) => 128u8.wrapping_add(sig as u8),
        _ => EXIT_TOOL,
    }
}

/// End the way the child ended: same exit code, or the same fatal signal re-raised on ourselves.
/// Returns the code to exit with when the signal did not kill us (128+N).
pub fn die_like(status: WaitStatus) -> u8 {
    if let WaitStatus::Signaled(_, sig, _) = status {
        reraise(sig);
    }
    status_code(status)
}

fn reraise(sig: Signal) {
    // No core file of ours: the child already dumped if it was going to.
    let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
    // SAFETY: installing SIG_DFL is always sound.
    let _ = unsafe { signal::signal(sig, SigHandler::SigDfl) };
    let mut set = signal::SigSet::empty();
    set.add(sig);
    let _ = signal::sigprocmask(signal::SigmaskHow::SIG_UNBLOCK, Some(&set), None);
    let _ = signal::raise(sig);
}

static FORWARD_TO: AtomicI32 = AtomicI32::new(0);
static STOP_TIMEOUT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

// The handlers call only kill(2) and alarm(2), which are async-signal-safe, through nix's thin
// wrappers (no allocation, no lock).
extern "C" fn forward(sig: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::Relaxed);
    let Ok(signal) = Signal::try_from(sig) else { return };
    if pid > 0 {
        let _ = signal::kill(Pid::from_raw(pid), signal);
        let timeout = STOP_TIMEOUT.load(Ordering::Relaxed);
        let stop = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT].contains(&signal);
        if timeout > 0 && stop {
            // SIGALRM then sends SIGKILL (docker stop).
            nix::unistd::alarm::set(timeout);
        }
    }
}

extern "C" fn stop_now(_: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::Relaxed);
    if pid > 0 {
        let _ = signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// `docker stop`'s rule for a supervised PID 1: the kernel drops a forwarded SIGTERM that PID 1
/// has no handler for, so a stop request becomes SIGKILL after `seconds` (0: never).
pub fn escalate_stop_after(seconds: u32) {
    STOP_TIMEOUT.store(seconds, Ordering::Relaxed);
    let action =
        signal::SigAction::new(SigHandler::Handler(stop_now), signal::SaFlags::SA_RESTART, signal::SigSet::empty());
    // SAFETY: the handler only calls kill(2), which is async-signal-safe.
    let _ = unsafe { signal::sigaction(Signal::SIGALRM, &action) };
}

/// Pass [`FORWARDED`] signals on to `child` from now on (the parent of a supervised payload).
pub fn forward_signals_to(child: Pid) {
    FORWARD_TO.store(child.as_raw(), Ordering::Relaxed);
    let action =
        signal::SigAction::new(SigHandler::Handler(forward), signal::SaFlags::SA_RESTART, signal::SigSet::empty());
    for sig in FORWARDED {
        // SAFETY: the handler only calls kill(2), which is async-signal-safe.
        let _ = unsafe { signal::sigaction(sig, &action) };
    }
}

/// kill(2), traced: send `signal` to `pid` (a helper or a child this tool started).
pub fn kill(pid: Pid, signal: Signal) -> anyhow::Result<()> {
    trace::run(Step::Kill { pid: pid.as_raw(), signal: signal.to_string() }, || signal::kill(pid, signal))
}

/// Whether standard input is a terminal (then a payload could inject keystrokes into it).
pub fn stdin_is_terminal() -> bool {
    nix::unistd::isatty(std::io::stdin()).unwrap_or(false)
}

/// A signal by name or number, as kill(1) takes it: `KILL`, `SIGTERM`, `term`, `9`.
pub fn parse_signal(s: &str) -> anyhow::Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| anyhow::anyhow!("unknown signal '{s}'"));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse::<Signal>().map_err(|_| anyhow::anyhow!("unknown signal '{s}'"))
}

/// prctl(PR_SET_DUMPABLE, 0), traced: /proc/PID/* of this process becomes root's and closed to
/// ptrace-style access (exe, fd, environ, mem, PTRACE_ATTACH) for anyone without CAP_SYS_PTRACE
/// in the user namespace the tool was exec'd in, whatever namespaces it joins afterwards, until
/// execve(2) decides again for the command (runc CVE-2016-9962, CVE-2019-5736).
pub fn undumpable() -> anyhow::Result<()> {
    trace::run(Step::Prctl(Prctl::SetDumpable(false)), || nix::sys::prctl::set_dumpable(false))
}

/// Supervise `child` until it ends, forwarding signals; returns its wait status.
/// As PID 1 of a namespace (`reap_orphans`), also reaps every orphan re-parented to us (Docker `--init`).
pub fn supervise(child: Pid, reap_orphans: bool) -> anyhow::Result<WaitStatus> {
    // runc CVE-2019-5736: a supervisor the payload can see (PID 1 with --init, or a parent in
    // its PID namespace) must not let it open /proc/PID/exe and overwrite the tool's binary.
    undumpable()?;
    forward_signals_to(child);
    if !reap_orphans {
        return wait_for(child);
    }
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::__WALL)) {
            Ok(status @ (WaitStatus::Exited(p, _) | WaitStatus::Signaled(p, ..))) if p == child => return Ok(status),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(e).context("waiting for the command"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfiles_hold_one_positive_pid() {
        let scratch = crate::test_dir("pidfile");
        let dir = scratch.join("pid");
        std::fs::write(&dir, " 4242 \n").unwrap();
        assert_eq!(read_pidfile(&dir).unwrap(), 4242);
        std::fs::write(&dir, "0\n").unwrap();
        assert!(read_pidfile(&dir).unwrap_err().to_string().contains("does not hold a process id"));
        // What was read is never shown, and a long file is not read to its end.
        std::fs::write(&dir, "secret\n").unwrap();
        assert!(!format!("{:#}", read_pidfile(&dir).unwrap_err()).contains("secret"));
        std::fs::write(&dir, format!("42{}\n", " ".repeat(PIDFILE_MAX))).unwrap();
        assert!(read_pidfile(&dir).is_err());
        assert!(read_pidfile(std::path::Path::new("/dev/zero")).is_err());
        std::fs::remove_file(&dir).unwrap();
        assert!(read_pidfile(&dir).unwrap_err().to_string().contains("cannot read"));
        std::fs::remove_dir(scratch).unwrap();
    }

    #[test]
    fn ready_counts_every_holder_and_a_failure_after() {
        let said = |holders: usize, acts: &[&str]| {
            let (wait, flag) = ready_pipe().unwrap();
            for act in acts {
                match *act {
                    "ready" => flag.say().unwrap(),
                    _ => flag.failed(),
                }
            }
            drop(flag);
            wait.wait(holders).unwrap()
        };
        assert!(said(1, &["ready"]));
        assert!(said(2, &["ready", "ready"]));
        assert!(!said(1, &[]), "a holder gone without a word (killed in its set-up)");
        assert!(!said(2, &["ready"]), "--init: the command said it, the init did not");
        assert!(!said(1, &["ready", "failed"]), "the exec after ready failed");
    }

    #[test]
    fn signals_parse_like_kill() {
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
