//! The container lifecycle of runtime.md with runc's commands: create, start, state, kill,
//! delete, run, ps.
//!
//! create, in order (each step undone if a later one fails, so a refused create leaves nothing):
//! 1. config.json read and checked; every tool's argv built (pure: [`crate::compose`]). A bad
//!    bundle is refused here, before anything exists.
//! 2. `ROOT/ID/` with state.json (pid 0: "creating") and exec.fifo.
//! 3. The chain exec'd in a child: cgexec-rs -> [nsenter-lite] -> nsexec -> the last stage.
//! 4. The last stage takes the terminal (made from the container's /dev/ptmx, its master sent
//!    to the engine's console socket), says "ready" (its PID travels in SCM_CREDENTIALS) and
//!    blocks on exec.fifo.
//! 5. nsexec stays as the supervisor of its PID 1; isolab-oci, a child subreaper, ends that
//!    supervisor (nsexec was told --no-kill-child), so the container's init becomes isolab-oci's
//!    child and, when create exits, the child of the engine's subreaper (conmon, the shim), which
//!    reaps it and reads its status, as with runc.
//! 6. sysctls through nsenter-lite; prestart and createRuntime hooks; the pid file.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};
use isolab_core::cgroup::devices::find_node;
use isolab_core::process::handoff::{self, ChildSetup};
use isolab_core::process::{self, Pid, Signal};
use isolab_core::trace::{self, Step};

use crate::args::CreateOpts;
use crate::compose::{self, Fds, Programs};
use crate::config::{self, Config};
use crate::state::{self, State, Status};
use crate::{hooks, log};

/// Global settings every command gets.
pub struct Globals {
    pub root: PathBuf,
}

/// Find a sibling tool: beside isolab-oci first (a build directory, an install prefix), then PATH.
pub fn program(name: &str) -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow!("cannot find {name}: install the isolab tools beside isolab-oci or on PATH"))
}

/// A block device node with MAJOR:MINOR (cgexec-rs takes paths, as Docker does).
fn block_device(major: i64, minor: i64) -> Option<String> {
    device_node("b", major, minor)
}

/// A host device node of TYPE (c, b) and MAJOR:MINOR, for linux.devices.
fn device_node(kind: &str, major: i64, minor: i64) -> Option<String> {
    let kind = if kind == "b" { 'b' } else { 'c' };
    let (major, minor) = (u32::try_from(major).ok()?, u32::try_from(minor).ok()?);
    find_node(kind, major, minor).map(|p| p.display().to_string())
}

/// The capabilities the runtime holds (bounding and permitted): what a process without a
/// capabilities object keeps, as runc leaves them.
fn own_capabilities() -> Vec<String> {
    use isolab_core::capabilities;
    let permitted = capabilities::capget().map_or(0, |(_, p, _)| p);
    capabilities::set_of(capabilities::bounding() & permitted).iter().map(|c| c.to_string()).collect()
}

/// Everything create decided before touching anything.
struct Plan {
    cfg: Config,
    bundle: PathBuf,
    place: compose::Placement,
    cgexec: Vec<String>,
    nsenter: Option<Vec<String>>,
    nsexec: Vec<String>,
    progs: [PathBuf; 3],
}

