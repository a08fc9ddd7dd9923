//! What one scrape reads of a group: the counters and settings cAdvisor exports, each file read
//! once. See Documentation/admin-guide/cgroup-v2.rst, cgroup-v1/{memory,cpuacct}.rst and
//! scheduler/sched-bwc.rst.
//!
//! Rules that bite:
//! - v1 keeps the CFS settings and their throttling counters in the cpu hierarchy (cpu.shares,
//!   cpu.cfs_quota_us, cpu.stat `throttled_time` in ns), apart from cpuacct's usage; v2 has
//!   them in the group's cpu.stat (`throttled_usec`), cpu.weight and cpu.max, present only where
//!   the cpu controller is enabled. Throttling means something only under a quota, so it is read
//!   (v1) and reported only then, as cAdvisor does; so is v1's period (v2's cpu.max gives it
//!   with the quota in one read).
//! - cAdvisor's container_processes counts cgroup.procs; pids.current (tasks) is not read.
//! - v2 has no failcnt: memory.events `max` counts the times usage hit memory.max, which is what
//!   v1's memory.failcnt counts; the same file's `oom_kill` is v1's memory.oom_control `oom_kill`.
//! - cAdvisor's working set is usage less inactive file pages, floored at 0 (Docker's MEM USAGE
//!   keeps the usage instead when the pages are more than it).
//! - Files are parsed with runc's grammar as a sample's are (stats::sample): a file runc refuses
//!   gives no number, so its metrics are left out of the scrape rather than shown as 0.

use std::collections::HashMap;

use super::net::{InterfaceBytes, Net, NetReader};
use super::sample::{self, read_in, Ctl, DeviceBytes, GroupFiles, Memory};
use crate::cgroup::files::{flat_keyed, go_uint, param_uint, parse_procs};
use crate::cgroup::CGROUP_PROCS;
use crate::trace;

/// CFS bandwidth counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttling {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_ns: u64,
}

/// The cpu controller's settings, in v1's units (cAdvisor's spec).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuSpec {
    /// cpu.shares, or cpu.weight turned back into shares as cAdvisor does.
    pub shares: Option<u64>,
    /// Microseconds per period; `None` when unlimited.
    pub quota_us: Option<u64>,
    pub period_us: Option<u64>,
}

/// Everything a scrape reads of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    pub cpu_ns: Option<u64>,
    pub throttling: Option<Throttling>,
    pub cpu_spec: CpuSpec,
    pub memory: Option<Memory>,
    pub rss: Option<u64>,
    pub cache: Option<u64>,
    pub failcnt: Option<u64>,
    pub oom_kills: Option<u64>,
    /// Bytes read and written per `MAJ:MIN`.
    pub devices: DeviceBytes,
    pub net: Option<Net>,
    pub interfaces: InterfaceBytes,
    /// Members (cgroup.procs).
    pub processes: Option<u64>,
}

impl Detail {
    /// cAdvisor's working set: usage less inactive file pages, at least 0.
    pub fn working_set(&self) -> Option<u64> {
        self.memory.map(|m| m.usage.saturating_sub(m.inactive_file.unwrap_or(0)))
    }
}

/// Read one group for a scrape.
pub fn read(target: &GroupFiles, net: &mut NetReader) -> Detail {
    // cgroup.procs only: cAdvisor's container_processes counts processes, not pids.current's tasks.
    let procs = target.procs.as_ref().and_then(|dir| super::reader::read_all(dir, CGROUP_PROCS));
    let procs = procs.map(|s| parse_procs(&s));
    let (net_kind, interfaces) = match procs.as_deref() {
        Some(p) => net.read_interfaces(p),
        None => (Net::NoProcess, Vec::new()),
    };
    let mut d = Detail {
        processes: procs.as_ref().map(|p| p.len() as u64),
        net: Some(net_kind),
        interfaces,
        devices: target.io.as_ref().and_then(sample::read_block_devices).unwrap_or_default(),
        ..Detail::default()
    };
    read_cpu(target, &mut d);
    read_memory(target, &mut d);
    d
}

