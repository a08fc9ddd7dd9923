//! A user-mode network, for callers without root (rootless podman's way): COMMAND gets a new
//! user namespace in which the caller is root, and a network namespace it owns; pasta(1) (or
//! slirp4netns(1)) joins that namespace, makes a tap interface there, and carries its traffic
//! through ordinary sockets on the host, so nothing on the host's network changes and no
//! privilege is needed. -p forwards a host port the same way.
//!
//! Rules that bite:
//! - /dev/net/tun must be usable by the caller (mode 0666, as Debian's udev rule makes it):
//!   pasta opens it inside the namespace and fails with "Failed to open tun socket" otherwise.
//! - The helper runs in the foreground as netexec's child, tethered (PR_SET_PDEATHSIG): a
//!   daemonized pasta would outlive a killed netexec.
//! - COMMAND waits until the helper has configured the interface (a default route appears in the
//!   namespace), so its first packet does not race the set-up.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use isolab_core::process::{self, Env, ForkResult, Gate, GateKey, Pid, SigSet, Signal};
use isolab_core::{exit, helper, netns, trace};

use crate::args::{Mode, Proto, Spec, UserNet};
use crate::attach::ResolvConf;

/// How long the helper may take to bring the interface up.
const READY_WITHIN: Duration = Duration::from_secs(10);

