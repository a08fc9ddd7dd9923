//! nsexec's command line: util-linux `unshare` flags for namespaces, Docker's names for the rest.
//! Two stages (ripgrep's lowargs -> hiargs): clap's struct, then `into_spec()` that turns
//! strings into checked values and checks flags against each other, with no kernel involved.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::bail;
use clap::Parser;
use isolab_core::cli::Explain;
use isolab_core::creds::{self, Creds, UserSpec};
use isolab_core::idmap::{self, Setgroups};
use isolab_core::mount::{self, Bind, Propagation};
use isolab_core::ns::{self, Kind};
use isolab_core::process;

use crate::confine;
use crate::launch::{MapRequest, Spec};

const EXAMPLES: &str = "\
EXAMPLES:
  Every namespace, root mapped to host uid 100000 (Docker userns-remap), the host's root
  read-only with a fresh /proc, a minimal /dev and a tmpfs /tmp:
    nsexec -a --map-users 0:100000:65536 --map-groups 0:100000:65536 --hostname demo \\
           --rootfs / --read-only --tmpfs /tmp -- sh -c 'id; hostname; ps aux'

  The article, experiment 1: root in a container is root on the host (/mnt: any existing
  directory; nsexec makes mount points only inside a --rootfs or on a --tmpfs, never on the host).
    nsexec --mount --bind /bin:/mnt -- rm -f /mnt/touch.bak              # succeeds
  Experiment 2: Docker --user 1000:1000.
    nsexec --mount --bind /bin:/mnt --user-id 1000:1000 -- rm -f /mnt/touch.bak  # denied
  Experiment 3: the user-namespace remap; id says root, the host says no.
    nsexec --user --map-users 0:100000:65536 --map-groups 0:100000:65536 --mount \\
           --bind /bin:/mnt -- sh -c 'id; rm -f /mnt/touch.bak'          # uid=0, Permission denied
  Experiment 4: a network namespace has only lo, and it is up.
    nsexec --net -- ip addr
  Experiment 5: a PID namespace; ps sees PID 1 and itself.
    nsexec --pid --mount -- ps aux

  A container, confined as docker run confines one: Docker's 14 capabilities, its seccomp
  profile, masked /proc paths, a read-only /sys, its own cgroups only (--privileged: none of it):
    cgexec-rs --memory 100m -- nsexec -m -p -n -u -i -C --rootfs ./rootfs -- sh
    nsexec -m -p --rootfs ./rootfs --cap-add NET_ADMIN --security-opt seccomp=profile.json -- sh

  Keep a network namespace for later (enter it with nsenter-lite --ns-file net=/run/demo.net):
    touch /run/demo.net && nsexec --net=/run/demo.net -- true

  Show every step the kernel is asked to take:
    nsexec --explain --pid --mount -- true

EXIT STATUS:
  the command's own status; 128+N when it died of signal N; 125 when nsexec itself failed
  (bad flag, set-up refused by the kernel); 126 when the command cannot be executed;
  127 when it is not found.";

/// nsexec's words for each namespace flag, in the order --help lists them (util-linux unshare's).
const NEW: [(&Kind, &str); 8] = [
    (&ns::USER, "New user namespace"),
    (&ns::MNT, "New mount namespace"),
    (&ns::PID, "New PID namespace: the command is its PID 1"),
    (&ns::NET, "New network namespace, with lo up"),
    (&ns::UTS, "New UTS namespace (host and domain name)"),
    (&ns::IPC, "New IPC namespace"),
    (&ns::CGROUP, "New cgroup namespace"),
    (&ns::TIME, "New time namespace"),
];

/// The namespace flags `-U -m -p -n -u -i -C -T`, made from core's kind table: each takes an
/// optional `=FILE` to persist the new namespace on (`unshare --net=FILE`).
#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    given: Vec<(&'static Kind, String)>,
}

