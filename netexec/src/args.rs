//! netexec's command line: clap's flags, checked and typed into a [`Spec`] without touching the
//! system (the flow decides what the host allows).

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::{ArgGroup, Parser};
use isolab_core::cli::Explain;

const LONG_ABOUT: &str = "\
Attach a new network namespace to a network, run COMMAND in it, and detach it when COMMAND
ends, whatever way it ends. netexec is a CNI runtime (CNI specification 1.0: ADD, DEL, CHECK,
VERSION): it runs the plugins of a network configuration list (containernetworking-plugins, in
/usr/lib/cni) the way podman, containerd and every Kubernetes node do, chaining each plugin's
result into the next as prevResult, passing -p/--ip/--mac as runtimeConfig capabilities, and
keeping each attachment's result in the libcni cache for DEL.

The default network, isolab, is the article's Docker daemon: a bridge isolab0 with
172.18.0.1/24, addresses from 172.18.0.2 (host-local), masquerade for outbound traffic, and
portmap for -p. netexec writes it to CONFIG-DIR/isolab.conflist when no network of that name is
there, and then leaves the file to you. The bridge stays when the last container has gone, as
docker0 does.

Without root, CNI plugins cannot change the host: netexec then gives the namespace a user-mode
network with pasta (package passt), as rootless podman does, in a new user namespace where the
caller is root; -p works the same. --network slirp4netns uses slirp4netns instead.";

const AFTER_HELP: &str = "\
EXAMPLES:
  netexec -- ip -o addr                                   # eth0 172.18.0.x/24 on isolab0
  netexec -p 8080:80 -- busybox httpd -f -p 80 -h /srv/www
  cgexec-rs --name web -m 100m -- netexec -p 8080:80 -- nsexec -U -m -p -u -i \\
      --map-users 0:100000:65536 --map-groups 0:100000:65536 --rootfs R -- httpd -f -p 80
  netexec --keep web                                      # then: ip netns exec web ip addr
  nsenter-lite --ns-file net=/run/netns/web -- ss -ltn
  netexec --rm web
  netexec --gc                                            # after a kill -9
  netexec --explain --network mynet -- true               # every plugin call, stdin and result

FILES:
  /etc/cni/net.d        network configuration lists (--cni-config-dir, NETCONFPATH)
  /usr/lib/cni          plugins (--cni-path, CNI_PATH; /opt/cni/bin is searched too)
  /var/lib/cni/results  the result of each attachment, as libcni keeps it (--cni-cache-dir)
  /var/lib/cni/networks host-local's leases
  /run/netns            the namespaces, as ip netns names them

EXIT STATUS:
  COMMAND's own status, or 128+N when it died of signal N
  125  netexec itself failed (bad flag or value, a plugin refused); nothing is left behind
  126  COMMAND cannot be executed
  127  COMMAND was not found";

/// The default directories, as libcni, cnitool and the Debian package have them.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/cni/net.d";
pub const DEFAULT_CNI_PATH: &str = "/usr/lib/cni:/opt/cni/bin";
pub const DEFAULT_CACHE_DIR: &str = "/var/lib/cni";

#[derive(Debug, Parser)]
#[command(
    name = "netexec",
    version,
    about = "Run a command in a network namespace attached to a network through CNI plugins",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    group(ArgGroup::new("mode").args(["keep", "rm", "gc", "check"]).multiple(false)),
    mut_arg("explain", |a| a.help(
        "Print every step: each plugin call with the configuration on stdin and the result (also ISOLAB_EXPLAIN=1)"
    )),
)]
pub struct Args {
    /// The network: a name from the configuration directory, a file (a path with a /), or
    /// pasta / slirp4netns for a user-mode network [default: isolab; without root: pasta]
    #[arg(long, value_name = "NAME|FILE")]
    pub network: Option<String>,
    /// Publish a container port on the host (repeatable): [IP:]HOST:CONTAINER[/tcp|/udp]
    #[arg(short = 'p', long, value_name = "SPEC")]
    pub publish: Vec<String>,
    /// Ask the network's address management for this address (runtimeConfig "ips")
    #[arg(long, value_name = "ADDR")]
    pub ip: Option<String>,
    /// The interface's name inside the namespace (CNI_IFNAME)
    #[arg(long, value_name = "NAME", default_value = "eth0")]
    pub ifname: String,
    /// The interface's MAC address (runtimeConfig "mac")
    #[arg(long, value_name = "ADDR")]
    pub mac: Option<String>,
    /// A name server for COMMAND's /etc/resolv.conf (repeatable; runtimeConfig "dns" too)
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,

