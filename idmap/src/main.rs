//! idmap: write or show the uid/gid maps of a process in a new user namespace.
//! See user_namespaces(7), newuidmap(1).
fn main() -> std::process::ExitCode {
    // either grammar -> validated spec -> write or show
    isolab_core::cli::run("idmap", idmap::args::parse, |line| idmap::run::run(line.into_spec()?))
}
