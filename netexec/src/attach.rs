//! netexec's run: load the network, check, create the namespace, ADD, run COMMAND in the
//! namespace, DEL, remove the namespace, and end the way COMMAND ended.
//!
//! Order matters: every check (flags against the network's capabilities, the plugins' binaries,
//! the names, the host ports) comes before the namespace exists, so bad input leaves nothing.
//! The forwarded signals are held from before the namespace is created until COMMAND runs and
//! netexec forwards them, so a SIGTERM during set-up ends COMMAND and then the detach runs,
//! instead of killing netexec with the attachment in place (cgexec-rs does the same). The
//! namespace is bound at /run/netns/ID for its whole life: DEL then still finds the
//! container's end of the veth and its addresses after COMMAND is gone, and after a kill -9
//! `netexec --gc` does too.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use isolab_core::process::{self, Env, ForkResult, SigSet, Signal, WaitStatus};
use isolab_core::{exit, netns, procfs, trace};
use serde_json::{json, Map, Value};

use crate::args::{Mode, Network, Spec, UserNet};
use crate::cache::{self, Entry, Owner};
use crate::cni::{self, Resolved, Runtime};
use crate::conf::{self, NetworkList};
use crate::publish;

/// What Docker (20.10 and later) sets in every container's network namespace: any user may bind
/// ports below 1024 and send ICMP echo requests. Both matter when the command later gets a
/// user namespace of its own (nsexec -U in the chain): the network namespace is owned by the
/// host's, so root inside it has no CAP_NET_BIND_SERVICE over it.
pub const DOCKER_SYSCTLS: [(&str, &str); 2] =
    [("net/ipv4/ip_unprivileged_port_start", "0"), ("net/ipv4/ping_group_range", "0 2147483647")];

/// Dispatch on the mode, and on who runs netexec.
pub fn run(spec: Spec) -> anyhow::Result<u8> {
    match &spec.mode {
        Mode::Remove(name) => crate::manage::remove(&spec, name),
        Mode::Gc => crate::manage::gc(&spec),
        Mode::Check(name) => crate::manage::check(&spec, name),
        Mode::Run | Mode::Keep(_) => match (&spec.network, netns::privileged()) {
            (Network::UserMode(how), _) => crate::rootless::run(&spec, *how),
            (Network::Default, false) => crate::rootless::run(&spec, UserNet::Pasta),
            (_, false) => bail!(
                "--network: CNI plugins change the host's network and need root; without root use --network pasta (the default)"
            ),
            (_, true) => attach_and_run(&spec),
        },
    }
}

/// The network asked for: a file, a name in the configuration directory, or the default,
/// written there when missing.
pub fn load_network(spec: &Spec) -> anyhow::Result<NetworkList> {
    let dir = &spec.dirs.config;
    match &spec.network {
        Network::File(path) => conf::load_file(path),
        Network::Named(name) => conf::load_named(dir, name)?.ok_or_else(|| {
            let known = conf::names_in(dir);
            let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
            anyhow::anyhow!("--network: no network named {name:?} in {} (networks there: {known})", dir.display())
        }),
        Network::Default => match conf::load_named(dir, conf::DEFAULT_NETWORK)? {
            Some(list) => Ok(list),
            None => write_default(dir),
        },
        Network::UserMode(_) => unreachable!("user-mode networks have no CNI configuration"),
    }
}

/// Write the default network to DIR/isolab.conflist (never over an existing file). Two first
/// runs at once: the one that finds the file made by the other reads it.
fn write_default(dir: &Path) -> anyhow::Result<NetworkList> {
    use std::io::Write as _;
    if !dir.exists() {
        let step = trace::Step::Mkdir(dir.to_path_buf());
        trace::run_io(step, || std::fs::DirBuilder::new().recursive(true).create(dir))?;
    }
    let file = dir.join(conf::DEFAULT_FILE);
    let step = trace::Step::Write { path: file.clone(), value: conf::DEFAULT_CONFLIST.into() };
    let written = trace::run_io(step, || {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&file)?;
        f.write_all(conf::DEFAULT_CONFLIST.as_bytes())
    });
    match written {
        Ok(()) => conf::parse(conf::DEFAULT_CONFLIST, &file.display().to_string()),
        Err(e) => match conf::load_named(dir, conf::DEFAULT_NETWORK)? {
            Some(list) => Ok(list),
            None => Err(e.context("cannot write the default network")),
        },
    }
}

