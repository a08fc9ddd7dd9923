//! nsexec: unshare namespaces, set up the new world, exec COMMAND. See unshare(2), namespaces(7).

pub mod args;
pub mod confine;
pub mod launch;
