//! Pseudo-terminals for a container's process: a master/slave pair from /dev/ptmx, and the
//! slave made the controlling terminal of a new session. See pty(7), posix_openpt(3), tty_ioctl(4).
//!
//! Rules that bite:
//! - The slave is opened O_NOCTTY: a process must not acquire it by accident when it opens it;
//!   the container's process takes it deliberately with setsid(2) and TIOCSCTTY.
//! - TIOCSCTTY works only for a session leader without a controlling terminal: setsid first,
//!   which fails for a process-group leader (a fresh child is never one).

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::path::PathBuf;

use anyhow::Context as _;
use nix::fcntl::OFlag;

use crate::trace::{self, Step};

/// A new terminal pair; both ends close-on-exec.
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    /// The slave's path (/dev/pts/N), as the console socket protocol sends it.
    pub name: PathBuf,
}

/// posix_openpt, grantpt, unlockpt, then open the slave.
pub fn open() -> anyhow::Result<Pty> {
    let master = trace::run(Step::Open("/dev/ptmx".into()), || {
        nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
    })?;
    nix::pty::grantpt(&master).context("grantpt")?;
    nix::pty::unlockpt(&master).context("unlockpt")?;
    let name = PathBuf::from(nix::pty::ptsname_r(&master).context("ptsname")?);
    let slave = trace::run(Step::Open(name.clone()), || {
        nix::fcntl::open(&name, OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
    })?;
    // SAFETY: into_raw_fd hands over sole ownership of the master descriptor.
    let master = unsafe { OwnedFd::from_raw_fd(master.into_raw_fd()) };
    Ok(Pty { master, slave, name })
}

/// Start a new session and make the terminal on `fd` its controlling terminal.
pub fn make_controlling(fd: &impl AsRawFd) -> anyhow::Result<()> {
    trace::run(Step::Call("setsid()".into()), || nix::unistd::setsid().map(drop))?;
    let raw = fd.as_raw_fd();
    trace::run(Step::Call(format!("ioctl({raw}, TIOCSCTTY, 0)")), || {
        // SAFETY: TIOCSCTTY takes an int argument and touches no memory of ours.
        nix::errno::Errno::result(unsafe { libc::ioctl(raw, libc::TIOCSCTTY, 0) }).map(drop)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pair_opens_and_names_its_slave() {
        let pty = super::open().unwrap();
        assert!(pty.name.starts_with("/dev/pts/"), "{}", pty.name.display());
        assert!(nix::unistd::isatty(&pty.slave).unwrap());
    }
}
