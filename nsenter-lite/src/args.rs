//! nsenter-lite's command line: clap's flags, then `into_spec()` to the checked [`Spec`].
//! The namespace flags (`-U -m -p -n -u -i -C -T`) come from the kind table in core.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::{ArgAction, Parser};
use isolab_core::cgroup;
use isolab_core::cli::Explain;
use isolab_core::ns::{self, Flags, KINDS};
use isolab_core::process;

use crate::join::{NsFile, Spec, TargetRef};

const ABOUT: &str = "Run a command inside the namespaces of a running process, or of namespace files";

const LONG_ABOUT: &str = "\
Run COMMAND inside the namespaces of a running process: its network (docker run --net=container:X), \
its PIDs (--pid=container:X), its mounts, and so on. The target is pinned with a pidfd before \
anything is read about it, and joined with one setns(pidfd, flags) where the kernel allows \
(Linux 5.8), so every namespace comes from that one process even if its PID is reused. Otherwise \
the /proc/PID/ns files are entered one by one, user namespace first or last as util-linux \
nsenter does. Joining a PID or time namespace forks, so that the command is inside; nsenter-lite \
then forwards signals and exits with the command's status.";

const AFTER_HELP: &str = "\
EXAMPLES:
  Fetch a page from a server that listens on 127.0.0.1 in its own network namespace:
    nsenter-lite -t 4242 --net -- wget -qO- http://127.0.0.1:8080/
  See the processes of a container (its PID namespace, with its /proc):
    nsenter-lite -t 4242 --pid --mount -- ps aux
  Everything that differs from ours, and a trace of each setns:
    nsenter-lite --explain -t 4242 -a -- sh
  A network namespace kept by a bind mount (unshare --net=FILE, ip netns add):
    nsenter-lite --ns-file net=/run/netns/blue -- ip addr
  docker exec: a shell in a named container, confined as the container is (its capabilities,
  no_new_privs and seccomp filters); --privileged for one with nsenter-lite's own capabilities:
    nsenter-lite --container web -a --tty -- sh
    nsenter-lite --container web -a --privileged -- ip link set eth0 mtu 1400

CONFINEMENT:
  With a target process, the command gets its confinement: the target's bounding, inheritable
  and ambient capability sets (/proc/PID/status; execve then gives a root command the bounding
  set), its no_new_privs, and its seccomp filters: copied exactly when run as root
  (PTRACE_SECCOMP_GET_FILTER, which stops the target for a few microseconds), else Docker's
  default profile for its bounding set. --privileged leaves all of it out.

EXIT STATUS:
  the command's own status; 128+N when it died of signal N;
  125 when nsenter-lite failed (bad flag, no such target, the kernel refused a setns);
  126 when COMMAND cannot be executed; 127 when it is not found.";

