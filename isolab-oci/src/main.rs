//! isolab-oci: an OCI runtime with runc's command line, composed of the isolab tools by exec.
use clap::Parser;

fn main() -> std::process::ExitCode {
    isolab_core::cli::run("isolab-oci", |argv| isolab_oci::run(isolab_oci::args::Args::try_parse_from(argv)?))
}
