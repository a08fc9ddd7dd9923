//! Property tests of every parser in core's public API (issue 10, "Bad input").
//!
//! Three kinds of property, for each parser:
//! - it never panics, on any string: arbitrary unicode with NUL, newlines and control
//!   characters, and "near misses" built from the characters the syntax uses;
//! - what is printed back parses to the same value, where the type prints;
//! - the invariants a caller relies on hold for every value accepted (a group name never
//!   climbs out of its parent, a bind destination has no `..`, a `--set` file is never
//!   `release_agent`).
//!
//! `PROPTEST_CASES=N` changes the number of cases of each property (default 256).

use std::path::{Component, Path};

use isolab_core::cgroup::{self, detect, files, limits};
use isolab_core::creds::{self, UserSpec};
use isolab_core::idmap::{self, privileged, subid, Extent, Which};
use isolab_core::mount::{self, Bind};
use isolab_core::stats::{cpu, detail, format, net, sample};
use isolab_core::units::{self, IdList, SizeOrUnlimited};
use isolab_core::{ns, process};
use proptest::prelude::*;

/// Any string at all: every char (NUL, newlines, controls, astral planes) is possible.
fn anything() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..40).prop_map(String::from_iter)
}

/// Strings over an alphabet of `syntax` characters, plus a few troublemakers: these reach far
/// deeper into a parser than random unicode does.
fn near(syntax: &'static str) -> impl Strategy<Value = String> {
    let alphabet: Vec<char> = syntax.chars().chain(['\n', '\0', ' ', '-', 'é', '\u{202e}']).collect();
    prop::collection::vec(prop::sample::select(alphabet), 0..30).prop_map(String::from_iter)
}

/// Either kind of hostile input.
fn hostile(syntax: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![anything(), near(syntax)]
}

/// Lines for a kernel file: near misses joined by newlines.
fn hostile_text(syntax: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(hostile(syntax), 0..8).prop_map(|lines| lines.join("\n"))
}

const UNITS: [(&str, u32); 6] = [("", 0), ("k", 10), ("m", 20), ("g", 30), ("t", 40), ("p", 50)];

// --- sizes and rates (units.rs) ---------------------------------------------------------------

proptest! {
    #[test]
    fn sizes_never_panic(s in hostile("0123456789.kmgtpibKMGTPIB")) {
        let _ = units::parse_size(&s);
        let _ = units::parse_size_or_unlimited(&s);
    }

    // An accepted size is below i64::MAX, which the kernel's limit files take.
    #[test]
    fn accepted_sizes_fit_the_kernel(s in near("0123456789.kmgtpb")) {
        if let Ok(n) = units::parse_size(&s) {
            prop_assert!(n < i64::MAX as u64, "{s:?} -> {n}");
        }
    }

    // A whole number of any unit, in any of Docker's spellings, is that many units (go-units
    // takes `k`, `kb` and `kib`, not `ki`).
    #[test]
    fn sizes_with_units(n in 0u64..1 << 13, unit in 0usize..6, suffix in prop::sample::select(vec!["", "b", "ib"]),
                        upper: bool, space: bool) {
        let (letter, shift) = UNITS[unit];
        let suffix = if letter.is_empty() { if suffix == "b" { "b" } else { "" } } else { suffix };
        let mut text = format!("{n}{}{letter}{suffix}", if space { " " } else { "" });
        if upper {
            text = text.to_uppercase();
        }
        prop_assert_eq!(units::parse_size(&text).unwrap(), n << shift, "{}", text);
    }

    // Plain numbers print and parse back exactly up to 2^53 (Docker parses sizes as a float64 too).
    #[test]
    fn plain_sizes_round_trip(n in 0u64..1 << 53) {
        prop_assert_eq!(units::parse_size(&n.to_string()).unwrap(), n);
        prop_assert_eq!(units::parse_size_or_unlimited(&n.to_string()).unwrap(), SizeOrUnlimited::Bytes(n));
    }

    // What docker stats prints (`512MiB`) reads back as the same size.
    #[test]
    fn bytes_size_round_trip(k in 0u64..1024, unit in 0usize..6) {
        let n = k << UNITS[unit].1;
        prop_assert_eq!(units::parse_size(&format::bytes_size(n as f64)).unwrap(), n);
    }

    // Only `-1` means unlimited; any other sign is refused.
    #[test]
    fn negative_sizes_are_refused(n in 2u64..u64::MAX) {
        let text = format!("-{n}");
        prop_assert!(units::parse_size_or_unlimited(&text).is_err());
        prop_assert!(units::parse_size(&text).is_err());
    }

    // A fraction scales, then truncates: `1.5g` is 1.5 GiB exactly.
    #[test]
    fn fractions_scale(whole in 0u64..1000, half: bool, unit in 1usize..4) {
        let (letter, shift) = UNITS[unit];
        let text = format!("{whole}.{}{letter}", if half { 5 } else { 0 });
        let want = (whole << shift) + if half { 1 << (shift - 1) } else { 0 };
        prop_assert_eq!(units::parse_size(&text).unwrap(), want);
    }

    // Device rates and counts (`--device-read-bps /dev/sda:1mb`, `--device-read-iops /dev/sda:100`).
    #[test]
    fn device_specs_never_panic(s in hostile("/dev/sda:0123456789.mkb")) {
        if let Ok(spec) = units::parse_device_rate(&s) {
            prop_assert!(spec.path.starts_with("/dev/") && !spec.path.contains('\n'), "{s:?}");
        }
        if let Ok(spec) = units::parse_device_number(&s) {
            prop_assert!(spec.path.starts_with("/dev/") && !spec.path.contains('\n'), "{s:?}");
        }
    }

    #[test]
    fn device_specs_round_trip(dev in "/dev/[a-z0-9:/]{1,12}", n in 0u64..1 << 40, unit in 0usize..4) {
        let (letter, shift) = UNITS[unit];
        let rate = units::parse_device_rate(&format!("{dev}:{}{letter}", n >> shift)).unwrap();
        prop_assert_eq!((rate.path.as_str(), rate.value), (dev.as_str(), (n >> shift) << shift));
        let count = units::parse_device_number(&format!("{dev}:{n}")).unwrap();
        prop_assert_eq!((count.path.as_str(), count.value), (dev.as_str(), n));
    }
}