/// The runtimeConfig capability arguments the flags ask for; a flag no plugin of the network
/// takes is refused (libcni would drop it silently).
fn capability_args(spec: &Spec, list: &NetworkList) -> anyhow::Result<Map<String, Value>> {
    let mut caps = Map::new();
    let mut want = |flag: &str, cap: &str, value: Value, required: bool| -> anyhow::Result<()> {
        if list.plugins.iter().any(|p| p.has_capability(cap)) {
            caps.insert(cap.into(), value);
        } else if required {
            bail!("{flag}: network {} ({}) has no plugin with the {cap:?} capability", list.name, list.origin);
        }
        Ok(())
    };
    if !spec.publish.is_empty() {
        want("-p/--publish", "portMappings", publish::port_mappings(&spec.publish), true)?;
    }
    if let Some(ip) = spec.ip {
        want("--ip", "ips", json!([ip.to_string()]), true)?;
    }
    if let Some(mac) = &spec.mac {
        want("--mac", "mac", json!(mac), true)?;
    }
    if !spec.dns.is_empty() {
        // netexec writes resolv.conf itself; plugins that take DNS settings get them too.
        let servers: Vec<String> = spec.dns.iter().map(ToString::to_string).collect();
        want("--dns", "dns", json!({ "servers": servers }), false)?;
    }
    Ok(caps)
}

