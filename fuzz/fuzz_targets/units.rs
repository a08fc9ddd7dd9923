//! Docker's value syntax: sizes (`100m`, `1.5g`, `-1`), device rates and counts, cpu lists.
#![no_main]

use isolab_core::units::{self, IdList};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Ok(n) = units::parse_size(&s) {
        assert!(n < i64::MAX as u64, "{s:?} -> {n}");
    }
    let _ = units::parse_size_or_unlimited(&s);
    for spec in [units::parse_device_rate(&s), units::parse_device_number(&s)].into_iter().flatten() {
        assert!(spec.path.starts_with("/dev/") && !spec.path.contains('\n'), "{s:?}");
    }
    // A list's canonical form parses back to the same list.
    if let Ok(list) = IdList::parse(&s) {
        assert_eq!(IdList::parse(&list.to_string()).unwrap(), list, "{s:?}");
    }
    let _ = IdList::parse_kernel(&s);
});
