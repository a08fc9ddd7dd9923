//! cgexec-rs's whole run: check, place, create, limit, join, run, clean up.
//!
//! Order matters: every check (values, names, devices, CPUs, controllers, an existing group)
//! comes before the first mkdir, so bad input leaves nothing behind. The forwarded signals are
//! blocked from before the first mkdir until the child is forked and forwarding is in place, so
//! a SIGTERM during setup is delivered to the command (which then ends, and the group is removed)
//! instead of killing cgexec-rs with the group still there. The child joins the group before
//! exec, so no instant of the command runs outside it (libcgroup `cgexec` does the same).

use std::ffi::OsString;

use anyhow::Context as _;

use isolab_core::cgroup::plan::{self, Facts};
use isolab_core::cgroup::{delegate, devices, host, lifecycle, locate, placements, validate_name, validate_parent};
use isolab_core::cgroup::{Group, Limits, Placement, Setup};
use isolab_core::exit;
use isolab_core::process::{self, ForkResult, SigSet, Signal};
use isolab_core::stats::format::bytes_size;
use isolab_core::trace;

/// What to do with the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Fork, run the command in the group, then kill what is left and remove the group.
    Run,
    /// As `Run`, but leave the group (and anything still in it).
    Keep,
    /// Join the group and exec the command in place; the group stays.
    Exec,
    /// Kill the named group's members and remove it.
    Remove,
}

/// A checked cgexec-rs request.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: Option<String>,
    pub parent: Option<String>,
    pub limits: Limits,
    pub mode: Mode,
    pub command: Vec<OsString>,
}

pub fn run(spec: Spec) -> anyhow::Result<u8> {
    if let Some(p) = &spec.parent {
        validate_parent(p).context("--cgroup-parent")?;
    }
    if spec.mode == Mode::Remove {
        let name = spec.name.as_deref().unwrap_or_default();
        let group = locate(name, spec.parent.as_deref()).context("--rm")?;
        lifecycle::destroy(&group)?;
        return Ok(0);
    }
    let name = spec.name.clone().unwrap_or_else(|| format!("cgexec-{}", std::process::id()));
    validate_name(&name).context("--name")?;
    let mut limits = spec.limits.clone().zeros_unset();
    limits.check()?;
    host::resolve_devices(&mut limits)?;
    if let Some(policy) = &mut limits.devices {
        policy.resolve()?;
    }
    let setup = Setup::detect()?;
    host::check_cpus(&setup, &limits)?;
    let mut placements = placements(&setup, &limits, spec.parent.as_deref(), &name)?;
    // A user who is not root: only beneath its delegated v2 subtree, with what was delegated.
    let room = delegate::admit(&mut placements, &limits)?;
    for p in &placements {
        if p.dir().exists() {
            anyhow::bail!("--name: a group named {name:?} already exists ({})", p.dir().display());
        }
        trace::note(format!("group {name} in {}", p.dir().display()));
    }
    // From the first mkdir on, a SIGTERM must end in clean-up: hold the forwarded signals
    // until the child exists and the parent forwards them.
    let caller_mask = (spec.mode != Mode::Exec).then(process::block_forwarded);
    room.map(|r| r.make()).transpose()?;
    let group = lifecycle::create(&name, &placements)?;
    if let Err(err) = configure(&group, &limits) {
        let _ = lifecycle::remove(&group);
        return Err(err);
    }
    match spec.mode {
        Mode::Exec => exec_in(&group, &placements, &spec.command),
        _ => supervise_in(&group, &limits, &spec, caller_mask.unwrap_or_else(SigSet::empty)),
    }
}

fn configure(group: &Group, limits: &Limits) -> anyhow::Result<()> {
    let plan = plan::plan(limits, group, &Facts::probe(group))?;
    for w in plan.warnings.iter().chain(&host::weights_without_bfq(&plan, limits)) {
        exit::warn(w);
    }
    if let Some(policy) = &limits.devices {
        trace::note(policy.describe());
    }
    plan::apply(&plan)?;
    limits.devices.as_ref().map_or(Ok(()), |p| devices::attach_where_v2(group, p))
}

fn exec_in(group: &Group, placements: &[Placement], command: &[OsString]) -> anyhow::Result<u8> {
    let me = std::process::id() as i32;
    // cgexec-rs starts no thread: moving its one thread moves the process.
    let err = match lifecycle::join_self(group) {
        Ok(()) => process::exec(command, &process::Env::default()),
        Err(err) => err,
    };
    // The command did not start: go back to where we came from so the group can go too.
    for p in placements {
        let _ = lifecycle::join_dir(&p.hierarchy.dir_of(&p.hierarchy.own), me);
    }
    let _ = lifecycle::remove(group);
    Err(err)
}

fn supervise_in(group: &Group, limits: &Limits, spec: &Spec, caller_mask: SigSet) -> anyhow::Result<u8> {
    // Tethered: a SIGKILLed cgexec-rs takes its command along (then `cgexec-rs --rm` removes the group).
    let child = match process::fork_tethered(Some(Signal::SIGKILL)) {
        Ok(ForkResult::Child) => child_main(group, &spec.command, caller_mask),
        Ok(ForkResult::Parent { child }) => child,
        Err(err) => {
            let _ = lifecycle::remove(group);
            return Err(err);
        }
    };
    // fork_tethered has installed the forwarding to the child.
    process::restore_mask(caller_mask);
    let status = process::supervise(child, false)?;
    let oom = lifecycle::oom_kills(group);
    if spec.mode == Mode::Keep {
        trace::note(format!("keeping group {} (remove it with: cgexec-rs --rm {})", group.name(), group.name()));
    } else {
        lifecycle::destroy(group)?;
    }
    if oom > 0 {
        let limit =
            limits.memory.map_or("no limit of its own".into(), |m| format!("memory limit {}", bytes_size(m as f64)));
        exit::say(format_args!("{}: {}: killed by the OOM killer ({limit})", exit::tool(), group.name()));
        return Ok(137);
    }
    Ok(process::die_like(status))
}

/// In the forked child (one thread, as every forked child): join, restore the signal mask, exec.
/// Never returns.
fn child_main(group: &Group, command: &[OsString], caller_mask: SigSet) -> ! {
    let err = match lifecycle::join_self(group) {
        Ok(()) => {
            process::restore_mask(caller_mask);
            process::exec(command, &process::Env::default())
        }
        Err(err) => err,
    };
    exit::report_and_exit(&err)
}
