//! idmap installed setuid root (or with file capabilities), as shadow's newuidmap is.
//! See newuidmap(1), subuid(5), capabilities(7), PR_SET_DUMPABLE in prctl(2).
//!
//! When the real uid is not 0, the caller may map only what /etc/subuid and /etc/subgid grant it
//! (by name or by uid), plus its own single id, and only into a process it owns. Rules that bite:
//! - The kernel wants the writer's euid to own the target's user namespace (so it holds
//!   CAP_SYS_ADMIN there) AND CAP_SETUID/CAP_SETGID in the parent: so shadow keeps those two
//!   capabilities across seteuid(real uid), and so do we, with nothing else.
//! - Mapping host uid 0 also needs CAP_SETFCAP (kernel 5.12+); it is kept only for such a map.
//! - While privileged the process is not dumpable, so the caller cannot ptrace it or open
//!   /proc/PID/mem (bubblewrap CVE-2016-8659).
//! - A gid map with no range from /etc/subgid leaves setgroups `deny` (CVE-2018-7169).
//! - As newuidmap, the caller must have a passwd entry and run with its primary group from it
//!   (unless GRANT_AUX_GROUP_SUBIDS in /etc/login.defs), and the target must carry the caller's
//!   uid and gid.

use anyhow::bail;
use caps::{CapSet, Capability};
use nix::unistd::{geteuid, getgid, getuid, Uid};

use super::{subid::subid_ranges, Extent, Which};
use crate::trace::{self, Prctl, Step};

/// Who runs idmap: the real ids, which the grants are checked against.
#[derive(Debug, Clone)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    pub name: Option<String>,
    /// The primary gid of the caller's passwd entry.
    pub pw_gid: Option<u32>,
}

impl Caller {
    pub fn current() -> Caller {
        let uid = getuid();
        let user = crate::creds::passwd_of_uid(uid.as_raw());
        let pw_gid = user.as_ref().map(|u| u.gid);
        Caller { uid: uid.as_raw(), gid: getgid().as_raw(), name: user.map(|u| u.name), pw_gid }
    }

    /// Anyone but root is held to /etc/subuid and /etc/subgid.
    pub fn restricted(&self) -> bool {
        self.uid != 0
    }

    /// `alice`, or `uid 1000` for a user without a passwd entry.
    pub fn shown(&self) -> String {
        self.name.clone().unwrap_or_else(|| format!("uid {}", self.uid))
    }

    /// The caller's own id of `which`, which it may always map (count 1).
    pub fn own(&self, which: Which) -> u32 {
        match which {
            Which::Uid => self.uid,
            Which::Gid => self.gid,
        }
    }
}

/// Enter the restricted mode before anything else runs: non-dumpable, effective uid back to the
/// caller's (files are opened with the caller's rights), and only the capabilities the writes
/// need. A no-op for root and for a caller without privileges.
pub fn drop_to_caller(caller: &Caller) -> anyhow::Result<()> {
    if !caller.restricted() {
        return Ok(());
    }
    crate::process::undumpable()?;
    if geteuid().is_root() {
        // Keep the permitted set over seteuid; the effective set is emptied and re-raised below.
        trace::run(Step::Prctl(Prctl::SetKeepcaps(true)), || nix::sys::prctl::set_keepcaps(true))?;
        trace::run(Step::Seteuid(caller.uid), || nix::unistd::seteuid(Uid::from_raw(caller.uid)))?;
    }
    keep_only(&[Capability::CAP_SETUID, Capability::CAP_SETGID, Capability::CAP_SETFCAP])
}

/// `--show` needs no privilege: a restricted caller becomes itself for good (real, effective
/// and saved ids, no capabilities) before anything is opened, so a file it names (`--pidfile`)
/// is opened with its own rights, never root's. A no-op for root.
pub fn drop_all(caller: &Caller) -> anyhow::Result<()> {
    if !caller.restricted() {
        return Ok(());
    }
    crate::creds::set_gid(caller.gid)?;
    crate::creds::set_uid(caller.uid)?;
    // Installed with file capabilities instead of setuid, the uid did not change: clear them too.
    keep_only(&[])
}

