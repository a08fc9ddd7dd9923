//! Credentials applied last, just before exec: supplementary groups, gid, uid, capabilities,
//! no_new_privs. See credentials(7), capabilities(7), setresuid(2), prctl(2).
//!
//! Rules that bite:
//! - Order: groups, then gid, then uid: after setresuid to a non-root uid, CAP_SETGID is gone.
//! - Changing uid from 0 to non-zero clears the permitted and effective sets, but NOT the
//!   inheritable one (runc CVE-2022-29162): clear inheritable and ambient explicitly.
//! - A capability survives exec for a non-root user only through the ambient set, which needs
//!   it in permitted and inheritable first, and PR_SET_KEEPCAPS across the uid change.
//! - For a root payload, exec gives permitted = bounding set: dropping means dropping from bounding.

use std::path::Path;

use anyhow::{bail, Context as _};
pub use caps::Capability;

use crate::capabilities::{self, mask_of};
use crate::trace::{self, Prctl, Step};

/// `(uid_t)-1`: setresuid(2), setresgid(2) and chown(2) read it as "leave this id unchanged", so
/// as a uid or gid it would leave the payload with the ids (root's) it had. The kernel never
/// maps it (INVALID_UID).
pub const INVALID_ID: u32 = u32::MAX;

/// Refuse the one number that is not an id; `what` names where it came from.
pub fn check_id(what: &str, id: u32) -> anyhow::Result<u32> {
    if id == INVALID_ID {
        bail!("{what}: {id} is (uid_t)-1, which setresuid(2) reads as \"leave unchanged\": not an id");
    }
    Ok(id)
}

/// The credentials the payload runs with; `None` keeps what the process has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Creds {
    pub user: Option<UserSpec>,
    /// `--groups`: supplementary groups (numeric, or names resolved in the new root's /etc/group).
    pub groups: Option<Vec<String>>,
    pub cap_add: Vec<Capability>,
    /// `--cap-add ALL` (Docker): every capability of the bounding set, less those `cap_drop` names.
    pub add_all: bool,
    /// Capabilities to drop; `drop_all` for `--cap-drop ALL`.
    pub cap_drop: Vec<Capability>,
    pub drop_all: bool,
    /// The exact sets (a container's, or `--cap-*` sets): the bounding set is limited before
    /// the uid change, the others set after it. None: adjust the caller's sets by cap_add/cap_drop.
    pub sets: Option<capabilities::Sets>,
    /// Whether `sets` was given set by set (then applied as given, ambient included).
    pub exact_sets: bool,
    pub no_new_privs: bool,
}

/// `--user-id UID[:GID]` (Docker `--user`): numbers or names, looked up in the new root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub user: String,
    pub group: Option<String>,
}

impl UserSpec {
    pub fn parse(spec: &str) -> anyhow::Result<UserSpec> {
        let (user, group) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !valid(user) || group.is_some_and(|g| !valid(g)) {
            bail!("invalid --user-id '{spec}': expected UID[:GID] (numbers or names)");
        }
        for id in [Some(user), group].into_iter().flatten().filter_map(|s| s.parse::<u32>().ok()) {
            check_id(&format!("invalid --user-id '{spec}'"), id)?;
        }
        Ok(UserSpec { user: user.into(), group: group.map(Into::into) })
    }
}

/// Parse a capability name as Docker and libcap spell it: `NET_ADMIN`, `cap_net_admin`.
pub fn parse_capability(name: &str) -> anyhow::Result<Capability> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
    full.parse::<Capability>().map_err(|_| anyhow::anyhow!("unknown capability '{name}'"))
}

/// Look `name` up in an /etc/passwd- or /etc/group-shaped file: its id (field 3) and, for
/// passwd, the primary gid (field 4). Numbers are taken as they are.
fn lookup(file: &Path, name: &str) -> anyhow::Result<(u32, Option<u32>)> {
    let (id, primary) = lookup_unchecked(file, name)?;
    let what = format!("'{name}' in {}", file.display());
    Ok((check_id(&what, id)?, primary.map(|g| check_id(&what, g)).transpose()?))
}

