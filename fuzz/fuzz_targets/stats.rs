//! Every cgroup and proc file format cgstat reads: /proc/stat, cpu.stat, cpuacct.usage,
//! /proc/net/dev, blkio.throttle.io_service_bytes_recursive, io.stat, cgroup.procs, and the
//! flat-keyed files (memory.stat, memory.events, memory.oom_control), cpu.max.
#![no_main]

use isolab_core::cgroup::files;
use isolab_core::stats::{cpu, detail, net, sample};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let _ = cpu::parse_proc_stat(&s);
    let _ = cpu::parse_cpu_stat_usage(&s);
    let _ = cpu::parse_cpuacct_usage(&s);
    let _ = net::parse_net_dev(&s);
    let _ = sample::parse_blkio(&s);
    let _ = sample::parse_io_stat(&s);
    let _ = sample::parse_blkio_devices(&s);
    let _ = sample::parse_io_stat_devices(&s);
    let _ = net::parse_net_dev_interfaces(&s);
    let _ = detail::parse_throttling(&s, true);
    let _ = detail::parse_cpu_max(&s);
    let _ = files::parse_procs(&s);
    let _ = files::keyed(&s, "inactive_file");
});
