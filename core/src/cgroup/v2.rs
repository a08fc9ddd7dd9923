//! cgroup v2: Docker's limits as the unified hierarchy's files, with runc's conversions
//! (opencontainers/cgroups `utils.go`, `fs2/*.go`). See Documentation/admin-guide/cgroup-v2.rst.
//!
//! Rules that bite: there is no swappiness, kernel-memory or oom-kill-disable knob (warned and
//! dropped); `memory.swap.max` counts swap alone (Docker's total minus memory) and is written
//! before `memory.max`; `cpu.weight` is 1..10000 around 100, not shares around 1024; `io.max`
//! takes one `MAJ:MIN key=value...` line per device and whole disks only.

use std::collections::BTreeMap;
use std::path::Path;

use super::limits::Limits;
use super::plan::{Facts, Write, WritePlan};
use crate::units::SizeOrUnlimited;

/// runc's current `ConvertCPUSharesToCgroupV2Value` (opencontainers/cgroups#20, runc >= 1.3.2):
/// a log-quadratic curve through (2, 1), (1024, 100), (262144, 10000), so the defaults match.
/// The older linear formula mapped 1024 to 39 (opencontainers/runc#4772).
pub fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        262_144.. => 10_000,
        _ => {
            let l = (shares as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            10f64.powf(exponent).ceil() as u64
        }
    }
}

/// runc's `ConvertBlkIOToIOWeightValue`: blkio 10..1000 onto io.weight 1..10000.
pub fn blkio_to_io_weight(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (weight.saturating_sub(10)) * 9999 / 990
}

pub fn memory(limits: &Limits, dir: &Path, plan: &mut WritePlan) {
    if let Some(swap) = limits.effective_swap() {
        let value = match (swap, limits.memory) {
            (SizeOrUnlimited::Unlimited, _) | (_, None) => "max".to_string(),
            (SizeOrUnlimited::Bytes(total), Some(m)) => total.saturating_sub(m).to_string(),
        };
        // Without swap accounting the file is absent; runc ignores "max"/"0" then, and so do we
        // for Docker's default, but a swap limit the user asked for must not vanish silently.
        let asked = limits.memory_swap.is_some() && value != "max" && value != "0";
        let write = Write::new(dir, "memory.swap.max", value, "--memory-swap");
        plan.writes.push(if asked { write } else { write.optional() });
    }
    if let Some(m) = limits.memory {
        plan.write(dir, "memory.max", m.to_string(), "--memory");
    }
    if let Some(r) = limits.memory_reservation {
        plan.write(dir, "memory.low", r.to_string(), "--memory-reservation");
    }
    if limits.memory_swappiness.is_some() {
        plan.warn("--memory-swappiness: cgroup v2 has no per-group swappiness: discarded");
    }
    if limits.kernel_memory.is_some() {
        plan.warn("--kernel-memory: cgroup v2 has no kernel-memory limit (it is counted in memory.max): discarded");
    }
    if limits.oom_kill_disable {
        plan.warn("--oom-kill-disable: cgroup v2 cannot disable the OOM killer for a group: discarded");
    }
}

pub fn cpu(limits: &Limits, dir: &Path, plan: &mut WritePlan) {
    if let Some(s) = limits.cpu_shares {
        plan.write(dir, "cpu.weight", shares_to_weight(s).to_string(), "--cpu-shares");
    }
    if let Some(w) = limits.cpu_weight {
        plan.write(dir, "cpu.weight", w.to_string(), "--cpu-weight");
    }
    if let Some((quota, period)) = limits.cfs() {
        let quota = match quota {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".into(),
        };
        let why = if limits.nano_cpus.is_some() { "--cpus" } else { "--cpu-quota" };
        plan.write(dir, "cpu.max", format!("{quota} {period}"), why);
    }
}

