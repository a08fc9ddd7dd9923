//! nsenter-lite: join the namespaces of a running process (or files naming them) and run a
//! command there, as `docker run --net=container:X` or `docker exec` do. See setns(2),
//! namespaces(7), nsenter(1).
//!
//! Rules that bite:
//! - The target is pinned with a pidfd before anything is read about it (`target.rs`); the join
//!   itself is one atomic setns on that pidfd where the kernel allows (`enter.rs`).
//! - setns(CLONE_NEWPID) and setns(CLONE_NEWTIME) change only what children get: we fork so the
//!   command is inside, and the parent forwards signals and passes the status on.
//! - setns(CLONE_NEWNS) resets root and cwd to the new namespace's root, and its /proc may belong
//!   to a PID namespace we are not in (/proc/self then fails): the target's root and cwd
//!   (`--root`, `--wd`) and our own /proc are opened before the first setns and used by descriptor.
//! - `--tty` forks too: the command's pty comes from the joined /dev/ptmx, made in the child with
//!   the ids the command runs with, and its master goes back to the parent, which relays it
//!   (core's `pty`).
//! - The owner's own `nsexec --init` container has a non-dumpable init nobody but root may read:
//!   its command is joined instead (`target::joinable`).
//! - The command gets the target's confinement (`confine.rs`), read from outside before the
//!   first setns (ptrace and /proc/PID are the host's then) and applied around the change of ids,
//!   in the process that execs; `--privileged` leaves it out.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use isolab_core::exit::{coded, EXIT_TOOL};
use isolab_core::ns::{self, Flags};
use isolab_core::process::{self, ForkResult, Signal};
use isolab_core::procfs::{self, PinnedProcess};
use isolab_core::{mount, pty, trace};

use crate::confine::{self, Confinement};
use crate::creds;
pub use crate::enter::NsFile;
use crate::enter::{self, Entry, TargetNs};
use crate::target;

/// With `--tty`: seconds the command gets after a forwarded SIGTERM before SIGKILL (docker stop).
const STOP_TIMEOUT: u32 = 10;

/// Whose namespaces to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetRef {
    Pid(i32),
    PidFile(PathBuf),
    /// The oldest process of the group `cgexec-rs --name NAME` made.
    Container {
        name: String,
        parent: Option<String>,
    },
}

/// A checked nsenter-lite command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub target: Option<TargetRef>,
    /// CLONE_NEW* bits asked for one by one (`-U -m -p -n -u -i -C -T`).
    pub kinds: Flags,
    /// `-a`: every namespace of the target that differs from ours.
    pub all: bool,
    pub files: Vec<NsFile>,
    pub root: bool,
    pub wd: bool,
    pub preserve_credentials: bool,
    pub user_id: Option<(u32, u32)>,
    /// Join with setns(pidfd) when the kernel can (false: `--no-pidfd`, file by file).
    pub pidfd: bool,
    /// With a container target: move into its group first, as `docker exec` does.
    pub join_cgroup: bool,
    /// `--tty`: a pty of the command's own, made in the joined mount namespace, relayed to ours.
    pub tty: bool,
    /// Give the command the target's confinement (false: `--privileged`).
    pub confine: bool,
    /// `--preserve-fds N`: in another root the command keeps N descriptors from 3 on beside 0,
    /// 1 and 2, as `runc exec --preserve-fds`.
    pub preserve_fds: u32,
    /// Run the command in a new session, without the caller's terminal (TIOCSTI).
    pub new_session: bool,
    pub command: Vec<OsString>,
}

