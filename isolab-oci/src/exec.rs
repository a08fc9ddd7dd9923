//! `exec`: another process in a running container, through nsenter-lite.
//!
//! ```text
//! nsenter-lite --container NAME [--cgroup-parent P] -a -r --   the group, every namespace, the root
//!   /proc/self/fd/N init --cwd .. --user U:G --bounding .. --   isolab-oci's last stage: user,
//!     ARGS                                                     groups, capabilities, terminal
//! ```
//! The pid file names nsenter-lite (it supervises the process it forks into the PID namespace
//! and passes its status on), which is what the engine waits for.

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context as _};
use isolab_core::trace::{self, Step};

use crate::channel;
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
            .map_err(|e| anyhow!("--process {}: {}", file.display(), isolab_core::process::plain_io(&e)))?;
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
pub fn stage_args(
    p: &Process,
    exe_fd: i32,
    loader: Option<(i32, i32)>,
    preserve_fds: u32,
    unset_explain: bool,
) -> Vec<String> {
    let mut a = crate::compose::stage_prefix(exe_fd, loader);
    a.extend(["--exe-fd".into(), exe_fd.to_string()]);
    a.extend(["--cwd".into(), p.cwd.clone()]);
    a.extend(crate::compose::user_args(p));
    if let Some(c) = &p.capabilities {
        a.extend(["--bounding".into(), c.bounding.join(","), "--caps".into(), crate::compose::caps_arg(c)]);
    }
    if p.no_new_privileges {
        a.push("--no-new-privs".into());
    }
    if p.terminal {
        a.push("--tty".into());
    }
    if let Some(u) = p.umask {
        a.extend(["--umask".into(), format!("{u:o}")]);
    }
    if preserve_fds > 0 {
        a.extend(["--preserve-fds".into(), preserve_fds.to_string()]);
    }
    if unset_explain {
        a.push("--unset-explain".into());
    }
    a.push("--".into());
    a.extend(p.args.iter().cloned());
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
    let exe = channel::sealed_self()?;
    let loader = channel::loader()?;
    let mut argv = vec![nsenter.display().to_string(), "--container".into(), st.cgroup_name.clone()];
    if let Some(parent) = &st.cgroup_parent {
        argv.extend(["--cgroup-parent".into(), parent.clone()]);
    }
    argv.extend(["-a".into(), "-r".into(), "--".into()]);
    let loader_fds = loader.as_ref().map(|(ld, dir)| (ld.as_raw_fd(), dir.as_raw_fd()));
    argv.extend(stage_args(&p, exe.as_raw_fd(), loader_fds, o.preserve_fds, trace::enabled()));
    let pty = match (&o.console_socket, p.terminal) {
        (Some(sock), true) => {
            let pty = isolab_core::pty::open()?;
            channel::send_console(sock, &pty.master, &pty.name)?;
            Some(pty.slave)
        }
        _ => None,
    };
    trace::explain(&Step::Exec { argv: argv.clone() }, None);
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]).env_clear().envs(p.env.iter().map(|(k, v)| (k, v)));
    if trace::enabled() {
        cmd.env("ISOLAB_EXPLAIN", std::env::var("ISOLAB_EXPLAIN").unwrap_or_else(|_| "1".into()));
    }
    if let Some(t) = &pty {
        cmd.stdin(t.try_clone()?).stdout(t.try_clone()?).stderr(t.try_clone()?);
    }
    let mut raw = vec![exe.as_raw_fd()];
    raw.extend(loader_fds.map(|(a, b)| [a, b]).into_iter().flatten());
    // SAFETY: the closure only calls fcntl(2) on descriptors we own.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &raw {
                channel::inherit(fd).map_err(|_| std::io::Error::last_os_error())?;
            }
            Ok(())
        });
    }
    let mut child =
        cmd.spawn().map_err(|e| anyhow!("cannot run nsenter-lite: {}", isolab_core::process::plain_io(&e)))?;
    drop((exe, pty, loader));
    if let Some(file) = &o.pid_file {
        lifecycle::write_pid_file(file, child.id() as i32)?;
    }
    if o.detach {
        return Ok(0);
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    // Signals for the process, not for us, while it runs (runc exec forwards them too).
    isolab_core::process::forward_signals_to(pid);
    let status = isolab_core::process::wait_for(pid).context("waiting for the exec'd process")?;
    let _ = child.try_wait();
    Ok(isolab_core::process::status_code(status))
}
