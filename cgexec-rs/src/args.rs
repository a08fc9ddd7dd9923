//! cgexec-rs's command line: Docker's limit flags, checked and typed into a `cgroup::Spec`.

use std::ffi::OsString;

use anyhow::Context as _;
use clap::Parser;
use isolab_core::cgroup::devices::{DeviceArg, Policy, Rule};
use isolab_core::cgroup::{self, DeviceLimit, Limits};
use isolab_core::cli::Explain;
use isolab_core::units::{self, IdList};

use crate::run::{Mode, Spec};

const LONG_ABOUT: &str = "\
Create a cgroup with Docker's limit flags, move COMMAND into it before it runs, and remove the
group when COMMAND ends. Works on cgroup v1, v2 and hybrid hosts: each controller is written
where it is mounted, with runc's v1 -> v2 conversions (cpu.shares 1024 -> cpu.weight 100).

The group goes under a parent named `isolab` beneath the caller's own cgroup in each hierarchy
(on cgroup v2, when the caller's group holds processes, under /isolab at the root), or under
--cgroup-parent. When COMMAND ends, whatever is left in the group (daemons it started too) is
killed, the group is removed, and cgexec-rs exits with COMMAND's status.";

const AFTER_HELP: &str = "\
EXAMPLES:
  cgexec-rs --name web --memory 100m --cpu-shares 512 --pids-limit 64 -- ./server
  cgexec-rs --cpuset-cpus 0 --cpu-shares 768 -- sh -c 'while :; do :; done'
  cgexec-rs --device-read-bps /dev/sda:2mb -- dd if=/dev/sda of=/dev/null bs=1M count=6 iflag=direct
  cgexec-rs --name db --keep --memory 1g -- ./db &      # later: cgexec-rs --rm db
  cgexec-rs --explain --memory 64m --set memory.high=48m -- true
  cgexec-rs --device /dev/sdb:rw --device-read-bps /dev/sdb:10mb -- dd if=/dev/sdb of=/dev/null

DEVICES:
  As in docker run, the group may use only Docker's default devices (null, zero, full, random,
  urandom, tty, console, ptmx, the pts, tun; mknod of any node, not its use): cgroup v1
  devices.deny/devices.allow, or a BPF_PROG_TYPE_CGROUP_DEVICE program on cgroup v2.

EXIT STATUS:
  COMMAND's own status, or 128+N when it died of signal N
  137  COMMAND was killed by the OOM killer (cgexec-rs says so on stderr)
  125  cgexec-rs itself failed (bad flag or value, the kernel refused); nothing is left behind
  126  COMMAND cannot be executed
  127  COMMAND was not found";

#[derive(Debug, Parser)]
#[command(name = "cgexec-rs", version, allow_negative_numbers = true, about = "Run a command in a new cgroup with Docker's resource limits", long_about = LONG_ABOUT, after_help = AFTER_HELP)]
#[command(mut_arg("explain", |a| a.help("Print every mkdir, write and rmdir (and the placement chosen) on stderr")))]
pub struct Args {
    /// The group's name [default: cgexec-PID]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Parent of the group: absolute from each hierarchy's root, or relative to the caller's cgroup
    #[arg(long, value_name = "PATH")]
    pub cgroup_parent: Option<String>,

