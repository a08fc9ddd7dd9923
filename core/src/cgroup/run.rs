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
use nix::sys::signal::SigSet;
use nix::unistd::ForkResult;

use super::delegate;
use super::detect::Setup;
use super::group::{locate, parent_path, Group};
use super::lifecycle::{self, Target};
use super::limits::Limits;
use super::plan::{self, Facts};
use super::{validate_name, validate_parent};
use crate::process;
use crate::trace;
use crate::units::{human_bytes, IdList};

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

/// Controllers used for accounting even without a limit, so cgstat can read the group. Not the
/// I/O controller (v1 blkio, v2 io): a group joins it only when an I/O flag asks for it (see the
/// README: v1's counters count only where a throttle rule is set, so a plain group would show a
/// false `0B / 0B`; and an I/O controller not asked for is one more that must be enabled in every
/// ancestor, where it may not be delegated).
const ACCOUNTING: [&str; 4] = ["cpu", "cpuacct", "memory", "pids"];

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
    resolve_devices(&mut limits)?;
    let setup = Setup::detect()?;
    check_host(&setup, &limits)?;
    let mut targets = targets(&setup, &limits, spec.parent.as_deref(), &name)?;
    let room = delegate::admit(&mut targets, &limits)?;
    // From the first mkdir on, a SIGTERM must end in clean-up: hold the forwarded signals
    // until the child exists and the parent forwards them.
    let caller_mask = (spec.mode != Mode::Exec).then(process::block_forwarded);
    room.map(|r| r.make()).transpose()?;
    let group = lifecycle::create(&name, &targets)?;
    if let Err(err) = configure(&group, &limits) {
        let _ = lifecycle::remove(&group);
        return Err(err);
    }
    match spec.mode {
        Mode::Exec => exec_in(&group, &targets, &spec.command),
        _ => supervise_in(&group, &limits, &spec, caller_mask.unwrap_or_else(SigSet::empty)),
    }
}

fn configure(group: &Group, limits: &Limits) -> anyhow::Result<()> {
    let plan = plan::plan(limits, group, &Facts::probe(group))?;
    for w in plan.warnings.iter().chain(&weights_without_bfq(&plan, limits)) {
        crate::cli::warn(w);
    }
    plan::apply(&plan)
}

/// A BFQ weight (`blkio.bfq.weight`, `io.bfq.weight`) acts only on disks whose I/O scheduler
/// is bfq; elsewhere (`none`, `mq-deadline`) the kernel takes `--blkio-weight`'s write and
/// ignores it (a per-device weight it refuses: EOPNOTSUPP, with its own hint). One warning per
/// disk of the host (a block device with a `device`: not loop, ram or zram) not under bfq.
fn weights_without_bfq(plan: &plan::Plan, limits: &Limits) -> Vec<String> {
    let written = plan.writes.iter().any(|w| w.path.to_string_lossy().ends_with(".bfq.weight"));
    let mut disks: Vec<std::path::PathBuf> = Vec::new();
    if written && limits.blkio_weight.is_some() {
        let all = std::fs::read_dir("/sys/block").into_iter().flatten().flatten().map(|e| e.path());
        disks.extend(all.filter(|p| p.join("device").exists()));
    }
    let mut warnings = Vec::new();
    for sys in disks {
        let name = sys.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(sys.join("queue/scheduler")).unwrap_or_default();
        // "none [mq-deadline] kyber bfq": the one in brackets is in use.
        let Some(scheduler) = text.split_whitespace().find_map(|s| s.strip_prefix('[')?.strip_suffix(']')) else {
            continue;
        };
        trace::note(format!("{name}: I/O scheduler {scheduler} (from {})", sys.join("queue/scheduler").display()));
        if scheduler != "bfq" {
            warnings.push(format!(
                "--blkio-weight: no effect on {name}, whose I/O scheduler is {scheduler}: a blkio weight acts only \
                 under bfq (echo bfq > /sys/block/{name}/queue/scheduler)"
            ));
        }
    }
    warnings
}

