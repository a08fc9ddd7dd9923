//! The supervisor's half of a terminal: the caller's terminal in raw mode, bytes relayed both
//! ways between it and the pty master, the window size followed, the mode restored however the
//! command ends. See termios(3), tty_ioctl(4), poll(2), pidfd_open(2).
//!
//! Rules that bite:
//! - Raw mode (cfmakeraw) on the caller's terminal: every key, Ctrl-C and Ctrl-Z included, goes
//!   to the pty as a byte, where the pty's own line discipline turns it into echo, SIGINT or
//!   SIGTSTP for the command's foreground job. It is restored on every exit path this process
//!   lives through: the command's exit or death (kill -9), a forwarded SIGTERM that ends it, an
//!   error. (A SIGKILL of the supervisor itself leaves the terminal raw: `stty sane`.)
//! - The relay ends when the command ends, not when the pty closes: a background job (`sleep 30
//!   &`) may keep the slave open after its shell exits. What the pty already holds is drained.
//! - Termios ioctls on a master act on its slave (Linux), so VEOF is read from the master.
//! - Input not from a terminal (`-i` style) is copied as typed; at its end the pty gets VEOF
//!   (after a newline if the last line had none), which a reading command sees as end of file.
//! - Writes to the master never block the loop: input waits in a buffer until the pty takes it,
//!   and stdin is not read meanwhile, so a command that does not read cannot stall its output.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{self, SigHandler, Signal};
use nix::sys::termios::{self, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::{caller_window_size, set_window_size};
use crate::process::{self, FdReceiver};
use crate::procfs::{Pidfd, PinnedProcess};
use crate::trace::{self, Prctl, Step};

const STDIN: RawFd = 0;
const STDOUT: RawFd = 1;
/// How long output left in the pty is read after the command ended, at most.
const DRAIN: Duration = Duration::from_millis(500);

/// Supervise `child` with a terminal: receive the pty master it made, relay until it ends,
/// return its wait status with the caller's terminal as it was. Signals are forwarded to it (as
/// `process::supervise` does), except SIGWINCH, which becomes the pty's window size.
pub fn supervise(child: Pid, from: FdReceiver) -> anyhow::Result<WaitStatus> {
    // runc CVE-2019-5736, as in process::supervise: a supervisor the payload can see stays closed to it.
    trace::run(Step::Prctl(Prctl::SetDumpable(false)), || nix::sys::prctl::set_dumpable(false))?;
    process::forward_signals_to(child);
    let Some(master) = from.recv("pty master")? else {
        return process::wait_for(child); // it failed before the pty existed, and said why
    };
    Relay::new(master, child)?.run()
}

/// The caller's terminal mode, put back when dropped.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter() -> anyhow::Result<Option<RawMode>> {
        let stdin = unsafe_stdin();
        let Ok(saved) = termios::tcgetattr(stdin) else { return Ok(None) }; // not a terminal
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        tcsetattr(&raw, "raw")?;
        Ok(Some(RawMode { saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(&self.saved, "as it was");
    }
}

fn tcsetattr(mode: &Termios, shown: &str) -> anyhow::Result<()> {
    trace::run(Step::Tcsetattr { fd: STDIN, mode: shown.into() }, || {
        termios::tcsetattr(unsafe_stdin(), SetArg::TCSADRAIN, mode)
    })
}

fn unsafe_stdin() -> BorrowedFd<'static> {
    // SAFETY: descriptor 0 stays open for the life of the process (we never close it).
    unsafe { BorrowedFd::borrow_raw(STDIN) }
}

/// The write end of the SIGWINCH self-pipe, for the handler.
static WINCH: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_winch(_: libc::c_int) {
    let fd = WINCH.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; a full pipe just drops the byte (one is enough).
        unsafe { libc::write(fd, b"w".as_ptr().cast(), 1) };
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Stdin,
    Master,
    Child,
    Winch,
}

struct Relay {
    master: OwnedFd,
    child: Pid,
    /// The child pinned by a pidfd, which is readable once it has exited; None on kernels
    /// before 5.3 (then polled every 100 ms).
    pinned: Option<PinnedProcess>,
    winch: Option<OwnedFd>,
    _winch_w: Option<OwnedFd>,
    stdin_open: bool,
    stdin_tty: bool,
    master_open: bool,
    pending: Vec<u8>,
    last_input: Option<u8>,
    raw: Option<RawMode>,
}

impl Relay {
    fn new(master: OwnedFd, child: Pid) -> anyhow::Result<Relay> {
        set_nonblocking(master.as_fd())?;
        let pinned = PinnedProcess::pin(child.as_raw(), Pidfd::Preferred).ok().filter(|p| p.pidfd().is_some());
        let raw = RawMode::enter()?;
        let stdin_tty = raw.is_some();
        let (winch, winch_w) = if caller_window_size().is_some() { watch_window()? } else { (None, None) };
        Ok(Relay {
            master,
            child,
            pinned,
            winch,
            _winch_w: winch_w,
            stdin_open: true,
            stdin_tty,
            master_open: true,
            pending: Vec::new(),
            last_input: None,
            raw,
        })
    }

    fn run(mut self) -> anyhow::Result<WaitStatus> {
        let status = loop {
            if let Some(status) = self.step()? {
                break status;
            }
        };
        self.drain();
        drop(self.raw.take()); // restored before the caller re-raises the child's signal
        Ok(status)
    }

    /// One poll round; Some(status) once the child has ended. Only live descriptors are polled:
    /// a hung-up stdin left in the set would report POLLHUP for ever and spin the loop.
    fn step(&mut self) -> anyhow::Result<Option<WaitStatus>> {
        let want_stdin = self.stdin_open && self.pending.is_empty();
        let master_events =
            if self.pending.is_empty() { PollFlags::POLLIN } else { PollFlags::POLLIN | PollFlags::POLLOUT };
        let mut sources = Vec::with_capacity(4);
        let mut fds = Vec::with_capacity(4);
        if want_stdin {
            sources.push(Source::Stdin);
            fds.push(PollFd::new(unsafe_stdin(), PollFlags::POLLIN));
        }
        if self.master_open {
            sources.push(Source::Master);
            fds.push(PollFd::new(self.master.as_fd(), master_events));
        }
        if let Some(pidfd) = self.pinned.as_ref().and_then(PinnedProcess::pidfd) {
            sources.push(Source::Child);
            fds.push(PollFd::new(pidfd.as_fd(), PollFlags::POLLIN));
        }
        if let Some(pipe) = &self.winch {
            sources.push(Source::Winch);
            fds.push(PollFd::new(pipe.as_fd(), PollFlags::POLLIN));
        }
        let timeout = if self.pinned.is_some() { PollTimeout::NONE } else { PollTimeout::from(100u16) };
        match nix::poll::poll(&mut fds, timeout) {
            Err(Errno::EINTR) => return Ok(self.reaped()),
            Err(e) => return Err(anyhow::anyhow!("poll: {}", e.desc())),
            Ok(_) => {}
        }
        let ready = |source: Source| {
            let at = sources.iter().position(|s| *s == source);
            at.and_then(|i| fds[i].revents()).unwrap_or(PollFlags::empty())
        };
        let (r_stdin, r_master, r_child, r_winch) =
            (ready(Source::Stdin), ready(Source::Master), ready(Source::Child), ready(Source::Winch));
        drop(fds);
        if !r_winch.is_empty() {
            self.follow_window();
        }
        if r_master.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            self.output();
        }
        if r_master.contains(PollFlags::POLLOUT) {
            self.input_to_master();
        }
        if !r_stdin.is_empty() {
            self.input_from_stdin();
        }
        if self.pinned.is_none() || !r_child.is_empty() {
            return Ok(self.reaped());
        }
        Ok(None)
    }

    fn reaped(&self) -> Option<WaitStatus> {
        match waitpid(self.child, Some(WaitPidFlag::WNOHANG)) {
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => Some(status),
            _ => None,
        }
    }

    /// Master -> stdout, whatever is there now. EIO: every slave descriptor is closed.
    fn output(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        match nix::unistd::read(&self.master, &mut buf) {
            Ok(0) | Err(Errno::EIO) => {
                self.master_open = false;
                false
            }
            Ok(n) => {
                write_all(STDOUT, &buf[..n]);
                true
            }
            Err(_) => false,
        }
    }

    fn input_to_master(&mut self) {
        match nix::unistd::write(&self.master, &self.pending) {
            Ok(n) => {
                self.pending.drain(..n);
            }
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
            Err(_) => self.pending.clear(), // the pty is gone: nobody will read it
        }
    }

    fn input_from_stdin(&mut self) {
        let mut buf = [0u8; 4096];
        match nix::unistd::read(unsafe_stdin(), &mut buf) {
            Ok(0) | Err(Errno::EIO) => self.end_of_input(),
            Ok(n) => {
                self.last_input = Some(buf[n - 1]);
                self.pending.extend_from_slice(&buf[..n]);
                self.input_to_master();
            }
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
            Err(_) => self.end_of_input(),
        }
    }

    /// The caller's input ended. A terminal that hangs up hangs up the command (SIGHUP, as a
    /// closed terminal window does); a pipe or file ends with VEOF, as a typed Ctrl-D.
    fn end_of_input(&mut self) {
        self.stdin_open = false;
        if self.stdin_tty {
            let _ = signal::kill(self.child, Signal::SIGHUP);
            return;
        }
        let eof = termios::tcgetattr(self.master.as_fd())
            .map(|t| t.control_chars[termios::SpecialCharacterIndices::VEOF as usize])
            .unwrap_or(4);
        if !matches!(self.last_input, None | Some(b'\n')) {
            self.pending.push(b'\n'); // VEOF ends a line only when the line is empty
        }
        self.pending.push(eof);
        self.input_to_master();
    }

    fn follow_window(&mut self) {
        if let Some(pipe) = &self.winch {
            let mut buf = [0u8; 64];
            while nix::unistd::read(pipe, &mut buf).is_ok_and(|n| n > 0) {}
        }
        if let Some(size) = caller_window_size() {
            let _ = set_window_size(self.master.as_fd(), &size);
        }
    }

    /// After the command ended: what the pty still holds, until it is empty, closed, or DRAIN.
    fn drain(&mut self) {
        let deadline = Instant::now() + DRAIN;
        while self.master_open && Instant::now() < deadline {
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            match nix::poll::poll(&mut fds, PollTimeout::from(50u16)) {
                Ok(n) if n > 0 => {
                    if !self.output() {
                        break;
                    }
                }
                Err(Errno::EINTR) => {}
                _ => break,
            }
        }
    }
}

/// A self-pipe for SIGWINCH: the handler writes a byte, the loop polls the read end.
fn watch_window() -> anyhow::Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    use nix::fcntl::OFlag;
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    WINCH.store(w.as_raw_fd(), Ordering::Relaxed);
    let action =
        signal::SigAction::new(SigHandler::Handler(on_winch), signal::SaFlags::SA_RESTART, signal::SigSet::empty());
    // SAFETY: the handler only calls write(2), which is async-signal-safe.
    unsafe { signal::sigaction(Signal::SIGWINCH, &action) }?;
    Ok((Some(r), Some(w)))
}

fn set_nonblocking(fd: BorrowedFd) -> anyhow::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Write everything to `fd`, waiting when it is full; a reader that went away ends it quietly.
fn write_all(fd: RawFd, mut data: &[u8]) {
    // SAFETY: fd is our stdout, open for the life of the process.
    let out = unsafe { BorrowedFd::borrow_raw(fd) };
    while !data.is_empty() {
        match nix::unistd::write(out, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut fds = [PollFd::new(out, PollFlags::POLLOUT)];
                let _ = nix::poll::poll(&mut fds, PollTimeout::from(100u16));
            }
            Err(_) => return,
        }
    }
}
