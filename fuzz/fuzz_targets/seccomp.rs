//! A seccomp profile file (`nsexec --security-opt seccomp=FILE`) and the device flags: any text
//! is refused with a field named, or compiles to a program the kernel would take.
#![no_main]

use isolab_core::cgroup::devices::{DeviceArg, Rule};
use isolab_core::seccomp::{self, Context, Profile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Ok(p) = Profile::parse(&s) {
        let ctx = Context { caps: vec!["CAP_SYS_ADMIN".into()], kernel: (6, 1), native: "amd64" };
        let f = seccomp::compile(&p, &ctx, "fuzz").expect("a parsed profile compiles");
        assert!(!f.program.is_empty() && f.program.len() <= 4096);
    }
    if let Ok(rule) = Rule::parse(&s) {
        assert_eq!(Rule::parse(&rule.to_string()).unwrap(), rule);
    }
    if let Ok(d) = DeviceArg::parse(&s) {
        assert!(d.container.starts_with('/') && !d.container.split('/').any(|c| c == ".."));
    }
});
