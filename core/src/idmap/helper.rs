//! Id ranges for an unprivileged caller, written by the setuid helper the system has, as
//! util-linux `unshare --map-auto` and podman do. See newuidmap(1), newgidmap(1), subuid(5),
//! user_namespaces(7).
//!
//! Rules that bite:
//! - Without CAP_SETUID (CAP_SETGID) over the parent user namespace a process may map only its
//!   own uid (gid), count 1. The ranges /etc/subuid and /etc/subgid grant a user are written by a
//!   privileged helper that checks them: an installed setuid-root `idmap` first, else shadow's
//!   `newuidmap`/`newgidmap` (Debian's package uidmap), looked up on PATH.
//! - The helper must run in the target's parent user namespace, as the target's owner: it is
//!   started by the process that stayed outside, never from inside the new namespace.
//! - setgroups is the helper's to decide: `allow` when the gid range comes from /etc/subgid,
//!   `deny` otherwise (CVE-2018-7169). An explicit `deny` is written first by the target's owner,
//!   which holds CAP_SYS_ADMIN over the new namespace; newgidmap has no flag for it.
//! - A refusal is one line: what was asked, which file grants ranges, and the helper's own words.

use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::bail;
use caps::Capability;

use super::privileged::{self, Caller};
use super::{write::write_setgroups, Extent, Setgroups, Which};
use crate::creds;
use crate::trace::{self, Step};

/// The setuid helper that writes the maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetuidHelper {
    /// A setuid-root `idmap`: both maps and setgroups in one run.
    Idmap(PathBuf),
    /// shadow's `newuidmap` and `newgidmap` (each only when that map is asked).
    Shadow { uid: Option<PathBuf>, gid: Option<PathBuf> },
}

/// Whether this process lacks the rights to write `extents` of `which` itself: a map beyond its
/// own single id, without CAP_SETUID (CAP_SETGID).
pub fn needed_for(which: Which, extents: &[Extent]) -> bool {
    let (cap, own) = match which {
        Which::Uid => (Capability::CAP_SETUID, creds::effective_ids().0),
        Which::Gid => (Capability::CAP_SETGID, creds::effective_ids().1),
    };
    let own_only = matches!(extents, [e] if e.outside == own && e.count == 1);
    !extents.is_empty() && !own_only && !privileged::holds(cap)
}

/// Whether either map needs a helper.
pub fn needed(uid: &[Extent], gid: &[Extent]) -> bool {
    needed_for(Which::Uid, uid) || needed_for(Which::Gid, gid)
}

/// The helper on PATH for these maps: a setuid-root idmap, else newuidmap/newgidmap. None found
/// is one line naming the file that grants ranges and the helper that is missing.
pub fn find(uid: &[Extent], gid: &[Extent]) -> anyhow::Result<SetuidHelper> {
    find_on(&std::env::var_os("PATH").unwrap_or_default(), uid, gid)
}

/// [`find`] in the directories of `path` (a PATH value; relative entries are ignored).
pub fn find_on(path: &OsStr, uid: &[Extent], gid: &[Extent]) -> anyhow::Result<SetuidHelper> {
    let dirs: Vec<PathBuf> = std::env::split_paths(path).filter(|d| d.is_absolute()).collect();
    if let Some(idmap) = dirs.iter().map(|d| d.join("idmap")).find(|p| setuid_root(p)) {
        trace::note(format_args!("a setuid-root idmap writes the maps: {}", idmap.display()));
        return Ok(SetuidHelper::Idmap(idmap));
    }
    let lookup = |name: &str| dirs.iter().map(|d| d.join(name)).find(|p| executable(p));
    let mut missing = Vec::new();
    let mut pick = |which: Which, extents: &[Extent]| {
        if extents.is_empty() {
            return None;
        }
        let name = format!("new{}map", which.name());
        let found = lookup(&name);
        if found.is_none() {
            missing.push((which, name));
        }
        found
    };
    let helper = SetuidHelper::Shadow { uid: pick(Which::Uid, uid), gid: pick(Which::Gid, gid) };
    if let Some((which, name)) = missing.first() {
        let (uid, _) = creds::effective_ids();
        bail!(
            "mapping the {} ranges {} grants needs a setuid helper when not root (uid {uid}): no setuid-root idmap and no {name} on PATH (install package uidmap, or idmap with install -m 4755)",
            which.name(),
            which.subid_file()
        );
    }
    if let SetuidHelper::Shadow { uid: Some(p), .. } | SetuidHelper::Shadow { gid: Some(p), .. } = &helper {
        trace::note(format_args!("shadow's helpers write the maps ({})", p.parent().unwrap_or(p).display()));
    }
    Ok(helper)
}

/// A root-owned setuid file we may execute, on a file system that honours setuid bits.
fn setuid_root(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else { return false };
    let honoured =
        nix::sys::statvfs::statvfs(path).is_ok_and(|st| !st.flags().contains(nix::sys::statvfs::FsFlags::ST_NOSUID));
    meta.is_file() && meta.uid() == 0 && meta.mode() & libc::S_ISUID != 0 && honoured && executable(path)
}

