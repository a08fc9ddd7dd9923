//! cgstat: usage of cgroups, computed and printed as `docker stats` does; cAdvisor's metrics for
//! Prometheus; events. See cgroups(7).
use cgstat::args::Args;
use clap::Parser;

fn main() -> std::process::ExitCode {
    // raw flags -> what to do (stats, metrics, a server, events) -> that flow
    isolab_core::cli::run("cgstat", Args::try_parse_from, |args| cgstat::run(args.into_mode()?))
}
