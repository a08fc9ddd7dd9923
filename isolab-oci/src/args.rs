//! isolab-oci's command line: runc's, as engines call it (podman/conmon, containerd's shim,
//! runtime-tools' validation). Global flags first, then the subcommand.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args as ClapArgs, CommandFactory, Parser, Subcommand};
use isolab_core::cli::Explain;

const AFTER_HELP: &str = "\
EXAMPLES:
  A bundle made by hand, run in two steps (runc's create/start split):
    isolab-oci spec --bundle /tmp/b && cp -a ROOTFS /tmp/b/rootfs
    isolab-oci create --bundle /tmp/b web && isolab-oci state web     # \"created\"
    isolab-oci start web && isolab-oci state web                      # \"running\"
    isolab-oci kill web KILL && isolab-oci delete web

  Under podman (cgroupfs manager; podman's capabilities, seccomp profile and masked paths apply):
    podman --runtime $(command -v isolab-oci) --cgroup-manager cgroupfs run --rm IMAGE id

  The whole composed launch, tool by tool:
    isolab-oci --explain run --bundle /tmp/b demo

EXIT STATUS:
  run: the container's status (128+N for signal N); the other commands 0 on success;
  125 when isolab-oci failed (bad flag, bad bundle, a tool refused): one line says why.";

/// runc's command line over the isolab tools.
#[derive(Parser, Debug)]
#[command(
    name = "isolab-oci",
    version,
    about = "An OCI runtime (runc's command line) composed of the isolab tools",
    long_about = "An OCI runtime with runc's command line: config.json is mapped onto cgexec-rs \
                  (linux.resources, the device allowlist), nsenter-lite (namespaces with a path, \
                  sysctls), nsexec (new namespaces, id maps, mounts, hostname, the user, the five \
                  capability sets, no_new_privs, masked and read-only paths, device nodes, the \
                  seccomp filter) and a last stage of its own that takes the terminal, then waits \
                  on runc's exec fifo between create and start.",
    after_help = AFTER_HELP,
    propagate_version = true
)]
#[command(mut_arg("explain", |a| a.global(true).help("Print every step the kernel is asked to take, through the whole chain of tools (also ISOLAB_EXPLAIN=1)")))]
pub struct Args {
    /// Where container state lives
    #[arg(long, global = true, value_name = "DIR", default_value = "/run/isolab-oci")]
    pub root: PathBuf,
    /// Also write errors and warnings to FILE
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Format of --log: text or json
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    pub log_format: String,
    /// Print every step (as --explain) and debug notes
    #[arg(long, global = true)]
    pub debug: bool,
    /// Refused: isolab-oci manages cgroupfs paths only
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility (true, false or auto); isolab-oci needs root
    #[arg(long, global = true, value_name = "VALUE", num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    #[command(flatten)]
    pub explain: Explain,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(ClapArgs, Debug, Clone, Default)]
