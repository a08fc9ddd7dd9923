//! Docker's value syntax: sizes and rates (`100m`, `1.5g`, `2mb`), CPU and memory-node lists
//! (`0-3,5`), device specs (`/dev/sda:1mb`). Pure parsing: no kernel here.
//!
//! Sizes follow docker/go-units `RAMInBytes`: a decimal number, an optional space, an optional
//! unit `k m g t p` with optional `i` and `b`, all binary multiples (k = 1024), case-insensitive;
//! a fraction is truncated after multiplying (`1.5g` = 1610612736). `-1` (unlimited) is handled
//! by the flags that allow it, never here. CPU lists follow the kernel's cpuset list format
//! (cpuset(7) "List format"): comma-separated numbers and inclusive `a-b` ranges.

use anyhow::{bail, Context as _};

/// Parse a size like Docker's `RAMInBytes`: `100m`, `1.5g`, `2mb`, `512`, `1 GiB`.
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    let bad = || anyhow::anyhow!("invalid size {s:?} (a number with an optional unit b, k, m, g, t, p: 100m, 1.5g)");
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') || number.matches('.').count() > 1 {
        return Err(bad());
    }
    let shift = match unit.as_str() {
        "" | "b" => 0,
        "k" | "kb" | "ki" | "kib" => 10,
        "m" | "mb" | "mi" | "mib" => 20,
        "g" | "gb" | "gi" | "gib" => 30,
        "t" | "tb" | "ti" | "tib" => 40,
        "p" | "pb" | "pi" | "pib" => 50,
        _ => return Err(bad()),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= i64::MAX as f64 {
        bail!("size {s:?} is too large");
    }
    Ok(bytes as u64)
}

/// A size flag that also takes `-1` for "unlimited" (`--memory-swap -1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeOrUnlimited {
    Bytes(u64),
    Unlimited,
}

pub fn parse_size_or_unlimited(s: &str) -> anyhow::Result<SizeOrUnlimited> {
    if s == "-1" {
        return Ok(SizeOrUnlimited::Unlimited);
    }
    parse_size(s).map(SizeOrUnlimited::Bytes)
}

/// A set of CPUs or memory nodes, from the kernel's list format (`0-3,5`). Sorted, no duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdList(pub Vec<u32>);

impl IdList {
    pub fn parse(s: &str) -> anyhow::Result<IdList> {
        let bad = || anyhow::anyhow!("invalid list {s:?} (numbers and ranges like 0-3,5)");
        let mut ids = Vec::new();
        for part in s.trim_end_matches('\n').split(',') {
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (parse_id(a).ok_or_else(bad)?, parse_id(b).ok_or_else(bad)?),
                None => {
                    let n = parse_id(part).ok_or_else(bad)?;
                    (n, n)
                }
            };
            if lo > hi || hi - lo > 65536 {
                return Err(bad());
            }
            ids.extend(lo..=hi);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(IdList(ids))
    }

    /// Parse a kernel file's list, where empty means "none".
    pub fn parse_kernel(s: &str) -> anyhow::Result<IdList> {
        if s.trim().is_empty() {
            return Ok(IdList::default());
        }
        IdList::parse(s.trim())
    }

    /// The ids in `self` that are not in `allowed`.
    pub fn missing_from(&self, allowed: &IdList) -> Vec<u32> {
        self.0.iter().copied().filter(|id| !allowed.0.contains(id)).collect()
    }
}

fn parse_id(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl std::fmt::Display for IdList {
    /// The canonical kernel form: ranges collapsed, `0-3,5`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        let mut i = 0;
        while i < self.0.len() {
            let start = self.0[i];
            let mut end = start;
            while i + 1 < self.0.len() && self.0[i + 1] == end + 1 {
                i += 1;
                end = self.0[i];
            }
            parts.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
            i += 1;
        }
        f.write_str(&parts.join(","))
    }
}

/// `DEV:VALUE` as Docker's `--device-read-bps /dev/sda:1mb`, split at the last colon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec<T> {
    pub path: String,
    pub value: T,
}

