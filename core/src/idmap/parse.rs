//! The map syntaxes and the kernel's validity rules (kernel/user_namespace.c `map_write`), pure.
//!
//! Two spellings of one extent are accepted, as util-linux master does: ours and util-linux
//! master's `INNER:OUTER:COUNT`, and util-linux 2.38's `OUTER,INNER,COUNT` (note the swap).
//! Their numbers are plain decimal; a leading zero is refused, because newuidmap would read it
//! as octal. newuidmap's own argument list (`idmap uid PID INNER OUTER COUNT ...`) is read as
//! shadow reads it ([`parse_triple`]): strtoul(3) base 0, so `0x124f80` is hex, `01200000`
//! octal, `+5` and `-0` numbers, with shadow 4.13's overflow checks.
//! The kernel rejects a range whose end wraps past 2^32-1 (id 4294967295 is the invalid id
//! `(uid_t)-1`), overlapping ranges on either side, more than 340 lines, or 4 KiB and more.

use anyhow::{bail, Context as _};

use super::{Extent, Which};

/// Lines the kernel accepts in one map (UID_GID_MAP_MAX_EXTENTS, since 4.15).
pub const MAX_LINES: usize = 340;
/// A map must be written in fewer bytes than a page (`count >= PAGE_SIZE` is EINVAL).
pub const MAX_BYTES: usize = 4095;
/// One past the highest id a range may reach: `(u32)(first + count)` must not wrap.
const ID_LIMIT: u64 = u32::MAX as u64;

/// Parse `INNER:OUTER:COUNT` or util-linux 2.38's `OUTER,INNER,COUNT`.
pub fn parse_extent(spec: &str) -> anyhow::Result<Extent> {
    let extent = parse_fields(spec).with_context(|| format!("invalid map '{spec}'"))?;
    check_extent(&extent).with_context(|| format!("invalid map '{spec}'"))?;
    Ok(extent)
}

fn parse_fields(spec: &str) -> anyhow::Result<Extent> {
    let (sep, outer_first) = if spec.contains(':') { (':', false) } else { (',', true) };
    let fields: Vec<&str> = spec.split(sep).collect();
    let [a, b, count] = fields[..] else {
        bail!("expected INNER:OUTER:COUNT (or util-linux 2.38's OUTER,INNER,COUNT)");
    };
    let (a, b, count) = (number(a)?, number(b)?, number(count)?);
    let (inside, outside) = if outer_first { (b, a) } else { (a, b) };
    Ok(Extent { inside, outside, count })
}

/// A decimal id: digits only (no sign, no spaces, no leading zero), 0..=4294967295.
pub fn number(field: &str) -> anyhow::Result<u32> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        bail!("'{field}' is not a number");
    }
    if field.len() > 1 && field.starts_with('0') {
        let trimmed = field.trim_start_matches('0');
        let octal = strtoul(field).map_or_else(|| "no number".to_string(), |n| n.to_string());
        bail!(
            "'{field}' has a leading zero: newuidmap reads it as octal ({octal}), so write '{}' (or use `idmap uid|gid PID INNER OUTER COUNT` for newuidmap's reading)",
            if trimmed.is_empty() { "0" } else { trimmed }
        );
    }
    field.parse().map_err(|_| anyhow::anyhow!("{field} is larger than 4294967295"))
}

