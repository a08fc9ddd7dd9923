//! /etc/subuid and /etc/subgid: the id ranges an administrator granted each user. See subuid(5).
//!
//! Each line is `OWNER:START:COUNT`; OWNER is a user name or a numeric uid, and a user may own
//! several lines. shadow's newuidmap accepts a range that lies inside any one of them; util-linux
//! `--map-auto` maps the FIRST one to id 0. Lines are read as shadow 4.13's subordinate_parse
//! reads them: the first three colon-separated fields (more are ignored), none empty, START and
//! COUNT by strtoul(3) base 0 (`01200000` is octal there too); malformed lines are skipped.

use anyhow::bail;

use super::{parse::strtoul, Extent, Which};

/// The `(start, count)` ranges `which`'s file grants `user` (by name) or `uid` (by number).
pub fn subid_ranges(which: Which, user: &str, uid: u32) -> anyhow::Result<Vec<(u32, u32)>> {
    let path = which.subid_file();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        // No file grants nothing; it is not an error (a fresh system without shadow's useradd).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => bail!("cannot read {path}: {}", crate::process::plain_io(&e)),
    };
    Ok(ranges_in(&text, user, uid))
}

/// The ranges granted in `text` (a subuid/subgid file) to `user` or `uid`, in file order.
pub fn ranges_in(text: &str, user: &str, uid: u32) -> Vec<(u32, u32)> {
    let uid = uid.to_string();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let (owner, start, count) = (fields.next()?, fields.next()?, fields.next()?);
            if owner.is_empty() || start.is_empty() || count.is_empty() || (owner != user && owner != uid) {
                return None;
            }
            // An id past 2^32-1 grants nothing; a longer count covers the rest of the ids.
            let start = u32::try_from(strtoul(start)?).ok()?;
            let count = u32::try_from(strtoul(count)?).unwrap_or(u32::MAX);
            (count > 0).then_some((start, count))
        })
        .collect()
}

/// util-linux `--map-auto`: the user's first subordinate range, mapped to id 0 inside.
pub fn auto_map(which: Which, user: &str, uid: u32) -> anyhow::Result<Vec<Extent>> {
    match subid_ranges(which, user, uid)?.first() {
        Some(&(start, count)) => Ok(vec![Extent { inside: 0, outside: start, count }]),
        None => bail!(
            "{} grants no {} range to {user} (uid {uid}): add a line like '{user}:100000:65536'",
            which.subid_file(),
            which.name()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "alice:100000:65536\nbob:165536:65536\n1000:300000:10\n# comment:1:2\nalice:400000:5\nbroken:line\nalice:x:5\nalice:7:0\nalice:0x100:010:extra\nalice::5\n";

    #[test]
    fn ranges_match_by_name_or_uid_in_file_order() {
        // shadow: numbers by strtoul base 0, a fourth field ignored, an empty one refused.
        assert_eq!(ranges_in(FILE, "alice", 1000), vec![(100000, 65536), (300000, 10), (400000, 5), (256, 8)]);
        assert_eq!(ranges_in(FILE, "bob", 1001), vec![(165536, 65536)]);
        assert_eq!(ranges_in(FILE, "carol", 1002), vec![]);
        // A name that is a prefix of another is not the other.
        assert_eq!(ranges_in("alicex:1:1\n", "alice", 5), vec![]);
    }

    #[test]
    fn auto_map_of_a_user_without_ranges_says_which_file() {
        let msg = auto_map(Which::Uid, "isolab-no-such-user", 4_000_000_000).unwrap_err().to_string();
        assert!(msg.starts_with("/etc/subuid grants no uid range to isolab-no-such-user"), "{msg}");
    }
}
