//! Handing a process on from one program to the next across exec, as an OCI runtime's stages do
//! (runc's create, its init, start): a process that reports "ready" with its PID, a named fifo
//! that holds it until another process opens the other end, a sealed copy of the runtime's own
//! executable to run inside the container, descriptors kept open across exec, and the limits a
//! child gets between fork and exec. See unix(7) SCM_CREDENTIALS, fifo(7), memfd_create(2),
//! ld.so(8), setrlimit(2), PR_SET_CHILD_SUBREAPER in prctl(2).
//!
//! Rules that bite:
//! - A PID read out of another PID namespace means nothing here: SCM_CREDENTIALS carries it,
//!   and the kernel translates it into the receiver's namespace (0 when it is not visible).
//! - Opening a fifo for writing blocks until a reader opens it: that is the gate. The reader
//!   opens O_NONBLOCK and polls, so it can notice the writer die instead of blocking for ever.
//! - A container must never reach the host's runtime binary through /proc/PID/exe and write to
//!   it (runc CVE-2019-5736): what runs inside is a copy in a memfd sealed against writes.
//! - A dynamically linked runtime started in a container's root finds no host libc there: it is
//!   started through the host's loader, opened before the root changed (ld.so run directly with
//!   --library-path); those descriptors are a way out of the root and close first thing.
//! - Between fork and exec only async-signal-safe calls: the child side of [`spawn`] makes
//!   system calls on values prepared before the fork and allocates nothing.

use std::io::{IoSlice, IoSliceMut, Read as _, Write as _};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt as _;
use std::path::Path;

use anyhow::{anyhow, bail, Context as _};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag};
use nix::sys::socket::{self, ControlMessage, ControlMessageOwned, MsgFlags, UnixCredentials};
use nix::sys::stat::Mode;

use super::{Pid, Signal};
use crate::trace::{self, Prctl, Step};

/// The receiving end of a [`ready_channel`].
pub struct ReadyReceiver(OwnedFd);

/// A SOCK_SEQPACKET pair on which a process exec'd further down a chain says "ready": the
/// receiver keeps [`ReadyReceiver`], the other end (close-on-exec until [`spawn`] keeps it
/// open) goes down the chain to [`say_ready`].
pub fn ready_channel() -> anyhow::Result<(ReadyReceiver, OwnedFd)> {
    let (ours, theirs) = socket::socketpair(
        socket::AddressFamily::Unix,
        socket::SockType::SeqPacket,
        None,
        socket::SockFlag::SOCK_CLOEXEC,
    )
    .context("socketpair")?;
    socket::setsockopt(&ours, socket::sockopt::PassCred, &true).context("SO_PASSCRED")?;
    Ok((ReadyReceiver(ours), theirs))
}

/// "ready", with this process's credentials; the descriptor is closed afterwards.
pub fn say_ready(fd: OwnedFd) -> anyhow::Result<()> {
    let creds = UnixCredentials::new();
    let cmsg = [ControlMessage::ScmCredentials(&creds)];
    trace::run(Step::SendCredentials("ready".into()), || {
        socket::sendmsg::<()>(fd.as_raw_fd(), &[IoSlice::new(b"ready")], &cmsg, MsgFlags::MSG_NOSIGNAL, None).map(drop)
    })
}

impl ReadyReceiver {
    /// Wait for "ready"; the sender's PID as this process's PID namespace sees it, or None when
    /// every holder of the other end closed it without a word (the chain failed and said why).
    pub fn recv(&self) -> anyhow::Result<Option<i32>> {
        let step = Step::RecvCredentials("ready".into());
        let mut buf = [0u8; 16];
        let mut space = nix::cmsg_space!(UnixCredentials);
        loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match socket::recvmsg::<()>(self.0.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
                Ok(msg) if msg.bytes == 0 => return Ok(None),
                Ok(msg) => {
                    let pid = msg.cmsgs()?.find_map(|c| match c {
                        ControlMessageOwned::ScmCredentials(cred) => Some(cred.pid()),
                        _ => None,
                    });
                    trace::explain(&step, None);
                    return pid.map(Some).ok_or_else(|| anyhow!("the process said ready without credentials"));
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(trace::failure(&step, e)),
            }
        }
    }
}

/// Make the fifo at `path` with `mode` whatever the umask (the writer may be any user), and
/// open it O_PATH|O_CLOEXEC: the descriptor to hand down to the writer.
pub fn make_fifo(path: &Path, mode: u32) -> anyhow::Result<OwnedFd> {
    let bits = Mode::from_bits_truncate(mode);
    trace::run(Step::Mkfifo { path: path.to_path_buf(), mode }, || nix::unistd::mkfifo(path, bits))?;
    nix::sys::stat::fchmodat(nix::fcntl::AT_FDCWD, path, bits, nix::sys::stat::FchmodatFlags::FollowSymlink)
        .with_context(|| format!("chmod {}", path.display()))?;
    trace::run(Step::Open(path.to_path_buf()), || {
        nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
    })
}