/// A new container ID: `netexec-` and 12 random hex digits (the kept name with --keep).
fn container_id(spec: &Spec) -> anyhow::Result<String> {
    if let Mode::Keep(name) = &spec.mode {
        return Ok(name.clone());
    }
    let mut bytes = [0u8; 6];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes).context("/dev/urandom")?;
    Ok(format!("netexec-{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// COMMAND's /etc/resolv.conf for --dns: a file of ours, bound over it in COMMAND's own mount
/// namespace; removed on drop.
pub struct ResolvConf(pub PathBuf);

impl ResolvConf {
    pub fn write(id: &str, servers: &[std::net::IpAddr]) -> anyhow::Result<Option<ResolvConf>> {
        if servers.is_empty() {
            return Ok(None);
        }
        let file = std::env::temp_dir().join(format!("netexec-{id}-{}.resolv.conf", std::process::id()));
        let text: String = servers.iter().map(|s| format!("nameserver {s}\n")).collect();
        let step = trace::Step::Write { path: file.clone(), value: text.clone() };
        trace::run_io(step, || std::fs::write(&file, &text))?;
        Ok(Some(ResolvConf(file)))
    }
}

impl Drop for ResolvConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Root: the CNI path.
fn attach_and_run(spec: &Spec) -> anyhow::Result<u8> {
    let list = load_network(spec)?;
    let caps = capability_args(spec, &list)?;
    let net = cni::resolve(&list, &spec.dirs.cni_path)?;
    let id = container_id(spec)?;
    let netns_file = Path::new(netns::NETNS_DIR).join(&id);
    if netns_file.exists() {
        bail!(
            "--keep: {} exists already (remove it: netexec --rm {id}, or ip netns delete {id})",
            netns_file.display()
        );
    }
    let cache_file = cache::path(&spec.dirs.cache, &list.name, &id, &spec.ifname);
    if cache_file.exists() {
        bail!(
            "--keep: an attachment of {id} to {} is cached already ({}): netexec --rm {id}",
            list.name,
            cache_file.display()
        );
    }
    let held = publish::hold(&spec.publish)?;
    let resolv = ResolvConf::write(&id, &spec.dns)?;
    let kept = matches!(spec.mode, Mode::Keep(_));
    let caller_mask = process::block_forwarded();
    let attached = attach(&net, spec, &id, &netns_file, caps, kept);
    let (entry, rt, result) = match attached {
        Ok(a) => a,
        Err(e) => {
            process::restore_mask(caller_mask);
            return Err(e);
        }
    };
    if spec.command.is_empty() {
        process::restore_mask(caller_mask);
        trace::note(format!("keeping {id} attached (detach it with: netexec --rm {id})"));
        return Ok(0);
    }
    let status = run_in(&netns_file, resolv.as_ref().map(|r| r.0.as_path()), &spec.command, caller_mask);
    if kept {
        trace::note(format!("keeping {id} attached (detach it with: netexec --rm {id})"));
    } else {
        detach(&net, &rt, Some(&result), &entry)?;
    }
    // die_like may re-raise the command's signal on netexec: clean up before, not on drop.
    drop((held, resolv));
    Ok(process::die_like(status?))
}

/// Create the namespace, cache the attachment, ADD. On failure nothing is left.
fn attach(
    net: &Resolved,
    spec: &Spec,
    id: &str,
    netns_file: &Path,
    caps: Map<String, Value>,
    kept: bool,
) -> anyhow::Result<(Entry, Runtime, Value)> {
    netns::create_bound(netns_file, &DOCKER_SYSCTLS)?;
    let me = std::process::id() as i32;
    let owner = Owner {
        pid: me,
        start_time: procfs::start_time(me).context("reading /proc/self/stat")?,
        netns_file: netns_file.to_path_buf(),
        netns_inode: netns::bound_inode(netns_file).unwrap_or(0),
        kept,
    };
    let rt = Runtime {
        container_id: id.to_string(),
        netns: netns_file.display().to_string(),
        ifname: spec.ifname.clone(),
        cni_args: Vec::new(),
        capability_args: caps,
        cni_path: spec.dirs.cni_path.clone(),
    };
    let mut entry = Entry {
        file: cache::path(&spec.dirs.cache, &net.list.name, id, &spec.ifname),
        container_id: id.to_string(),
        network: net.list.name.clone(),
        ifname: spec.ifname.clone(),
        netns: rt.netns.clone(),
        config: net.list.raw.clone(),
        capability_args: rt.capability_args.clone(),
        cni_args: Vec::new(),
        result: None,
        owner: Some(owner),
    };
    let undo = |entry: &Entry| {
        let _ = entry.remove();
        let _ = netns::release(netns_file);
    };
    if let Err(e) = entry.save() {
        undo(&entry);
        return Err(e);
    }
    // One netexec at a time changes the host's side of networks (two first ADDs race to make
    // the bridge); held until the result is saved or undone.
    let _lock = match netns::lock_host_network(Path::new(netns::HOST_NETWORK_LOCK)) {
        Ok(lock) => lock,
        Err(e) => {
            undo(&entry);
            return Err(e);
        }
    };
    match cni::add(net, &rt) {
        Ok(result) => {
            entry.result = Some(result.clone());
            if let Err(e) = entry.save() {
                let _ = cni::del(net, &rt, Some(&result));
                undo(&entry);
                return Err(e);
            }
            trace::note(format!(
                "{id}: {} {} on network {}",
                rt.ifname,
                cni::addresses(&result).join(" "),
                net.list.name
            ));
            Ok((entry, rt, result))
        }
        Err(failure) => {
            undo(&entry);
            Err(failure.into())
        }
    }
}

/// DEL, then remove the namespace and the cache entry. A failed DEL leaves both, for --gc.
pub fn detach(net: &Resolved, rt: &Runtime, result: Option<&Value>, entry: &Entry) -> anyhow::Result<()> {
    let lock = netns::lock_host_network(Path::new(netns::HOST_NETWORK_LOCK))?;
    cni::del(net, rt, result)
        .map_err(|e| anyhow::anyhow!("{e} (the attachment stays cached: netexec --gc retries)"))?;
    drop(lock);
    if let Some(owner) = &entry.owner {
        if netns::bound_inode(&owner.netns_file) == Some(owner.netns_inode) {
            netns::release(&owner.netns_file)?;
        }
    }
    entry.remove()
}

/// Fork COMMAND into the namespace bound at `netns_file` and supervise it; returns its status.
fn run_in(
    netns_file: &Path,
    resolv: Option<&Path>,
    command: &[OsString],
    caller_mask: SigSet,
) -> anyhow::Result<WaitStatus> {
    let ns = netns::open(netns_file)?;
    let child = match process::fork_tethered(Some(Signal::SIGKILL))? {
        ForkResult::Child => child_main(&ns, netns_file, resolv, command, caller_mask),
        ForkResult::Parent { child } => child,
    };
    drop(ns);
    process::forward_signals_to(child);
    process::restore_mask(caller_mask);
    process::supervise(child, false)
}

/// In the forked child: join the namespace, mount its sysfs (and resolv.conf), exec. Never returns.
fn child_main(ns: &OwnedFd, shown: &Path, resolv: Option<&Path>, command: &[OsString], mask: SigSet) -> ! {
    let ready = netns::join(ns, shown).and_then(|()| netns::private_mounts(resolv));
    let err = match ready {
        Ok(()) => {
            process::restore_mask(mask);
            process::exec(command, &Env::default())
        }
        Err(err) => err,
    };
    exit::report_and_exit(&err)
}
