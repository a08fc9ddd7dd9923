//! Exit statuses, the errors that carry them, and the one line a failure prints.
//!
//! Exit statuses (DESIGN.md "Conventions"): the payload's own status; 128+N when it died of
//! signal N; 125 when the tool itself failed; 126 when the command cannot be executed; 127 when
//! it is not found. Every message is one line on stderr, `tool: what failed: why`, prefixed with
//! the running tool's name, which [`crate::cli::run`] sets once at start.
//!
//! Mechanisms use this module (a forked child reports its own failure and exits with the status
//! it means); [`crate::cli`] adds what only a tool's front door knows (argv, clap's usage errors).
//!
//! Nothing here may panic on a failed write: with stderr on /dev/full, `eprintln!` panics and the
//! panic hook's own `eprintln!` aborts (134). Lines go out through [`say`], whose failure is
//! ignored, so the exit status still tells what happened.

use std::fmt;
use std::io::Write as _;
use std::sync::OnceLock;

/// The tool failed before or while setting up the payload.
pub const EXIT_TOOL: u8 = 125;
/// The command exists but could not be executed.
pub const EXIT_CANNOT_EXEC: u8 = 126;
/// The command was not found.
pub const EXIT_NOT_FOUND: u8 = 127;

static TOOL: OnceLock<&'static str> = OnceLock::new();

/// Name the running tool, the prefix of every message and trace line (once, at start).
pub fn set_tool(name: &'static str) {
    let _ = TOOL.set(name);
}

/// The running tool's name.
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

/// The status an error means: 126/127 when it says so, 125 otherwise.
pub fn code_of(err: &anyhow::Error) -> u8 {
    err.chain().find_map(|e| e.downcast_ref::<Coded>()).map_or(EXIT_TOOL, |c| c.code)
}

/// Print `err` as the one line the conventions ask for and return the exit status it means.
pub fn report(err: &anyhow::Error) -> u8 {
    say(format_args!("{}: {}", tool(), one_line(&format!("{err:#}"))));
    code_of(err)
}

/// In a forked child that must not return into its parent's code paths: report and exit.
pub fn report_and_exit(err: &anyhow::Error) -> ! {
    std::process::exit(report(err).into())
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
/// pipe, which [`crate::cli::run`] turns into exit 0; any other failure is one plain line.
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
        assert_eq!(code_of(&err), 127);
        assert_eq!(code_of(&anyhow::anyhow!("plain")), EXIT_TOOL);
    }

    #[test]
    fn one_line_joins_lines() {
        assert_eq!(one_line("a\nb\n\nc\n"), "a; b; c");
    }
}