/// The writer's side: open the fifo `fd` (an O_PATH descriptor of it) for writing, which blocks
/// until a reader opens it, and write one byte.
pub fn pass_fifo(fd: OwnedFd) -> anyhow::Result<()> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let mut file =
        trace::run_io(Step::Open(path.clone().into()), || std::fs::OpenOptions::new().write(true).open(&path))?;
    file.write_all(b"0").context("writing the fifo")?;
    Ok(())
}

/// The reader's side: open the fifo at `path` without blocking, then wait until a writer has
/// opened it and written its byte; `alive` says whether the writer still exists.
pub fn await_fifo(path: &Path, alive: impl Fn() -> bool) -> anyhow::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let fd = trace::run(Step::Open(path.to_path_buf()), || {
        nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, Mode::empty())
    })?;
    let mut file = std::fs::File::from(fd);
    loop {
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u16)) {
            Ok(0) | Err(Errno::EINTR) => {
                if !alive() {
                    bail!("the process that was to open {} for writing is gone", path.display());
                }
            }
            Ok(_) => {
                let mut byte = [0u8; 1];
                return match file.read(&mut byte) {
                    Ok(1) => Ok(()),
                    Ok(_) => bail!("{} was closed without its byte", path.display()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
                };
            }
            Err(e) => return Err(e).with_context(|| format!("poll {}", path.display())),
        }
    }
}

/// This process's own executable copied into a memfd named `name` and sealed against any
/// change: what a container runs of the runtime (runc CVE-2019-5736, fixed the same way).
pub fn sealed_copy_of_self(name: &str) -> anyhow::Result<OwnedFd> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let fd = trace::run(Step::MemfdCreate(name.into()), || {
        memfd_create(name, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)
    })?;
    let mut exe = std::fs::File::open("/proc/self/exe").context("opening /proc/self/exe")?;
    let mut copy = std::fs::File::from(fd);
    std::io::copy(&mut exe, &mut copy).context("copying the executable into a memfd")?;
    let fd = OwnedFd::from(copy);
    let seals = nix::fcntl::SealFlag::F_SEAL_SEAL
        | nix::fcntl::SealFlag::F_SEAL_SHRINK
        | nix::fcntl::SealFlag::F_SEAL_GROW
        | nix::fcntl::SealFlag::F_SEAL_WRITE;
    trace::run(Step::SealMemfd, || nix::fcntl::fcntl(&fd, FcntlArg::F_ADD_SEALS(seals)).map(drop))?;
    Ok(fd)
}

/// The dynamic loader this process runs under and the directory of its libc, opened
/// close-on-exec (the loader O_RDONLY, the directory O_PATH); None for a static build.
pub fn host_loader() -> anyhow::Result<Option<(OwnedFd, OwnedFd)>> {
    let maps = std::fs::read_to_string("/proc/self/maps").context("reading /proc/self/maps")?;
    let paths: Vec<&str> = maps.lines().filter_map(|l| l.split_whitespace().nth(5)).collect();
    let named = |prefix: &str| paths.iter().find(|p| p.rsplit('/').next().is_some_and(|n| n.starts_with(prefix)));
    let (Some(ld), Some(libc)) = (named("ld-linux"), named("libc.so")) else { return Ok(None) };
    let libdir = Path::new(libc).parent().unwrap_or(Path::new("/"));
    let open = |p: &Path, flags| trace::run(Step::Open(p.to_path_buf()), || nix::fcntl::open(p, flags, Mode::empty()));
    let ld = open(Path::new(ld), OFlag::O_RDONLY | OFlag::O_CLOEXEC)?;
    let dir = open(libdir, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)?;
    Ok(Some((ld, dir)))
}

/// Take ownership of descriptor `fd`, passed by the program that exec'd this one (named on the
/// command line); refused unless it is open in this process. `what` names the flag.
pub fn take_inherited(fd: RawFd, what: &str) -> anyhow::Result<OwnedFd> {
    // SAFETY: F_GETFD only reads the flags of a descriptor number, open or not.
    if fd < 3 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        bail!("{what}: descriptor {fd} is not open");
    }
    // SAFETY: the descriptor is open, was handed to this process by number, and nothing else in
    // this process owns it (the caller takes it once, at start-up).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An `RLIMIT_*` name as the kernel's resource.