fn plan(id: &str, o: &CreateOpts, root: &Path) -> anyhow::Result<Plan> {
    state::check_id(id)?;
    let bundle = o
        .bundle
        .canonicalize()
        .map_err(|e| anyhow!("--bundle {}: {}", o.bundle.display(), isolab_core::process::plain_io(&e)))?;
    let cfg = config::load(&bundle)?;
    let at = |e: anyhow::Error| anyhow!("{}: {e:#}", bundle.join("config.json").display());
    let payload = cfg.process.as_ref().ok_or_else(|| at(anyhow!("process: missing (create needs process.args)")))?;
    if payload.terminal && o.console_socket.is_none() {
        return Err(at(anyhow!("process.terminal: true needs --console-socket (the engine's end of the terminal)")));
    }
    for (name, list) in
        [("createContainer", &cfg.hooks.create_container), ("startContainer", &cfg.hooks.start_container)]
    {
        if !list.is_empty() {
            return Err(at(anyhow!(
                "hooks.{name}: not supported by isolab-oci (hooks inside the container's namespaces)"
            )));
        }
    }
    let progs = [program("cgexec-rs")?, program("nsenter-lite")?, program("nsexec")?];
    let place = compose::placement(&cfg, id).map_err(at)?;
    let host = compose::Host {
        memory_v1: Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists(),
        hugetlb_v1: Path::new("/sys/fs/cgroup/hugetlb/hugetlb.2MB.limit_in_bytes").exists(),
        block_device: &block_device,
    };
    let mut notes = Vec::new();
    let cgexec = compose::cgexec_args(&cfg, &place, &host, &mut notes).map_err(at)?;
    let nsenter = compose::nsenter_args(&cfg);
    let seccomp = state::dir(root, id).join("seccomp.json");
    let mut nsexec = compose::nsexec_args(&cfg, &bundle, &own_capabilities(), &seccomp, &mut notes).map_err(at)?;
    nsexec.extend(compose::device_args(&cfg, &device_node).map_err(at)?);
    compose::sysctl_args(&cfg, 1).map_err(at)?;
    if o.no_pivot {
        notes.push("--no-pivot: nsexec always uses pivot_root".into());
    }
    if !notes.is_empty() {
        log::warn(format!("approximated: {}", notes.join("; ")));
    }
    Ok(Plan { cfg, bundle, place, cgexec, nsenter, nsexec, progs })
}

/// Undoes a create that did not finish: the processes, the group, the state directory.
struct Undo<'a> {
    root: &'a Path,
    id: &'a str,
    place: compose::Placement,
    pids: Vec<i32>,
    armed: bool,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if self.armed {
            for &pid in &self.pids {
                let _ = process::kill(Pid::from_raw(pid), Signal::SIGKILL);
                let _ = process::wait_for(Pid::from_raw(pid));
            }
            remove_group(&self.place);
            let _ = std::fs::remove_dir_all(state::dir(self.root, self.id));
        }
    }
}

/// `cgexec-rs --rm`: kill what is left in the group and remove it (a missing group is fine).
fn remove_group(place: &compose::Placement) {
    let Ok(cgexec) = program("cgexec-rs") else { return };
    let mut cmd = std::process::Command::new(cgexec);
    cmd.arg("--rm").arg(&place.name);
    if let Some(p) = &place.parent {
        cmd.arg("--cgroup-parent").arg(p);
    }
    trace::explain(&Step::Exec { argv: vec!["cgexec-rs".into(), "--rm".into(), place.name.clone()] }, None);
    let _ = cmd.stderr(std::process::Stdio::null()).status();
}

/// The result of create: the container's init.
pub struct Created {
    pub state: State,
}