    /// Memory limit (e.g. 100m, 1.5g; at least 6m; 0: none)
    #[arg(short = 'm', long, value_name = "SIZE", allow_hyphen_values = true, help_heading = "Memory")]
    pub memory: Option<String>,
    /// Soft limit (v1 memory.soft_limit_in_bytes, v2 memory.low)
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true, help_heading = "Memory")]
    pub memory_reservation: Option<String>,
    /// Memory plus swap; -1 for unlimited swap [default: twice --memory]
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true, help_heading = "Memory")]
    pub memory_swap: Option<String>,
    /// Swappiness 0-100 (v1 only; -1 leaves it)
    #[arg(long, value_name = "N", allow_hyphen_values = true, help_heading = "Memory")]
    pub memory_swappiness: Option<i64>,
    /// Kernel memory limit (v1 before Linux 6.1 only)
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true, help_heading = "Memory")]
    pub kernel_memory: Option<String>,
    /// Disable the OOM killer for the group (v1 only)
    #[arg(long, help_heading = "Memory")]
    pub oom_kill_disable: bool,

    /// Relative CPU weight, 2-262144 (v2: converted to cpu.weight, 1024 -> 100; 0: unset)
    #[arg(short = 'c', long, value_name = "SHARES", help_heading = "CPU")]
    pub cpu_shares: Option<u64>,
    /// cgroup v2 cpu.weight, 1-10000, written as given
    #[arg(long, value_name = "WEIGHT", help_heading = "CPU")]
    pub cpu_weight: Option<u64>,
    /// CFS period in microseconds (1000-1000000; 0: unset)
    #[arg(long, value_name = "US", help_heading = "CPU")]
    pub cpu_period: Option<u64>,
    /// CFS quota in microseconds per period; -1 for unlimited
    #[arg(long, value_name = "US", allow_hyphen_values = true, help_heading = "CPU")]
    pub cpu_quota: Option<i64>,
    /// Number of CPUs (e.g. 1.5): quota and period together
    #[arg(long, value_name = "N", help_heading = "CPU")]
    pub cpus: Option<String>,
    /// CPUs allowed (e.g. 0-3,5)
    #[arg(long, value_name = "LIST", help_heading = "CPU")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed (e.g. 0)
    #[arg(long, value_name = "LIST", help_heading = "CPU")]
    pub cpuset_mems: Option<String>,

    /// Block IO weight, 10-1000 (0: unset)
    #[arg(long, value_name = "W", help_heading = "Block IO")]
    pub blkio_weight: Option<u64>,
    /// Per-device weight, DEV:W (repeatable)
    #[arg(long, value_name = "DEV:W", help_heading = "Block IO")]
    pub blkio_weight_device: Vec<String>,
    /// Read rate limit, DEV:RATE like /dev/sda:1mb (repeatable)
    #[arg(long, value_name = "DEV:RATE", help_heading = "Block IO")]
    pub device_read_bps: Vec<String>,
    /// Write rate limit, DEV:RATE (repeatable)
    #[arg(long, value_name = "DEV:RATE", help_heading = "Block IO")]
    pub device_write_bps: Vec<String>,
    /// Read IO operations per second, DEV:N (repeatable)
    #[arg(long, value_name = "DEV:N", help_heading = "Block IO")]
    pub device_read_iops: Vec<String>,
    /// Write IO operations per second, DEV:N (repeatable)
    #[arg(long, value_name = "DEV:N", help_heading = "Block IO")]
    pub device_write_iops: Vec<String>,

    /// Maximum number of processes and threads; 0 or -1 for unlimited
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Any other controller file, like cgset -r (repeatable; cgroup.* and release_agent refused)
    #[arg(long, value_name = "FILE=VALUE")]
    pub set: Vec<String>,

    /// Let the group use the host's device node HOST (mode rwm by default; CONTAINER is for
    /// nsexec --device, which makes the node). Repeatable
    #[arg(long, value_name = "HOST[:CONTAINER][:rwm]", help_heading = "Devices (Docker's allowlist by default)")]
    pub device: Vec<String>,
    /// Add a device rule: TYPE MAJOR:MINOR ACCESS, e.g. 'c 1:3 rwm', 'b 7:* rw', 'a *:* rwm' (repeatable)
    #[arg(long, value_name = "RULE", help_heading = "Devices (Docker's allowlist by default)")]
    pub device_cgroup_rule: Vec<String>,
    /// Leave device access unrestricted (Docker --privileged)
    #[arg(long, help_heading = "Devices (Docker's allowlist by default)")]
    pub privileged: bool,

    /// Leave the group when COMMAND ends (remove it later with --rm)
    #[arg(long, conflicts_with = "exec")]
    pub keep: bool,
    /// Join the group and exec COMMAND in place (the group stays)
    #[arg(long)]
    pub exec: bool,
    /// Kill what is left in group NAME and remove it
    #[arg(long, value_name = "NAME", conflicts_with_all = ["name", "keep", "exec"])]
    pub rm: Option<String>,
    #[command(flatten)]
    pub explain: Explain,

    /// The command and its arguments
    #[arg(trailing_var_arg = true, value_name = "COMMAND", required_unless_present = "rm")]
    pub command: Vec<OsString>,
}

impl AsRef<Explain> for Args {
    fn as_ref(&self) -> &Explain {
        &self.explain
    }
}

fn flag<T>(name: &str, r: anyhow::Result<T>) -> anyhow::Result<T> {
    r.with_context(|| name.to_string()).map_err(|e| anyhow::anyhow!("{e:#}"))
}

