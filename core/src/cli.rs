//! The shape every tool's `main` shares: message prefix, `--explain`, exit statuses, and the
//! rule that nothing a user can type ends in a panic or a backtrace. The one module of core that
//! knows it runs a tool's front door: argv, clap's usage errors (mapped to 125, as coreutils
//! `env`/`chroot` and `docker run` do; clap's own default is 2). Statuses and messages are
//! [`crate::exit`]'s, which the mechanisms use too; every line goes out through [`exit::say`],
//! which cannot panic on a full or closed stderr.

use std::ffi::OsString;
use std::process::ExitCode;

use crate::exit::{self, say, tool, EXIT_TOOL};

/// `--explain`, the one switch every tool has: flattened into each tool's clap struct
/// (`#[command(flatten)] explain: Explain`) and acted on once, by [`run`], before the tool's flow.
/// A tool may word its help for what its trace shows: `#[command(mut_arg("explain", ...))]`.
#[derive(clap::Args, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Explain {
    /// Print every step the kernel is asked to take (also ISOLAB_EXPLAIN=1)
    #[arg(long)]
    pub explain: bool,
}

/// Run a tool: `parse` turns argv into the tool's command line, `main` runs the tool's flow and
/// returns the status to exit with (usually the payload's). Between the two, `--explain` turns
/// the trace on for this tool and, through exec, for every tool it runs.
pub fn run<A, E>(
    name: &'static str,
    parse: impl FnOnce(Vec<OsString>) -> Result<A, E>,
    main: impl FnOnce(A) -> anyhow::Result<u8>,
) -> ExitCode
where
    A: AsRef<Explain>,
    anyhow::Error: From<E>,
{
    exit::set_tool(name);
    crate::trace::init_from_env();
    crate::process::inherit_tether();
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        say(format_args!("{}: internal error: {}{} (please report this)", tool(), exit::one_line(&what), place));
        std::process::exit(EXIT_TOOL.into());
    }));
    let result = parse(std::env::args_os().collect()).map_err(anyhow::Error::from).and_then(|args| {
        if args.as_ref().explain {
            crate::trace::enable();
        }
        main(args)
    });
    match result {
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
            say(format_args!("{}: {} (see --help)", tool(), first.trim_start_matches("error: ")));
            EXIT_TOOL
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}