pub fn rlimit_by_name(name: &str) -> Option<Resource> {
    RLIMITS.iter().find(|(n, _)| *n == name).map(|&(name, resource)| Resource { name, resource })
}

const RLIMITS: [(&str, nix::sys::resource::Resource); 16] = {
    use nix::sys::resource::Resource as R;
    [
        ("RLIMIT_AS", R::RLIMIT_AS),
        ("RLIMIT_CORE", R::RLIMIT_CORE),
        ("RLIMIT_CPU", R::RLIMIT_CPU),
        ("RLIMIT_DATA", R::RLIMIT_DATA),
        ("RLIMIT_FSIZE", R::RLIMIT_FSIZE),
        ("RLIMIT_LOCKS", R::RLIMIT_LOCKS),
        ("RLIMIT_MEMLOCK", R::RLIMIT_MEMLOCK),
        ("RLIMIT_MSGQUEUE", R::RLIMIT_MSGQUEUE),
        ("RLIMIT_NICE", R::RLIMIT_NICE),
        ("RLIMIT_NOFILE", R::RLIMIT_NOFILE),
        ("RLIMIT_NPROC", R::RLIMIT_NPROC),
        ("RLIMIT_RSS", R::RLIMIT_RSS),
        ("RLIMIT_RTPRIO", R::RLIMIT_RTPRIO),
        ("RLIMIT_RTTIME", R::RLIMIT_RTTIME),
        ("RLIMIT_SIGPENDING", R::RLIMIT_SIGPENDING),
        ("RLIMIT_STACK", R::RLIMIT_STACK),
    ]
};

/// A resource limit the kernel knows, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    pub name: &'static str,
    resource: nix::sys::resource::Resource,
}

/// What a child gets between fork and exec in [`spawn`].
#[derive(Debug, Clone, Default)]
pub struct ChildSetup {
    /// Descriptors (close-on-exec in this process) the program gets open, each at a number of
    /// its own: `(ours, theirs)`. A tool that passes only 0-2 and `--preserve-fds N` into a new
    /// root (nsexec, nsenter-lite -r, as runc) needs them right after the preserved ones.
    pub keep: Vec<(RawFd, RawFd)>,
    /// setrlimit(2) of each, soft and hard.
    pub rlimits: Vec<(Resource, u64, u64)>,
    /// /proc/self/oom_score_adj.
    pub oom_score_adj: Option<i32>,
    /// PR_SET_PDEATHSIG: the child gets this signal when this thread ends.
    pub death_signal: Option<Signal>,
}

/// Start `cmd` with `setup` applied in the child, each step traced here beforehand.
pub fn spawn(cmd: &mut std::process::Command, setup: ChildSetup) -> anyhow::Result<std::process::Child> {
    for &(from, to) in &setup.keep {
        trace::explain(&Step::Dup2 { from: from.to_string(), to }, None);
    }
    for &(r, soft, hard) in &setup.rlimits {
        trace::explain(&Step::Setrlimit { resource: r.name, soft, hard }, None);
    }
    if let Some(adj) = setup.oom_score_adj {
        trace::explain(&Step::Write { path: "/proc/self/oom_score_adj".into(), value: adj.to_string() }, None);
    }
    if let Some(sig) = setup.death_signal {
        trace::explain(&Step::Prctl(Prctl::SetPdeathsig(sig)), None);
    }
    let oom = setup.oom_score_adj.map(|adj| adj.to_string());
    let ChildSetup { keep, rlimits, death_signal, .. } = setup;
    // Copies above every target first, so that no dup2 overwrites a descriptor still to be moved.
    let above = keep.iter().map(|&(_, to)| to).max().unwrap_or(2) + 1;
    let mut copies = vec![-1; keep.len()];
    // SAFETY: between fork and exec the closure makes system calls only (fcntl, dup2, setrlimit,
    // prctl, open/write of /proc/self/oom_score_adj) on values prepared before the fork (no
    // allocation: `copies` is sized beforehand); the tools are single-threaded, so no lock can be
    // held by another thread.
    unsafe {
        cmd.pre_exec(move || {
            for (copy, &(from, _)) in copies.iter_mut().zip(&keep) {
                *copy = Errno::result(libc::fcntl(from, libc::F_DUPFD_CLOEXEC, above))?;
            }
            for (&copy, &(_, to)) in copies.iter().zip(&keep) {
                // dup2 leaves the new descriptor without FD_CLOEXEC: it survives the exec.
                Errno::result(libc::dup2(copy, to))?;
                libc::close(copy);
            }
            for &(r, soft, hard) in &rlimits {
                nix::sys::resource::setrlimit(r.resource, soft, hard).map_err(std::io::Error::from)?;
            }
            if let Some(adj) = &oom {
                std::fs::write("/proc/self/oom_score_adj", adj)?;
            }
            if let Some(sig) = death_signal {
                nix::sys::prctl::set_pdeathsig(sig).map_err(std::io::Error::from)?;
            }
            Ok(())
        });
    }
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.spawn().map_err(|e| anyhow!("cannot run {program}: {}", super::plain_io(&e)))
}

