//! One model of resource limits in Docker's terms, and Docker's checks on it.
//!
//! The checks and their wording follow moby `daemon/daemon_unix.go`
//! (verifyPlatformContainerResources): memory at least 6 MB, swap (memory + swap) not below
//! memory, reservation not above memory, weights and periods in the kernel's ranges. [`Limits::check`]
//! needs no kernel; [`Limits::check_host`] compares CPUs and nodes with what the parent allows.

use anyhow::bail;

use crate::units::{IdList, SizeOrUnlimited};

/// Docker's floor for `--memory` and `--memory-reservation` ("Minimum memory limit allowed is 6MB").
pub const MIN_MEMORY: u64 = 6 << 20;
/// Kernel range of v1 `cpu.shares` (MIN_SHARES, MAX_SHARES = 1<<18).
pub const SHARES: (u64, u64) = (2, 262_144);
/// Kernel range of v2 `cpu.weight`.
pub const WEIGHT: (u64, u64) = (1, 10_000);
/// v1 blkio weight range, also Docker's.
pub const BLKIO_WEIGHT: (u64, u64) = (10, 1000);
/// CFS period range in microseconds (1 ms to 1 s).
pub const CFS_PERIOD: (u64, u64) = (1000, 1_000_000);
/// The period `--cpus` uses, as Docker does.
pub const DEFAULT_PERIOD: u64 = 100_000;
/// The least `--cpus`: the kernel's least CFS quota, 1 ms, per `DEFAULT_PERIOD` (0.01 CPUs).
const MIN_NANO_CPUS: u64 = 1000 * 1_000_000_000 / DEFAULT_PERIOD;

/// Billionths of a CPU as the decimal number they came from (`100` -> `0.0000001`).
fn nano_cpus_shown(n: u64) -> String {
    let frac = format!("{:09}", n % 1_000_000_000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        (n / 1_000_000_000).to_string()
    } else {
        format!("{}.{frac}", n / 1_000_000_000)
    }
}

/// A per-device value with the device resolved to its numbers (the whole disk for a partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceLimit {
    pub path: String,
    pub major: u32,
    pub minor: u32,
    pub value: u64,
}

impl DeviceLimit {
    /// A limit on `path` whose numbers [`super::lifecycle`] fills in by stat(2).
    pub fn unresolved(path: impl Into<String>, value: u64) -> DeviceLimit {
        DeviceLimit { path: path.into(), major: 0, minor: 0, value }
    }

    pub fn dev(&self) -> String {
        format!("{}:{}", self.major, self.minor)
    }
}

/// Everything a group may be limited by; `None`/empty means "not set".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub memory: Option<u64>,
    pub memory_reservation: Option<u64>,
    /// Memory plus swap, as Docker counts it.
    pub memory_swap: Option<SizeOrUnlimited>,
    pub memory_swappiness: Option<u64>,
    pub kernel_memory: Option<u64>,
    pub oom_kill_disable: bool,
    pub cpu_shares: Option<u64>,
    pub cpu_weight: Option<u64>,
    pub cpu_period: Option<u64>,
    /// Microseconds per period; -1 = unlimited.
    pub cpu_quota: Option<i64>,
    /// `--cpus` in billionths of a CPU, as Docker's NanoCPUs.
    pub nano_cpus: Option<u64>,
    pub cpuset_cpus: Option<IdList>,
    pub cpuset_mems: Option<IdList>,
    pub blkio_weight: Option<u64>,
    pub blkio_weight_device: Vec<DeviceLimit>,
    pub device_read_bps: Vec<DeviceLimit>,
    pub device_write_bps: Vec<DeviceLimit>,
    pub device_read_iops: Vec<DeviceLimit>,
    pub device_write_iops: Vec<DeviceLimit>,
    /// <= 0 means unlimited, as Docker's `--pids-limit 0` / `-1`.
    pub pids_limit: Option<i64>,
    /// `--set FILE=VALUE`, written last, in order.
    pub set: Vec<(String, String)>,
    /// Device access (Docker's allowlist and `--device`); None: unrestricted (`--privileged`).
    pub devices: Option<super::devices::Policy>,
}

