//! The writes: /proc/PID/setgroups, then uid_map / gid_map, each in one write(2).
//!
//! Before writing, the kernel's refusals are predicted from what /proc shows, so the error says
//! why in plain words instead of a bare EPERM: the map is already written (write-once), the
//! target is not in a child user namespace of the writer, an unprivileged writer maps more than
//! its own id or has not denied setgroups, or the target has exited.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::bail;
use nix::errno::Errno;

use super::{parse, Extent, Setgroups, Which};
use crate::trace::{self, Step};

/// Set /proc/PID/setgroups to `value`, reading it first: an equal value is not rewritten, and
/// `deny` is never asked to become `allow` (the kernel refuses; the error says why).
pub fn write_setgroups(proc_dir: &Path, value: Setgroups) -> anyhow::Result<()> {
    let path = proc_dir.join("setgroups");
    let current = trace::read_file(&path).map_err(|e| gone_or(proc_dir, &path, e))?;
    let current = current.trim();
    if current == value.as_str() {
        trace::note(format!("{} is already '{value}'", path.display()));
        return Ok(());
    }
    if current == Setgroups::Deny.as_str() {
        bail!(
            "{} is already 'deny': setgroups can never go back to 'allow' in that namespace",
            shown(proc_dir, "setgroups")
        );
    }
    trace::write_file(&path, value.as_str())
}

/// Validate `extents`, check that the kernel will take them from this writer, and write them to
/// /proc/PID/uid_map or gid_map in one write(2).
pub fn write_map(proc_dir: &Path, which: Which, extents: &[Extent]) -> anyhow::Result<()> {
    parse::validate(which, extents)?;
    check_unwritten(proc_dir, which)?;
    check_writer_rights(proc_dir, which, extents)?;
    let path = proc_dir.join(which.map_file());
    trace::write_file(&path, parse::render(extents)).map_err(|err| {
        if proc_dir.join("status").exists() {
            err
        } else {
            exited(proc_dir)
        }
    })
}

/// Refuse before writing anything when the kernel would: the target has exited, is not in a
/// child user namespace of ours, or its map is already written (maps are write-once).
pub fn check_unwritten(proc_dir: &Path, which: Which) -> anyhow::Result<()> {
    check_child_namespace(proc_dir)?;
    let path = proc_dir.join(which.map_file());
    let existing = trace::read_file(&path).map_err(|e| gone_or(proc_dir, &path, e))?;
    if !existing.trim().is_empty() {
        let existing = parse::parse_proc_map(&existing).map(|m| parse::render(&m)).unwrap_or(existing);
        bail!(
            "cannot write {}: a map can be written only once per process, and it already holds '{}'",
            shown(proc_dir, which.map_file()),
            crate::exit::one_line(&existing)
        );
    }
    Ok(())
}

/// The kernel lets only the target's own user namespace or its parent write the maps; the
/// former's maps are already written, so in practice the target must be in a child of ours.
fn check_child_namespace(proc_dir: &Path) -> anyhow::Result<()> {
    let ns_path = proc_dir.join("ns/user");
    let target = match File::open(&ns_path) {
        Ok(f) => f,
        Err(e) if gone(&e) => return Err(exited(proc_dir)),
        // Not allowed to inspect it (ptrace rules): let the kernel judge the write itself.
        Err(_) => return Ok(()),
    };
    let ours = std::fs::metadata("/proc/self/ns/user")?;
    let same = |m: &std::fs::Metadata| m.dev() == ours.dev() && m.ino() == ours.ino();
    if same(&target.metadata()?) {
        bail!(
            "{} is in {}'s own user namespace, whose maps were fixed when it was made: map a process that made a new one (nsexec --user, unshare --user)",
            describe(proc_dir),
            crate::exit::tool()
        );
    }
    match namespace_parent(&target) {
        Ok(parent) if same(&parent.metadata()?) => Ok(()),
        Ok(_) | Err(Errno::EPERM) => bail!(
            "{} is not in a child of {}'s user namespace (it is nested deeper, or elsewhere): only a process in the parent namespace can write its maps",
            describe(proc_dir),
            crate::exit::tool()
        ),
        // An old kernel without NS_GET_PARENT: the write will tell.
        Err(_) => Ok(()),
    }
}