fn lookup_unchecked(file: &Path, name: &str) -> anyhow::Result<(u32, Option<u32>)> {
    if let Ok(id) = name.parse::<u32>() {
        let gid = std::fs::read_to_string(file).ok().and_then(|text| {
            text.lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 3 && f[2] == name)
                .and_then(|f| f[3].parse().ok())
        });
        return Ok((id, gid));
    }
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot look up '{name}': cannot read {}", file.display()))?;
    for fields in text.lines().map(|l| l.split(':').collect::<Vec<_>>()) {
        if fields.len() > 3 && fields[0] == name {
            let id = fields[2].parse().with_context(|| format!("bad id for '{name}' in {}", file.display()))?;
            return Ok((id, fields[3].parse().ok()));
        }
    }
    bail!("no user or group '{name}' in {}", file.display())
}

/// Apply `creds` to this process. Called in the new world (after pivot_root), so names are
/// those of the container's /etc/passwd and /etc/group, as Docker resolves them.
pub fn apply(creds: &Creds) -> anyhow::Result<()> {
    let ids = match &creds.user {
        Some(spec) => {
            let (uid, primary) = lookup(Path::new("/etc/passwd"), &spec.user)?;
            // Docker: without a group, the user's primary group, else 0.
            let gid = match &spec.group {
                Some(g) => lookup(Path::new("/etc/group"), g)?.0,
                None => primary.unwrap_or(0),
            };
            Some((uid, gid))
        }
        None => None,
    };
    if let Some(groups) = &creds.groups {
        let gids = groups
            .iter()
            .map(|g| lookup(Path::new("/etc/group"), g).map(|x| x.0))
            .collect::<anyhow::Result<Vec<_>>>()?;
        set_groups(&gids)?;
    } else if ids.is_some() && setgroups_allowed() {
        // A new user keeps none of the caller's supplementary groups (Docker, runc).
        set_groups(&[])?;
    }
    // PR_CAPBSET_DROP needs CAP_SETPCAP, which a change to a non-root uid takes away: drop first.
    let dropped = match &creds.sets {
        Some(sets) => !sets.bounding,
        None => dropped_capabilities(creds),
    };
    if dropped != 0 {
        capabilities::limit_bounding(!dropped)?;
    }
    let keep = !creds.cap_add.is_empty() || creds.add_all || creds.sets.is_some();
    if let Some((uid, gid)) = ids {
        if keep {
            keep_capabilities()?;
        }
        set_gid(gid)?;
        set_uid(uid)?;
    }
    let non_root = ids.is_some_and(|(u, _)| u != 0);
    match &creds.sets {
        Some(sets) => {
            let mut sets = *sets;
            if non_root && !creds.exact_sets && !creds.cap_add.is_empty() {
                // isolab keeps an added capability across exec for a non-root user (ambient),
                // where Docker's would be lost at execve.
                let add = mask_of(&creds.cap_add) & sets.bounding;
                (sets.inheritable, sets.ambient) = (add, add);
            }
            trace::note(sets.describe());
            capabilities::apply_after_uid_change(&sets)?;
        }
        None => apply_capabilities(creds, dropped, non_root)?,
    }
    if keep {
        // Capabilities that are not a subset of the old ones clear the parent-death signal too.
        crate::process::rearm_tether()?;
    }
    if creds.no_new_privs {
        set_no_new_privs()?;
    }
    Ok(())
}

/// PR_SET_KEEPCAPS: the permitted set survives the next change from uid 0 to another.
pub fn keep_capabilities() -> anyhow::Result<()> {
    trace::run(Step::Prctl(Prctl::SetKeepcaps(true)), || nix::sys::prctl::set_keepcaps(true))
}

/// PR_SET_NO_NEW_PRIVS: no execve of this process or its children gains privileges (setuid
/// bits, file capabilities) again; it cannot be unset.
pub fn set_no_new_privs() -> anyhow::Result<()> {
    trace::run(Step::Prctl(Prctl::SetNoNewPrivs), nix::sys::prctl::set_no_new_privs)
}