fn in_range(flag: &str, value: u64, (lo, hi): (u64, u64)) -> anyhow::Result<()> {
    if value < lo || value > hi {
        bail!("{flag}: {value} is out of range, use {lo} to {hi}");
    }
    Ok(())
}

impl Limits {
    /// Docker's rule for 0: the limit is not set. moby checks -m, --memory-reservation,
    /// --memory-swap, --kernel-memory, --cpu-shares, --cpu-period, --cpu-quota, --cpus,
    /// --blkio-weight and a device weight only when they are not 0, and runc writes none of them
    /// when 0 (nor cpu.weight). Not so --pids-limit, where 0 is unlimited like -1 (pids.max =
    /// max), nor --memory-swappiness, where 0 is a value (-1 is unset).
    pub fn zeros_unset(mut self) -> Limits {
        let set = |v: Option<u64>| v.filter(|&n| n != 0);
        self.memory = set(self.memory);
        self.memory_reservation = set(self.memory_reservation);
        self.memory_swap = self.memory_swap.filter(|&s| s != SizeOrUnlimited::Bytes(0));
        self.kernel_memory = set(self.kernel_memory);
        self.cpu_shares = set(self.cpu_shares);
        self.cpu_weight = set(self.cpu_weight);
        self.cpu_period = set(self.cpu_period);
        self.cpu_quota = self.cpu_quota.filter(|&q| q != 0);
        self.nano_cpus = set(self.nano_cpus);
        self.blkio_weight = set(self.blkio_weight);
        self.blkio_weight_device.retain(|d| d.value != 0);
        self
    }

    /// Docker's own checks, which need no kernel. Errors name the flag.
    pub fn check(&self) -> anyhow::Result<()> {
        self.check_memory()?;
        self.check_cpu()?;
        if let Some(w) = self.blkio_weight {
            in_range("--blkio-weight", w, BLKIO_WEIGHT)?;
        }
        for d in &self.blkio_weight_device {
            in_range("--blkio-weight-device", d.value, BLKIO_WEIGHT)?;
        }
        for (file, value) in &self.set {
            check_set(file, value)?;
        }
        Ok(())
    }

    fn check_memory(&self) -> anyhow::Result<()> {
        if self.memory.is_some_and(|m| m < MIN_MEMORY) {
            bail!("--memory: minimum memory limit allowed is 6MB");
        }
        if self.memory_reservation.is_some_and(|r| r < MIN_MEMORY) {
            bail!("--memory-reservation: minimum memory reservation allowed is 6MB");
        }
        if let (Some(m), Some(r)) = (self.memory, self.memory_reservation) {
            if r > m {
                bail!("--memory-reservation: the reservation ({r} bytes) must not be larger than --memory ({m} bytes)");
            }
        }
        match (self.memory, self.memory_swap) {
            (None, Some(SizeOrUnlimited::Bytes(s))) if s > 0 => {
                bail!("--memory-swap: set --memory too: the swap limit is memory plus swap")
            }
            (Some(m), Some(SizeOrUnlimited::Bytes(s))) if s > 0 && s < m => {
                bail!("--memory-swap: memory plus swap ({s} bytes) must not be smaller than --memory ({m} bytes)")
            }
            _ => {}
        }
        if let Some(s) = self.memory_swappiness {
            in_range("--memory-swappiness", s, (0, 100))?;
        }
        if self.kernel_memory.is_some_and(|k| k < 4 << 20) {
            bail!("--kernel-memory: minimum kernel memory limit allowed is 4MB");
        }
        Ok(())
    }

