//! Names and specs the tools take from the command line: group names and parents, `--set`
//! pairs, `--bind`, `--user-id`, capabilities, signals, namespace kinds, propagation.
#![no_main]

use std::path::{Component, Path};

use isolab_core::cgroup::{self, limits};
use isolab_core::creds::{self, UserSpec};
use isolab_core::mount::{self, Bind};
use isolab_core::{ns, process};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if cgroup::validate_name(&s).is_ok() {
        let joined = Path::new("/sys/fs/cgroup/pids/isolab").join(&*s);
        assert_eq!(joined.parent(), Some(Path::new("/sys/fs/cgroup/pids/isolab")), "{s:?}");
        assert!(s != "." && s != "..", "{s:?}");
    }
    if cgroup::validate_parent(&s).is_ok() {
        assert!(Path::new(&*s).components().all(|c| !matches!(c, Component::ParentDir)), "{s:?}");
    }
    if let Some((file, value)) = s.split_once('=') {
        if limits::check_set(file, value).is_ok() {
            assert!(!file.starts_with("cgroup.") && file != "release_agent" && file != "notify_on_release");
            assert!(!file.contains('/') && !value.contains(['\n', '\0']), "{s:?}");
        }
    }
    if let Ok(bind) = Bind::parse(&s) {
        assert!(bind.dest.is_absolute() && bind.dest.components().all(|c| !matches!(c, Component::ParentDir)));
    }
    let _ = mount::clean_dest(&s, "--tmpfs");
    let _ = mount::Propagation::parse(&s);
    let _ = UserSpec::parse(&s);
    let _ = creds::parse_capability(&s);
    let _ = process::parse_signal(&s);
    let _ = ns::kind_by_name(&s);
});
