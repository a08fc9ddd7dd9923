//! nsenter-lite: join the namespaces of a running process (or files naming them) and run a
//! command there, as `docker run --net=container:X` or `docker exec` do. See setns(2),
//! namespaces(7), nsenter(1).
//!
//! Rules that bite:
//! - The target is pinned with a pidfd before anything is read about it ([`target`]); the join
//!   itself is one atomic setns on that pidfd where the kernel allows ([`enter`]).
//! - setns(CLONE_NEWPID) and setns(CLONE_NEWTIME) change only what children get: we fork so the
//!   command is inside, and the parent forwards signals and passes the status on.
//! - setns(CLONE_NEWNS) resets root and cwd to the new namespace's root, and its /proc may belong
//!   to a PID namespace we are not in (/proc/self then fails): the target's root and cwd
//!   (`--root`, `--wd`) and our own /proc are opened before the first setns and used by descriptor.

pub mod creds;
mod enter;
mod target;

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::unistd::ForkResult;

pub use enter::NsFile;
use enter::{Entry, TargetNs};
use target::Process;

use crate::cli::{coded, EXIT_TOOL};
use crate::trace::{self, Step};
use crate::{process, pty};

/// With `--tty`: seconds the command gets after a forwarded SIGTERM before SIGKILL (docker stop).
const STOP_TIMEOUT: u32 = 10;

/// Whose namespaces to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
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
    pub target: Option<Target>,
    /// CLONE_NEW* bits asked for one by one (`-U -m -p -n -u -i -C -T`).
    pub kinds: libc::c_int,
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
    pub command: Vec<OsString>,
}

/// Join, then exec the command (or fork, supervise it, and return its status).
pub fn run(spec: Spec) -> anyhow::Result<u8> {
    let (pid, group) = match &spec.target {
        Some(t) => pid_of(t)?,
        None => (None, None),
    };
    // The owner's own nsexec --init container: its init is closed even to the owner (see
    // nsinit), so its command, which has its namespaces, is joined instead.
    let pid = pid.map(crate::nsinit::joinable);
    let process = pid.map(|pid| Process::pin(pid, spec.pidfd)).transpose()?;
    let root = open_target_dir(process.as_ref(), spec.root, "root")?;
    let wd = open_target_dir(process.as_ref(), spec.wd, "cwd")?;
    let from_files = spec.files.iter().fold(0, |acc, f| acc | f.kind.flag);
    let namespaces = match &process {
        Some(p) => enter::choose(p, spec.kinds, spec.all, from_files)?,
        None => Vec::new(),
    };
    let files = enter::open_files(&spec.files)?;
    let joins = enter::flags_of(&namespaces) | from_files;
    let creds = creds::Plan::new(joins & libc::CLONE_NEWUSER != 0, spec.preserve_credentials, spec.user_id);
    let our_proc = if creds.ids.is_some() { Some(open_dir("/proc".into())?) } else { None };
    if let Some(p) = &process {
        // Everything read under /proc/PID so far (inodes, root, cwd) was the pinned process's.
        p.check_alive()?;
    }
    if let Some(group) = group.filter(|_| spec.join_cgroup) {
        // Before any setns: moving into a cgroup needs our privileges over the host's hierarchy.
        crate::cgroup::lifecycle::join(&group, std::process::id() as i32)?;
    }
    let dropped_groups = creds.before_join();
    let (by_pidfd, mut entries) = match &process {
        Some(p) => join_target(p, &namespaces)?,
        None => (0, Vec::new()),
    };
    entries.extend(files);
    let joined = by_pidfd | enter::join_files(entries)?;
    if joined & libc::CLONE_NEWUSER != 0 {
        // Joining a user namespace gives new credentials: keep the parent-death signal.
        process::rearm_tether()?;
    }
    enter_dirs(root, wd)?;
    if joined & (libc::CLONE_NEWPID | libc::CLONE_NEWTIME) == 0 && !spec.tty {
        creds.after_join(dropped_groups, our_proc.as_ref())?;
        return Err(process::exec(&spec.command));
    }
    let (console, relay) = if spec.tty { pty::channel().map(|(s, r)| (Some(s), Some(r)))? } else { (None, None) };
    // Tethered: a SIGKILLed nsenter-lite takes its command along.
    match process::fork_tethered(Some(nix::sys::signal::Signal::SIGKILL))? {
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
            creds.after_join(dropped_groups, our_proc.as_ref())?;
            // The pty comes from the joined /dev/ptmx, opened with the ids the command runs with (runc exec).
            if let Some(slave) = console.map(pty::allocate).transpose()? {
                pty::attach(slave)?;
            }
            Err(process::exec(&spec.command))
        }
    }
}