#[derive(Parser, Debug)]
#[command(name = "nsenter-lite", version, about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
#[command(group(clap::ArgGroup::new("who").args(["target", "container", "pidfile"])))]
#[command(mut_arg("explain", |a| a.help("Print every kernel step (setns with each namespace's inode) on stderr")))]
pub struct Args {
    /// The target process
    #[arg(short = 't', long = "target", value_name = "PID", value_parser = clap::value_parser!(i32).range(1..))]
    target: Option<i32>,
    /// The target is the oldest process of the group `cgexec-rs --name NAME` made
    #[arg(long, value_name = "NAME")]
    container: Option<String>,
    /// Where to look for --container's group (as given to cgexec-rs)
    #[arg(long = "cgroup-parent", value_name = "PATH")]
    cgroup_parent: Option<String>,
    /// With --container: stay in our own cgroups (by default the command joins the group, as
    /// `docker exec` does, so the group's limits and cgstat cover it)
    #[arg(long, requires = "container")]
    no_join_cgroup: bool,
    /// The target is the process whose PID this file holds
    #[arg(long, value_name = "FILE")]
    pidfile: Option<PathBuf>,
    /// Enter the namespace of KIND (net, mnt, ...) that FILE names (a bind mount of /proc/PID/ns/KIND)
    #[arg(long = "ns-file", value_name = "KIND=FILE")]
    ns_file: Vec<String>,
    /// Enter every namespace of the target that differs from ours
    #[arg(short = 'a', long)]
    all: bool,
    /// chroot to the target's root directory
    #[arg(short = 'r', long)]
    root: bool,
    /// chdir to the target's working directory
    #[arg(short = 'w', long)]
    wd: bool,
    /// Keep our uid, gid and groups when entering a user namespace (default: become 0/0 in it)
    #[arg(long)]
    preserve_credentials: bool,
    /// Run COMMAND as UID and GID (default GID 0) after joining
    #[arg(long = "user-id", value_name = "UID[:GID]")]
    user_id: Option<String>,
    /// Join through the /proc/PID/ns files one by one, as on kernels before 5.8
    #[arg(long)]
    no_pidfd: bool,
    /// A terminal of the command's own (docker exec -it): a new pty from the joined /dev/ptmx,
    /// its controlling terminal in a session of its own, relayed to ours in raw mode
    #[arg(long)]
    tty: bool,
    /// Leave out the target's confinement: the command keeps nsenter-lite's capabilities and
    /// gets no seccomp filter (by default it gets the target's bounding, inheritable and ambient
    /// capabilities, no_new_privs and seccomp filters, as docker exec gives a container's)
    #[arg(long)]
    privileged: bool,
    /// Run the command in a new session, without a controlling terminal: it cannot push
    /// keystrokes into the caller's terminal (TIOCSTI, CVE-2017-5226) [default when stdin is a terminal]
    #[arg(long, conflicts_with = "no_new_session")]
    new_session: bool,
    /// Keep the caller's session and terminal (job control works; see --new-session)
    #[arg(long)]
    no_new_session: bool,
    /// In another root (a joined mount namespace, --root): pass N more descriptors from 3 on to
    /// the command, which otherwise gets only 0, 1 and 2 (runc exec's flag)
    #[arg(long, value_name = "N")]
    preserve_fds: Option<u32>,
    #[command(flatten)]
    explain: Explain,
    /// The command to run (default: $SHELL, or /bin/sh)
    #[arg(value_name = "COMMAND", trailing_var_arg = true)]
    command: Vec<OsString>,
    #[command(flatten)]
    kinds: Kinds,
}

impl AsRef<Explain> for Args {
    fn as_ref(&self) -> &Explain {
        &self.explain
    }
}

/// The namespace flags `-U -m -p -n -u -i -C -T`, one per kind of core's table, as CLONE_NEW* bits.
#[derive(Debug, Clone, Copy, Default)]
struct Kinds(Flags);

