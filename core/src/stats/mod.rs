//! Usage of groups, computed and printed as `docker stats` does: CPU %, MEM USAGE / LIMIT,
//! MEM %, NET I/O, BLOCK I/O, PIDS. See cgroups(7), proc(5); peers.md §2.8 for Docker's sources.
//!
//! Rules that bite:
//! - CPU % needs two readings of the group's cumulative CPU time and of the host's /proc/stat,
//!   an interval apart; `--no-stream` still waits one interval. While streaming, each sample's
//!   reading is the next one's "before", so every file is read once per sample (/proc/stat twice).
//! - The two counters must be read at the same moment, or the time between them counts on one
//!   side only: a slow machine (the test VM read 419 % of two CPUs when the groups' counters came
//!   after /proc/stat and other groups' files) or a descheduled cgstat skews the percentage. So
//!   each sample reads /proc/stat, every group's CPU counter, /proc/stat again, and only then the
//!   slower files; the host's time is the midpoint of its two reads.
//! - MEM USAGE is usage less inactive file pages; LIMIT is capped at the host's MemTotal (so an
//!   unlimited group shows the host's memory, as Docker does).
//! - NET I/O belongs to a network namespace, not a cgroup: it is read through a member
//!   process's /proc/PID/net/dev, and is `--` when that namespace is cgstat's own.
//! - Every file is read at most once per sample and nothing is exec'd: one sample of 1,000
//!   groups stays well under a second.

pub mod cpu;
pub mod detail;
pub mod format;
pub mod lookup;
pub mod net;
pub mod render;
pub mod sample;

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use cpu::HostCpu;
use net::NetReader;
pub use render::Sample;
use sample::{Reading, Target};

/// Which groups to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Named groups under the parent (DESIGN.md's rule), or every group there when `names` is empty.
    Parent { names: Vec<String>, parent: Option<String> },
    /// Every group under any isolab parent in the hierarchies.
    All,
    /// Any cgroups, by path from the hierarchy roots.
    Paths(Vec<String>),
}

/// What cgstat was asked, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub selection: Selection,
    /// Keep sampling until interrupted (`docker stats`), or print one sample (`--no-stream`).
    pub stream: bool,
    pub interval: Duration,
    pub json: bool,
    pub no_trunc: bool,
}

/// One instant: the host's CPU counters and each group's CPU time, keyed by [`key`], read back
/// to back.
struct Instant {
    host: Option<HostCpu>,
    cpu_ns: HashMap<PathBuf, u64>,
}

/// A group's identity between samples: its CPU directory (names repeat across parents).
fn key(target: &Target) -> PathBuf {
    target.cpu.as_ref().map_or_else(|| PathBuf::from(&target.name), |c| c.dir.clone())
}

fn read_host_cpu() -> Option<HostCpu> {
    cpu::parse_proc_stat(&sample::read_file("/proc/stat")?)
}

impl Instant {
    /// /proc/stat, every group's CPU time, /proc/stat again; the host's time is the midpoint, so
    /// a pause during the reads skews the percentage by half of it at most, on either side alike.
    fn take(targets: &[Target]) -> Instant {
        let first = read_host_cpu();
        let cpu_ns = targets.iter().filter_map(|t| Some((key(t), sample::read_cpu(t)?))).collect();
        let host = match (first, read_host_cpu()) {
            (Some(a), Some(b)) => Some(cpu::midpoint(a, b)),
            (a, b) => b.or(a),
        };
        Instant { host, cpu_ns }
    }
}

/// Run cgstat: sample, print Docker's table or JSON lines, repeat while streaming.
pub fn run(spec: Spec) -> anyhow::Result<u8> {
    let (json, no_trunc) = (spec.json, spec.no_trunc);
    run_with(spec, |_, samples, n| {
        if json {
            samples.iter().map(|s| format!("{}\n", s.json(n))).collect()
        } else {
            render::table(samples, no_trunc)
        }
    })
}

/// The sampling loop: each sample's groups and numbers go to `render`, whose text is written in
/// one write (redrawn in place on a terminal while streaming, unless `--json`).
pub fn run_with(spec: Spec, mut render: impl FnMut(&[Target], &[Sample], u64) -> String) -> anyhow::Result<u8> {
    let host_memory = sample::host_memory();
    let own_net = NetReader::own_inode();
    let mut targets = lookup::resolve(&spec.selection)?;
    let mut before = Instant::take(&targets);
    let mut out = Output::new(&spec);
    for n in 0.. {
        std::thread::sleep(spec.interval);
        if n > 0 && lookup::relists(&spec.selection) {
            targets = lookup::resolve(&spec.selection)?;
        }
        let now = Instant::take(&targets);
        let mut net = NetReader::new(own_net);
        let readings: Vec<Reading> =
            targets.iter().map(|t| sample::read(t, now.cpu_ns.get(&key(t)).copied(), &mut net)).collect();
        let samples: Vec<Sample> = targets
            .iter()
            .zip(&readings)
            .map(|(t, r)| compute(t, r, before.cpu_ns.get(&key(t)).copied(), (before.host, now.host), host_memory))
            .collect();
        out.write(&render(&targets, &samples, n), n)?;
        if !spec.stream {
            break;
        }
        before = now;
    }
    Ok(0)
}