// --- cpu and memory-node lists ----------------------------------------------------------------

proptest! {
    #[test]
    fn lists_never_panic(s in hostile("0123456789,-")) {
        if let Ok(list) = IdList::parse(&s) {
            prop_assert!(list.0.windows(2).all(|w| w[0] < w[1]), "{s:?} -> unsorted {:?}", list.0);
        }
        let _ = IdList::parse_kernel(&s);
    }

    // Any set prints in the kernel's canonical form and parses back to itself, also as a
    // kernel file with its trailing newline.
    #[test]
    fn lists_round_trip(ids in prop::collection::btree_set(0u32..4096, 0..64)) {
        let list = IdList(ids.into_iter().collect());
        let text = list.to_string();
        prop_assert_eq!(IdList::parse_kernel(&format!("{text}\n")).unwrap(), list.clone());
        if !list.0.is_empty() {
            prop_assert_eq!(IdList::parse(&text).unwrap(), list);
        }
    }

    // Ranges in any order and with overlaps mean their union.
    #[test]
    fn lists_are_unions(ranges in prop::collection::vec((0u32..512, 0u32..16), 1..8)) {
        let text: Vec<String> = ranges.iter().map(|&(lo, n)| format!("{lo}-{}", lo + n)).collect();
        let mut want: Vec<u32> = ranges.iter().flat_map(|&(lo, n)| lo..=lo + n).collect();
        want.sort_unstable();
        want.dedup();
        prop_assert_eq!(IdList::parse(&text.join(",")).unwrap().0, want);
    }
}

// --- id maps, /proc/PID/uid_map, /etc/subuid ----------------------------------------------------

fn extent() -> impl Strategy<Value = Extent> {
    (any::<u32>(), any::<u32>(), 1u32..=u32::MAX).prop_map(|(inside, outside, count)| Extent { inside, outside, count })
}

fn fits(start: u32, count: u32) -> bool {
    u64::from(start) + u64::from(count) < u64::from(u32::MAX)
        || u64::from(start) + u64::from(count) == u64::from(u32::MAX)
}