fn read_cpu(target: &GroupFiles, d: &mut Detail) {
    if let Some(ctl) = target.cpu_controller.as_ref() {
        d.cpu_spec = if ctl.v2 {
            let (quota_us, period_us) = read_in(ctl, "cpu.max").as_deref().map_or((None, None), parse_cpu_max);
            CpuSpec { shares: read_number(ctl, "cpu.weight").and_then(weight_to_shares), quota_us, period_us }
        } else {
            // -1 is no quota; a file that is neither that nor a number is no quota known either.
            let quota_us = read_in(ctl, "cpu.cfs_quota_us").and_then(|s| go_uint(s.trim()));
            // The period means something only under a quota (v2's cpu.max gives both at once).
            let period_us = quota_us.and_then(|_| read_number(ctl, "cpu.cfs_period_us"));
            CpuSpec { shares: read_number(ctl, "cpu.shares"), quota_us, period_us }
        };
    }
    let limited = d.cpu_spec.quota_us.is_some();
    match target.cpu.as_ref() {
        Some(ctl) if ctl.v2 => {
            let stat = read_in(ctl, "cpu.stat");
            d.cpu_ns = stat.as_deref().and_then(super::cpu::parse_cpu_stat_usage);
            d.throttling = stat.as_deref().filter(|_| limited).and_then(|s| parse_throttling(s, true));
        }
        Some(_) => {
            d.cpu_ns = sample::read_cpu(target);
            let v1_cpu = target.cpu_controller.as_ref().filter(|c| !c.v2 && limited);
            d.throttling = v1_cpu.and_then(|c| read_in(c, "cpu.stat")).and_then(|s| parse_throttling(&s, false));
        }
        None => {}
    }
}

fn read_memory(target: &GroupFiles, d: &mut Detail) {
    let Some(ctl) = target.memory.as_ref() else { return };
    let Some((memory, stat)) = sample::read_memory_and_stat(ctl) else { return };
    d.memory = Some(memory);
    let (rss_key, cache_key) = if ctl.v2 { ("anon", "file") } else { ("total_rss", "total_cache") };
    // Parsed once: a scrape of 10,000 groups reads as many memory.stat files of 40 lines.
    let stat = stat.as_deref().and_then(flat_keyed).unwrap_or_default();
    d.rss = key(&stat, rss_key);
    d.cache = key(&stat, cache_key);
    if ctl.v2 {
        let events = read_keyed(ctl, "memory.events");
        d.failcnt = key(&events, "max");
        d.oom_kills = key(&events, "oom_kill");
    } else {
        d.failcnt = read_number(ctl, "memory.failcnt");
        d.oom_kills = key(&read_keyed(ctl, "memory.oom_control"), "oom_kill");
    }
}

fn read_number(ctl: &Ctl, file: &str) -> Option<u64> {
    read_in(ctl, file).as_deref().and_then(param_uint)
}

