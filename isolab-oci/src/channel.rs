//! The descriptors create hands down the chain, and what travels on them: the sync socket
//! (the last stage says "ready", its PID carried by SCM_CREDENTIALS so the kernel translates it
//! out of the container's PID namespace), the console socket (runc's protocol: the terminal's
//! master in SCM_RIGHTS, its name as the payload), runc's exec fifo, and isolab-oci's own binary
//! sealed in a memfd. See unix(7), fifo(7), memfd_create(2).

use std::io::{IoSlice, IoSliceMut, Read as _};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use anyhow::{anyhow, Context as _};
use nix::sys::socket::{self, ControlMessage, ControlMessageOwned, MsgFlags, UnixCredentials};

use isolab_core::trace::{self, Step};

/// A connected SOCK_SEQPACKET pair, both ends close-on-exec (create clears the flag on the
/// child's end just before it execs the chain).
pub fn sync_pair() -> anyhow::Result<(OwnedFd, OwnedFd)> {
    let pair = socket::socketpair(
        socket::AddressFamily::Unix,
        socket::SockType::SeqPacket,
        None,
        socket::SockFlag::SOCK_CLOEXEC,
    )
    .context("socketpair")?;
    socket::setsockopt(&pair.0, socket::sockopt::PassCred, &true).context("SO_PASSCRED")?;
    Ok(pair)
}

/// In the last stage: "ready", with our credentials.
pub fn send_ready(fd: RawFd) -> anyhow::Result<()> {
    let creds = UnixCredentials::new();
    let cmsg = [ControlMessage::ScmCredentials(&creds)];
    let step = Step::Call(format!("sendmsg({fd}, \"ready\", SCM_CREDENTIALS)"));
    trace::run(step, || socket::sendmsg::<()>(fd, &[IoSlice::new(b"ready")], &cmsg, MsgFlags::empty(), None).map(drop))
}

/// In create: wait for "ready"; the sender's PID as this PID namespace sees it, or None when
/// every holder of the other end closed it without a word (the chain failed and said why).
pub fn recv_ready(fd: &OwnedFd) -> anyhow::Result<Option<i32>> {
    let mut buf = [0u8; 16];
    let mut space = nix::cmsg_space!(UnixCredentials);
    loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        match socket::recvmsg::<()>(fd.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
            Ok(msg) if msg.bytes == 0 => return Ok(None),
            Ok(msg) => {
                let pid = msg.cmsgs()?.find_map(|c| match c {
                    ControlMessageOwned::ScmCredentials(cred) => Some(cred.pid()),
                    _ => None,
                });
                return pid.map(Some).ok_or_else(|| anyhow!("the container's init said ready without credentials"));
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("waiting for the container's init"),
        }
    }
}

/// runc's console socket protocol: connect to PATH, send the master in SCM_RIGHTS with the
/// terminal's name as the payload.
pub fn send_console(socket_path: &Path, master: &OwnedFd, name: &Path) -> anyhow::Result<()> {
    let stream = std::os::unix::net::UnixStream::connect(socket_path).map_err(|e| {
        anyhow!("--console-socket {}: cannot connect: {}", socket_path.display(), isolab_core::process::plain_io(&e))
    })?;
    let fds = [master.as_raw_fd()];
    let payload = name.as_os_str().as_encoded_bytes();
    let step = Step::Call(format!(
        "sendmsg(console socket {}, {:?}, SCM_RIGHTS [master])",
        socket_path.display(),
        name.display()
    ));
    trace::run(step, || {
        socket::sendmsg::<()>(
            stream.as_raw_fd(),
            &[IoSlice::new(payload)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .map(drop)
    })
}

/// isolab-oci's own executable copied into a sealed memfd: the container's init runs this
/// copy, so no process in the container can reach (and overwrite) the host's binary through
/// /proc/PID/exe (runc CVE-2019-5736, fixed the same way in runc 1.0).
pub fn sealed_self() -> anyhow::Result<OwnedFd> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let fd =
        memfd_create("isolab-oci-init", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING).context("memfd_create")?;
    let mut exe = std::fs::File::open("/proc/self/exe").context("opening /proc/self/exe")?;
    let mut copy = std::fs::File::from(fd);
    std::io::copy(&mut exe, &mut copy).context("copying isolab-oci into a memfd")?;
    let fd = OwnedFd::from(copy);
    let seals = nix::fcntl::SealFlag::F_SEAL_SEAL
        | nix::fcntl::SealFlag::F_SEAL_SHRINK
        | nix::fcntl::SealFlag::F_SEAL_GROW
        | nix::fcntl::SealFlag::F_SEAL_WRITE;
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_ADD_SEALS(seals)).context("sealing the memfd")?;
    trace::note(format!("isolab-oci sealed in memfd {} (the container never sees the host's binary)", fd.as_raw_fd()));
    Ok(fd)
}