/// Docker's arithmetic over one reading and the group's CPU time one interval before.
pub fn compute(
    target: &Target,
    r: &Reading,
    cpu_before: Option<u64>,
    hosts: (Option<HostCpu>, Option<HostCpu>),
    host_memory: Option<u64>,
) -> Sample {
    let cpu = match (cpu_before, r.cpu_ns, hosts) {
        (Some(b), Some(a), (Some(hb), Some(ha))) => Some((
            a.saturating_sub(b),
            ha.system_ns.saturating_sub(hb.system_ns),
            ha.online,
            cpu::percent(b, a, hb, ha),
        )),
        _ => None,
    };
    let mem_usage = r.memory.map(|m| m.docker_usage());
    let mem_limit = r.memory.and_then(|m| m.docker_limit(host_memory));
    let mem_percent = match (mem_usage, mem_limit) {
        (Some(used), Some(limit)) if limit > 0 => Some(used as f64 / limit as f64 * 100.0),
        (Some(_), Some(_)) => Some(0.0),
        _ => None,
    };
    Sample {
        name: target.name.clone(),
        cpu_ns: r.cpu_ns,
        cpu_delta_ns: cpu.map(|c| c.0),
        system_delta_ns: cpu.map(|c| c.1),
        online_cpus: cpu.map(|c| c.2),
        cpu_percent: cpu.map(|c| c.3),
        mem_usage,
        mem_limit,
        mem_percent,
        net: r.net,
        block: r.block,
        pids: r.pids,
    }
}

/// Where samples go: a redrawn frame on a terminal, or one block per sample.
struct Output {
    redraw: bool,
}

impl Output {
    fn new(spec: &Spec) -> Output {
        Output { redraw: spec.stream && !spec.json && std::io::stdout().is_terminal() }
    }

    /// One write per sample; an error (EPIPE when the reader left) goes to the caller, whom
    /// `cli` turns into exit 0 for a broken pipe.
    fn write(&mut self, text: &str, n: u64) -> std::io::Result<()> {
        let frame;
        let text = if self.redraw {
            frame = redrawn(text, n == 0);
            &frame
        } else {
            text
        };
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(text.as_bytes())?;
        stdout.flush()
    }
}

/// A frame that overwrites the previous one in place, as `docker stats` does on a terminal:
/// cursor home, each line cleared to its end, the rest of the screen cleared.
fn redrawn(table: &str, first: bool) -> String {
    let mut frame = String::from(if first { "\x1b[2J\x1b[H" } else { "\x1b[H" });
    for line in table.lines() {
        frame += line;
        frame += "\x1b[K\n";
    }
    frame + "\x1b[J"
}

#[cfg(test)]
mod tests {
    use super::*;
    use sample::{Ctl, Memory};

    fn target() -> Target {
        let ctl = Ctl { dir: "/sys/fs/cgroup/cpuacct/isolab/web".into(), v2: false };
        Target {
            name: "web".into(),
            cpu: Some(ctl),
            memory: None,
            io: None,
            pids: None,
            procs: None,
            cpu_controller: None,
        }
    }

    #[test]
    fn compute_follows_docker() {
        let r = Reading {
            cpu_ns: Some(1_500_000_000),
            memory: Some(Memory { usage: 454656, inactive_file: Some(4096), limit: Some(104857600) }),
            block: Some((1, 2)),
            pids: Some(1),
            net: net::Net::NoProcess,
        };
        let hb = HostCpu { system_ns: 10_000_000_000, online: 2 };
        let ha = HostCpu { system_ns: 11_000_000_000, online: 2 };
        let s = compute(&target(), &r, Some(1_000_000_000), (Some(hb), Some(ha)), Some(1 << 34));
        assert_eq!(s.cpu_percent, Some(100.0));
        assert_eq!(
            (s.cpu_delta_ns, s.system_delta_ns, s.online_cpus),
            (Some(500_000_000), Some(1_000_000_000), Some(2))
        );
        assert_eq!(s.cells()[1..4], ["100.00%", "440KiB / 100MiB", "0.43%"]);
        // A group first seen in this sample has no "before": `--`, not a made-up number.
        assert_eq!(compute(&target(), &r, None, (Some(hb), Some(ha)), None).cells()[1], "--");
    }

    #[test]
    fn redraw_clears_each_line_and_below() {
        assert_eq!(redrawn("A\nB\n", false), "\x1b[HA\x1b[K\nB\x1b[K\n\x1b[J");
        assert!(redrawn("A\n", true).starts_with("\x1b[2J\x1b[H"));
    }
}