/// The target's PID, and for a container the group it lives in.
fn pid_of(target: &Target) -> anyhow::Result<(Option<i32>, Option<crate::cgroup::Group>)> {
    match target {
        Target::Pid(pid) => Ok((Some(*pid), None)),
        Target::PidFile(path) => Ok((Some(process::read_pidfile(path)?), None)),
        Target::Container { name, parent } => {
            let (pid, group) = container_pid(name, parent.as_deref())?;
            Ok((Some(pid), Some(group)))
        }
    }
}

/// The container's init: the oldest member of the group `cgexec-rs --name NAME` made that is
/// PID 1 of a PID namespace, else the oldest member. (A launcher such as `unshare --fork --pid`
/// is older than the init it forked, but its own PID namespace is the host's.)
fn container_pid(name: &str, parent: Option<&str>) -> anyhow::Result<(i32, crate::cgroup::Group)> {
    let group = crate::cgroup::locate(name, parent).map_err(|e| coded(EXIT_TOOL, format!("--container: {e:#}")))?;
    let members = group.procs();
    let init = members.iter().copied().find(|&pid| is_namespace_init(pid));
    let pid = init.or(members.first().copied());
    let pid = pid.ok_or_else(|| coded(EXIT_TOOL, format!("--container {name}: the group has no processes left")))?;
    let dir = group.places().first().map_or(String::new(), |p| p.dir.display().to_string());
    let role = if init.is_some() { "init of its PID namespace" } else { "oldest member" };
    trace::note(format_args!("--container {name}: group {dir}, target {pid} ({role})"));
    Ok((pid, group))
}

fn is_namespace_init(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| nspid_is_init(&s))
}

/// The `NSpid:` line of /proc/PID/status lists the PID in each nested PID namespace, outermost
/// first; a last value of 1 below the outermost means init of a namespace of its own.
fn nspid_is_init(status: &str) -> bool {
    let Some(line) = status.lines().find_map(|l| l.strip_prefix("NSpid:")) else { return false };
    let ids: Vec<&str> = line.split_whitespace().collect();
    ids.len() > 1 && ids.last() == Some(&"1")
}

/// Join the target's namespaces by pidfd; what is left (all of them, without a usable pidfd)
/// comes back as opened files for the two-pass join.
fn join_target(p: &Process, namespaces: &[TargetNs]) -> anyhow::Result<(libc::c_int, Vec<Entry>)> {
    if namespaces.is_empty() {
        return Ok((0, Vec::new()));
    }
    if let Some(pidfd) = &p.pidfd {
        if enter::join_by_pidfd(p, pidfd, namespaces)? {
            return Ok((enter::flags_of(namespaces), Vec::new()));
        }
    }
    Ok((0, enter::open_target_files(p, namespaces)?))
}

fn open_target_dir(process: Option<&Process>, wanted: bool, rel: &str) -> anyhow::Result<Option<OwnedFd>> {
    match (process, wanted) {
        (Some(p), true) => p.open_dir(rel).map(Some),
        _ => Ok(None),
    }
}

fn open_dir(path: PathBuf) -> anyhow::Result<OwnedFd> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    trace::run(Step::Open(path.clone()), || nix::fcntl::open(&path, flags, nix::sys::stat::Mode::empty()))
}

/// `--root`: the target's root becomes ours (and cwd its top, unless `--wd`: a cwd outside the
/// root would be a way out, runc CVE-2024-21626). `--wd`: the target's working directory.
fn enter_dirs(root: Option<OwnedFd>, wd: Option<OwnedFd>) -> anyhow::Result<()> {
    if let Some(fd) = root {
        trace::run(Step::Call("fchdir(<target's root>)".into()), || nix::unistd::fchdir(&fd))?;
        trace::run(Step::Chroot(".".into()), || nix::unistd::chroot("."))?;
        if wd.is_none() {
            trace::run(Step::Chdir("/".into()), || nix::unistd::chdir("/"))?;
        }
    }
    if let Some(fd) = wd {
        trace::run(Step::Call("fchdir(<target's cwd>)".into()), || nix::unistd::fchdir(&fd))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_inits_are_pid_1_inside() {
        assert!(nspid_is_init("Name:\tsleep\nNSpid:\t21370\t1\n"));
        assert!(!nspid_is_init("NSpid:\t21370\t5\n"));
        // PID 1 of the host (the outermost namespace) is not a container's init.
        assert!(!nspid_is_init("NSpid:\t1\n"));
        assert!(!nspid_is_init("Name:\tx\n"));
    }
}
