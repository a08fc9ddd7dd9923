//! idmap: write or show the uid/gid maps of a process in a new user namespace.
//! See user_namespaces(7), newuidmap(1).

pub mod args;
pub mod run;
