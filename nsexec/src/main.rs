//! nsexec: unshare namespaces, set up the new world, exec COMMAND. See unshare(2), namespaces(7).
use clap::Parser;
use nsexec::{args::Args, launch};

fn main() -> std::process::ExitCode {
    // raw flags -> validated spec -> this tool's flow, in order
    isolab_core::cli::run("nsexec", Args::try_parse_from, |args| launch::run(args.into_spec()?))
}
