//! A terminal of the command's own (`docker run -it`): a new pseudo-terminal whose slave is the
//! command's controlling terminal in a session of its own, and whose master the supervisor
//! relays to the caller's terminal. See pty(7), pts(4), credentials(7) "Sessions", tty_ioctl(4).
//!
//! Rules that bite:
//! - The pty is made where the command lives, from that mount namespace's /dev/ptmx (a devpts
//!   of its own: `tty` inside then names /dev/pts/N of its /dev, as runc does it); the master
//!   goes back to the supervisor outside over a [`process::fd_channel`] made before the fork
//!   (SCM_RIGHTS; each side drops the other's end, so a child that dies first reads as "no
//!   terminal"). The container controls its
//!   /dev: the master is proved a ptmx with TIOCGPTN, and the slave is opened from it with
//!   TIOCGPTPEER (Linux 4.13), never by a path the container could swap.
//! - A controlling terminal is taken by a session leader: setsid(), then TIOCSCTTY on the slave,
//!   then the slave becomes descriptors 0, 1 and 2. setsid fails for a process-group leader,
//!   so the command is always a forked child.
//! - Job control needs exactly this: a shell in its own session with a controlling terminal can
//!   put jobs in process groups of their own and hand the terminal to the foreground one; Ctrl-C
//!   (0x03, passed through by the caller's raw terminal) becomes SIGINT for that group only.
//! - Nobody else may keep the slave open: the pty reads EOF/EIO only when the last slave
//!   descriptor closes.
//!
//! - An OCI runtime has no relay of its own: the engine's console socket (runc's
//!   `--console-socket`, a unix socket the engine listens on) receives the master over SCM_RIGHTS
//!   instead ([`connect_console_socket`], then [`allocate`] over it from inside the container).
//!
//! [`relay`] is the supervisor's half: raw mode, the copy loop, window size, restoration.

mod relay;

pub use relay::supervise;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;

use crate::process::{self, FdSender};
use crate::trace::{self, Step};

/// In the process that becomes the command (or its init): make the pty in this mount
/// namespace, give it the caller's window size, send the master to the supervisor, and return
/// the slave for [`attach`].
pub fn allocate(to: &FdSender) -> anyhow::Result<OwnedFd> {
    let (master, number) = open_master(Path::new("/dev/ptmx"))?;
    let peer = Step::Ioctl { fd: "pty master".into(), request: "TIOCGPTPEER", arg: "O_RDWR|O_NOCTTY".into() };
    let slave = trace::run(peer, || {
        let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
        // SAFETY: TIOCGPTPEER takes open flags and returns a new descriptor of the slave.
        let fd = Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) })?;
        // SAFETY: the ioctl returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    })?;
    trace::note(format_args!("the command's terminal is /dev/pts/{number}"));
    if let Some(size) = caller_window_size() {
        set_window_size(master.as_fd(), &size)?;
    }
    to.send(&master, &format!("pty master /dev/pts/{number}"))?;
    Ok(slave)
}

/// Connect to an engine's console socket (a unix stream socket at `path`), close-on-exec: the
/// socket a container's process later [`allocate`]s its terminal over (`FdSender::from`).
pub fn connect_console_socket(path: &Path) -> anyhow::Result<OwnedFd> {
    let stream = trace::run_io(Step::Connect(path.to_path_buf()), || std::os::unix::net::UnixStream::connect(path))?;
    Ok(OwnedFd::from(stream))
}

/// The master of a new pty from `ptmx`, unlocked, proved to be a pty master; and its number.
fn open_master(ptmx: &Path) -> anyhow::Result<(OwnedFd, u32)> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let master =
        trace::run(Step::Open(ptmx.to_path_buf()), || nix::fcntl::open(ptmx, flags, nix::sys::stat::Mode::empty()))?;
    let mut number: libc::c_uint = 0;
    trace::run(Step::Ioctl { fd: "pty master".into(), request: "TIOCGPTN", arg: "&n".into() }, || {
        // SAFETY: TIOCGPTN writes one unsigned int, the pty's number, into `number`.
        Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) }).map(drop)
    })?;
    let unlock: libc::c_int = 0;
    trace::run(Step::Ioctl { fd: "pty master".into(), request: "TIOCSPTLCK", arg: "0".into() }, || {
        // SAFETY: TIOCSPTLCK reads one int (0: unlock the slave).
        Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) }).map(drop)
    })?;
    Ok((master, number))
}

/// In the command, last before exec: a session of its own, the slave as its controlling
/// terminal, and as its stdin, stdout and stderr.
pub fn attach(slave: OwnedFd) -> anyhow::Result<()> {
    process::new_session()?;
    trace::run(Step::Ioctl { fd: "pty slave".into(), request: "TIOCSCTTY", arg: "0".into() }, || {
        // SAFETY: TIOCSCTTY takes an int (0: do not steal it from another session).
        Errno::result(unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) }).map(drop)
    })?;
    for to in 0..=2 {
        dup2(slave.as_fd(), to)?;
    }
    // `slave` (close-on-exec) closes here; 0, 1 and 2 (not close-on-exec) stay.
    Ok(())
}

fn dup2(from: BorrowedFd, to: RawFd) -> anyhow::Result<()> {
    trace::run(Step::Dup2 { from: "pty slave".into(), to }, || {
        // SAFETY: dup2 onto 0-2 replaces our standard descriptors, which is the point.
        Errno::result(unsafe { libc::dup2(from.as_raw_fd(), to) }).map(drop)
    })
}

/// The caller's window size: from the first of stdin, stdout, stderr that is a terminal.
fn caller_window_size() -> Option<libc::winsize> {
    (0..=2).find_map(|fd| {
        let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCGWINSZ writes one winsize into `size`; fd is one of ours (or fails with EBADF/ENOTTY).
        (unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0).then_some(size)
    })
}

/// TIOCSWINSZ on the pty: the kernel sends SIGWINCH to its foreground process group.
fn set_window_size(master: BorrowedFd, size: &libc::winsize) -> anyhow::Result<()> {
    let arg = format!("{{rows={}, cols={}}}", size.ws_row, size.ws_col);
    trace::run(Step::Ioctl { fd: "pty master".into(), request: "TIOCSWINSZ", arg }, || {
        // SAFETY: TIOCSWINSZ reads one winsize from `size`.
        Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, size) }).map(drop)
    })
}
