//! cgexec-rs: run a command in a new cgroup with Docker's limits, then remove the group.
//! See cgroups(7).
use cgexec_rs::{args::Args, run};
use clap::Parser as _;

fn main() -> std::process::ExitCode {
    isolab_core::cli::run("cgexec-rs", Args::try_parse_from, |args| run::run(args.into_spec()?))
}
