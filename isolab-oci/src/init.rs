//! The container's last stage, run from the sealed memfd after nsexec (create) or nsenter-lite
//! (exec) has set up the world: what no tool does yet, then exec process.args.
//!
//! In order: the terminal (setsid + TIOCSCTTY), the umask, "ready" on the sync socket, then
//! open exec.fifo for writing, which blocks until `start` opens it for reading (runc's create /
//! start split); then every descriptor but 0-2 and the preserved ones close-on-exec, the
//! capability sets lowered to the config's exact sets (nsexec set the bounding set), and exec.

use std::collections::HashSet;
use std::io::Write as _;

use anyhow::{anyhow, Context as _};
use caps::{CapSet, Capability};
use isolab_core::trace::{self, Step};

use crate::args::InitOpts;
use crate::channel;

pub fn run(o: InitOpts) -> anyhow::Result<u8> {
    for &fd in &o.loader_fds {
        drop(channel::owned(fd)); // the host's library directory: not one moment longer
    }
    if o.unset_explain {
        std::env::remove_var("ISOLAB_EXPLAIN");
    }
    if o.tty {
        isolab_core::pty::make_controlling(&std::io::stdin()).context("process.terminal")?;
    }
    if let Some(mask) = &o.umask {
        let bits = u32::from_str_radix(mask, 8).map_err(|_| anyhow!("--umask {mask:?}: not octal"))?;
        trace::explain(&Step::Call(format!("umask(0{bits:o})")), None);
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(bits));
    }
    if let Some(cwd) = &o.cwd {
        trace::run(Step::Chdir(cwd.into()), || nix::unistd::chdir(cwd.as_str())).context("process.cwd")?;
    }
    if let Some(sync) = o.sync_fd {
        channel::send_ready(sync)?;
        drop(channel::owned(sync));
    }
    if let Some(fifo) = o.fifo_fd {
        wait_for_start(fifo)?;
    }
    channel::close_on_exec_from(3 + o.preserve_fds as i32)?;
    if let Some(user) = &o.user {
        switch_user(&o, user).context("process.user")?;
    }
    if let Some(sets) = &o.caps {
        lower_capabilities(sets).context("process.capabilities")?;
    }
    let argv: Vec<std::ffi::OsString> = o.args.iter().map(Into::into).collect();
    Err(isolab_core::process::exec(&argv))
}

/// The user switch, in this stage rather than through nsexec's --user-id: nsexec (main) drops
/// the bounding set after setuid, when a non-root user no longer holds CAP_SETPCAP (EPERM). Here:
/// the bounding set first (exec; nsexec did it for create), then groups, gid and uid with
/// PR_SET_KEEPCAPS when the config gives capabilities; the sets are lowered afterwards.
fn switch_user(o: &InitOpts, user: &str) -> anyhow::Result<()> {
    let bad = || anyhow!("process.user {user:?}: expected UID:GID");
    let (uid, gid) = user.split_once(':').ok_or_else(bad)?;
    let (uid, gid): (u32, u32) = (uid.parse().map_err(|_| bad())?, gid.parse().map_err(|_| bad())?);
    if let Some(bounding) = &o.bounding {
        let keep: HashSet<Capability> = bounding
            .split(',')
            .filter(|c| !c.is_empty())
            .map(isolab_core::creds::parse_capability)
            .collect::<anyhow::Result<_>>()?;
        let held = caps::read(None, CapSet::Bounding).unwrap_or_default();
        for cap in held.difference(&keep) {
            trace::explain(&Step::Capset(format!("PR_CAPBSET_DROP, {cap}")), None);
            caps::drop(None, CapSet::Bounding, *cap).map_err(|e| anyhow!("process.capabilities.bounding: {e}"))?;
        }
    }
    let groups: Vec<u32> = o
        .groups
        .iter()
        .map(|g| g.parse().map_err(|_| anyhow!("process.user.additionalGids: {g:?}")))
        .collect::<anyhow::Result<_>>()?;
    if isolab_core::creds::setgroups_allowed() {
        isolab_core::creds::set_groups(&groups)?;
    }
    if uid != 0 && o.caps.is_some() {
        trace::run(Step::Prctl("PR_SET_KEEPCAPS, 1".into()), || nix::sys::prctl::set_keepcaps(true))?;
    }
    isolab_core::creds::set_gid(gid)?;
    isolab_core::creds::set_uid(uid)?;
    if o.no_new_privs {
        trace::run(Step::Prctl("PR_SET_NO_NEW_PRIVS, 1".into()), nix::sys::prctl::set_no_new_privs)?;
    }
    Ok(())
}

