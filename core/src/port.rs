//! Holding a host port: a socket bound to it (never listening) for as long as something is
//! published there, so no other process can take the port meanwhile, and a port already in use
//! is refused before any forwarding rule is made (podman kept its published ports the same way).
//! See bind(2), socket(7).
//!
//! Rules that bite:
//! - No SO_REUSEADDR: with it, a second socket could bind the same port as long as neither
//!   listens. Without it, any later bind(2) of that port fails with EADDRINUSE.
//! - Never listen: connections to the port are meant for the forwarding rule (DNAT happens
//!   before the socket lookup); a listening socket would queue what the rule misses.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use nix::sys::socket::{bind, socket, AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6};

use crate::trace::{self, Step};

/// Bind a socket of `proto` ("tcp" or "udp") to `addr`, traced; the descriptor holds the port.
pub fn hold(proto: &'static str, addr: SocketAddr) -> anyhow::Result<OwnedFd> {
    let kind = if proto == "udp" { SockType::Datagram } else { SockType::Stream };
    trace::run(Step::Bind { proto, addr }, || {
        let family = if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
        let fd = socket(family, kind, SockFlag::SOCK_CLOEXEC, None)?;
        match addr {
            SocketAddr::V4(a) => bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(a))?,
            SocketAddr::V6(a) => bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn6::from(a))?,
        }
        Ok(fd)
    })
}