impl Namespaces {
    /// The flag's FILE (empty when given without one), or `None` when the flag was not given.
    fn given(&self, kind: &Kind) -> Option<&str> {
        self.given.iter().find(|(k, _)| *k == kind).map(|(_, file)| file.as_str())
    }
}

impl clap::FromArgMatches for Namespaces {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let given = NEW.iter().filter_map(|(k, _)| Some((*k, matches.get_one::<String>(k.long)?.clone()))).collect();
        Ok(Namespaces { given })
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for Namespaces {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.args(NEW.iter().map(|(k, help)| {
            clap::Arg::new(k.long)
                .short(k.short)
                .long(k.long)
                .value_name("FILE")
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("")
                .help(format!("{help} [persist on FILE]"))
        }))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// Run a command in new namespaces, with its own root, ids and credentials.
#[derive(Parser, Debug)]
#[command(
    name = "nsexec",
    version,
    about = "Run a command in new namespaces (user, mount, pid, net, uts, ipc, cgroup, time)",
    long_about = "Run a command in new namespaces (user, mount, pid, net, uts, ipc, cgroup, time), \
                  set up the new world (id maps, host name, /proc, root file system, binds, credentials) \
                  and exec it. Flags follow util-linux unshare(1) for namespaces and docker-run(1) for the rest.",
    after_help = EXAMPLES,
    next_help_heading = "Namespaces",
    mut_arg("explain", |a| a.help_heading("Process"))
)]
pub struct Args {
    #[command(flatten)]
    pub namespaces: Namespaces,
    /// Every namespace kind this kernel has
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Fork even without a PID namespace
    #[arg(short = 'f', long)]
    pub fork: bool,
    /// Stay as PID 1: reap orphans, forward signals, pass the status (Docker --init)
    #[arg(long)]
    pub init: bool,
    /// Signal sent to the command if nsexec dies [default: KILL]
    #[arg(long, value_name = "SIG", num_args = 0..=1, require_equals = true, default_missing_value = "KILL")]
    pub kill_child: Option<String>,
    /// Let the command live on if nsexec dies
    #[arg(long, conflicts_with = "kill_child")]
    pub no_kill_child: bool,
    /// Seconds the command gets after a forwarded SIGTERM or SIGINT before SIGKILL, as
    /// `docker stop` does, in every mode that forks (--pid, --init, -f) (0: wait for ever)
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub stop_timeout: u32,
    /// Write the command's PID (as the caller sees it) to FILE (made empty at start, the PID
    /// written once the process is set up and confined: wait until it is not empty, `[ -s FILE ]`)
    #[arg(long, value_name = "FILE")]
    pub pidfile: Option<PathBuf>,

    /// Map the caller's uid and gid to root (implies --user)
    #[arg(short = 'r', long, alias = "map-root-user", help_heading = "User namespace")]
    pub map_root: bool,
    /// Map uids: INSIDE:OUTSIDE:COUNT, or util-linux 2.38's OUTSIDE,INSIDE,COUNT (repeatable; implies --user)
    #[arg(long, value_name = "MAP", help_heading = "User namespace")]
    pub map_users: Vec<String>,
    /// Map gids, as --map-users
    #[arg(long, value_name = "MAP", help_heading = "User namespace")]
    pub map_groups: Vec<String>,
    /// Map the caller's first /etc/subuid and /etc/subgid ranges, to 0 (implies --user)
    #[arg(long, help_heading = "User namespace")]
    pub map_auto: bool,
    /// allow or deny setgroups(2) in the new user namespace
    #[arg(long, value_name = "allow|deny", help_heading = "User namespace")]
    pub setgroups: Option<String>,

