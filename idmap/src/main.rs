//! idmap: not built yet.
fn main() -> std::process::ExitCode {
    isolab_core::cli::run("idmap", |_argv| {
        Err(isolab_core::cli::coded(isolab_core::cli::EXIT_TOOL, "not built yet (see the project's open issues)"))
    })
}
