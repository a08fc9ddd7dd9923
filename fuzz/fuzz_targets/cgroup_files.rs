//! What cgroup detection reads: /proc/self/mountinfo (with its octal escapes) and
//! /proc/self/cgroup. The input is split at the first NUL into the two files.
#![no_main]

use isolab_core::cgroup::{detect, Setup};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let (mountinfo, own) = s.split_once('\0').unwrap_or((&s, ""));
    let _ = detect::parse_mountinfo(mountinfo);
    let _ = detect::parse_proc_cgroup(own);
    let setup = Setup::parse(mountinfo, own, |_| Some("cpu memory pids io".into()));
    let _ = setup.layout();
});
