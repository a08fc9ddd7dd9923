//! The shape every tool's `main` shares: message prefix, `--explain`, exit statuses, and the
//! rule that nothing a user can type ends in a panic or a backtrace. The one module of core that
//! knows it runs a tool's front door: argv, clap's usage errors (mapped to 125, as coreutils
//! `env`/`chroot` and `docker run` do; clap's own default is 2). Statuses and messages are
//! [`crate::exit`]'s, which the mechanisms use too.

use std::ffi::OsString;
use std::process::ExitCode;

use crate::exit::{self, tool, EXIT_TOOL};

/// Run a tool: `main` gets argv and returns the status to exit with (usually the payload's).
pub fn run<F>(name: &'static str, main: F) -> ExitCode
where
    F: FnOnce(Vec<OsString>) -> anyhow::Result<u8>,
{
    exit::set_tool(name);
    crate::trace::init_from_env();
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("{}: internal error: {}{} (please report this)", tool(), exit::one_line(&what), place);
        std::process::exit(EXIT_TOOL.into());
    }));
    match main(std::env::args_os().collect()) {
        Ok(code) => ExitCode::from(code),
        Err(err) => ExitCode::from(report(&err)),
    }
}

/// Print `err` as the one line the conventions ask for and return the exit status it means.
fn report(err: &anyhow::Error) -> u8 {
    if let Some(usage) = err.downcast_ref::<clap::Error>() {
        return report_usage(usage);
    }
    if is_broken_pipe(err) {
        // `tool | head -1`: the reader went away; that is success, not an error (ripgrep).
        return 0;
    }
    exit::report(err)
}

fn report_usage(usage: &clap::Error) -> u8 {
    use clap::error::ErrorKind::*;
    match usage.kind() {
        DisplayHelp | DisplayVersion => {
            let _ = usage.print();
            0
        }
        _ => {
            // clap's first paragraph, on one line: "the following required arguments were
            // not provided: <COMMAND>..."; the usage block after it is left to --help.
            let rendered = usage.render().to_string();
            let first: Vec<&str> =
                rendered.lines().map(str::trim).skip_while(|l| l.is_empty()).take_while(|l| !l.is_empty()).collect();
            let first = first.join(" ");
            eprintln!("{}: {} (see --help)", tool(), first.trim_start_matches("error: "));
            EXIT_TOOL
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}
