//! `--explain`: every kernel-visible step, printed as it happens, in strace's grammar.
//!
//! Every action the tools take on the kernel is a [`Step`]. [`run`] performs it, prints it under
//! `--explain` (`nsexec: unshare(CLONE_NEWUSER|CLONE_NEWPID) = 0`, or `= -1 EPERM (...)`), and on
//! failure builds the error message from the same step, so the trace and the message cannot
//! drift apart. `ISOLAB_EXPLAIN=1` turns it on and is inherited through exec, so one switch
//! traces a whole chain of tools; `ISOLAB_EXPLAIN=json` prints one JSON object per step, which
//! tests use as an oracle ("setgroups written before gid_map").

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

pub use nix::errno::Errno;

const OFF: u8 = 0;
const TEXT: u8 = 1;
const JSON: u8 = 2;

static MODE: AtomicU8 = AtomicU8::new(OFF);

/// The variable that carries the switch through exec.
pub const ENV: &str = "ISOLAB_EXPLAIN";

/// Read `ISOLAB_EXPLAIN` (`1`/`text`/`json`; `0` or empty is off).
pub fn init_from_env() {
    let mode = match std::env::var(ENV).as_deref() {
        Ok("json") => JSON,
        Ok("") | Ok("0") | Err(_) => OFF,
        Ok(_) => TEXT,
    };
    MODE.store(mode, Ordering::Relaxed);
}

/// Set when `--explain` (not the environment) turned the trace on: then the commands the tool
/// execs get `ISOLAB_EXPLAIN=1` from [`exported`], so one switch traces a whole chain.
static FROM_FLAG: AtomicBool = AtomicBool::new(false);

/// `--explain` on the command line: trace this tool and every tool it execs.
pub fn enable() {
    if MODE.load(Ordering::Relaxed) == OFF {
        MODE.store(TEXT, Ordering::Relaxed);
        FROM_FLAG.store(true, Ordering::Relaxed);
    }
}

/// The variable a command this tool execs must get so that it traces too: `ISOLAB_EXPLAIN=1`
/// after `--explain`; nothing when the switch came from the environment (it is inherited).
pub fn exported() -> Option<(&'static str, &'static str)> {
    FROM_FLAG.load(Ordering::Relaxed).then_some((ENV, "1"))
}

pub fn enabled() -> bool {
    MODE.load(Ordering::Relaxed) != OFF
}

/// One kernel-visible action: every syscall the tools make is a variant with its arguments, so
/// `ISOLAB_EXPLAIN=json` names each (`"op"`) and the hint table can match it.
#[derive(Debug, Clone)]
pub enum Step {
    Unshare(libc::c_int),
    Setns {
        target: String,
        flags: libc::c_int,
    },
    Fork,
    Exec {
        argv: Vec<String>,
    },
    /// A helper program run to completion (fork + execve + wait, as std's posix_spawn does it).
    Spawn {
        path: PathBuf,
        argv: Vec<String>,
    },
    Write {
        path: PathBuf,
        value: String,
    },
    Read {
        path: PathBuf,
    },
    Mkdir(PathBuf),
    /// A mount point made in the new root (`dir`: a directory, else an empty file), shown by
    /// its path inside that root.
    MountPoint {
        path: PathBuf,
        dir: bool,
    },
    Rmdir(PathBuf),
    Open(PathBuf),
    Mount {
        source: String,
        target: PathBuf,
        fstype: String,
        flags: String,
        data: String,
    },
    /// creat(2): an empty file (a mount point, a namespace file to bind onto), or one created to
    /// be written (`--pidfile`).
    Creat(PathBuf),
    /// flock(2) LOCK_EX on a lock file (opened or made first): waits while another holds it.
    Flock(PathBuf),
    Symlink {
        target: String,
        link: PathBuf,
    },
    Umount(PathBuf),
    /// unlink(2) of a file made earlier (a mount point undone).
    Unlink(PathBuf),
    /// open_tree(OPEN_TREE_CLONE|AT_RECURSIVE): a detached copy of the tree at `path`.
    OpenTree(PathBuf),
    /// mount_setattr(AT_RECURSIVE) setting `attr` (`MOUNT_ATTR_RDONLY`) on the tree at `path`,
    /// or clearing it (`clear`: a read-only root made writable again to undo its mount points).
    MountSetattr {
        path: PathBuf,
        attr: &'static str,
        clear: bool,
    },
    /// move_mount of a detached tree onto `to`.
    MoveMount {
        to: PathBuf,
    },
    PivotRoot {
        new_root: PathBuf,
        put_old: PathBuf,
    },
    Chdir(PathBuf),
    /// fchdir(2) to a directory opened earlier, named for the reader (`<target's root>`).
    Fchdir(String),
    Chroot(PathBuf),
    Sethostname(String),
    Setdomainname(String),
    Setgroups(Vec<u32>),
    Setresgid(u32),
    Setresuid(u32),
    Seteuid(u32),
    Setsid,
    Prctl(Prctl),
    /// PR_CAPBSET_DROP of each capability listed (one prctl per capability).
    CapbsetDrop(Vec<caps::Capability>),
    /// capset(2) of the three sets (bit masks, as /proc/PID/status shows them).
    Capset {
        effective: u64,
        permitted: u64,
        inheritable: u64,
    },
    /// PR_CAP_AMBIENT_CLEAR_ALL, then PR_CAP_AMBIENT_RAISE of each capability in the mask.
    AmbientSet(u64),
    /// seccomp(SECCOMP_SET_MODE_FILTER, flags, prog); `what`: its default action, or whose
    /// filter it copies.
    SeccompLoad {
        flags: u32,
        instructions: usize,
        what: String,
    },
    /// ptrace(2) of another process: `ptrace(PTRACE_SEIZE, 4242, 0)`.
    Ptrace {
        request: &'static str,
        pid: i32,
        arg: String,
    },
    /// waitpid(2) for a process's next state change (a tracee's stop).
    Wait(i32),
    /// bpf(BPF_PROG_LOAD) of a program of this type.
    BpfProgLoad {
        prog_type: &'static str,
        instructions: usize,
        license: &'static str,
    },
    /// bpf(BPF_PROG_ATTACH) of a loaded program to the cgroup directory `target`.
    BpfProgAttach {
        target: PathBuf,
        attach_type: &'static str,
        flags: &'static str,
    },
    /// chown(2) of a file made for the command (a device node gets its host owner).
    Chown {
        path: PathBuf,
        uid: u32,
        gid: u32,
    },
    /// mknod(2) of a device node.
    Mknod {
        path: PathBuf,
        kind: char,
        major: u32,
        minor: u32,
        mode: u32,
    },
    Kill {
        pid: i32,
        signal: String,
    },
    PidfdOpen(i32),
    /// close_range(first, ~0U, CLOSE_RANGE_CLOEXEC): every descriptor from `first` on close-on-exec.
    CloseRange {
        first: u32,
    },
    /// pidfd_send_signal(2); signal 0 only asks whether the process is still alive.
    PidfdSendSignal {
        pidfd: i32,
        signal: i32,
    },
    /// ioctl(SIOCSIFFLAGS) raising IFF_UP on interface `name`, see netdevice(7).
    SetLinkUp(String),
    /// A CNI plugin run (fork + execve), its configuration on stdin: `env` holds the CNI_*
    /// variables as the plugin gets them (CNI_COMMAND first). Shown as the shell line a student
    /// can paste, `env CNI_COMMAND=ADD ... PLUGIN`. See the CNI specification.
    CniPlugin {
        plugin: PathBuf,
        env: Vec<(String, String)>,
    },
    /// A helper program started beside the tool (fork + execve), e.g. pasta(1).
    ForkExec {
        argv: Vec<String>,
    },
    /// bind(2) of a socket to a local address (a published host port held while in use).
    Bind {
        proto: &'static str,
        addr: std::net::SocketAddr,
    },
    /// ioctl(2) on a terminal or a pseudo-terminal: `ioctl(pty master, TIOCSWINSZ, {rows=24, cols=80})`.
    Ioctl {
        fd: String,
        request: &'static str,
        arg: String,
    },
    /// tcsetattr(3) with TCSADRAIN: `tcsetattr(0, TCSADRAIN, raw)`.
    Tcsetattr {
        fd: i32,
        mode: String,
    },
    Dup2 {
        from: String,
        to: i32,
    },
    /// A descriptor handed to another process over a socket (SCM_RIGHTS): sendmsg / recvmsg.
    SendFd(String),
    RecvFd(String),
    /// sigprocmask(SIG_BLOCK) of `signals` in this thread, so that they wait in a signalfd.
    SigBlock(Vec<nix::sys::signal::Signal>),
    /// signalfd(2) reading `signals`, close-on-exec and non-blocking.
    Signalfd(Vec<nix::sys::signal::Signal>),
    /// inotify_init1(IN_CLOEXEC|IN_NONBLOCK), see inotify(7).
    InotifyInit,
    /// inotify_add_watch(2) of `path` for the events `mask` names (`IN_MODIFY`).
    InotifyAddWatch {
        path: PathBuf,
        mask: &'static str,
    },
    /// eventfd(0, EFD_CLOEXEC|EFD_NONBLOCK), see eventfd(2).
    Eventfd,
    /// lseek(2) of an opened `path` to its end: only what is written from now on is read.
    SeekEnd(PathBuf),
    /// The sender's pid, uid and gid over a socket (SCM_CREDENTIALS): the kernel translates the
    /// pid into the receiver's PID namespace. sendmsg / recvmsg, see unix(7).
    SendCredentials(String),
    RecvCredentials(String),
    /// connect(2) of a unix stream socket to the socket file at `path`.
    Connect(PathBuf),
    /// mkfifo(3) of `path` with `mode` (then chmod to it, whatever the umask).
    Mkfifo {
        path: PathBuf,
        mode: u32,
    },
    /// memfd_create(2) of an anonymous file that can be sealed.
    MemfdCreate(String),
    /// fcntl(F_ADD_SEALS) making a memfd immutable for good, see memfd_create(2) "File sealing".
    SealMemfd,
    /// umask(2).
    Umask(u32),
    /// setrlimit(2) of `resource` (`RLIMIT_NOFILE`).
    Setrlimit {
        resource: &'static str,
        soft: u64,
        hard: u64,
    },
}