    fn check_cpu(&self) -> anyhow::Result<()> {
        if let Some(s) = self.cpu_shares {
            in_range("--cpu-shares", s, SHARES)?;
        }
        if let Some(w) = self.cpu_weight {
            in_range("--cpu-weight", w, WEIGHT)?;
        }
        if self.cpu_shares.is_some() && self.cpu_weight.is_some() {
            bail!("--cpu-weight: conflicts with --cpu-shares (one is converted into the other)");
        }
        if self.nano_cpus.is_some() && (self.cpu_period.is_some() || self.cpu_quota.is_some()) {
            bail!("--cpus: conflicts with --cpu-period and --cpu-quota (it sets both)");
        }
        if let Some(n) = self.nano_cpus.filter(|&n| n < MIN_NANO_CPUS) {
            // Docker leaves this to the kernel, which refuses a quota under 1 ms (or, at 0, no
            // quota is written at all): refused here rather than rounded up to 0.01.
            bail!(
                "--cpus: {} is below 0.01, the least the kernel enforces (a quota of 1ms per {}ms period)",
                nano_cpus_shown(n),
                DEFAULT_PERIOD / 1000
            );
        }
        if let Some(p) = self.cpu_period {
            in_range("--cpu-period", p, CFS_PERIOD)?;
        }
        if let Some(q) = self.cpu_quota {
            if q != -1 && q < 1000 {
                bail!("--cpu-quota: {q} is too small, use at least 1000 (1 ms) or -1 for unlimited");
            }
        }
        Ok(())
    }

    /// Checks against the host: `--cpus` within the online CPUs, cpusets within what the parent
    /// group may use (Docker: "Requested CPUs are not available").
    pub fn check_host(&self, online_cpus: usize, allowed_cpus: &IdList, allowed_mems: &IdList) -> anyhow::Result<()> {
        if let Some(n) = self.nano_cpus {
            if n > online_cpus as u64 * 1_000_000_000 {
                bail!("--cpus: range of CPUs is from 0.01 to {online_cpus}.00, as there are only {online_cpus} CPUs available");
            }
        }
        for (flag, want, allowed) in
            [("--cpuset-cpus", &self.cpuset_cpus, allowed_cpus), ("--cpuset-mems", &self.cpuset_mems, allowed_mems)]
        {
            let Some(want) = want else { continue };
            let missing = want.missing_from(allowed);
            if !missing.is_empty() {
                let missing = IdList(missing);
                bail!("{flag}: {missing} not available: requested {want}, available {allowed}");
            }
        }
        Ok(())
    }

    /// The CFS quota and period to write: from `--cpus`, or the flags as given.
    pub fn cfs(&self) -> Option<(Option<i64>, u64)> {
        if let Some(n) = self.nano_cpus {
            let quota = (n as u128 * DEFAULT_PERIOD as u128 / 1_000_000_000) as i64;
            return Some((Some(quota), DEFAULT_PERIOD));
        }
        if self.cpu_period.is_none() && self.cpu_quota.is_none() {
            return None;
        }
        Some((self.cpu_quota, self.cpu_period.unwrap_or(DEFAULT_PERIOD)))
    }

    /// The memory + swap total to enforce. Docker: unset with `--memory` set means swap may
    /// equal memory (total twice the memory); 0 means unset.
    pub fn effective_swap(&self) -> Option<SizeOrUnlimited> {
        match (self.memory, self.memory_swap) {
            (_, Some(SizeOrUnlimited::Bytes(0))) | (None, None) => None,
            (Some(m), None) => Some(SizeOrUnlimited::Bytes(m.saturating_mul(2))),
            (_, swap) => swap,
        }
    }