proptest! {
    #[test]
    fn map_specs_never_panic(s in hostile("0123456789:,")) {
        if let Ok(e) = idmap::parse_extent(&s) {
            prop_assert!(e.count > 0 && fits(e.inside, e.count) && fits(e.outside, e.count), "{s:?} -> {e:?}");
        }
        let _ = idmap::parse_proc_map(&s);
    }

    // newuidmap's argument list: never a panic; what is taken fits; every spelling of an extent
    // strtoul(3) reads (decimal, 0x hex, 0 octal, a sign) is the same extent (issue 14.5).
    #[test]
    fn newuidmap_triples_never_panic(a in hostile("0123456789xX+- "), b in hostile("0123456789abcdefx"), c in near("0123456789")) {
        if let Ok(e) = idmap::parse_triple(&a, &b, &c) {
            prop_assert!(e.count > 0 && fits(e.inside, e.count) && fits(e.outside, e.count), "{a:?} {b:?} {c:?} -> {e:?}");
        }
    }

    #[test]
    fn newuidmap_spellings_agree(e in extent()) {
        let decimal = idmap::parse_triple(&e.inside.to_string(), &e.outside.to_string(), &e.count.to_string());
        let hex = idmap::parse_triple(&format!("{:#x}", e.inside), &format!("{:#X}", e.outside), &format!("+{:#x}", e.count));
        let octal = idmap::parse_triple(&format!("0{:o}", e.inside), &format!("0{:o}", e.outside), &format!(" 0{:o}", e.count));
        prop_assert_eq!(decimal.as_ref().ok(), hex.as_ref().ok());
        prop_assert_eq!(decimal.as_ref().ok(), octal.as_ref().ok());
        prop_assert_eq!(decimal.is_ok(), fits(e.inside, e.count) && fits(e.outside, e.count));
    }

    // Both syntaxes name the same extent (util-linux 2.38 swaps the first two fields), and an
    // extent is accepted exactly when neither side wraps past 2^32-1 (shadow CVE-2016-6252).
    #[test]
    fn both_map_syntaxes_agree(e in extent()) {
        let ours = idmap::parse_extent(&format!("{}:{}:{}", e.inside, e.outside, e.count));
        let legacy = idmap::parse_extent(&format!("{},{},{}", e.outside, e.inside, e.count));
        prop_assert_eq!(ours.as_ref().ok(), legacy.as_ref().ok());
        prop_assert_eq!(ours.is_ok(), fits(e.inside, e.count) && fits(e.outside, e.count));
        if let Ok(parsed) = ours {
            prop_assert_eq!(parsed, e);
        }
    }

    // What is written to uid_map reads back from /proc as the same extents (the kernel pads the
    // columns with `%10u`).
    #[test]
    fn maps_round_trip(extents in prop::collection::vec(extent(), 0..6)) {
        prop_assert_eq!(&idmap::parse_proc_map(&idmap::render(&extents)).unwrap(), &extents);
        let padded: String =
            extents.iter().map(|e| format!("{:>10} {:>10} {:>10}\n", e.inside, e.outside, e.count)).collect();
        prop_assert_eq!(idmap::parse_proc_map(&padded).unwrap(), extents);
    }

    // validate accepts exactly what the kernel would: no wrap, no overlap on either side, at most
    // 340 lines in under 4096 bytes.
    #[test]
    fn validated_maps_meet_the_kernel_rules(extents in prop::collection::vec(extent(), 0..5), gid: bool) {
        let which = if gid { Which::Gid } else { Which::Uid };
        if idmap::validate(which, &extents).is_ok() {
            prop_assert!(!extents.is_empty() && extents.len() <= 340 && idmap::render(&extents).len() < 4096);
            for (i, a) in extents.iter().enumerate() {
                prop_assert!(fits(a.inside, a.count) && fits(a.outside, a.count));
                for b in &extents[i + 1..] {
                    let apart = |x: u32, y: u32| {
                        u64::from(x) + u64::from(a.count) <= u64::from(y) || u64::from(y) + u64::from(b.count) <= u64::from(x)
                    };
                    prop_assert!(apart(a.inside, b.inside) && apart(a.outside, b.outside), "{a:?} {b:?}");
                }
            }
        }
    }

    #[test]
    fn subid_files_never_panic(text in hostile_text("root:0123456789"), user in hostile("root"), uid: u32) {
        for (_, count) in subid::ranges_in(&text, &user, uid) {
            prop_assert!(count > 0);
        }
    }

    // A subuid file lists back the lines of the user asked for (by name or by uid), in order.
    #[test]
    fn subid_files_round_trip(lines in prop::collection::vec((prop::sample::select(vec!["alice", "bob", "1000", ""]), any::<u32>(), 0u32..1 << 20), 0..8)) {
        let text: String = lines.iter().map(|(o, s, c)| format!("{o}:{s}:{c}\n")).collect();
        let want: Vec<(u32, u32)> =
            lines.iter().filter(|(o, _, c)| (*o == "alice" || *o == "1000") && *c > 0).map(|&(_, s, c)| (s, c)).collect();
        prop_assert_eq!(subid::ranges_in(&text, "alice", 1000), want);
    }

    // shadow's have_range: never panics at the top of the id space, and a granted range covers
    // every part of itself.
    #[test]
    fn coverage_of_granted_ranges(ranges in prop::collection::vec((any::<u32>(), any::<u32>()), 0..4), start: u32, count: u32) {
        let _ = privileged::covered(&ranges, start, count);
        for &(s, c) in &ranges {
            if c > 0 {
                prop_assert!(privileged::covered(&ranges, s, c));
                prop_assert!(privileged::covered(&ranges, s, 1));
            }
        }
    }
}