/// The prctl(2) operations the tools use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prctl {
    SetDumpable(bool),
    SetKeepcaps(bool),
    SetNoNewPrivs,
    SetPdeathsig(nix::sys::signal::Signal),
    SetChildSubreaper,
}

impl fmt::Display for Prctl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prctl::SetDumpable(on) => write!(f, "PR_SET_DUMPABLE, {}", u8::from(*on)),
            Prctl::SetKeepcaps(on) => write!(f, "PR_SET_KEEPCAPS, {}", u8::from(*on)),
            Prctl::SetNoNewPrivs => f.write_str("PR_SET_NO_NEW_PRIVS, 1"),
            Prctl::SetPdeathsig(sig) => write!(f, "PR_SET_PDEATHSIG, {sig}"),
            Prctl::SetChildSubreaper => f.write_str("PR_SET_CHILD_SUBREAPER, 1"),
        }
    }
}

impl Step {
    /// Whether the trace line shows a return value (`= 0`), as strace does for syscalls.
    fn shows_return(&self) -> bool {
        !matches!(
            self,
            Step::Write { .. }
                | Step::Read { .. }
                | Step::Mkdir(_)
                | Step::MountPoint { dir: true, .. }
                | Step::Rmdir(_)
                | Step::Open(_)
                | Step::Fork
                | Step::CniPlugin { .. }
                | Step::ForkExec { .. }
                | Step::Spawn { .. }
        )
    }

    /// The syscall's name, as the JSON trace gives it: the text up to the first `(` or blank.
    fn op(&self) -> String {
        let shown = self.to_string();
        shown[..shown.find(['(', ' ']).unwrap_or(shown.len())].to_string()
    }

