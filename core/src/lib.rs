//! isolab-core: the lower floor. The kernel mechanisms any isolab tool may need, each once.
//!
//! A tool crate (nsexec, nsenter-lite, cgexec-rs, idmap, cgstat) owns its flow: a thin `main.rs`
//! over [`cli::run`], `args.rs` (clap's struct, then a checked spec, without side effects), and
//! the modules that do, in order, what the tool is for, with its supervision and its report.
//! This crate holds the mechanisms and knows no tool. Every syscall the tools make is made here,
//! as a [`trace::Step`], so `--explain` shows it and a refusal is worded from it. No module here
//! imports a tool crate, and no mechanism imports [`cli`], the one module that stands at a
//! tool's front door (tests/tests/floors.rs reads the `use` lines to keep it so).
//!
//! - [`ns`]: the namespace kinds, unshare, setns, host and domain names, loopback up
//! - [`procfs`]: a process pinned by pidfd and start time; /proc/PID/stat
//! - [`process`]: fork, exec, wait, signal forwarding, exit status, the tether to a child
//! - [`mount`]: propagation, a new root, binds, tmpfs, /proc, a minimal /dev, persisted namespaces
//! - [`creds`]: groups, gid, uid, capabilities, no_new_privs
//! - [`idmap`]: id maps: their syntax, the kernel's rules, /etc/subuid, the writes
//! - [`cgroup`]: detection, placement, Docker's limits, a plan per version, a group's life
//! - [`stats`]: sampling groups, Docker's formulas and way of printing numbers
//! - [`units`]: Docker's value syntax (sizes, rates, CPU lists, devices)
//! - [`trace`]: the steps, their `--explain` trace and the errors worded from them
//! - [`exit`]: exit statuses and the one-line report of a failure
//! - [`cli`]: the shape every tool's `main` shares

pub mod cgroup;
pub mod cli;
pub mod creds;
pub mod exit;
pub mod idmap;
pub mod mount;
pub mod ns;
pub mod process;
pub mod procfs;
pub mod stats;
pub mod trace;
pub mod units;

/// For unit tests: a new directory `/tmp/isolab-core-TAG-XXXXXX`, made by mkdtemp(3). Root runs
/// the tests in a /tmp every user may write: a predictable name is anyone's to plant first (a
/// directory of their own holding a symlink, which root then writes through).
#[cfg(test)]
pub(crate) fn test_dir(tag: &str) -> std::path::PathBuf {
    nix::unistd::mkdtemp(&std::env::temp_dir().join(format!("isolab-core-{tag}-XXXXXX"))).expect("mkdtemp")
}
