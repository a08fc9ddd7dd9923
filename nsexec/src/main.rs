//! nsexec: unshare namespaces, set up the new world, exec COMMAND. See unshare(2), namespaces(7).
fn main() -> std::process::ExitCode {
    isolab_core::cli::run("nsexec", |_argv| Err(anyhow::anyhow!("not built yet")))
}