// --- group names, parents, --set ----------------------------------------------------------------

proptest! {
    // A validated name is one plain path component: joined to a parent it never leaves it.
    #[test]
    fn group_names_stay_inside_the_parent(name in hostile("abcXYZ019_.-/\\")) {
        if cgroup::validate_name(&name).is_ok() {
            prop_assert!(!name.contains('/') && !name.contains('\0') && !name.contains('\n') && name.len() <= 64);
            prop_assert!(name != "." && name != ".." && !name.starts_with('.') && !name.starts_with('-'));
            let joined = Path::new("/sys/fs/cgroup/pids/isolab").join(&name);
            prop_assert_eq!(joined.parent(), Some(Path::new("/sys/fs/cgroup/pids/isolab")));
            prop_assert!(matches!(joined.components().next_back(), Some(Component::Normal(_))));
        }
    }

    // Every name of the documented alphabet is accepted, as it is spelled.
    #[test]
    fn documented_names_are_accepted(name in "[A-Za-z0-9][A-Za-z0-9_.-]{0,63}") {
        prop_assert!(cgroup::validate_name(&name).is_ok(), "{name:?}");
    }

    #[test]
    fn parents_never_climb(path in hostile("abc/._-")) {
        if cgroup::validate_parent(&path).is_ok() {
            prop_assert!(!path.contains(['\n', '\0']));
            prop_assert!(Path::new(&path).components().all(|c| !matches!(c, Component::ParentDir)), "{path:?}");
        }
    }

    // `--set FILE=VALUE` as cgexec-rs splits it: never a core file, never the v1 release agent
    // (CVE-2022-0492), never a path, never a second line.
    #[test]
    fn set_pairs_are_safe(pair in hostile("memory.highcgroup.procsrelease_agent=0123456789/")) {
        let Some((file, value)) = pair.split_once('=') else { return Ok(()) };
        if limits::check_set(file, value).is_ok() {
            prop_assert!(!file.starts_with("cgroup.") && file != "release_agent" && file != "notify_on_release");
            prop_assert!(file.contains('.') && !file.contains('/') && !value.contains(['\n', '\0']), "{pair:?}");
        }
    }

    #[test]
    fn set_pairs_round_trip(file in "[a-z]{1,8}\\.[a-z_]{1,16}", value in "[ -~]{0,20}") {
        prop_assume!(!file.starts_with("cgroup."));
        let pair = format!("{file}={value}");
        let (f, v) = pair.split_once('=').unwrap();
        prop_assert!(limits::check_set(f, v).is_ok(), "{pair:?}");
        prop_assert_eq!((f, v), (file.as_str(), value.as_str()));
    }
}

// --- binds, users, capabilities, signals, namespace names ---------------------------------------

