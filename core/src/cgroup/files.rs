//! The formats of cgroup files that more than one reader shares: flat-keyed files
//! (`memory.stat`, `cpu.stat`, `memory.events`, `memory.oom_control`: `key value` per line)
//! and `cgroup.procs` (one PID per line). See cgroups(7) and cgroup-v2.rst "Interface Files".

use std::path::Path;

use super::CGROUP_PROCS;

/// The value of `key` in a flat-keyed file; `None` when absent or not a number.
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
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
