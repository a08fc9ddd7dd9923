//! `-p`: published ports, as the portmap plugin's `portMappings` capability, and held on the
//! host while published (a port in use is refused before any plugin runs).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::OwnedFd;

use anyhow::Context as _;
use serde_json::{json, Value};

use crate::args::PortMapping;

/// The runtimeConfig value for plugins with `"capabilities": {"portMappings": true}`.
pub fn port_mappings(maps: &[PortMapping]) -> Value {
    maps.iter()
        .map(|m| {
            json!({
                "hostPort": m.host_port,
                "containerPort": m.container_port,
                "protocol": m.proto.as_str(),
                "hostIP": m.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

/// The host ports, bound for as long as this value lives.
pub struct Held(#[allow(dead_code)] Vec<OwnedFd>);

/// Bind every published host port (all IPv4 addresses unless the mapping names one).
pub fn hold(maps: &[PortMapping]) -> anyhow::Result<Held> {
    let mut fds = Vec::new();
    for m in maps {
        let ip = m.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let fd = isolab_core::port::hold(m.proto.as_str(), SocketAddr::new(ip, m.host_port))
            .with_context(|| format!("-p {}", m.spec))?;
        fds.push(fd);
    }
    Ok(Held(fds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_in_portmap_s_words() {
        let maps = [
            crate::args::parse_publish("8080:80").unwrap(),
            crate::args::parse_publish("127.0.0.1:5353:53/udp").unwrap(),
        ];
        assert_eq!(
            port_mappings(&maps),
            json!([
                {"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": ""},
                {"hostPort": 5353, "containerPort": 53, "protocol": "udp", "hostIP": "127.0.0.1"}
            ])
        );
    }
}