    /// Host name in the new UTS namespace
    #[arg(long, value_name = "NAME", help_heading = "The new world")]
    pub hostname: Option<String>,
    /// NIS domain name in the new UTS namespace
    #[arg(long, value_name = "NAME", help_heading = "The new world")]
    pub domainname: Option<String>,
    /// Mount a fresh proc on DIR [default: /proc; implied by --pid with --mount]
    #[arg(long, value_name = "DIR", num_args = 0..=1, require_equals = true, default_missing_value = "/proc", help_heading = "The new world")]
    pub mount_proc: Option<PathBuf>,
    /// Use DIR as the root file system (pivot_root), with a minimal /dev (needs --mount)
    #[arg(long, value_name = "DIR", help_heading = "The new world")]
    pub rootfs: Option<PathBuf>,
    /// Bind-mount SRC on DST, read-only with :ro (Docker -v; repeatable; needs --mount)
    #[arg(long, value_name = "SRC:DST[:ro]", help_heading = "The new world")]
    pub bind: Vec<String>,
    /// Mount a tmpfs on DST (repeatable; needs --mount)
    #[arg(long, value_name = "DST", help_heading = "The new world")]
    pub tmpfs: Vec<String>,
    /// Make the root file system read-only (binds and tmpfs keep their own mode)
    #[arg(long, help_heading = "The new world")]
    pub read_only: bool,
    /// Mount propagation: private, slave, shared or unchanged
    #[arg(long, value_name = "MODE", default_value = "private", help_heading = "The new world")]
    pub propagation: String,

    /// Run as UID[:GID], numbers or names from the new root's /etc/passwd (Docker --user)
    #[arg(long, value_name = "UID[:GID]", help_heading = "Credentials")]
    pub user_id: Option<String>,
    /// Supplementary groups, comma-separated
    #[arg(long, value_name = "G1,G2", value_delimiter = ',', help_heading = "Credentials")]
    pub groups: Option<Vec<String>>,
    /// Add a capability, or ALL (repeatable; with --rootfs to Docker's 14; for a non-root user
    /// it is kept across exec)
    #[arg(long, value_name = "CAP|ALL", help_heading = "Credentials")]
    pub cap_add: Vec<String>,
    /// Drop a capability, or ALL (repeatable; with --rootfs from Docker's 14)
    #[arg(long, value_name = "CAP|ALL", help_heading = "Credentials")]
    pub cap_drop: Vec<String>,
    /// Set no_new_privs: exec cannot gain privileges (setuid bits, file capabilities)
    #[arg(long, help_heading = "Credentials")]
    pub no_new_privs: bool,

    /// Working directory of the command
    #[arg(short = 'w', long, value_name = "DIR", help_heading = "Process")]
    pub workdir: Option<PathBuf>,
    /// Set an environment variable (repeatable)
    #[arg(short = 'e', long, value_name = "K=V", help_heading = "Process")]
    pub env: Vec<String>,
    /// Start from an empty environment (PATH set to the usual default)
    #[arg(long, help_heading = "Process")]
    pub clear_env: bool,
    /// Run the command in a new session, without a controlling terminal: it cannot push
    /// keystrokes into the caller's terminal (TIOCSTI, CVE-2017-5226) [default when stdin is a terminal]
    #[arg(long, help_heading = "Process", conflicts_with = "no_new_session")]
    pub new_session: bool,
    /// Keep the caller's session and terminal (job control works; see --new-session)
    #[arg(long, help_heading = "Process", conflicts_with = "tty")]
    pub no_new_session: bool,
    /// A terminal of the command's own (docker run -it): a new pty, its controlling terminal in
    /// a session of its own, relayed to ours in raw mode; input that is not a terminal is
    /// copied in and ends with EOF
    #[arg(short = 't', long, help_heading = "Process")]
    pub tty: bool,
    /// With --rootfs: pass N more descriptors from 3 on (after LISTEN_FDS ones) to the command,
    /// which otherwise gets only 0, 1 and 2 (runc's flag)
    #[arg(long, value_name = "N", help_heading = "Process")]
    pub preserve_fds: Option<u32>,
    #[command(flatten)]
    pub explain: Explain,

    #[command(flatten)]
    pub confine: confine::ConfineArgs,

