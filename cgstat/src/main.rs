//! cgstat: usage of cgroups, computed and printed as `docker stats` does. See cgroups(7).
use cgstat::{args::Args, run};
use clap::Parser;

fn main() -> std::process::ExitCode {
    isolab_core::cli::run("cgstat", Args::try_parse_from, |args| run::run(args.into_spec()?))
}