proptest! {
    // A bind destination is absolute and never has a `..` that could climb out of the new root.
    #[test]
    fn binds_never_climb(spec in hostile("/src:dst.ro:rw")) {
        if let Ok(bind) = Bind::parse(&spec) {
            prop_assert!(bind.dest.is_absolute() && !bind.source.as_os_str().is_empty());
            prop_assert!(bind.dest.components().all(|c| !matches!(c, Component::ParentDir)), "{spec:?}");
        }
        let _ = mount::clean_dest(&spec, "--bind");
        let _ = mount::Propagation::parse(&spec);
    }

    #[test]
    fn binds_round_trip(src in "[a-z./][a-z./ ]{0,12}", dst in "(/[a-z. ]{1,6}){1,3}", mode in prop::sample::select(vec!["", ":ro", ":rw"])) {
        prop_assume!(!dst.split('/').any(|c| c == ".."));
        let bind = Bind::parse(&format!("{src}:{dst}{mode}")).unwrap();
        prop_assert_eq!(bind.source.to_str(), Some(src.as_str()));
        prop_assert_eq!(bind.dest, Path::new(&dst).to_path_buf());
        prop_assert_eq!(bind.read_only, mode == ":ro");
    }

    #[test]
    fn user_specs(spec in hostile("root0123456789:_.-")) {
        if let Ok(user) = UserSpec::parse(&spec) {
            let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            prop_assert!(ok(&user.user) && user.group.as_deref().is_none_or(ok), "{spec:?}");
            let printed = match &user.group { Some(g) => format!("{}:{g}", user.user), None => user.user.clone() };
            prop_assert_eq!(UserSpec::parse(&printed).unwrap(), user);
        }
    }

    #[test]
    fn user_specs_round_trip(user in "[a-z0-9_.-]{1,10}", group in proptest::option::of("[a-z0-9_.-]{1,10}")) {
        let spec = match &group { Some(g) => format!("{user}:{g}"), None => user.clone() };
        prop_assert_eq!(UserSpec::parse(&spec).unwrap(), UserSpec { user, group });
    }

    #[test]
    fn names_never_panic(s in hostile("CAP_NET_ADMINSIGTERMkill0123456789")) {
        let _ = creds::parse_capability(&s);
        let _ = process::parse_signal(&s);
        let _ = ns::kind_by_name(&s);
    }
}

// Capabilities and signals are finite: every one round-trips in every spelling, exhaustively.
#[test]
fn every_capability_round_trips() {
    for cap in caps::all() {
        let name = cap.to_string();
        assert_eq!(creds::parse_capability(&name).unwrap(), cap, "{name}");
        let short = name.strip_prefix("CAP_").unwrap();
        assert_eq!(creds::parse_capability(short).unwrap(), cap);
        assert_eq!(creds::parse_capability(&short.to_lowercase()).unwrap(), cap);
        assert_eq!(creds::parse_capability(&name.to_lowercase()).unwrap(), cap);
    }
}

#[test]
fn every_signal_round_trips() {
    for sig in nix::sys::signal::Signal::iterator() {
        let name = sig.as_str();
        assert_eq!(process::parse_signal(name).unwrap(), sig, "{name}");
        assert_eq!(process::parse_signal(&name[3..].to_lowercase()).unwrap(), sig);
        assert_eq!(process::parse_signal(&(sig as i32).to_string()).unwrap(), sig);
    }
    for bad in ["0", "-9", "65", "SIG", "", "KILL\n", "SIGKILL ", "9 "] {
        assert!(process::parse_signal(bad).is_err(), "{bad:?} accepted");
    }
}

// --- the kernel files cgstat, cgexec-rs and nsexec read ------------------------------------------

/// A keyed file (memory.stat, cpu.stat, memory.events, memory.oom_control).
fn keyed_file() -> impl Strategy<Value = Vec<(String, u64)>> {
    prop::collection::btree_map("[a-z_]{1,12}", any::<u64>(), 0..10).prop_map(|m| m.into_iter().collect())
}