    /// The command and its arguments
    #[arg(required = true, trailing_var_arg = true, value_name = "COMMAND", help_heading = "Process")]
    pub command: Vec<OsString>,
}

impl AsRef<Explain> for Args {
    fn as_ref(&self) -> &Explain {
        &self.explain
    }
}

impl Args {
    /// Turn the flags into a checked [`Spec`]; every refusal names the flag.
    pub fn into_spec(self) -> anyhow::Result<Spec> {
        let mut spec = Spec { argv: self.command.clone(), ..Spec::default() };
        for kind in &ns::KINDS {
            if let Some(file) = self.namespaces.given(kind) {
                spec.flags |= kind.flag;
                // The file becomes a mount point (a bind of the namespace), on the host.
                mount::no_control_chars(&format!("--{} file", kind.long), file)?;
                if !file.is_empty() {
                    check_ns_file(kind.long, file)?;
                    spec.persist.push((kind, PathBuf::from(file)));
                }
            } else if self.all && ns::supported(kind) {
                spec.flags |= kind.flag;
            }
        }
        spec.maps = self.map_request()?;
        if spec.maps != MapRequest::None {
            spec.flags |= ns::USER.flag;
        }
        spec.setgroups = self.setgroups.as_deref().map(Setgroups::parse).transpose()?;
        if spec.setgroups.is_some() && spec.flags & ns::USER.flag == 0 {
            // /proc/PID/setgroups belongs to a user namespace: without a new one it would be
            // the host's, which no process may change.
            bail!("--setgroups applies to a new user namespace: add -U/--user");
        }
        spec.fork = self.fork;
        spec.init = self.init;
        spec.stop_timeout = self.stop_timeout;
        spec.kill_child = if self.no_kill_child {
            None
        } else {
            Some(
                process::parse_signal(self.kill_child.as_deref().unwrap_or("KILL"))
                    .map_err(|e| anyhow::anyhow!("--kill-child: {e:#}"))?,
            )
        };
        spec.pidfile = self.pidfile.clone();
        spec.hostname = self.hostname.as_deref().map(|h| check_name("--hostname", h)).transpose()?;
        spec.domainname = self.domainname.as_deref().map(|h| check_name("--domainname", h)).transpose()?;
        if (spec.hostname.is_some() || spec.domainname.is_some()) && spec.flags & ns::UTS.flag == 0 {
            bail!("--hostname and --domainname need a UTS namespace of their own: add -u/--uts");
        }
        spec.mounts = self.mount_plan(&mut spec)?;
        spec.creds = self.creds()?;
        let new_mnt = spec.flags & ns::MNT.flag != 0;
        spec.seccomp =
            self.confine.apply(self.rootfs.is_some(), new_mnt, &self.cap_add, &mut spec.creds, &mut spec.mounts)?;
        spec.workdir = self.workdir.clone();
        spec.env = self.payload_env()?;
        if self.preserve_fds.is_some() && self.rootfs.is_none() {
            bail!("--preserve-fds goes with --rootfs: without a root of its own the command keeps every descriptor the caller gave it");
        }
        spec.preserve_fds = self.preserve_fds.unwrap_or(0);
        spec.new_session = self.new_session || (!self.no_new_session && process::stdin_is_terminal());
        spec.tty = self.tty;
        Ok(spec)
    }

    fn map_request(&self) -> anyhow::Result<MapRequest> {
        let ranges = !self.map_users.is_empty() || !self.map_groups.is_empty();
        match (self.map_root, ranges, self.map_auto) {
            (false, false, false) => Ok(MapRequest::None),
            (true, false, false) => Ok(MapRequest::Root),
            (false, false, true) => Ok(MapRequest::Auto),
            (false, true, false) => Ok(MapRequest::Ranges {
                uid: self
                    .map_users
                    .iter()
                    .map(|m| idmap::parse_extent(m).map_err(|e| anyhow::anyhow!("--map-users: {e:#}")))
                    .collect::<anyhow::Result<_>>()?,
                gid: self
                    .map_groups
                    .iter()
                    .map(|m| idmap::parse_extent(m).map_err(|e| anyhow::anyhow!("--map-groups: {e:#}")))
                    .collect::<anyhow::Result<_>>()?,
            }),
            _ => bail!("choose one of --map-root, --map-users/--map-groups and --map-auto"),
        }
    }