    /// The controllers a limit needs (v1 names; `blkio` is v2's `io`).
    pub fn controllers(&self) -> Vec<&'static str> {
        let mut needed = Vec::new();
        let memory = self.memory.is_some()
            || self.memory_reservation.is_some()
            || self.memory_swap.is_some()
            || self.memory_swappiness.is_some()
            || self.kernel_memory.is_some()
            || self.oom_kill_disable;
        let cpu = self.cpu_shares.is_some() || self.cpu_weight.is_some() || self.cfs().is_some();
        let cpuset = self.cpuset_cpus.is_some() || self.cpuset_mems.is_some();
        let blkio = self.blkio_weight.is_some() || self.devices().any(|_| true);
        for (used, name) in [
            (memory, "memory"),
            (cpu, "cpu"),
            (cpuset, "cpuset"),
            (blkio, "blkio"),
            (self.pids_limit.is_some(), "pids"),
        ] {
            if used {
                needed.push(name);
            }
        }
        needed
    }

    /// Every per-device limit, for resolving device numbers.
    pub fn devices(&self) -> impl Iterator<Item = &DeviceLimit> {
        self.blkio_weight_device
            .iter()
            .chain(&self.device_read_bps)
            .chain(&self.device_write_bps)
            .chain(&self.device_read_iops)
            .chain(&self.device_write_iops)
    }

    pub fn devices_mut(&mut self) -> impl Iterator<Item = &mut DeviceLimit> {
        self.blkio_weight_device
            .iter_mut()
            .chain(&mut self.device_read_bps)
            .chain(&mut self.device_write_bps)
            .chain(&mut self.device_read_iops)
            .chain(&mut self.device_write_iops)
    }
}

/// Files `--set` refuses: the core interface files (membership, delegation, kill) and v1's
/// release agent, which runs a host program as root (CVE-2022-0492).
const REFUSED_FILES: [&str; 2] = ["release_agent", "notify_on_release"];

