//! cgexec-rs: run a command in a new cgroup with Docker's limits, then remove the group.
//! See cgroups(7); the work is in `isolab_core::cgroup`.
use clap::Parser as _;

fn main() -> std::process::ExitCode {
    isolab_core::cli::run("cgexec-rs", |argv| {
        let spec = cgexec_rs::args::Args::try_parse_from(argv)?.into_spec()?;
        cgexec_rs::run::run(spec)
    })
}