    fn mount_plan(&self, spec: &mut Spec) -> anyhow::Result<mount::Mounts> {
        let propagation = Propagation::parse(&self.propagation)?;
        let new_mnt = spec.flags & ns::MNT.flag != 0;
        let needs_mnt = [
            (self.rootfs.is_some(), "--rootfs"),
            (!self.bind.is_empty(), "--bind"),
            (!self.tmpfs.is_empty(), "--tmpfs"),
            (self.read_only, "--read-only"),
        ];
        if let Some((_, flag)) = needs_mnt.iter().find(|(used, _)| *used && !new_mnt) {
            bail!("{flag} needs a mount namespace of its own: add -m/--mount");
        }
        if self.mount_proc.is_some() {
            spec.flags |= ns::MNT.flag; // util-linux: --mount-proc implies --mount
        }
        let new_pid = spec.flags & ns::PID.flag != 0;
        let proc = match &self.mount_proc {
            Some(dir) => Some(mount::clean_dest(&dir.to_string_lossy(), "--mount-proc")?),
            // A new PID namespace wants its own /proc, or `ps` shows the host's processes.
            None if new_pid && new_mnt => Some(PathBuf::from("/proc")),
            None if self.rootfs.is_some() => Some(PathBuf::from("/proc")),
            None => None,
        };
        Ok(mount::Mounts {
            propagation,
            rootfs: self.rootfs.clone(),
            binds: self.bind.iter().map(|b| Bind::parse(b)).collect::<anyhow::Result<_>>()?,
            tmpfs: self.tmpfs.iter().map(|t| mount::clean_dest(t, "--tmpfs")).collect::<anyhow::Result<_>>()?,
            read_only: self.read_only,
            proc,
            dev: self.rootfs.is_some(),
            ..mount::Mounts::default()
        })
    }

