//! Usage of groups as `docker stats` computes it: each group's files read once per sample,
//! Docker's formulas, and Docker's way of printing numbers. See cgroups(7), proc(5); peers.md
//! §2.8 for Docker's sources.
//!
//! Rules that bite:
//! - CPU % needs two readings of the group's cumulative CPU time and of the host's /proc/stat,
//!   an interval apart. While streaming, each sample's reading is the next one's "before", so
//!   every file is read once per sample (/proc/stat twice).
//! - The two counters must be read at the same moment, or the time between them counts on one
//!   side only: a slow machine (the test VM read 419 % of two CPUs when the groups' counters came
//!   after /proc/stat and other groups' files) or a descheduled reader skews the percentage. So
//!   a [`cpu::CpuSnapshot`] reads /proc/stat, every group's CPU counter, /proc/stat again, and
//!   only then come the slower files; the host's time is the midpoint of its two reads.
//! - MEM USAGE is usage less inactive file pages; LIMIT is capped at the host's MemTotal (so an
//!   unlimited group shows the host's memory, as Docker does).
//! - NET I/O belongs to a network namespace, not a cgroup: it is read through a member
//!   process's /proc/PID/net/dev, and is `--` when that namespace is the reader's own.
//! - Every file is read at most once per sample and nothing is exec'd: one sample of 1,000
//!   groups stays well under a second.
//!
//! [`detail`] reads, for one scrape of metrics, the more a group has to say (CFS settings and
//! throttling, memory.stat's rss and cache, failcnt and OOM kills, bytes per device and per
//! interface), with the same parsers and the same rule of one read per file.

pub mod cpu;
pub mod detail;
pub mod format;
pub mod listing;
pub mod net;
pub mod reader;
pub mod sample;