fn exec_in(group: &Group, targets: &[Target], command: &[OsString]) -> anyhow::Result<u8> {
    let me = std::process::id() as i32;
    let err = match lifecycle::join(group, me) {
        Ok(()) => process::exec(command),
        Err(err) => err,
    };
    // The command did not start: go back to where we came from so the group can go too.
    for t in targets {
        let _ = lifecycle::join_dir(&t.hierarchy.dir_of(&t.hierarchy.own), me);
    }
    let _ = lifecycle::remove(group);
    Err(err)
}

fn supervise_in(group: &Group, limits: &Limits, spec: &Spec, caller_mask: SigSet) -> anyhow::Result<u8> {
    // Tethered: a SIGKILLed cgexec-rs takes its command along (then `cgexec-rs --rm` removes the group).
    let child = match process::fork_tethered(Some(nix::sys::signal::Signal::SIGKILL)) {
        Ok(ForkResult::Child) => child_main(group, &spec.command, caller_mask),
        Ok(ForkResult::Parent { child }) => child,
        Err(err) => {
            let _ = lifecycle::remove(group);
            return Err(err);
        }
    };
    process::forward_signals_to(child);
    process::restore_mask(caller_mask);
    let status = process::supervise(child, false)?;
    let oom = lifecycle::oom_kills(group);
    if spec.mode == Mode::Keep {
        trace::note(format!("keeping group {} (remove it with: cgexec-rs --rm {})", group.name(), group.name()));
    } else {
        lifecycle::destroy(group)?;
    }
    if oom > 0 {
        let limit = limits.memory.map_or("no limit of its own".into(), |m| format!("memory limit {}", human_bytes(m)));
        crate::cli::say(format_args!("{}: {}: killed by the OOM killer ({limit})", crate::cli::tool(), group.name()));
        return Ok(137);
    }
    Ok(process::die_like(status))
}

/// In the forked child: join, restore the signal mask, exec. Never returns.
fn child_main(group: &Group, command: &[OsString], caller_mask: SigSet) -> ! {
    let err = match lifecycle::join(group, std::process::id() as i32) {
        Ok(()) => {
            process::restore_mask(caller_mask);
            process::exec(command)
        }
        Err(err) => err,
    };
    let code = crate::cli::report(&err);
    std::process::exit(code.into())
}

/// Where the group goes in each hierarchy that holds a controller it uses.
pub fn targets<'a>(
    setup: &'a Setup,
    limits: &Limits,
    parent: Option<&str>,
    name: &str,
) -> anyhow::Result<Vec<Target<'a>>> {
    for (file, _) in &limits.set {
        let c = file.split('.').next().unwrap_or_default();
        if setup.for_controller(c).is_none() {
            anyhow::bail!(
                "--set {file}: the {c} controller is not available on this host (no mounted hierarchy has it)"
            );
        }
    }
    let mut required: Vec<String> = limits.controllers().into_iter().map(String::from).collect();
    required.extend(limits.set.iter().filter_map(|(f, _)| f.split('.').next()).map(String::from));
    for c in &required {
        if setup.for_controller(c).is_none() {
            anyhow::bail!("the {c} controller is not available on this host (no mounted hierarchy has it)");
        }
    }
    let mut wanted: Vec<&str> = required.iter().map(String::as_str).chain(ACCOUNTING).collect();
    if setup.layout() != super::Layout::V2 {
        wanted.push("freezer"); // to kill without races on v1
    }
    let mut targets = Vec::new();
    for h in &setup.hierarchies {
        let mine: Vec<String> = wanted.iter().filter_map(|c| v2_name(c, h.v2)).filter(|c| h.has(c)).collect();
        if mine.is_empty() {
            continue;
        }
        let path = format!("{}/{name}", parent_path(h, parent).trim_end_matches('/'));
        let t = Target { hierarchy: h, path, enable: if h.v2 { dedup(mine) } else { Vec::new() } };
        if t.dir().exists() {
            anyhow::bail!("--name: a group named {name:?} already exists ({})", t.dir().display());
        }
        trace::note(format!("group {name} in {}", t.dir().display()));
        targets.push(t);
    }
    Ok(targets)
}

