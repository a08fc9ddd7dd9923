//! Docker's value syntax: sizes and rates (`100m`, `1.5g`, `2mb`), CPU and memory-node lists
//! (`0-3,5`), device specs (`/dev/sda:1mb`); and times as Docker and runc print them (RFC 3339).
//! Pure parsing and printing: no kernel here.
//!
//! Sizes follow docker/go-units `RAMInBytes` exactly: the number is what Go's
//! `strconv.ParseFloat` reads (`32.`, `.3`, `-0`, `+5`, `3.2e1`, `0x1p25`, `1_000`), then one
//! space or none, then an optional unit `b`, or `k m g t p` with an optional `b` or `ib`, all
//! binary multiples (k = 1024), case-insensitive; the product is truncated (`1.5g` = 1610612736).
//! Negative sizes, infinities and NaN are refused. `-1` (unlimited) is handled by the flags that
//! allow it, never here. CPU lists follow the kernel's cpuset list format
//! (cpuset(7) "List format"): comma-separated numbers and inclusive `a-b` ranges.

use anyhow::{bail, Context as _};

/// Parse a size as Docker's `RAMInBytes` does (go-units `parseSize` with binary units):
/// `100m`, `1.5g`, `2mb`, `512`, `1 GiB`, `32.`, `.3kB`, `0x1p20`.
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    let bad = || anyhow::anyhow!("invalid size {s:?} (a number with an optional unit b, k, m, g, t, p: 100m, 1.5g)");
    // go-units: with a space, the number is before the first one and the unit after it; else the
    // number runs to the last digit or '.', and the unit is the rest.
    let (number, unit) = match s.split_once(' ') {
        Some(split) => split,
        None => s.split_at(s.rfind(|c: char| c.is_ascii_digit() || c == '.').ok_or_else(bad)? + 1),
    };
    let size = go_parse_float(number).ok_or_else(bad)?;
    if size < 0.0 {
        return Err(bad());
    }
    let unit = unit.to_ascii_lowercase();
    let shift = match unit.as_bytes() {
        [] | [b'b'] => 0,
        [prefix, rest @ ..] if rest.is_empty() || rest == b"b" || rest == b"ib" => match prefix {
            b'k' => 10,
            b'm' => 20,
            b'g' => 30,
            b't' => 40,
            b'p' => 50,
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    let bytes = size * (1u64 << shift) as f64;
    if bytes >= i64::MAX as f64 {
        bail!("size {s:?} is too large");
    }
    // Go's int64(): toward zero.
    Ok(bytes as u64)
}

/// A number as Go's `strconv.ParseFloat(s, 64)` reads it (Go's floating-point literal syntax):
/// an optional sign, then decimal digits with at most one '.' and an optional exponent
/// `e[+-]DIGITS`, or `0x` hex digits with at most one '.' and a mandatory `p[+-]DIGITS`; `_` only
/// between digits (or after `0x`). Go also reads `Inf` and `NaN`, which are no size: `None`, as
/// for anything malformed or out of range.
fn go_parse_float(s: &str) -> Option<f64> {
    if s.contains('_') && !go_underscores_ok(s) {
        return None;
    }
    let t: String = s.chars().filter(|&c| c != '_').collect();
    let (negative, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, &t[..]),
    };
    let hex = body.len() > 2 && (body.starts_with("0x") || body.starts_with("0X"));
    let value = if hex { hex_float(&body[2..])? } else { decimal_float(body)? };
    value.is_finite().then_some(if negative { -value } else { value })
}

/// `DIGITS[.DIGITS][e[+-]DIGITS]` or `.DIGITS...`, at least one mantissa digit (Rust's parser
/// is exact, as Go's; it alone would also take `inf` and `nan`).
fn decimal_float(body: &str) -> Option<f64> {
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mantissa_ok =
        (digits(int) || int.is_empty()) && (digits(frac) || frac.is_empty()) && !(int.is_empty() && frac.is_empty());
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    if !mantissa_ok || !exponent_ok {
        return None;
    }
    body.parse().ok()
}

