//! `linux.resources` (config-linux.md "Control groups"), read in the spec's units; what no tool
//! can express is kept in `unsupported` for [`crate::compose`] to refuse by name.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail};
use serde_json::{Map, Value};

use super::{array, boolean, int, obj, string, string_map, uint};

/// `linux.resources`, in the spec's units.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub memory_limit: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_kernel: Option<i64>,
    pub memory_kernel_tcp: Option<i64>,
    pub memory_swappiness: Option<u64>,
    pub disable_oom_killer: bool,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpu_cpus: Option<String>,
    pub cpu_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u64>,
    pub blkio_weight_device: Vec<(i64, i64, u64)>,
    /// (file suffix: read_bps, write_bps, read_iops, write_iops; major; minor; rate)
    pub blkio_throttle: Vec<(&'static str, i64, i64, u64)>,
    pub devices: Vec<DeviceRule>,
    pub hugepage_limits: Vec<(String, u64)>,
    pub unified: BTreeMap<String, String>,
    /// Resource fields present that no tool can express (`linux.resources.network`, realtime CPU).
    pub unsupported: Vec<String>,
}

/// A device cgroup rule (`linux.resources.devices[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: String,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: String,
}

pub(super) fn resources(v: &Value) -> anyhow::Result<Resources> {
    let r = obj(v, "linux.resources")?;
    let mut out = Resources::default();
    if let Some(m) = r.get("memory") {
        let m = obj(m, "linux.resources.memory")?;
        out.memory_limit = int(m, "limit", "linux.resources.memory.limit")?;
        out.memory_reservation = int(m, "reservation", "linux.resources.memory.reservation")?;
        out.memory_swap = int(m, "swap", "linux.resources.memory.swap")?;
        out.memory_kernel = int(m, "kernel", "linux.resources.memory.kernel")?;
        out.memory_swappiness = uint(m, "swappiness", "linux.resources.memory.swappiness")?;
        if out.memory_swappiness.is_some_and(|s| s > 100) {
            bail!("linux.resources.memory.swappiness: must be 0 to 100");
        }
        out.disable_oom_killer = boolean(m, "disableOOMKiller", "linux.resources.memory.disableOOMKiller")?;
        out.memory_kernel_tcp = int(m, "kernelTCP", "linux.resources.memory.kernelTCP")?;
    }
    if let Some(c) = r.get("cpu") {
        let c = obj(c, "linux.resources.cpu")?;
        out.cpu_shares = uint(c, "shares", "linux.resources.cpu.shares")?.filter(|&s| s != 0);
        out.cpu_quota = int(c, "quota", "linux.resources.cpu.quota")?.filter(|&q| q != 0);
        out.cpu_period = uint(c, "period", "linux.resources.cpu.period")?.filter(|&p| p != 0);
        out.cpu_cpus = string(c, "cpus", "linux.resources.cpu.cpus")?.filter(|s| !s.is_empty());
        out.cpu_mems = string(c, "mems", "linux.resources.cpu.mems")?.filter(|s| !s.is_empty());
        for key in ["realtimeRuntime", "realtimePeriod", "idle", "burst"] {
            if c.get(key).is_some_and(|v| !v.is_null() && v.as_i64() != Some(0)) {
                out.unsupported.push(format!("linux.resources.cpu.{key}"));
            }
        }
    }
    if let Some(p) = r.get("pids") {
        out.pids_limit = int(obj(p, "linux.resources.pids")?, "limit", "linux.resources.pids.limit")?;
    }
    if let Some(b) = r.get("blockIO") {
        let b = obj(b, "linux.resources.blockIO")?;
        out.blkio_weight = uint(b, "weight", "linux.resources.blockIO.weight")?.filter(|&w| w != 0);
        let dev = |at: &str, d: &Value| -> anyhow::Result<(Map<String, Value>, i64, i64)> {
            let d = obj(d, at)?.clone();
            let major = int(&d, "major", &format!("{at}.major"))?.ok_or_else(|| anyhow!("{at}.major: missing"))?;
            let minor = int(&d, "minor", &format!("{at}.minor"))?.ok_or_else(|| anyhow!("{at}.minor: missing"))?;
            Ok((d, major, minor))
        };
        for (i, d) in array(b, "weightDevice", "linux.resources.blockIO.weightDevice")?.iter().enumerate() {
            let at = format!("linux.resources.blockIO.weightDevice[{i}]");
            let (d, major, minor) = dev(&at, d)?;
            if let Some(w) = uint(&d, "weight", &format!("{at}.weight"))? {
                out.blkio_weight_device.push((major, minor, w));
            }
            if d.get("leafWeight").is_some_and(|v| !v.is_null()) {
                out.unsupported.push(format!("{at}.leafWeight"));
            }
        }
        for (key, what) in [
            ("throttleReadBpsDevice", "read_bps"),
            ("throttleWriteBpsDevice", "write_bps"),
            ("throttleReadIOPSDevice", "read_iops"),
            ("throttleWriteIOPSDevice", "write_iops"),
        ] {
            for (i, d) in array(b, key, &format!("linux.resources.blockIO.{key}"))?.iter().enumerate() {
                let at = format!("linux.resources.blockIO.{key}[{i}]");
                let (d, major, minor) = dev(&at, d)?;
                let rate = uint(&d, "rate", &format!("{at}.rate"))?.ok_or_else(|| anyhow!("{at}.rate: missing"))?;
                out.blkio_throttle.push((what, major, minor, rate));
            }
        }
        if b.get("leafWeight").is_some_and(|v| !v.is_null()) {
            out.unsupported.push("linux.resources.blockIO.leafWeight".into());
        }
    }
    for (i, d) in array(r, "devices", "linux.resources.devices")?.iter().enumerate() {
        let at = format!("linux.resources.devices[{i}]");
        let d = obj(d, &at)?;
        let allow = match d.get("allow") {
            Some(Value::Bool(b)) => *b,
            _ => bail!("{at}.allow: missing (true or false)"),
        };
        let kind = string(d, "type", &format!("{at}.type"))?.unwrap_or_else(|| "a".into());
        if !["a", "c", "b"].contains(&kind.as_str()) {
            bail!("{at}.type: {kind:?} is not a, c or b");
        }
        let access = string(d, "access", &format!("{at}.access"))?.unwrap_or_else(|| "rwm".into());
        if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
            bail!("{at}.access: {access:?} is not a combination of r, w and m");
        }
        out.devices.push(DeviceRule {
            allow,
            kind,
            major: int(d, "major", &format!("{at}.major"))?.filter(|&n| n >= 0),
            minor: int(d, "minor", &format!("{at}.minor"))?.filter(|&n| n >= 0),
            access,
        });
    }
    for (i, h) in array(r, "hugepageLimits", "linux.resources.hugepageLimits")?.iter().enumerate() {
        let at = format!("linux.resources.hugepageLimits[{i}]");
        let h = obj(h, &at)?;
        let size =
            string(h, "pageSize", &format!("{at}.pageSize"))?.ok_or_else(|| anyhow!("{at}.pageSize: missing"))?;
        let limit = uint(h, "limit", &format!("{at}.limit"))?.ok_or_else(|| anyhow!("{at}.limit: missing"))?;
        out.hugepage_limits.push((size, limit));
    }
    out.unified = string_map(r, "unified", "linux.resources.unified")?;
    for key in ["network", "rdma"] {
        if r.get(key).is_some_and(|v| !v.is_null()) {
            out.unsupported.push(format!("linux.resources.{key}"));
        }
    }
    Ok(out)
}
