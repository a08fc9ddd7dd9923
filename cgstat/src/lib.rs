//! cgstat: usage of cgroups, computed and printed as `docker stats` does; cAdvisor's metrics for
//! Prometheus; events. See cgroups(7).

pub mod args;
pub mod events;
#[cfg(test)]
mod fixtures;
pub mod formatted;
pub mod listen;
pub mod metrics;
pub mod render;
pub mod run;
pub mod select;
pub mod template;

use args::Mode;

/// Do what the command line asked: docker stats' table, JSON lines or `--format`; one scrape of
/// metrics; a server of them; or events as they happen.
pub fn run(mode: Mode) -> anyhow::Result<u8> {
    match mode {
        Mode::Stats(spec, None) => run::run(spec),
        Mode::Stats(spec, Some(template)) => formatted::run(spec, template),
        Mode::Metrics(selection, exposition) => metrics::print(&selection, exposition),
        Mode::Listen { selection, exposition, addr, explain } => listen::run(selection, exposition, addr, explain),
        Mode::Events { selection, json } => events::run(&selection, json),
    }
}