/// Join, then exec the command (or fork, supervise it, and return its status).
pub fn run(spec: Spec) -> anyhow::Result<u8> {
    // Before anything of ours is open: the descriptors to pass on must be the caller's.
    let preserved = format!("--preserve-fds {}", spec.preserve_fds);
    process::check_inherited(3, spec.preserve_fds, &preserved)?;
    let (pid, group) = match &spec.target {
        Some(t) => pid_of(t)?,
        None => (None, None),
    };
    // The owner's own nsexec --init container: its init is closed even to the owner, so its
    // command, which has its namespaces, is joined instead (see target::joinable).
    let pid = pid.map(target::joinable);
    let process = pid.map(|pid| target::pin(pid, spec.pidfd)).transpose()?;
    let root = open_target_dir(process.as_ref(), spec.root, "root")?;
    let wd = open_target_dir(process.as_ref(), spec.wd, "cwd")?;
    let from_files = spec.files.iter().fold(0, |acc, f| acc | f.kind.flag);
    let namespaces = match &process {
        Some(p) => enter::choose(p, spec.kinds, spec.all, from_files)?,
        None => Vec::new(),
    };
    let files = enter::open_files(&spec.files)?;
    let joins = enter::flags_of(&namespaces) | from_files;
    let creds = creds::JoinCreds::new(joins & ns::USER.flag != 0, spec.preserve_credentials, spec.user_id);
    let our_proc = if creds.ids.is_some() { Some(procfs::open_own()?) } else { None };
    let confinement = match &process {
        Some(p) if spec.confine => Some(confine::read(p)?),
        _ => None,
    };
    if let Some(p) = &process {
        // Everything read under /proc/PID so far (inodes, root, cwd) was the pinned process's.
        target::check_alive(p)?;
    }
    if let Some(group) = group.filter(|_| spec.join_cgroup) {
        // Before any setns: moving into a cgroup needs our privileges over the host's hierarchy.
        isolab_core::cgroup::lifecycle::join(&group, std::process::id() as i32)?;
    }
    // From the first setns to the exec we are in the target's namespaces with the caller's
    // credentials (host root, unmapped in a container's user namespace) and the caller's
    // descriptors (our /proc): whoever has CAP_SYS_PTRACE there (the container's root) must not
    // ptrace us or open our /proc/PID/* (runc CVE-2016-9962). exec decides again for the command.
    process::undumpable()?;
    let dropped_groups = creds.before_join();
    let (by_pidfd, mut entries) = match &process {
        Some(p) => join_target(p, &namespaces)?,
        None => (0, Vec::new()),
    };
    entries.extend(files);
    let joined = by_pidfd | enter::join_files(entries)?;
    if joined & ns::USER.flag != 0 {
        // Joining a user namespace gives new credentials: keep the parent-death signal.
        process::rearm_tether()?;
    }
    let other_root = joined & ns::MNT.flag != 0 || root.is_some();
    enter_dirs(root, wd)?;
    // setsid(2) refuses a process-group leader (a command started by a shell with job control):
    // then the new session is made in a child.
    let setsid_needs_child = spec.new_session && process::is_group_leader();
    if joined & (ns::PID.flag | ns::TIME.flag) == 0 && !spec.tty && !setsid_needs_child {
        take_ids(&creds, dropped_groups, our_proc.as_ref(), confinement.as_ref())?;
        return Err(exec_command(&spec, other_root));
    }
    // --tty: the command's side makes the pty and hands its master back over this channel.
    let (console, relay) = spec.tty.then(process::fd_channel).transpose()?.unzip();
    // Tethered: a SIGKILLed nsenter-lite takes its command along.
    match process::fork_tethered(Some(Signal::SIGKILL))? {
        ForkResult::Parent { child } => {
            drop(console);
            let status = match relay {
                Some(relay) => {
                    // An interactive shell ignores SIGTERM: docker stop's 10 s, then SIGKILL.
                    process::escalate_stop_after(STOP_TIMEOUT);
                    pty::supervise(child, relay)?
                }
                None => process::supervise(child, false)?,
            };
            Ok(process::die_like(status))
        }
        ForkResult::Child => {
            drop(relay);
            take_ids(&creds, dropped_groups, our_proc.as_ref(), confinement.as_ref())?;
            // The pty comes from the joined /dev/ptmx, opened with the ids the command runs with (runc exec).
            if let Some(console) = console {
                pty::attach(pty::allocate(&console)?)?;
            }
            Err(exec_command(&spec, other_root))
        }
    }
}

/// In the process that execs: the ids the command runs with, inside the target's confinement.
fn take_ids(
    creds: &creds::JoinCreds,
    dropped_groups: bool,
    our_proc: Option<&OwnedFd>,
    confinement: Option<&Confinement>,
) -> anyhow::Result<()> {
    confinement.map(Confinement::before_ids).transpose()?;
    creds.after_join(dropped_groups, our_proc)?;
    confinement.map(Confinement::after_ids).transpose()?;
    Ok(())
}

