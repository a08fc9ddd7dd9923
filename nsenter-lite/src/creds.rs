//! Credentials after a join: uid/gid 0 in a joined user namespace (util-linux nsenter's default),
//! or `--user-id`. See setns(2) "user namespaces", user_namespaces(7), setgroups(2).
//!
//! Rules that bite:
//! - setns into a user namespace grants every capability in it but keeps the ids, which may be
//!   unmapped there (nobody): exec then drops the capabilities. setresuid(0) makes us its root.
//! - setgroups(2) is refused in a user namespace whose /proc/PID/setgroups is `deny` (all that
//!   `unshare --map-root-user` and rootless containers make). The supplementary groups are
//!   therefore dropped before the join too, while we still may (util-linux does both; an error
//!   only if both fail).
//! - Groups before gid, gid before uid: once the uid is not 0 the rights to change the rest are gone.

use std::os::fd::OwnedFd;

use isolab_core::{creds, trace};

/// What to do with our ids, decided before the join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinCreds {
    /// (uid, gid) to take after the join; None leaves them as they are.
    pub ids: Option<(u32, u32)>,
}

impl JoinCreds {
    /// util-linux: entering a user namespace means becoming 0/0 in it unless credentials are
    /// preserved; `--user-id` names other ids, with or without a user namespace.
    pub fn new(joins_user: bool, preserve: bool, user_id: Option<(u32, u32)>) -> JoinCreds {
        let ids = match (preserve, joins_user, user_id) {
            (true, ..) => None,
            (false, _, Some(ids)) => Some(ids),
            (false, true, None) => Some((0, 0)),
            (false, false, None) => None,
        };
        JoinCreds { ids }
    }

    /// Before any setns: drop supplementary groups while our own user namespace still lets us.
    /// Returns whether that worked.
    pub fn before_join(&self) -> bool {
        self.ids.is_some() && creds::set_groups(&[]).is_ok()
    }

    /// After the join: groups (unless the namespace forbids it), gid, uid.
    /// `proc` is the caller's /proc, opened before the join (the target's may not show us).
    pub fn after_join(&self, dropped_before: bool, proc: Option<&OwnedFd>) -> anyhow::Result<()> {
        let Some((uid, gid)) = self.ids else { return Ok(()) };
        if proc.is_some_and(|p| !creds::setgroups_allowed_under(p)) {
            let kept = if dropped_before { "dropped before joining" } else { "kept as they were" };
            trace::note(format_args!("setgroups is 'deny' in the joined user namespace: supplementary groups {kept}"));
        } else if let Err(e) = creds::set_groups(&[]) {
            if !dropped_before {
                return Err(e);
            }
        }
        creds::set_gid(gid)?;
        creds::set_uid(uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_util_linux() {
        assert_eq!(JoinCreds::new(true, false, None).ids, Some((0, 0)));
        assert_eq!(JoinCreds::new(true, true, None).ids, None);
        assert_eq!(JoinCreds::new(false, false, None).ids, None);
        assert_eq!(JoinCreds::new(false, false, Some((1000, 1000))).ids, Some((1000, 1000)));
        assert_eq!(JoinCreds::new(true, false, Some((5, 6))).ids, Some((5, 6)));
    }
}
