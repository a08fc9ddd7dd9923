//! Reading one group's files, each once per sample, and the parsers of their formats.
//! See cgroups(7), Documentation/admin-guide/cgroup-v1/{memory,blkio-controller}.rst and
//! Documentation/admin-guide/cgroup-v2.rst.
//!
//! Rules that bite:
//! - v1 `memory.usage_in_bytes` and v2 `memory.current` include the page cache; Docker subtracts
//!   the inactive file pages (v1 `total_inactive_file`, which counts the subtree, v2
//!   `inactive_file`) when they are smaller, so that a group that read a big file once does not
//!   look full.
//! - An unlimited v1 limit reads as a huge number (PAGE_COUNTER_MAX pages, 9223372036854771712
//!   here), v2 as `max`; both fall back to the host's MemTotal, as does any limit above it.
//! - v1 blkio.throttle.* counts only on a queue where blk-throttle is active: since Linux 6.9
//!   that is once some group has a throttle rule on the device; before, nothing but zeros.
//! - The v2 root group has no memory.current or pids.current; missing files print `--`.

use std::path::{Path, PathBuf};

use super::net::{Net, NetReader};
use crate::trace::{self, Step};

/// One controller's directory of a group, and whether it is on the unified (v2) hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ctl {
    pub dir: PathBuf,
    pub v2: bool,
}

/// Where one group's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What the NAME column shows: the group's name, or its cgroup path under `--path`.
    pub name: String,
    /// v1 cpuacct (alone or with cpu), v2 the group's directory (cpu.stat is always there).
    pub cpu: Option<Ctl>,
    pub memory: Option<Ctl>,
    /// v1 blkio, v2 io.
    pub io: Option<Ctl>,
    pub pids: Option<Ctl>,
    /// A directory whose cgroup.procs lists the members.
    pub procs: Option<PathBuf>,
    /// The cpu controller (shares or weight, CFS quota, throttling): v1 its hierarchy, v2 the
    /// group's directory when the controller is enabled there. Read by a scrape only.
    pub cpu_controller: Option<Ctl>,
}

/// Memory as read, before Docker's arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// v1 memory.usage_in_bytes, v2 memory.current.
    pub usage: u64,
    /// v1 total_inactive_file, v2 inactive_file.
    pub inactive_file: Option<u64>,
    /// The group's limit; `None` when unlimited.
    pub limit: Option<u64>,
}

impl Memory {
    /// Docker's MEM USAGE: usage less the inactive file pages, when they are smaller.
    pub fn docker_usage(&self) -> u64 {
        match self.inactive_file {
            Some(inactive) if inactive < self.usage => self.usage - inactive,
            _ => self.usage,
        }
    }

    /// Docker's LIMIT: the group's limit, or the host's memory when unlimited or larger.
    pub fn docker_limit(&self, host_total: Option<u64>) -> Option<u64> {
        match (self.limit, host_total) {
            (Some(limit), Some(host)) if host > 0 && limit > host => Some(host),
            (Some(limit), _) => Some(limit),
            (None, host) => host,
        }
    }
}

/// Everything one sample reads of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub cpu_ns: Option<u64>,
    pub memory: Option<Memory>,
    /// Bytes read and written.
    pub block: Option<(u64, u64)>,
    pub pids: Option<u64>,
    pub net: Net,
}

/// Read a kernel file whole, traced under `--explain`; `None` when it is not there (a group
/// that vanished, a controller not enabled).
pub fn read_file(path: impl AsRef<Path>) -> Option<String> {
    let path = path.as_ref();
    trace::run_io(Step::Read { path: path.to_path_buf() }, || read_whole(path)).ok()
}

/// A kernel file in one read(2) or two. std's `read_to_string` sizes its buffer by the file's
/// size, which cgroup and proc files report as 0 (or 4096): it then reads memory.stat 32, 32,
/// 64, 128... bytes at a time, ten system calls where two do.
fn read_whole(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 8192];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