    fn path(&self) -> Option<&Path> {
        match self {
            Step::Write { path, .. } | Step::Read { path } => Some(path),
            Step::Mkdir(p)
            | Step::Rmdir(p)
            | Step::Open(p)
            | Step::Creat(p)
            | Step::Flock(p)
            | Step::Umount(p)
            | Step::Chdir(p)
            | Step::Chroot(p)
            | Step::Unlink(p)
            | Step::Connect(p)
            | Step::Mkfifo { path: p, .. } => Some(p),
            Step::CniPlugin { plugin, .. } => Some(plugin),
            Step::Mount { target, .. } => Some(target),
            Step::BpfProgAttach { target, .. }
            | Step::Mknod { path: target, .. }
            | Step::Chown { path: target, .. } => Some(target),
            Step::MountPoint { path, .. } => Some(path),
            Step::PivotRoot { new_root, .. } => Some(new_root),
            Step::InotifyAddWatch { path, .. } | Step::SeekEnd(path) => Some(path),
            _ => None,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Unshare(flags) => write!(f, "unshare({})", clone_flag_names(*flags)),
            Step::Setns { target, flags } => write!(f, "setns({target}, {})", clone_flag_names(*flags)),
            Step::Fork => f.write_str("fork()"),
            Step::Exec { argv } => write!(f, "execve({:?}, {:?})", argv.first().map_or("", |s| s.as_str()), argv),
            Step::Spawn { path, argv } => write!(f, "posix_spawn({:?}, {argv:?})", path.display().to_string()),
            Step::Write { path, value } => write!(f, "write {} = {}", path.display(), value.escape_debug()),
            Step::Read { path } => write!(f, "read {}", path.display()),
            Step::Mkdir(p) | Step::MountPoint { path: p, dir: true } => write!(f, "mkdir {}", p.display()),
            Step::MountPoint { path, dir: false } => write!(f, "creat({:?})", path.display().to_string()),
            Step::Rmdir(p) => write!(f, "rmdir {}", p.display()),
            Step::Open(p) => write!(f, "open {}", p.display()),
            Step::Mount { source, target, fstype, flags, data } => write!(
                f,
                "mount({source:?}, {:?}, {fstype:?}, {flags}, {})",
                target.display().to_string(),
                if data.is_empty() { "NULL".to_string() } else { format!("{data:?}") }
            ),
            Step::Creat(p) => write!(f, "creat({:?})", p.display().to_string()),
            Step::Flock(p) => write!(f, "flock({:?}, LOCK_EX)", p.display().to_string()),
            Step::Symlink { target, link } => write!(f, "symlink({target:?}, {:?})", link.display().to_string()),
            Step::Umount(p) => write!(f, "umount2({:?}, MNT_DETACH)", p.display().to_string()),
            Step::Unlink(p) => write!(f, "unlink({:?})", p.display().to_string()),
            Step::OpenTree(p) => write!(f, "open_tree({:?}, OPEN_TREE_CLONE|AT_RECURSIVE)", p.display().to_string()),
            Step::MountSetattr { path, attr, clear } => {
                let verb = if *clear { "clear " } else { "" };
                write!(f, "mount_setattr({:?}, AT_RECURSIVE, {verb}{attr})", path.display().to_string())
            }
            Step::MoveMount { to } => write!(f, "move_mount(tree, {:?})", to.display().to_string()),
            Step::PivotRoot { new_root, put_old } => {
                write!(f, "pivot_root({:?}, {:?})", new_root.display().to_string(), put_old.display().to_string())
            }
            Step::Chdir(p) => write!(f, "chdir({:?})", p.display().to_string()),
            Step::Fchdir(what) => write!(f, "fchdir({what})"),
            Step::Chroot(p) => write!(f, "chroot({:?})", p.display().to_string()),
            Step::Sethostname(h) => write!(f, "sethostname({h:?})"),
            Step::Setdomainname(h) => write!(f, "setdomainname({h:?})"),
            Step::Setgroups(g) => write!(f, "setgroups({}, {g:?})", g.len()),
            Step::Setresgid(g) => write!(f, "setresgid({g}, {g}, {g})"),
            Step::Setresuid(u) => write!(f, "setresuid({u}, {u}, {u})"),
            Step::Seteuid(u) => write!(f, "seteuid({u})"),
            Step::Setsid => f.write_str("setsid()"),
            Step::Prctl(what) => write!(f, "prctl({what})"),
            Step::CapbsetDrop(list) => {
                let names: Vec<String> = list.iter().map(|c| c.to_string()).collect();
                write!(f, "prctl(PR_CAPBSET_DROP, {{{}}})", names.join(", "))
            }
            Step::Capset { effective, permitted, inheritable } => write!(
                f,
                "capset({{version=_LINUX_CAPABILITY_VERSION_3, pid=0}}, {{effective={}, permitted={}, inheritable={}}})",
                cap_names(*effective),
                cap_names(*permitted),
                cap_names(*inheritable)
            ),
            Step::AmbientSet(mask) => {
                write!(f, "prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, then PR_CAP_AMBIENT_RAISE of {})", cap_names(*mask))
            }
            Step::SeccompLoad { flags, instructions, what } => write!(
                f,
                "seccomp(SECCOMP_SET_MODE_FILTER, {}, {{len={instructions}, {what}}})",
                seccomp_flag_names(*flags)
            ),
            Step::Ptrace { request, pid, arg } => write!(f, "ptrace({request}, {pid}, {arg})"),
            Step::Wait(pid) => write!(f, "waitpid({pid}, __WALL)"),
            Step::BpfProgLoad { prog_type, instructions, license } => {
                write!(f, "bpf(BPF_PROG_LOAD, {{prog_type={prog_type}, insn_cnt={instructions}, license={license:?}}})")
            }
            Step::BpfProgAttach { target, attach_type, flags } => write!(
                f,
                "bpf(BPF_PROG_ATTACH, {{target_fd={:?}, attach_type={attach_type}, attach_flags={flags}}})",
                target.display().to_string()
            ),
            Step::Chown { path, uid, gid } => write!(f, "chown({:?}, {uid}, {gid})", path.display().to_string()),
            Step::Mknod { path, kind, major, minor, mode } => write!(
                f,
                "mknod({:?}, S_IF{}|{mode:#o}, makedev({major}, {minor}))",
                path.display().to_string(),
                if *kind == 'b' { "BLK" } else { "CHR" }
            ),
            Step::Kill { pid, signal } => write!(f, "kill({pid}, {signal})"),
            Step::PidfdOpen(pid) => write!(f, "pidfd_open({pid}, 0)"),
            Step::CloseRange { first } => write!(f, "close_range({first}, ~0U, CLOSE_RANGE_CLOEXEC)"),
            Step::PidfdSendSignal { pidfd, signal } => write!(f, "pidfd_send_signal({pidfd}, {signal}, NULL, 0)"),
            Step::SetLinkUp(name) => write!(f, "ioctl(SIOCSIFFLAGS, {name:?}, IFF_UP)"),
            Step::CniPlugin { plugin, env } => {
                f.write_str("env")?;
                for (k, v) in env {
                    write!(f, " {k}={v}")?;
                }
                write!(f, " {}", plugin.display())
            }
            Step::ForkExec { argv } => {
                write!(f, "fork() + execve({:?}, {:?})", argv.first().map_or("", |s| s.as_str()), argv)
            }
            Step::Bind { proto, addr } => write!(f, "bind({proto} {addr})"),
            Step::Ioctl { fd, request, arg } => write!(f, "ioctl({fd}, {request}, {arg})"),
            Step::Tcsetattr { fd, mode } => write!(f, "tcsetattr({fd}, TCSADRAIN, {mode})"),
            Step::Dup2 { from, to } => write!(f, "dup2({from}, {to})"),
            Step::SendFd(what) => write!(f, "sendmsg(socket, SCM_RIGHTS [{what}])"),
            Step::RecvFd(what) => write!(f, "recvmsg(socket, SCM_RIGHTS [{what}])"),
            Step::SigBlock(signals) => write!(f, "sigprocmask(SIG_BLOCK, {})", signal_set(signals)),
            Step::Signalfd(signals) => write!(f, "signalfd(-1, {}, SFD_CLOEXEC|SFD_NONBLOCK)", signal_set(signals)),
            Step::InotifyInit => f.write_str("inotify_init1(IN_CLOEXEC|IN_NONBLOCK)"),
            Step::InotifyAddWatch { path, mask } => {
                write!(f, "inotify_add_watch({:?}, {mask})", path.display().to_string())
            }
            Step::Eventfd => f.write_str("eventfd(0, EFD_CLOEXEC|EFD_NONBLOCK)"),
            Step::SeekEnd(p) => write!(f, "lseek({:?}, 0, SEEK_END)", p.display().to_string()),
            Step::SendCredentials(what) => write!(f, "sendmsg(socket, SCM_CREDENTIALS [{what}])"),
            Step::RecvCredentials(what) => write!(f, "recvmsg(socket, SCM_CREDENTIALS [{what}])"),
            Step::Connect(p) => write!(f, "connect(unix {:?})", p.display().to_string()),
            Step::Mkfifo { path, mode } => write!(f, "mkfifo({:?}, {mode:#o})", path.display().to_string()),
            Step::MemfdCreate(name) => write!(f, "memfd_create({name:?}, MFD_CLOEXEC|MFD_ALLOW_SEALING)"),
            Step::SealMemfd => {
                f.write_str("fcntl(memfd, F_ADD_SEALS, F_SEAL_SEAL|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_WRITE)")
            }
            Step::Umask(mask) => write!(f, "umask({mask:#05o})"),
            Step::Setrlimit { resource, soft, hard } => {
                write!(f, "setrlimit({resource}, {{rlim_cur={soft}, rlim_max={hard}}})")
            }
        }
    }
}

