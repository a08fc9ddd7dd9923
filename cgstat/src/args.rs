//! cgstat's command line: clap's flags, then [`Args::into_spec`] checks them into a
//! [`Spec`].

use std::time::Duration;

use crate::run::Spec;
use crate::select::Selection;
use anyhow::{bail, Context};
use clap::Parser;
use isolab_core::cgroup;
use isolab_core::cli::Explain;

const LONG_ABOUT: &str = "\
Show the usage of cgroups as `docker stats` does, without a daemon: CPU %, MEM USAGE / LIMIT, \
MEM %, NET I/O, BLOCK I/O, PIDS, on cgroup v1, v2 or hybrid hosts.

Without NAME: every group under the isolab parent (the groups cgexec-rs made from this cgroup). \
Streams until interrupted, redrawing in place on a terminal and printing one table per sample \
otherwise; --no-stream prints one sample.

How each number is computed, as Docker computes it:
  CPU %        (group CPU time delta) / (host time delta) x online CPUs x 100, over two readings
               --interval apart; host time = first seven fields of /proc/stat's `cpu` line.
               One busy CPU reads 100%.
  MEM USAGE    v1: memory.usage_in_bytes - memory.stat total_inactive_file
               v2: memory.current - memory.stat inactive_file
               (inactive file pages are subtracted only when smaller than the usage)
  LIMIT        memory.limit_in_bytes / memory.max, or the host's MemTotal when unlimited or larger
  MEM %        MEM USAGE / LIMIT x 100
  NET I/O      received / sent bytes of a member process's network namespace, lo excluded;
               `--` when the group has no process or shares cgstat's network namespace
  BLOCK I/O    read / written bytes: v1 blkio.throttle.io_service_bytes_recursive (counted only
               once the device has a throttle rule, since Linux 6.9), v2 io.stat rbytes / wbytes
  PIDS         pids.current, or the number of processes in cgroup.procs without the pids controller
Sizes print as Docker prints them: memory in binary units with 4 significant digits (440KiB), \
I/O in decimal units with 3 (6.21kB). A value that cannot be read prints `--`.";

const AFTER_HELP: &str = "\
EXAMPLES:
  cgexec-rs --name web --memory 100m -- sleep 1000 &
  cgstat --no-stream                       # every group under the isolab parent, one sample
  cgstat web db                            # two groups, streaming every second
  cgstat --no-stream --interval 0.5 --json web | jq .MemUsage
  cgstat --all --no-stream                 # groups under any isolab parent
  cgstat --no-stream --path /system.slice/cron.service

EXIT STATUS:
  0    sampled (also when the reader of stdout went away: `cgstat | head -1`)
  125  bad flag, unknown group, or a cgroup hierarchy that cannot be read";

/// cgstat's flags as typed on the command line.
#[derive(Debug, Parser)]
#[command(name = "cgstat", version, about = "Usage of cgroups, like `docker stats`", long_about = LONG_ABOUT, after_help = AFTER_HELP)]
#[command(mut_arg("explain", |a| a.help("Print every file read, as it happens")))]
pub struct Args {
    /// Groups to show, by the name given to cgexec-rs --name (default: every group under the parent)
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,

    /// Every group under any isolab parent in the hierarchies
    #[arg(short = 'a', long, conflicts_with_all = ["names", "cgroup_parent", "paths"])]
    pub all: bool,

    /// Where the groups are: absolute from each hierarchy's root, or relative to this cgroup
    #[arg(long, value_name = "PATH", conflicts_with = "paths")]
    pub cgroup_parent: Option<String>,

    /// Any cgroup, by its path from the hierarchy roots (e.g. /system.slice/cron.service)
    #[arg(long = "path", value_name = "CGROUP_PATH", num_args = 1.., conflicts_with = "names")]
    pub paths: Vec<String>,

    /// Print one sample and exit (CPU % still needs two readings --interval apart)
    #[arg(long)]
    pub no_stream: bool,

    /// Seconds between readings (a decimal, e.g. 0.5)
    #[arg(long, value_name = "SECS", default_value = "1", allow_hyphen_values = true)]
    pub interval: String,

    /// One JSON object per group per sample, raw numbers (bytes, nanoseconds) beside Docker's strings
    #[arg(long)]
    pub json: bool,

    /// Show long names and paths whole instead of cutting them to 40 characters
    #[arg(long)]
    pub no_trunc: bool,

    #[command(flatten)]
    pub explain: Explain,
}