pub fn run(spec: &Spec, how: UserNet) -> anyhow::Result<u8> {
    if let Mode::Keep(name) = &spec.mode {
        bail!("--keep {name}: a user-mode network lives only as long as its command (use a CNI network, as root)");
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    let program = crate::conf::find_program(how.program(), &dirs).map(|p| p.display().to_string());
    let program = program.with_context(|| {
        let package = if how == UserNet::Pasta { "passt" } else { "slirp4netns" };
        format!("--network {}: {} is not installed (Debian package {package})", how.program(), how.program())
    })?;
    if how == UserNet::Slirp4netns && spec.ip.is_some() {
        bail!("--ip: slirp4netns gives 10.0.2.100 always (use --network pasta for --ip)");
    }
    let resolv = ResolvConf::write(&format!("user-{}", how.program()), &spec.dns)?;
    let log = Log::create(how)?;
    // The child opens `ready` once its namespaces are made; netexec opens `go` once the helper
    // has brought the network up.
    let (ready, ready_key) = process::gate()?;
    let (go, go_key) = process::gate()?;
    let caller_mask = process::block_forwarded();
    let child = match process::fork_tethered(Some(Signal::SIGKILL))? {
        ForkResult::Child => {
            drop((ready, go_key));
            child_main(spec, resolv.as_ref().map(|r| r.0.clone()), ready_key, go, caller_mask)
        }
        ForkResult::Parent { child } => child,
    };
    drop((ready_key, go));
    // The child reports its own failure (one line) and exits; we pass its status on.
    if !ready.wait().unwrap_or(false) {
        process::restore_mask(caller_mask);
        return Ok(process::status_code(process::wait_for(child)?));
    }
    let mut pasta = match start_helper(spec, how, &program, child, &log) {
        Ok(h) => h,
        Err(e) => {
            let _ = process::kill(child, Signal::SIGKILL);
            let _ = process::wait_for(child);
            process::restore_mask(caller_mask);
            return Err(e);
        }
    };
    let _ = go_key.open();
    process::forward_signals_to(child);
    process::restore_mask(caller_mask);
    let status = process::supervise(child, false);
    helper::stop(&mut pasta, Duration::from_secs(2));
    // die_like may re-raise the command's signal on netexec: clean up before, not on drop.
    let _ = std::fs::remove_file(api_socket(child.as_raw()));
    drop(resolv);
    Ok(process::die_like(status?))
}

/// In the forked child: new namespaces, resolv.conf, tell the parent, wait for the network, exec.
fn child_main(spec: &Spec, resolv: Option<PathBuf>, ready: GateKey, go: Gate, mask: SigSet) -> ! {
    let set_up = if netns::privileged() { netns::unshare_net() } else { netns::unshare_user_and_net() }
        .and_then(|()| netns::private_mounts(resolv.as_deref()));
    if let Err(err) = set_up {
        exit::report_and_exit(&err);
    }
    let _ = ready.open();
    if !go.wait().unwrap_or(false) {
        // The parent gave up (and said why): end quietly.
        std::process::exit(exit::EXIT_TOOL.into());
    }
    process::restore_mask(mask);
    let err = process::exec(&spec.command, &Env::default());
    exit::report_and_exit(&err)
}

/// The helper's stderr, kept in a file that has no name (created, then unlinked at once):
/// read when the helper fails, gone with netexec however netexec ends.
struct Log(std::fs::File);

impl Log {
    fn create(how: UserNet) -> anyhow::Result<Log> {
        let path = std::env::temp_dir().join(format!("netexec-{}-{}.log", std::process::id(), how.program()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let _ = std::fs::remove_file(&path);
        Ok(Log(file))
    }

    fn last_line(&self) -> String {
        use std::io::Seek as _;
        let mut text = String::new();
        let mut f = &self.0;
        let _ = f.seek(std::io::SeekFrom::Start(0)).and_then(|_| f.read_to_string(&mut text));
        text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
    }
}

/// pasta's (or slirp4netns's) command line for the namespace of `pid`.
pub fn helper_argv(spec: &Spec, how: UserNet, program: &str, pid: i32) -> Vec<String> {
    let mut argv: Vec<String> = vec![program.into()];
    let mut push = |a: &[&str]| argv.extend(a.iter().map(|s| s.to_string()));
    match how {
        UserNet::Pasta => {
            push(&["--config-net", "--foreground", "--quiet", "--ns-ifname", &spec.ifname]);
            for proto in [Proto::Tcp, Proto::Udp] {
                let ports: Vec<String> = spec
                    .publish
                    .iter()
                    .filter(|m| m.proto == proto)
                    .map(|m| match m.host_ip {
                        Some(ip) => format!("{ip}/{}:{}", m.host_port, m.container_port),
                        None => format!("{}:{}", m.host_port, m.container_port),
                    })
                    .collect();
                let flag = if proto == Proto::Tcp { "--tcp-ports" } else { "--udp-ports" };
                if ports.is_empty() {
                    push(&[flag, "none"]);
                }
                for p in &ports {
                    push(&[flag, p]);
                }
            }
            // Nothing from the namespace to the host's own ports: the container is not the host.
            push(&["--tcp-ns", "none", "--udp-ns", "none"]);
            if let Some(ip) = spec.ip {
                push(&["--address", &ip.to_string()]);
            }
            if let Some(mac) = &spec.mac {
                push(&["--ns-mac-addr", mac]);
            }
            push(&[&pid.to_string()]);
        }
        UserNet::Slirp4netns => {
            push(&["--configure", "--mtu=65520", "--disable-host-loopback"]);
            if !spec.publish.is_empty() {
                push(&["--api-socket", &api_socket(pid).display().to_string()]);
            }
            if let Some(mac) = &spec.mac {
                push(&["--macaddress", mac]);
            }
            push(&[&pid.to_string(), &spec.ifname]);
        }
    }
    argv
}

fn api_socket(pid: i32) -> PathBuf {
    std::env::temp_dir().join(format!("netexec-{}-slirp4netns-{pid}.sock", std::process::id()))
}

/// Start the helper and wait until the namespace has its default route.
fn start_helper(
    spec: &Spec,
    how: UserNet,
    program: &str,
    child: Pid,
    log: &Log,
) -> anyhow::Result<std::process::Child> {
    let argv = helper_argv(spec, how, program, child.as_raw());
    let file = log.0.try_clone().context("dup of the log")?;
    let mut helper = helper::spawn_tethered(&argv, |cmd| {
        cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(file);
    })?;
    let deadline = Instant::now() + READY_WITHIN;
    // slirp4netns opens its API socket (for -p) only after it has configured the interface.
    let api = (how == UserNet::Slirp4netns && !spec.publish.is_empty()).then(|| api_socket(child.as_raw()));
    loop {
        if has_default_route(child) && api.as_ref().is_none_or(|sock| sock.exists()) {
            break;
        }
        if let Ok(Some(status)) = helper.try_wait() {
            bail!(
                "--network {}: {} ended ({status}) before the network was up: {}",
                how.program(),
                program,
                log.last_line()
            );
        }
        if Instant::now() > deadline {
            helper::stop(&mut helper, Duration::from_secs(1));
            bail!(
                "--network {}: no default route in the namespace after {READY_WITHIN:?}: {}",
                how.program(),
                log.last_line()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if how == UserNet::Slirp4netns {
        if let Err(e) = slirp_forward(spec, child.as_raw()) {
            helper::stop(&mut helper, Duration::from_secs(1));
            return Err(e);
        }
    }
    trace::note(format!("{} is up in the namespace of {child}", spec.ifname));
    Ok(helper)
}

/// Whether the namespace of `pid` has an IPv4 default route (/proc/PID/net/route, Destination 0).
fn has_default_route(pid: Pid) -> bool {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/route")).unwrap_or_default();
    text.lines().skip(1).any(|l| l.split_whitespace().nth(1) == Some("00000000"))
}

/// slirp4netns's API (add_hostfwd), one request per -p.
fn slirp_forward(spec: &Spec, pid: i32) -> anyhow::Result<()> {
    for m in &spec.publish {
        let request = serde_json::json!({"execute": "add_hostfwd", "arguments": {
            "proto": m.proto.as_str(),
            "host_addr": m.host_ip.map(|ip| ip.to_string()).unwrap_or_else(|| "0.0.0.0".into()),
            "host_port": m.host_port,
            "guest_port": m.container_port,
        }});
        let mut sock = std::os::unix::net::UnixStream::connect(api_socket(pid)).context("slirp4netns API socket")?;
        sock.write_all(request.to_string().as_bytes())?;
        sock.shutdown(std::net::Shutdown::Write)?;
        let mut reply = String::new();
        sock.read_to_string(&mut reply)?;
        if reply.contains("\"error\"") {
            bail!("-p {}: slirp4netns refused: {}", m.spec, reply.trim());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[test]
    fn pasta_gets_the_ports_and_nothing_back_to_the_host() {
        let spec = crate::args::Args::try_parse_from([
            "netexec",
            "-p",
            "18080:80",
            "-p",
            "127.0.0.1:5353:53/udp",
            "--ip",
            "10.0.2.7",
            "true",
        ])
        .unwrap()
        .into_spec()
        .unwrap();
        let argv = helper_argv(&spec, UserNet::Pasta, "pasta", 42).join(" ");
        assert!(argv.starts_with("pasta --config-net --foreground --quiet --ns-ifname eth0"), "{argv}");
        assert!(argv.contains("--tcp-ports 18080:80 --udp-ports 127.0.0.1/5353:53"), "{argv}");
        assert!(argv.contains("--tcp-ns none --udp-ns none --address 10.0.2.7 42"), "{argv}");
        let plain = crate::args::Args::try_parse_from(["netexec", "true"]).unwrap().into_spec().unwrap();
        let argv = helper_argv(&plain, UserNet::Pasta, "pasta", 42).join(" ");
        assert!(argv.contains("--tcp-ports none --udp-ports none"), "{argv}");
        let argv = helper_argv(&spec, UserNet::Slirp4netns, "slirp4netns", 42).join(" ");
        assert!(argv.contains("--configure") && argv.ends_with("42 eth0"), "{argv}");
    }
}