fn split_device(s: &str) -> anyhow::Result<(&str, &str)> {
    let (path, value) =
        s.rsplit_once(':').with_context(|| format!("invalid device spec {s:?} (DEVICE:VALUE, e.g. /dev/sda:1mb)"))?;
    if !path.starts_with("/dev/") || path.contains('\n') {
        bail!("invalid device {path:?} in {s:?} (a block device path under /dev)");
    }
    Ok((path, value))
}

/// `/dev/sda:1mb`: a byte rate per second, in Docker's size syntax.
pub fn parse_device_rate(s: &str) -> anyhow::Result<DeviceSpec<u64>> {
    let (path, value) = split_device(s)?;
    let value = parse_size(value).with_context(|| format!("in {s:?}"))?;
    Ok(DeviceSpec { path: path.into(), value })
}

/// `/dev/sda:1000`: a plain count (IO operations per second, or a weight).
pub fn parse_device_number(s: &str) -> anyhow::Result<DeviceSpec<u64>> {
    let (path, value) = split_device(s)?;
    let value = value
        .parse::<u64>()
        .map_err(|_| anyhow::anyhow!("invalid number {value:?} in {s:?} (a whole number, e.g. /dev/sda:1000)"))?;
    Ok(DeviceSpec { path: path.into(), value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_follow_go_units_ram_in_bytes() {
        let table = [
            ("100m", 104_857_600),
            ("100M", 104_857_600),
            ("1.5g", 1_610_612_736),
            ("2mb", 2_097_152),
            ("2MiB", 2_097_152),
            ("512", 512),
            ("512b", 512),
            ("1 k", 1024),
            ("6m", 6 << 20),
            ("1t", 1 << 40),
        ];
        for (input, want) in table {
            assert_eq!(parse_size(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn malformed_sizes_are_refused() {
        for bad in ["", "m", "-1", "1x", "1.m", ".5m", "1..2m", "1mm", "10 0m", "1e3", " 1m", "1m\n"] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn unlimited_only_as_minus_one() {
        assert_eq!(parse_size_or_unlimited("-1").unwrap(), SizeOrUnlimited::Unlimited);
        assert_eq!(parse_size_or_unlimited("1g").unwrap(), SizeOrUnlimited::Bytes(1 << 30));
        assert!(parse_size_or_unlimited("-2").is_err());
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(IdList::parse("0-3,5").unwrap().0, vec![0, 1, 2, 3, 5]);
        assert_eq!(IdList::parse("5,0-3,2").unwrap().to_string(), "0-3,5");
        assert_eq!(IdList::parse("0").unwrap().to_string(), "0");
        for bad in ["", "a", "1-", "-1", "3-1", "0,,1", "0-1-2", "1 ", "0-99999999"] {
            assert!(IdList::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(IdList::parse_kernel("\n").unwrap(), IdList::default());
        assert_eq!(IdList::parse("0-3").unwrap().missing_from(&IdList::parse("0-1").unwrap()), vec![2, 3]);
    }

    #[test]
    fn device_specs() {
        assert_eq!(
            parse_device_rate("/dev/loop0:2mb").unwrap(),
            DeviceSpec { path: "/dev/loop0".into(), value: 2 << 20 }
        );
        assert_eq!(parse_device_number("/dev/sda:1000").unwrap().value, 1000);
        for bad in ["/dev/sda", "sda:1mb", "/dev/sda:", "/dev/sda:fast", ":1mb"] {
            assert!(parse_device_rate(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_device_number("/dev/sda:1.5").is_err());
    }

    proptest! {
        #[test]
        fn lists_round_trip(ids in proptest::collection::btree_set(0u32..256, 1..20)) {
            let list = IdList(ids.into_iter().collect());
            prop_assert_eq!(IdList::parse(&list.to_string()).unwrap(), list);
        }

        #[test]
        fn sizes_never_panic(s in "\\PC{0,12}") {
            let _ = parse_size(&s);
        }

        #[test]
        fn megabytes_scale(n in 0u64..100_000) {
            prop_assert_eq!(parse_size(&format!("{n}m")).unwrap(), n << 20);
        }
    }
}
