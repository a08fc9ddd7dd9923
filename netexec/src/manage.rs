//! `--rm NAME`, `--gc` and `--check NAME`: work on attachments from what the cache holds, so
//! DEL and CHECK run the configuration ADD ran, with its result as prevResult.
//!
//! An attachment is stale (--gc) when the netexec that made it is gone (its PID is free or
//! belongs to a process started at another time) and it was not kept, or when its kept
//! namespace is no longer bound at /run/netns/NAME (`ip netns delete NAME`). DEL then gets the
//! namespace when it is still bound (after a kill -9 it is: netexec binds it for its whole
//! life), else CNI_NETNS="" as the specification allows: the plugins then release what they
//! can without it (the bridge plugin its lease, but not its masquerade rule).

use std::path::Path;

use anyhow::bail;
use isolab_core::{netns, procfs, trace};

use crate::args::Spec;
use crate::cache::{self, Entry};
use crate::cni::{self, Runtime};
use crate::conf;

/// The runtime arguments an entry was attached with; CNI_NETNS only if its namespace is still there.
fn runtime_of(entry: &Entry, spec: &Spec) -> Runtime {
    let bound = entry.owner.as_ref().is_some_and(|o| netns::bound_inode(&o.netns_file) == Some(o.netns_inode));
    Runtime {
        container_id: entry.container_id.clone(),
        netns: if bound { entry.netns.clone() } else { String::new() },
        ifname: entry.ifname.clone(),
        cni_args: entry.cni_args.clone(),
        capability_args: entry.capability_args.clone(),
        cni_path: spec.dirs.cni_path.clone(),
    }
}

/// DEL an entry with its cached configuration, then remove its namespace and the entry.
fn detach(entry: &Entry, spec: &Spec) -> anyhow::Result<()> {
    let list = conf::parse(&entry.config.to_string(), &entry.file.display().to_string())?;
    let net = cni::resolve(&list, &spec.dirs.cni_path)?;
    let rt = runtime_of(entry, spec);
    if rt.netns.is_empty() {
        trace::note(format!("{}: its namespace is gone: DEL with CNI_NETNS=\"\"", entry.container_id));
    }
    crate::attach::detach(&net, &rt, entry.result.as_ref(), entry)
}

/// The cached attachments of the namespace kept as `name`.
fn kept(spec: &Spec, name: &str, flag: &str) -> anyhow::Result<Vec<Entry>> {
    let entries: Vec<Entry> = cache::ours(&spec.dirs.cache)
        .into_iter()
        .filter(|e| e.container_id == name && e.owner.as_ref().is_some_and(|o| o.kept))
        .collect();
    if entries.is_empty() {
        let file = Path::new(netns::NETNS_DIR).join(name);
        if file.exists() {
            bail!(
                "{flag} {name}: {} was not made by netexec (no attachment in {}): ip netns delete {name}",
                file.display(),
                spec.dirs.cache.join("results").display()
            );
        }
        bail!("{flag} {name}: no namespace kept as {name} (netexec --keep {name} makes one)");
    }
    Ok(entries)
}

/// `--rm NAME`.
pub fn remove(spec: &Spec, name: &str) -> anyhow::Result<u8> {
    for entry in kept(spec, name, "--rm")? {
        detach(&entry, spec)?;
    }
    // A namespace whose attachments are all gone is released too (detach does it per entry).
    let file = Path::new(netns::NETNS_DIR).join(name);
    if netns::bound_inode(&file).is_some() {
        netns::release(&file)?;
    }
    Ok(0)
}

/// Whether the netexec that made an entry is gone (a kept namespace counts while it is bound).
fn stale(entry: &Entry) -> bool {
    let Some(owner) = &entry.owner else { return false };
    if owner.kept {
        return netns::bound_inode(&owner.netns_file) != Some(owner.netns_inode);
    }
    procfs::start_time(owner.pid).ok() != Some(owner.start_time)
}

/// `--gc`: detach every stale attachment; one line per attachment on stdout.
pub fn gc(spec: &Spec) -> anyhow::Result<u8> {
    let mut failed = Vec::new();
    for entry in cache::ours(&spec.dirs.cache).into_iter().filter(stale) {
        match detach(&entry, spec) {
            Ok(()) => println!("{} {} {}", entry.container_id, entry.network, entry.ifname),
            Err(e) => failed.push(format!("{}: {e:#}", entry.container_id)),
        }
    }
    if !failed.is_empty() {
        bail!("--gc: {}", failed.join("; "));
    }
    Ok(0)
}

/// `--check NAME`: VERSION of each plugin, then CHECK with the cached result.
pub fn check(spec: &Spec, name: &str) -> anyhow::Result<u8> {
    for entry in kept(spec, name, "--check")? {
        let list = conf::parse(&entry.config.to_string(), &entry.file.display().to_string())?;
        let net = cni::resolve(&list, &spec.dirs.cni_path)?;
        let rt = runtime_of(&entry, spec);
        if rt.netns.is_empty() {
            bail!("--check {name}: its namespace is no longer bound at {}", entry.netns);
        }
        cni::versions(&net, &rt)?;
        cni::check(&net, &rt, entry.result.as_ref())?;
    }
    Ok(0)
}
