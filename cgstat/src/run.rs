//! cgstat's run: find the groups, take a CPU snapshot, and for each sample wait an interval,
//! take another, read every group's other files once, compute Docker's numbers, print them
//! (a table, a table redrawn in place on a terminal, or JSON lines), and repeat while streaming.
//! `--no-stream` still waits one interval: CPU % needs two readings. A selection of every group
//! under a parent is listed again at each sample (groups come and go); named groups once.
//! Sampling and Docker's formulas are core's (`isolab_core::stats`).

use std::io::IsTerminal;
use std::time::Duration;

use isolab_core::stats::cpu::{self, HostCpu};
use isolab_core::stats::net::NetReader;
use isolab_core::stats::sample::{self, GroupFiles, Reading};
use isolab_core::{cgroup, exit};

use crate::render::{self, Sample};
use crate::select::{self, Groups, Selection};

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

/// Run cgstat: sample, print Docker's table or JSON lines, repeat while streaming.
pub fn run(spec: Spec) -> anyhow::Result<u8> {
    if spec.json {
        run_with(spec, JsonLines)
    } else {
        let no_trunc = spec.no_trunc;
        run_with(spec, render::Table::new(no_trunc))
    }
}

/// Where a sample's rows go, group after group, as they are computed.
pub trait Render {
    /// Sample `n`'s numbers of the `i`th of `groups`; a row that can be printed at once goes
    /// to `out`.
    fn row(&mut self, groups: &Groups, i: usize, sample: Sample, n: u64, out: &mut String);
    /// The rest of sample `n`'s text, every row given, into `out`, on which `flush` is called
    /// as it grows; what was held for it is let go.
    fn end(
        &mut self,
        n: u64,
        out: &mut String,
        flush: &mut dyn FnMut(&mut String) -> anyhow::Result<()>,
    ) -> anyhow::Result<()>;
}

impl Render for render::Table {
    fn row(&mut self, _: &Groups, _: usize, sample: Sample, _: u64, _: &mut String) {
        self.push(&sample);
    }

    fn end(
        &mut self,
        _: u64,
        out: &mut String,
        flush: &mut dyn FnMut(&mut String) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.write(out, flush)
    }
}

/// `--json`: a line per group, printed as it is computed.
struct JsonLines;

impl Render for JsonLines {
    fn row(&mut self, _: &Groups, _: usize, sample: Sample, n: u64, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(out, "{}", sample.json(n));
    }

    fn end(
        &mut self,
        _: u64,
        _: &mut String,
        _: &mut dyn FnMut(&mut String) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The sampling loop: each group's numbers go to `render` as they are computed, and each
/// sample's text is written in chunks of [`CHUNK`] bytes as it is made (or, redrawn in place on
/// a terminal while streaming, unless `--json`, in one write). What is held per group between
/// the two readings is its CPU time.
pub fn run_with(spec: Spec, mut render: impl Render) -> anyhow::Result<u8> {
    let host_memory = sample::host_memory();
    let own_net = NetReader::own_inode();
    let mut groups = select::groups(&spec.selection)?;
    if groups.is_empty() && select::relists(&spec.selection) {
        // Docker prints a bare header for no containers; here the reason goes with it, and for
        // a user, what is missing for groups of its own.
        let why = select::why_empty(&spec.selection);
        let why = match cgroup::delegate::user_lacks() {
            Some(lacks) => format!("{why}; {lacks}"),
            None => why,
        };
        exit::say(format_args!("{}: {why}", exit::tool()));
    }
    let mut before = groups.cpu_snapshot();
    let mut out = Output::new(&spec);
    for n in 0.. {
        std::thread::sleep(spec.interval);
        if n > 0 && select::relists(&spec.selection) {
            let listed = select::groups(&spec.selection)?;
            before = groups.carry(before, &listed);
            groups = listed;
        }
        let now = groups.cpu_snapshot();
        let mut net = NetReader::new(own_net);
        for i in 0..groups.len() {
            let g = groups.files(i);
            let r = sample::read(&g, now.group(i), &mut net);
            let row = compute(&g, &r, before.group(i), (before.host, now.host), host_memory);
            render.row(&groups, i, row, n, &mut out.text);
            out.flush_full()?;
        }
        let mut text = std::mem::take(&mut out.text);
        render.end(n, &mut text, &mut |text| out.flush_full_of(text))?;
        out.text = text;
        out.write(n)?;
        if !spec.stream {
            break;
        }
        before = now;
    }
    Ok(0)
}

/// Docker's arithmetic over one reading and the group's CPU time one interval before.
pub fn compute(
    target: &GroupFiles,
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

/// How much text is held before it is written (when not redrawn).
const CHUNK: usize = 64 * 1024;

/// Where samples go: a redrawn frame on a terminal, or the text in chunks.
struct Output {
    redraw: bool,
    /// The sample's text not yet written.
    text: String,
}

impl Output {
    fn new(spec: &Spec) -> Output {
        Output { redraw: spec.stream && !spec.json && std::io::stdout().is_terminal(), text: String::new() }
    }

    /// Write the text held once it is a chunk, unless a frame is being redrawn.
    fn flush_full(&mut self) -> anyhow::Result<()> {
        let mut text = std::mem::take(&mut self.text);
        let done = self.flush_full_of(&mut text);
        self.text = text;
        done
    }

    fn flush_full_of(&self, text: &mut String) -> anyhow::Result<()> {
        if !self.redraw && text.len() >= CHUNK {
            exit::write_stdout(text)?;
            text.clear();
        }
        Ok(())
    }

    /// The rest of sample `n`; an error (EPIPE when the reader left) goes to the caller, whom
    /// `cli` turns into exit 0 for a broken pipe.
    fn write(&mut self, n: u64) -> anyhow::Result<()> {
        let text = std::mem::take(&mut self.text);
        if self.redraw {
            exit::write_stdout(&redrawn(&text, n == 0))?;
        } else if !text.is_empty() {
            exit::write_stdout(&text)?;
        }
        self.text = text;
        self.text.clear();
        Ok(())
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
    use isolab_core::stats::net;
    use sample::{Ctl, Memory};

    fn target() -> GroupFiles {
        let ctl = Ctl { dir: "/sys/fs/cgroup/cpuacct/isolab/web".into(), v2: false };
        GroupFiles {
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

    // Issue 14.11: unknown counters print `--` and are null in --json, never 0.
    #[test]
    fn unknown_counters_are_dashes_and_null() {
        let r = Reading { cpu_ns: None, memory: None, block: None, pids: Some(2), net: net::Net::NoProcess };
        let s = compute(&target(), &r, None, (None, None), Some(1 << 34));
        assert_eq!(s.cells()[1..6], ["--", "-- / --", "--", "--", "--"]);
        let json = s.json(0);
        for key in ["block_read_bytes", "block_write_bytes", "mem_usage_bytes", "mem_limit_bytes", "cpu_percent"] {
            assert!(json[key].is_null(), "{key}: {json}");
        }
        assert_eq!(json["BlockIO"], "--");
    }

    #[test]
    fn redraw_clears_each_line_and_below() {
        assert_eq!(redrawn("A\nB\n", false), "\x1b[HA\x1b[K\nB\x1b[K\n\x1b[J");
        assert!(redrawn("A\n", true).starts_with("\x1b[2J\x1b[H"));
    }
}
