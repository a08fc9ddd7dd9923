//! isolab-core: the lower floor. The kernel mechanisms any isolab tool may need, each once.
//!
//! A tool crate (nsexec, nsenter-lite, cgexec-rs, netexec, idmap, cgstat, isolab-oci) owns its flow: a thin `main.rs`
//! over [`cli::run`], `args.rs` (clap's struct, then a checked spec, without side effects), and
//! the modules that do, in order, what the tool is for, with its supervision and its report.
//! This crate holds the mechanisms and knows no tool. Every syscall the tools make is made here,
//! as a [`trace::Step`], so `--explain` shows it and a refusal is worded from it. No module here
//! imports a tool crate, and no mechanism imports [`cli`], the one module that stands at a
//! tool's front door (tests/tests/floors.rs reads the `use` lines to keep it so).
//!
//! - [`ns`]: the namespace kinds, unshare, setns, host and domain names, loopback up
//! - [`netns`]: network namespaces kept on a file (/run/netns/NAME), joined by that file
//! - [`procfs`]: a process pinned by pidfd and start time; /proc/PID/stat, status, children
//! - [`process`]: fork, exec, wait, kill, signal forwarding, exit status, the tether to a child,
//!   descriptors handed over a socket; a runtime's hand-off between stages (a "ready" with the
//!   PID, runc's exec fifo, a sealed copy of itself, a child's descriptors, rlimits, subreaper)
//! - [`helper`]: a program run beside the command for as long as it runs (pasta), tethered
//! - [`port`]: a host port held by a bound socket while it is published
//! - [`pty`]: a terminal of the command's own: a new pty, its controlling terminal, the relay,
//!   an engine's console socket
//! - [`mount`]: propagation, a new root, binds, tmpfs, /proc, a minimal /dev, persisted namespaces,
//!   masked and read-only paths, a read-only sysfs, mount flags locked
//! - [`creds`]: groups, gid, uid, capabilities, no_new_privs
//! - [`capabilities`]: the five capability sets, Docker's default 14, --cap-* and /proc/PID/status
//! - [`seccomp`]: Docker's seccomp profile, its own BPF compiler, the default filter precompiled
//! - [`idmap`]: id maps: their syntax, the kernel's rules, /etc/subuid, the writes, the setuid
//!   helper an unprivileged caller's ranges are written by
//! - [`cgroup`]: detection, placement (a user's beneath its delegated v2 subtree), Docker's
//!   limits, a plan per version, a group's life, the device allowlist (v1 file, v2 program)
//! - [`stats`]: sampling groups, Docker's formulas and way of printing numbers; what a scrape reads
//! - [`units`]: Docker's value syntax (sizes, rates, CPU lists, devices)
//! - [`watch`]: waiting for cgroup events (inotify, v1 OOM eventfd, /dev/kmsg, signalfd)
//! - [`trace`]: the steps, their `--explain` trace and the errors worded from them
//! - [`exit`]: exit statuses and the one-line report of a failure
//! - [`cli`]: the shape every tool's `main` shares

pub mod capabilities;
pub mod cgroup;
pub mod cli;
pub mod creds;
pub mod exit;
pub mod helper;
pub mod idmap;
pub mod mount;
pub mod netns;
pub mod ns;
pub mod port;
pub mod process;
pub mod procfs;
pub mod pty;
pub mod seccomp;
pub mod stats;
pub mod trace;
pub mod units;
pub mod watch;

/// For unit tests: a new directory `/tmp/isolab-core-TAG-XXXXXX`, made by mkdtemp(3). Root runs
/// the tests in a /tmp every user may write: a predictable name is anyone's to plant first (a
/// directory of their own holding a symlink, which root then writes through).
#[cfg(test)]
pub(crate) fn test_dir(tag: &str) -> std::path::PathBuf {
    nix::unistd::mkdtemp(&std::env::temp_dir().join(format!("isolab-core-{tag}-XXXXXX"))).expect("mkdtemp")
}
