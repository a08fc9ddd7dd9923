//! netexec: attach a new network namespace to a network through CNI plugins, run COMMAND in
//! it, detach it when COMMAND ends. See network_namespaces(7) and the CNI specification.

pub mod args;
pub mod attach;
pub mod cache;
pub mod cni;
pub mod conf;
pub mod manage;
pub mod publish;
pub mod rootless;