/// `--set FILE=VALUE`: a controller file by its kernel name, a one-line value.
pub fn check_set(file: &str, value: &str) -> anyhow::Result<()> {
    let shown = file.escape_debug();
    if file.is_empty() || !file.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
    {
        bail!("--set: invalid file name \"{shown}\" (a controller file like memory.high)");
    }
    if file.starts_with("cgroup.") || REFUSED_FILES.contains(&file) {
        bail!("--set: {file} is managed by {} itself and cannot be set", crate::exit::tool());
    }
    if !file.contains('.') || file.split('.').any(str::is_empty) {
        bail!("--set: invalid file name \"{shown}\" (CONTROLLER.FILE, like memory.high)");
    }
    if value.contains(['\n', '\0']) {
        bail!("--set: the value for {file} must be one line");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(m: u64) -> Limits {
        Limits { memory: Some(m << 20), ..Default::default() }
    }

    #[test]
    fn docker_memory_rules() {
        assert!(mem(6).check().is_ok());
        assert!(mem(5).check().unwrap_err().to_string().contains("6MB"));
        let swap_below = Limits { memory_swap: Some(SizeOrUnlimited::Bytes(50 << 20)), ..mem(100) };
        assert!(swap_below.check().unwrap_err().to_string().starts_with("--memory-swap"));
        let swap_alone = Limits { memory_swap: Some(SizeOrUnlimited::Bytes(50 << 20)), ..Default::default() };
        assert!(swap_alone.check().is_err());
        let unlimited = Limits { memory_swap: Some(SizeOrUnlimited::Unlimited), ..mem(100) };
        assert!(unlimited.check().is_ok());
        let reservation_above = Limits { memory_reservation: Some(200 << 20), ..mem(100) };
        assert!(reservation_above.check().unwrap_err().to_string().starts_with("--memory-reservation"));
    }

    #[test]
    fn docker_swap_default_is_twice_the_memory() {
        assert_eq!(mem(100).effective_swap(), Some(SizeOrUnlimited::Bytes(200 << 20)));
        let no_swap = Limits { memory_swap: Some(SizeOrUnlimited::Bytes(100 << 20)), ..mem(100) };
        assert_eq!(no_swap.effective_swap(), Some(SizeOrUnlimited::Bytes(100 << 20)));
        let zero = Limits { memory_swap: Some(SizeOrUnlimited::Bytes(0)), ..mem(100) };
        assert_eq!(zero.effective_swap(), None);
        assert_eq!(Limits::default().effective_swap(), None);
    }

    #[test]
    fn zero_is_unset_as_in_docker() {
        let zeros = Limits {
            memory: Some(0),
            memory_reservation: Some(0),
            memory_swap: Some(SizeOrUnlimited::Bytes(0)),
            kernel_memory: Some(0),
            cpu_shares: Some(0),
            cpu_weight: Some(0),
            cpu_period: Some(0),
            cpu_quota: Some(0),
            nano_cpus: Some(0),
            blkio_weight: Some(0),
            blkio_weight_device: vec![DeviceLimit::unresolved("/dev/sda", 0)],
            ..Default::default()
        };
        assert_eq!(zeros.zeros_unset(), Limits::default());
        // 0 is unlimited for pids and a value for swappiness: both kept.
        let kept = Limits { pids_limit: Some(0), memory_swappiness: Some(0), ..Default::default() };
        assert_eq!(kept.clone().zeros_unset(), kept);
    }

    #[test]
    fn cpu_rules() {
        let l = |f: fn(&mut Limits)| {
            let mut l = Limits::default();
            f(&mut l);
            l.check()
        };
        assert!(l(|l| l.cpu_shares = Some(1)).is_err());
        assert!(l(|l| l.cpu_shares = Some(262_145)).is_err());
        assert!(l(|l| l.cpu_shares = Some(2)).is_ok());
        assert!(l(|l| l.cpu_period = Some(999)).is_err());
        assert!(l(|l| l.cpu_quota = Some(-1)).is_ok());
        assert!(l(|l| l.cpu_quota = Some(10)).is_err());
        assert!(l(|l| {
            l.nano_cpus = Some(1_500_000_000);
            l.cpu_period = Some(100_000);
        })
        .is_err());
        let cpus = Limits { nano_cpus: Some(1_500_000_000), ..Default::default() };
        assert_eq!(cpus.cfs(), Some((Some(150_000), 100_000)));
        assert!(cpus
            .check_host(1, &IdList(vec![0]), &IdList(vec![0]))
            .unwrap_err()
            .to_string()
            .contains("only 1 CPUs"));
    }

    #[test]
    fn cpusets_must_exist() {
        let l = Limits { cpuset_cpus: Some(IdList(vec![0, 7])), ..Default::default() };
        let err = l.check_host(2, &IdList(vec![0, 1]), &IdList(vec![0])).unwrap_err().to_string();
        assert_eq!(err, "--cpuset-cpus: 7 not available: requested 0,7, available 0-1");
    }

    // Issue 13: a --cpus below what the kernel can enforce is refused, not rounded up.
    #[test]
    fn cpus_below_the_least_quota_are_refused() {
        let l = |n| Limits { nano_cpus: Some(n), ..Default::default() };
        let err = l(100).check().unwrap_err().to_string();
        assert_eq!(
            err,
            "--cpus: 0.0000001 is below 0.01, the least the kernel enforces (a quota of 1ms per 100ms period)"
        );
        assert!(l(9_999_999).check().is_err());
        assert!(l(10_000_000).check().is_ok());
        assert_eq!(l(10_000_000).cfs(), Some((Some(1000), DEFAULT_PERIOD)));
        assert_eq!(nano_cpus_shown(1_500_000_000), "1.5");
        assert_eq!(nano_cpus_shown(2_000_000_000), "2");
    }

    #[test]
    fn set_refusals() {
        assert!(check_set("memory.high", "50M").is_ok());
        for bad in [
            "cgroup.procs",
            "cgroup.subtree_control",
            "release_agent",
            "notify_on_release",
            "../memory.max",
            "Memory.max",
            "memory",
            "",
            "..",
            ".high",
            "memory.",
            "blkio..weight",
        ] {
            let err = check_set(bad, "1").unwrap_err().to_string();
            assert!(err.starts_with("--set: "), "{bad:?}: {err}");
        }
        assert!(check_set("blkio.throttle.read_bps_device", "8:0 1").is_ok());
        assert!(check_set("memory.high", "1\n2").is_err());
    }

    #[test]
    fn controllers_needed() {
        assert_eq!(mem(100).controllers(), vec!["memory"]);
        let io = Limits {
            device_read_bps: vec![DeviceLimit::unresolved("/dev/loop0", 1)],
            pids_limit: Some(5),
            ..Default::default()
        };
        assert_eq!(io.controllers(), vec!["blkio", "pids"]);
    }
}
