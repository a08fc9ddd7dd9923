//! The container's last stage, run from the sealed memfd after nsexec (create) or nsenter-lite
//! (exec) has set up the world: what no tool does, then exec process.args.
//!
//! In order: the loader's descriptors closed; the terminal (process.terminal: a pty made from
//! the container's own /dev/ptmx, its master sent to the engine's console socket, the slave
//! made the controlling terminal and stdio, as runc does); the umask; for `exec`, the working
//! directory, the user and the process's capability sets (for `create` nsexec did those);
//! "ready" on the sync socket, then exec.fifo opened for writing, which blocks until `start`
//! opens it for reading (runc's create/start split); then every descriptor but 0-2 and the
//! preserved ones close-on-exec, and exec.

use anyhow::{anyhow, Context as _};
use isolab_core::capabilities::{self, Mask};
use isolab_core::process::handoff::{self, take_inherited};
use isolab_core::process::{self, FdSender};
use isolab_core::trace::{self, Step};
use isolab_core::{creds, pty};

use crate::args::InitOpts;

pub fn run(o: InitOpts) -> anyhow::Result<u8> {
    for &fd in &o.loader_fds {
        drop(take_inherited(fd, "--loader-fds")?); // the host's library directory: not one moment longer
    }
    if let Some(fd) = o.console_fd {
        let socket = FdSender::from(take_inherited(fd, "--console-fd")?);
        let slave = pty::allocate(&socket).context("process.terminal")?;
        drop(socket);
        pty::attach(slave).context("process.terminal")?;
    }
    if let Some(mask) = &o.umask {
        let bits = u32::from_str_radix(mask, 8).map_err(|_| anyhow!("--umask {mask:?}: not octal"))?;
        handoff::set_umask(bits);
    }
    if let Some(cwd) = &o.cwd {
        trace::run_io(Step::Chdir(cwd.into()), || std::env::set_current_dir(cwd)).context("process.cwd")?;
    }
    if let Some(user) = &o.user {
        switch_user(&o, user).context("process.user")?;
    }
    if let Some(sets) = &o.caps {
        lower_capabilities(sets).context("process.capabilities")?;
    }
    if let Some(sync) = o.sync_fd {
        handoff::say_ready(take_inherited(sync, "--sync-fd")?)?;
    }
    if let Some(fifo) = o.fifo_fd {
        trace::note("the program waits on exec.fifo until `isolab-oci start`");
        handoff::pass_fifo(take_inherited(fifo, "--fifo-fd")?).context("exec.fifo")?;
    }
    process::close_on_exec_from(3 + o.preserve_fds)?;
    let argv: Vec<std::ffi::OsString> = o.args.iter().map(Into::into).collect();
    let env = match o.unset_explain {
        // The trace was for the chain; the user's program runs without it (its stderr is the user's).
        true => process::Env { clear: true, set: std::env::vars_os().filter(|(k, _)| k != trace::ENV).collect() },
        false => process::Env::default(),
    };
    Err(process::exec(&argv, &env))
}

/// `exec`'s user switch (nsenter-lite joined as root): the bounding set first, while CAP_SETPCAP
/// is held, then groups, gid and uid with PR_SET_KEEPCAPS when the process file gives
/// capabilities; the sets are lowered afterwards.
fn switch_user(o: &InitOpts, user: &str) -> anyhow::Result<()> {
    let bad = || anyhow!("process.user {user:?}: expected UID:GID");
    let (uid, gid) = user.split_once(':').ok_or_else(bad)?;
    let (uid, gid): (u32, u32) = (uid.parse().map_err(|_| bad())?, gid.parse().map_err(|_| bad())?);
    if let Some(bounding) = &o.bounding {
        let keep = mask_of(bounding.split(',').filter(|c| !c.is_empty()))?;
        if capabilities::bounding() & !keep != 0 {
            capabilities::limit_bounding(keep).context("process.capabilities.bounding")?;
        }
    }
    let groups: Vec<u32> = o
        .groups
        .iter()
        .map(|g| g.parse().map_err(|_| anyhow!("process.user.additionalGids: {g:?}")))
        .collect::<anyhow::Result<_>>()?;
    if creds::setgroups_allowed() {
        creds::set_groups(&groups)?;
    }
    if uid != 0 && o.caps.is_some() {
        creds::keep_capabilities()?;
    }
    creds::set_gid(gid)?;
    creds::set_uid(uid)?;
    if o.no_new_privs {
        creds::set_no_new_privs()?;
    }
    Ok(())
}

fn mask_of<'a>(names: impl Iterator<Item = &'a str>) -> anyhow::Result<Mask> {
    let caps = names.map(creds::parse_capability).collect::<anyhow::Result<Vec<_>>>()?;
    Ok(capabilities::mask_of(caps.iter()))
}

/// Parse `e=A,B;p=...;i=...;a=...` into the four sets: effective, permitted, inheritable, ambient.
pub fn parse_sets(spec: &str) -> anyhow::Result<[Mask; 4]> {
    let mut out = [0; 4];
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
        out[slot] = mask_of(list.split(',').filter(|c| !c.is_empty()))?;
    }
    Ok(out)
}

/// Lower the sets to exactly the process's (within what is held): effective, permitted and
/// inheritable in one capset, then ambient (which must be in permitted and inheritable).
fn lower_capabilities(spec: &str) -> anyhow::Result<()> {
    let [effective, permitted, inheritable, ambient] = parse_sets(spec)?;
    let (_, held, held_inheritable) = capabilities::capget()?;
    let permitted = permitted & held;
    let inheritable = inheritable & (held | held_inheritable);
    capabilities::capset(effective & permitted, permitted, inheritable)?;
    capabilities::set_ambient(ambient & permitted & inheritable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use isolab_core::creds::Capability;

    #[test]
    fn capability_sets_parse() {
        let [e, p, i, a] = parse_sets("e=CAP_KILL;p=CAP_KILL,CAP_CHOWN;i=;a=").unwrap();
        assert_eq!(e, capabilities::mask_of([Capability::CAP_KILL].iter()));
        assert_eq!(p.count_ones(), 2);
        assert!(i == 0 && a == 0);
        assert!(parse_sets("x=CAP_KILL").is_err());
        assert!(parse_sets("e=CAP_FLY").is_err());
    }
}