/// The longest interval accepted: a day.
const MAX_INTERVAL_SECS: f64 = 86_400.0;

impl Args {
    /// Check the flags and turn them into what cgstat's [`run`](crate::run::run) needs.
    pub fn into_spec(self) -> anyhow::Result<Spec> {
        for name in &self.names {
            cgroup::validate_name(name)?;
        }
        if let Some(parent) = &self.cgroup_parent {
            cgroup::validate_parent(parent).context("--cgroup-parent")?;
        }
        for path in &self.paths {
            cgroup::validate_parent(path).context("--path")?;
        }
        let selection = if self.all {
            Selection::All
        } else if !self.paths.is_empty() {
            Selection::Paths(self.paths)
        } else {
            Selection::Parent { names: self.names, parent: self.cgroup_parent }
        };
        Ok(Spec {
            selection,
            stream: !self.no_stream,
            interval: parse_interval(&self.interval)?,
            json: self.json,
            no_trunc: self.no_trunc,
        })
    }
}

/// `--interval SECS`: a positive decimal number of seconds, at most a day.
fn parse_interval(text: &str) -> anyhow::Result<Duration> {
    let secs: f64 =
        text.trim().parse().map_err(|_| anyhow::anyhow!("invalid --interval {text:?}: not a number of seconds"))?;
    if !(secs > 0.0 && secs <= MAX_INTERVAL_SECS) {
        bail!("invalid --interval {text:?}: must be more than 0 and at most {MAX_INTERVAL_SECS} seconds");
    }
    Ok(Duration::from_secs_f64(secs))
}

impl AsRef<Explain> for Args {
    fn as_ref(&self) -> &Explain {
        &self.explain
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn spec(argv: &[&str]) -> anyhow::Result<Spec> {
        Args::try_parse_from(std::iter::once("cgstat").chain(argv.iter().copied()))?.into_spec()
    }

    #[test]
    fn defaults_stream_every_second_under_the_default_parent() {
        let s = spec(&[]).unwrap();
        assert_eq!(s.selection, Selection::Parent { names: vec![], parent: None });
        assert!(s.stream && !s.json && !s.no_trunc);
        assert_eq!(s.interval, Duration::from_secs(1));
    }

    #[test]
    fn selections() {
        assert_eq!(
            spec(&["web", "db", "--cgroup-parent", "lab"]).unwrap().selection,
            Selection::Parent { names: vec!["web".into(), "db".into()], parent: Some("lab".into()) }
        );
        assert_eq!(spec(&["--all"]).unwrap().selection, Selection::All);
        assert_eq!(
            spec(&["--path", "/a", "/b/c"]).unwrap().selection,
            Selection::Paths(vec!["/a".into(), "/b/c".into()])
        );
        assert_eq!(
            spec(&["--path", "/a", "--path", "/b"]).unwrap().selection,
            Selection::Paths(vec!["/a".into(), "/b".into()])
        );
    }

    #[test]
    fn conflicting_selections_are_usage_errors() {
        for argv in [
            &["--all", "web"][..],
            &["--all", "--path", "/a"],
            &["--path", "/a", "--cgroup-parent", "x"],
            &["--all", "--cgroup-parent", "x"],
        ] {
            let err = spec(argv).unwrap_err();
            assert!(err.downcast_ref::<clap::Error>().is_some(), "{argv:?}: {err}");
        }
    }

    #[test]
    fn intervals() {
        assert_eq!(spec(&["--interval", "0.25", "--no-stream"]).unwrap().interval, Duration::from_millis(250));
        for bad in ["0", "-1", "nan", "inf", "1s", "", "86401"] {
            let err = spec(&["--interval", bad]).unwrap_err().to_string();
            assert!(err.contains("--interval"), "{bad}: {err}");
        }
    }

    #[test]
    fn names_and_paths_are_checked() {
        assert!(spec(&["../etc"]).unwrap_err().to_string().contains("invalid name"));
        assert!(spec(&["--path", "/a/../b"]).unwrap_err().to_string().contains("--path"));
        assert!(spec(&["--cgroup-parent", "a\nb"]).unwrap_err().to_string().contains("--cgroup-parent"));
    }

    #[test]
    fn help_states_the_memory_formula() {
        let help = Args::command().render_long_help().to_string();
        assert!(help.contains("memory.usage_in_bytes - memory.stat total_inactive_file"), "{help}");
        assert!(help.contains("EXIT STATUS"));
    }
}
