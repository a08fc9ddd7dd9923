//! isolab-bench (`make bench`): each isolab path against the tool people would use instead,
//! and the bare-syscall floor, interleaved in one run, as ratios. Issue 9.
//!
//! isolab-bench [--quick] [--bin DIR] [--cbin DIR] [--rootfs DIR] [--results FILE] [--only ID,...]
//! Run as root from the workspace root after `make release` (target/ship) and building bench/c/*.c
//! into --cbin (bench/bench.mk does both). Everything made is removed on exit, and on Ctrl-C.

mod fixtures;
mod measure;
mod report;
mod rows;
mod throughput;
mod why;

use std::path::PathBuf;
use std::process::ExitCode;

use fixtures::{Bundle, Groups, Scratch, Target};
use measure::interleave;
use report::Measured;
use rows::{Paths, Row};

/// A row measured on demand (the cgroup rows share the test groups).
type RowFn<'a> = dyn Fn() -> Result<Row, String> + 'a;

struct Options {
    quick: bool,
    paths: Paths,
    results: PathBuf,
    only: Option<Vec<String>>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        quick: false,
        paths: Paths {
            bin: "target/x86_64-unknown-linux-musl/release".into(),
            cbin: "target/bench".into(),
            rootfs: "rootfs".into(),
        },
        results: "bench/RESULTS.md".into(),
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--quick" => o.quick = true,
            "--bin" => o.paths.bin = value()?.into(),
            "--cbin" => o.paths.cbin = value()?.into(),
            "--rootfs" => o.paths.rootfs = value()?.into(),
            "--results" => o.results = value()?.into(),
            "--only" => o.only = Some(value()?.split(',').map(String::from).collect()),
            _ => return Err(format!("unknown argument {a:?} (see bench/src/main.rs)")),
        }
    }
    o.paths.rootfs = std::fs::canonicalize(&o.paths.rootfs)
        .map_err(|e| format!("--rootfs {}: {e} (make rootfs builds one)", o.paths.rootfs.display()))?;
    for dir in [&mut o.paths.bin, &mut o.paths.cbin] {
        *dir = std::fs::canonicalize(&*dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(o)
}

/// Warm-up runs, then runs per side of fast and slow rows: >= 50 always.
fn run_counts(quick: bool) -> (usize, usize, usize) {
    if quick {
        (3, 60, 50)
    } else {
        (5, 400, 150)
    }
}

fn runs(quick: bool, row: &Row) -> (usize, usize) {
    let (warmup, fast, slow) = run_counts(quick);
    // A 10,000-group sample takes about a second: 30 runs a side keep the full run in budget.
    if row.id.ends_with("10000") {
        return (1, 30);
    }
    (warmup, if row.slow { slow } else { fast })
}

fn main() -> ExitCode {
    match run() {
        Ok(all_met) if all_met => ExitCode::SUCCESS,
        Ok(_) => ExitCode::SUCCESS, // missed goals are findings, not failures
        Err(e) => {
            eprintln!("isolab-bench: {e}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<bool, String> {
    let o = options()?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("run as root: the rows make namespaces and cgroups".into());
    }
    measure::catch_interrupts();
    let load_before = report::load();
    let wanted = |id: &str| o.only.as_ref().is_none_or(|only| only.iter().any(|w| w == id));
    let scratch = Scratch::new()?;
    let groups = fixtures::hierarchies().and_then(Groups::new);
    let mut skipped: Vec<String> = Vec::new();
    let mut results = Vec::new();
    let mut measure_row = |row: Row| {
        if !wanted(row.id) || measure::stopped() {
            return;
        }
        let (warmup, n) = runs(o.quick, &row);
        eprintln!("isolab-bench: {} ({} sides x {n} runs, interleaved)", row.id, row.sides.len());
        let samples = interleave(&row.sides, warmup, n);
        results.push(Measured { row, samples });
    };

    measure_row(rows::exec_floor());
    measure_row(rows::ns_all(&o.paths));
    measure_row(rows::ns_pid(&o.paths));
    if wanted("ns-join") {
        match Target::start(&o.paths.bin.join("nsexec"), &scratch.0) {
            Ok(target) => measure_row(rows::ns_join(&o.paths, &target)),
            Err(e) => skipped.push(format!("ns-join: {e}")),
        }
    }
    match &groups {
        Ok(g) => {
            let cg_rows: [(&str, &RowFn); 10] = [
                ("cg-cycle", &|| rows::cg_cycle(&o.paths, g)),
                ("cg-exec", &|| rows::cg_exec(&o.paths, g)),
                ("chain", &|| chain_row(&o.paths, g, &scratch)),
                ("stages", &|| rows::stages(&o.paths, g)),
                ("net-chain", &|| net_chain_row(&o.paths, g, &scratch)),
                ("stats-100", &|| rows::stats(&o.paths, g, 100)),
                ("stats-1000", &|| rows::stats(&o.paths, g, 1000)),
                ("stats-10000", &|| rows::stats(&o.paths, g, 10_000)),
                ("scrape-1000", &|| rows::scrape(&o.paths, g, 1000)),
                ("scrape-10000", &|| rows::scrape(&o.paths, g, 10_000)),
            ];
            for (id, make) in cg_rows {
                if !wanted(id) || measure::stopped() {
                    continue;
                }
                match make() {
                    Ok(row) => measure_row(row),
                    Err(e) => skipped.push(format!("{id}: {e}")),
                }
            }
        }
        Err(e) => skipped.push(format!("cgroup rows: {e}")),
    }
    let mut launches = None;
    if let (Ok(g), true) = (&groups, wanted("throughput") && !measure::stopped()) {
        match throughput::run(&o.paths, g, o.quick) {
            Ok(t) => launches = Some(t),
            Err(e) => skipped.push(format!("throughput: {e}")),
        }
    }
    drop(groups);
    if measure::stopped() {
        return Err("interrupted: everything made was removed, RESULTS.md left as it was".into());
    }
    let verdicts = report::verdicts(&results);
    let table = report::table(&results);
    println!("{table}");
    for v in &verdicts {
        println!("{} {}: {}", if v.met { "met   " } else { "MISSED" }, v.row, v.text);
    }
    let linear = report::linearity(&results);
    if let Some(l) = &linear {
        println!("\ncgstat, linear in groups?\n{l}");
    }
    let stages = report::stage_costs(&results);
    if let Some(s) = &stages {
        println!("\nwhat each stage of the chain costs\n{s}");
    }
    if let Some(t) = &launches {
        println!("\nlaunches per second, chains at once\n{t}");
    }
    for s in &skipped {
        println!("skipped {s}");
    }
    if o.only.is_none() {
        let found = Found { linear: linear.as_deref(), stages: stages.as_deref(), launches: launches.as_deref() };
        write_results(&o, &load_before, &results, &table, &verdicts, &found, &skipped)?;
        println!("\nwrote {}", o.results.display());
    }
    Ok(verdicts.iter().all(|v| v.met))
}

/// The chain row, with runc when a bundle can be made; the row keeps the bundle, whose Drop
/// deletes any container left.
fn chain_row(p: &Paths, g: &Groups, scratch: &Scratch) -> Result<Row, String> {
    let bundle = Bundle::new(&scratch.0, &p.rootfs, &format!("{}/runc", g.name))
        .map_err(|e| eprintln!("isolab-bench: chain: no runc side: {e}"))
        .ok();
    let mut row = rows::chain(p, g, bundle.as_ref())?;
    row.guard = bundle.map(|b| Box::new(b) as Box<dyn std::any::Any>);
    Ok(row)
}

/// The network row, with podman when its image can be made; the row keeps the image, whose
/// Drop removes it.
fn net_chain_row(p: &Paths, g: &Groups, scratch: &Scratch) -> Result<Row, String> {
    let image = fixtures::PodmanImage::new(&p.rootfs)
        .map_err(|e| eprintln!("isolab-bench: net-chain: no podman side: {e}"))
        .ok();
    let net = fixtures::NetDirs::new(&scratch.0)?;
    let mut row = rows::net_chain(p, g, &net, image.as_ref())?;
    row.guard = image.map(|i| Box::new(i) as Box<dyn std::any::Any>);
    Ok(row)
}

/// What the run found besides the table and the goals.
struct Found<'a> {
    linear: Option<&'a str>,
    stages: Option<&'a str>,
    launches: Option<&'a str>,
}

fn write_results(
    o: &Options,
    load_before: &str,
    results: &[Measured],
    table: &str,
    verdicts: &[report::Verdict],
    found: &Found,
    skipped: &[String],
) -> Result<(), String> {
    let mut md = String::from("# isolab benchmarks\n\n");
    md.push_str("`make bench` (issue 9): each isolab path against the tool people would use instead and the\n");
    md.push_str("bare-syscall floor (bench/c/*.c), interleaved run by run, payload `/bin/true`. Wall time of\n");
    md.push_str("the whole process tree from spawn to wait4(2); peak RSS is wait4's ru_maxrss, the largest\n");
    md.push_str("single process of the tree (median of the runs). Ratios are isolab's median over the other\n");
    md.push_str("side's, then the median of the run-by-run ratios. Release build (`[profile.release]`).\n\n");
    md.push_str(&format!("{}\n", report::machine(load_before, &o.paths.bin)));
    let (w, n, slow) = run_counts(o.quick);
    md.push_str(&format!(
        "Runs: {w} warm-up and {n} measured per side; the chain, stages, net-chain and 1,000-group rows {slow}{}.\n\n",
        if o.quick { " (QUICK=1)" } else { "" }
    ));
    md.push_str("## Results\n\n");
    md.push_str(table);
    md.push_str("\n## Goals\n\n");
    for v in verdicts {
        md.push_str(&format!("- {} {}: {}\n", if v.met { "met:" } else { "**missed**:" }, v.row, v.text));
    }
    if let Some(s) = found.stages {
        md.push_str("\n## What each stage of the chain costs\n\n");
        md.push_str("From the `stages` row: each side adds one stage to the one before it.\n\n");
        md.push_str(s);
    }
    if let Some(t) = found.launches {
        md.push_str("\n## Launches per second, chains at once\n\n");
        md.push_str("N workers each launching the chain (or bwrap) one after the other; the chain and bwrap\n");
        md.push_str("take turns, twice per level.\n\n");
        md.push_str(t);
    }
    if let Some(l) = found.linear {
        md.push_str("\ncgstat, linear in the number of groups:\n\n");
        md.push_str(l);
    }
    md.push_str("\n## Why rows miss, and what each row measures\n\n");
    md.push_str(&why::notes(results, verdicts));
    md.push_str("\n## Commands\n\n");
    for m in results {
        for s in &m.row.sides {
            md.push_str(&format!("- {} / {}: `{}`\n", m.row.id, s.label, s.shown()));
        }
    }
    for s in skipped {
        md.push_str(&format!("\nSkipped: {s}\n"));
    }
    std::fs::write(&o.results, md).map_err(|e| format!("{}: {e}", o.results.display()))
}
