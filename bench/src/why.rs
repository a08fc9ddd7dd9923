//! What each row measures beyond its peer, and why a row misses its goal: found by profiling
//! (strace -f -tt, perf stat, callgrind) and written here so RESULTS.md says it on every run.

use std::fmt::Write as _;

use crate::report::{Measured, Verdict};

/// (row, what differs from the peer and where the time goes), from the profiling of issue 9.
const NOTES: [(&str, &str); 8] = [
    ("exec", "The floor every row pays once: fork + exec + wait of a dynamically linked C program."),
    (
        "ns-all",
        "nsexec also brings `lo` up in the new network namespace (util-linux does not). Since \
         issue 9 it writes a --map-root map from inside, as `unshare -r` does, instead of forking a \
         helper. What is left is start-up: a dynamically linked 1.1 MB Rust PIE costs ~40 more page \
         faults than util-linux (ld.so relocations, libgcc_s, std's runtime init reading \
         /proc/self/maps), each expensive in this VM; `perf stat` CPU time 2.53 ms against 2.41 ms. \
         Linked statically (STATIC=1) it is 1.57 ms and the peak RSS drops under 2 MB.",
    ),
    (
        "ns-pid",
        "Same path as util-linux (unshare, fork, make / private, mount /proc, exec); the difference \
         is the start-up cost of the dynamically linked binary (CPU 1.74 ms against 1.50 ms; 1.39 ms \
         statically linked).",
    ),
    (
        "ns-join",
        "nsenter-lite pins the target with a pidfd (and reads /proc/PID/stat for its start time, \
         against PID reuse), compares each namespace with its own (3 statx per kind), and joins all \
         in one setns(pidfd); nsenter opens /proc/PID/ns/* and calls setns per kind. The gap is \
         start-up again: CPU 1.87 ms against 1.68 ms, 1.53 ms statically linked.",
    ),
    (
        "cg-cycle",
        "All three make the group in the same 6 v1 hierarchies (cgexec-rs also joins freezer, to \
         kill without races, and blkio, for cgstat) and write the same 4 limits. cgexec-rs also reads \
         mountinfo and /proc/self/cgroup, checks the CPUs and memory nodes (Docker's checks), probes \
         optional files, and after the run reads the group's OOM and process files before rmdir. \
         libcgroup needs 6 processes (one cgdelete per path, as 2.0.2 removes only one of several \
         groups sharing a path).",
    ),
    (
        "cg-exec",
        "Not the same work: cgexec-rs has no way to join an existing group, so `--exec` makes a new \
         one (6 mkdirs) and execs in place (the bench removes the group, untimed); `cgexec -g` and \
         the floor only join. cgexec-rs does more work here than its peer; a join-only mode would be \
         the fair comparison.",
    ),
    (
        "chain",
        "cgexec-rs makes the group with limits in 6 hierarchies and execs nsexec, which forks the \
         map helper (a 65,536-id range needs one), unshares 8 namespaces, pivots into the busybox \
         rootfs read-only with a fresh /proc and a minimal /dev, and forks the payload as PID 1. \
         bwrap makes no cgroup at all: two Rust start-ups and the cgroup work are the gap. runc \
         does the same work as the chain.",
    ),
    (
        "stats",
        "cgstat reads the same files as the C reader, but through std's read_to_string, which \
         statx()es each file for a size hint and then reads sysfs in growing chunks from 32 bytes \
         (strace at 100 groups: 807 statx and 2,044 reads against 0 and 1,505). Reading each file \
         with one 8 KiB read (core/src/stats/sample.rs read_file) would take both away.",
    ),
];

/// The peak RSS goal, whatever the row.
const RSS_NOTE: &str = "Peak RSS (every row): a dynamically linked tool has about 860 KiB of its own \
    1.1 MB binary resident (the kernel maps 64 KiB around each page fault, and the code touched at \
    start-up is spread over the text) besides glibc's 1.3 MB, so it peaks at 2.4-2.9 MB; util-linux's \
    binaries are 80 KiB. Linked statically (STATIC=1) each tool peaks at 1.7-1.9 MB, except cgstat \
    over 1,000 groups, which holds every group's paths and readings (3.9 MB).";

pub fn notes(results: &[Measured], verdicts: &[Verdict]) -> String {
    let mut out = String::new();
    for m in results {
        let missed = verdicts.iter().any(|v| v.row == m.row.id && !v.met);
        let _ = write!(out, "- **{}**{}: {}.", m.row.id, if missed { " (misses a goal)" } else { "" }, m.row.title);
        let id = if m.row.id.starts_with("stats") { "stats" } else { m.row.id };
        for (_, text) in NOTES.iter().filter(|(note, _)| *note == id) {
            let _ = write!(out, " {text}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "- {RSS_NOTE}");
    out
}