/// Block until `start` opens exec.fifo, then say so with one byte.
fn wait_for_start(fifo: i32) -> anyhow::Result<()> {
    let path = format!("/proc/self/fd/{fifo}");
    trace::note("the program waits on exec.fifo until `isolab-oci start`");
    // std opens close-on-exec; the open blocks until a reader (start) exists.
    let mut file =
        trace::run_io(Step::Open(path.clone().into()), || std::fs::OpenOptions::new().write(true).open(&path))?;
    file.write_all(b"0").context("writing exec.fifo")?;
    drop(file);
    drop(channel::owned(fifo));
    Ok(())
}

/// Parse `e=A,B;p=...;i=...;a=...` into the four sets.
pub fn parse_sets(spec: &str) -> anyhow::Result<[HashSet<Capability>; 4]> {
    let mut out: [HashSet<Capability>; 4] = Default::default();
    for part in spec.split(';') {
        let (name, list) =
            part.split_once('=').ok_or_else(|| anyhow!("--caps {spec:?}: expected e=...;p=...;i=...;a=..."))?;
        let slot = match name {
            "e" => 0,
            "p" => 1,
            "i" => 2,
            "a" => 3,
            _ => anyhow::bail!("--caps: unknown set {name:?}"),
        };
        for cap in list.split(',').filter(|c| !c.is_empty()) {
            out[slot].insert(isolab_core::creds::parse_capability(cap)?);
        }
    }
    Ok(out)
}

/// Lower the sets to exactly the config's: inheritable while permitted is still wide, then
/// permitted and effective, then ambient (which must be in both).
fn lower_capabilities(spec: &str) -> anyhow::Result<()> {
    let [effective, permitted, inheritable, ambient] = parse_sets(spec)?;
    let step = |what: &str, r: Result<(), caps::errors::CapsError>| -> anyhow::Result<()> {
        trace::explain(&Step::Capset(what.to_string()), None);
        r.map_err(|e| anyhow!("{what}: {e}"))
    };
    let held = caps::read(None, CapSet::Permitted).unwrap_or_default();
    step("inheritable", caps::set(None, CapSet::Inheritable, &inheritable.intersection(&held).copied().collect()))?;
    let permitted: HashSet<Capability> = permitted.intersection(&held).copied().collect();
    step("effective", caps::set(None, CapSet::Effective, &effective.intersection(&permitted).copied().collect()))?;
    step("permitted", caps::set(None, CapSet::Permitted, &permitted))?;
    step("ambient", caps::clear(None, CapSet::Ambient))?;
    for cap in ambient.iter().filter(|c| permitted.contains(c) && inheritable.contains(c)) {
        step(&format!("ambient +{cap}"), caps::raise(None, CapSet::Ambient, *cap))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_sets_parse() {
        let [e, p, i, a] = parse_sets("e=CAP_KILL;p=CAP_KILL,CAP_CHOWN;i=;a=").unwrap();
        assert_eq!(e, HashSet::from([Capability::CAP_KILL]));
        assert_eq!(p.len(), 2);
        assert!(i.is_empty() && a.is_empty());
        assert!(parse_sets("x=CAP_KILL").is_err());
        assert!(parse_sets("e=CAP_FLY").is_err());
    }
}