/// ioctl(NS_GET_PARENT): the user namespace that owns `ns`. See ioctl_ns(2).
fn namespace_parent(ns: &File) -> nix::Result<File> {
    // SAFETY: NS_GET_PARENT takes no argument and returns a new descriptor, which we own.
    let fd = Errno::result(unsafe { libc::ioctl(ns.as_raw_fd(), libc::NS_GET_PARENT) })?;
    // SAFETY: the ioctl just returned this descriptor to us, open and unowned.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// A writer without CAP_SETUID/CAP_SETGID may map only its own effective id, once, and for
/// gid_map only after setgroups is `deny` (user_namespaces(7), CVE-2014-8989).
fn check_writer_rights(proc_dir: &Path, which: Which, extents: &[Extent]) -> anyhow::Result<()> {
    let (euid, egid) = crate::creds::effective_ids();
    let (cap, own) = match which {
        Which::Uid => (caps::Capability::CAP_SETUID, euid),
        Which::Gid => (caps::Capability::CAP_SETGID, egid),
    };
    if super::privileged::holds(cap) {
        return Ok(());
    }
    let name = which.name();
    if extents.len() != 1 || extents[0].count != 1 || extents[0].outside != own {
        bail!(
            "cannot write {}: without {cap} a process may map only its own {name} {own}, count 1 (asked: {}); run as root or install idmap setuid root to use {} ranges",
            shown(proc_dir, which.map_file()),
            extents.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", "),
            which.subid_file()
        );
    }
    if which == Which::Gid {
        let setgroups = trace::read_file(proc_dir.join("setgroups")).unwrap_or_default();
        if setgroups.trim() != Setgroups::Deny.as_str() {
            bail!(
                "cannot write {}: without CAP_SETGID the kernel takes gid_map only after {} is 'deny' (--setgroups deny)",
                shown(proc_dir, "gid_map"),
                shown(proc_dir, "setgroups")
            );
        }
    }
    Ok(())
}

/// ENOENT under /proc/PID, or ESRCH through a directory descriptor of a dead process.
fn gone(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ESRCH))
}

fn gone_or(proc_dir: &Path, path: &Path, e: std::io::Error) -> anyhow::Error {
    if gone(&e) {
        exited(proc_dir)
    } else {
        trace::failure(&Step::Read { path: path.to_path_buf() }, Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    }
}

fn exited(proc_dir: &Path) -> anyhow::Error {
    anyhow::anyhow!("{} has exited: nothing was mapped", describe(proc_dir))
}

/// The /proc directory as a person knows it: `/proc/self/fd/N` (a pinned directory) reads back
/// as `/proc/PID`.
fn real_dir(proc_dir: &Path) -> PathBuf {
    if proc_dir.starts_with("/proc/self/fd") {
        if let Ok(target) = std::fs::read_link(proc_dir) {
            // The link of a directory whose process has exited reads "/proc/PID (deleted)".
            let shown = target.to_string_lossy();
            return PathBuf::from(shown.trim_end_matches(" (deleted)"));
        }
    }
    proc_dir.to_path_buf()
}

/// `process 4242`, for messages.
pub fn describe(proc_dir: &Path) -> String {
    let dir = real_dir(proc_dir);
    match dir.file_name().and_then(|n| n.to_str()) {
        Some(pid) if pid.bytes().all(|b| b.is_ascii_digit()) => format!("process {pid}"),
        _ => format!("the process of {}", dir.display()),
    }
}

/// `/proc/4242/uid_map`, for messages.
fn shown(proc_dir: &Path, file: &str) -> String {
    real_dir(proc_dir).join(file).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_process() {
        assert_eq!(describe(Path::new("/proc/4242")), "process 4242");
        assert_eq!(shown(Path::new("/proc/4242"), "uid_map"), "/proc/4242/uid_map");
    }

    // The caller's own process is in the caller's own namespace: never writable, and said so.
    #[test]
    fn own_namespace_is_refused_before_any_write() {
        let msg = write_map(Path::new("/proc/self"), Which::Uid, &[Extent { inside: 0, outside: 0, count: 1 }])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("own user namespace"), "{msg}");
    }

    #[test]
    fn an_exited_process_is_named() {
        let msg = write_map(Path::new("/proc/2147483646"), Which::Uid, &[Extent { inside: 0, outside: 0, count: 1 }])
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "process 2147483646 has exited: nothing was mapped");
    }
}