/// Whether setgroups(2) may be called here (a user namespace with setgroups 'deny' forbids it).
pub fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").map_or(true, |s| s.trim() != "deny")
}

/// [`setgroups_allowed`], read through `proc`, a /proc opened earlier: after joining a mount
/// namespace the /proc in view may belong to a PID namespace this process is not in.
pub fn setgroups_allowed_under(proc: &impl std::os::fd::AsFd) -> bool {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let Ok(fd) = nix::fcntl::openat(proc, "self/setgroups", flags, nix::sys::stat::Mode::empty()) else {
        return true;
    };
    std::io::read_to_string(std::fs::File::from(fd)).map_or(true, |s| s.trim() != "deny")
}

/// The effective uid and gid.
pub fn effective_ids() -> (u32, u32) {
    (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw())
}

/// One /etc/passwd entry: the fields the tools use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passwd {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// The /etc/passwd entry of `uid`, if any.
///
/// Read from /etc/passwd itself, as runc and Docker read it, not through glibc's NSS: the
/// installed tools are static-pie, and a static glibc program that falls through to an NSS
/// module (`passwd: files systemd`, a name not in the file) crashes loading it. So users known
/// only to a directory service (LDAP, sssd, systemd-homed) are not found by name; ids always work.
pub fn passwd_of_uid(uid: u32) -> Option<Passwd> {
    passwd_entries(&std::fs::read_to_string("/etc/passwd").ok()?).find(|p| p.uid == uid)
}

/// The /etc/passwd entry named `name`, if any (see [`passwd_of_uid`]).
pub fn passwd_of_name(name: &str) -> Option<Passwd> {
    passwd_entries(&std::fs::read_to_string("/etc/passwd").ok()?).find(|p| p.name == name)
}

/// passwd(5) lines: `name:password:uid:gid:gecos:home:shell`; comments, blank, malformed and
/// NIS `+`/`-` lines are skipped, as glibc's files module skips what it cannot parse.
pub fn passwd_entries(text: &str) -> impl Iterator<Item = Passwd> + '_ {
    text.lines().filter_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        if name.is_empty() || name.starts_with(['#', '+', '-']) {
            return None;
        }
        let (uid, gid) = (f.nth(1)?.parse().ok()?, f.next()?.parse().ok()?);
        Some(Passwd { name: name.to_string(), uid, gid })
    })
}

/// The name /etc/passwd gives `uid`, if any.
pub fn user_name(uid: u32) -> Option<String> {
    passwd_of_uid(uid).map(|p| p.name)
}

/// The uid /etc/passwd gives user `name`, if any.
pub fn uid_of(name: &str) -> Option<u32> {
    passwd_of_name(name).map(|p| p.uid)
}

pub fn set_groups(gids: &[u32]) -> anyhow::Result<()> {
    for &g in gids {
        check_id("setgroups", g)?;
    }
    let list: Vec<nix::unistd::Gid> = gids.iter().map(|&g| nix::unistd::Gid::from_raw(g)).collect();
    trace::run(Step::Setgroups(gids.to_vec()), || nix::unistd::setgroups(&list))
}

pub fn set_gid(gid: u32) -> anyhow::Result<()> {
    check_id("setresgid", gid)?;
    let g = nix::unistd::Gid::from_raw(gid);
    trace::run(Step::Setresgid(gid), || nix::unistd::setresgid(g, g, g))?;
    // A new effective gid clears the parent-death signal.
    crate::process::rearm_tether()
}

pub fn set_uid(uid: u32) -> anyhow::Result<()> {
    check_id("setresuid", uid)?;
    let u = nix::unistd::Uid::from_raw(uid);
    trace::run(Step::Setresuid(uid), || nix::unistd::setresuid(u, u, u))?;
    // A new effective uid clears the parent-death signal.
    crate::process::rearm_tether()
}

