//! User-namespace id maps: parse, validate, and write /proc/PID/{uid_map,gid_map,setgroups}.
//! See user_namespaces(7), newuidmap(1), subuid(5).
//!
//! A new user namespace starts with no ids mapped: its processes run as the overflow id (65534)
//! until someone writes its maps. Rules that bite:
//! - Each map is write-once and must arrive in ONE write(2): at most 340 lines, under 4 KiB,
//!   "inside outside count" per line, no range past 2^32-1 and no overlap, inside or outside.
//! - The writer must be in the target's user namespace or its parent; a writer without
//!   CAP_SETUID/CAP_SETGID over the parent may map only its own euid/egid, count 1, and for
//!   gid_map only after /proc/PID/setgroups says `deny` (CVE-2014-8989). `deny` is one-way.
//! - Mapping host uid 0 needs CAP_SETFCAP in the parent (kernel 5.12+), so a namespace cannot
//!   grant file capabilities that would be honoured outside it.
//!
//! Submodules: [`parse`] (the map syntaxes and the kernel's validity rules, pure),
//! [`subid`] (/etc/subuid, /etc/subgid), [`write`](mod@write) (the writes, with explained refusals),
//! [`privileged`] (setuid mode, as newuidmap), [`helper`] (the setuid helper an unprivileged
//! caller's ranges are written by). The process whose maps are written is pinned by
//! [`crate::procfs`]; the idmap tool's flow is the idmap crate's.

pub mod helper;
pub mod parse;
pub mod privileged;
pub mod subid;
pub mod write;

pub use parse::{parse_extent, parse_proc_map, parse_triple, render, validate};
pub use subid::{auto_map, subid_ranges};
pub use write::{write_map, write_setgroups};

use std::fmt;

/// One line of a map: ids `inside..inside+count` in the namespace are `outside..outside+count`
/// in its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// Which of the two maps: the kernel and shadow name their files after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Uid,
    Gid,
}

impl Which {
    /// "uid" or "gid", as messages say it.
    pub fn name(self) -> &'static str {
        match self {
            Which::Uid => "uid",
            Which::Gid => "gid",
        }
    }

    /// The file under /proc/PID.
    pub fn map_file(self) -> &'static str {
        match self {
            Which::Uid => "uid_map",
            Which::Gid => "gid_map",
        }
    }

    /// The file that grants subordinate ids, subuid(5) / subgid(5).
    pub fn subid_file(self) -> &'static str {
        match self {
            Which::Uid => "/etc/subuid",
            Which::Gid => "/etc/subgid",
        }
    }
}

/// The value of /proc/PID/setgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setgroups {
    Allow,
    Deny,
}

impl Setgroups {
    /// `allow` or `deny`, as /proc/PID/setgroups and the `--setgroups` flags spell them.
    pub fn parse(s: &str) -> anyhow::Result<Setgroups> {
        match s {
            "allow" => Ok(Setgroups::Allow),
            "deny" => Ok(Setgroups::Deny),
            _ => anyhow::bail!("invalid --setgroups '{s}': expected allow or deny"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Setgroups::Allow => "allow",
            Setgroups::Deny => "deny",
        }
    }
}

impl fmt::Display for Setgroups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `first-last` of the ids `start..start+count`, inclusive, as shadow and the article print them.
pub fn span(start: u32, count: u32) -> String {
    let last = u64::from(start) + u64::from(count.max(1)) - 1;
    format!("{start}-{last}")
}

impl Extent {
    /// The ids the extent covers in the namespace.
    pub fn inside_span(&self) -> String {
        span(self.inside, self.count)
    }

    /// The ids the extent covers in the parent namespace.
    pub fn outside_span(&self) -> String {
        span(self.outside, self.count)
    }

    /// Whether the extent maps the parent's id 0 (mapping it needs CAP_SETFCAP).
    pub fn maps_outside_root(&self) -> bool {
        self.outside == 0
    }
}

impl fmt::Display for Extent {
    /// `0-65535 -> 100000-165535`: the words of error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.inside_span(), self.outside_span())
    }
}
