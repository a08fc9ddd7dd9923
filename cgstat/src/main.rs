//! cgstat: usage of cgroups, computed and printed as `docker stats` does; cAdvisor's metrics for
//! Prometheus; events. See cgroups(7).
mod events;
mod formatted;
mod listen;
mod metrics;

use cgstat_args::Mode;
use clap::Parser;

fn main() -> std::process::ExitCode {
    isolab_core::cli::run("cgstat", |argv| {
        let args = cgstat_args::Args::try_parse_from(argv)?;
        let explain = args.explain;
        let mode = args.into_mode()?;
        // A server traces its requests, one line each, not the files of every scrape.
        if explain && !matches!(mode, Mode::Listen { .. }) {
            isolab_core::trace::enable();
        }
        match mode {
            Mode::Stats(spec, None) => isolab_core::stats::run(spec),
            Mode::Stats(spec, Some(template)) => formatted::run(spec, template),
            Mode::Metrics(selection, exposition) => metrics::print(&selection, exposition),
            Mode::Listen { selection, exposition, addr } => listen::run(selection, exposition, addr, explain),
            Mode::Events { selection, json } => events::run(&selection, json),
        }
    })
}
