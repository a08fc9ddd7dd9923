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
//! - Files are parsed as runc (opencontainers/cgroups) parses them, and what runc refuses is
//!   unknown (`--`, null in --json), never 0: one malformed line makes the file's counter
//!   unknown. Numbers are Go's ParseUint (digits only), where runc tolerates a negative value
//!   (a kernel bug) as 0.

use std::path::PathBuf;

use super::net::{Net, NetReader};
use super::reader;
use crate::cgroup::files::{flat_keyed, fs_uint, go_uint, param_uint, parse_procs};
use crate::cgroup::{Group, CGROUP_PROCS};
use crate::trace;

/// One controller's directory of a group, and whether it is on the unified (v2) hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ctl {
    pub dir: PathBuf,
    pub v2: bool,
}

/// Where one group's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFiles {
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

impl GroupFiles {
    /// The files of `group`, shown as `name`. Its `cgroup.procs` is read from one of its
    /// hierarchies only (pids, else memory): the member list is the same in each where the tools
    /// placed it, and reading it once per sample is the cost rule.
    pub fn of(group: &Group, name: &str) -> GroupFiles {
        let ctl =
            |controller: &str| Some(Ctl { dir: group.dir(controller)?.to_path_buf(), v2: group.is_v2(controller) });
        let (pids, memory) = (ctl("pids"), ctl("memory"));
        let procs = pids
            .as_ref()
            .or(memory.as_ref())
            .map(|c| c.dir.clone())
            .or_else(|| group.places().first().map(|p| p.dir.clone()));
        GroupFiles {
            name: name.to_string(),
            cpu: ctl("cpuacct"),
            memory,
            io: ctl("blkio"),
            pids,
            procs,
            cpu_controller: ctl("cpu"),
        }
    }
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

pub(super) fn read_in(ctl: &Ctl, file: &str) -> Option<String> {
    reader::read(&ctl.dir, file)
}

/// The group's cumulative CPU time in nanoseconds.
pub fn read_cpu(target: &GroupFiles) -> Option<u64> {
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
        n => fs_uint(n).map(Some),
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
    let usage = param_uint(&read_in(ctl, usage_file)?)?;
    // A missing memory.stat leaves usage as it is; a malformed one (or limit) makes it unknown.
    let stat = read_in(ctl, "memory.stat");
    let inactive_file = match stat.as_deref() {
        Some(text) => flat_keyed(text)?.into_iter().find(|(k, _)| *k == inactive_key).map(|(_, v)| v),
        None => None,
    };
    let limit = match read_in(ctl, limit_file) {
        Some(text) => parse_limit(&text)?,
        None => None,
    };
    Some((Memory { usage, inactive_file, limit }, stat))
}

/// v1 `blkio.throttle.io_service_bytes_recursive`: `MAJ:MIN Op bytes` lines and a `Total`,
/// read as runc's getBlkioStat: fields split at ' ' and ':'; under three only `Total N` is
/// allowed; MAJ and MIN are numbers; the value is the fourth field of a four-field line, else
/// the third. Docker counts the ops that start with R (Read) and W (Write).
pub fn parse_blkio(text: &str) -> Option<(u64, u64)> {
    Some(sum_devices(&parse_blkio_devices(text)?))
}

/// Bytes read and written per device (`MAJ:MIN`), in the order the file lists them.
pub type DeviceBytes = Vec<(String, u64, u64)>;

/// [`parse_blkio`] per device.
pub fn parse_blkio_devices(text: &str) -> Option<DeviceBytes> {
    let mut devices: DeviceBytes = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split([' ', ':']).filter(|f| !f.is_empty()).collect();
        if fields.len() < 3 {
            if fields.len() == 2 && fields[0] == "Total" {
                continue;
            }
            return None;
        }
        let (major, minor) = (go_uint(fields[0])?, go_uint(fields[1])?);
        let (op, value) = if fields.len() == 4 { (fields[2], fields[3]) } else { ("", fields[2]) };
        let value = go_uint(value)?;
        let device = format!("{major}:{minor}");
        let i = devices.iter().position(|d| d.0 == device).unwrap_or_else(|| {
            devices.push((device, 0, 0));
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

/// v2 `io.stat`: `MAJ:MIN rbytes=N wbytes=N rios=N ...` per device, summed; read as runc's
/// statIo: lines of under two fields and device keys without one ':' are passed over (a later
/// line of the same device replaces an earlier one), MAJ and MIN must be numbers, entries
/// without exactly one '=' and unknown keys are passed over, a known key's value must be a number.
pub fn parse_io_stat(text: &str) -> Option<(u64, u64)> {
    Some(sum_devices(&parse_io_stat_devices(text)?))
}

/// [`parse_io_stat`] per device, each device once (where its last line left it).
pub fn parse_io_stat_devices(text: &str) -> Option<DeviceBytes> {
    const KNOWN: [&str; 8] =
        ["rbytes", "wbytes", "rios", "wios", "cost.usage", "cost.wait", "cost.indebt", "cost.indelay"];
    let mut devices: DeviceBytes = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [device, items @ ..] = &parts[..] else { continue };
        if items.is_empty() {
            continue;
        }
        let numbers: Vec<&str> = device.split(':').collect();
        let [major, minor] = numbers[..] else { continue };
        go_uint(major)?;
        go_uint(minor)?;
        let (mut read, mut write) = (0u64, 0u64);
        for item in items {
            let kv: Vec<&str> = item.split('=').collect();
            let [key, value] = kv[..] else { continue };
            if !KNOWN.contains(&key) {
                continue;
            }
            let value = go_uint(value)?;
            match key {
                "rbytes" => read = read.saturating_add(value),
                "wbytes" => write = write.saturating_add(value),
                _ => {}
            }
        }
        devices.retain(|(d, ..)| d != device);
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

/// Read every other file of a group once; its CPU time `cpu_ns` was read beforehand, at the
/// moment the host's /proc/stat was (see the module `stats`).
pub fn read(target: &GroupFiles, cpu_ns: Option<u64>, net: &mut NetReader) -> Reading {
    let procs = target.procs.as_ref().and_then(|dir| reader::read_all(dir, CGROUP_PROCS)).map(|s| parse_procs(&s));
    let pids_current = target.pids.as_ref().and_then(|ctl| read_in(ctl, "pids.current")).and_then(|s| param_uint(&s));
    Reading {
        cpu_ns,
        memory: target.memory.as_ref().and_then(read_memory),
        block: target.io.as_ref().and_then(read_block),
        pids: pids_current.or_else(|| procs.as_ref().map(|p| p.len() as u64)),
        net: procs.as_deref().map_or(Net::NoProcess, |p| net.read(p)),
    }
}

/// The host's memory in bytes (/proc/meminfo MemTotal), Docker's `machineMemory`.
pub fn host_memory() -> Option<u64> {
    parse_meminfo_total(&trace::read_file("/proc/meminfo").ok()?)
}

fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::Place;

    #[test]
    fn hybrid_group_reads_v1_controllers() {
        // As cgexec-rs places a group on the development hosts: v1 cpu and cpuacct apart.
        let g = Group::new(
            "web",
            vec![
                Place::new("/sys/fs/cgroup/cpu/isolab/web", false, &["cpu"]),
                Place::new("/sys/fs/cgroup/cpuacct/isolab/web", false, &["cpuacct"]),
                Place::new("/sys/fs/cgroup/memory/a/isolab/web", false, &["memory"]),
                Place::new("/sys/fs/cgroup/pids/isolab/web", false, &["pids"]),
            ],
        );
        let t = GroupFiles::of(&g, "web");
        assert_eq!(t.cpu, Some(Ctl { dir: "/sys/fs/cgroup/cpuacct/isolab/web".into(), v2: false }));
        assert_eq!(t.memory.unwrap().dir, PathBuf::from("/sys/fs/cgroup/memory/a/isolab/web"));
        assert_eq!(t.io, None);
        assert_eq!(t.procs, Some("/sys/fs/cgroup/pids/isolab/web".into()));
        // A scrape's CFS settings and throttling are in the cpu hierarchy, apart from cpuacct.
        assert_eq!(t.cpu_controller, Some(Ctl { dir: "/sys/fs/cgroup/cpu/isolab/web".into(), v2: false }));
    }

    #[test]
    fn v2_group_reads_cpu_stat_without_the_cpu_controller() {
        let g = Group::new("web", vec![Place::new("/sys/fs/cgroup/isolab/web", true, &["memory", "io"])]);
        let t = GroupFiles::of(&g, "web");
        let v2 = Some(Ctl { dir: "/sys/fs/cgroup/isolab/web".into(), v2: true });
        assert_eq!((t.cpu, t.memory, t.io.clone(), t.pids), (v2.clone(), v2.clone(), v2, None));
        assert_eq!(t.procs, Some("/sys/fs/cgroup/isolab/web".into()));
        assert_eq!(t.cpu_controller, None, "cpu.max and cpu.weight exist only where cpu is enabled");
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

    // Issue 14.11: a line runc refuses makes the counter unknown (`--`, null), never 0. runc's
    // getBlkioStat splits on ' ' and ':'; a four-field line's value is its fourth field, any
    // other length's its third (so `8:0 Read 100 100` reads `Read` as the value and fails).
    #[test]
    fn malformed_counters_are_unknown() {
        for bad in [
            "8:0 Read 100 100\n",
            "8:0 Read 1 2 3\n",
            "8:0 Read\n",
            "Read 100\n",
            "Total\n",
            "x:0 Read 5\n",
            "8:0 Read +5\n",
            "8:0 Read -5\n",
            "8:0 Read 5\n\n8:0 Write 1\n",
            "8:0 Read 18446744073709551616\n",
        ] {
            assert_eq!(parse_blkio(bad), None, "{bad:?}");
        }
        // What runc takes: the Total line, a value without an op (counted as neither).
        assert_eq!(parse_blkio("8:0 100\n8:0 Read 7\nTotal 107\n"), Some((7, 0)));
        // io.stat as runc's statIo: a bad device number or value of a known key fails the file;
        // an entry without one '=', a device key without ':', an unknown key are passed over.
        for bad in ["8:0 rbytes=x\n", "x:0 rbytes=5\n", "8:0 rios=x\n", "8:0 wbytes=+5\n", "8:0 cost.wait=-1\n"] {
            assert_eq!(parse_io_stat(bad), None, "{bad:?}");
        }
        assert_eq!(parse_io_stat("8:0 rbytes=1=2 dbytes=x rbytes\n8 rbytes=5\n8:0\n8:1 wbytes=3\n"), Some((0, 3)));
        // "key value" files and one-number files: see cgroup::files's own tests.
    }

    // The same files on disk: a malformed memory.stat makes MEM USAGE unknown, a malformed blkio
    // file BLOCK I/O; the rest of the group is still read.
    #[test]
    fn a_malformed_file_is_one_unknown_column() {
        let dir = crate::test_dir("stats-malformed");
        std::fs::write(dir.join("memory.usage_in_bytes"), "4096\n").unwrap();
        std::fs::write(dir.join("memory.limit_in_bytes"), "104857600\n").unwrap();
        std::fs::write(dir.join("memory.stat"), "cache 0\ntotal_inactive_file 5 6\n").unwrap();
        std::fs::write(dir.join("blkio.throttle.io_service_bytes_recursive"), "8:0 Read 100 100\nTotal 100\n").unwrap();
        std::fs::write(dir.join("pids.current"), "3\n").unwrap();
        let ctl = Ctl { dir: dir.clone(), v2: false };
        let target = GroupFiles {
            name: "odd".into(),
            cpu: None,
            memory: Some(ctl.clone()),
            io: Some(ctl.clone()),
            pids: Some(ctl),
            procs: None,
            cpu_controller: None,
        };
        let r = read(&target, None, &mut NetReader::new(None));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!((r.memory, r.block, r.pids), (None, None, Some(3)));
    }

    // A scrape's container_fs_*_bytes_total{device}: the same grammar per device, and the sum
    // is what BLOCK I/O shows.
    #[test]
    fn block_io_per_device() {
        let v1 = "8:0 Read 100\n8:0 Write 7\n8:0 Sync 107\n8:16 Read 5\nTotal 112\n";
        assert_eq!(parse_blkio_devices(v1), Some(vec![("8:0".into(), 100, 7), ("8:16".into(), 5, 0)]));
        assert_eq!(parse_blkio(v1), Some((105, 7)));
        // io.stat: a later line of a device replaces the earlier one, as runc's statIo keeps it.
        let v2 = "8:0 rbytes=1 wbytes=2\n8:16 rbytes=3 wbytes=4\n8:0 rbytes=10 wbytes=20\n";
        assert_eq!(parse_io_stat_devices(v2), Some(vec![("8:16".into(), 3, 4), ("8:0".into(), 10, 20)]));
        assert_eq!(parse_io_stat(v2), Some((13, 24)));
        assert_eq!((parse_blkio_devices("8:0 Read 100 100\n"), parse_io_stat_devices("8:0 rbytes=x\n")), (None, None));
    }

    #[test]
    fn meminfo() {
        assert_eq!(parse_meminfo_total("MemTotal:       24684092 kB\nMemFree: 1 kB\n"), Some(24684092 * 1024));
    }

    #[test]
    fn missing_files_are_missing_values() {
        let gone = Ctl { dir: "/nonexistent/isolab".into(), v2: false };
        let target = GroupFiles {
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
        fn io_stat_sums_bytes(devices in proptest::collection::btree_map(0u32..300, (0u64..1 << 50, 0u64..1 << 50, 0u64..1000), 0..8)) {
            // One line per device, as the kernel writes it.
            let rows: Vec<(u32, u64, u64, u64)> = devices.into_iter().map(|(m, (r, w, n))| (m, r, w, n)).collect();
            let text: String = rows.iter().map(|(m, r, w, n)| format!("8:{m} rbytes={r} wbytes={w} rios={n} wios={n} dbytes=0 dios=0\n")).collect();
            let want = rows.iter().fold((0, 0), |(a, b), (_, r, w, _)| (a + r, b + w));
            proptest::prop_assert_eq!(parse_io_stat(&text), Some(want));
        }
    }
}