    /// Keep the namespace bound at /run/netns/NAME and attached after COMMAND (COMMAND optional)
    #[arg(long, value_name = "NAME", help_heading = "Lifecycle")]
    pub keep: Option<String>,
    /// Detach the namespace kept as NAME (CNI DEL) and remove it
    #[arg(long, value_name = "NAME", help_heading = "Lifecycle")]
    pub rm: Option<String>,
    /// Detach every attachment whose netexec is gone (after a kill -9) or whose kept namespace is gone
    #[arg(long, help_heading = "Lifecycle")]
    pub gc: bool,
    /// Ask every plugin whether the namespace kept as NAME is still as it set it up (VERSION, CHECK)
    #[arg(long, value_name = "NAME", help_heading = "Lifecycle")]
    pub check: Option<String>,

    /// Directory of network configuration lists
    #[arg(long, value_name = "DIR", env = "NETCONFPATH", default_value = DEFAULT_CONFIG_DIR, help_heading = "CNI")]
    pub cni_config_dir: PathBuf,
    /// Directories searched for plugins, colon-separated
    #[arg(long, value_name = "DIRS", env = "CNI_PATH", default_value = DEFAULT_CNI_PATH, help_heading = "CNI")]
    pub cni_path: String,
    /// Directory of the result cache (results/NETWORK-ID-IFNAME, as libcni keeps it)
    #[arg(long, value_name = "DIR", env = "NETEXEC_CACHE_DIR", default_value = DEFAULT_CACHE_DIR, help_heading = "CNI")]
    pub cni_cache_dir: PathBuf,

    #[command(flatten)]
    pub explain: Explain,

    /// The command and its arguments
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

impl AsRef<Explain> for Args {
    fn as_ref(&self) -> &Explain {
        &self.explain
    }
}

/// What netexec is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Attach, run COMMAND, detach.
    Run,
    /// Attach a namespace bound at /run/netns/NAME; run COMMAND if given; leave it attached.
    Keep(String),
    /// Detach and remove the namespace kept as NAME.
    Remove(String),
    /// Detach what was left by a netexec that is gone.
    Gc,
    /// CHECK the attachment of the namespace kept as NAME.
    Check(String),
}

/// Which network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// `isolab`, written to the configuration directory when missing.
    Default,
    /// A network of the configuration directory, by its name.
    Named(String),
    /// A configuration (list) file.
    File(PathBuf),
    /// A user-mode network: no CNI, no root needed.
    UserMode(UserNet),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserNet {
    Pasta,
    Slirp4netns,
}

impl UserNet {
    pub fn program(self) -> &'static str {
        match self {
            UserNet::Pasta => "pasta",
            UserNet::Slirp4netns => "slirp4netns",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One `-p`: the portmap plugin's `portMappings` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
    /// As typed, for messages.
    pub spec: String,
}

/// Where configuration, plugins and the cache are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    pub config: PathBuf,
    pub cni_path: Vec<PathBuf>,
    pub cache: PathBuf,
}

/// A checked netexec request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub mode: Mode,
    pub network: Network,
    pub publish: Vec<PortMapping>,
    pub ip: Option<IpAddr>,
    pub ifname: String,
    pub mac: Option<String>,
    pub dns: Vec<IpAddr>,
    pub dirs: Dirs,
    pub command: Vec<OsString>,
}