fn devices(
    name: &str,
    specs: &[String],
    parse: fn(&str) -> anyhow::Result<units::DeviceSpec<u64>>,
) -> anyhow::Result<Vec<DeviceLimit>> {
    specs.iter().map(|s| flag(name, parse(s)).map(|d| DeviceLimit::unresolved(d.path, d.value))).collect()
}

impl Args {
    /// Strings to typed, checked values; Docker's own checks included (no kernel needed).
    pub fn into_spec(self) -> anyhow::Result<Spec> {
        let limits = self.limits()?.zeros_unset();
        limits.check()?;
        let mode = match (&self.rm, self.keep, self.exec) {
            (Some(_), ..) => Mode::Remove,
            (None, true, _) => Mode::Keep,
            (None, _, true) => Mode::Exec,
            _ => Mode::Run,
        };
        if mode == Mode::Remove && (!self.command.is_empty() || limits != Limits::default()) {
            anyhow::bail!("--rm: takes a group name only, no limits or command");
        }
        let mut limits = limits;
        if mode != Mode::Remove && !self.privileged {
            let rules = self
                .device_cgroup_rule
                .iter()
                .map(|r| flag("--device-cgroup-rule", Rule::parse(r)))
                .collect::<anyhow::Result<_>>()?;
            let nodes =
                self.device.iter().map(|d| flag("--device", DeviceArg::parse(d))).collect::<anyhow::Result<_>>()?;
            limits.devices = Some(Policy::docker(rules, nodes));
        } else if self.privileged && (!self.device.is_empty() || !self.device_cgroup_rule.is_empty()) {
            anyhow::bail!("--privileged: every device is allowed already; drop --device and --device-cgroup-rule");
        }
        let name = self.rm.or(self.name);
        if let Some(n) = &name {
            flag(if mode == Mode::Remove { "--rm" } else { "--name" }, cgroup::validate_name(n))?;
        }
        if let Some(p) = &self.cgroup_parent {
            flag("--cgroup-parent", cgroup::validate_parent(p))?;
        }
        Ok(Spec { name, parent: self.cgroup_parent, limits, mode, command: self.command })
    }

    fn limits(&self) -> anyhow::Result<Limits> {
        let size = |name: &str, v: &Option<String>| v.as_deref().map(|s| flag(name, units::parse_size(s))).transpose();
        let list = |name: &str, v: &Option<String>| v.as_deref().map(|s| flag(name, IdList::parse(s))).transpose();
        Ok(Limits {
            memory: size("--memory", &self.memory)?,
            memory_reservation: size("--memory-reservation", &self.memory_reservation)?,
            memory_swap: self
                .memory_swap
                .as_deref()
                .map(|s| flag("--memory-swap", units::parse_size_or_unlimited(s)))
                .transpose()?,
            memory_swappiness: match self.memory_swappiness {
                None | Some(-1) => None,
                Some(n) if (0..=100).contains(&n) => Some(n as u64),
                Some(n) => anyhow::bail!("--memory-swappiness: {n} is out of range, use 0 to 100"),
            },
            kernel_memory: size("--kernel-memory", &self.kernel_memory)?,
            oom_kill_disable: self.oom_kill_disable,
            cpu_shares: self.cpu_shares,
            cpu_weight: self.cpu_weight,
            cpu_period: self.cpu_period,
            cpu_quota: self.cpu_quota,
            nano_cpus: self.cpus.as_deref().map(|s| flag("--cpus", parse_cpus(s))).transpose()?,
            cpuset_cpus: list("--cpuset-cpus", &self.cpuset_cpus)?,
            cpuset_mems: list("--cpuset-mems", &self.cpuset_mems)?,
            blkio_weight: self.blkio_weight,
            blkio_weight_device: devices(
                "--blkio-weight-device",
                &self.blkio_weight_device,
                units::parse_device_number,
            )?,
            device_read_bps: devices("--device-read-bps", &self.device_read_bps, units::parse_device_rate)?,
            device_write_bps: devices("--device-write-bps", &self.device_write_bps, units::parse_device_rate)?,
            device_read_iops: devices("--device-read-iops", &self.device_read_iops, units::parse_device_number)?,
            device_write_iops: devices("--device-write-iops", &self.device_write_iops, units::parse_device_number)?,
            pids_limit: self.pids_limit,
            set: self.set.iter().map(|s| parse_set(s)).collect::<anyhow::Result<_>>()?,
            devices: None,
        })
    }
}

