//! nsexec's launch: unshare, map ids from outside, fork when a namespace needs it, set up the
//! new world, apply credentials, exec. See unshare(2), user_namespaces(7), pid_namespaces(7).
//!
//! The order is util-linux unshare's, which works for root and for unprivileged callers:
//! 1. A helper is forked *before* unshare (only when ids are mapped or namespaces persisted).
//!    It stays in the original namespaces, where it may write /proc/PID/uid_map of the caller
//!    and bind-mount /proc/PID/ns/* onto files: neither can be done from inside. The exception,
//!    as in util-linux: a map of only the caller's own ids (`--map-root`), written from inside.
//! 2. The caller unshares, releases the helper and waits for it.
//! 3. A PID (or time) namespace applies to children only: fork, so the command is PID 1.
//!    Otherwise exec in place: no extra process.
//! 4. In the process that will exec: host name, loopback up, mounts, /proc, credentials last.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use anyhow::{bail, Context as _};

use isolab_core::exit;
use isolab_core::idmap::helper::{self, SetuidHelper};
use isolab_core::idmap::{self, Extent, Setgroups, Which};
use isolab_core::ns::{self, Flags, Kind};
use isolab_core::process::{self, FdReceiver, FdSender, ForkResult, Gate, GateKey, Pid, ReadyFlag, Signal};
use isolab_core::trace::{self, Step};
use isolab_core::{creds, mount, pty, seccomp};

/// How the user namespace's ids are mapped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum MapRequest {
    /// No map: ids show as the overflow id until someone (idmap) writes one.
    #[default]
    None,
    /// `--map-root`: the caller's uid and gid become 0 (util-linux `-r`).
    Root,
    /// `--map-users` / `--map-groups`.
    Ranges { uid: Vec<Extent>, gid: Vec<Extent> },
    /// `--map-auto`: the caller's first /etc/subuid and /etc/subgid ranges, to 0.
    Auto,
}

/// Everything `nsexec` was asked, checked.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// CLONE_NEW* bits to unshare.
    pub flags: Flags,
    /// Namespaces to bind-mount onto files (`--net=FILE`).
    pub persist: Vec<(&'static Kind, PathBuf)>,
    pub maps: MapRequest,
    pub setgroups: Option<Setgroups>,
    /// Fork even without a PID namespace (`-f`).
    pub fork: bool,
    /// Stay as PID 1: reap orphans, forward signals (Docker `--init`).
    pub init: bool,
    /// Signal for the command when nsexec dies (PR_SET_PDEATHSIG); None to let it live on.
    pub kill_child: Option<Signal>,
    /// Seconds a PID-1 command gets after a forwarded SIGTERM/SIGINT before SIGKILL (0: never).
    pub stop_timeout: u32,
    pub mounts: mount::Mounts,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub creds: creds::Creds,
    pub workdir: Option<PathBuf>,
    /// The command's environment (`--clear-env`, `--env`), handed to execve(2).
    pub env: process::Env,
    pub new_session: bool,
    /// `-t`: a pty of its own as the command's controlling terminal, relayed to ours.
    pub tty: bool,
    /// `--preserve-fds N`: with a root of its own, the command keeps N descriptors from 3 on
    /// (after the socket-activation ones) beside 0, 1 and 2, as `runc run --preserve-fds`.
    pub preserve_fds: u32,
    /// Filled in by [`run`] for a container: the first descriptor the command does not get.
    pub first_closed_fd: Option<u32>,
    pub pidfile: Option<PathBuf>,
    /// The seccomp filter to load last (a container's default, or `--security-opt seccomp=`).
    pub seccomp: Option<seccomp::Filter>,
    pub argv: Vec<OsString>,
}

impl Spec {
    fn has(&self, kind: Kind) -> bool {
        self.flags & kind.flag != 0
    }

    fn must_fork(&self) -> bool {
        // setsid(2) refuses a process-group leader (a command started by a shell usually is):
        // then the new session is made in a child.
        let setsid_needs_child = self.new_session && process::is_group_leader();
        self.fork || self.init || self.tty || setsid_needs_child || self.has(ns::PID) || self.has(ns::TIME)
    }
}

/// The maps to write, resolved against the caller's ids and /etc/subuid.
#[derive(Debug, Clone)]
struct Maps {
    uid: Vec<Extent>,
    gid: Vec<Extent>,
    setgroups: Option<Setgroups>,
    /// For an unprivileged caller's ranges: the setuid helper that writes them.
    helper: Option<SetuidHelper>,
}