pub struct CreateOpts {
    /// The bundle directory (config.json and the root file system)
    #[arg(short = 'b', long, value_name = "DIR", default_value = ".")]
    pub bundle: PathBuf,
    /// Write the container's init PID to FILE
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the terminal's master side (process.terminal)
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Accepted; nsexec always uses pivot_root (a warning says so)
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted; isolab-oci never makes a session keyring
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N more descriptors (3..3+N) to the container
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    /// The container id
    #[arg(value_name = "ID")]
    pub id: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container: its process waits before the program runs, until start
    Create(CreateOpts),
    /// Run the created container's program
    Start {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Print the container's state (OCI state JSON)
    State {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Send a signal to the container's init (default TERM)
    Kill {
        /// Signal every process of the container's cgroup
        #[arg(short = 'a', long)]
        all: bool,
        #[arg(value_name = "ID")]
        id: String,
        #[arg(value_name = "SIGNAL", default_value = "TERM")]
        signal: String,
    },
    /// Delete a stopped container (--force: kill it first)
    Delete {
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Create and start; without --detach wait and exit with the container's status
    Run {
        #[command(flatten)]
        create: CreateOpts,
        /// Return once the program runs
        #[arg(short = 'd', long)]
        detach: bool,
    },
    /// Run another process in a running container
    Exec {
        /// The process (config.json's process object) as a JSON file
        #[arg(short = 'p', long, value_name = "FILE")]
        process: Option<PathBuf>,
        #[arg(short = 'd', long)]
        detach: bool,
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        #[arg(long, value_name = "PATH")]
        console_socket: Option<PathBuf>,
        /// Allocate a terminal (with --console-socket)
        #[arg(short = 't', long)]
        tty: bool,
        #[arg(long, value_name = "DIR")]
        cwd: Option<String>,
        #[arg(short = 'e', long, value_name = "K=V")]
        env: Vec<String>,
        #[arg(short = 'u', long, value_name = "UID[:GID]")]
        user: Option<String>,
        #[arg(long, value_name = "N", default_value_t = 0)]
        preserve_fds: u32,
        #[arg(value_name = "ID")]
        id: String,
        #[arg(value_name = "COMMAND", trailing_var_arg = true)]
        command: Vec<String>,
    },
    /// List the processes of the container's cgroup
    Ps {
        /// table or json
        #[arg(short = 'f', long, default_value = "table")]
        format: String,
        #[arg(value_name = "ID")]
        id: String,
        /// Options for ps(1) in table format
        #[arg(value_name = "PS_ARGS", trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Print what this runtime supports (runtime-spec features.md)
    Features,
    /// Write a starting config.json
    Spec {
        #[arg(short = 'b', long, value_name = "DIR", default_value = ".")]
        bundle: PathBuf,
    },
    /// The container's last stage (run by the chain, not by users)
    #[command(hide = true)]
    Init(InitOpts),
    /// Write sysctls in the namespaces joined by nsenter-lite (run by create)
    #[command(hide = true)]
    Sysctl {
        #[arg(value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
}

#[derive(ClapArgs, Debug, Clone)]
pub struct InitOpts {
    /// The loader's descriptors, closed first thing
    #[arg(long, value_delimiter = ',')]
    pub loader_fds: Vec<i32>,
    #[arg(long)]
    pub sync_fd: Option<i32>,
    #[arg(long)]
    pub fifo_fd: Option<i32>,
    #[arg(long)]
    pub exe_fd: Option<i32>,
    /// The engine's console socket: the terminal is made here and its master sent on it
    #[arg(long)]
    pub console_fd: Option<i32>,
    #[arg(long, value_name = "OCTAL")]
    pub umask: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    #[arg(long)]
    pub caps: Option<String>,
    #[arg(long)]
    pub cwd: Option<String>,
    #[arg(long)]
    pub unset_explain: bool,
    /// exec: the user to become (nsexec did it for create)
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long, value_delimiter = ',')]
    pub groups: Vec<String>,
    /// exec: the bounding set (comma-separated)
    #[arg(long)]
    pub bounding: Option<String>,
    #[arg(long)]
    pub no_new_privs: bool,
    #[arg(value_name = "ARGS", trailing_var_arg = true, required = true)]
    pub args: Vec<String>,
}

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Args::command()
}

impl AsRef<Explain> for Args {
    fn as_ref(&self) -> &Explain {
        &self.explain
    }
}

/// The log format of `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl Args {
    /// Check global flags; returns the log format.
    pub fn check(&self) -> anyhow::Result<LogFormat> {
        if self.systemd_cgroup {
            bail!("--systemd-cgroup: not supported: isolab-oci manages cgroupfs paths only (podman: --cgroup-manager cgroupfs; containerd: SystemdCgroup = false)");
        }
        match self.log_format.as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => bail!("--log-format: unknown format {other:?} (text or json)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("isolab-oci").chain(args.iter().copied()))
    }

    #[test]
    fn runc_command_lines_as_engines_send_them() {
        // conmon (podman 4.3): create --bundle B --pid-file F ID
        let a = parse(&["create", "--bundle", "/b", "--pid-file", "/p", "c1"]).unwrap();
        let Command::Create(c) = a.command else { panic!() };
        assert_eq!((c.bundle, c.pid_file, c.id), ("/b".into(), Some("/p".into()), "c1".to_string()));
        // containerd's shim: global flags before the command
        let a = parse(&["--root", "/run/x", "--log", "/l.json", "--log-format", "json", "delete", "--force", "c1"])
            .unwrap();
        assert_eq!(a.check().unwrap(), LogFormat::Json);
        assert!(matches!(a.command, Command::Delete { force: true, .. }));
        let a = parse(&["kill", "--all", "c1", "KILL"]).unwrap();
        assert!(matches!(a.command, Command::Kill { all: true, ref signal, .. } if signal == "KILL"));
        let a = parse(&["exec", "--process", "/p.json", "--detach", "--pid-file", "/x", "c1"]).unwrap();
        assert!(matches!(a.command, Command::Exec { detach: true, .. }));
        let a = parse(&["ps", "--format", "json", "c1"]).unwrap();
        assert!(matches!(a.command, Command::Ps { ref format, .. } if format == "json"));
        assert!(parse(&["run", "-d", "--bundle", "/b", "--console-socket", "/s", "c1"]).is_ok());
    }

    #[test]
    fn refusals() {
        let e = parse(&["--systemd-cgroup", "state", "c1"]).unwrap().check().unwrap_err();
        assert!(e.to_string().starts_with("--systemd-cgroup"), "{e}");
        let e = parse(&["--log-format", "xml", "state", "c1"]).unwrap().check().unwrap_err();
        assert!(e.to_string().starts_with("--log-format"), "{e}");
        assert!(parse(&["create"]).is_err());
    }
}