impl Spec {
    /// Whether the request sets anything up for a container (as opposed to --rm/--gc/--check).
    pub fn attaches(&self) -> bool {
        matches!(self.mode, Mode::Run | Mode::Keep(_))
    }
}

impl Args {
    /// Turn the flags into a checked [`Spec`]; every refusal names the flag.
    pub fn into_spec(self) -> anyhow::Result<Spec> {
        let mode = match (&self.keep, &self.rm, self.gc, &self.check) {
            (Some(n), ..) => Mode::Keep(check_name("--keep", n)?),
            (_, Some(n), ..) => Mode::Remove(check_name("--rm", n)?),
            (_, _, true, _) => Mode::Gc,
            (_, _, _, Some(n)) => Mode::Check(check_name("--check", n)?),
            _ => Mode::Run,
        };
        let attaches = matches!(mode, Mode::Run | Mode::Keep(_));
        if !attaches {
            let flag = match &mode {
                Mode::Remove(_) => "--rm",
                Mode::Gc => "--gc",
                _ => "--check",
            };
            if !self.command.is_empty() {
                bail!("{flag} takes no command");
            }
            let setup = [
                ("--network", self.network.is_some()),
                ("-p/--publish", !self.publish.is_empty()),
                ("--ip", self.ip.is_some()),
                ("--mac", self.mac.is_some()),
                ("--dns", !self.dns.is_empty()),
            ];
            if let Some((other, _)) = setup.iter().find(|(_, given)| *given) {
                bail!("{flag} works from what the attachment's cache holds: {other} does not apply");
            }
        }
        if mode == Mode::Run && self.command.is_empty() {
            bail!("a command is required (or --keep NAME to attach a namespace without one)");
        }
        let network = match self.network.as_deref() {
            None => Network::Default,
            Some("") => bail!("--network: empty name"),
            Some("pasta") => Network::UserMode(UserNet::Pasta),
            Some("slirp4netns") => Network::UserMode(UserNet::Slirp4netns),
            Some(file) if file.contains('/') => Network::File(PathBuf::from(file)),
            Some(name) => Network::Named(check_network_name(name)?),
        };
        let publish = parse_publish_list(&self.publish)?;
        let ip = self.ip.as_deref().map(|a| parse_ip("--ip", a)).transpose()?;
        let mac = self.mac.as_deref().map(parse_mac).transpose()?;
        let dns = self.dns.iter().map(|a| parse_ip("--dns", a)).collect::<anyhow::Result<_>>()?;
        let cni_path: Vec<PathBuf> = self.cni_path.split(':').filter(|d| !d.is_empty()).map(PathBuf::from).collect();
        if cni_path.is_empty() {
            bail!("--cni-path: no directory given");
        }
        Ok(Spec {
            mode,
            network,
            publish,
            ip,
            ifname: check_ifname(&self.ifname)?,
            mac,
            dns,
            dirs: Dirs { config: self.cni_config_dir, cni_path, cache: self.cni_cache_dir },
            command: self.command,
        })
    }
}

/// A kept namespace's name: also its CNI container ID and its file under /run/netns, so both
/// rule sets apply (libcni `ValidateContainerID`; no `/`, not `.`/`..`).
pub fn check_name(flag: &str, name: &str) -> anyhow::Result<String> {
    let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !first_ok || !rest_ok || name.len() > 64 {
        bail!("{flag}: invalid name {name:?} (letters, digits, '_', '.', '-', starting with a letter or digit, at most 64)");
    }
    Ok(name.to_string())
}

/// libcni `ValidateNetworkName`: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn check_network_name(name: &str) -> anyhow::Result<String> {
    check_name("--network", name).map_err(|_| {
        anyhow::anyhow!(
            "--network: invalid network name {name:?} (letters, digits, '_', '.', '-'; a file needs a '/': ./{name})"
        )
    })
}