fn resolve_maps(spec: &Spec) -> anyhow::Result<Option<Maps>> {
    let (uid, gid) = creds::effective_ids();
    let single = |inside, outside| vec![Extent { inside, outside, count: 1 }];
    let (uids, gids, mut setgroups) = match &spec.maps {
        MapRequest::None => {
            return Ok(spec.setgroups.map(|s| Maps { uid: vec![], gid: vec![], setgroups: Some(s), helper: None }))
        }
        // util-linux -r: deny setgroups, which an unprivileged gid_map needs anyway.
        MapRequest::Root => (single(0, uid), single(0, gid), Some(Setgroups::Deny)),
        MapRequest::Ranges { uid, gid } => (uid.clone(), gid.clone(), None),
        MapRequest::Auto => {
            let name = creds::user_name(uid).unwrap_or_else(|| uid.to_string());
            (idmap::auto_map(Which::Uid, &name, uid)?, idmap::auto_map(Which::Gid, &name, uid)?, None)
        }
    };
    if spec.setgroups.is_some() {
        setgroups = spec.setgroups;
    }
    idmap::validate(Which::Uid, &uids)?;
    idmap::validate(Which::Gid, &gids)?;
    // Ranges beyond our own ids without CAP_SETUID/CAP_SETGID: a setuid helper writes them (and
    // decides setgroups), found now so that a missing one is refused before anything is made.
    let helper = helper::needed(&uids, &gids).then(|| helper::find(&uids, &gids)).transpose()?;
    if setgroups.is_none() && uid != 0 && !gids.is_empty() && helper.is_none() {
        // The kernel lets an unprivileged writer write gid_map only after setgroups is denied.
        setgroups = Some(Setgroups::Deny);
    }
    Ok(Some(Maps { uid: uids, gid: gids, setgroups, helper }))
}

/// Run `spec`: returns the status to exit with (the command's), or an error (125/126/127).
pub fn run(spec: Spec) -> anyhow::Result<u8> {
    let spec = Spec { first_closed_fd: kept_fds(&spec)?, ..spec };
    let maps = resolve_maps(&spec)?;
    if !spec.has(ns::USER) && maps.as_ref().is_some_and(|m| !m.uid.is_empty() || !m.gid.is_empty()) {
        bail!("id maps need a new user namespace: add --user");
    }
    let mut opened = if spec.has(ns::MNT) { Some(mount::open_sources(&spec.mounts)?) } else { None };
    let pidfile = Pidfile::create(&spec)?;
    let self_mapped = maps.as_ref().is_some_and(own_ids_only) && spec.persist.is_empty();
    // Root of a new user namespace may not pass the caller's directories: the helper opens the
    // sources again in the new mount namespace, as the caller.
    let sources = match &opened {
        Some(o) if spec.has(ns::USER) => o.paths(),
        _ => Vec::new(),
    };
    let helper = if (maps.is_some() && !self_mapped) || !spec.persist.is_empty() || !sources.is_empty() {
        let helper_maps = if self_mapped { None } else { maps.clone() };
        Some(Helper::start(helper_maps, &spec.persist, sources)?)
    } else {
        None
    };
    ns::unshare(spec.flags)?;
    if let Some(helper) = helper {
        match helper.release_and_wait()? {
            Some(fds) => {
                if let Some(o) = opened.as_mut() {
                    o.adopt(fds);
                }
            }
            None => return Ok(exit::EXIT_TOOL), // the helper printed why
        }
    }
    if let Some(maps) = maps.as_ref().filter(|_| self_mapped) {
        write_own_maps(maps)?;
    }
    if maps.as_ref().is_some_and(maps_root) {
        become_root()?;
    }
    if !spec.must_fork() {
        // Our own PID, written as the last step before execve: confined by then.
        return Err(finish_and_exec(&spec, opened, false, None, Ready::Pidfile(pidfile)));
    }
    fork_payload(&spec, opened, pidfile)
}

