//! nsexec: unshare namespaces, set up the new world, exec COMMAND. See unshare(2), namespaces(7).
use clap::Parser;

fn main() -> std::process::ExitCode {
    isolab_core::cli::run("nsexec", |argv| {
        let spec = nsexec::args::Args::try_parse_from(argv)?.into_spec()?;
        nsexec::launch::run(spec)
    })
}
