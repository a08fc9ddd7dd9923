//! isolab-oci: an OCI runtime with runc's command line, composed of the isolab tools by exec.
use clap::Parser as _;
use isolab_oci::args::Args;

fn main() -> std::process::ExitCode {
    isolab_core::cli::run("isolab-oci", Args::try_parse_from, isolab_oci::run)
}