/// A container (`--rootfs`) gets 0, 1 and 2, then the socket-activation descriptors (LISTEN_FDS
/// for LISTEN_PID = ours) and `--preserve-fds` more, as runc passes them; every other
/// descriptor the caller left open stays out (runc CVE-2024-21626 was one of the host's that got
/// in). Without a root of its own the command keeps what the caller gave it, as with unshare.
/// Checked first, before anything of ours is open.
fn kept_fds(spec: &Spec) -> anyhow::Result<Option<u32>> {
    if spec.mounts.rootfs.is_none() {
        return Ok(None);
    }
    let listen = process::listen_fds();
    process::check_inherited(3, listen, &format!("LISTEN_FDS={listen}"))?;
    process::check_inherited(3 + listen as i32, spec.preserve_fds, &format!("--preserve-fds {}", spec.preserve_fds))?;
    Ok(Some(3 + listen + spec.preserve_fds))
}

/// Whether the maps are only the caller's own uid and gid, with setgroups denied: the one map
/// the kernel lets the new namespace's first process write itself (user_namespaces(7)), so no
/// helper process is needed (util-linux `unshare -r` does the same).
fn own_ids_only(maps: &Maps) -> bool {
    let own = |m: &[Extent], id: u32| matches!(m, [e] if e.outside == id && e.count == 1);
    let (uid, gid) = creds::effective_ids();
    own(&maps.uid, uid) && own(&maps.gid, gid) && maps.setgroups == Some(Setgroups::Deny)
}

/// After unshare: write the caller's own maps from inside, setgroups first.
fn write_own_maps(maps: &Maps) -> anyhow::Result<()> {
    let me = std::path::Path::new("/proc/self");
    trace::write_file(me.join("setgroups"), Setgroups::Deny.as_str())?;
    trace::write_file(me.join(Which::Uid.map_file()), idmap::render(&maps.uid))?;
    trace::write_file(me.join(Which::Gid.map_file()), idmap::render(&maps.gid))
}

/// Whether uid 0 and gid 0 are both mapped: then the command starts as root inside (runc's default).
fn maps_root(maps: &Maps) -> bool {
    let has_zero = |m: &[Extent]| m.iter().any(|e| e.inside == 0);
    has_zero(&maps.uid) && has_zero(&maps.gid)
}

fn become_root() -> anyhow::Result<()> {
    creds::set_gid(0)?;
    if creds::setgroups_allowed() {
        // The caller's supplementary groups are unmapped inside: drop them (they'd show as nogroup).
        creds::set_groups(&[])?;
    }
    creds::set_uid(0)
}

/// `--pidfile`, created before unshare while we are still the caller: once the maps are written
/// we are root of the new namespace, which may be a host uid (100000) that cannot write there.
/// It gets the PID only once the process it names is set up and confined (runc writes its pid
/// file once the container's init is ready): whoever reads it then and joins the process
/// (nsenter-lite -t copies its capabilities and filter) must not find the set-up's full set.
struct Pidfile(Option<(PathBuf, std::fs::File)>);

impl Pidfile {
    fn create(spec: &Spec) -> anyhow::Result<Pidfile> {
        let Some(path) = &spec.pidfile else { return Ok(Pidfile(None)) };
        let file = trace::run_io(Step::Creat(path.clone()), || std::fs::File::create(path)).context("--pidfile")?;
        Ok(Pidfile(Some((path.clone(), file))))
    }

    fn wanted(&self) -> bool {
        self.0.is_some()
    }

    /// Write `pid`: to the descriptor opened at start, so that it works after pivot_root, with
    /// the ids dropped, and under the filter (write(2) is in every profile).
    fn write(&self, pid: Pid) -> anyhow::Result<()> {
        if let Some((path, file)) = &self.0 {
            let step = Step::Write { path: path.clone(), value: format!("{pid}\n") };
            trace::run_io(step, || std::io::Write::write_all(&mut &*file, format!("{pid}\n").as_bytes()))
                .context("--pidfile")?;
        }
        Ok(())
    }
}

/// How the process about to exec tells, as its last step, that it is set up and confined.
enum Ready {
    /// Nobody waits (no --pidfile).
    Unwatched,
    /// nsexec itself execs (no fork): the pidfile gets our PID.
    Pidfile(Pidfile),
    /// A forked process: its supervisor waits for every holder of the flag (the command, and
    /// with --init the PID 1 too) and then writes the pidfile.
    Flag(ReadyFlag),
}

impl Ready {
    fn say(&self) -> anyhow::Result<()> {
        match self {
            Ready::Unwatched => Ok(()),
            Ready::Pidfile(pidfile) => pidfile.write(Pid::this()),
            Ready::Flag(flag) => flag.say(),
        }
    }

