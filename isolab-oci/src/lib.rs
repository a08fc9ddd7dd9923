//! isolab-oci: runc's command line over the isolab tools, composed by exec.
//!
//! `main.rs` parses; [`run`] dispatches to the lifecycle ([`lifecycle`]: create, start, state,
//! kill, delete, run, ps), [`exec`], [`info`] (features, spec) and the container's last stage
//! ([`init`]). config.json is read by [`config`] and mapped onto the tools by [`compose`].

pub mod args;
pub mod compose;
pub mod config;
pub mod exec;
pub mod hooks;
pub mod info;
pub mod init;
pub mod lifecycle;
pub mod log;
pub mod state;

use args::{Args, Command};
use lifecycle::Globals;

/// Run one command; returns the status to exit with.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let format = args.check()?;
    if args.debug {
        isolab_core::trace::enable();
    }
    log::init(args.log.clone(), format);
    let g = Globals { root: args.root.clone() };
    let rootless = args.rootless.as_deref().is_some_and(|v| v == "true");
    let result = dispatch(&g, args.command, rootless);
    if let Err(e) = &result {
        log::write("error", &isolab_core::exit::one_line(&format!("{e:#}")));
    }
    result
}

fn dispatch(g: &Globals, command: Command, rootless: bool) -> anyhow::Result<u8> {
    match command {
        Command::Create(o) => lifecycle::create(g, &o).map(|_| 0),
        Command::Start { id } => lifecycle::start(g, &id).map(|()| 0),
        Command::State { id } => {
            println!("{}", lifecycle::state_json(g, &id)?);
            Ok(0)
        }
        Command::Kill { all, id, signal } => lifecycle::kill(g, &id, &signal, all).map(|()| 0),
        Command::Delete { force, id } => lifecycle::delete(g, &id, force).map(|()| 0),
        Command::Run { create, detach } => lifecycle::run(g, &create, detach),
        Command::Exec { process, detach, pid_file, console_socket, tty, cwd, env, user, preserve_fds, id, command } => {
            let o = exec::ExecOpts {
                id,
                process,
                detach,
                pid_file,
                console_socket,
                tty,
                cwd,
                env,
                user,
                preserve_fds,
                command,
            };
            exec::exec(g, &o)
        }
        Command::Ps { format, id, ps_args } => {
            println!("{}", lifecycle::ps(g, &id, &format, &ps_args)?);
            Ok(0)
        }
        Command::Features => {
            isolab_core::exit::write_stdout(&format!("{}\n", serde_json::to_string_pretty(&info::features())?))?;
            Ok(0)
        }
        Command::Spec { bundle } => {
            let file = bundle.join("config.json");
            if file.exists() {
                anyhow::bail!("{}: already exists", file.display());
            }
            std::fs::write(&file, serde_json::to_string_pretty(&info::spec(rootless))?).map_err(|e| {
                anyhow::anyhow!("cannot write {}: {}", file.display(), isolab_core::process::plain_io(&e))
            })?;
            Ok(0)
        }
        Command::Init(o) => init::run(o),
        Command::Sysctl { settings } => lifecycle::write_sysctls(&settings),
    }
}