proptest! {
    #[test]
    fn stat_files_never_panic(text in hostile_text("cpu 0123456789 usage_usec rbytes= wbytes= 8:0 Read Write Total lo eth0: max nr_throttled throttled_usec |")) {
        let _ = cpu::parse_proc_stat(&text);
        let _ = cpu::parse_cpuacct_usage(&text);
        let _ = net::parse_net_dev(&text);
        let _ = net::parse_net_dev_interfaces(&text);
        let _ = sample::parse_blkio(&text);
        let _ = sample::parse_io_stat(&text);
        let _ = sample::parse_blkio_devices(&text);
        let _ = sample::parse_io_stat_devices(&text);
        let _ = detail::parse_throttling(&text, true);
        let _ = detail::parse_throttling(&text, false);
        let _ = detail::parse_cpu_max(&text);
        let _ = files::parse_procs(&text);
        let _ = files::keyed(&text, "usage_usec");
    }

    // cpu.stat's usage_usec for every value a real group can reach (see the test below
    // for the top of the u64 range).
    #[test]
    fn cpu_stat_usage_round_trip(us in 0u64..u64::MAX / 1000, rest in keyed_file()) {
        let mut text = format!("usage_usec {us}\n");
        for (k, v) in rest.iter().filter(|(k, _)| k != "usage_usec") {
            text.push_str(&format!("{k} {v}\n"));
        }
        prop_assert_eq!(cpu::parse_cpu_stat_usage(&text), Some(us * 1000));
    }

    #[test]
    fn cpuacct_usage_round_trip(ns: u64) {
        prop_assert_eq!(cpu::parse_cpuacct_usage(&format!("{ns}\n")), Some(ns));
    }

    // /proc/stat: the first seven fields of `cpu ` in ticks of 10 ms, and one `cpuN` line per
    // online CPU; a sum past u64 is None, never a panic.
    #[test]
    fn proc_stat_round_trip(fields in prop::collection::vec(any::<u64>(), 10), online in 1u32..64, small: bool) {
        let fields: Vec<u64> = if small { fields.iter().map(|f| f >> 40).collect() } else { fields };
        let line = |name: &str| format!("{name} {}\n", fields.iter().map(u64::to_string).collect::<Vec<_>>().join(" "));
        let mut text = line("cpu");
        for n in 0..online {
            text.push_str(&line(&format!("cpu{n}")));
        }
        text.push_str("intr 1 2 3\nctxt 99\n");
        let want = fields[..7].iter().try_fold(0u64, |a, &f| a.checked_add(f)).and_then(|s| s.checked_mul(10_000_000));
        prop_assert_eq!(cpu::parse_proc_stat(&text), want.map(|system_ns| cpu::HostCpu { system_ns, online }));
    }

    // Flat-keyed files give back every key's value (cgstat's memory.stat, cgexec-rs's memory.events).
    #[test]
    fn keyed_files_round_trip(pairs in keyed_file()) {
        let text: String = pairs.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
        for (k, v) in &pairs {
            prop_assert_eq!(files::keyed(&text, k), Some(*v));
        }
    }

    #[test]
    fn procs_round_trip(pids in prop::collection::vec(1..i32::MAX, 0..20)) {
        let text: String = pids.iter().map(|p| format!("{p}\n")).collect();
        prop_assert_eq!(files::parse_procs(&text), pids);
    }

    // /proc/PID/cgroup: `ID:CTRL,CTRL:PATH`; the path may hold colons, the named hierarchy is dropped.
    #[test]
    fn proc_cgroup_round_trip(lines in prop::collection::vec((prop::collection::btree_set("[a-z]{2,8}", 0..3), "/[a-z0-9:/_.-]{0,20}"), 0..6)) {
        let mut text = String::from("12:name=systemd:/init.scope\n");
        for (i, (ctrls, path)) in lines.iter().enumerate() {
            text.push_str(&format!("{i}:{}:{path}\n", ctrls.iter().cloned().collect::<Vec<_>>().join(",")));
        }
        let want: Vec<(Vec<String>, String)> = lines.iter().map(|(c, p)| (c.iter().cloned().collect(), p.clone())).collect();
        prop_assert_eq!(detect::parse_proc_cgroup(&text), want);
    }

    // mountinfo escapes space, tab, newline and backslash as octal; a mount point reads back whole.
    #[test]
    fn mountinfo_round_trip(point in "/[a-z \t\n\\\\]{0,16}", fstype in "[a-z0-9]{1,8}", opts in "[a-z,=]{0,20}") {
        let escaped: String = point.chars().map(|c| match c {
            ' ' | '\t' | '\n' | '\\' => format!("\\{:03o}", c as u32),
            c => c.to_string(),
        }).collect();
        let text = format!("36 35 98:0 / {escaped} rw,noatime master:1 - {fstype} /dev/root {opts}\n");
        let mounts = detect::parse_mountinfo(&text);
        prop_assert_eq!(mounts.len(), 1);
        prop_assert_eq!(mounts[0].mount_point.to_str(), Some(point.as_str()));
        prop_assert_eq!(&mounts[0].fstype, &fstype);
        prop_assert_eq!(&mounts[0].super_options, &opts);
    }

    // Layout detection over hostile mountinfo (backslashes: see the escape tests below) and /proc/self/cgroup never panics.
    #[test]
    fn layout_detection_never_panics(mountinfo in hostile_text("36 35 98:0 / /sys/fs/cgroup/memory rw - cgroup cgroup2 rw,memory"),
                                     own in hostile_text("0123456789:memory,cpu/name=systemd")) {
        let setup = cgroup::Setup::parse(&mountinfo, &own, |_| Some("cpu memory pids".into()));
        let _ = setup.layout();
    }

    // Octal escapes up to `\377` (one byte); `\4xx`..`\777` are not escapes and stay as written.
    #[test]
    fn mountinfo_escapes_never_panic(point in near("/abc\\0123")) {
        let _ = detect::parse_mountinfo(&format!("1 2 3:4 / {point} rw - ext4 /dev/x rw\n"));
    }
}