/// A set of signals as strace prints one: `[INT TERM]`.
fn signal_set(signals: &[nix::sys::signal::Signal]) -> String {
    let names: Vec<&str> = signals.iter().map(|s| s.as_str().trim_start_matches("SIG")).collect();
    format!("[{}]", names.join(" "))
}

/// The names of the CLONE_NEW* bits in `flags`, `|`-joined, as strace prints them.
pub fn clone_flag_names(flags: libc::c_int) -> String {
    let names: Vec<&str> = crate::ns::KINDS.iter().filter(|k| flags & k.flag != 0).map(|k| k.clone_name).collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

/// A capability mask as strace spells a set: `CAP_CHOWN|CAP_KILL`, `0` when empty.
fn cap_names(mask: u64) -> String {
    match crate::capabilities::names(mask).as_str() {
        "none" => "0".into(),
        list => list.replace(',', "|"),
    }
}

/// seccomp(2) filter flags by name (`0` for none).
fn seccomp_flag_names(flags: u32) -> String {
    let names: Vec<&str> = [(1 << 1, "SECCOMP_FILTER_FLAG_LOG"), (1 << 2, "SECCOMP_FILTER_FLAG_SPEC_ALLOW")]
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

/// Perform `step` with `act`, trace it, and turn a failure into a one-line error built from it.
pub fn run<T>(step: Step, act: impl FnOnce() -> nix::Result<T>) -> anyhow::Result<T> {
    match act() {
        Ok(v) => {
            explain(&step, None);
            Ok(v)
        }
        Err(errno) => {
            explain(&step, Some(errno));
            Err(failure(&step, errno))
        }
    }
}

/// Like [`run`] for std I/O (file writes): the errno comes from the `io::Error`.
pub fn run_io<T>(step: Step, act: impl FnOnce() -> std::io::Result<T>) -> anyhow::Result<T> {
    run(step, || act().map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))
}

/// Print a step that has already happened (for steps whose result is not an errno).
pub fn explain(step: &Step, errno: Option<Errno>) {
    match MODE.load(Ordering::Relaxed) {
        TEXT => {
            let result = match (errno, step.shows_return()) {
                (None, true) => " = 0".to_string(),
                (None, false) => String::new(),
                (Some(e), _) => format!(" = -1 {e:?} ({})", e.desc()),
            };
            emit(format!("{}: {}{}\n", crate::exit::tool(), step, result));
        }
        JSON => {
            let mut obj = serde_json::json!({
                "tool": crate::exit::tool(),
                "op": step.op(),
                "step": step.to_string(),
                "errno": errno.map(|e| format!("{e:?}")),
            });
            if let Some(p) = step.path() {
                obj["path"] = p.display().to_string().into();
            }
            if let Step::Write { value, .. } = step {
                obj["value"] = value.clone().into();
            }
            emit(format!("{obj}\n"));
        }
        _ => {}
    }
}

/// One trace line in one write(2): a parent and its child trace at the same time, and
/// unbuffered stderr would otherwise interleave their lines mid-way.
fn emit(line: String) {
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// A free-form note under `--explain` (a choice the tool made, not a syscall).
pub fn note(msg: impl fmt::Display) {
    match MODE.load(Ordering::Relaxed) {
        TEXT => {
            emit(format!("{}: # {}\n", crate::exit::tool(), msg));
        }
        JSON => {
            let obj = serde_json::json!({"tool": crate::exit::tool(), "op": "note", "step": msg.to_string()});
            emit(format!("{obj}\n"));
        }
        _ => {}
    }
}

/// A step the kernel refused: the one-line message [`failure`] words, and the errno, for a
/// caller that reacts to it (falls back, or words the error itself).
#[derive(Debug)]
pub struct Refused {
    pub errno: Errno,
    message: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

/// The errno of a refused step anywhere in `err`'s chain.
pub fn errno_of(err: &anyhow::Error) -> Option<Errno> {
    err.chain().find_map(|e| e.downcast_ref::<Refused>()).map(|r| r.errno)
}

/// The one-line error for a failed step: what failed, the kernel's reason, and a plain hint.
pub fn failure(step: &Step, errno: Errno) -> anyhow::Error {
    let what = match step {
        Step::Write { path, value } => format!("cannot write {:?} to {}", value.trim_end(), path.display()),
        Step::Read { path } => format!("cannot read {}", path.display()),
        Step::Mkdir(p) => format!("cannot create {}", p.display()),
        Step::MountPoint { path, .. } => format!("cannot create mount point {}", path.display()),
        Step::Rmdir(p) => format!("cannot remove {}", p.display()),
        Step::Open(p) => format!("cannot open {}", p.display()),
        Step::Unlink(p) => format!("cannot remove {}", p.display()),
        Step::Bind { proto, addr } => format!("cannot hold host port {}/{proto} on {}", addr.port(), addr.ip()),
        Step::Creat(p) => format!("cannot create {}", p.display()),
        other => other.to_string(),
    };
    let message = match hint(step, errno) {
        Some(h) => format!("{what}: {} ({errno:?}): {h}", errno.desc()),
        None => format!("{what}: {} ({errno:?})", errno.desc()),
    };
    anyhow::Error::new(Refused { errno, message })
}

/// What a kernel refusal means in plain words. This table is where the teaching value lives.
/// A hint is chosen by the step and what it acts on, never by the errno alone: the same ENOENT
/// means a missing controller file in a group, and a missing directory for a pidfile.
fn hint(step: &Step, errno: Errno) -> Option<&'static str> {
    use Errno::*;
    let file = step.path().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or("");
    let group = || step.path().is_some_and(on_cgroupfs);
    Some(match (step, errno) {
        (Step::Unshare(f), EPERM) if f & libc::CLONE_NEWUSER != 0 => {
            "this kernel refuses user namespaces to this caller (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone or kernel.apparmor_restrict_unprivileged_userns)"
        }
        (Step::Unshare(_), EPERM) => "creating these namespaces needs CAP_SYS_ADMIN: run as root, or add --user to get it inside a new user namespace",
        (Step::Unshare(f), EINVAL) if f & libc::CLONE_NEWUSER != 0 => {
            "a user namespace cannot be created by a threaded or chrooted process"
        }
        (Step::Unshare(_), ENOSPC) => {
            "the per-user namespace limit is reached (/proc/sys/user/max_*_namespaces)"
        }
        (Step::Setns { .. }, EPERM) => "joining needs CAP_SYS_ADMIN over the target's user namespace (join its user namespace too, or run as root)",
        (Step::Setns { .. }, EINVAL) => "the caller is already in that namespace, or a threaded process tried to join a user or mount namespace",
        (Step::Setns { .. }, ESRCH) | (Step::PidfdOpen(_), ESRCH) => "the target process has exited",
        (Step::Write { .. }, EPERM) if file == "uid_map" || file == "gid_map" => {
            "a map can be written only once per process, by a writer with the rights over every mapped id (and gid_map needs setgroups 'deny' first when unprivileged)"
        }
        (Step::Write { .. }, EINVAL) if file == "uid_map" || file == "gid_map" => {
            "the kernel rejected the map: ranges overlap, a count is 0, or it is too long"
        }
        (Step::Write { .. }, EPERM) if file == "setgroups" => {
            "setgroups cannot go back from 'deny' to 'allow', nor change after gid_map is written"
        }
        (Step::Write { .. }, EBUSY) if file == "cgroup.subtree_control" => {
            "cgroup v2's no-internal-processes rule: a group that holds processes cannot hand controllers to children"
        }
        (Step::Write { .. }, EBUSY) if file.starts_with("memory.") => "the group already uses more memory than the new limit",
        (Step::Write { .. }, EOPNOTSUPP) if file.ends_with(".bfq.weight_device") => {
            "a per-device weight needs the disk's I/O scheduler to be bfq (cat /sys/block/DISK/queue/scheduler)"
        }
        (Step::Write { .. }, EINVAL) if file.starts_with("cpuset.") => "a CPU or memory node that is not online or not allowed to the parent group",
        (Step::Write { .. }, ENOSPC) if file.starts_with("cpuset.") || file == "cgroup.procs" || file == "tasks" => {
            "the group's cpuset.cpus or cpuset.mems is empty"
        }
        (Step::Open(p), ENOENT) if p.ends_with("ptmx") => {
            "no /dev/ptmx here: the namespace's /dev has no devpts (nsexec --rootfs mounts one)"
        }
        (Step::Write { .. }, ENOENT) | (Step::Open(_), ENOENT) if group() => "the file does not exist (controller not enabled or not mounted here?)",
        (Step::Write { .. }, EACCES) | (Step::Mkdir(_), EACCES) if group() => "permission denied: run as root or get the group delegated",
        (Step::Mkdir(_), EEXIST) if group() => "a group of that name already exists",
        (Step::Rmdir(_), EBUSY) if group() => "the group still has processes or children",
        (Step::Write { .. }, ENOENT) | (Step::Creat(_), ENOENT) => "the directory it would go in does not exist",
        (Step::MountPoint { .. }, EACCES) => "root of the new user namespace writes only where its host uid may: create the mount point in the rootfs first, or give the rootfs to the host uid root inside maps to (chown -R 100000:100000 DIR for --map-users 0:100000:65536, as Docker's userns-remap does with its images)",
        (Step::MountPoint { .. }, EOVERFLOW) | (Step::Mkdir(_), EOVERFLOW) => {
            "the new user namespace has no uid and gid map yet, and a file needs an owner: map ids with --map-root or --map-users/--map-groups"
        }
        (Step::Mount { .. }, EPERM) => "mounting needs CAP_SYS_ADMIN in the mount namespace's owning user namespace; some file systems (proc) also need a matching pid namespace",
        (Step::Mount { .. }, ENOENT) => "the source or the mount point does not exist",
        (Step::PivotRoot { .. }, EINVAL) => "the new root must be a mount point, not the current root, and not shared with the host",
        (Step::SeccompLoad { .. }, EACCES) => "loading a seccomp filter needs no_new_privs or CAP_SYS_ADMIN",
        (Step::SeccompLoad { .. }, EINVAL) => "the kernel refused the filter program (an invalid instruction, or longer than 4096)",
        (Step::Ptrace { request: "PTRACE_SEIZE", .. }, EPERM) => {
            "the process is traced already (strace, gdb), or ptrace is closed to us (Yama's ptrace_scope)"
        }
        (Step::Ptrace { request: "PTRACE_SECCOMP_GET_FILTER", .. }, EACCES) => {
            "reading a filter needs CAP_SYS_ADMIN in the initial user namespace and no filter of one's own"
        }
        (Step::BpfProgLoad { .. }, EPERM) | (Step::BpfProgAttach { .. }, EPERM) => {
            "loading and attaching a cgroup device program needs CAP_SYS_ADMIN (run as root)"
        }
        (Step::BpfProgAttach { .. }, EINVAL) => "this kernel cannot attach device programs to this cgroup (cgroup v2 only)",
        (Step::CapbsetDrop(_), EPERM) => "dropping from the bounding set needs CAP_SETPCAP",
        (Step::Capset { .. }, EPERM) | (Step::AmbientSet(_), EPERM) => {
            "a capability can be kept only if it is still permitted (and inheritable within the bounding set); or the seccomp profile refuses capset and prctl"
        }
        (Step::Mknod { .. }, EPERM) => "creating a device node needs CAP_MKNOD in the initial user namespace",
        (Step::Sethostname(_), EPERM) | (Step::Setdomainname(_), EPERM) => "changing the host name needs a UTS namespace of your own (add --uts)",
        (Step::Setgroups(_), EPERM) => "setgroups is 'deny' in this user namespace, or the caller lacks CAP_SETGID",
        (Step::Setresuid(_), EINVAL) | (Step::Setresgid(_), EINVAL) => "that id is not mapped in this user namespace",
        (Step::Chdir(_), ENOENT) => "the working directory does not exist in the new root",
        (Step::Bind { .. }, EADDRINUSE) => "another process uses that port (ss -ltnup shows which)",
        (Step::Bind { .. }, EADDRNOTAVAIL) => "no interface of this host has that address",
        (Step::Bind { .. }, EACCES) => "ports below 1024 need root (CAP_NET_BIND_SERVICE)",
        (Step::Ioctl { request: "TIOCSCTTY", .. }, EPERM) => {
            "a controlling terminal is taken by a session leader (setsid) from a terminal no other session holds"
        }
        (Step::Ioctl { request: "TIOCGPTN", .. }, _) => {
            "that is not a pseudo-terminal multiplexer (a devpts ptmx): the new root's /dev/ptmx is not usable"
        }
        (Step::InotifyAddWatch { .. }, ENOSPC) => {
            "this user's inotify watches are used up (sysctl fs.inotify.max_user_watches)"
        }
        (Step::InotifyInit, EMFILE) => "this user's inotify instances are used up (sysctl fs.inotify.max_user_instances)",
        (Step::Connect(_), ECONNREFUSED) => "nothing listens on that socket (the engine's end of the console socket)",
        (Step::Connect(_), ENOENT) => "no socket file there",
        (Step::Mkfifo { .. }, EEXIST) => "a file of that name exists already (a container of the same id?)",
        _ => return None,
    })
}

/// Whether `path` (or, when it does not exist, the nearest directory above it) is in a cgroup
/// file system: a mkdir there makes a group, a missing file is a controller file.
fn on_cgroupfs(path: &Path) -> bool {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
    path.is_absolute()
        && path
            .ancestors()
            .find_map(|p| statfs(p).ok())
            .is_some_and(|fs| [CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC].contains(&fs.filesystem_type()))
}

/// Write `value` to a kernel file in one write(2), traced. Kernel files (uid_map, cgroup knobs)
/// take a value only whole: a short write would leave half a setting.
pub fn write_file(path: impl AsRef<Path>, value: impl AsRef<str>) -> anyhow::Result<()> {
    FileWriter::default().write(path.as_ref(), value.as_ref())
}

/// Writes to kernel files, each in one write(2) and traced as [`write_file`] traces it; writes
/// in a row to the same file share one open (v1 `devices.allow` takes one rule per write).
#[derive(Default)]
pub struct FileWriter {
    held: Option<(std::path::PathBuf, std::os::fd::OwnedFd)>,
}

impl FileWriter {
    pub fn write(&mut self, path: &Path, value: &str) -> anyhow::Result<()> {
        let step = Step::Write { path: path.to_path_buf(), value: value.to_string() };
        let held = self.held.take().filter(|(p, _)| p == path);
        let fd = run(step, || {
            let fd = match held {
                Some((_, fd)) => fd,
                // openat(2), not open(3): musl's open follows an O_CLOEXEC open with fcntl(F_SETFD).
                None => nix::fcntl::openat(
                    nix::fcntl::AT_FDCWD,
                    path,
                    nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )?,
            };
            if nix::unistd::write(&fd, value.as_bytes())? != value.len() {
                return Err(Errno::EIO);
            }
            Ok(fd)
        })?;
        self.held = Some((path.to_path_buf(), fd));
        Ok(())
    }
}

/// Read a (small, kernel) file whole, traced as `read PATH`.
pub fn read_file(path: impl AsRef<Path>) -> std::io::Result<String> {
    let path = path.as_ref();
    let result = read_whole(path);
    let errno = result.as_ref().err().map(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)));
    explain(&Step::Read { path: path.to_path_buf() }, errno);
    result
}