/// A flat-keyed file's pairs; none when it is missing or runc would refuse it.
fn read_keyed(ctl: &Ctl, file: &str) -> Vec<(String, u64)> {
    let text = read_in(ctl, file).unwrap_or_default();
    flat_keyed(&text).unwrap_or_default().into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn key<K: AsRef<str>>(pairs: &[(K, u64)], name: &str) -> Option<u64> {
    pairs.iter().find(|(k, _)| k.as_ref() == name).map(|(_, v)| *v)
}

/// cpu.stat's CFS counters: v2 `throttled_usec`, v1 `throttled_time` (nanoseconds). A malformed
/// file has none.
pub fn parse_throttling(text: &str, v2: bool) -> Option<Throttling> {
    let pairs = flat_keyed(text)?;
    let throttled_ns =
        if v2 { key(&pairs, "throttled_usec")?.checked_mul(1000)? } else { key(&pairs, "throttled_time")? };
    Some(Throttling {
        periods: key(&pairs, "nr_periods")?,
        throttled_periods: key(&pairs, "nr_throttled")?,
        throttled_ns,
    })
}

/// v2 cpu.max, `QUOTA PERIOD` with `max` for no quota; numbers as runc reads them (digits only).
pub fn parse_cpu_max(text: &str) -> (Option<u64>, Option<u64>) {
    let mut fields = text.split_whitespace();
    let quota = fields.next().and_then(go_uint);
    (quota, fields.next().and_then(go_uint))
}

/// cAdvisor's `convertCPUWeightToCPULimit`: weight 1..10000 back to shares 2..262144.
pub fn weight_to_shares(weight: u64) -> Option<u64> {
    (1..=10000).contains(&weight).then(|| 2 + (weight - 1) * 262142 / 9999)
}

/// `/dev/NAME` of block devices by `MAJ:MIN` (cAdvisor's `device` label), each looked up once,
/// from /sys/dev/block/MAJ:MIN/uevent; the number itself when the kernel has no name for it.
#[derive(Default)]
pub struct DeviceNames(HashMap<String, String>);

impl DeviceNames {
    pub fn name(&mut self, majmin: &str) -> &str {
        self.0.entry(majmin.to_string()).or_insert_with(|| {
            let uevent = trace::read_file(format!("/sys/dev/block/{majmin}/uevent")).unwrap_or_default();
            uevent
                .lines()
                .find_map(|l| l.strip_prefix("DEVNAME="))
                .filter(|n| !n.is_empty() && !n.contains(".."))
                .map_or_else(|| majmin.to_string(), |n| format!("/dev/{n}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_of_both_versions() {
        let v2 = "usage_usec 10\nuser_usec 5\nsystem_usec 5\nnr_periods 32\nnr_throttled 31\nthrottled_usec 1500\n";
        assert_eq!(
            parse_throttling(v2, true),
            Some(Throttling { periods: 32, throttled_periods: 31, throttled_ns: 1_500_000 })
        );
        let v1 = "nr_periods 723\nnr_throttled 18\nthrottled_time 1724314000\n";
        assert_eq!(
            parse_throttling(v1, false),
            Some(Throttling { periods: 723, throttled_periods: 18, throttled_ns: 1_724_314_000 })
        );
        // v2 without the cpu controller has only the usage lines.
        assert_eq!(parse_throttling("usage_usec 10\nuser_usec 5\nsystem_usec 5\n", true), None);
        // A line runc refuses makes the file's counters unknown, never 0.
        assert_eq!(parse_throttling("nr_periods 7\nnr_throttled 1 2\nthrottled_time 5\n", false), None);
    }

    #[test]
    fn cpu_max_and_weights() {
        assert_eq!(parse_cpu_max("max 100000\n"), (None, Some(100000)));
        assert_eq!(parse_cpu_max("25000 100000\n"), (Some(25000), Some(100000)));
        assert_eq!(parse_cpu_max("+25000 100000\n"), (None, Some(100000)), "runc's grammar: digits only");
        // runc's shares -> weight, then cAdvisor's weight -> shares: 1024 -> 100 -> 2623.
        assert_eq!(weight_to_shares(100), Some(2 + 99 * 262142 / 9999));
        assert_eq!((weight_to_shares(1), weight_to_shares(10000)), (Some(2), Some(262144)));
        assert_eq!((weight_to_shares(0), weight_to_shares(10001)), (None, None));
    }

    #[test]
    fn working_set_is_floored() {
        let d = |usage, inactive| Detail {
            memory: Some(Memory { usage, inactive_file: Some(inactive), limit: None }),
            ..Detail::default()
        };
        assert_eq!(d(1000, 300).working_set(), Some(700));
        assert_eq!(d(100, 300).working_set(), Some(0));
    }

    // Issue 14.11 in a scrape: a file runc's grammar refuses gives no number (no sample), never 0;
    // the group's other files are still read.
    #[test]
    fn a_malformed_file_gives_no_number() {
        let dir = std::env::temp_dir().join(format!("isolab-detail-malformed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
        file("memory.usage_in_bytes", "4096\n");
        file("memory.limit_in_bytes", "104857600\n");
        file("memory.stat", "total_rss 5\ntotal_cache 6\ntotal_inactive_file 1\n");
        file("memory.failcnt", "+3\n");
        file("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
        file("cpu.cfs_quota_us", "-1\n");
        file("cpu.shares", "1024\n");
        let ctl = Ctl { dir: dir.clone(), v2: false };
        let target = GroupFiles {
            name: "odd".into(),
            cpu: None,
            memory: Some(ctl.clone()),
            io: None,
            pids: None,
            procs: None,
            cpu_controller: Some(ctl),
        };
        let d = read(&target, &mut NetReader::new(None));
        assert_eq!((d.rss, d.cache, d.failcnt, d.oom_kills), (Some(5), Some(6), None, Some(2)));
        assert_eq!(d.cpu_spec, CpuSpec { shares: Some(1024), quota_us: None, period_us: None });
        file("memory.stat", "total_rss 5\ntotal_cache 6 7\n");
        let d = read(&target, &mut NetReader::new(None));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!((d.memory, d.rss, d.cache, d.oom_kills), (None, None, None, None));
    }

    #[test]
    fn unknown_devices_keep_their_number() {
        assert_eq!(DeviceNames::default().name("4095:99999"), "4095:99999");
    }
}
