//! cgstat: usage of cgroups, computed and printed as `docker stats` does. See cgroups(7).
use clap::Parser;

fn main() -> std::process::ExitCode {
    isolab_core::cli::run("cgstat", |argv| {
        let args = cgstat::args::Args::try_parse_from(argv)?;
        if args.explain {
            isolab_core::trace::enable();
        }
        cgstat::run::run(args.into_spec()?)
    })
}
