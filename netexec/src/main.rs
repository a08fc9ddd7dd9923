//! netexec: attach a new network namespace to a network through CNI plugins, run COMMAND in
//! it, detach it when COMMAND ends. See network_namespaces(7) and the CNI specification.
use clap::Parser as _;
use netexec::{args::Args, attach};

fn main() -> std::process::ExitCode {
    // raw flags -> validated spec -> this tool's flow, in order
    isolab_core::cli::run("netexec", Args::try_parse_from, |args| attach::run(args.into_spec()?))
}