impl clap::FromArgMatches for Kinds {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Ok(Kinds(KINDS.iter().filter(|k| matches.get_flag(k.long)).fold(0, |acc, k| acc | k.flag)))
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for Kinds {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.args(KINDS.iter().map(|k| {
            clap::Arg::new(k.long)
                .short(k.short)
                .long(k.long)
                .action(ArgAction::SetTrue)
                .help_heading("Namespaces")
                .help(format!("Enter the target's {} namespace ({})", k.proc_name, k.man))
        }))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl Args {
    /// Check the flags against each other and turn strings into typed values.
    pub fn into_spec(self) -> anyhow::Result<Spec> {
        let kinds = self.kinds.0;
        let raw = self;
        let files = ns_files(&raw.ns_file)?;
        if raw.cgroup_parent.is_some() && raw.container.is_none() {
            bail!("--cgroup-parent only says where --container looks: give --container NAME too");
        }
        let target = match (raw.target, raw.pidfile, raw.container) {
            (Some(pid), ..) => Some(TargetRef::Pid(pid)),
            (_, Some(file), _) => Some(TargetRef::PidFile(file)),
            (.., Some(name)) => {
                Some(TargetRef::Container { name: checked_name(&name)?, parent: checked_parent(raw.cgroup_parent)? })
            }
            _ => None,
        };
        let from_files = files.iter().fold(0, |acc, f| acc | f.kind.flag);
        if target.is_none() {
            need_target(kinds & !from_files, raw.all, raw.root, raw.wd, files.is_empty())?;
        } else if !raw.all && kinds == 0 && files.is_empty() && !raw.root && !raw.wd {
            bail!("nothing to join: give -a or namespace flags (-U -m -p -n -u -i -C -T)");
        }
        let user_id = raw.user_id.as_deref().map(parse_user_id).transpose()?;
        if user_id.is_some() && raw.preserve_credentials {
            bail!("--user-id and --preserve-credentials contradict each other: choose one");
        }
        Ok(Spec {
            target,
            kinds,
            all: raw.all,
            files,
            root: raw.root,
            wd: raw.wd,
            preserve_credentials: raw.preserve_credentials,
            user_id,
            pidfd: !raw.no_pidfd,
            join_cgroup: !raw.no_join_cgroup,
            tty: raw.tty,
            confine: !raw.privileged,
            preserve_fds: raw.preserve_fds.unwrap_or(0),
            // With --tty the command gets a session of its own with the new terminal anyway.
            new_session: !raw.tty && (raw.new_session || (!raw.no_new_session && process::stdin_is_terminal())),
            command: if raw.command.is_empty() { vec![default_shell()] } else { raw.command },
        })
    }
}

fn need_target(kinds: Flags, all: bool, root: bool, wd: bool, no_files: bool) -> anyhow::Result<()> {
    const TARGETS: &str = "-t PID, --pidfile FILE or --container NAME";
    if let Some(k) = ns::kinds_in(kinds).next() {
        bail!("--{} needs a target ({TARGETS}) or --ns-file {}=FILE", k.long, k.proc_name);
    }
    if all || root || wd {
        let flag = if all {
            "--all"
        } else if root {
            "--root"
        } else {
            "--wd"
        };
        bail!("{flag} needs a target ({TARGETS})");
    }
    if no_files {
        bail!("no target: give {TARGETS}, or --ns-file KIND=FILE");
    }
    Ok(())
}

/// `--ns-file KIND=FILE`, each kind at most once.
fn ns_files(values: &[String]) -> anyhow::Result<Vec<NsFile>> {
    let mut files: Vec<NsFile> = Vec::new();
    for value in values {
        let (name, path) = value
            .split_once('=')
            .with_context(|| format!("--ns-file {value:?}: expected KIND=FILE, e.g. net=/run/netns/blue"))?;
        let kind = ns::kind_by_name(name).filter(|_| name.len() > 1).with_context(|| {
            let names: Vec<&str> = KINDS.iter().map(|k| k.proc_name).collect();
            format!("--ns-file {value:?}: unknown namespace kind {name:?} (one of {})", names.join(", "))
        })?;
        if path.is_empty() {
            bail!("--ns-file {value:?}: no file after '='");
        }
        if files.iter().any(|f| f.kind == kind) {
            bail!("--ns-file {value:?}: a {} namespace file is given twice", kind.proc_name);
        }
        files.push(NsFile { kind, path: path.into() });
    }
    Ok(files)
}

/// `UID[:GID]`, numeric (names would be looked up in the host's /etc/passwd, not the target's).
fn parse_user_id(value: &str) -> anyhow::Result<(u32, u32)> {
    let number = |s: &str| s.parse::<u32>().ok().filter(|&n| isolab_core::creds::check_id("--user-id", n).is_ok());
    let parsed = match value.split_once(':') {
        Some((u, g)) => number(u).zip(number(g)),
        None => number(value).map(|u| (u, 0)),
    };
    parsed.with_context(|| format!("--user-id {value:?}: expected UID or UID:GID, numbers below 4294967295"))
}

/// Group names as cgexec-rs checks them (DESIGN.md): `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 255 (NAME_MAX).
fn checked_name(name: &str) -> anyhow::Result<String> {
    cgroup::validate_name(name).context("--container")?;
    Ok(name.to_string())
}

fn checked_parent(parent: Option<String>) -> anyhow::Result<Option<String>> {
    if let Some(p) = &parent {
        cgroup::validate_parent(p).context("--cgroup-parent")?;
    }
    Ok(parent)
}

fn default_shell() -> OsString {
    std::env::var_os("SHELL").filter(|s| !s.is_empty()).unwrap_or_else(|| "/bin/sh".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn spec(args: &[&str]) -> anyhow::Result<Spec> {
        let argv = std::iter::once("nsenter-lite").chain(args.iter().copied());
        Args::try_parse_from(argv)?.into_spec()
    }

    fn flag(name: &str) -> Flags {
        ns::kind_by_name(name).unwrap().flag
    }

    fn err(args: &[&str]) -> String {
        format!("{:#}", spec(args).unwrap_err())
    }

    #[test]
    fn flags_come_from_the_kind_table() {
        let s = spec(&["-t", "42", "-n", "--pid", "-U", "--", "ip", "a"]).unwrap();
        assert_eq!(s.kinds, flag("net") | flag("pid") | flag("user"));
        assert_eq!(s.target, Some(TargetRef::Pid(42)));
        assert_eq!(s.command, ["ip", "a"]);
        assert!(s.pidfd);
        let s = spec(&["-t", "42", "-mT", "true"]).unwrap();
        assert_eq!(s.kinds, flag("mnt") | flag("time"));
        assert!(s.confine, "the target's confinement by default");
        assert!(!spec(&["-t", "42", "-a", "--privileged", "true"]).unwrap().confine);
    }

    #[test]
    fn command_flags_stay_with_the_command() {
        let s = spec(&["-t", "1", "-a", "ls", "-l", "-n"]).unwrap();
        assert_eq!(s.command, ["ls", "-l", "-n"]);
        assert_eq!(s.kinds, 0);
        assert!(s.all);
    }

    #[test]
    fn session_and_descriptors_for_the_command() {
        assert!(spec(&["-t", "1", "-a", "--new-session", "true"]).unwrap().new_session);
        assert!(!spec(&["-t", "1", "-a", "--no-new-session", "true"]).unwrap().new_session);
        assert!(err(&["-t", "1", "-a", "--new-session", "--no-new-session", "true"]).contains("cannot be used with"));
        assert_eq!(spec(&["-t", "1", "-a", "--preserve-fds", "2", "true"]).unwrap().preserve_fds, 2);
        assert_eq!(spec(&["-t", "1", "-a", "true"]).unwrap().preserve_fds, 0);
    }

    #[test]
    fn default_command_is_a_shell() {
        let s = spec(&["-t", "1", "-a"]).unwrap();
        assert_eq!(s.command.len(), 1);
    }

    #[test]
    fn ns_files_name_a_kind_once() {
        let s = spec(&["--ns-file", "net=/run/netns/x", "--ns-file", "mount=/m", "true"]).unwrap();
        assert_eq!(s.files.len(), 2);
        assert_eq!(s.files[1].kind.proc_name, "mnt");
        assert_eq!(s.target, None);
        assert!(err(&["--ns-file", "bogus=/x", "true"]).contains("unknown namespace kind \"bogus\""));
        assert!(err(&["--ns-file", "n=/x", "true"]).contains("unknown namespace kind"));
        assert!(err(&["--ns-file", "net", "true"]).contains("expected KIND=FILE"));
        assert!(err(&["--ns-file", "net=", "true"]).contains("no file"));
        assert!(err(&["--ns-file", "net=/a", "--ns-file", "net=/b", "true"]).contains("given twice"));
    }

    #[test]
    fn a_target_is_needed_for_what_comes_from_one() {
        assert!(err(&["true"]).starts_with("no target"));
        assert!(err(&["-n", "true"]).contains("--net needs a target"));
        assert!(err(&["-a", "true"]).contains("--all needs a target"));
        assert!(err(&["--ns-file", "net=/x", "-r", "true"]).contains("--root needs a target"));
        // The file covers the flag.
        assert!(spec(&["--ns-file", "net=/x", "-n", "true"]).is_ok());
        assert!(err(&["-t", "1", "true"]).starts_with("nothing to join"));
    }

    #[test]
    fn targets_are_exclusive_and_checked() {
        assert!(err(&["-t", "1", "--pidfile", "/p", "-a"]).contains("cannot be used with"));
        assert!(err(&["-t", "0", "-a"]).contains("0"));
        assert!(err(&["-t", "abc", "-a"]).contains("abc"));
        assert!(err(&["--container", "../x", "-a"]).contains("--container: invalid name"));
        assert!(err(&["--container", "web", "--cgroup-parent", "a/../b", "-a"])
            .contains("--cgroup-parent: invalid cgroup parent"));
        assert!(err(&["--cgroup-parent", "/x", "-t", "1", "-a"]).contains("--container"));
        let s = spec(&["--container", "web", "--cgroup-parent", "isolab", "-n", "true"]).unwrap();
        assert_eq!(s.target, Some(TargetRef::Container { name: "web".into(), parent: Some("isolab".into()) }));
        let s = spec(&["--pidfile", "/run/x.pid", "-n", "true"]).unwrap();
        assert_eq!(s.target, Some(TargetRef::PidFile("/run/x.pid".into())));
    }

    #[test]
    fn user_ids() {
        assert_eq!(parse_user_id("1000:1000").unwrap(), (1000, 1000));
        assert_eq!(parse_user_id("7").unwrap(), (7, 0));
        for bad in ["", "x", "1:", ":1", "-1", "4294967295", "1:2:3"] {
            assert!(parse_user_id(bad).is_err(), "{bad}");
        }
        assert!(err(&["-t", "1", "-U", "--user-id", "1", "--preserve-credentials"]).contains("contradict"));
    }

    #[test]
    fn help_renders() {
        let help = Args::command().render_long_help().to_string();
        assert!(help.contains("--net") && help.contains("network_namespaces(7)") && help.contains("EXIT STATUS"));
        Args::command().debug_assert();
    }
}