/// A number as shadow's getulong() reads it: strtoul(3) with base 0 (leading blanks, a sign,
/// `0x` hex, a leading `0` octal), the whole string used, no overflow of an unsigned long. A
/// minus sign negates in unsigned arithmetic, as strtoul does (`-1` is 2^64-1).
pub fn strtoul(field: &str) -> Option<u64> {
    let s = field.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let hex = s.len() > 2 && (s.starts_with("0x") || s.starts_with("0X")) && s.as_bytes()[2].is_ascii_hexdigit();
    let (radix, digits) = if hex {
        (16, &s[2..])
    } else if s.starts_with('0') {
        (8, s)
    } else {
        (10, s)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let value = u64::from_str_radix(digits, radix).ok()?;
    Some(if negative { value.wrapping_neg() } else { value })
}

/// One extent of newuidmap's argument list, read and checked as shadow 4.13's
/// `get_map_ranges` does: each number by [`strtoul`], then none above 2^32-1 and neither
/// range's end past it (a negative number is a huge one: overflow).
pub fn parse_triple(inner: &str, outer: &str, count: &str) -> anyhow::Result<Extent> {
    let shown = format!("{inner} {outer} {count}");
    let read = |field: &str| {
        strtoul(field).with_context(|| {
            format!("invalid map '{shown}': '{field}' is not a number (newuidmap reads numbers as strtoul(3): 0x hex, leading 0 octal)")
        })
    };
    let (upper, lower, n) = (read(inner)?, read(outer)?, read(count)?);
    let limit = u64::from(u32::MAX);
    if u64::MAX - upper <= n
        || u64::MAX - lower <= n
        || upper.max(lower).max(n) > limit
        || upper + n > limit
        || lower + n > limit
    {
        bail!("invalid map '{shown}': {upper}+{n} or {lower}+{n} overflows past {limit} (shadow: subuid overflow detected)");
    }
    let extent = Extent { inside: upper as u32, outside: lower as u32, count: n as u32 };
    check_extent(&extent).with_context(|| format!("invalid map '{shown}'"))?;
    Ok(extent)
}

/// The rules one extent must meet alone: count >= 1 and no end past the last id.
fn check_extent(e: &Extent) -> anyhow::Result<()> {
    if e.count == 0 {
        bail!("count must be at least 1");
    }
    for (side, start) in [("inside", e.inside), ("outside", e.outside)] {
        if u64::from(start) + u64::from(e.count) > ID_LIMIT {
            bail!("{side} range {start}+{} overflows past {} (2^32-1 is the invalid id)", e.count, ID_LIMIT - 1);
        }
    }
    Ok(())
}

/// Everything the kernel checks before it accepts a map, so that nothing is written when it
/// would refuse, and the refusal names the ranges.
pub fn validate(which: Which, extents: &[Extent]) -> anyhow::Result<()> {
    let name = which.name();
    if extents.is_empty() {
        bail!("no {name} ranges to map");
    }
    for e in extents {
        check_extent(e).with_context(|| format!("invalid {name} range {}:{}:{}", e.inside, e.outside, e.count))?;
    }
    if extents.len() > MAX_LINES {
        bail!("{} {name} ranges are too many: the kernel takes at most {MAX_LINES} lines", extents.len());
    }
    for (i, a) in extents.iter().enumerate() {
        for b in &extents[i + 1..] {
            if overlap(a.inside, b.inside, a.count, b.count) {
                bail!("{name} ranges {} and {} overlap inside the namespace", a.inside_span(), b.inside_span());
            }
            if overlap(a.outside, b.outside, a.count, b.count) {
                bail!("{name} ranges {} and {} overlap outside the namespace", a.outside_span(), b.outside_span());
            }
        }
    }
    let bytes = render(extents).len();
    if bytes > MAX_BYTES {
        bail!("the {name} map is {bytes} bytes: the kernel takes it only under 4096 bytes, in one write");
    }
    Ok(())
}

fn overlap(a: u32, b: u32, a_count: u32, b_count: u32) -> bool {
    let (a, b) = (u64::from(a), u64::from(b));
    a < b + u64::from(b_count) && b < a + u64::from(a_count)
}

/// The map as the kernel reads it: one `inside outside count` line per extent.
pub fn render(extents: &[Extent]) -> String {
    extents.iter().map(|e| format!("{} {} {}\n", e.inside, e.outside, e.count)).collect()
}

/// What /proc/PID/uid_map shows (`%10u %10u %10u` columns); empty when no map is written yet.
pub fn parse_proc_map(text: &str) -> anyhow::Result<Vec<Extent>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [inside, outside, count] = fields[..] else {
                bail!("unexpected map line '{}': expected three numbers", line.trim());
            };
            Ok(Extent { inside: number(inside)?, outside: number(outside)?, count: number(count)? })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(inside: u32, outside: u32, count: u32) -> Extent {
        Extent { inside, outside, count }
    }

    fn err(r: anyhow::Result<impl std::fmt::Debug>) -> String {
        format!("{:#}", r.expect_err("should fail"))
    }

    #[test]
    fn both_spellings_mean_the_same_extent() {
        assert_eq!(parse_extent("0:100000:65536").unwrap(), e(0, 100000, 65536));
        // util-linux 2.38 `--map-users=OUTER,INNER,COUNT`
        assert_eq!(parse_extent("100000,0,65536").unwrap(), e(0, 100000, 65536));
        assert_eq!(parse_extent("0:0:4294967295").unwrap(), e(0, 0, u32::MAX));
    }

    #[test]
    fn bad_specs_name_the_value() {
        assert_eq!(err(parse_extent("0:100000:0")), "invalid map '0:100000:0': count must be at least 1");
        assert!(err(parse_extent("0:100000")).starts_with("invalid map '0:100000': expected INNER:OUTER:COUNT"));
        assert!(err(parse_extent("0:x:1")).contains("'x' is not a number"));
        assert!(err(parse_extent("-1:0:1")).contains("'-1' is not a number"));
        assert!(err(parse_extent(" 0:0:1")).contains("is not a number"));
        assert!(err(parse_extent("0:4294967296:1")).contains("larger than 4294967295"));
        assert!(err(parse_extent("0:1,5:3")).contains("'1,5' is not a number"));
        // newuidmap would read 01200000 as octal: refused, with the reading and a way out.
        let msg = err(parse_extent("0:01200000:1"));
        assert!(msg.contains("leading zero") && msg.contains("(327680)") && msg.contains("'1200000'"), "{msg}");
        assert!(err(parse_extent("00:1:1")).contains("write '0'"));
        assert!(err(parse_extent("")).contains("expected INNER:OUTER:COUNT"));
    }

    // shadow CVE-2016-6252: ranges that wrap UINT_MAX
    #[test]
    fn overflow_is_refused_on_both_sides() {
        let msg = err(parse_extent("0:4294967295:2"));
        assert!(msg.contains("outside range 4294967295+2 overflows"), "{msg}");
        let msg = err(parse_extent("4294967290:0:10"));
        assert!(msg.contains("inside range 4294967290+10 overflows"), "{msg}");
        // The kernel takes first+count == 2^32-1 (the last id mapped is 4294967294), not one more.
        assert!(parse_extent("4294967294:0:1").is_ok());
        assert!(parse_extent("4294967295:0:1").is_err());
        assert!(validate(Which::Uid, &[e(0, 1, u32::MAX)]).is_err());
    }

    // shadow 4.13 getulong(): strtoul(numstr, &end, 0), the whole string, no ERANGE.
    #[test]
    fn newuidmap_numbers_are_strtoul_base_0() {
        for (text, want) in [
            ("1200000", Some(1200000)),
            ("01200000", Some(0o1200000)),
            ("0x124f80", Some(0x124f80)),
            ("0X124F80", Some(0x124f80)),
            ("+1200000", Some(1200000)),
            ("  \t42", Some(42)),
            ("0", Some(0)),
            ("00", Some(0)),
            ("-0", Some(0)),
            ("-1", Some(u64::MAX)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("08", None),
            ("0x", None),
            ("0xg", None),
            ("42 ", None),
            ("1e3", None),
            ("", None),
            ("+", None),
            ("+-1", None),
            ("--1", None),
        ] {
            assert_eq!(strtoul(text), want, "{text:?}");
        }
    }

    #[test]
    fn newuidmap_triples_check_overflow_as_shadow() {
        assert_eq!(parse_triple("0", "0x124f80", "0200000").unwrap(), e(0, 1200000, 65536));
        assert_eq!(parse_triple("-0", "+7", " 1").unwrap(), e(0, 7, 1));
        // shadow 4.13 takes first+count == 2^32-1, as the kernel does; one more overflows.
        assert_eq!(parse_triple("4294967294", "0", "1").unwrap(), e(4294967294, 0, 1));
        for (a, b, c) in [("4294967295", "0", "1"), ("0", "-1", "1"), ("0", "1", "-1"), ("0", "1", "4294967296")] {
            assert!(err(parse_triple(a, b, c)).contains("overflows"), "{a} {b} {c}");
        }
        assert!(err(parse_triple("0", "08", "1")).contains("'08' is not a number"));
        assert!(err(parse_triple("0", "1", "0")).contains("count must be at least 1"));
    }

    #[test]
    fn overlaps_are_named_with_their_side() {
        assert_eq!(
            err(validate(Which::Uid, &[e(0, 100000, 65536), e(1000, 1000, 1000)])),
            "uid ranges 0-65535 and 1000-1999 overlap inside the namespace"
        );
        assert_eq!(
            err(validate(Which::Gid, &[e(0, 100000, 10), e(10, 100005, 10)])),
            "gid ranges 100000-100009 and 100005-100014 overlap outside the namespace"
        );
        // Adjacent is not overlapping.
        validate(Which::Uid, &[e(0, 1000, 1), e(1, 100000, 65535)]).unwrap();
    }

    #[test]
    fn size_limits_are_the_kernels() {
        let many: Vec<Extent> = (0..341).map(|i| e(i, 1000 + i, 1)).collect();
        assert!(err(validate(Which::Uid, &many)).contains("at most 340 lines"));
        validate(Which::Uid, &many[..340]).unwrap_or_else(|m| panic!("{m}"));
        let wide: Vec<Extent> = (0..340).map(|i| e(4_000_000_000 + i, 3_000_000_000 + i, 1)).collect();
        assert!(err(validate(Which::Uid, &wide)).contains("under 4096 bytes"));
        assert_eq!(err(validate(Which::Gid, &[])), "no gid ranges to map");
    }

    #[test]
    fn proc_map_columns_round_trip() {
        let shown = "         0     100000      65536\n     65536       1000          1\n";
        let map = parse_proc_map(shown).unwrap();
        assert_eq!(map, vec![e(0, 100000, 65536), e(65536, 1000, 1)]);
        assert_eq!(render(&map), "0 100000 65536\n65536 1000 1\n");
        assert_eq!(parse_proc_map("").unwrap(), vec![]);
        assert!(parse_proc_map("0 1\n").is_err());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parsers_never_panic(s in "\\PC*") {
                let _ = parse_extent(&s);
                let _ = parse_proc_map(&s);
            }

            #[test]
            fn near_miss_specs_never_panic(s in "[0-9:,+ -]{0,40}") {
                let _ = parse_extent(&s);
            }

            #[test]
            fn render_parse_round_trips(raw in proptest::collection::vec((any::<u32>(), any::<u32>(), 1u32..), 0..20)) {
                let map: Vec<Extent> = raw.into_iter().map(|(i, o, c)| e(i, o, c)).collect();
                prop_assert_eq!(parse_proc_map(&render(&map)).unwrap(), map.clone());
                // Each valid extent, spelled either way, parses back to itself.
                for x in map.iter().filter(|x| check_extent(x).is_ok()) {
                    prop_assert_eq!(parse_extent(&format!("{}:{}:{}", x.inside, x.outside, x.count)).unwrap(), *x);
                    prop_assert_eq!(parse_extent(&format!("{},{},{}", x.outside, x.inside, x.count)).unwrap(), *x);
                }
            }

            #[test]
            fn validated_maps_have_disjoint_ranges(raw in proptest::collection::vec((0u32..2000, 0u32..2000, 1u32..500), 1..6)) {
                let map: Vec<Extent> = raw.into_iter().map(|(i, o, c)| e(i, o, c)).collect();
                if validate(Which::Uid, &map).is_ok() {
                    for (i, a) in map.iter().enumerate() {
                        for b in &map[i + 1..] {
                            prop_assert!(!overlap(a.inside, b.inside, a.count, b.count));
                            prop_assert!(!overlap(a.outside, b.outside, a.count, b.count));
                        }
                    }
                }
            }
        }
    }
}
