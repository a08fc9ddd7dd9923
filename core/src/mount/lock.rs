//! Read-only that stays read-only in a user namespace: the kernel's locked mount flags. See
//! mount_namespaces(7) ("Restrictions on mount namespaces"), user_namespaces(7).
//!
//! Rules that bite:
//! - Root of a user namespace holds CAP_SYS_ADMIN over the mount namespaces that namespace owns,
//!   so it may `mount -o remount,rw` any mount made there: a `:ro` bind, a `--read-only` root,
//!   a mask over /proc/kcore. Dropping capabilities and seccomp stop that; the kernel's own rule
//!   stops it even with both gone (`--privileged`, `--cap-add SYS_ADMIN`).
//! - The kernel's rule: when a mount namespace is copied into one owned by a less privileged
//!   user namespace, every mount's read-only, nosuid, nodev, noexec and atime flags are locked
//!   (MNT_LOCK_*) and the mounts cannot be unmounted one by one (MNT_LOCKED).
//! - So, as bubblewrap does, the world is set up in the first user and mount namespace, then
//!   the process enters a nested pair. The nested user namespace maps every id one to one, so
//!   nothing else changes; its maps must be written by a process of the parent namespace (a
//!   process may write only a one-id map for itself), so a helper is forked first.
//! - /proc/PID of a non-dumpable process (nsexec makes the payload's so) belongs to the initial
//!   namespace's root, out of the helper's reach: as runc does, the process is made dumpable
//!   for the time of the map writes, and non-dumpable again.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::process::{self, ForkResult, Gate};
use crate::trace::{self, Prctl, Step};

/// The identity map of every range the current user namespace maps (`/proc/self/uid_map`
/// lines `INSIDE OUTSIDE COUNT` become `INSIDE INSIDE COUNT`).
pub fn identity(map: &str) -> String {
    map.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3).then(|| format!("{} {} {}\n", f[0], f[0], f[2]))
        })
        .collect()
}

/// Enter a nested user and mount namespace, with every id mapped to itself: the mounts made so
/// far keep their flags for good.
pub fn lock_mounts() -> anyhow::Result<()> {
    trace::note(
        "locking the mounts: a nested user and mount namespace (the kernel locks the flags of mounts it copies)",
    );
    let uid_map = identity(&std::fs::read_to_string("/proc/self/uid_map").context("cannot read /proc/self/uid_map")?);
    let gid_map = identity(&std::fs::read_to_string("/proc/self/gid_map").context("cannot read /proc/self/gid_map")?);
    let me = process::Pid::this();
    let was_dumpable = nix::sys::prctl::get_dumpable().unwrap_or(true);
    if !was_dumpable {
        trace::run(Step::Prctl(Prctl::SetDumpable(true)), || nix::sys::prctl::set_dumpable(true))?;
    }
    let (gate, key) = process::gate()?;
    let helper = match process::fork()? {
        ForkResult::Child => {
            drop(key);
            let code = match write_maps(gate, PathBuf::from(format!("/proc/{me}")), &uid_map, &gid_map) {
                Ok(()) => 0,
                Err(e) => crate::exit::report(&e),
            };
            process::exit_now(code)
        }
        ForkResult::Parent { child } => child,
    };
    drop(gate);
    let unshared = crate::ns::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS);
    // Release the helper either way (a key dropped unused tells it to stop).
    if unshared.is_ok() {
        key.open().context("releasing the map helper")?;
    } else {
        drop(key);
    }
    let status = process::wait_for(helper)?;
    if !was_dumpable {
        trace::run(Step::Prctl(Prctl::SetDumpable(false)), || nix::sys::prctl::set_dumpable(false))?;
    }
    unshared?;
    if process::status_code(status) != 0 {
        anyhow::bail!("the nested user namespace's maps could not be written (see above)");
    }
    Ok(())
}

fn write_maps(go: Gate, proc_dir: PathBuf, uid_map: &str, gid_map: &str) -> anyhow::Result<()> {
    if !go.wait()? {
        // The caller failed to unshare and reports it itself.
        process::exit_now(0);
    }
    // An id the parent namespace does not map cannot be mapped here either: no map, no write.
    for (file, map) in [("uid_map", uid_map), ("gid_map", gid_map)] {
        if !map.is_empty() {
            trace::write_file(proc_dir.join(file), map)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_maps_keep_the_inside_ids() {
        assert_eq!(identity("         0     100000      65536\n"), "0 0 65536\n");
        assert_eq!(identity("0 1000 1\n1 100000 65535\n"), "0 0 1\n1 1 65535\n");
        assert_eq!(identity(""), "");
    }
}
