//! nsenter-lite: join the namespaces of a running process and exec COMMAND. See setns(2), nsenter(1).
use nsenter_lite::{args, join};

fn main() -> std::process::ExitCode {
    isolab_core::cli::run("nsenter-lite", |argv| {
        let spec = args::Args::try_parse_from(argv)?.into_spec()?;
        join::run(spec)
    })
}
