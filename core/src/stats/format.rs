//! Docker's way of printing numbers, byte for byte (docker/go-units `size.go`, docker/cli
//! `formatter_stats.go`).
//!
//! Go's `%.Ng` is C's `%.Ng`: round to N significant digits (ties to even on the exact binary
//! value, as glibc and Go's strconv both do), use the exponent form when the rounded exponent is
//! below -4 or at least N, then drop trailing zeros. That rule is where Docker's quirks come
//! from: 1023.9 bytes is below 1024 so it stays in `B` and prints `1024B`; 999.6 bytes rounds to
//! three digits as 1.00e3, whose exponent reaches the precision, so it prints `1e+03B`.

/// Decimal units of `HumanSizeWithPrecision` (NET I/O, BLOCK I/O).
const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
/// Binary units of `BytesSize` (MEM USAGE / LIMIT).
const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// What Docker prints for a value it could not read.
pub const MISSING: &str = "--";

/// C's (and Go's) `%.{precision}g`.
pub fn format_g(x: f64, precision: usize) -> String {
    let p = precision.max(1);
    if x == 0.0 || !x.is_finite() {
        return if x.is_nan() {
            "NaN".into()
        } else if x.is_infinite() {
            format!("{}Inf", if x > 0.0 { "+" } else { "-" })
        } else {
            "0".into()
        };
    }
    // Rounding to p significant digits first tells which form C picks (C11 7.21.6.1 "g").
    let scientific = format!("{:.*e}", p - 1, x);
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} always has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is an integer");
    if exponent < -4 || exponent >= p as i32 {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", strip_fraction_zeros(mantissa), exponent.unsigned_abs())
    } else {
        let decimals = (p as i32 - 1 - exponent) as usize;
        strip_fraction_zeros(&format!("{x:.decimals$}")).to_string()
    }
}

/// `1.500` -> `1.5`, `2.000` -> `2`, `120` -> `120` (only zeros after a decimal point go).
fn strip_fraction_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// go-units `getSizeAndUnit`: divide while at least `base`, up to the last unit.
fn scale(mut size: f64, base: f64, units: &[&'static str]) -> (f64, &'static str) {
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, units[i])
}

/// go-units `BytesSize`: binary units, `%.4g` (`440KiB`, `100MiB`, `1.5KiB`).
pub fn bytes_size(bytes: f64) -> String {
    let (size, unit) = scale(bytes, 1024.0, &BINARY_UNITS);
    format!("{}{unit}", format_g(size, 4))
}

/// go-units `HumanSizeWithPrecision(size, 3)`: decimal units, `%.3g` (`4.12kB`, `1.23MB`).
pub fn human_size(bytes: f64) -> String {
    let (size, unit) = scale(bytes, 1000.0, &DECIMAL_UNITS);
    format!("{}{unit}", format_g(size, 3))
}

/// docker/cli's `%.2f%%` for CPU % and MEM %.
pub fn percent(p: f64) -> String {
    format!("{p:.2}%")
}

/// Two values joined as Docker joins them (`440KiB / 100MiB`), `--` for a missing one.
pub fn pair(a: Option<String>, b: Option<String>) -> String {
    format!("{} / {}", a.as_deref().unwrap_or(MISSING), b.as_deref().unwrap_or(MISSING))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Docker's own rules (docker/go-units size_test.go cases and the quirks peers.md §2.8 lists):
    // each row is what `docker stats` prints for that many bytes.
    #[test]
    fn bytes_size_matches_docker() {
        let table: &[(f64, &str)] = &[
            (0.0, "0B"),
            (1.0, "1B"),
            (1023.0, "1023B"),
            (1023.9, "1024B"), // quirk: below the base, so no unit change, and %.4g rounds up
            (1024.0, "1KiB"),
            (1536.0, "1.5KiB"),
            (450560.0, "440KiB"),
            (1048576.0, "1MiB"),
            (104857600.0, "100MiB"),
            (1048575.0, "1024KiB"), // 1023.999 KiB rounds to 4 digits
            (1024.0 * 1024.0 * 1024.0 * 1.5, "1.5GiB"),
            (3133440.0, "2.988MiB"),
            (24684092.0 * 1024.0, "23.54GiB"),
            (1099511627776.0, "1TiB"),
            (1024f64.powi(5) * 10.0, "10PiB"),
            (102656.0, "100.2KiB"), // 100.25 exactly: ties go to even, as glibc and Go do
            (u64::MAX as f64, "16EiB"),
        ];
        for &(bytes, want) in table {
            assert_eq!(bytes_size(bytes), want, "BytesSize({bytes})");
        }
    }

    #[test]
    fn human_size_matches_docker() {
        let table: &[(f64, &str)] = &[
            (0.0, "0B"),
            (90.0, "90B"),
            (999.0, "999B"),
            (999.6, "1e+03B"), // quirk: 3 significant digits of 999.6 are 1.00e3
            (1000.0, "1kB"),
            (1024.0, "1.02kB"),
            (4120.0, "4.12kB"),
            (6210.0, "6.21kB"),
            (1234567.0, "1.23MB"),
            (999_500.0, "1e+03kB"),
            (4194304.0, "4.19MB"),
            (1e9, "1GB"),
            (1_000_000_000_000.0, "1TB"),
            (u64::MAX as f64, "18.4EB"),
        ];
        for &(bytes, want) in table {
            assert_eq!(human_size(bytes), want, "HumanSizeWithPrecision({bytes}, 3)");
        }
    }

    // printf(3) of glibc on this machine, for the cases the tables above do not reach.
    #[test]
    fn format_g_is_c_printf() {
        let table: &[(f64, usize, &str)] = &[
            (0.0001, 3, "0.0001"),
            (0.00001234, 3, "1.23e-05"),
            (123456.0, 3, "1.23e+05"),
            (100.0, 3, "100"),
            (0.125, 2, "0.12"),
            (0.5, 1, "0.5"),
            (9.9999, 4, "10"),
            (99999.0, 4, "1e+05"),
            (-1.5, 4, "-1.5"),
            (1e100, 3, "1e+100"),
        ];
        for &(x, p, want) in table {
            assert_eq!(format_g(x, p), want, "%.{p}g of {x}");
        }
    }

    #[test]
    fn percents_and_pairs() {
        assert_eq!(percent(0.0), "0.00%");
        assert_eq!(percent(99.995), "100.00%"); // 99.995 is 99.99500000000000454.. in binary
        assert_eq!(percent(0.125), "0.12%"); // an exact tie goes to even, as printf
        assert_eq!(percent(100.0), "100.00%");
        assert_eq!(pair(Some("1B".into()), None), "1B / --");
    }

    proptest::proptest! {
        // %g never prints more significant digits than asked, and reads back within rounding.
        #[test]
        fn format_g_round_trips(x in 1e-3f64..1e6, p in 1usize..8) {
            let s = format_g(x, p);
            let back: f64 = s.parse().unwrap();
            let digits = s.split('e').next().unwrap().chars().filter(char::is_ascii_digit)
                .skip_while(|&c| c == '0').count();
            proptest::prop_assert!(digits <= p, "{s}");
            proptest::prop_assert!((back - x).abs() <= x * 10f64.powi(1 - p as i32), "{x} -> {s}");
        }
    }
}