/// libcni `ValidateInterfaceName`: 1-15 bytes (IFNAMSIZ), not `.`/`..`, no `/`, `:` or blanks.
pub fn check_ifname(name: &str) -> anyhow::Result<String> {
    let bad = name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace());
    if bad {
        bail!("--ifname: invalid interface name {name:?} (1-15 characters, no '/', ':' or blanks)");
    }
    Ok(name.to_string())
}

fn parse_ip(flag: &str, text: &str) -> anyhow::Result<IpAddr> {
    text.parse().map_err(|_| anyhow::anyhow!("{flag}: invalid address {text:?} (an IPv4 or IPv6 address)"))
}

/// A unicast MAC address, six hex pairs separated by `:`.
pub fn parse_mac(text: &str) -> anyhow::Result<String> {
    let octets: Vec<Option<u8>> =
        text.split(':').map(|p| u8::from_str_radix(p, 16).ok().filter(|_| p.len() == 2)).collect();
    let Some(first) =
        octets.first().copied().flatten().filter(|_| octets.len() == 6 && octets.iter().all(Option::is_some))
    else {
        bail!("--mac: invalid address {text:?} (six hex pairs: 02:42:ac:12:00:02)");
    };
    if first & 1 == 1 {
        bail!("--mac: {text} is a multicast address (the first octet must be even)");
    }
    Ok(text.to_ascii_lowercase())
}

fn parse_publish_list(specs: &[String]) -> anyhow::Result<Vec<PortMapping>> {
    let mut out: Vec<PortMapping> = Vec::new();
    for s in specs {
        let m = parse_publish(s).with_context(|| format!("-p {s}"))?;
        if let Some(prev) =
            out.iter().find(|p| p.host_port == m.host_port && p.proto == m.proto && p.host_ip == m.host_ip)
        {
            bail!("-p {s}: host port {}/{} is already published by -p {}", m.host_port, m.proto.as_str(), prev.spec);
        }
        out.push(m);
    }
    Ok(out)
}

/// `[IP:]HOST:CONTAINER[/tcp|/udp]`, Docker's syntax (an IPv6 address in brackets).
pub fn parse_publish(spec: &str) -> anyhow::Result<PortMapping> {
    let (ports, proto) = match spec.rsplit_once('/') {
        Some((p, "tcp")) => (p, Proto::Tcp),
        Some((p, "udp")) => (p, Proto::Udp),
        Some((_, other)) => bail!("unknown protocol {other:?} (tcp or udp)"),
        None => (spec, Proto::Tcp),
    };
    let (host_ip, rest) = if let Some(v6) = ports.strip_prefix('[') {
        let (addr, rest) = v6.split_once("]:").context("an IPv6 address goes in brackets: [::1]:8080:80")?;
        (Some(addr), rest)
    } else {
        match ports.matches(':').count() {
            1 => (None, ports),
            2 => {
                let (ip, rest) = ports.split_once(':').expect("two colons");
                (Some(ip), rest)
            }
            0 => bail!("give the host port too: HOST:CONTAINER (netexec picks no random port)"),
            _ => bail!("expected [IP:]HOST:CONTAINER[/tcp|/udp]"),
        }
    };
    let host_ip = host_ip
        .filter(|ip| !ip.is_empty())
        .map(|ip| ip.parse::<IpAddr>().map_err(|_| anyhow::anyhow!("invalid host address {ip:?}")))
        .transpose()?;
    let (host, container) = rest.split_once(':').context("expected [IP:]HOST:CONTAINER[/tcp|/udp]")?;
    Ok(PortMapping {
        host_ip,
        host_port: port("host", host)?,
        container_port: port("container", container)?,
        proto,
        spec: spec.to_string(),
    })
}

