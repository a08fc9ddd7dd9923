//! nsexec's command line.
pub fn command() -> clap::Command {
    clap::Command::new("nsexec")
}
