//! idmap: write or show the uid/gid maps of a process in a new user namespace.
//! See user_namespaces(7), newuidmap(1).
fn main() -> std::process::ExitCode {
    isolab_core::cli::run("idmap", |argv| {
        let spec = idmap::args::parse(argv)?; // either grammar -> validated spec
        idmap::run::run(spec)
    })
}