/// The capabilities `--cap-drop` takes away (Docker's TweakCapabilities): with ALL added, only
/// those named; with ALL dropped, all but those added; else those named and not added.
fn dropped_capabilities(creds: &Creds) -> capabilities::Mask {
    let (add, drop) = (mask_of(&creds.cap_add), mask_of(&creds.cap_drop));
    if creds.add_all {
        drop
    } else if creds.drop_all {
        capabilities::all_supported() & !add
    } else {
        drop & !add
    }
}

/// After the uid change: the dropped capabilities out of the effective and permitted sets; then,
/// for a non-root payload, exactly `cap_add` in the permitted/effective/inheritable/ambient sets
/// (empty by default).
fn apply_capabilities(creds: &Creds, dropped: capabilities::Mask, non_root: bool) -> anyhow::Result<()> {
    if dropped != 0 {
        let (e, p, i) = capabilities::capget()?;
        capabilities::capset(e & !dropped, p & !dropped, i & !dropped)?;
    }
    if non_root || !creds.cap_add.is_empty() || creds.add_all {
        let wanted = if creds.add_all { capabilities::bounding() & !dropped } else { mask_of(&creds.cap_add) };
        let (e, p, _) = capabilities::capget()?;
        if non_root {
            capabilities::capset(wanted, wanted, wanted)?;
        } else {
            capabilities::capset(e, p, wanted)?;
        }
        capabilities::set_ambient(wanted)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_as_the_files_module_reads_them() {
        let text = "root:x:0:0:root:/root:/bin/bash\n# comment\n\n+nis\nbad:x:1\nneg:x:-1:0::/:/bin/sh\n\
                    alice:x:1000:100:Alice,,,:/home/alice:/bin/sh\nshort:x:7:8\n";
        let got: Vec<Passwd> = passwd_entries(text).collect();
        assert_eq!(
            got,
            vec![
                Passwd { name: "root".into(), uid: 0, gid: 0 },
                Passwd { name: "alice".into(), uid: 1000, gid: 100 },
                Passwd { name: "short".into(), uid: 7, gid: 8 },
            ]
        );
    }

    #[test]
    fn user_specs_parse_like_docker() {
        assert_eq!(UserSpec::parse("1000:1000").unwrap(), UserSpec { user: "1000".into(), group: Some("1000".into()) });
        assert_eq!(UserSpec::parse("nobody").unwrap().group, None);
        for bad in ["", ":", "1000:", "a b", "1000:1000:1", "../x", "4294967295", "0:4294967295"] {
            assert!(UserSpec::parse(bad).is_err(), "{bad}");
        }
        assert!(set_uid(INVALID_ID).unwrap_err().to_string().contains("(uid_t)-1"));
        assert!(set_gid(INVALID_ID).is_err() && set_groups(&[0, INVALID_ID]).is_err());
    }

    #[test]
    fn capability_names_in_both_spellings() {
        assert_eq!(parse_capability("NET_ADMIN").unwrap(), Capability::CAP_NET_ADMIN);
        assert_eq!(parse_capability("cap_sys_admin").unwrap(), Capability::CAP_SYS_ADMIN);
        assert!(parse_capability("CAP_FLY").unwrap_err().to_string().contains("CAP_FLY"));
    }

    #[test]
    fn lookup_reads_passwd_shaped_files() {
        let dir = crate::test_dir("creds");
        let f = dir.join("passwd");
        std::fs::write(&f, "root:x:0:0::/root:/bin/sh\nalice:x:1000:1001::/home/alice:/bin/sh\n").unwrap();
        assert_eq!(lookup(&f, "alice").unwrap(), (1000, Some(1001)));
        assert_eq!(lookup(&f, "1000").unwrap(), (1000, Some(1001)));
        assert_eq!(lookup(&f, "4242").unwrap(), (4242, None));
        assert!(lookup(&f, "bob").is_err());
        std::fs::write(&f, "minus:x:4294967295:0::/:/bin/sh\nprimary:x:7:4294967295::/:/bin/sh\n").unwrap();
        assert!(lookup(&f, "minus").unwrap_err().to_string().contains("(uid_t)-1"));
        assert!(lookup(&f, "primary").is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
