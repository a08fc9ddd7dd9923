//! Test data shared by the renderers' unit tests: one sample of a group, and a group with only
//! its v1 memory place.

use isolab_core::stats::net::Net;
use isolab_core::stats::sample::{Ctl, GroupFiles};

use crate::render::Sample;

/// A group at 0.5% CPU, 440 KiB of a 100 MiB limit, 6210 B in, 4 MiB read, 3 processes.
pub fn sample(name: &str) -> Sample {
    Sample {
        name: name.into(),
        cpu_ns: Some(2_000_000_000),
        cpu_delta_ns: Some(5_000_000),
        system_delta_ns: Some(2_000_000_000),
        online_cpus: Some(2),
        cpu_percent: Some(0.5),
        mem_usage: Some(450560),
        mem_limit: Some(104857600),
        mem_percent: Some(450560.0 / 104857600.0 * 100.0),
        net: Net::Private { rx: 6210, tx: 90 },
        block: Some((4194304, 0)),
        pids: Some(3),
    }
}

/// Group `name` with only a v1 memory place, beneath `/a/isolab` of the memory hierarchy.
pub fn memory_target(name: &str) -> GroupFiles {
    let ctl = Ctl { dir: format!("/sys/fs/cgroup/memory/a/isolab/{name}").into(), v2: false };
    GroupFiles {
        name: name.into(),
        cpu: None,
        memory: Some(ctl),
        io: None,
        pids: None,
        procs: None,
        cpu_controller: None,
    }
}