    /// The --init PID 1's "ready", after its confinement: non-dumpable first (CVE-2019-5736;
    /// supervise does it again), so that the PID 1 the pidfile names is as it stays and
    /// nsenter-lite, as the container's owner, joins its command instead.
    fn say_as_init(&self) -> anyhow::Result<()> {
        if let Ready::Flag(flag) = self {
            process::undumpable()?;
            flag.say()?;
        }
        Ok(())
    }

    /// The exec after [`Ready::say`] failed: the supervisor then writes no PID. (A pidfile
    /// written in place keeps it: the process it names exits with 126 or 127.)
    fn exec_failed(&self) {
        if let Ready::Flag(flag) = self {
            flag.failed();
        }
    }
}

/// Fork the process that becomes PID 1 of the new PID namespace, and supervise it.
fn fork_payload(spec: &Spec, opened: Option<mount::Opened>, pidfile: Pidfile) -> anyhow::Result<u8> {
    // -t: the pty is made inside (its /dev/ptmx) and its master handed back to us to relay.
    let (console, relay) = spec.tty.then(process::fd_channel).transpose()?.unzip();
    let (ready_wait, ready_flag) = pidfile.wanted().then(process::ready_pipe).transpose()?.unzip();
    match process::fork_tethered(spec.kill_child)? {
        ForkResult::Child => {
            drop((relay, pidfile, ready_wait));
            let ready = ready_flag.map_or(Ready::Unwatched, Ready::Flag);
            let err = if spec.init {
                return run_init(spec, opened, console, ready);
            } else {
                finish_and_exec(spec, opened, true, console, ready)
            };
            exit::report_and_exit(&err)
        }
        ForkResult::Parent { child } => {
            drop((console, ready_flag));
            // docker stop's rule, in every mode: a command that does not end on a forwarded
            // SIGTERM (PID 1 without a handler never sees it; any command may ignore it, as an
            // interactive shell on -t does) gets SIGKILL after the timeout. With --init the
            // SIGKILL ends the whole PID namespace.
            process::escalate_stop_after(spec.stop_timeout);
            if let Some(wait) = ready_wait {
                // Closed to the command (CVE-2019-5736) before it can run: supervise closes
                // itself too late now, after the exec this waits for.
                process::undumpable()?;
                let who = if spec.init { "the init and its command are" } else { "the command is" };
                trace::note(format_args!("--pidfile gets the PID once {who} set up and confined"));
                // A child that died in its set-up never said ready: no PID, its status below.
                if wait.wait(if spec.init { 2 } else { 1 })? {
                    pidfile.write(child)?;
                }
            }
            let status = match relay {
                Some(relay) => pty::supervise(child, relay)?,
                None => process::supervise(child, false)?,
            };
            Ok(process::die_like(status))
        }
    }
}

/// `--init`: stay as PID 1, run the command as our child, reap every orphan, pass its status.
fn run_init(spec: &Spec, opened: Option<mount::Opened>, console: Option<FdSender>, ready: Ready) -> anyhow::Result<u8> {
    // The world is set up once, here, so the command and every orphan share it; so is the pty,
    // whose slave only the command keeps.
    let made = match setup_world(spec, opened, true) {
        Ok(made) => made,
        Err(err) => exit::report_and_exit(&err),
    };
    let slave = match console.as_ref().map(pty::allocate).transpose() {
        Ok(slave) => slave,
        Err(err) => {
            made.undo();
            exit::report_and_exit(&err)
        }
    };
    let err = match process::fork_supervised() {
        Ok(ForkResult::Child) => exec_command(spec, made, slave, &ready),
        Ok(ForkResult::Parent { child }) => {
            drop(slave);
            if let Err(err) = confine_init(spec).and_then(|()| ready.say_as_init()) {
                let _ = process::kill(child, Signal::SIGKILL);
                exit::report_and_exit(&err);
            }
            drop(ready);
            // A stop request sent to the init itself escalates as one sent to nsexec.
            process::escalate_stop_after(spec.stop_timeout);
            let status = process::supervise(child, true);
            std::process::exit(status.map_or(exit::EXIT_TOOL, process::status_code).into())
        }
        Err(e) => e,
    };
    exit::report_and_exit(&err)
}

