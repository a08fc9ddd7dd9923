//! OCI hooks (config.md "POSIX-platform Hooks"): each hook is path + args + env, run in the
//! runtime's namespaces with the container's state JSON on its standard input; `timeout`
//! seconds then SIGKILL. prestart and createRuntime failures fail create; poststart and
//! poststop failures are warnings (the spec says the lifecycle goes on).
//!
//! A hook gets SIGKILL if isolab-oci dies (PR_SET_PDEATHSIG), so a runtime killed in the middle
//! of create leaves no hook running.

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use isolab_core::process::handoff::{self, ChildSetup};
use isolab_core::process::Signal;
use isolab_core::trace::{self, Step};

use crate::config::Hook;

/// Run `hooks` of `phase` in order; the first failure is returned, named by phase and index.
pub fn run(phase: &str, hooks: &[Hook], state: &serde_json::Value) -> anyhow::Result<()> {
    for (i, hook) in hooks.iter().enumerate() {
        run_one(hook, state).map_err(|e| anyhow!("hooks.{phase}[{i}] {}: {e:#}", hook.path.display()))?;
    }
    Ok(())
}

/// Run hooks whose failure is only a warning (poststart, poststop).
pub fn run_lenient(phase: &str, hooks: &[Hook], state: &serde_json::Value) {
    for (i, hook) in hooks.iter().enumerate() {
        if let Err(e) = run_one(hook, state) {
            crate::log::warn(format!("hooks.{phase}[{i}] {}: {e:#}", hook.path.display()));
        }
    }
}

fn run_one(hook: &Hook, state: &serde_json::Value) -> anyhow::Result<()> {
    let mut argv: Vec<String> = hook.args.clone();
    if argv.is_empty() {
        argv.push(hook.path.display().to_string());
    }
    trace::explain(&Step::Exec { argv: argv.clone() }, None);
    let mut cmd = Command::new(&hook.path);
    cmd.arg0(&argv[0]).args(&argv[1..]).env_clear().stdin(Stdio::piped());
    for kv in &hook.env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let setup = ChildSetup { death_signal: Some(Signal::SIGKILL), ..Default::default() };
    let mut child = handoff::spawn(&mut cmd, setup)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its state closes the pipe: that is its business.
        let _ = stdin.write_all(state.to_string().as_bytes());
    }
    let deadline = hook.timeout.map(|t| Instant::now() + Duration::from_secs(t));
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            bail!("failed ({status})");
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            bail!("killed after its timeout of {} s", hook.timeout.unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