pub(super) fn read_in(ctl: &Ctl, file: &str) -> Option<String> {
    read_file(ctl.dir.join(file))
}

/// The value of `key` in a flat-keyed file (`memory.stat`, `cpu.stat`: `key value` per line).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The group's cumulative CPU time in nanoseconds.
pub fn read_cpu(target: &Target) -> Option<u64> {
    let ctl = target.cpu.as_ref()?;
    if ctl.v2 {
        super::cpu::parse_cpu_stat_usage(&read_in(ctl, "cpu.stat")?)
    } else {
        super::cpu::parse_cpuacct_usage(&read_in(ctl, "cpuacct.usage")?)
    }
}

/// A limit file's value: v2 `max` is no limit; a number is the limit (v1's "unlimited" is a huge
/// number, which [`Memory::docker_limit`] caps at the host's memory like any larger limit).
fn parse_limit(text: &str) -> Option<Option<u64>> {
    match text.trim() {
        "max" => Some(None),
        n => n.parse().ok().map(Some),
    }
}

fn read_memory(ctl: &Ctl) -> Option<Memory> {
    read_memory_and_stat(ctl).map(|(memory, _)| memory)
}

/// The memory numbers and the text of memory.stat, from which a scrape takes more keys.
pub(super) fn read_memory_and_stat(ctl: &Ctl) -> Option<(Memory, Option<String>)> {
    let (usage_file, limit_file, inactive_key) = if ctl.v2 {
        ("memory.current", "memory.max", "inactive_file")
    } else {
        ("memory.usage_in_bytes", "memory.limit_in_bytes", "total_inactive_file")
    };
    let usage = read_in(ctl, usage_file)?.trim().parse().ok()?;
    let stat = read_in(ctl, "memory.stat");
    let inactive_file = stat.as_deref().and_then(|s| keyed(s, inactive_key));
    let limit = read_in(ctl, limit_file).and_then(|s| parse_limit(&s)).unwrap_or(None);
    Some((Memory { usage, inactive_file, limit }, stat))
}

/// v1 `blkio.throttle.io_service_bytes_recursive`: `MAJ:MIN Op bytes` lines and a `Total`.
/// Docker counts the ops that start with R (Read) and W (Write), not Sync/Async/Total.
pub fn parse_blkio(text: &str) -> Option<(u64, u64)> {
    Some(sum_devices(&parse_blkio_devices(text)?))
}

/// Bytes read and written per device (`MAJ:MIN`), in the order the file lists them.
pub type DeviceBytes = Vec<(String, u64, u64)>;

/// [`parse_blkio`] per device.
pub fn parse_blkio_devices(text: &str) -> Option<DeviceBytes> {
    let mut devices: DeviceBytes = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [device, op, value] = fields[..] else { continue }; // `Total N` has two fields
        let value: u64 = value.parse().ok()?;
        let i = devices.iter().position(|d| d.0 == device).unwrap_or_else(|| {
            devices.push((device.to_string(), 0, 0));
            devices.len() - 1
        });
        match op.as_bytes().first() {
            Some(b'R' | b'r') => devices[i].1 = devices[i].1.saturating_add(value),
            Some(b'W' | b'w') => devices[i].2 = devices[i].2.saturating_add(value),
            _ => {}
        }
    }
    Some(devices)
}

fn sum_devices(devices: &DeviceBytes) -> (u64, u64) {
    devices.iter().fold((0u64, 0u64), |(r, w), d| (r.saturating_add(d.1), w.saturating_add(d.2)))
}

/// v2 `io.stat`: `MAJ:MIN rbytes=N wbytes=N rios=N ...` per device, summed.
pub fn parse_io_stat(text: &str) -> Option<(u64, u64)> {
    Some(sum_devices(&parse_io_stat_devices(text)?))
}

