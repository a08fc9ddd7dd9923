//! The target's confinement, given to the command as `docker exec` gives a container's to what
//! it runs: the target's bounding, inheritable and ambient capability sets, its no_new_privs and
//! its seccomp filters. Read from outside before the first setns, applied in the process that
//! execs. `--privileged` leaves it all out (then the command has nsenter-lite's capabilities and
//! no filter, as with util-linux nsenter).
//!
//! Capabilities: the bounding, inheritable and ambient sets are the target's, as /proc/PID/status
//! shows them. Effective and permitted are what execve makes of those, as for docker exec: a root
//! command gets bounding | inheritable, another uid the ambient set (capabilities(7)). A set the
//! target changed for itself at run time (a daemon that dropped what it does not need) is its own
//! business, and execve would recompute it for a root command anyway.
//!
//! seccomp: the target's filters are copied exactly where the kernel lets them be read, else
//! derived.
//! - Copied: PTRACE_SECCOMP_GET_FILTER (core's `seccomp::copy`) gives the very programs the
//!   target runs under, whatever profile made them (`nsexec --security-opt seccomp=FILE`, runc,
//!   podman). The kernel gives them only to CAP_SYS_ADMIN in the initial user namespace, and only
//!   from a target in a ptrace-stop of ours: nsenter-lite seizes the target, interrupts it for the
//!   three or four ptrace calls the reads take (tens of microseconds), and detaches. That is
//!   acceptable where it is allowed at all: root may stop any process anyway, nothing is delivered
//!   to the target (a signal that arrives meanwhile is handed back), a system call it sleeps in is
//!   restarted by the kernel, and its parent sees no stop. It is what checkpointing does (CRIU).
//! - Derived: everyone else (a rootless container's owner, a caller that runs under a filter), or
//!   a target that cannot be seized (traced by strace or gdb already): Docker's default profile
//!   compiled for the target's bounding set, which is what `nsexec --rootfs` loads unless told
//!   otherwise. A container made with another profile then gets the default one: `--explain` says
//!   which way the filter came.
//!
//! Order, by the kernel's rules (nsexec's too): with no_new_privs the filters go in last, after
//! it; without it, first, while we still hold CAP_SYS_ADMIN (in the joined user namespace), and
//! they must then allow what follows (setgroups, setresuid, capset, prctl, the pty's ioctls,
//! execve): a filter the target lives under does. The bounding set is limited before the ids
//! change (PR_CAPBSET_DROP needs CAP_SETPCAP).

use anyhow::Context as _;

use isolab_core::capabilities::{self, Mask};
use isolab_core::procfs::{self, PinnedProcess};
use isolab_core::seccomp::{self, copy::Copied};
use isolab_core::trace;

/// Where the filters come from.
#[derive(Debug)]
enum Filters {
    None,
    /// The target's own, oldest first.
    Copied(Vec<Copied>),
    /// Docker's default for the target's bounding set.
    Derived(seccomp::Filter),
}

/// The target's confinement, read before the join.
#[derive(Debug)]
pub struct Confinement {
    pid: i32,
    bounding: Mask,
    inheritable: Mask,
    ambient: Mask,
    no_new_privs: bool,
    filters: Filters,
}

/// Read the pinned target's confinement (the caller checks the target is still alive after).
pub fn read(process: &PinnedProcess) -> anyhow::Result<Confinement> {
    let pid = process.pid();
    let status = procfs::status(pid).with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let sets = status.caps.with_context(|| format!("/proc/{pid}/status shows no capability sets"))?;
    trace::note(format_args!("the confinement of process {pid} (--privileged: none): {}", sets.describe()));
    let filters = match status.seccomp {
        None | Some(0) => Filters::None,
        Some(2) => filters_of(process, sets.bounding, status.seccomp_filters)?,
        Some(mode) => anyhow::bail!(
            "process {pid} runs in seccomp mode {mode} (strict): no command can run under it (--privileged to run without)"
        ),
    };
    Ok(Confinement {
        pid,
        bounding: sets.bounding,
        inheritable: sets.inheritable,
        ambient: sets.ambient,
        no_new_privs: status.no_new_privs,
        filters,
    })
}

fn filters_of(process: &PinnedProcess, bounding: Mask, count: Option<u32>) -> anyhow::Result<Filters> {
    let pid = process.pid();
    let why = match seccomp::copy::why_unreadable() {
        None => match seccomp::copy::read_filters(pid) {
            Ok(filters) => {
                let sizes: Vec<String> = filters.iter().map(|f| f.program.len().to_string()).collect();
                trace::note(format_args!(
                    "seccomp: process {pid}'s {} filter(s) copied as they are ({} instructions)",
                    filters.len(),
                    sizes.join(" + ")
                ));
                return Ok(Filters::Copied(filters));
            }
            // Traced already or ptrace closed (Yama: EPERM, the target untouched), a kernel
            // without checkpoint/restore (EIO): derived. A target that is gone is an error.
            Err(e) if process.is_alive() => format!("{e:#}"),
            Err(e) => return Err(e),
        },
        Some(why) => why,
    };
    let names: Vec<String> = capabilities::set_of(bounding).iter().map(|c| c.to_string()).collect();
    let filter = seccomp::default_filter(&names)?;
    let stacked = count.filter(|&n| n > 1).map_or(String::new(), |n| format!(" (it has {n} stacked)"));
    trace::note(format_args!(
        "seccomp: process {pid}'s filters cannot be read{stacked} ({why}): derived as Docker's default profile for its bounding set"
    ));
    Ok(Filters::Derived(filter))
}

impl Confinement {
    /// Before the ids change: the filters (without no_new_privs), then the bounding set, and
    /// PR_SET_KEEPCAPS when an ambient set must survive a change to another uid.
    pub fn before_ids(&self) -> anyhow::Result<()> {
        if !self.no_new_privs {
            self.load_filters()?;
        }
        capabilities::limit_bounding(self.bounding)?;
        if self.ambient != 0 {
            isolab_core::creds::keep_capabilities()?;
        }
        Ok(())
    }

    /// After the ids change: the inheritable and ambient sets, no_new_privs and (with it) the filters.
    pub fn after_ids(&self) -> anyhow::Result<()> {
        let (effective, permitted, inheritable) = capabilities::capget()?;
        if inheritable != self.inheritable {
            capabilities::capset(effective, permitted, self.inheritable)?;
        }
        if self.ambient != 0 {
            capabilities::set_ambient(self.ambient)?;
        }
        if self.no_new_privs {
            isolab_core::creds::set_no_new_privs()?;
            self.load_filters()?;
        }
        Ok(())
    }

    fn load_filters(&self) -> anyhow::Result<()> {
        match &self.filters {
            Filters::None => Ok(()),
            Filters::Copied(filters) => seccomp::copy::load(filters, self.pid),
            Filters::Derived(filter) => seccomp::load(filter),
        }
    }
}