/// Once the maps are known: a restricted caller gives up CAP_SETFCAP unless host uid 0 is mapped.
pub fn drop_setfcap_unless(caller: &Caller, maps_host_root: bool) -> anyhow::Result<()> {
    if maps_host_root || !caller.restricted() {
        return Ok(());
    }
    keep_only(&[Capability::CAP_SETUID, Capability::CAP_SETGID])
}

/// Permitted and effective become `wanted` (as far as we hold them); inheritable becomes empty.
fn keep_only(wanted: &[Capability]) -> anyhow::Result<()> {
    let permitted = caps::read(None, CapSet::Permitted).map_err(|e| anyhow::anyhow!("capget: {e}"))?;
    let keep = crate::capabilities::mask_of(wanted.iter().filter(|c| permitted.contains(c)));
    crate::capabilities::capset(keep, keep, 0)
}

/// Refuse what newuidmap refuses before it reads a range: a caller without a passwd entry, one
/// running with a gid other than its primary group (unless GRANT_AUX_GROUP_SUBIDS), and a
/// target the caller does not own (/proc/PID's uid and gid must be the caller's real ones).
pub fn check_owner(caller: &Caller, pid: i32, owner: (u32, u32)) -> anyhow::Result<()> {
    if !caller.restricted() {
        return Ok(());
    }
    let Some(pw_gid) = caller.pw_gid else {
        bail!(
            "uid {} has no entry in the user database, so its grants cannot be known: nothing was mapped",
            caller.uid
        );
    };
    if caller.gid != pw_gid && !grant_aux_group_subids() {
        bail!(
            "{} runs with gid {}, not its primary group {pw_gid} from the user database (newuidmap: owned by a different user; GRANT_AUX_GROUP_SUBIDS in /etc/login.defs allows it): nothing was mapped",
            caller.shown(),
            caller.gid
        );
    }
    if owner != (caller.uid, caller.gid) {
        bail!(
            "process {pid} belongs to uid {} gid {}, not to {} (uid {} gid {}): nothing was mapped",
            owner.0,
            owner.1,
            caller.shown(),
            caller.uid,
            caller.gid
        );
    }
    Ok(())
}

/// shadow's GRANT_AUX_GROUP_SUBIDS in /etc/login.defs: a caller may run with another group.
fn grant_aux_group_subids() -> bool {
    std::fs::read_to_string("/etc/login.defs").is_ok_and(|text| login_defs_yes(&text, "GRANT_AUX_GROUP_SUBIDS"))
}

/// A boolean of login.defs(5) as shadow's getdef_bool reads it: `NAME value`, the value `yes`
/// in any case, optionally in double quotes; `#` starts a comment line.
fn login_defs_yes(text: &str, name: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(char::is_whitespace))
        .rfind(|(key, _)| *key == name)
        .is_some_and(|(_, value)| value.trim().trim_matches('"').eq_ignore_ascii_case("yes"))
}

/// Check every extent against the caller's grants. Returns whether some extent came from the
/// subid file (which is what allows setgroups to stay `allow`, CVE-2018-7169).
pub fn check_grants(caller: &Caller, which: Which, extents: &[Extent]) -> anyhow::Result<bool> {
    if !caller.restricted() {
        return Ok(false);
    }
    let ranges = subid_ranges(which, caller.name.as_deref().unwrap_or(""), caller.uid)?;
    let mut from_subid = false;
    for e in extents {
        if covered(&ranges, e.outside, e.count) {
            from_subid = true;
        } else if !(e.count == 1 && e.outside == caller.own(which)) {
            bail!(
                "{} range {e} is not granted to {} by {}: nothing was mapped",
                which.name(),
                caller.shown(),
                which.subid_file()
            );
        }
    }
    Ok(from_subid)
}

