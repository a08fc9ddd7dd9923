//! What each row measures beyond its peer, and why a row misses its goal: found by profiling
//! (strace -f -tt, perf stat, callgrind) and written here so RESULTS.md says it on every run.

use std::fmt::Write as _;

use crate::report::{Measured, Verdict};

/// (row, what differs from the peer and where the time goes), from the profiling of issues 9
/// and 21.
const NOTES: [(&str, &str); 10] = [
    ("exec", "The floor every row pays once: fork + exec + wait of a dynamically linked C program."),
    (
        "ns-all",
        "nsexec also brings `lo` up in the new network namespace (util-linux does not) and writes \
         the --map-root map from inside, as `unshare -r` does. Since issue 21 the installed nsexec \
         is static-pie linked with musl: no ld.so relocations, and no glibc start-up cache-size \
         probe (dozens of CPUID instructions, each an exit to the hypervisor in this VM; `perf \
         record` put it at half of a glibc static-pie nsexec's own user time), which util-linux, \
         dynamically linked to glibc, pays at every launch.",
    ),
    (
        "ns-pid",
        "Same path as util-linux (unshare, fork, make / private, mount /proc, exec); the \
         difference is start-up, as in ns-all.",
    ),
    (
        "ns-join",
        "nsenter-lite pins the target with a pidfd (and reads /proc/PID/stat for its start time, \
         against PID reuse), compares each namespace with its own (3 statx per kind), and joins all \
         in one setns(pidfd); nsenter opens /proc/PID/ns/* and calls setns per kind. The C floor \
         does the pidfd join alone.",
    ),
    (
        "cg-cycle",
        "cgexec-rs makes its group in 6 v1 hierarchies (cpu, cpuacct, memory, pids, freezer, to kill \
         without races, and devices, for the default device rules: 13 more writes) and libcgroup in \
         the bench's 6 (blkio instead of devices), with the same 4 limits. The kernel's share, \
         timed per call on this host (back to back, per launch): the 6 mkdirs 0.34 ms (memory's \
         0.11), the 6 rmdirs 0.20 ms (memory's 0.09), the 6 joins 0.5 ms, the 4 limits 0.08 ms, the \
         13 device rules 0.12 ms. cgexec-rs also reads mountinfo and /proc/self/cgroup, checks the \
         CPUs and memory nodes (Docker's checks), writes the 12 allow rules \
         through one open of devices.allow, and after the run reads the OOM count and removes the \
         group straight away (only an rmdir refused with EBUSY sends the group to the kill). Its \
         child joins by writing 0 to each v1 `tasks` file, as the C floor does. libcgroup needs 6 \
         processes (one cgdelete per path, as 2.0.2 removes only one of several groups sharing a \
         path).",
    ),
    (
        "cg-exec",
        "Not the same work: cgexec-rs has no way to join an existing group, so `--exec` makes a new \
         one (6 mkdirs, the device rules) and execs in place (the bench removes the group, untimed); \
         `cgexec -g` and the floor only join (cgexec -g through cgroup.procs, the floor through \
         `tasks`).",
    ),
    (
        "chain",
        "cgexec-rs makes the group with limits and device rules and forks a child that joins it and \
         execs nsexec, which forks the map helper (a 65,536-id range needs one), unshares 8 \
         namespaces, pivots into the busybox rootfs read-only with a fresh /proc and a minimal /dev, \
         forks the payload as PID 1, locks the mounts in a nested user namespace (one more map \
         helper) and applies the default confinement (capabilities, masked paths, seccomp). bwrap \
         makes no cgroup, no nested user namespace and no seccomp filter. The `stages` row takes the \
         chain apart. runc does the same work as the chain. Why the chain misses on this hybrid v1 \
         host: the cgroup is about 1.3 ms of kernel time per launch (the cg-cycle note) plus \
         cgexec-rs's own exec, start-up and fork (about 0.4 ms), while nsexec alone is only about \
         0.3 ms under bwrap. Until issue 21 the child joined through `cgroup.procs`, whose write \
         takes the kernel's global cgroup_threadgroup_rwsem: the first writer after a quiet spell \
         waits for an RCU grace period (rcu_sync), 3-5 ms of wall time and no CPU, once per launch \
         when launches are not back to back (the stages row then showed 13.58 ms wall for 6.23 ms \
         CPU). Writing 0 to v1 `tasks` moves the child's one thread without that lock. Next steps: \
         on v2, clone3(CLONE_INTO_CGROUP) (one mkdir, no join write, the child born in the group); \
         on v1, fewer hierarchies (freezer only when the command may leave processes behind, \
         devices only when nsexec does not confine the devices itself) would need new flags.",
    ),
    (
        "stages",
        "Each side adds one stage to the side below it (the table under \"What each stage of the \
         chain costs\" is the difference of neighbouring medians); bwrap for scale. Wall time \
         beyond CPU time is waiting: for the kernel's asynchronous teardown of the namespaces the \
         sides before made, for RCU grace periods (pivot_root's detached old root; bwrap waits the \
         same), and for the CPU under the chain's own cpu.shares of 512.",
    ),
    (
        "stats",
        "cgstat reads the same files as the C reader, but opens each relative to a descriptor of \
         its hierarchy's parent directory (`openat(parent, \"g1/memory.stat\")`: two components \
         walked, where the C reader's absolute path walks every component of \
         /sys/fs/cgroup/memory/... per file, 42% of cgstat's time before issue 21) and reads a \
         cgroup file in one read(2) into a reused buffer, where the C reader reads to EOF (a \
         second read per file; cgroup.procs is read to EOF by both). It samples and prints group \
         by group: per group it holds a name and one CPU time between the two readings, and the \
         table's cells (Docker's column widths need every row). It is the one tool linked with \
         glibc: linked with musl it was 1.16x the C reader at 1,000 groups (glibc 0.94x in the \
         same week), 1,361 page faults against 153, musl's malloc giving memory back and taking \
         it again; musl would peak at 2.4 MB at 10,000 groups against glibc's 4.1 MB.",
    ),
    (
        "scrape",
        "A scrape reads 10 files per group where --no-stream reads 8 (the cpu hierarchy's \
         cpu.shares and cpu.cfs_quota_us for cAdvisor's spec metrics; the CPU counter once, not \
         twice), each in one read relative to the parent's descriptor, and keeps every group's \
         numbers, as both formats write family after family.",
    ),
];

/// The peak RSS goal, whatever the row.
const RSS_NOTE: &str = "Peak RSS (every row): the tools are static-pie since issue 21 (no ld.so, no \
    shared glibc mapped), 1.1-1.5 MB for the musl launchers, about 2 MB for cgstat (glibc) over a \
    few groups; over many groups cgstat holds a name, a CPU time and the table's cells per group \
    (a scrape: every group's numbers). A dynamically linked tool (DYNAMIC=1) peaks at 2.4-2.9 MB: \
    glibc's 1.3 MB besides its own text.";

pub fn notes(results: &[Measured], verdicts: &[Verdict]) -> String {
    let mut out = String::new();
    for m in results {
        let missed = verdicts.iter().any(|v| v.row == m.row.id && !v.met);
        let _ = write!(out, "- **{}**{}: {}.", m.row.id, if missed { " (misses a goal)" } else { "" }, m.row.title);
        let id = m.row.id.split('-').next().filter(|p| ["stats", "scrape"].contains(p)).unwrap_or(m.row.id);
        for (_, text) in NOTES.iter().filter(|(note, _)| *note == id) {
            let _ = write!(out, " {text}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "- {RSS_NOTE}");
    out
}
