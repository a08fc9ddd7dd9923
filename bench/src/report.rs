//! The table on stdout and bench/RESULTS.md: the machine, the table, the goals met and missed.

use std::fmt::Write as _;
use std::process::Command;

use crate::measure::{paired_ratio, Sample};
use crate::rows::Row;

/// Peak RSS every tool must stay under (util-linux's launchers are 1.7-2.1 MB here).
pub const RSS_GOAL_KIB: u64 = 2048;

pub struct Measured {
    pub row: Row,
    pub samples: Vec<Sample>,
}

/// One goal's verdict, for the table and the list of misses.
pub struct Verdict {
    pub row: &'static str,
    pub text: String,
    pub met: bool,
}

fn ratio(m: &Measured, against: usize) -> Option<(f64, f64)> {
    let (a, b) = (&m.samples[0], &m.samples[against]);
    if a.ms.is_empty() || b.ms.is_empty() {
        return None;
    }
    Some((a.median() / b.median(), paired_ratio(a, b)))
}

pub fn verdicts(results: &[Measured]) -> Vec<Verdict> {
    let mut out = Vec::new();
    for m in results {
        for g in &m.row.goals {
            let against = &m.row.sides[g.against].label;
            let text = match ratio(m, g.against) {
                Some((r, _)) => format!("{:.2}x {against} (goal <= {:.2}x)", r, g.limit),
                None => format!("not measured against {against}"),
            };
            let met = ratio(m, g.against).is_some_and(|(r, _)| r <= g.limit);
            out.push(Verdict { row: m.row.id, text, met });
        }
        let peak = m.samples[0].peak_median_kib();
        // In net-chain the tree's largest process is a CNI plugin (a Go program), not a tool of ours.
        if m.row.id != "exec" && m.row.id != "net-chain" && peak > 0 {
            let text = format!("peak RSS {peak} KiB (goal <= {RSS_GOAL_KIB} KiB)");
            out.push(Verdict { row: m.row.id, text, met: peak <= RSS_GOAL_KIB });
        }
    }
    out
}

/// The table, in Markdown (it reads as plain text on a terminal too).
pub fn table(results: &[Measured]) -> String {
    let mut t = String::new();
    t.push_str(
        "| row | command | median ms | min-max ms | peak RSS KiB | faults | ctx sw | CPU ms | isolab / this (medians; pairs) | goal |\n",
    );
    t.push_str("|---|---|---:|---|---:|---:|---:|---:|---|---|\n");
    for m in results {
        for (i, (side, s)) in m.row.sides.iter().zip(&m.samples).enumerate() {
            let row = if i == 0 { m.row.id } else { "" };
            let goal = m.row.goals.iter().find(|g| g.against == i);
            let ratio_cell = match (i, ratio(m, i)) {
                (0, _) => String::new(),
                (_, Some((r, p))) => format!("{r:.2}x; {p:.2}x"),
                (_, None) => "-".into(),
            };
            let goal_cell = match goal.zip(ratio(m, i)) {
                Some((g, (r, _))) => format!("<= {:.2}x {}", g.limit, if r <= g.limit { "met" } else { "MISSED" }),
                None => goal.map(|g| format!("<= {:.2}x", g.limit)).unwrap_or_default(),
            };
            if let Some(e) = &s.error {
                let _ = writeln!(t, "| {row} | {} | FAILED: {} | | | | | | | |", side.label, e.replace('|', "/"));
                continue;
            }
            let (faults, switches, cpu) = s.why();
            let _ = writeln!(
                t,
                "| {row} | {} | {:.2} | {:.2}-{:.2} | {} | {faults} | {switches} | {cpu:.2} | {ratio_cell} | {goal_cell} |",
                side.label,
                s.median(),
                s.min(),
                s.max(),
                s.peak_median_kib()
            );
        }
    }
    t
}

/// cgstat's cost per group, from the 100, 1,000 and 10,000 group rows (those measured): linear
/// means the per-group slope stays about the same from one size to the next.
pub fn linearity(results: &[Measured]) -> Option<String> {
    let sizes: Vec<(f64, &Measured)> = [(100.0, "stats-100"), (1000.0, "stats-1000"), (10000.0, "stats-10000")]
        .into_iter()
        .filter_map(|(n, id)| results.iter().find(|m| m.row.id == id).map(|m| (n, m)))
        .collect();
    if sizes.len() < 2 {
        return None;
    }
    let mut out = String::new();
    let sides = sizes.iter().map(|(_, m)| m.samples.len()).min()?;
    for side in 0..sides {
        let _ = write!(out, "- {}:", sizes[0].1.row.sides[side].label);
        for pair in sizes.windows(2) {
            let ((n0, a), (n1, b)) = (pair[0], pair[1]);
            let (t0, t1) = (a.samples[side].median(), b.samples[side].median());
            let slope_us = (t1 - t0) / (n1 - n0) * 1e3;
            let _ = write!(
                out,
                " {t0:.2} ms at {} groups, {t1:.2} ms at {}: {slope_us:.1} us per added group ({:.1}x the time for {:.0}x the groups);",
                thousands(n0),
                thousands(n1),
                t1 / t0,
                n1 / n0
            );
        }
        out.pop();
        out.push('\n');
    }
    Some(out)
}

