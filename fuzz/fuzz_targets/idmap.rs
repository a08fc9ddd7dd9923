//! Id maps in both syntaxes, /proc/PID/uid_map as the kernel shows it, /etc/subuid files.
#![no_main]

use isolab_core::idmap::{self, privileged, subid, Which};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    for spec in s.split(' ') {
        if let Ok(e) = idmap::parse_extent(spec) {
            assert!(e.count > 0 && u64::from(e.inside) + u64::from(e.count) <= u64::from(u32::MAX), "{spec:?}");
        }
    }
    if let Ok(extents) = idmap::parse_proc_map(&s) {
        // What the kernel shows reads back the same once rendered as it is written.
        assert_eq!(idmap::parse_proc_map(&idmap::render(&extents)).unwrap(), extents);
        let _ = idmap::validate(Which::Uid, &extents);
    }
    let ranges = subid::ranges_in(&s, "root", 0);
    let _ = privileged::covered(&ranges, 100_000, 65_536);
});
