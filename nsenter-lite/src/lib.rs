//! nsenter-lite: join the namespaces of a running process and exec COMMAND. See setns(2), nsenter(1).

pub mod args;
pub mod confine;
pub mod creds;
mod enter;
pub mod join;
mod target;
