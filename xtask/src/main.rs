//! xtask: man pages and completions from the tools' clap definitions.
fn main() {}