/// `HEX[.HEX]p[+-]DIGITS` (after `0x`): the mantissa times two to the exponent.
fn hex_float(body: &str) -> Option<f64> {
    let (mantissa, exponent) = body.split_once(['p', 'P'])?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    let exp_digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if int.len() + frac.len() == 0
        || !hex(int)
        || !hex(frac)
        || exp_digits.is_empty()
        || !exp_digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let value = int.chars().chain(frac.chars()).fold(0f64, |v, c| v * 16.0 + c.to_digit(16).unwrap_or(0) as f64);
    let exp: i32 = exponent.parse().unwrap_or(if exponent.starts_with('-') { i32::MIN } else { i32::MAX });
    Some(value * 2f64.powi(exp.saturating_sub(4 * frac.len() as i32)))
}

/// Go's `underscoreOK`: an underscore only between digits, or between a base prefix and a digit.
fn go_underscores_ok(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let hex = b.len() >= 2 && b[0] == b'0' && matches!(b[1] | 0x20, b'x' | b'b' | b'o');
    let (mut saw, start) = if hex { (b'0', 2) } else { (b'^', 0) };
    let hex = hex && b[1] | 0x20 == b'x';
    for &c in &b[start..] {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
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

/// UTC time with nanoseconds since the epoch, as docker events and runc's `created` print it
/// (`2026-11-28T22:49:00.123456789Z`).
pub fn rfc3339(nanos: u128) -> String {
    let secs = (nanos / 1_000_000_000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        nanos % 1_000_000_000
    )
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
            ("1.", 1),
            (".5m", 1 << 19),
            ("1e3", 1000),
        ];
        for (input, want) in table {
            assert_eq!(parse_size(input).unwrap(), want, "{input}");
        }
    }

    // docker/go-units size_test.go: TestRAMInBytes, and the grammar of TestFromHumanSize.
    #[test]
    fn sizes_follow_go_units_test_vectors() {
        let (k, m, g, t, p) = (1u64 << 10, 1u64 << 20, 1u64 << 30, 1u64 << 40, 1u64 << 50);
        let table = [
            ("32", 32),
            ("32b", 32),
            ("32B", 32),
            ("32k", 32 * k),
            ("32K", 32 * k),
            ("32kb", 32 * k),
            ("32Kb", 32 * k),
            ("32Kib", 32 * k),
            ("32KIB", 32 * k),
            ("32Mb", 32 * m),
            ("32Gb", 32 * g),
            ("32Tb", 32 * t),
            ("32Pb", 32 * p),
            ("32PB", 32 * p),
            ("32P", 32 * p),
            ("32.3", 32),
            ("32.3 mb", (32.3 * m as f64) as u64),
            ("0.3MB", (0.3 * m as f64) as u64),
            ("0", 0),
            ("0b", 0),
            ("0 B", 0),
            ("32.5 B", 32),
            ("0.3 K", 307),
            (".3kB", 307),
            ("0.", 0),
            ("0. ", 0),
            ("0.b", 0),
            ("0.B", 0),
            ("-0", 0),
            ("-0b", 0),
            ("-0 b", 0),
            ("-0 B", 0),
            ("32.", 32),
            ("32.b", 32),
            ("32. b", 32),
            ("0 ", 0),
            // Go's ParseFloat: exponents, a sign, hex floats, underscores between digits.
            ("3.2e1m", 32 * m),
            ("+32m", 32 * m),
            ("0x1p25", 32 * m),
            ("0x1.8p1k", 3 * k),
            ("1_024", 1024),
            ("0x_10p0", 16),
        ];
        for (input, want) in table {
            assert_eq!(parse_size(input).unwrap_or_else(|e| panic!("{input:?}: {e}")), want, "{input:?}");
        }
    }

    #[test]
    fn malformed_sizes_are_refused() {
        let go_units = [
            "", "hello", "-32", "-32b", "-32 b", " 32 ", "32m b", "32bm", " 0", " 0b", "0b ", "0 B ", ".", ". ", " ",
            "  ", " .", "32b.", "32 b.", "32 bb", "32 b b", "32  b",
        ];
        let ours = [
            "32ki", "32Ki", "m", "-1", "1x", "1..2m", "1mm", "10 0m", " 1m", "1m\n", "1e", "0x10", "0x1p", "1__0",
            "_1", "1_",
        ];
        let not_sizes = ["inf b", "+Inf B", "NaN b", "1e400", "99999999p"];
        for bad in go_units.iter().chain(&ours).chain(&not_sizes) {
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

    #[test]
    fn times_are_utc_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400_000_000_001), "2000-02-29T00:00:00.000000001Z");
        assert_eq!(rfc3339(1_798_761_599_500_000_000), "2026-12-31T23:59:59.500000000Z");
    }
}
