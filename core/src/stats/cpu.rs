//! CPU %, as Docker computes it from two samples (moby `daemon/stats/collector_unix.go`,
//! docker/cli `stats_helpers.go` `calculateCPUPercentUnix`). See proc(5) for /proc/stat.
//!
//! - The host's time is the sum of the first seven fields of the `cpu ` line of /proc/stat
//!   (user nice system idle iowait irq softirq; steal, guest and guest_nice are left out, as
//!   Docker leaves them out), in USER_HZ ticks that Docker takes as 1/100 s.
//! - Online CPUs are the `cpuN` lines of the same file (newer moby), so one read gives both.
//! - The group's time is cumulative nanoseconds: v1 `cpuacct.usage`, v2 `cpu.stat usage_usec`×1000.
//! - CPU % = group delta / host delta × online CPUs × 100: one busy CPU of a two-CPU host is
//!   100 %, not 50 %. Either delta zero or negative gives 0, as Docker.

use std::collections::HashMap;
use std::path::Path;

use super::sample::{read_cpu, GroupFiles};
use crate::trace;

/// Nanoseconds in one USER_HZ tick as Docker assumes it (`clockTicksPerSecond = 100`).
const NANOS_PER_TICK: u64 = 1_000_000_000 / 100;

/// What one read of /proc/stat gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCpu {
    /// Docker's `system_cpu_usage`: the first seven fields of `cpu `, in nanoseconds.
    pub system_ns: u64,
    /// The number of `cpuN` lines.
    pub online: u32,
}

/// Parse /proc/stat. `None` when the `cpu ` line is missing or malformed.
pub fn parse_proc_stat(text: &str) -> Option<HostCpu> {
    let mut system_ns = None;
    let mut online = 0;
    for line in text.lines() {
        if let Some(fields) = line.strip_prefix("cpu ") {
            let ticks: Vec<u64> = fields.split_whitespace().take(7).map(str::parse).collect::<Result<_, _>>().ok()?;
            if ticks.len() < 7 {
                return None;
            }
            system_ns = Some(ticks.iter().try_fold(0u64, |a, &t| a.checked_add(t))?.checked_mul(NANOS_PER_TICK)?);
        } else if line.strip_prefix("cpu").is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit())) {
            online += 1;
        }
    }
    Some(HostCpu { system_ns: system_ns?, online })
}

/// The host's counters halfway between two reads of /proc/stat (the moment of the reads of the
/// groups' counters made between them); the CPU count of the later read.
pub fn midpoint(first: HostCpu, second: HostCpu) -> HostCpu {
    let half_apart = second.system_ns.saturating_sub(first.system_ns) / 2;
    HostCpu { system_ns: first.system_ns + half_apart, online: second.online }
}

/// Docker's CPU %: the group's share of the host's time between two samples, per CPU.
pub fn percent(group_before: u64, group_after: u64, host_before: HostCpu, host_after: HostCpu) -> f64 {
    let cpu_delta = group_after.saturating_sub(group_before);
    let system_delta = host_after.system_ns.saturating_sub(host_before.system_ns);
    if cpu_delta == 0 || system_delta == 0 {
        return 0.0;
    }
    cpu_delta as f64 / system_delta as f64 * host_after.online as f64 * 100.0
}

/// One instant: the host's CPU counters and each group's CPU time, read back to back.
#[derive(Debug, Clone, Default)]
pub struct CpuSnapshot {
    pub host: Option<HostCpu>,
    /// Each group's CPU time, in the order of the groups it was taken of; [`UNKNOWN`] when it
    /// could not be read (8 bytes a group, not an `Option`'s 16: 80 KB less per snapshot at
    /// 10,000 groups).
    groups: Vec<u64>,
}

/// A CPU time that could not be read. A counter at u64::MAX nanoseconds (584 years) is no
/// real usage and reads as unknown too.
const UNKNOWN: u64 = u64::MAX;

fn pack(t: Option<u64>) -> u64 {
    t.unwrap_or(UNKNOWN)
}

impl CpuSnapshot {
    /// /proc/stat, every group's CPU time, /proc/stat again; the host's time is the midpoint, so
    /// a pause during the reads skews the percentage by half of it at most, on either side alike.
    /// A sample starts here: the parent directories are opened anew (see `reader`).
    pub fn take(groups: &[GroupFiles]) -> CpuSnapshot {
        CpuSnapshot::take_with(groups.len(), |i| read_cpu(&groups[i]))
    }

    /// [`CpuSnapshot::take`] of `n` groups, the `i`th group's CPU time read by `cpu(i)`.
    pub fn take_with(n: usize, cpu: impl Fn(usize) -> Option<u64>) -> CpuSnapshot {
        super::reader::new_sample();
        let first = read_host();
        let groups = (0..n).map(|i| pack(cpu(i))).collect();
        let host = match (first, read_host()) {
            (Some(a), Some(b)) => Some(midpoint(a, b)),
            (a, b) => b.or(a),
        };
        CpuSnapshot { host, groups }
    }

    /// The CPU time the `i`th group had used at this instant, nanoseconds.
    pub fn group(&self, i: usize) -> Option<u64> {
        self.groups.get(i).copied().filter(|&t| t != UNKNOWN)
    }