/// A controller's name on a hierarchy of this version (v2 has `io`, no `cpuacct` or `freezer`).
fn v2_name(c: &str, v2: bool) -> Option<String> {
    match (c, v2) {
        ("blkio", true) => Some("io".into()),
        ("cpuacct" | "freezer", true) => None,
        ("io", false) => Some("blkio".into()),
        (c, _) => Some(c.into()),
    }
}

fn dedup(mut list: Vec<String>) -> Vec<String> {
    list.sort();
    list.dedup();
    list
}

/// CPUs and memory nodes must exist and be allowed to the caller's cpuset (Docker checks the
/// same against the daemon's cpuset).
fn check_host(setup: &Setup, limits: &Limits) -> anyhow::Result<()> {
    if limits.nano_cpus.is_none() && limits.cpuset_cpus.is_none() && limits.cpuset_mems.is_none() {
        return Ok(()); // nothing to check: skip reading four files
    }
    let online = read_list("/sys/devices/system/cpu/online").unwrap_or_default();
    let (mut cpus, mut mems) =
        (online.clone(), read_list("/sys/devices/system/node/online").unwrap_or(IdList(vec![0])));
    if let Some(h) = setup.for_controller("cpuset") {
        let own = h.dir_of(&h.own);
        let (c, m) = if h.v2 {
            ("cpuset.cpus.effective", "cpuset.mems.effective")
        } else {
            ("cpuset.effective_cpus", "cpuset.effective_mems")
        };
        cpus = read_list(&own.join(c).to_string_lossy()).filter(|l| !l.0.is_empty()).unwrap_or(cpus);
        mems = read_list(&own.join(m).to_string_lossy()).filter(|l| !l.0.is_empty()).unwrap_or(mems);
    }
    limits.check_host(online.0.len().max(1), &cpus, &mems)
}

fn read_list(path: &str) -> Option<IdList> {
    IdList::parse_kernel(&std::fs::read_to_string(path).ok()?).ok()
}

/// Fill in each device's numbers: stat(2) the path, refuse what is not a block device, and use
/// the whole disk for a partition (blkio throttles and io.max take disks only: ENODEV).
fn resolve_devices(limits: &mut Limits) -> anyhow::Result<()> {
    for d in limits.devices_mut() {
        let st = nix::sys::stat::stat(d.path.as_str()).map_err(|e| anyhow::anyhow!("{}: {}", d.path, e.desc()))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFBLK {
            anyhow::bail!("{} is not a block device", d.path);
        }
        let (major, minor) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
        (d.major, d.minor) = whole_disk(major, minor).unwrap_or((major, minor));
        if (d.major, d.minor) != (major, minor) {
            trace::note(format!("{} is a partition: limiting its disk {}", d.path, d.dev()));
        }
    }
    Ok(())
}

/// /sys/dev/block/MAJ:MIN of a partition has a `partition` file and sits inside its disk's directory.
fn whole_disk(major: u32, minor: u32) -> Option<(u32, u32)> {
    let sys = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    if !sys.join("partition").exists() {
        return None;
    }
    let dev = std::fs::read_to_string(sys.parent()?.join("dev")).ok()?;
    let (a, b) = dev.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_names_per_version() {
        assert_eq!(v2_name("blkio", true).as_deref(), Some("io"));
        assert_eq!(v2_name("cpuacct", true), None);
        assert_eq!(v2_name("freezer", false).as_deref(), Some("freezer"));
        assert_eq!(v2_name("io", false).as_deref(), Some("blkio"));
    }

    #[test]
    fn the_root_disk_is_its_own_disk() {
        // vda or loop devices are whole disks: no parent to resolve to.
        assert_eq!(whole_disk(7, 0), None);
    }
}