    /// nsexec's own environment, or with `--clear-env` only the usual PATH; then each `--env`.
    fn payload_env(&self) -> anyhow::Result<process::Env> {
        let mut set = Vec::new();
        if self.clear_env {
            set.push(("PATH".into(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()));
        }
        for kv in &self.env {
            set.push(parse_env(kv)?);
        }
        Ok(process::Env { clear: self.clear_env, set })
    }

    fn creds(&self) -> anyhow::Result<Creds> {
        let is_all = |c: &String| c.eq_ignore_ascii_case("all");
        let drop_all = self.cap_drop.iter().any(is_all);
        // The capabilities a flag names, ALL aside (add_all, drop_all).
        let named = |flag: &str, names: &[String]| {
            names.iter().filter(|c| !is_all(c)).map(|c| cap(flag, c)).collect::<anyhow::Result<Vec<_>>>()
        };
        for g in self.groups.iter().flatten().filter_map(|g| g.parse::<u32>().ok()) {
            creds::check_id("invalid --groups", g)?;
        }
        Ok(Creds {
            user: self.user_id.as_deref().map(UserSpec::parse).transpose()?,
            groups: self.groups.clone(),
            cap_add: named("--cap-add", &self.cap_add)?,
            add_all: self.cap_add.iter().any(is_all),
            cap_drop: named("--cap-drop", &self.cap_drop)?,
            drop_all,
            no_new_privs: self.no_new_privs,
            ..Creds::default()
        })
    }
}

fn cap(flag: &str, name: &str) -> anyhow::Result<creds::Capability> {
    creds::parse_capability(name).map_err(|e| anyhow::anyhow!("{flag}: {e:#}"))
}

/// A namespace flag's FILE (`--user=FILE`) that reads as `UID[:GID]` is Docker's `--user`
/// typed where nsexec has `--user-id`: refused, or the namespace would be kept on a file of
/// that name (`./1000:1000`) and the command would run as root.
fn check_ns_file(flag: &str, file: &str) -> anyhow::Result<()> {
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let looks_like_ids = match file.split_once(':') {
        Some((u, g)) => number(u) && number(g),
        None => number(file),
    };
    if looks_like_ids {
        bail!(
            "--{flag}={file}: FILE keeps the namespace on a file; to run as {file} use --user-id {file} \
             (Docker's --user), or write ./{file} to mean a file"
        );
    }
    Ok(())
}

/// Host and domain names: 1..=64 bytes (the kernel's __NEW_UTS_LEN), no control character.
fn check_name(flag: &str, name: &str) -> anyhow::Result<String> {
    mount::no_control_chars(flag, name)?;
    if name.is_empty() || name.len() > 64 {
        bail!("invalid {flag} '{}': must be 1 to 64 bytes", name.escape_debug());
    }
    Ok(name.to_string())
}

fn parse_env(kv: &str) -> anyhow::Result<(OsString, OsString)> {
    match kv.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.into(), v.into())),
        _ => bail!("invalid --env '{kv}': expected NAME=VALUE"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(args: &[&str]) -> anyhow::Result<Spec> {
        Args::try_parse_from(std::iter::once("nsexec").chain(args.iter().copied()))?.into_spec()
    }

    fn err(args: &[&str]) -> String {
        format!("{:#}", spec(args).unwrap_err())
    }

    #[test]
    fn namespace_flags_and_persistence() {
        let s = spec(&["-U", "-p", "--net=/run/x.net", "--", "true"]).unwrap();
        assert_eq!(s.flags, ns::USER.flag | ns::PID.flag | ns::NET.flag);
        assert_eq!(s.persist.len(), 1);
        assert_eq!(s.persist[0].0.proc_name, "net");
        assert_eq!(s.argv, vec![OsString::from("true")]);
        let all = spec(&["-a", "true"]).unwrap();
        assert_eq!(all.flags & ns::MNT.flag, ns::MNT.flag);
    }

    #[test]
    fn pid_with_mount_mounts_proc() {
        assert_eq!(spec(&["-p", "-m", "ps"]).unwrap().mounts.proc, Some("/proc".into()));
        assert_eq!(spec(&["-p", "ps"]).unwrap().mounts.proc, None);
        let s = spec(&["--mount-proc", "ps"]).unwrap();
        assert_eq!(s.flags & ns::MNT.flag, ns::MNT.flag);
    }

    #[test]
    fn maps_imply_user_and_take_both_syntaxes() {
        let s = spec(&["--map-users", "0:100000:65536", "--map-groups", "100000,0,65536", "id"]).unwrap();
        assert_eq!(s.flags, ns::USER.flag);
        let MapRequest::Ranges { uid, gid } = s.maps else { panic!() };
        assert_eq!(uid, gid);
        assert_eq!(spec(&["-r", "id"]).unwrap().maps, MapRequest::Root);
    }

    #[test]
    fn a_rootfs_is_a_container_confined_as_docker() {
        let c = spec(&["-m", "--rootfs", "/", "true"]).unwrap();
        assert_eq!(c.creds.sets.unwrap().bounding, 0xa80425fb);
        assert_eq!(c.creds.sets.unwrap().inheritable, 0);
        assert!(c.seccomp.as_ref().is_some_and(|f| f.source == "Docker's default profile"));
        assert_eq!(c.mounts.masked.len(), 11);
        assert_eq!(c.mounts.readonly_paths.len(), 5);
        assert_eq!(c.mounts.sys, Some(true));
        let p = spec(&["-m", "--rootfs", "/", "--privileged", "true"]).unwrap();
        assert!(p.creds.sets.is_none() && p.seccomp.is_none() && p.mounts.masked.is_empty());
        assert_eq!(p.mounts.sys, Some(false));
        let plain = spec(&["-m", "-p", "true"]).unwrap();
        assert!(plain.creds.sets.is_none() && plain.seccomp.is_none() && plain.mounts.masked.is_empty());
        assert_eq!(plain.mounts.sys, None);
        let own = spec(&["-m", "--rootfs", "/", "--mask-path=", "--readonly-path", "/proc/sys", "true"]).unwrap();
        assert!(own.mounts.masked.is_empty());
        assert_eq!(own.mounts.readonly_paths, vec![PathBuf::from("/proc/sys")]);
        let tweaked = spec(&["-m", "--rootfs", "/", "--cap-drop", "ALL", "--cap-add", "NET_RAW", "true"]).unwrap();
        assert_eq!(tweaked.creds.sets.unwrap().bounding, 1 << 13);
        let nnp = spec(&["--security-opt", "no-new-privileges", "--security-opt", "seccomp=default", "true"]).unwrap();
        assert!(nnp.creds.no_new_privs && nnp.seccomp.is_some());
    }

    #[test]
    fn refusals_name_the_flag() {
        assert!(err(&["--rootfs", "/", "true"]).contains("--rootfs needs a mount namespace"));
        assert!(err(&["--hostname", "x", "true"]).contains("add -u/--uts"));
        assert!(err(&["-u", "--hostname", &"h".repeat(65), "true"]).contains("--hostname"));
        assert!(err(&["--map-users", "0:1:0", "true"]).contains("--map-users"));
        assert!(err(&["-r", "--map-auto", "true"]).contains("choose one"));
        assert!(err(&["--cap-add", "FLY", "true"]).contains("--cap-add"));
        assert!(err(&["-m", "--bind", "/a:b", "true"]).contains("--bind"));
        assert!(err(&["--setgroups", "maybe", "true"]).contains("--setgroups"));
        assert!(err(&["-e", "=x", "true"]).contains("--env"));
        assert!(err(&["--kill-child=NOPE", "true"]).contains("NOPE"));
        assert!(err(&["--user-id", "4294967295", "true"]).contains("(uid_t)-1"));
        assert!(err(&["--preserve-fds", "2", "true"]).contains("--preserve-fds goes with --rootfs"));
        assert!(err(&["--groups", "0,4294967295", "true"]).contains("--groups"));
        assert!(spec(&["-U"]).is_err(), "a command is required");
        assert!(err(&["-u", "--setgroups", "deny", "true"]).contains("--setgroups applies to a new user namespace"));
    }

    // Docker's `--user=1000:1000` typed as nsexec's namespace flag: a hint, not a file `1000:1000`.
    #[test]
    fn ids_as_a_namespace_file_point_to_user_id() {
        for (arg, flag) in
            [("--user=1000:1000", "--user=1000:1000"), ("--user=0", "--user=0"), ("--net=1000", "--net=1000")]
        {
            let e = err(&[arg, "id"]);
            assert!(e.starts_with(&format!("{flag}: FILE keeps the namespace on a file")), "{e}");
            assert!(e.contains("use --user-id"), "{e}");
        }
        assert_eq!(spec(&["--user=./1000:1000", "id"]).unwrap().persist.len(), 1);
        assert_eq!(spec(&["--net=/run/1000.net", "id"]).unwrap().persist.len(), 1);
    }

    // Docker accepts --cap-add ALL: every capability, less what --cap-drop names.
    #[test]
    fn cap_add_all_is_docker_s() {
        let s = spec(&["--cap-add", "ALL", "--cap-drop", "NET_RAW", "true"]).unwrap();
        assert!(s.creds.add_all && s.creds.cap_add.is_empty());
        assert_eq!(s.creds.cap_drop, vec![creds::Capability::CAP_NET_RAW]);
        assert!(spec(&["--cap-add", "all", "true"]).unwrap().creds.add_all);
    }
}