pub fn create(g: &Globals, o: &CreateOpts) -> anyhow::Result<Created> {
    let id = o.id.as_str();
    let p = plan(id, o, &g.root)?;
    std::fs::create_dir_all(&g.root).with_context(|| format!("--root {}", g.root.display()))?;
    let dir = state::dir(&g.root, id);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!("container {id:?} already exists"),
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
    }
    let mut undo = Undo { root: &g.root, id, place: p.place.clone(), pids: vec![], armed: true };
    let mut st = State {
        id: id.into(),
        pid: 0,
        start_time: 0,
        bundle: p.bundle.clone(),
        rootfs: p.cfg.rootfs.clone(),
        created: state::now_rfc3339(),
        annotations: p.cfg.annotations.clone(),
        cgroup_parent: p.place.parent.clone(),
        cgroup_name: p.place.name.clone(),
        poststop: p.cfg.hooks.poststop.clone(),
        started: false,
    };
    st.save(&g.root)?;
    if let Some(seccomp) = &p.cfg.linux.seccomp {
        std::fs::write(dir.join("seccomp.json"), seccomp.to_string())?;
    }
    let fifo = handoff::make_fifo(&dir.join(state::FIFO), 0o622)?;
    let exe = handoff::sealed_copy_of_self("isolab-oci-init")?;
    trace::note("isolab-oci sealed in a memfd: the container never sees the host's binary (runc CVE-2019-5736)");
    let loader = handoff::host_loader()?;
    let (ready, theirs) = handoff::ready_channel()?;
    let payload = p.cfg.process.as_ref().expect("plan checked process");
    let console = match (&o.console_socket, payload.terminal) {
        (Some(sock), true) => Some(
            isolab_core::pty::connect_console_socket(sock)
                .with_context(|| format!("--console-socket {}", sock.display()))?,
        ),
        _ => None,
    };
    let mut ours = vec![exe.as_raw_fd(), theirs.as_raw_fd(), fifo.as_raw_fd()];
    ours.extend(loader.as_ref().map(|(ld, dir)| [ld.as_raw_fd(), dir.as_raw_fd()]).into_iter().flatten());
    ours.extend(console.as_ref().map(|c| c.as_raw_fd()));
    let keep = compose::stage_fds(&ours, o.preserve_fds);
    let at = |i: usize| keep[i].1;
    let fds = Fds {
        exe: at(0),
        sync: at(1),
        fifo: at(2),
        loader: loader.as_ref().map(|_| (at(3), at(4))),
        console: console.as_ref().map(|_| at(keep.len() - 1)),
    };
    let init = compose::init_argv(payload, fds, o.preserve_fds, trace::enabled());
    let mut nsexec = p.nsexec;
    nsexec.extend(["--preserve-fds".into(), (o.preserve_fds as usize + keep.len()).to_string()]);
    let progs = Programs { cgexec: &p.progs[0], nsenter: &p.progs[1], nsexec: &p.progs[2] };
    let argv = compose::chain(progs, p.cgexec, p.nsenter, nsexec, init);
    handoff::become_subreaper()?;
    let child = spawn_chain(&argv, &p.cfg, keep)?;
    undo.pids.push(child);
    drop((theirs, console, exe, fifo, loader));
    let Some(init_pid) = ready.recv()? else {
        let status = process::wait_for(Pid::from_raw(child)).ok();
        let code = status.map_or(125, process::status_code);
        bail!("the container's set-up failed (the chain exited with status {code}; its reason is above)");
    };
    drop(ready);
    let pid_by_path = p.cfg.linux.namespaces.iter().any(|n| n.kind.proc_name == "pid" && n.path.is_some());
    if init_pid != child && pid_by_path {
        // nsenter-lite forked into the joined PID namespace and kills its child if it dies: it
        // stays as the init's supervisor (it forwards signals and passes the status on).
        trace::note(format!(
            "nsenter-lite (PID {child}) stays as the supervisor of the init in the joined PID namespace"
        ));
        undo.pids = vec![init_pid, child];
    } else if init_pid != child {
        // nsexec supervises its PID 1; the runtime (a subreaper) takes over (step 5 above).
        process::kill(Pid::from_raw(child), Signal::SIGKILL)?;
        let _ = process::wait_for(Pid::from_raw(child));
        undo.pids = vec![init_pid];
    }
    trace::note(format!("the container's init is PID {init_pid}"));
    st.pid = init_pid;
    st.start_time = isolab_core::procfs::start_time(init_pid).context("the container's init vanished")?;
    st.save(&g.root)?;
    if let Some(args) = compose::sysctl_args(&p.cfg, init_pid)? {
        run_sysctls(&p.progs[1], args, &p.cfg)?;
    }
    // createRuntime hooks run while create has not returned: "creating", as runc passes it.
    // prestart hooks run at start (runtime spec 1.0.2: after start is called, before the program).
    hooks::run("createRuntime", &p.cfg.hooks.create_runtime, &st.oci_json(Status::Creating))?;
    if let Some(file) = &o.pid_file {
        write_pid_file(file, init_pid)?;
    }
    undo.armed = false;
    Ok(Created { state: st })
}