/// Whether `start..start+count` lies within the granted ranges, walking from one range into the
/// next that continues it (shadow's `have_range`).
pub fn covered(ranges: &[(u32, u32)], start: u32, count: u32) -> bool {
    let end = u64::from(start) + u64::from(count); // exclusive
    let mut at = u64::from(start);
    while at < end {
        let next = ranges
            .iter()
            .map(|&(s, c)| (u64::from(s), u64::from(s) + u64::from(c)))
            .filter(|&(s, e)| s <= at && at < e)
            .map(|(_, e)| e)
            .max();
        match next {
            Some(e) => at = e,
            None => return false,
        }
    }
    count > 0
}

/// Whether this process may write maps beyond its own id: CAP_SETGID/CAP_SETUID effective.
pub fn holds(cap: Capability) -> bool {
    caps::has_cap(None, CapSet::Effective, cap).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Caller {
        Caller { uid: 1000, gid: 1000, name: Some("alice".into()), pw_gid: Some(1000) }
    }

    #[test]
    fn ranges_may_continue_into_the_next() {
        let granted = [(100000, 65536), (165536, 100), (300000, 10)];
        assert!(covered(&granted, 100000, 65536));
        assert!(covered(&granted, 100000, 65636));
        assert!(covered(&granted, 165000, 600));
        assert!(!covered(&granted, 100000, 65637));
        assert!(!covered(&granted, 99999, 2));
        assert!(!covered(&granted, 300005, 6));
        assert!(!covered(&granted, 300005, 0));
        assert!(covered(&[(u32::MAX - 1, 1)], u32::MAX - 1, 1));
    }

    #[test]
    fn own_id_is_granted_but_does_not_count_as_subid() {
        let own = [Extent { inside: 0, outside: 1000, count: 1 }];
        // alice has no /etc/subgid lines on any machine this runs on, so only the own-id rule applies.
        let c = Caller { name: Some("isolab-no-such-user".into()), uid: 4_000_000_001, gid: 1000, pw_gid: Some(1000) };
        assert!(!check_grants(&c, Which::Gid, &own).unwrap());
        let more = [Extent { inside: 0, outside: 1000, count: 2 }];
        let msg = check_grants(&c, Which::Gid, &more).unwrap_err().to_string();
        assert_eq!(
            msg,
            "gid range 0-1 -> 1000-1001 is not granted to isolab-no-such-user by /etc/subgid: nothing was mapped"
        );
        assert!(check_owner(&alice(), 7, (0, 0)).unwrap_err().to_string().contains("not to alice"));
        check_owner(&alice(), 7, (1000, 1000)).unwrap();
        // shadow's 01_newuidmap: `runuser foo -g bar` is refused even on its own process.
        let other_group = Caller { gid: 1001, ..alice() };
        assert!(check_owner(&other_group, 7, (1000, 1001)).unwrap_err().to_string().contains("primary group 1000"));
        let nameless = Caller { name: None, pw_gid: None, ..alice() };
        assert!(check_owner(&nameless, 7, (1000, 1000)).unwrap_err().to_string().contains("no entry"));
    }

    #[test]
    fn login_defs_booleans_read_as_shadow() {
        let yes = "# GRANT_AUX_GROUP_SUBIDS no\nUMASK 022\n  GRANT_AUX_GROUP_SUBIDS\t\"Yes\"\n";
        assert!(login_defs_yes(yes, "GRANT_AUX_GROUP_SUBIDS"));
        assert!(!login_defs_yes("#GRANT_AUX_GROUP_SUBIDS yes\n", "GRANT_AUX_GROUP_SUBIDS"));
        assert!(!login_defs_yes("GRANT_AUX_GROUP_SUBIDS no\n", "GRANT_AUX_GROUP_SUBIDS"));
        assert!(!login_defs_yes("GRANT_AUX_GROUP_SUBIDSX yes\n", "GRANT_AUX_GROUP_SUBIDS"));
    }
}