/// PR_SET_CHILD_SUBREAPER: orphans below this process become its children (a runtime that
/// hands a container's init on to the engine).
pub fn become_subreaper() -> anyhow::Result<()> {
    trace::run(Step::Prctl(Prctl::SetChildSubreaper), || nix::sys::prctl::set_child_subreaper(true))
}

/// umask(2); returns nothing, as the call cannot fail.
pub fn set_umask(mask: u32) {
    trace::explain(&Step::Umask(mask), None);
    nix::sys::stat::umask(Mode::from_bits_truncate(mask));
}

/// Reap `pid` if it is a child of ours that has ended; never blocks (a process that is not our
/// child is left to its parent).
pub fn reap_if_ended(pid: Pid) {
    let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlimits_by_their_kernel_names() {
        assert_eq!(rlimit_by_name("RLIMIT_NOFILE").unwrap().name, "RLIMIT_NOFILE");
        assert!(rlimit_by_name("RLIMIT_FLY").is_none());
        assert!(RLIMITS.iter().all(|(n, _)| rlimit_by_name(n).is_some_and(|r| r.name == *n)));
    }

    #[test]
    fn a_fifo_passes_one_byte_from_writer_to_reader() {
        let dir = crate::test_dir("fifo");
        let path = dir.join("exec.fifo");
        let fd = make_fifo(&path, 0o622).unwrap();
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let md = std::fs::metadata(&path).unwrap();
        assert!(md.file_type().is_fifo());
        assert_eq!(md.permissions().mode() & 0o777, 0o622);
        let writer = std::thread::spawn(move || pass_fifo(fd).unwrap());
        await_fifo(&path, || true).unwrap();
        writer.join().unwrap();
        assert!(make_fifo(&path, 0o622).unwrap_err().to_string().contains("EEXIST"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_reader_stops_waiting_when_the_writer_is_gone() {
        let dir = crate::test_dir("fifo-gone");
        let path = dir.join("exec.fifo");
        let _fd = make_fifo(&path, 0o622).unwrap();
        let e = await_fifo(&path, || false).unwrap_err();
        assert!(e.to_string().contains("is gone"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn ready_carries_the_senders_pid() {
        let (receiver, theirs) = ready_channel().unwrap();
        say_ready(theirs).unwrap();
        assert_eq!(receiver.recv().unwrap(), Some(std::process::id() as i32));
        let (receiver, theirs) = ready_channel().unwrap();
        drop(theirs);
        assert_eq!(receiver.recv().unwrap(), None);
    }

    #[test]
    fn the_sealed_copy_cannot_be_written() {
        let fd = sealed_copy_of_self("isolab-test").unwrap();
        let len = std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap().len();
        assert_eq!(len, std::fs::metadata("/proc/self/exe").unwrap().len());
        let mut f = std::fs::File::from(fd);
        assert!(f.write_all(b"x").is_err(), "F_SEAL_WRITE");
    }

    #[test]
    fn a_spawned_program_finds_each_descriptor_at_its_number() {
        let dir = crate::test_dir("spawn");
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::write(&a, "first").unwrap();
        std::fs::write(&b, "second").unwrap();
        let (fa, fb) = (std::fs::File::open(&a).unwrap(), std::fs::File::open(&b).unwrap());
        // Crossed on purpose: b's descriptor goes where a's is, and the other way round.
        let (ra, rb) = (fa.as_raw_fd(), fb.as_raw_fd());
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", &format!("cat <&{ra}; echo; cat <&{rb}; ulimit -n")]);
        cmd.stdout(std::process::Stdio::piped());
        let nofile = rlimit_by_name("RLIMIT_NOFILE").unwrap();
        let setup =
            ChildSetup { keep: vec![(ra, rb), (rb, ra)], rlimits: vec![(nofile, 64, 64)], ..Default::default() };
        let out = spawn(&mut cmd, setup).unwrap().wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "second\nfirst64\n");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn inherited_descriptors_must_be_open() {
        assert!(take_inherited(987_654, "--sync-fd")
            .unwrap_err()
            .to_string()
            .starts_with("--sync-fd: descriptor 987654"));
        assert!(take_inherited(1, "--x").is_err(), "0-2 are never taken");
    }
}