/// Start the chain's first process: rlimits and oom_score_adj, the container's environment, the
/// descriptors the last stage needs, then exec cgexec-rs.
fn spawn_chain(argv: &[String], cfg: &Config, keep: Vec<(i32, i32)>) -> anyhow::Result<i32> {
    let payload = cfg.process.as_ref().expect("plan checked process");
    trace::explain(&Step::Exec { argv: argv.to_vec() }, None);
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]).env_clear();
    for (k, v) in &payload.env {
        cmd.env(k, v);
    }
    if let Ok(v) = std::env::var(trace::ENV).or_else(|_| if trace::enabled() { Ok("1".into()) } else { Err(()) }) {
        cmd.env(trace::ENV, v);
    }
    let rlimits = payload
        .rlimits
        .iter()
        .filter_map(|r| handoff::rlimit_by_name(&r.kind).map(|res| (res, r.soft, r.hard)))
        .collect();
    let setup = ChildSetup { keep, rlimits, oom_score_adj: payload.oom_score_adj, death_signal: None };
    let child = handoff::spawn(&mut cmd, setup)?;
    Ok(child.id() as i32)
}

fn run_sysctls(nsenter: &Path, mut args: Vec<String>, cfg: &Config) -> anyhow::Result<()> {
    args.push("--".into());
    args.push(std::env::current_exe()?.display().to_string());
    args.push("sysctl".into());
    args.extend(compose::sysctls(cfg).iter().map(|(k, v)| format!("{k}={v}")));
    trace::explain(
        &Step::Exec { argv: std::iter::once("nsenter-lite".to_string()).chain(args.clone()).collect() },
        None,
    );
    let status = std::process::Command::new(nsenter).args(&args).status().context("running nsenter-lite")?;
    if !status.success() {
        bail!("linux.sysctl: could not be written in the container's namespaces ({status})");
    }
    Ok(())
}

/// `isolab-oci sysctl K=V...` (in the namespaces nsenter-lite joined): /proc/sys/K = V.
pub fn write_sysctls(settings: &[String]) -> anyhow::Result<u8> {
    for kv in settings {
        let (k, v) = kv.split_once('=').ok_or_else(|| anyhow!("sysctl {kv:?}: expected KEY=VALUE"))?;
        if compose::sysctl_namespace(k).is_none() {
            bail!("linux.sysctl: {k:?} is not namespaced");
        }
        trace::write_file(Path::new("/proc/sys").join(k.replace('.', "/")), v)
            .with_context(|| format!("linux.sysctl {k}"))?;
    }
    Ok(0)
}

/// Write a pid file atomically (engines read it as soon as the runtime returns).
pub fn write_pid_file(file: &Path, pid: i32) -> anyhow::Result<()> {
    let tmp = file.with_extension("isolab-tmp");
    trace::run_io(Step::Write { path: file.to_path_buf(), value: pid.to_string() }, || {
        std::fs::write(&tmp, pid.to_string())?;
        std::fs::rename(&tmp, file)
    })
    .with_context(|| format!("--pid-file {}", file.display()))
}

pub fn start(g: &Globals, id: &str) -> anyhow::Result<()> {
    let mut st = State::load(&g.root, id)?;
    match st.status(&g.root) {
        Status::Created => {}
        other => bail!("container {id:?} cannot be started: it is {}", other.as_str()),
    }
    let hooks = config::load(&st.bundle).map(|c| c.hooks).unwrap_or_default();
    // The spec: prestart hooks after start is called, before the program runs; when one
    // fails, start fails, the container is stopped and the lifecycle goes on to delete.
    if let Err(e) = hooks::run("prestart", &hooks.prestart, &st.oci_json(Status::Created)) {
        let _ = delete(g, id, true);
        return Err(e);
    }
    let fifo = state::dir(&g.root, id).join(state::FIFO);
    let stage = std::fs::read_link(format!("/proc/{}/exe", st.pid)).ok();
    handoff::await_fifo(&fifo, || st.init_alive()).context("the container's init cannot be started")?;
    trace::run_io(Step::Unlink(fifo.clone()), || std::fs::remove_file(&fifo))?;
    st.started = true;
    st.save(&g.root)?;
    // The stage writes its byte, then execs: poststart hooks wait for the exec (the init's
    // executable is no longer the stage's), so they run after the program started, as the spec says.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while st.init_alive()
        && stage.is_some()
        && std::fs::read_link(format!("/proc/{}/exe", st.pid)).ok() == stage
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    hooks::run_lenient("poststart", &hooks.poststart, &st.oci_json(Status::Running));
    Ok(())
}

