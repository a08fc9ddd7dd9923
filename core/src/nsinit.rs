//! Joining the owner's own container when its init cannot be read. See ptrace(2) "Ptrace access
//! mode checking", proc(5) /proc/PID/ns, /proc/PID/task/TID/children, pid_namespaces(7).
//!
//! `nsexec --init` stays as PID 1 of the container and makes itself non-dumpable, so that the
//! command cannot open /proc/1/exe and write through it to the nsexec binary on the host (runc
//! CVE-2019-5736): for a rootless container that binary is often the student's own, writable by
//! the very uid the container's root maps to. The kernel then lets only CAP_SYS_PTRACE over the
//! init's mm (the host's user namespace: it was exec'd there) read /proc/1/ns/* or setns(pidfd)
//! into it, so even the container's owner is refused.
//!
//! We keep the init closed and join its command instead: its first child, in the same PID
//! namespace (same depth of NSpid, parent the init). That process was exec'd inside the
//! container's user namespace, which its owner holds every capability in, so the owner may read
//! and join it; and it has the init's namespaces, since the init forks it after setting them up
//! (its time namespace is even the one made for children). What it changed since (a namespace it
//! unshared) is the container's own business, as a process of its own would be. Root reads the
//! init as before: nothing changes for it.

use std::path::PathBuf;

use crate::trace;

/// The process whose namespaces to join for target `pid`: `pid` itself when its namespaces can
/// be read, else the command of a non-dumpable namespace init (see the module's comment).
pub fn joinable(pid: i32) -> i32 {
    match std::fs::read_link(format!("/proc/{pid}/ns/user")) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
        _ => return pid,
    }
    let Some(depth) = init_depth(pid) else { return pid };
    match command_of(pid, depth) {
        Some(child) => {
            trace::note(format_args!(
                "process {pid} is PID 1 of its namespace and not dumpable (nsexec --init, CVE-2019-5736): joining its command {child}, which has its namespaces"
            ));
            child
        }
        None => pid,
    }
}

/// The PID namespace depth of `pid` when it is PID 1 of a namespace below ours.
fn init_depth(pid: i32) -> Option<usize> {
    let ids = nspids(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?);
    (ids.len() > 1 && ids.last() == Some(&1)).then_some(ids.len())
}

/// The oldest child of `init` in the same PID namespace whose namespaces we may read.
fn command_of(init: i32, depth: usize) -> Option<i32> {
    let children = std::fs::read_to_string(PathBuf::from(format!("/proc/{init}/task/{init}/children"))).ok()?;
    let mut found: Vec<(u64, i32)> = children
        .split_whitespace()
        .filter_map(|c| c.parse::<i32>().ok())
        .filter(|&c| {
            let same_ns = std::fs::read_to_string(format!("/proc/{c}/status")).is_ok_and(|s| nspids(&s).len() == depth);
            same_ns && std::fs::read_link(format!("/proc/{c}/ns/user")).is_ok()
        })
        .filter_map(|c| Some((crate::process::start_time(c).ok()?, c)))
        .collect();
    found.sort_unstable();
    found.first().map(|&(_, c)| c)
}

/// The `NSpid:` line of /proc/PID/status: the PID in each nested namespace, outermost first.
pub fn nspids(status: &str) -> Vec<i32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|l| l.split_whitespace().filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nspid_lists_every_level() {
        assert_eq!(nspids("Name:\tsh\nNSpid:\t4242\t7\t1\n"), vec![4242, 7, 1]);
        assert_eq!(nspids("NSpid:\t1\n"), vec![1]);
        assert!(nspids("Name:\tx\n").is_empty());
    }

    #[test]
    fn a_readable_target_is_itself() {
        let me = std::process::id() as i32;
        assert_eq!(joinable(me), me);
        assert_eq!(init_depth(me), None, "the test runner is no namespace init");
    }
}