fn thousands(n: f64) -> String {
    match n as u64 {
        n if n >= 1000 => format!("{},{:03}", n / 1000, n % 1000),
        n => n.to_string(),
    }
}

/// What each stage of the chain costs, from the `stages` row: differences of medians between
/// neighbouring sides (each adds one stage), with the `exec` row as the floor when measured.
pub fn stage_costs(results: &[Measured]) -> Option<String> {
    let m = results.iter().find(|m| m.row.id == "stages")?;
    let med: Vec<f64> = m.samples.iter().map(|s| s.median()).collect();
    let why: Vec<(u64, u64, f64)> = m.samples.iter().map(|s| s.why()).collect();
    if med.len() < 8 || med.iter().any(|v| v.is_nan()) {
        return None;
    }
    let floor = results.iter().find(|m| m.row.id == "exec").map(|e| e.samples[0].median());
    // Wall time also waits (the kernel's asynchronous namespace teardown, RCU grace periods, the
    // machine's other work against the chain's cpu.shares 512); CPU time per launch is what the
    // stage itself costs.
    let mut out = String::from(
        "| stage | adds, wall (median) | adds, CPU (median) | page faults added |\n|---|---:|---:|---:|\n",
    );
    let floor_why = results.iter().find(|m| m.row.id == "exec").map(|e| e.samples[0].why());
    let mut line = |stage: &str, ms: f64, from: usize, to: usize| {
        let (from_faults, from_cpu) = match (why.get(from), floor_why) {
            (Some(w), _) => (w.0 as i64, w.2),
            (None, Some(f)) => (f.0 as i64, f.2),
            (None, None) => (0, 0.0),
        };
        let (faults, cpu) = (why[to].0 as i64 - from_faults, why[to].2 - from_cpu);
        let _ = writeln!(out, "| {stage} | {ms:+.2} ms | {cpu:+.2} ms | {faults:+} |");
    };
    let (f, base) = match floor {
        Some(f) => (f, "over the exec floor"),
        None => (0.0, "whole"),
    };
    line(
        &format!("namespaces + id map (nsexec start-up, map helper, unshare, fork, /proc), {base}"),
        med[2] - f,
        99,
        2,
    );
    line("mounts (the rootfs, /dev, /proc, pivot_root)", med[3] - med[2], 2, 3);
    line("read-only root and the mount lock (nested user namespace, its map helper)", med[4] - med[3], 3, 4);
    line("capabilities, masked paths, read-only /sys and cgroups", med[5] - med[4], 4, 5);
    line("seccomp (a precompiled filter)", med[6] - med[5], 5, 6);
    line("the cgroup and the exec hop (cgexec-rs start-up, mkdir, limits, join, exec, rmdir)", med[0] - med[6], 6, 0);
    line(&format!("(the cgroup alone, cgexec-rs LIMITS -- /bin/true, {base})"), med[1] - f, 99, 1);
    let _ = writeln!(
        out,
        "\nThe chain {:.2} ms against bwrap {:.2} ms ({:.2}x); nsexec alone with the defaults {:.2} ms ({:.2}x bwrap).",
        med[0],
        med[7],
        med[0] / med[7],
        med[6],
        med[6] / med[7]
    );
    Some(out)
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

pub fn cgroup_mode() -> &'static str {
    let v2_root = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let unified = std::path::Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists();
    match (v2_root, unified) {
        (true, _) => "v2 (unified only)",
        (false, true) => "hybrid (v1 controllers, cgroup2 at /sys/fs/cgroup/unified)",
        _ => "v1",
    }
}

/// Whether an ELF file asks for a dynamic loader (has a PT_INTERP program header).
fn dynamically_linked(file: &std::path::Path) -> Option<bool> {
    let elf = std::fs::read(file).ok()?;
    let at = |o: usize, n: usize| elf.get(o..o + n).map(|b| b.iter().rev().fold(0usize, |a, &x| a << 8 | x as usize));
    let (phoff, phentsize, phnum) = (at(0x20, 8)?, at(0x36, 2)?, at(0x38, 2)?);
    Some((0..phnum).any(|i| at(phoff + i * phentsize, 4) == Some(3)))
}

pub fn machine(load_before: &str, bin: &std::path::Path) -> String {
    let linked = match dynamically_linked(&bin.join("nsexec")) {
        Some(true) => "dynamically linked (glibc, DYNAMIC=1)",
        Some(false) => "static-pie, as `make install` ships it (musl; cgstat glibc: see the Makefile)",
        None => "unknown linkage",
    };
    format!(
        "- date: {}\n- machine: {} CPUs ({}), {} memory\n- kernel: {}\n- cgroup mode: {}\n\
         - load average: {load_before} before, {} after\n- peers: {}\n- isolab: {}, release profile, {linked}\n",
        sh("date -u '+%Y-%m-%d %H:%M UTC'"),
        sh("nproc"),
        sh("sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1"),
        sh("free -h | awk '/^Mem:/ {print $2}'"),
        sh("uname -r"),
        cgroup_mode(),
        load(),
        sh("echo \"util-linux $(unshare --version | awk '{print $NF}'), \
            libcgroup $(dpkg-query -W -f='${Version}' cgroup-tools 2>/dev/null), \
            bubblewrap $(bwrap --version 2>/dev/null | awk '{print $2}'), \
            runc $(runc --version 2>/dev/null | awk 'NR==1 {print $3}')\""),
        bin.display(),
    )
}

pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