/// A kernel file in one read(2) or two. std's `read_to_string` sizes its buffer by the file's
/// size, which cgroup and proc files report as 0 (or 4096): it then reads memory.stat 32, 32,
/// 64, 128... bytes at a time, ten system calls where two do (a scrape of 10,000 groups).
/// The read goes into one buffer per thread, reused, and the text is copied out at its length:
/// a fresh 8 KiB buffer per file cost a scrape of 1,000 groups 600 page faults more with musl's
/// allocator, which hands freed pages back to the kernel.
fn read_whole(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    thread_local!(static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 8192]));
    let mut file = std::fs::File::open(path)?;
    BUF.with(|cell| {
        let mut buf = cell.borrow_mut();
        let mut len = 0;
        loop {
            if len == buf.len() {
                let grown = len * 2;
                buf.resize(grown, 0);
            }
            match file.read(&mut buf[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let text =
            std::str::from_utf8(&buf[..len]).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        Ok(text.to_owned())
    })
}

/// mkdir, traced.
pub fn mkdir(path: impl AsRef<Path>) -> anyhow::Result<()> {
    let path = path.as_ref();
    run_io(Step::Mkdir(path.to_path_buf()), || std::fs::create_dir(path))
}

/// rmdir, traced.
pub fn rmdir(path: impl AsRef<Path>) -> anyhow::Result<()> {
    let path = path.as_ref();
    run_io(Step::Rmdir(path.to_path_buf()), || std::fs::remove_dir(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_print_like_strace() {
        let s = Step::Unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWPID);
        assert_eq!(s.to_string(), "unshare(CLONE_NEWUSER|CLONE_NEWPID)");
        let w = Step::Write { path: "/sys/fs/cgroup/memory/x/memory.limit_in_bytes".into(), value: "104857600".into() };
        assert_eq!(w.to_string(), "write /sys/fs/cgroup/memory/x/memory.limit_in_bytes = 104857600");
        // The JSON trace's "op" is the syscall's name, as the text begins with it.
        let ops = [
            (s, "unshare"),
            (w, "write"),
            (Step::Read { path: "/proc/stat".into() }, "read"),
            (Step::Mkdir("/g".into()), "mkdir"),
            (Step::Open("/proc/1/ns/net".into()), "open"),
            (Step::Fork, "fork"),
            (Step::Exec { argv: vec!["true".into()] }, "execve"),
            (Step::Umount(".".into()), "umount2"),
            (Step::Setns { target: "x".into(), flags: libc::CLONE_NEWNET }, "setns"),
            (Step::Kill { pid: 1, signal: "SIGKILL".into() }, "kill"),
            (Step::Capset { effective: 0, permitted: 0, inheritable: 0 }, "capset"),
            (Step::MountPoint { path: "/www".into(), dir: true }, "mkdir"),
            (Step::MountPoint { path: "/dev/null".into(), dir: false }, "creat"),
        ];
        for (step, op) in ops {
            assert_eq!(step.op(), op, "{step}");
        }
    }

    // What the steps that were once free-form `call`s print: the same text as before, now with
    // their own names in the JSON trace.
    #[test]
    fn every_syscall_has_its_own_step() {
        let cases: [(Step, &str, &str); 15] = [
            (Step::Seteuid(1000), "seteuid(1000)", "seteuid"),
            (Step::Setsid, "setsid()", "setsid"),
            (Step::PidfdSendSignal { pidfd: 3, signal: 0 }, "pidfd_send_signal(3, 0, NULL, 0)", "pidfd_send_signal"),
            (Step::SetLinkUp("lo".into()), "ioctl(SIOCSIFFLAGS, \"lo\", IFF_UP)", "ioctl"),
            (
                Step::Symlink { target: "pts/ptmx".into(), link: "/dev/ptmx".into() },
                "symlink(\"pts/ptmx\", \"/dev/ptmx\")",
                "symlink",
            ),
            (Step::OpenTree("/srv".into()), "open_tree(\"/srv\", OPEN_TREE_CLONE|AT_RECURSIVE)", "open_tree"),
            (
                Step::MountSetattr { path: "/".into(), attr: "MOUNT_ATTR_RDONLY", clear: false },
                "mount_setattr(\"/\", AT_RECURSIVE, MOUNT_ATTR_RDONLY)",
                "mount_setattr",
            ),
            (Step::MoveMount { to: "/data".into() }, "move_mount(tree, \"/data\")", "move_mount"),
            (Step::Creat("/run/x.net".into()), "creat(\"/run/x.net\")", "creat"),
            (Step::Flock("/run/x.lock".into()), "flock(\"/run/x.lock\", LOCK_EX)", "flock"),
            (Step::Fchdir("<target's root>".into()), "fchdir(<target's root>)", "fchdir"),
            (Step::Prctl(Prctl::SetDumpable(false)), "prctl(PR_SET_DUMPABLE, 0)", "prctl"),
            (
                Step::MountSetattr { path: "/ (the new root)".into(), attr: "MOUNT_ATTR_RDONLY", clear: true },
                "mount_setattr(\"/ (the new root)\", AT_RECURSIVE, clear MOUNT_ATTR_RDONLY)",
                "mount_setattr",
            ),
            (Step::Unlink("/www".into()), "unlink(\"/www\")", "unlink"),
            (Step::CloseRange { first: 3 }, "close_range(3, ~0U, CLOSE_RANGE_CLOEXEC)", "close_range"),
        ];
        for (step, text, op) in cases {
            assert_eq!((step.to_string().as_str(), step.op().as_str()), (text, op));
            assert!(step.shows_return(), "{text}");
        }
        let death = Step::Prctl(Prctl::SetPdeathsig(nix::sys::signal::Signal::SIGKILL));
        assert_eq!(death.to_string(), "prctl(PR_SET_PDEATHSIG, SIGKILL)");
    }

    // Issue 17: netexec's steps. A plugin run reads as the shell line that repeats it (its
    // configuration then goes on stdin); a helper as its fork and exec; a held port as its bind.
    #[test]
    fn netexec_steps_have_their_own_names() {
        let cni = Step::CniPlugin {
            plugin: "/usr/lib/cni/bridge".into(),
            env: vec![("CNI_COMMAND".into(), "ADD".into()), ("CNI_ARGS".into(), String::new())],
        };
        let spawn = Step::ForkExec { argv: vec!["pasta".into(), "--quiet".into()] };
        let bind = Step::Bind { proto: "tcp", addr: "0.0.0.0:18080".parse().unwrap() };
        let cases = [
            (&cni, "env CNI_COMMAND=ADD CNI_ARGS= /usr/lib/cni/bridge", "env", false),
            (&spawn, "fork() + execve(\"pasta\", [\"pasta\", \"--quiet\"])", "fork", false),
            (&bind, "bind(tcp 0.0.0.0:18080)", "bind", true),
        ];
        for (step, text, op, shows_return) in cases {
            assert_eq!((step.to_string().as_str(), step.op().as_str(), step.shows_return()), (text, op, shows_return));
        }
        assert_eq!(cni.path(), Some(Path::new("/usr/lib/cni/bridge")));
        let msg = failure(&bind, Errno::EADDRINUSE).to_string();
        assert_eq!(
            msg,
            "cannot hold host port 18080/tcp on 0.0.0.0: Address already in use (EADDRINUSE): another process uses that port (ss -ltnup shows which)"
        );
        let msg = failure(&Step::Unlink("/run/netns/web".into()), Errno::EBUSY).to_string();
        assert!(msg.starts_with("cannot remove /run/netns/web: "), "{msg}");
    }

    // The terminal's steps (nsexec -t, nsenter-lite --tty), the descriptors passed over a socket,
    // and a setuid helper run for an unprivileged caller's id ranges.
    #[test]
    fn terminal_and_helper_steps_have_their_own_names() {
        let ioctl = Step::Ioctl { fd: "pty master".into(), request: "TIOCSWINSZ", arg: "{rows=24, cols=80}".into() };
        let cases: [(Step, &str, &str); 6] = [
            (ioctl, "ioctl(pty master, TIOCSWINSZ, {rows=24, cols=80})", "ioctl"),
            (Step::Tcsetattr { fd: 0, mode: "raw".into() }, "tcsetattr(0, TCSADRAIN, raw)", "tcsetattr"),
            (Step::Dup2 { from: "pty slave".into(), to: 2 }, "dup2(pty slave, 2)", "dup2"),
            (
                Step::SendFd("pty master /dev/pts/3".into()),
                "sendmsg(socket, SCM_RIGHTS [pty master /dev/pts/3])",
                "sendmsg",
            ),
            (Step::RecvFd("pty master".into()), "recvmsg(socket, SCM_RIGHTS [pty master])", "recvmsg"),
            (Step::Creat("/run/nsexec.pid".into()), "creat(\"/run/nsexec.pid\")", "creat"),
        ];
        for (step, text, op) in cases {
            assert_eq!((step.to_string().as_str(), step.op().as_str()), (text, op));
            assert!(step.shows_return(), "{text}");
        }
        let spawn = Step::Spawn { path: "/usr/bin/newuidmap".into(), argv: vec!["newuidmap".into(), "42".into()] };
        assert_eq!(spawn.to_string(), "posix_spawn(\"/usr/bin/newuidmap\", [\"newuidmap\", \"42\"])");
        assert_eq!(spawn.op(), "posix_spawn");
        assert!(!spawn.shows_return(), "traced before it runs, as fork is");
        let sctty = Step::Ioctl { fd: "pty slave".into(), request: "TIOCSCTTY", arg: "0".into() };
        assert!(failure(&sctty, Errno::EPERM).to_string().contains("session leader"));
        let ptmx = failure(&Step::Open("/dev/ptmx".into()), Errno::ENOENT).to_string();
        assert!(
            ptmx.ends_with(
                "(ENOENT): no /dev/ptmx here: the namespace's /dev has no devpts (nsexec --rootfs mounts one)"
            ),
            "{ptmx}"
        );
        let pidfile = failure(&Step::Creat("/nonexistent-isolab/pid".into()), Errno::ENOENT).to_string();
        assert_eq!(pidfile, "cannot create /nonexistent-isolab/pid: No such file or directory (ENOENT): the directory it would go in does not exist");
    }

    // Issue 16: the confinement's steps (capability sets, the seccomp filter, the cgroup device
    // program, a device node) each under its syscall's name.
    #[test]
    fn confinement_steps_have_their_own_names() {
        use caps::Capability::{CAP_CHOWN, CAP_KILL, CAP_SYS_ADMIN};
        let chown_kill = (1 << CAP_CHOWN.index()) | (1 << CAP_KILL.index());
        let cases: [(Step, &str, &str); 11] = [
            (
                Step::Ptrace { request: "PTRACE_SEIZE", pid: 4242, arg: "0".into() },
                "ptrace(PTRACE_SEIZE, 4242, 0)",
                "ptrace",
            ),
            (
                Step::Ptrace { request: "PTRACE_SECCOMP_GET_FILTER", pid: 4242, arg: "0, buf[702]".into() },
                "ptrace(PTRACE_SECCOMP_GET_FILTER, 4242, 0, buf[702])",
                "ptrace",
            ),
            (Step::Wait(4242), "waitpid(4242, __WALL)", "waitpid"),
            (Step::CapbsetDrop(vec![CAP_SYS_ADMIN]), "prctl(PR_CAPBSET_DROP, {CAP_SYS_ADMIN})", "prctl"),
            (
                Step::Capset { effective: chown_kill, permitted: chown_kill, inheritable: 0 },
                "capset({version=_LINUX_CAPABILITY_VERSION_3, pid=0}, {effective=CAP_CHOWN|CAP_KILL, permitted=CAP_CHOWN|CAP_KILL, inheritable=0})",
                "capset",
            ),
            (
                Step::AmbientSet(0),
                "prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, then PR_CAP_AMBIENT_RAISE of 0)",
                "prctl",
            ),
            (
                Step::SeccompLoad { flags: 1 << 2, instructions: 702, what: "default SCMP_ACT_ERRNO(EPERM)".into() },
                "seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, {len=702, default SCMP_ACT_ERRNO(EPERM)})",
                "seccomp",
            ),
            (
                Step::BpfProgLoad { prog_type: "BPF_PROG_TYPE_CGROUP_DEVICE", instructions: 69, license: "Apache" },
                "bpf(BPF_PROG_LOAD, {prog_type=BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt=69, license=\"Apache\"})",
                "bpf",
            ),
            (
                Step::BpfProgAttach { target: "/g".into(), attach_type: "BPF_CGROUP_DEVICE", flags: "BPF_F_ALLOW_MULTI" },
                "bpf(BPF_PROG_ATTACH, {target_fd=\"/g\", attach_type=BPF_CGROUP_DEVICE, attach_flags=BPF_F_ALLOW_MULTI})",
                "bpf",
            ),
            (
                Step::Mknod { path: "/dev/x".into(), kind: 'c', major: 1, minor: 11, mode: 0o600 },
                "mknod(\"/dev/x\", S_IFCHR|0o600, makedev(1, 11))",
                "mknod",
            ),
            (Step::Chown { path: "/dev/x".into(), uid: 0, gid: 5 }, "chown(\"/dev/x\", 0, 5)", "chown"),
        ];
        for (step, text, op) in cases {
            assert_eq!((step.to_string().as_str(), step.op().as_str()), (text, op));
            assert!(step.shows_return(), "{text}");
        }
        let msg = failure(&Step::SeccompLoad { flags: 0, instructions: 1, what: "x".into() }, Errno::EACCES);
        assert!(msg.to_string().ends_with("needs no_new_privs or CAP_SYS_ADMIN"), "{msg}");
        let seize = Step::Ptrace { request: "PTRACE_SEIZE", pid: 42, arg: "0".into() };
        assert!(failure(&seize, Errno::EPERM).to_string().ends_with("(Yama's ptrace_scope)"));
    }

    // Issue 19: what cgstat --events asks of the kernel, each step with its own name (the
    // functions' of sigprocmask(2), signalfd(2), inotify(7), eventfd(2)).
    #[test]
    fn watch_steps_have_their_own_names() {
        use nix::sys::signal::Signal::{SIGINT, SIGTERM};
        let cases = [
            (Step::SigBlock(vec![SIGINT, SIGTERM]), "sigprocmask(SIG_BLOCK, [INT TERM])", "sigprocmask"),
            (Step::Signalfd(vec![SIGINT, SIGTERM]), "signalfd(-1, [INT TERM], SFD_CLOEXEC|SFD_NONBLOCK)", "signalfd"),
            (Step::InotifyInit, "inotify_init1(IN_CLOEXEC|IN_NONBLOCK)", "inotify_init1"),
            (
                Step::InotifyAddWatch { path: "/sys/fs/cgroup/g/memory.events".into(), mask: "IN_MODIFY" },
                "inotify_add_watch(\"/sys/fs/cgroup/g/memory.events\", IN_MODIFY)",
                "inotify_add_watch",
            ),
            (Step::Eventfd, "eventfd(0, EFD_CLOEXEC|EFD_NONBLOCK)", "eventfd"),
            (Step::SeekEnd("/dev/kmsg".into()), "lseek(\"/dev/kmsg\", 0, SEEK_END)", "lseek"),
        ];
        for (step, text, op) in cases {
            assert_eq!((step.to_string().as_str(), step.op().as_str()), (text, op));
            assert!(step.shows_return(), "{text}");
        }
        let watch = Step::InotifyAddWatch { path: "/sys/fs/cgroup/g".into(), mask: "IN_CREATE" };
        let msg = failure(&watch, Errno::ENOSPC).to_string();
        assert!(
            msg.ends_with("(ENOSPC): this user's inotify watches are used up (sysctl fs.inotify.max_user_watches)"),
            "{msg}"
        );
    }

    // Issue 20: what isolab-oci's stages ask of the kernel (the ready report, runc's exec fifo,
    // the sealed copy of the runtime, the rlimits of the chain), each under its syscall's name.
    #[test]
    fn runtime_handoff_steps_have_their_own_names() {
        let cases: [(Step, &str, &str); 10] = [
            (Step::SendCredentials("ready".into()), "sendmsg(socket, SCM_CREDENTIALS [ready])", "sendmsg"),
            (Step::RecvCredentials("ready".into()), "recvmsg(socket, SCM_CREDENTIALS [ready])", "recvmsg"),
            (Step::Connect("/run/c.sock".into()), "connect(unix \"/run/c.sock\")", "connect"),
            (
                Step::Mkfifo { path: "/run/x/exec.fifo".into(), mode: 0o622 },
                "mkfifo(\"/run/x/exec.fifo\", 0o622)",
                "mkfifo",
            ),
            (
                Step::MemfdCreate("isolab-oci".into()),
                "memfd_create(\"isolab-oci\", MFD_CLOEXEC|MFD_ALLOW_SEALING)",
                "memfd_create",
            ),
            (Step::SealMemfd, "fcntl(memfd, F_ADD_SEALS, F_SEAL_SEAL|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_WRITE)", "fcntl"),
            (Step::Umask(0o22), "umask(0o022)", "umask"),
            (
                Step::Setrlimit { resource: "RLIMIT_NOFILE", soft: 1024, hard: 4096 },
                "setrlimit(RLIMIT_NOFILE, {rlim_cur=1024, rlim_max=4096})",
                "setrlimit",
            ),
            (Step::Prctl(Prctl::SetChildSubreaper), "prctl(PR_SET_CHILD_SUBREAPER, 1)", "prctl"),
            (Step::Kill { pid: 42, signal: "SIGKILL".into() }, "kill(42, SIGKILL)", "kill"),
        ];
        for (step, text, op) in cases {
            assert_eq!((step.to_string().as_str(), step.op().as_str()), (text, op));
            assert!(step.shows_return(), "{text}");
        }
        assert_eq!(Step::Mkfifo { path: "/f".into(), mode: 0o622 }.path(), Some(Path::new("/f")));
    }

    // Kernel files report a size of 0 (proc) or 4096 (cgroup), which std's read_to_string sizes
    // its buffer by; read_file must still read any file whole.
    #[test]
    fn read_file_reads_any_size_whole() {
        let big: String = (0..3000).map(|i| format!("{i}\n")).collect();
        let path = std::env::temp_dir().join(format!("isolab-trace-read-{}", std::process::id()));
        std::fs::write(&path, &big).unwrap();
        let read = read_file(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read.unwrap(), big);
        let status = read_file("/proc/self/status").unwrap();
        assert!(status.starts_with("Name:") && status.contains("\nPid:"), "{status}");
        assert_eq!(read_file("/nonexistent-isolab").unwrap_err().kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn failures_name_the_file_and_explain() {
        let w = Step::Write { path: "/proc/4242/uid_map".into(), value: "0 100000 65536\n".into() };
        let msg = failure(&w, Errno::EPERM).to_string();
        assert!(msg.starts_with("cannot write \"0 100000 65536\" to /proc/4242/uid_map: Operation not permitted (EPERM): a map can be written only once"), "{msg}");
        let u = failure(&Step::Unshare(libc::CLONE_NEWNET), Errno::EPERM).to_string();
        assert!(u.contains("CAP_SYS_ADMIN"), "{u}");
    }

    // Issue 13: a hint follows the step and its object, never the errno alone.
    #[test]
    fn cgroup_hints_only_for_cgroup_files() {
        let pidfile = Step::Write { path: "/nonexistent-isolab/pid".into(), value: "1\n".into() };
        let msg = failure(&pidfile, Errno::ENOENT).to_string();
        assert!(msg.ends_with("(ENOENT): the directory it would go in does not exist"), "{msg}");
        let ns_file = failure(&Step::Open("/nonexistent-isolab/net".into()), Errno::ENOENT).to_string();
        assert!(!ns_file.contains("controller"), "{ns_file}");
        let mount_point = Step::MountPoint { path: "/www".into(), dir: true };
        let msg = failure(&mount_point, Errno::EACCES).to_string();
        assert!(
            msg.starts_with(
                "cannot create mount point /www: Permission denied (EACCES): root of the new user namespace"
            ),
            "{msg}"
        );
        let msg = failure(&Step::MountPoint { path: "/dev/null".into(), dir: false }, Errno::EOVERFLOW).to_string();
        assert!(msg.contains("no uid and gid map yet"), "{msg}");
        let not_a_group = failure(&Step::Mkdir("/tmp/isolab-no-such/x".into()), Errno::EACCES).to_string();
        assert!(!not_a_group.contains("delegated"), "{not_a_group}");
    }
}