fn executable(path: &Path) -> bool {
    let ok = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    ok && nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok()
}

impl SetuidHelper {
    /// Write the maps of process `pid` (a child user namespace of ours, owned by us): setgroups
    /// `deny` first if asked, then the helper(s). Its refusal comes back as one line.
    pub fn write(&self, pid: i32, uid: &[Extent], gid: &[Extent], setgroups: Option<Setgroups>) -> anyhow::Result<()> {
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        match self {
            SetuidHelper::Idmap(path) => {
                let mut args = vec![pid.to_string()];
                for (flag, map) in [("--uid", uid), ("--gid", gid)] {
                    for e in map {
                        args.extend([flag.to_string(), format!("{}:{}:{}", e.inside, e.outside, e.count)]);
                    }
                }
                if let Some(value) = setgroups {
                    args.extend(["--setgroups".to_string(), value.to_string()]);
                }
                let asked = [(Which::Uid, uid), (Which::Gid, gid)];
                spawn(path, &args).map_err(|why| refusal(&asked, why))
            }
            SetuidHelper::Shadow { uid: uid_helper, gid: gid_helper } => {
                if setgroups == Some(Setgroups::Deny) {
                    write_setgroups(&proc_dir, Setgroups::Deny)?;
                }
                for (which, helper, map) in [(Which::Uid, uid_helper, uid), (Which::Gid, gid_helper, gid)] {
                    if let (Some(path), false) = (helper, map.is_empty()) {
                        let mut args = vec![pid.to_string()];
                        args.extend(map.iter().flat_map(|e| [e.inside, e.outside, e.count].map(|n| n.to_string())));
                        spawn(path, &args).map_err(|why| refusal(&[(which, map)], why))?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Run the helper, its stderr captured. Err: its last line (or its exit status). Under
/// `--explain` the helper's own trace lines (ISOLAB_EXPLAIN is inherited) are passed on.
fn spawn(path: &Path, args: &[String]) -> Result<(), String> {
    let name = path.file_name().unwrap_or(OsStr::new("helper")).to_string_lossy().into_owned();
    let mut argv = vec![name.clone()];
    argv.extend(args.iter().cloned());
    trace::explain(&Step::Spawn { path: path.to_path_buf(), argv }, None);
    let out = std::process::Command::new(path)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {}", path.display(), crate::process::plain_io(&e)))?;
    let text = String::from_utf8_lossy(&out.stderr);
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = if out.status.success() { None } else { lines.pop() };
    if trace::enabled() {
        lines.iter().for_each(|l| eprintln!("{l}"));
    }
    match (out.status.success(), last) {
        (true, _) => Ok(()),
        (false, Some(line)) => Err(line.trim().to_string()),
        (false, None) => Err(format!("{name} failed ({})", out.status)),
    }
}

/// The one line for a helper's refusal: our own reading of the grants when they do not cover
/// the request (it names the file), else what was asked; the helper's words in parentheses.
fn refusal(asked: &[(Which, &[Extent])], why: String) -> anyhow::Error {
    let caller = Caller::current();
    for (which, map) in asked.iter().filter(|(_, m)| !m.is_empty()) {
        if let Err(not_granted) = privileged::check_grants(&caller, *which, map) {
            let not_granted = format!("{not_granted:#}");
            return anyhow::anyhow!("{} ({why})", not_granted.trim_end_matches(": nothing was mapped"));
        }
    }
    let shown: Vec<String> =
        asked.iter().flat_map(|(which, map)| map.iter().map(move |e| format!("{} {e}", which.name()))).collect();
    anyhow::anyhow!("the setuid helper refused to map {}: {why}", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_single_id_needs_no_helper() {
        let (uid, gid) = creds::effective_ids();
        let own = |id| [Extent { inside: 0, outside: id, count: 1 }];
        assert!(!needed(&own(uid), &own(gid)));
        assert!(!needed(&[], &[]));
        let range = [Extent { inside: 0, outside: 4_000_000, count: 65536 }];
        // Root (CAP_SETUID) writes ranges itself; anyone else needs the helper.
        assert_eq!(needed(&range, &[]), !privileged::holds(Capability::CAP_SETUID));
    }

    #[test]
    fn a_missing_helper_names_the_file_and_the_helper() {
        let range = [Extent { inside: 0, outside: 4_000_000, count: 10 }];
        let msg = find_on(OsStr::new("/nonexistent-isolab"), &[], &range).unwrap_err().to_string();
        assert!(msg.contains("/etc/subgid") && msg.contains("no newgidmap on PATH"), "{msg}");
        // Debian's uidmap puts both in /usr/bin; this host's /usr/bin/idmap, if any, is not ours.
        if Path::new("/usr/bin/newuidmap").exists() && !setuid_root(Path::new("/usr/bin/idmap")) {
            let found = find_on(OsStr::new("relative:/usr/bin"), &range, &[]).unwrap();
            assert_eq!(found, SetuidHelper::Shadow { uid: Some("/usr/bin/newuidmap".into()), gid: None });
        }
    }
}
