//! cgroup v1: Docker's limits as the per-controller files runc writes (opencontainers/cgroups
//! `fs/*.go`). See Documentation/admin-guide/cgroup-v1/{memory,blkio-controller}.rst.
//!
//! Rules that bite: `memory.memsw.limit_in_bytes` must never be below `memory.limit_in_bytes`,
//! so in a fresh group (both unlimited) memory goes first; kernel-memory limits are accepted but
//! ignored since Linux 6.1; blkio throttles take whole disks (`MAJ:MIN`), one device per write.

use std::path::Path;

use super::limits::Limits;
use super::plan::{Facts, WritePlan};
use crate::units::SizeOrUnlimited;

pub fn memory(limits: &Limits, dir: &Path, facts: &Facts, plan: &mut WritePlan) {
    if let Some(m) = limits.memory {
        plan.write(dir, "memory.limit_in_bytes", m.to_string(), "--memory");
    }
    match (limits.effective_swap(), facts.memsw) {
        (Some(swap), true) => {
            let value = match swap {
                SizeOrUnlimited::Bytes(n) => n.to_string(),
                SizeOrUnlimited::Unlimited => "-1".into(),
            };
            plan.write(dir, "memory.memsw.limit_in_bytes", value, "--memory-swap");
        }
        (Some(_), false) if limits.memory_swap.is_some() => {
            plan.warn("--memory-swap: this kernel does not account swap (no memory.memsw.limit_in_bytes; boot with swapaccount=1): swap is not limited")
        }
        _ => {}
    }
    if let Some(r) = limits.memory_reservation {
        plan.write(dir, "memory.soft_limit_in_bytes", r.to_string(), "--memory-reservation");
    }
    if let Some(s) = limits.memory_swappiness {
        plan.write(dir, "memory.swappiness", s.to_string(), "--memory-swappiness");
    }
    if let Some(k) = limits.kernel_memory {
        if facts.kmem {
            plan.write(dir, "memory.kmem.limit_in_bytes", k.to_string(), "--kernel-memory");
        } else {
            plan.warn("--kernel-memory: this kernel no longer limits kernel memory (memory.kmem.limit_in_bytes is ignored since Linux 6.1): not set");
        }
    }
    if limits.oom_kill_disable {
        plan.write(dir, "memory.oom_control", "1", "--oom-kill-disable");
    }
}

pub fn cpu(limits: &Limits, dir: &Path, plan: &mut WritePlan) -> anyhow::Result<()> {
    if let Some(s) = limits.cpu_shares {
        plan.write(dir, "cpu.shares", s.to_string(), "--cpu-shares");
    }
    if limits.cpu_weight.is_some() {
        anyhow::bail!("--cpu-weight: cpu is on cgroup v1 here, which has cpu.shares: use --cpu-shares");
    }
    if let Some((quota, period)) = limits.cfs() {
        // The period first: the kernel checks the quota against the period in force.
        let why = if limits.nano_cpus.is_some() { "--cpus" } else { "--cpu-period" };
        plan.write(dir, "cpu.cfs_period_us", period.to_string(), why);
        if let Some(q) = quota {
            let why = if limits.nano_cpus.is_some() { "--cpus" } else { "--cpu-quota" };
            plan.write(dir, "cpu.cfs_quota_us", q.to_string(), why);
        }
    }
    Ok(())
}