/// `--cpus 1.5` as billionths of a CPU (Docker's NanoCPUs); 0 is unset, as in Docker. Like
/// docker/cli's ParseCPUs, a value that is not a whole number of billionths is refused ("value is
/// too precise"), not rounded.
fn parse_cpus(s: &str) -> anyhow::Result<u64> {
    let n: f64 = s
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .with_context(|| format!("invalid number of CPUs {s:?} (e.g. 1.5)"))?;
    let digits = s.split_once('.').map_or("", |(_, frac)| frac).trim_end_matches('0');
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') && digits.len() > 9 {
        anyhow::bail!("invalid number of CPUs {s:?}: value is too precise (at most 9 decimals, as Docker)");
    }
    Ok((n * 1e9).round() as u64)
}

fn parse_set(s: &str) -> anyhow::Result<(String, String)> {
    let (file, value) = s.split_once('=').with_context(|| format!("--set: expected FILE=VALUE, got {:?}", s))?;
    cgroup::limits::check_set(file, value)?;
    Ok((file.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn spec(args: &[&str]) -> anyhow::Result<Spec> {
        Args::try_parse_from(["cgexec-rs"].iter().chain(args))?.into_spec()
    }

    fn err(args: &[&str]) -> String {
        format!("{:#}", spec(args).unwrap_err())
    }

    #[test]
    fn docker_flags_become_limits() {
        let s = spec(&[
            "--name",
            "web",
            "-m",
            "100m",
            "-c",
            "512",
            "--pids-limit",
            "64",
            "--cpus",
            "1.5",
            "--cpuset-cpus",
            "0-1",
            "--",
            "sh",
            "-c",
            "x",
        ])
        .unwrap();
        assert_eq!(s.name.as_deref(), Some("web"));
        assert_eq!(s.limits.memory, Some(100 << 20));
        assert_eq!(s.limits.cpu_shares, Some(512));
        assert_eq!(s.limits.nano_cpus, Some(1_500_000_000));
        assert_eq!(s.limits.cpuset_cpus, Some(IdList(vec![0, 1])));
        assert_eq!(s.command, vec!["sh", "-c", "x"]);
        assert_eq!(s.mode, Mode::Run);
        let swap = spec(&["-m", "100m", "--memory-swap", "-1", "true"]).unwrap();
        assert_eq!(swap.limits.memory_swap, Some(units::SizeOrUnlimited::Unlimited));
        let dev = spec(&["--device-read-bps", "/dev/loop0:2mb", "true"]).unwrap();
        assert_eq!(dev.limits.device_read_bps, vec![DeviceLimit::unresolved("/dev/loop0", 2 << 20)]);
    }

    #[test]
    fn errors_name_the_flag() {
        assert!(err(&["--memory", "100x", "true"]).starts_with("--memory: invalid size \"100x\""));
        assert!(err(&["--memory", "5m", "true"]).contains("6MB"));
        assert!(err(&["--device-read-bps", "/dev/sda", "true"]).starts_with("--device-read-bps: invalid device spec"));
        assert!(err(&["--device-read-bps", "/dev/sda:fast", "true"]).starts_with("--device-read-bps:"));
        assert!(err(&["--cpuset-cpus", "0-", "true"]).starts_with("--cpuset-cpus: invalid list"));
        assert!(err(&["--cpus", "-1", "true"]).contains("--cpus"));
        assert!(err(&["--memory-swappiness", "101", "true"]).starts_with("--memory-swappiness"));
        assert!(err(&["--set", "cgroup.procs=1", "true"]).contains("cgroup.procs"));
        for bad in ["../x", "a/b", "a\nb", &"x".repeat(256)] {
            assert!(err(&["--name", bad, "true"]).starts_with("--name: invalid name"), "{bad:?}");
        }
        assert!(!err(&["--name", "a\nb", "true"]).contains('\n'));
    }

    #[test]
    fn modes() {
        assert_eq!(spec(&["--rm", "web"]).unwrap().mode, Mode::Remove);
        assert!(spec(&["--rm", "web", "--memory", "10m"]).is_err());
        assert!(spec(&["--keep", "--exec", "true"]).is_err());
        assert_eq!(spec(&["--exec", "true"]).unwrap().mode, Mode::Exec);
        assert!(spec(&["--memory", "10m"]).is_err(), "a command is required");
    }

    #[test]
    fn the_help_has_examples_and_exit_status() {
        let help = Args::command().render_long_help().to_string();
        assert!(help.contains("EXAMPLES") && help.contains("EXIT STATUS"));
    }
}