// BUG (core/src/stats/cpu.rs, owned by the stats helper): `usage_usec * 1000` overflows for a
// value past u64::MAX / 1000 and panics in a debug build (wraps silently in release). The kernel
// does not write such a value, but a parser must not panic on any input: `us.checked_mul(1000)`.
#[test]
fn cpu_stat_usage_at_the_top_of_u64() {
    assert_eq!(cpu::parse_cpu_stat_usage(&format!("usage_usec {}\n", u64::MAX)), None);
}

// BUG (core/src/cgroup/detect.rs, owned by the benchmark helper): `unescape` computes
// `(d1 - b'0') * 64` in u8, so `\400`..`\777` overflow and panic in a debug build. The kernel
// never writes them (a byte is at most `\377`), but a parser must not panic on any input.
#[test]
fn mountinfo_escape_past_a_byte() {
    let _ = detect::parse_mountinfo("1 2 3:4 / /a\\777b rw - ext4 /dev/x rw\n");
}

/// JSON-shaped near misses of a seccomp profile: the keys and values a profile uses, shuffled.
fn profile_like() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"defaultAction\"",
        "\"SCMP_ACT_ERRNO\"",
        "\"SCMP_ACT_ALLOW\"",
        "\"syscalls\"",
        "\"names\"",
        "\"read\"",
        "\"action\"",
        "\"args\"",
        "\"index\"",
        "\"value\"",
        "\"op\"",
        "\"SCMP_CMP_MASKED_EQ\"",
        "\"valueTwo\"",
        "\"includes\"",
        "\"caps\"",
        "\"minKernel\"",
        "\"4.8\"",
        "\"archMap\"",
        "\"architecture\"",
        "\"SCMP_ARCH_X86_64\"",
        "\"errnoRet\"",
        "1",
        "-1",
        "18446744073709551615",
        "99999999999999999999",
        "null",
        "true",
        "\"\"",
        "0.5",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|p| p.concat())
}

proptest! {
    // A profile file is user input: any text is refused with a field named, or compiled.
    #[test]
    fn seccomp_profiles_never_panic(s in prop_oneof![anything(), profile_like()]) {
        if let Ok(p) = isolab_core::seccomp::Profile::parse(&s) {
            let ctx = isolab_core::seccomp::Context { caps: vec![], kernel: (6, 1), native: "amd64" };
            let f = isolab_core::seccomp::compile(&p, &ctx, "fuzz").unwrap();
            prop_assert!(!f.program.is_empty() && f.program.len() <= 4096);
        }
    }

    #[test]
    fn device_flags_never_panic(s in hostile("abc *:0123456789rwm/dev")) {
        if let Ok(rule) = cgroup::devices::Rule::parse(&s) {
            prop_assert_eq!(cgroup::devices::Rule::parse(&rule.to_string()).unwrap(), rule);
        }
        if let Ok(d) = cgroup::devices::DeviceArg::parse(&s) {
            prop_assert!(d.host.starts_with('/') && d.container.starts_with('/') && !d.container.split('/').any(|c| c == ".."));
        }
    }
}
