//! Launches per second with 1, 2, 4, 8 and 16 chains at once, against bwrap (issue 21): the
//! curve's shape says whether anything serialises (a global lock file, a whole-hierarchy scan).
//! runc is left out: its bundle names one cgroup path, so its containers cannot run at once.

use std::fmt::Write as _;
use std::time::Instant;

use crate::fixtures::Groups;
use crate::measure::{self, Side};
use crate::rows::{self, Paths};

const LEVELS: [usize; 5] = [1, 2, 4, 8, 16];

/// The table: each level runs the chain and bwrap in turn, twice, `per` launches per worker.
pub fn run(p: &Paths, g: &Groups, quick: bool) -> Result<String, String> {
    let (ours, bwrap) = rows::chain_commands(p, g, "throughput")?;
    let per = if quick { 8 } else { 25 };
    let mut rates: Vec<[f64; 2]> = Vec::new();
    for workers in LEVELS {
        eprintln!("isolab-bench: throughput, {workers} at once ({per} launches each, chain and bwrap twice)");
        let mut rate = [0.0; 2];
        for _ in 0..2 {
            for (i, argv) in [&ours, &bwrap].into_iter().enumerate() {
                rate[i] += launches_per_second(argv, workers, per)? / 2.0;
            }
        }
        rates.push(rate);
    }
    let mut out =
        String::from("| at once | chain launches/s | bwrap launches/s | chain / bwrap |\n|---:|---:|---:|---:|\n");
    for (workers, [c, b]) in LEVELS.iter().zip(&rates) {
        let _ = writeln!(out, "| {workers} | {c:.0} | {b:.0} | {:.2}x |", c / b);
    }
    let shape = |i: usize| rates[4][i] / rates[1][i];
    let _ = writeln!(
        out,
        "\nFrom 2 at once (this machine's CPUs) to 16: the chain keeps {:.0}% of its rate, bwrap {:.0}%.",
        shape(0) * 100.0,
        shape(1) * 100.0
    );
    Ok(out)
}

fn launches_per_second(argv: &[String], workers: usize, per: usize) -> Result<f64, String> {
    let start = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let side = Side::seq("", vec![argv.to_vec()]);
                    for _ in 0..per {
                        if measure::stopped() {
                            return Err("interrupted".to_string());
                        }
                        side.run_once()?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| h.join().map_err(|_| "a worker panicked".to_string())?)
    })?;
    Ok((workers * per) as f64 / start.elapsed().as_secs_f64())
}