pub fn io(limits: &Limits, dir: &Path, facts: &Facts, plan: &mut WritePlan) {
    // BFQ's weight keeps the v1 scale; io.weight (blk-iocost) has its own.
    let (file, convert): (&str, fn(u64) -> u64) =
        if facts.bfq_weight { ("io.bfq.weight", |w| w) } else { ("io.weight", blkio_to_io_weight) };
    if let Some(w) = limits.blkio_weight {
        plan.write(dir, file, convert(w).to_string(), "--blkio-weight");
    }
    for d in &limits.blkio_weight_device {
        plan.write(dir, file, format!("{} {}", d.dev(), convert(d.value)), "--blkio-weight-device");
    }
    let mut lines: BTreeMap<(u32, u32), Vec<String>> = BTreeMap::new();
    let keys = [
        (&limits.device_read_bps, "rbps"),
        (&limits.device_write_bps, "wbps"),
        (&limits.device_read_iops, "riops"),
        (&limits.device_write_iops, "wiops"),
    ];
    for (list, key) in keys {
        for d in list {
            lines.entry((d.major, d.minor)).or_default().push(format!("{key}={}", d.value));
        }
    }
    for ((major, minor), settings) in lines {
        plan.write(dir, "io.max", format!("{major}:{minor} {}", settings.join(" ")), "--device-*-bps/iops");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::limits::DeviceLimit;
    use crate::cgroup::plan::plan;
    use crate::cgroup::plan::tests::{files, group, pairs};

    #[test]
    fn cpu_shares_to_weight_golden_table() {
        // peers.md §2.1, checked against opencontainers/cgroups utils_test.go.
        let table =
            [(0, 0), (2, 1), (128, 21), (256, 35), (512, 59), (1024, 100), (2048, 174), (4096, 303), (262_144, 10_000)];
        for (shares, weight) in table {
            assert_eq!(shares_to_weight(shares), weight, "shares {shares}");
        }
        assert!((2..=262_144).all(|s| (1..=10_000).contains(&shares_to_weight(s))));
    }

    #[test]
    fn blkio_weight_golden_table() {
        for (w, io) in [(10, 1), (100, 910), (500, 4950), (1000, 10_000)] {
            assert_eq!(blkio_to_io_weight(w), io, "weight {w}");
        }
    }

    #[test]
    fn memory_golden() {
        let limits = Limits {
            memory: Some(100 << 20),
            memory_reservation: Some(50 << 20),
            memory_swap: Some(SizeOrUnlimited::Bytes(300 << 20)),
            memory_swappiness: Some(10),
            kernel_memory: Some(64 << 20),
            oom_kill_disable: true,
            ..Default::default()
        };
        let p = plan(&limits, &group(true), &Facts::default()).unwrap();
        assert_eq!(
            files(&p),
            pairs(&[("memory.swap.max", "209715200"), ("memory.max", "104857600"), ("memory.low", "52428800")])
        );
        assert!(!p.writes[0].optional, "an explicit swap limit must not be dropped silently");
        assert_eq!(p.warnings.len(), 3);
        assert!(p.warnings.iter().all(|w| w.ends_with("discarded")));
    }

    #[test]
    fn swap_conversion_table() {
        // peers.md §2.2 (ConvertMemorySwapToCgroupV2Value).
        let swap_max = |memory: Option<u64>, swap: Option<SizeOrUnlimited>| {
            let p = plan(&Limits { memory, memory_swap: swap, ..Default::default() }, &group(true), &Facts::default())
                .unwrap();
            p.writes.iter().find(|w| w.path.ends_with("memory.swap.max")).map(|w| w.value.clone())
        };
        use SizeOrUnlimited::*;
        assert_eq!(swap_max(Some(100), Some(Unlimited)).as_deref(), Some("max"));
        assert_eq!(swap_max(Some(100), Some(Bytes(0))), None);
        assert_eq!(swap_max(Some(100), Some(Bytes(100))).as_deref(), Some("0"));
        assert_eq!(swap_max(Some(100), Some(Bytes(300))).as_deref(), Some("200"));
        assert_eq!(swap_max(Some(100), None).as_deref(), Some("100"), "Docker: as much swap as memory");
        assert_eq!(swap_max(None, None), None);
    }

    #[test]
    fn cpu_golden() {
        let limits = Limits { cpu_shares: Some(768), cpu_quota: Some(50_000), ..Default::default() };
        let p = plan(&limits, &group(true), &Facts::default()).unwrap();
        assert_eq!(files(&p), pairs(&[("cpu.weight", "80"), ("cpu.max", "50000 100000")]));
        let period_only = Limits { cpu_period: Some(20_000), cpu_weight: Some(500), ..Default::default() };
        assert_eq!(
            files(&plan(&period_only, &group(true), &Facts::default()).unwrap()),
            pairs(&[("cpu.weight", "500"), ("cpu.max", "max 20000")])
        );
        let cpus = Limits { nano_cpus: Some(1_500_000_000), ..Default::default() };
        assert_eq!(
            files(&plan(&cpus, &group(true), &Facts::default()).unwrap()),
            pairs(&[("cpu.max", "150000 100000")])
        );
    }

    #[test]
    fn io_golden() {
        let dev = |minor, v| DeviceLimit { path: "/dev/x".into(), major: 7, minor, value: v };
        let limits = Limits {
            blkio_weight: Some(100),
            blkio_weight_device: vec![dev(1, 500)],
            device_read_bps: vec![dev(0, 2 << 20)],
            device_write_bps: vec![dev(0, 1 << 20)],
            device_read_iops: vec![dev(1, 100)],
            ..Default::default()
        };
        let p = plan(&limits, &group(true), &Facts::default()).unwrap();
        assert_eq!(
            files(&p),
            pairs(&[
                ("io.weight", "910"),
                ("io.weight", "7:1 4950"),
                ("io.max", "7:0 rbps=2097152 wbps=1048576"),
                ("io.max", "7:1 riops=100")
            ])
        );
        let bfq = plan(&limits, &group(true), &Facts { bfq_weight: true, ..Default::default() }).unwrap();
        assert_eq!(files(&bfq)[..2], pairs(&[("io.bfq.weight", "100"), ("io.bfq.weight", "7:1 500")])[..]);
    }
}
