//! The formats of cgroup files that more than one reader shares: flat-keyed files
//! (`memory.stat`, `cpu.stat`, `memory.events`, `memory.oom_control`: `key value` per line),
//! one-number files (`pids.current`, `cpuacct.usage`) and `cgroup.procs` (one PID per line).
//! See cgroups(7) and cgroup-v2.rst "Interface Files".
//!
//! Numbers are read as runc (opencontainers/cgroups) reads them: Go's ParseUint (digits only),
//! a negative value (a kernel bug in some memory counters) as 0, and a file runc refuses is
//! unknown (`None`), never 0.

use std::path::Path;

use super::CGROUP_PROCS;

/// Go's `strconv.ParseUint(s, 10, 64)`: decimal digits only (no sign, no blank), no overflow.
pub fn go_uint(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// runc's `fscommon.ParseUint`: [`go_uint`], but a negative number (which some memory cgroup
/// counters show through kernel bugs) is 0.
pub fn fs_uint(s: &str) -> Option<u64> {
    if let Some(n) = go_uint(s) {
        return Some(n);
    }
    // Go's ParseInt: "-0" is 0, not negative, and stays an error; a too negative one is negative.
    let digits = s.strip_prefix('-')?;
    let negative =
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && digits.bytes().any(|b| b != b'0');
    negative.then_some(0)
}

/// A one-number file as runc's `GetCgroupParamUint` reads it (blanks around, `max` is
/// u64::MAX): cpuacct.usage, memory.usage_in_bytes, memory.current, pids.current.
pub fn param_uint(text: &str) -> Option<u64> {
    match text.trim() {
        "max" => Some(u64::MAX),
        n => fs_uint(n),
    }
}

/// A flat-keyed file (`memory.stat`, `cpu.stat`) as runc's `ParseKeyValue` reads each line:
/// `key value`, split at the first space, both non-empty, the value by [`fs_uint`]. `None` when
/// any line is malformed: the whole file is unknown then.
pub fn flat_keyed(text: &str) -> Option<Vec<(&str, u64)>> {
    text.lines()
        .map(|line| {
            let (k, v) = line.split_once(' ')?;
            (!k.is_empty()).then(|| Some((k, fs_uint(v)?))).flatten()
        })
        .collect()
}

/// The value of `key` in a flat-keyed file; `None` when it is missing or the file malformed.
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    flat_keyed(text)?.into_iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// `cgroup.procs`: the PIDs listed, anything else skipped.
pub fn parse_procs(text: &str) -> Vec<i32> {
    text.split_whitespace().filter_map(|s| s.parse().ok()).collect()
}

/// The PIDs in `dir/cgroup.procs` (none when it cannot be read: the group is gone).
pub fn read_procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join(CGROUP_PROCS)).map(|text| parse_procs(&text)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_MEMORY_STAT: &str = include_str!("../../testdata/v1-memory.stat");
    const V2_MEMORY_STAT: &str = include_str!("../../testdata/v2-memory.stat");

    #[test]
    fn memory_stat_keys() {
        // v1 has both the group's own inactive_file and the subtree's total_: Docker takes total_.
        assert_eq!(keyed(V1_MEMORY_STAT, "total_inactive_file"), Some(471040));
        assert_eq!(keyed(V1_MEMORY_STAT, "inactive_file"), Some(471040));
        assert_eq!(keyed(V1_MEMORY_STAT, "hierarchical_memory_limit"), Some(9223372036854771712));
        assert_eq!(keyed(V2_MEMORY_STAT, "inactive_file"), Some(2105344));
        assert_eq!(keyed(V2_MEMORY_STAT, "file"), Some(2523136));
        assert_eq!(keyed(V2_MEMORY_STAT, "missing"), None);
    }

    #[test]
    fn oom_counters() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n";
        assert_eq!(keyed(v1, "oom_kill"), Some(1));
        let v2 = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(keyed(v2, "oom_kill"), Some(2));
        assert_eq!(keyed(v2, "oom"), Some(1));
    }

    // Issue 14.11: "key value" files (memory.stat, cpu.stat) as runc's ParseKeyValue: one bad
    // line and the file is unknown; a negative value is 0 (fscommon.ParseUint: kernel bugs).
    #[test]
    fn malformed_files_are_unknown() {
        for bad in ["inactive_file 5 6\n", "inactive_file\n", "file 1\n\ninactive_file 2\n", "inactive_file +4\n"] {
            assert_eq!(flat_keyed(bad), None, "{bad:?}");
        }
        assert_eq!(flat_keyed("a 1\nb -5\n").unwrap(), [("a", 1), ("b", 0)]);
        assert_eq!(param_uint("+12\n"), None);
        assert_eq!(param_uint(" -3\n"), Some(0));
        assert_eq!(param_uint("-0\n"), None); // Go's ParseInt("-0") is 0, not negative: an error
        assert_eq!(param_uint("max\n"), Some(u64::MAX));
    }

    #[test]
    fn procs() {
        assert_eq!(parse_procs("12\n345\n\n"), vec![12, 345]);
        assert_eq!(parse_procs("x\n-\n7\n"), vec![7]);
    }

    proptest::proptest! {
        #[test]
        fn keyed_finds_any_key(pairs in proptest::collection::btree_map("[a-z_]{1,20}", 0u64..u64::MAX, 1..20)) {
            let text: String = pairs.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
            for (k, v) in &pairs {
                proptest::prop_assert_eq!(keyed(&text, k), Some(*v));
            }
        }
    }
}
