//! cgexec-rs: run a command in a new cgroup with Docker's limits, then remove the group. See cgroups(7).

pub mod args;
pub mod run;
