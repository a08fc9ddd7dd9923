//! cgstat's command line. (Not built yet: see the project's open issues.)

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    clap::Command::new("cgstat").about("not built yet")
}
