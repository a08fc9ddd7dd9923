//! The shape every tool's `main` shares: message prefix, `--explain`, exit statuses, and the
//! rule that nothing a user can type ends in a panic or a backtrace.
//!
//! Exit statuses (DESIGN.md "Conventions"): the payload's own status; 128+N when it died of
//! signal N; 125 when the tool itself failed; 126 when the command cannot be executed; 127 when
//! it is not found. clap's usage errors are mapped to 125 (clap's own default is 2), as
//! coreutils `env`/`chroot` and `docker run` do.
//!
//! Nothing here may panic on a failed write: with stderr on /dev/full, `eprintln!` panics and the
//! panic hook's own `eprintln!` aborts (134). Lines go out through [`say`], whose failure is
//! ignored, so the exit status still tells what happened.

use std::ffi::OsString;
use std::fmt;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::OnceLock;

/// The tool failed before or while setting up the payload.
pub const EXIT_TOOL: u8 = 125;
/// The command exists but could not be executed.
pub const EXIT_CANNOT_EXEC: u8 = 126;
/// The command was not found.
pub const EXIT_NOT_FOUND: u8 = 127;

static TOOL: OnceLock<&'static str> = OnceLock::new();

/// The running tool's name, the prefix of every message and trace line.
pub fn tool() -> &'static str {
    TOOL.get().copied().unwrap_or("isolab")
}

/// An error that carries its own exit status (126/127 for exec failures). Any other error is 125.
#[derive(Debug)]
pub struct Coded {
    pub code: u8,
    pub message: String,
}

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

/// Build an error that makes the tool exit with `code`.
pub fn coded(code: u8, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Coded { code, message: message.into() })
}

/// Run a tool: `main` gets argv and returns the status to exit with (usually the payload's).
pub fn run<F>(name: &'static str, main: F) -> ExitCode
where
    F: FnOnce(Vec<OsString>) -> anyhow::Result<u8>,
{
    let _ = TOOL.set(name);
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
        say(format_args!("{}: internal error: {}{} (please report this)", tool(), one_line(&what), place));
        std::process::exit(EXIT_TOOL.into());
    }));
    match main(std::env::args_os().collect()) {
        Ok(code) => ExitCode::from(code),
        Err(err) => ExitCode::from(report(&err)),
    }
}

/// Print `err` as the one line the conventions ask for and return the exit status it means.
pub fn report(err: &anyhow::Error) -> u8 {
    if let Some(usage) = err.downcast_ref::<clap::Error>() {
        return report_usage(usage);
    }
    if is_broken_pipe(err) {
        // `tool | head -1`: the reader went away; that is success, not an error (ripgrep).
        return 0;
    }
    say(format_args!("{}: {}", tool(), one_line(&format!("{err:#}"))));
    exit_code_of(err)
}

/// The status an error means: 126/127 when it says so, 125 otherwise.
pub fn exit_code_of(err: &anyhow::Error) -> u8 {
    err.chain().find_map(|e| e.downcast_ref::<Coded>()).map_or(EXIT_TOOL, |c| c.code)
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

/// Collapse a multi-line message into one line.
pub fn one_line(s: &str) -> String {
    s.split('\n').map(str::trim_end).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

/// Print a warning line (a limit the host cannot honour, a fallback taken).
pub fn warn(msg: impl fmt::Display) {
    say(format_args!("{}: warning: {}", tool(), msg));
}

/// One line on stderr, in one write(2). A failure to write it (stderr on /dev/full, or closed)
/// is ignored: there is nowhere left to say it, and the exit status still says what happened.
pub fn say(line: impl fmt::Display) {
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}

/// A tool's report (idmap --show, cgstat's table) to stdout. A reader that went away is a broken
/// pipe, which [`report`] turns into exit 0; any other failure is one plain line.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(e.into()),
        Err(e) => Err(anyhow::anyhow!("cannot write to standard output: {}", crate::process::plain_io(&e))),
        Ok(()) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coded_errors_keep_their_status_through_context() {
        let err = coded(127, "cannot run 'nope'").context("exec");
        assert_eq!(exit_code_of(&err), 127);
        assert_eq!(exit_code_of(&anyhow::anyhow!("plain")), EXIT_TOOL);
    }

    #[test]
    fn one_line_joins_lines() {
        assert_eq!(one_line("a\nb\n\nc\n"), "a; b; c");
    }
}