/// The init is confined as its command is (the capability sets, no_new_privs, the seccomp filter),
/// but keeps its ids: docker run --init's tini runs inside the container's confinement too, and
/// nsenter-lite reads a container's confinement from its PID 1. After the fork: the command
/// confines itself, so it gets one filter, not two. The init then only waits, reaps and
/// forwards signals, which Docker's filter allows (a signal for a command of another uid needs
/// CAP_KILL, one of Docker's 14).
fn confine_init(spec: &Spec) -> anyhow::Result<()> {
    let own = creds::Creds { user: None, groups: None, ..spec.creds.clone() };
    let (early, last) = seccomp_order(spec);
    early.map(seccomp::load).transpose()?;
    creds::apply(&own)?;
    last.map(seccomp::load).transpose()?;
    Ok(())
}

/// Loading a filter needs no_new_privs or CAP_SYS_ADMIN: without no_new_privs, before the
/// capabilities go (runc's order); with it, as the very last step. (early, last).
fn seccomp_order(spec: &Spec) -> (Option<&seccomp::Filter>, Option<&seccomp::Filter>) {
    match &spec.seccomp {
        Some(f) if spec.creds.no_new_privs => (None, Some(f)),
        f => (f.as_ref(), None),
    }
}

/// Set up the world and exec; returns only the error that stopped it.
fn finish_and_exec(
    spec: &Spec,
    opened: Option<mount::Opened>,
    new_pid_ns: bool,
    console: Option<FdSender>,
    ready: Ready,
) -> anyhow::Error {
    let made = match setup_world(spec, opened, new_pid_ns && spec.has(ns::PID)) {
        Ok(made) => made,
        Err(e) => return e,
    };
    match console.as_ref().map(pty::allocate).transpose() {
        Ok(slave) => exec_command(spec, made, slave, &ready),
        Err(e) => {
            made.undo();
            e
        }
    }
}

/// Host name, loopback, mounts (last). Returns the mount points made, which go again if the
/// command cannot run.
fn setup_world(spec: &Spec, opened: Option<mount::Opened>, in_new_pid_ns: bool) -> anyhow::Result<mount::Made> {
    if let Some(name) = &spec.hostname {
        ns::set_hostname(name)?;
    }
    if let Some(name) = &spec.domainname {
        ns::set_domainname(name)?;
    }
    if spec.has(ns::NET) {
        ns::loopback_up()?;
    }
    match opened {
        Some(opened) => {
            let made = mount::setup(opened, in_new_pid_ns)?;
            if spec.has(ns::USER) && spec.mounts.has_read_only() {
                // Root of this user namespace could remount them read-write: lock their flags.
                if let Err(e) = mount::lock_mounts() {
                    made.undo();
                    return Err(e);
                }
            }
            Ok(made)
        }
        None => Ok(mount::Made::default()),
    }
}

/// The last steps, in the process that becomes the command: credentials, cwd, env, session,
/// "ready" (the PID for --pidfile), exec. When the command does not start, the mount points made
/// for it go (as far as the credentials it was given still allow).
fn exec_command(spec: &Spec, made: mount::Made, tty: Option<OwnedFd>, ready: &Ready) -> anyhow::Error {
    let err = match prepare_exec(spec, tty).and_then(|env| ready.say().map(|()| env)) {
        Ok(env) => {
            let err = process::exec(&spec.argv, &env);
            ready.exec_failed();
            err
        }
        Err(e) => e,
    };
    made.undo();
    err
}

/// Credentials, cwd, descriptors, session (with `-t`, the pty's), the seccomp filter; returns
/// the environment to exec with.
fn prepare_exec(spec: &Spec, tty: Option<OwnedFd>) -> anyhow::Result<process::Env> {
    if spec.seccomp.is_some() || spec.creds.sets.is_some() {
        // Confined, the set-up could no longer be undone if the command is missing: look first.
        process::check_command(&spec.argv, &spec.env)?;
    }
    let (early, last) = seccomp_order(spec);
    early.map(seccomp::load).transpose()?;
    creds::apply(&spec.creds)?;
    if let Some(dir) = &spec.workdir {
        mount::chdir(dir).with_context(|| format!("invalid --workdir '{}'", dir.display()))?;
        // runc CVE-2024-21626: a cwd reached through a leaked fd lies outside the root and
        // getcwd() then fails; refuse to run there.
        std::env::current_dir()
            .map_err(|_| anyhow::anyhow!("invalid --workdir '{}': it is outside the new root", dir.display()))?;
    }
    let mut env = spec.env.clone();
    if let Some(first) = spec.first_closed_fd {
        let listen = first - 3 - spec.preserve_fds;
        if listen > 0 {
            // sd_listen_fds(3) in the command checks that LISTEN_PID is its own PID (1 with --pid).
            env.set.push(("LISTEN_FDS".into(), listen.to_string().into()));
            env.set.push(("LISTEN_PID".into(), Pid::this().to_string().into()));
        }
        process::close_on_exec_from(first)?;
    }
    if let Some(slave) = tty {
        pty::attach(slave)?;
    } else if spec.new_session {
        process::new_session()?;
    }
    last.map(seccomp::load).transpose()?;
    Ok(env)
}