/// Make the fifo, mode 0622 whatever the umask (the container's user, whoever it is, opens it
/// for writing), and open it O_PATH|O_CLOEXEC for the chain.
pub fn make_fifo(path: &Path) -> anyhow::Result<OwnedFd> {
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o622);
    trace::run(Step::Call(format!("mkfifo({:?}, 0622)", path.display())), || nix::unistd::mkfifo(path, mode))?;
    nix::sys::stat::fchmodat(nix::fcntl::AT_FDCWD, path, mode, nix::sys::stat::FchmodatFlags::FollowSymlink)
        .context("chmod exec.fifo")?;
    nix::fcntl::open(path, nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .with_context(|| format!("opening {}", path.display()))
}

/// In `start`: open the fifo for reading without blocking, then wait until the init has opened
/// it and written its byte; `alive` says whether the init still exists (runc polls it too).
pub fn await_fifo(path: &Path, alive: impl Fn() -> bool) -> anyhow::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let fd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| anyhow!("cannot open {}: {}", path.display(), e.desc()))?;
    trace::explain(&Step::Open(path.to_path_buf()), None);
    let mut file = std::fs::File::from(fd);
    loop {
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u16)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => {
                if !alive() {
                    anyhow::bail!("the container's init is gone: it cannot be started");
                }
            }
            Ok(_) => {
                let mut byte = [0u8; 1];
                return match file.read(&mut byte) {
                    Ok(1) => Ok(()),
                    Ok(_) => anyhow::bail!("the container's init closed exec.fifo without starting"),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => Err(e).context("reading exec.fifo"),
                };
            }
            Err(e) => return Err(e).context("poll exec.fifo"),
        }
    }
}

/// Clear FD_CLOEXEC on `fd` (in the child, just before exec, so the chain inherits it).
pub fn inherit(fd: RawFd) -> anyhow::Result<()> {
    // SAFETY: fd is open in this process for the duration of the call.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    nix::fcntl::fcntl(borrowed, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()))
        .map(drop)
        .with_context(|| format!("clearing close-on-exec on fd {fd}"))
}

/// Mark every descriptor from `first` up close-on-exec (the program gets 0-2 and the
/// preserved ones only; runc CVE-2024-21626 was one leaked descriptor).
pub fn close_on_exec_from(first: RawFd) -> anyhow::Result<()> {
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .context("listing /proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd >= first)
        .collect();
    for fd in fds {
        // SAFETY: fd was listed as open; a stale number (the read_dir's own) fails with EBADF.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let _ = nix::fcntl::fcntl(borrowed, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
    }
    Ok(())
}

/// Take ownership of an inherited descriptor number.
pub fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: the chain handed this descriptor to us and nothing else in this process owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The dynamic loader this binary runs under and the directory of its libc, opened for the
/// last stage; None for a static build. A container's root has no host libc, so the stage is
/// started as `/proc/self/fd/LD --library-path /proc/self/fd/LIBDIR /proc/self/fd/EXE ...`
/// (ld.so(8) run directly), and closes both descriptors first thing: the library directory is
/// a way out of the container's root, held only while the loader maps the libraries.
pub fn loader() -> anyhow::Result<Option<(OwnedFd, OwnedFd)>> {
    let maps = std::fs::read_to_string("/proc/self/maps").context("reading /proc/self/maps")?;
    let paths: Vec<&str> = maps.lines().filter_map(|l| l.split_whitespace().nth(5)).collect();
    let ld = paths.iter().find(|p| p.rsplit('/').next().is_some_and(|n| n.starts_with("ld-linux")));
    let libc = paths.iter().find(|p| p.rsplit('/').next().is_some_and(|n| n.starts_with("libc.so")));
    let (Some(ld), Some(libc)) = (ld, libc) else { return Ok(None) };
    let libdir = Path::new(libc).parent().unwrap_or(Path::new("/"));
    let open = |p: &Path, flags| {
        nix::fcntl::open(p, flags, nix::sys::stat::Mode::empty()).with_context(|| format!("opening {}", p.display()))
    };
    let ld = open(Path::new(ld), nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC)?;
    let dir = open(libdir, nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok(Some((ld, dir)))
}