/// [`parse_io_stat`] per device.
pub fn parse_io_stat_devices(text: &str) -> Option<DeviceBytes> {
    let mut devices = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(device) = fields.next() else { continue };
        let (mut read, mut write) = (0u64, 0u64);
        for pair in fields {
            let Some((key, value)) = pair.split_once('=') else { continue };
            let total = match key {
                "rbytes" => &mut read,
                "wbytes" => &mut write,
                _ => continue,
            };
            *total = total.saturating_add(value.parse().ok()?);
        }
        devices.push((device.to_string(), read, write));
    }
    Some(devices)
}

fn read_block(ctl: &Ctl) -> Option<(u64, u64)> {
    read_block_devices(ctl).map(|d| sum_devices(&d))
}

/// Bytes per device: v2 io.stat, v1 blkio.throttle.io_service_bytes_recursive.
pub(super) fn read_block_devices(ctl: &Ctl) -> Option<DeviceBytes> {
    if ctl.v2 {
        parse_io_stat_devices(&read_in(ctl, "io.stat")?)
    } else {
        parse_blkio_devices(&read_in(ctl, "blkio.throttle.io_service_bytes_recursive")?)
    }
}

/// `cgroup.procs`: one PID per line.
pub fn parse_procs(text: &str) -> Vec<u32> {
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// Read every other file of a group once; its CPU time `cpu_ns` was read beforehand, at the
/// moment the host's /proc/stat was (see the module `stats`).
pub fn read(target: &Target, cpu_ns: Option<u64>, net: &mut NetReader) -> Reading {
    let (procs, pids) = read_members(target);
    Reading {
        cpu_ns,
        memory: target.memory.as_ref().and_then(read_memory),
        block: target.io.as_ref().and_then(read_block),
        pids,
        net: procs.as_deref().map_or(Net::NoProcess, |p| net.read(p)),
    }
}

/// The members (cgroup.procs) and PIDS: pids.current, or the number of members without it.
fn read_members(target: &Target) -> (Option<Vec<u32>>, Option<u64>) {
    let procs = target.procs.as_ref().and_then(|dir| read_file(dir.join("cgroup.procs"))).map(|s| parse_procs(&s));
    let pids_current =
        target.pids.as_ref().and_then(|ctl| read_in(ctl, "pids.current")).and_then(|s| s.trim().parse().ok());
    let pids = pids_current.or_else(|| procs.as_ref().map(|p| p.len() as u64));
    (procs, pids)
}

/// The host's memory in bytes (/proc/meminfo MemTotal), Docker's `machineMemory`.
pub fn host_memory() -> Option<u64> {
    parse_meminfo_total(&read_file("/proc/meminfo")?)
}

fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_MEMORY_STAT: &str = include_str!("../../testdata/v1-memory.stat");
    const V2_MEMORY_STAT: &str = include_str!("../../testdata/v2-memory.stat");

    #[test]
    fn memory_stat_keys() {
        // v1 has both the group's own inactive_file and the subtree's total_: Docker takes total_.
        assert_eq!(keyed(V1_MEMORY_STAT, "total_inactive_file"), Some(471040));
        assert_eq!(keyed(V1_MEMORY_STAT, "inactive_file"), Some(471040));
        assert_eq!(keyed(V1_MEMORY_STAT, "hierarchical_memory_limit"), Some(9223372036854771712));
        assert_eq!(keyed(V2_MEMORY_STAT, "inactive_file"), Some(2105344));
        assert_eq!(keyed(V2_MEMORY_STAT, "file"), Some(2523136));
        assert_eq!(keyed(V2_MEMORY_STAT, "missing"), None);
    }

    #[test]
    fn docker_memory_arithmetic() {
        let host = Some(24684092 * 1024);
        // Read together on this machine: usage_in_bytes 3133440, total_inactive_file 20480, unlimited.
        let m = Memory { usage: 3133440, inactive_file: Some(20480), limit: Some(9223372036854771712) };
        assert_eq!(m.docker_usage(), 3112960);
        assert_eq!(m.docker_limit(host), host);
        let limited = Memory { usage: 450560 + 4096, inactive_file: Some(4096), limit: Some(104857600) };
        assert_eq!((limited.docker_usage(), limited.docker_limit(host)), (450560, Some(104857600)));
        // Inactive file pages larger than usage (they are the subtree's): usage stands.
        let odd = Memory { usage: 100, inactive_file: Some(200), limit: None };
        assert_eq!((odd.docker_usage(), odd.docker_limit(None)), (100, None));
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit("max\n"), Some(None));
        assert_eq!(parse_limit("104857600\n"), Some(Some(104857600)));
        assert_eq!(parse_limit("garbage"), None);
    }

    #[test]
    fn block_io_v1_counts_read_and_write_only() {
        let text = include_str!("../../testdata/v1-blkio.throttle.io_service_bytes_recursive");
        assert_eq!(parse_blkio(text), Some((4194304, 2097152)));
        assert_eq!(parse_blkio("Total 0\n"), Some((0, 0)));
        assert_eq!(parse_blkio("8:0 Read x\n"), None);
    }

    #[test]
    fn block_io_v2_sums_devices() {
        let text = include_str!("../../testdata/v2-io.stat");
        assert_eq!(parse_io_stat(text), Some((4194304 + 1459200, 2097152 + 314773504)));
        assert_eq!(parse_io_stat(""), Some((0, 0)));
        assert_eq!(parse_io_stat("8:0 rbytes=x\n"), None);
    }

    #[test]
    fn meminfo_and_procs() {
        assert_eq!(parse_meminfo_total("MemTotal:       24684092 kB\nMemFree: 1 kB\n"), Some(24684092 * 1024));
        assert_eq!(parse_procs("12\n345\n\n"), vec![12, 345]);
    }

    #[test]
    fn missing_files_are_missing_values() {
        let gone = Ctl { dir: "/nonexistent/isolab".into(), v2: false };
        let target = Target {
            name: "gone".into(),
            cpu: Some(gone.clone()),
            memory: Some(gone.clone()),
            io: Some(gone.clone()),
            pids: Some(gone.clone()),
            procs: Some(gone.dir.clone()),
            cpu_controller: Some(gone),
        };
        let r = read(&target, read_cpu(&target), &mut NetReader::new(None));
        assert_eq!(r, Reading { cpu_ns: None, memory: None, block: None, pids: None, net: Net::NoProcess });
    }

    proptest::proptest! {
        #[test]
        fn blkio_sums_reads_and_writes(rows in proptest::collection::vec((0u32..300, "(Read|Write|Sync|Async|Discard|Total)", 0u64..1 << 50), 0..12)) {
            let mut text = String::new();
            let (mut r, mut w) = (0, 0);
            for (minor, op, v) in &rows {
                text += &format!("8:{minor} {op} {v}\n");
                match op.as_str() { "Read" => r += v, "Write" => w += v, _ => {} }
            }
            text += "Total 0\n";
            proptest::prop_assert_eq!(parse_blkio(&text), Some((r, w)));
        }

        #[test]
        fn io_stat_sums_bytes(rows in proptest::collection::vec((0u32..300, 0u64..1 << 50, 0u64..1 << 50, 0u64..1000), 0..8)) {
            let text: String = rows.iter().map(|(m, r, w, n)| format!("8:{m} rbytes={r} wbytes={w} rios={n} wios={n} dbytes=0 dios=0\n")).collect();
            let want = rows.iter().fold((0, 0), |(a, b), (_, r, w, _)| (a + r, b + w));
            proptest::prop_assert_eq!(parse_io_stat(&text), Some(want));
        }

        #[test]
        fn keyed_finds_any_key(pairs in proptest::collection::btree_map("[a-z_]{1,20}", 0u64..u64::MAX, 1..20)) {
            let text: String = pairs.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
            for (k, v) in &pairs {
                proptest::prop_assert_eq!(keyed(&text, k), Some(*v));
            }
        }
    }
}
