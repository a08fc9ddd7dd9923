//! nsenter-lite: join the namespaces of a running process and exec COMMAND. See setns(2), nsenter(1).
use clap::Parser as _;
use nsenter_lite::{args::Args, join};

fn main() -> std::process::ExitCode {
    isolab_core::cli::run("nsenter-lite", Args::try_parse_from, |args| join::run(args.into_spec()?))
}
