//! netexec: attach a new network namespace to a network through CNI plugins, run COMMAND in
//! it, detach it when COMMAND ends. See network_namespaces(7) and the CNI specification.
mod attach;
mod cache;
mod cni;
mod conf;
mod manage;
mod publish;
mod rootless;

use clap::Parser as _;
use netexec_args as args;

fn main() -> std::process::ExitCode {
    isolab_core::cli::run("netexec", |argv| {
        let spec = args::Args::try_parse_from(argv)?.into_spec()?;
        if spec.explain {
            isolab_core::trace::enable();
        }
        attach::run(spec)
    })
}
