//! `exec`: another process in a running container, through nsenter-lite.
//!
//! ```text
//! nsenter-lite --container NAME [--cgroup-parent P] -a -r --   the group, every namespace, the
//!                                                              root, and the container's
//!                                                              confinement (bounding set,
//!                                                              no_new_privs, seccomp filters)
//!   /proc/self/fd/N init --cwd .. --user U:G --caps .. --      isolab-oci's last stage: terminal,
//!     ARGS                                                     user, groups, the process's own
//!                                                              capability sets within those
//! ```
//! As `runc exec` and `docker exec`: the new process gets the container's seccomp filter and
//! no_new_privs whatever its process file says, and its capabilities from the process file
//! (lowered from the container's, never raised above them).
//! The pid file names nsenter-lite (it supervises the process it forks into the PID namespace
//! and passes its status on), which is what the engine waits for.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context as _};
use isolab_core::process::handoff::{self, ChildSetup};
use isolab_core::process::{self, Pid};
use isolab_core::trace::{self, Step};

use crate::config::{self, Process};
use crate::lifecycle::{self, Globals};
use crate::state::{State, Status};

pub struct ExecOpts {
    pub id: String,
    pub process: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub tty: bool,
    pub cwd: Option<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub preserve_fds: u32,
    pub command: Vec<String>,
}

fn process_of(o: &ExecOpts) -> anyhow::Result<Process> {
    if let Some(file) = &o.process {
        let text = std::fs::read_to_string(file)
            .map_err(|e| anyhow!("--process {}: {}", file.display(), process::plain_io(&e)))?;
        return config::parse_process(&text).map_err(|e| anyhow!("--process {}: {e:#}", file.display()));
    }
    if o.command.is_empty() {
        bail!("exec: give --process FILE or a command");
    }
    let mut p = Process {
        args: o.command.clone(),
        cwd: o.cwd.clone().unwrap_or_else(|| "/".into()),
        terminal: o.tty,
        ..Default::default()
    };
    p.env = vec![("PATH".into(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into())];
    for kv in &o.env {
        let (k, v) = kv.split_once('=').ok_or_else(|| anyhow!("--env {kv:?}: expected K=V"))?;
        p.env.push((k.into(), v.into()));
    }
    if let Some(u) = &o.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
        p.uid = uid.parse().map_err(|_| anyhow!("--user {u:?}: expected UID[:GID]"))?;
        p.gid = gid.parse().map_err(|_| anyhow!("--user {u:?}: expected UID[:GID]"))?;
    }
    Ok(p)
}

/// The argv after nsenter-lite's `--`, for the last stage.
pub fn stage_args(p: &Process, fds: crate::compose::Fds, preserve_fds: u32, unset_explain: bool) -> Vec<String> {
    let mut a = crate::compose::stage_prefix(fds.exe, fds.loader);
    a.extend(["--exe-fd".into(), fds.exe.to_string()]);
    if let Some(console) = fds.console {
        a.extend(["--console-fd".into(), console.to_string()]);
    }
    a.extend(["--cwd".into(), p.cwd.clone()]);
    a.extend(crate::compose::user_args(p));
    if let Some(c) = &p.capabilities {
        a.extend(["--bounding".into(), c.bounding.join(","), "--caps".into(), crate::compose::caps_arg(c)]);
    }
    if p.no_new_privileges {
        a.push("--no-new-privs".into());
    }
    crate::compose::command_tail(&mut a, p, preserve_fds, unset_explain);
    a
}

pub fn exec(g: &Globals, o: &ExecOpts) -> anyhow::Result<u8> {
    let st = State::load(&g.root, &o.id)?;
    let status = st.status(&g.root);
    if !matches!(status, Status::Created | Status::Running) {
        bail!("container {:?} is not running: it is {}", o.id, status.as_str());
    }
    let p = process_of(o)?;
    if p.terminal && o.console_socket.is_none() {
        bail!("process.terminal: true needs --console-socket");
    }
    let nsenter = lifecycle::program("nsenter-lite")?;
    let exe = handoff::sealed_copy_of_self("isolab-oci-init")?;
    let loader = handoff::host_loader()?;
    let console = match (&o.console_socket, p.terminal) {
        (Some(sock), true) => Some(
            isolab_core::pty::connect_console_socket(sock)
                .with_context(|| format!("--console-socket {}", sock.display()))?,
        ),
        _ => None,
    };
    let mut argv = vec![nsenter.display().to_string(), "--container".into(), st.cgroup_name.clone()];
    if let Some(parent) = &st.cgroup_parent {
        argv.extend(["--cgroup-parent".into(), parent.clone()]);
    }
    let mut ours = vec![exe.as_raw_fd()];
    ours.extend(loader.as_ref().map(|(ld, dir)| [ld.as_raw_fd(), dir.as_raw_fd()]).into_iter().flatten());
    ours.extend(console.as_ref().map(|c| c.as_raw_fd()));
    let keep = crate::compose::stage_fds(&ours, o.preserve_fds);
    let at = |i: usize| keep[i].1;
    let preserve = (o.preserve_fds as usize + keep.len()).to_string();
    argv.extend(["-a".into(), "-r".into(), "--preserve-fds".into(), preserve, "--".into()]);
    let fds = crate::compose::Fds {
        exe: at(0),
        loader: loader.as_ref().map(|_| (at(1), at(2))),
        sync: -1,
        fifo: -1,
        console: console.as_ref().map(|_| at(keep.len() - 1)),
    };
    argv.extend(stage_args(&p, fds, o.preserve_fds, trace::enabled()));
    trace::explain(&Step::Exec { argv: argv.clone() }, None);
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]).env_clear().envs(p.env.iter().map(|(k, v)| (k, v)));
    if trace::enabled() {
        cmd.env(trace::ENV, std::env::var(trace::ENV).unwrap_or_else(|_| "1".into()));
    }
    let mut child = handoff::spawn(&mut cmd, ChildSetup { keep, ..Default::default() })?;
    drop((exe, console, loader));
    if let Some(file) = &o.pid_file {
        lifecycle::write_pid_file(file, child.id() as i32)?;
    }
    if o.detach {
        return Ok(0);
    }
    let pid = Pid::from_raw(child.id() as i32);
    // Signals for the process, not for us, while it runs (runc exec forwards them too).
    process::forward_signals_to(pid);
    let status = process::wait_for(pid).context("waiting for the exec'd process")?;
    let _ = child.try_wait();
    Ok(process::status_code(status))
}