fn port(which: &str, text: &str) -> anyhow::Result<u16> {
    match text.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => bail!("invalid {which} port {text:?} (1-65535)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(args: &[&str]) -> anyhow::Result<Spec> {
        let argv = std::iter::once("netexec").chain(args.iter().copied());
        Args::try_parse_from(argv)?.into_spec()
    }

    fn err(args: &[&str]) -> String {
        format!("{:#}", spec(args).unwrap_err())
    }

    #[test]
    fn publish_takes_dockers_syntax() {
        let p = parse_publish("8080:80").unwrap();
        assert_eq!((p.host_ip, p.host_port, p.container_port, p.proto), (None, 8080, 80, Proto::Tcp));
        let p = parse_publish("127.0.0.1:5353:53/udp").unwrap();
        assert_eq!((p.host_ip, p.proto), (Some("127.0.0.1".parse().unwrap()), Proto::Udp));
        let p = parse_publish("[::1]:8080:80/tcp").unwrap();
        assert_eq!(p.host_ip, Some("::1".parse().unwrap()));
        for (bad, why) in [
            ("80", "host port too"),
            ("0:80", "invalid host port"),
            ("8080:70000", "invalid container port"),
            ("8080:80/sctp", "unknown protocol"),
            ("1.2.3:8080:80", "invalid host address"),
            ("a:b:c:d", "expected"),
            ("[::1:8080:80", "brackets"),
        ] {
            let e = format!("{:#}", parse_publish(bad).unwrap_err());
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn modes_and_their_flags() {
        assert_eq!(spec(&["true"]).unwrap().mode, Mode::Run);
        assert_eq!(spec(&["--keep", "web"]).unwrap().mode, Mode::Keep("web".into()));
        assert_eq!(spec(&["--rm", "web"]).unwrap().mode, Mode::Remove("web".into()));
        assert_eq!(spec(&["--gc"]).unwrap().mode, Mode::Gc);
        assert!(err(&["--gc", "true"]).contains("--gc takes no command"));
        assert!(err(&["--rm", "web", "-p", "80:80"]).contains("-p/--publish does not apply"));
        assert!(err(&["--rm", "a", "--gc"]).contains("cannot be used with"));
        assert!(err(&[]).contains("a command is required"));
    }

    #[test]
    fn networks_by_name_file_or_user_mode() {
        assert_eq!(spec(&["true"]).unwrap().network, Network::Default);
        assert_eq!(spec(&["--network", "mynet", "true"]).unwrap().network, Network::Named("mynet".into()));
        assert_eq!(spec(&["--network", "./n.conflist", "true"]).unwrap().network, Network::File("./n.conflist".into()));
        assert_eq!(spec(&["--network", "pasta", "true"]).unwrap().network, Network::UserMode(UserNet::Pasta));
        assert!(err(&["--network", "my net", "true"]).contains("invalid network name"));
    }

    #[test]
    fn refusals_name_the_flag() {
        assert!(err(&["--keep", "../x"]).contains("--keep: invalid name"));
        assert!(err(&["--keep", &"a".repeat(65)]).contains("--keep"));
        assert!(err(&["--ifname", "a/b", "true"]).contains("--ifname"));
        assert!(err(&["--ifname", "sixteen-chars-xx", "true"]).contains("--ifname"));
        assert!(err(&["--ip", "172.18.0.300", "true"]).contains("--ip: invalid address"));
        assert!(err(&["--dns", "one.one", "true"]).contains("--dns"));
        assert!(err(&["--mac", "02:42:ac:12:00", "true"]).contains("--mac: invalid"));
        assert!(err(&["--mac", "01:00:5e:00:00:01", "true"]).contains("multicast"));
        assert!(err(&["-p", "8080:80", "-p", "8080:81", "true"]).contains("already published"));
        assert!(err(&["--cni-path", ":", "true"]).contains("--cni-path"));
        assert_eq!(spec(&["--mac", "02:42:AC:12:00:02", "true"]).unwrap().mac.as_deref(), Some("02:42:ac:12:00:02"));
        assert!(spec(&["-p", "8080:80", "-p", "8080:80/udp", "true"]).is_ok(), "tcp and udp are different ports");
    }
}