    /// This snapshot of groups `was`, for the groups `now` listed at the next sample: a group
    /// keeps its time (found by its CPU directory: names repeat across parents), a new one has none.
    pub fn realign(self, was: &[GroupFiles], now: &[GroupFiles]) -> CpuSnapshot {
        let known: HashMap<&Path, u64> =
            was.iter().zip(&self.groups).filter(|(_, &t)| t != UNKNOWN).map(|(g, &t)| (key(g), t)).collect();
        CpuSnapshot { host: self.host, groups: now.iter().map(|g| pack(known.get(key(g)).copied())).collect() }
    }

    /// This snapshot for `n` groups listed anew, the `i`th of which was the `was(i)`th.
    pub fn realign_by(self, n: usize, was: impl Fn(usize) -> Option<usize>) -> CpuSnapshot {
        let groups = (0..n).map(|i| pack(was(i).and_then(|w| self.group(w)))).collect();
        CpuSnapshot { host: self.host, groups }
    }
}

/// A group's identity between samples: its CPU directory (names repeat across parents).
fn key(group: &GroupFiles) -> &Path {
    group.cpu.as_ref().map_or_else(|| Path::new(&group.name), |c| c.dir.as_path())
}

fn read_host() -> Option<HostCpu> {
    parse_proc_stat(&trace::read_file("/proc/stat").ok()?)
}

/// v2 `cpu.stat`'s `usage_usec`, in nanoseconds.
pub fn parse_cpu_stat_usage(text: &str) -> Option<u64> {
    // A value past u64::MAX / 1000 is no real usage (584,000 years): unknown, never a panic.
    crate::cgroup::files::keyed(text, "usage_usec").and_then(|us| us.checked_mul(1000))
}

/// v1 `cpuacct.usage`: one number of nanoseconds.
pub fn parse_cpuacct_usage(text: &str) -> Option<u64> {
    crate::cgroup::files::param_uint(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROC_STAT: &str = include_str!("../../testdata/proc-stat");

    #[test]
    fn proc_stat_of_this_machine() {
        // cpu  7625 0 1826 66943 299 0 55 110 0 0: steal (110) is not counted.
        let host = parse_proc_stat(PROC_STAT).unwrap();
        assert_eq!(host.system_ns, (7625 + 1826 + 66943 + 299 + 55) * NANOS_PER_TICK);
        assert_eq!(host.online, 2);
    }

    #[test]
    fn proc_stat_without_cpu_line_is_none() {
        assert_eq!(parse_proc_stat("intr 1 2 3\n"), None);
        assert_eq!(parse_proc_stat("cpu  1 2 3\n"), None);
        assert_eq!(parse_proc_stat("cpu  1 2 3 x 5 6 7\n"), None);
    }

    #[test]
    fn group_counters() {
        assert_eq!(parse_cpuacct_usage(include_str!("../../testdata/v1-cpuacct.usage")), Some(95876331118));
        assert_eq!(parse_cpu_stat_usage(include_str!("../../testdata/v2-cpu.stat")), Some(2503117000));
    }

    #[test]
    fn percent_is_per_cpu_like_docker() {
        let host = |s, online| HostCpu { system_ns: s, online };
        // One CPU of two fully busy for one second: the host's time moved 2 s.
        assert_eq!(percent(0, 1_000_000_000, host(0, 2), host(2_000_000_000, 2)), 100.0);
        assert_eq!(percent(5, 5, host(0, 2), host(10, 2)), 0.0);
        assert_eq!(percent(0, 10, host(7, 2), host(7, 2)), 0.0);
        // A counter that went backwards (group re-created under the same name) is 0, not a panic.
        assert_eq!(percent(10, 5, host(0, 2), host(10, 2)), 0.0);
    }

    #[test]
    fn midpoint_of_two_reads() {
        let host = |s, online| HostCpu { system_ns: s, online };
        assert_eq!(midpoint(host(100, 2), host(140, 2)), host(120, 2));
        assert_eq!(midpoint(host(100, 2), host(100, 3)), host(100, 3));
        // A counter that went backwards is not averaged below the first read.
        assert_eq!(midpoint(host(100, 2), host(90, 2)), host(100, 2));
    }

    #[test]
    fn snapshot_keeps_unknown_times_unknown() {
        let times = [Some(5), None, Some(0), Some(u64::MAX)];
        let snap = CpuSnapshot::take_with(times.len(), |i| times[i]);
        let got: Vec<Option<u64>> = (0..5).map(|i| snap.group(i)).collect();
        assert_eq!(got, [Some(5), None, Some(0), None, None]);
        // Listed anew: group 0 was group 2, group 1 was group 1 (unknown), group 2 is new.
        let moved = snap.realign_by(3, |i| [Some(2), Some(1), None][i]);
        assert_eq!((0..3).map(|i| moved.group(i)).collect::<Vec<_>>(), [Some(0), None, None]);
    }

    proptest::proptest! {
        #[test]
        fn proc_stat_never_panics(text in "(cpu[0-9]? ( [0-9]{1,20}){0,10}\n|intr [0-9 ]*\n){0,5}") {
            let _ = parse_proc_stat(&text);
        }
    }
}