/// Exec the command. In another root (a container's) it gets 0, 1, 2 and `--preserve-fds`
/// only, as `runc exec` gives them: its processes own the command, so they could open every
/// descriptor it holds through /proc/PID/fd (runc CVE-2024-21626 was one that got in). In our
/// own root the caller's descriptors are the caller's business, as with util-linux nsenter.
///
/// On a terminal the command gets a new session (CVE-2017-5226): it may be the container's own
/// binary, or be ptraced by the container's root, and TIOCSTI on the caller's terminal would type
/// into the caller's shell.
fn exec_command(spec: &Spec, other_root: bool) -> anyhow::Error {
    if other_root {
        if let Err(e) = process::close_on_exec_from(3 + spec.preserve_fds) {
            return e;
        }
    }
    if spec.new_session {
        if let Err(e) = process::new_session() {
            return e;
        }
    }
    process::exec(&spec.command, &process::Env::default())
}

/// The target's PID, and for a container the group it lives in.
fn pid_of(target: &TargetRef) -> anyhow::Result<(Option<i32>, Option<isolab_core::cgroup::Group>)> {
    match target {
        TargetRef::Pid(pid) => Ok((Some(*pid), None)),
        TargetRef::PidFile(path) => Ok((Some(process::read_pidfile(path)?), None)),
        TargetRef::Container { name, parent } => {
            let (pid, group) = container_pid(name, parent.as_deref())?;
            Ok((Some(pid), Some(group)))
        }
    }
}

/// The container's init: the oldest member of the group `cgexec-rs --name NAME` made that is
/// PID 1 of a PID namespace, else the oldest member. (A launcher such as `unshare --fork --pid`
/// is older than the init it forked, but its own PID namespace is the host's.)
fn container_pid(name: &str, parent: Option<&str>) -> anyhow::Result<(i32, isolab_core::cgroup::Group)> {
    let group =
        isolab_core::cgroup::locate(name, parent).map_err(|e| coded(EXIT_TOOL, format!("--container: {e:#}")))?;
    let members = group.procs();
    let init = members.iter().copied().find(|&pid| procfs::status(pid).is_ok_and(|s| s.is_namespace_init()));
    let pid = init.or(members.first().copied());
    let pid = pid.ok_or_else(|| coded(EXIT_TOOL, format!("--container {name}: the group has no processes left")))?;
    let dir = group.places().first().map_or(String::new(), |p| p.dir.display().to_string());
    let role = if init.is_some() { "init of its PID namespace" } else { "oldest member" };
    trace::note(format_args!("--container {name}: group {dir}, target {pid} ({role})"));
    Ok((pid, group))
}

/// Join the target's namespaces by pidfd; what is left (all of them, without a usable pidfd)
/// comes back as opened files for the two-pass join.
fn join_target(p: &PinnedProcess, namespaces: &[TargetNs]) -> anyhow::Result<(Flags, Vec<Entry>)> {
    if namespaces.is_empty() {
        return Ok((0, Vec::new()));
    }
    if let Some(pidfd) = p.pidfd() {
        if enter::join_by_pidfd(p, pidfd, namespaces)? {
            return Ok((enter::flags_of(namespaces), Vec::new()));
        }
    }
    Ok((0, enter::open_target_files(p, namespaces)?))
}

fn open_target_dir(process: Option<&PinnedProcess>, wanted: bool, rel: &str) -> anyhow::Result<Option<OwnedFd>> {
    match (process, wanted) {
        (Some(p), true) => target::open_dir(p, rel).map(Some),
        _ => Ok(None),
    }
}

/// `--root`: the target's root becomes ours (and cwd its top, unless `--wd`: a cwd outside the
/// root would be a way out, runc CVE-2024-21626). `--wd`: the target's working directory.
fn enter_dirs(root: Option<OwnedFd>, wd: Option<OwnedFd>) -> anyhow::Result<()> {
    if let Some(fd) = root {
        mount::fchdir(&fd, "<target's root>")?;
        mount::chroot(Path::new("."))?;
        if wd.is_none() {
            mount::chdir(Path::new("/"))?;
        }
    }
    if let Some(fd) = wd {
        mount::fchdir(&fd, "<target's cwd>")?;
    }
    Ok(())
}