pub fn state_json(g: &Globals, id: &str) -> anyhow::Result<String> {
    let st = State::load(&g.root, id)?;
    Ok(serde_json::to_string_pretty(&st.oci_json(st.status(&g.root)))?)
}

/// The PIDs of the container's cgroup, read through its init's /proc/PID/cgroup.
pub fn cgroup_pids(st: &State) -> Vec<i32> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{}/cgroup", st.pid)) else { return vec![] };
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let dir = match ctrls {
            "" => PathBuf::from("/sys/fs/cgroup").join(path.trim_start_matches('/')),
            c if c.split(',').any(|x| x == "pids") => {
                PathBuf::from("/sys/fs/cgroup/pids").join(path.trim_start_matches('/'))
            }
            _ => continue,
        };
        if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            if !procs.trim().is_empty() {
                return procs.lines().filter_map(|l| l.trim().parse().ok()).collect();
            }
        }
    }
    vec![st.pid]
}

pub fn kill(g: &Globals, id: &str, signal: &str, all: bool) -> anyhow::Result<()> {
    let sig = process::parse_signal(signal)?;
    let st = State::load(&g.root, id)?;
    let status = st.status(&g.root);
    if !matches!(status, Status::Created | Status::Running) {
        bail!("container {id:?} is not running: it is {}", status.as_str());
    }
    let pids = if all { cgroup_pids(&st) } else { vec![st.pid] };
    for pid in pids {
        process::kill(Pid::from_raw(pid), sig)?;
    }
    Ok(())
}

pub fn delete(g: &Globals, id: &str, force: bool) -> anyhow::Result<()> {
    state::check_id(id)?;
    let dir = state::dir(&g.root, id);
    let st = match State::load(&g.root, id) {
        Ok(st) => st,
        Err(_) if force && dir.is_dir() => {
            // Killed before its first state.json: nothing else is known.
            return std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()));
        }
        Err(e) => return Err(e),
    };
    let status = st.status(&g.root);
    if status == Status::Running && !force {
        bail!("container {id:?} is running: stop it first or use --force");
    }
    if st.init_alive() {
        let pid = Pid::from_raw(st.pid);
        process::kill(pid, Signal::SIGKILL)?;
        // Our child only if we made it (run); otherwise the engine reaps it: wait until it is gone.
        handoff::reap_if_ended(pid);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while st.init_alive() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    remove_group(&compose::Placement { parent: st.cgroup_parent.clone(), name: st.cgroup_name.clone() });
    if st.started {
        hooks::run_lenient("poststop", &st.poststop, &st.oci_json(Status::Stopped));
    }
    trace::note(format!("rm -r {}", dir.display()));
    std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))
}

/// `run`: create, start, and unless detached wait for the init (our child: we are its
/// subreaper), pass its status on, and delete the container.
pub fn run(g: &Globals, o: &CreateOpts, detach: bool) -> anyhow::Result<u8> {
    let created = create(g, o)?;
    let pid = Pid::from_raw(created.state.pid);
    if let Err(e) = start(g, &o.id) {
        let _ = delete(g, &o.id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    process::forward_signals_to(pid);
    let status = process::wait_for(pid)?;
    delete(g, &o.id, true)?;
    Ok(process::status_code(status))
}

pub fn ps(g: &Globals, id: &str, format: &str, ps_args: &[String]) -> anyhow::Result<String> {
    let st = State::load(&g.root, id)?;
    let pids = if st.init_alive() { cgroup_pids(&st) } else { vec![] };
    match format {
        "json" => Ok(serde_json::to_string(&pids)?),
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() { vec!["-ef".into()] } else { ps_args.to_vec() };
            let out = std::process::Command::new("ps").args(&args).output().context("running ps")?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or("");
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| anyhow!("ps output has no PID column"))?;
            let mut kept = vec![header.to_string()];
            kept.extend(
                lines
                    .filter(|l| {
                        l.split_whitespace()
                            .nth(col)
                            .and_then(|p| p.parse().ok())
                            .is_some_and(|p: i32| pids.contains(&p))
                    })
                    .map(String::from),
            );
            Ok(kept.join("\n"))
        }
        other => bail!("--format: unknown format {other:?} (table or json)"),
    }
}
