//! isolab-core: every kernel-visible action of the isolab tools, once.
//!
//! The binaries (nsexec, nsenter-lite, cgexec-rs, idmap, cgstat) only parse flags into the
//! typed specs defined here and call one entry point; everything that touches a syscall,
//! /proc or /sys lives in this crate, one module per mechanism.

pub mod cgroup;
pub mod cli;
pub mod creds;
pub mod idmap;
pub mod join;
pub mod launch;
pub mod mount;
pub mod ns;
pub mod process;
pub mod stats;
pub mod trace;
pub mod units;
pub mod watch;
