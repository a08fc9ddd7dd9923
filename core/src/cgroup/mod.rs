//! cgroups: detect v1 / v2 / hybrid, one `Limits` model in Docker's terms, a plan per version,
//! one applier, and a group's life (create, join, kill, remove). See cgroups(7) and the kernel's
//! Documentation/admin-guide/cgroup-v1/*.rst and cgroup-v2.rst.
//!
//! Shape (STYLE.md "a plan before any write"): [`detect`] gives a [`Setup`] (which controller is
//! on which hierarchy); [`limits`] checks Docker's values; [`v1`] and [`v2`] each turn them into a
//! pure list of [`plan::Write`]s; [`plan::apply`] performs it through `trace`; [`lifecycle`]
//! creates, joins, kills and removes. Rules that bite:
//! - v2's no-internal-processes rule: a non-root group that holds processes cannot enable
//!   controllers for its children, so groups are leaves and parents hold no processes.
//! - v2 controllers must be enabled top-down in each ancestor's `cgroup.subtree_control` before a
//!   child has their files.
//! - a new v1 cpuset group starts with empty `cpuset.cpus`/`cpuset.mems` and refuses members
//!   until they are filled (ENOSPC), so they are copied from the parent first.
//! - rmdir fails with EBUSY while a member (even one just killed) is still being torn down.

pub mod delegate;
pub mod detect;
pub mod devices;
pub mod files;
pub mod group;
pub mod host;
pub mod lifecycle;
pub mod limits;
pub mod plan;
pub mod v1;
pub mod v2;

pub use detect::{Hierarchy, Layout, Setup};
pub use group::{at_path, list, list_all, locate, parent_dirs, placements, Group, Place, Placement};
pub use limits::{DeviceLimit, Limits};

/// The kernel's file names, spelled as the kernel spells them.
pub const CGROUP_PROCS: &str = "cgroup.procs";
/// v1: the group's threads; a write moves one thread.
pub const TASKS: &str = "tasks";
pub const SUBTREE_CONTROL: &str = "cgroup.subtree_control";
pub const CONTROLLERS: &str = "cgroup.controllers";

/// The parent directory name groups go under by default (DESIGN.md "Where groups go").
pub const DEFAULT_PARENT: &str = "isolab";
/// The longest name accepted: the kernel's NAME_MAX for a directory name. Engines' names are
/// long: podman's group for a container is `libpod-` and a 64-digit id (71 characters).
pub const NAME_MAX: usize = 255;

/// The other name of a controller: v1's `blkio` is v2's `io`.
pub fn alias(controller: &str) -> &str {
    match controller {
        "blkio" => "io",
        "io" => "blkio",
        other => other,
    }
}

/// A controller's name on a hierarchy of this version: v2 calls `blkio` `io` and has no
/// `cpuacct` or `freezer` (cpu.stat and cgroup.freeze are in every group); v1 calls `io` `blkio`.
pub fn name_on(controller: &str, v2: bool) -> Option<&str> {
    match (controller, v2) {
        ("cpuacct" | "freezer" | "devices", true) => None,
        ("blkio", true) | ("io", false) => Some(alias(controller)),
        (c, _) => Some(c),
    }
}

/// A group name is its identity for every tool: `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 255 bytes.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    let shown = name.escape_debug();
    let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if name.is_empty() {
        anyhow::bail!("invalid name \"\": a group needs a name");
    }
    if name.len() > NAME_MAX {
        anyhow::bail!("invalid name \"{shown}\": longer than {NAME_MAX} characters");
    }
    if !first_ok || !rest_ok {
        anyhow::bail!("invalid name \"{shown}\": use letters, digits, '_', '.', '-', starting with a letter or digit");
    }
    Ok(())
}

/// A `--cgroup-parent` path: components without `.`/`..`, newlines or NUL; absolute or relative.
pub fn validate_parent(path: &str) -> anyhow::Result<()> {
    let shown = path.escape_debug();
    if path.is_empty() || path.contains(['\n', '\0']) {
        anyhow::bail!("invalid cgroup parent \"{shown}\"");
    }
    if path.split('/').any(|c| c == "." || c == "..") {
        anyhow::bail!("invalid cgroup parent \"{shown}\": '.' and '..' are not allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_names_per_version() {
        assert_eq!(name_on("blkio", true), Some("io"));
        assert_eq!(name_on("cpuacct", true), None);
        assert_eq!(name_on("freezer", false), Some("freezer"));
        assert_eq!(name_on("io", false), Some("blkio"));
        assert_eq!(name_on("memory", true), Some("memory"));
    }

    #[test]
    fn names() {
        for ok in ["web", "cgexec-42", "a", "A.b_c-d", &"x".repeat(255)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "../x", "a/b", "a\nb", ".hidden", "-x", "_x", "a b", "é", &"x".repeat(256)] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
        let msg = validate_name("a\nb").unwrap_err().to_string();
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn parents() {
        for ok in ["/docker", "isolab", "a/b", "/"] {
            assert!(validate_parent(ok).is_ok(), "{ok}");
        }
        for bad in ["", "../up", "a/../b", "a\nb", "./a"] {
            assert!(validate_parent(bad).is_err(), "{bad:?} accepted");
        }
    }
}