pub fn blkio(limits: &Limits, dir: &Path, facts: &Facts, plan: &mut WritePlan) -> anyhow::Result<()> {
    let weight_file = |suffix: &str| -> anyhow::Result<String> {
        if facts.bfq_weight {
            Ok(format!("blkio.bfq.{suffix}"))
        } else if facts.blkio_weight {
            Ok(format!("blkio.{suffix}"))
        } else {
            anyhow::bail!("--blkio-weight: this kernel offers no blkio weight (neither blkio.weight nor blkio.bfq.weight; load the bfq scheduler)")
        }
    };
    if let Some(w) = limits.blkio_weight {
        plan.write(dir, &weight_file("weight")?, w.to_string(), "--blkio-weight");
    }
    for d in &limits.blkio_weight_device {
        plan.write(dir, &weight_file("weight_device")?, format!("{} {}", d.dev(), d.value), "--blkio-weight-device");
    }
    let throttles = [
        (&limits.device_read_bps, "blkio.throttle.read_bps_device", "--device-read-bps"),
        (&limits.device_write_bps, "blkio.throttle.write_bps_device", "--device-write-bps"),
        (&limits.device_read_iops, "blkio.throttle.read_iops_device", "--device-read-iops"),
        (&limits.device_write_iops, "blkio.throttle.write_iops_device", "--device-write-iops"),
    ];
    for (list, file, why) in throttles {
        for d in list {
            plan.write(dir, file, format!("{} {}", d.dev(), d.value), why);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::limits::DeviceLimit;
    use crate::cgroup::plan::plan;
    use crate::cgroup::plan::tests::{files, group, pairs};

    #[test]
    fn memory_golden() {
        let limits = Limits {
            memory: Some(100 << 20),
            memory_reservation: Some(50 << 20),
            memory_swappiness: Some(10),
            kernel_memory: Some(64 << 20),
            oom_kill_disable: true,
            ..Default::default()
        };
        let facts = Facts { memsw: true, kmem: true, ..Default::default() };
        let p = plan(&limits, &group(false), &facts).unwrap();
        assert_eq!(
            files(&p),
            pairs(&[
                ("memory.limit_in_bytes", "104857600"),
                ("memory.memsw.limit_in_bytes", "209715200"),
                ("memory.soft_limit_in_bytes", "52428800"),
                ("memory.swappiness", "10"),
                ("memory.kmem.limit_in_bytes", "67108864"),
                ("memory.oom_control", "1"),
            ])
        );
        assert!(p.warnings.is_empty());
        let dropped = plan(&limits, &group(false), &Facts { memsw: false, kmem: false, ..Default::default() }).unwrap();
        assert_eq!(dropped.warnings.len(), 1, "{:?}", dropped.warnings);
        assert!(dropped.warnings[0].starts_with("--kernel-memory"));
    }

    #[test]
    fn swap_unlimited_and_no_swap() {
        let facts = Facts { memsw: true, ..Default::default() };
        let mut limits =
            Limits { memory: Some(100 << 20), memory_swap: Some(SizeOrUnlimited::Unlimited), ..Default::default() };
        assert_eq!(
            files(&plan(&limits, &group(false), &facts).unwrap())[1],
            ("memory.memsw.limit_in_bytes".into(), "-1".into())
        );
        limits.memory_swap = Some(SizeOrUnlimited::Bytes(100 << 20));
        assert_eq!(files(&plan(&limits, &group(false), &facts).unwrap())[1].1, "104857600");
    }

    #[test]
    fn cpu_golden() {
        let limits =
            Limits { cpu_shares: Some(512), cpu_period: Some(50_000), cpu_quota: Some(25_000), ..Default::default() };
        let p = plan(&limits, &group(false), &Facts::default()).unwrap();
        assert_eq!(
            files(&p),
            pairs(&[("cpu.shares", "512"), ("cpu.cfs_period_us", "50000"), ("cpu.cfs_quota_us", "25000")])
        );
        let cpus = Limits { nano_cpus: Some(500_000_000), ..Default::default() };
        assert_eq!(
            files(&plan(&cpus, &group(false), &Facts::default()).unwrap()),
            pairs(&[("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "50000")])
        );
        let weight = Limits { cpu_weight: Some(100), ..Default::default() };
        assert!(plan(&weight, &group(false), &Facts::default()).is_err());
    }

    #[test]
    fn blkio_golden() {
        let dev = |v| DeviceLimit { path: "/dev/loop0".into(), major: 7, minor: 0, value: v };
        let limits = Limits {
            blkio_weight: Some(300),
            blkio_weight_device: vec![dev(200)],
            device_read_bps: vec![dev(2 << 20)],
            device_write_iops: vec![dev(100)],
            ..Default::default()
        };
        let p = plan(&limits, &group(false), &Facts { bfq_weight: true, ..Default::default() }).unwrap();
        assert_eq!(
            files(&p),
            pairs(&[
                ("blkio.bfq.weight", "300"),
                ("blkio.bfq.weight_device", "7:0 200"),
                ("blkio.throttle.read_bps_device", "7:0 2097152"),
                ("blkio.throttle.write_iops_device", "7:0 100"),
            ])
        );
        let cfq = plan(&limits, &group(false), &Facts { blkio_weight: true, ..Default::default() }).unwrap();
        assert_eq!(files(&cfq)[0].0, "blkio.weight");
        assert!(plan(&limits, &group(false), &Facts::default()).is_err());
    }
}