/// The process that writes the maps, persists namespaces and opens the mount sources from
/// outside (step 1 above).
struct Helper {
    pid: Pid,
    go: GateKey,
    /// Where the helper sends the sources' descriptors.
    fds: FdReceiver,
    sources: usize,
}

impl Helper {
    fn start(
        maps: Option<Maps>,
        persist: &[(&'static Kind, PathBuf)],
        sources: Vec<PathBuf>,
    ) -> anyhow::Result<Helper> {
        let target = Pid::this();
        let (gate, key) = process::gate()?;
        let (sender, receiver) = process::fd_channel()?;
        match process::fork()? {
            ForkResult::Child => {
                drop(key);
                drop(receiver);
                let code = match Helper::serve(target, gate, maps.as_ref(), persist, &sources, &sender) {
                    Ok(()) => 0,
                    Err(e) => exit::report(&e),
                };
                process::exit_now(code)
            }
            ForkResult::Parent { child } => Ok(Helper { pid: child, go: key, fds: receiver, sources: sources.len() }),
        }
    }

    /// In the helper: wait until the caller has unshared, then map, persist and open the sources.
    fn serve(
        target: Pid,
        go: Gate,
        maps: Option<&Maps>,
        persist: &[(&'static Kind, PathBuf)],
        sources: &[PathBuf],
        fds: &FdSender,
    ) -> anyhow::Result<()> {
        if !go.wait()? {
            // The caller failed to unshare and reports it itself.
            process::exit_now(0);
        }
        let proc_dir = PathBuf::from(format!("/proc/{target}"));
        if let Some(Maps { helper: Some(setuid), uid, gid, setgroups }) = maps {
            setuid.write(target.as_raw(), uid, gid, *setgroups)?;
        } else if let Some(maps) = maps {
            if let Some(sg) = maps.setgroups {
                idmap::write_setgroups(&proc_dir, sg)?;
            }
            if !maps.uid.is_empty() {
                idmap::write_map(&proc_dir, Which::Uid, &maps.uid)?;
            }
            if !maps.gid.is_empty() {
                idmap::write_map(&proc_dir, Which::Gid, &maps.gid)?;
            }
        }
        for (kind, file) in persist {
            mount::persist(&proc_dir.join("ns").join(ns::for_children_name(kind)), file)
                .with_context(|| format!("cannot persist the {} namespace on {}", kind.proc_name, file.display()))?;
        }
        if !sources.is_empty() {
            trace::note("the helper opens the mount sources as the caller, in the new mount namespace: root inside may not pass the caller's directories");
        }
        for source in sources {
            let fd = mount::open_in_root_of(target.as_raw(), source)
                .with_context(|| format!("cannot open {} in the new mount namespace", source.display()))?;
            fds.send(&fd, &format!("mount source {}", source.display())).context("sending a mount source to nsexec")?;
        }
        Ok(())
    }

    /// Let the helper act and wait for it: the sources it opened, or None when it failed (it
    /// printed why).
    fn release_and_wait(self) -> anyhow::Result<Option<Vec<OwnedFd>>> {
        self.go.open().context("releasing the id-map helper")?;
        // A helper that fails sends fewer descriptors and exits: its end closes, recv sees EOF.
        let mut fds = Vec::with_capacity(self.sources);
        for _ in 0..self.sources {
            match self.fds.recv("mount source").context("receiving a mount source from the helper")? {
                Some(fd) => fds.push(fd),
                None => break,
            }
        }
        let status = process::wait_for(self.pid)?;
        Ok((process::status_code(status) == 0 && fds.len() == self.sources).then_some(fds))
    }
}
