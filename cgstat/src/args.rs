//! cgstat's command line: clap's flags, then [`Args::into_mode`] checks them into what to do:
//! docker stats' output (a [`Spec`], with or without a `--format` [`Template`]), metrics once or
//! over HTTP, or events.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::run::Spec;
use crate::select::Selection;
use crate::template::Template;
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
  cgstat --no-stream --format 'table {{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}'
  cgstat --format '{{json .}}' web          # docker stats' JSON, one line per group
  cgstat --format prometheus > /var/lib/node_exporter/cgstat.prom
  cgstat --listen 127.0.0.1:9338            # GET /metrics for Prometheus (cAdvisor's names)
  cgstat --events --json                    # OOM kills, pids limit hits, groups made and removed

EXIT STATUS:
  0    sampled (also when the reader of stdout went away: `cgstat | head -1`); --events ended
       by SIGINT or SIGTERM
  125  bad flag, unknown group, or a cgroup hierarchy that cannot be read";

/// cgstat's flags as typed on the command line.
#[derive(Debug, Parser)]
#[command(name = "cgstat", version, about = "Usage of cgroups, like `docker stats`", long_about = LONG_ABOUT, after_help = AFTER_HELP)]
#[command(mut_arg("explain", |a| a.help("Print every file read, as it happens (with --listen: one line per request)")))]
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

    /// Docker's Go template (placeholders .Name .ID .CPUPerc .MemUsage .MemPerc .NetIO .BlockIO .PIDs
    /// .Container; `table` prefix; `json`), or `openmetrics` / `prometheus` for one scrape of metrics
    #[arg(long, value_name = "FORMAT", conflicts_with = "json")]
    pub format: Option<String>,

    /// Serve GET /metrics at ADDR:PORT (cAdvisor's metric names) until interrupted
    #[arg(long, value_name = "ADDR:PORT", conflicts_with_all = ["json", "no_stream", "events"])]
    pub listen: Option<String>,

    /// Print OOM kills, pids limit hits and groups created or removed, one line each, as they happen
    #[arg(long, conflicts_with_all = ["format", "paths", "no_stream"])]
    pub events: bool,

    #[command(flatten)]
    pub explain: Explain,
}

/// The text exposition formats of metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposition {
    /// OpenMetrics 1.0 (`# TYPE x counter` over `x_total` samples, `# UNIT`, `# EOF`).
    OpenMetrics,
    /// Prometheus' text format 0.0.4, as cAdvisor serves it (what promtool and node_exporter's
    /// textfile collector read).
    Prometheus,
}

/// What cgstat was asked to do, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// docker stats: the table or `--json` lines, or a `--format` template.
    Stats(Spec, Option<Template>),
    /// One scrape of metrics on stdout.
    Metrics(Selection, Exposition),
    /// Serve metrics over HTTP; `explain`: one line per request on stderr.
    Listen { selection: Selection, exposition: Exposition, addr: SocketAddr, explain: bool },
    /// Watch for events: the groups named (or every group under the parent), JSON or text lines.
    Events { selection: Selection, json: bool },
}

/// The longest interval accepted: a day.
const MAX_INTERVAL_SECS: f64 = 86_400.0;

impl Args {
    /// Check the flags and decide what to do.
    pub fn into_mode(mut self) -> anyhow::Result<Mode> {
        let format = self.format.take();
        let exposition = match format.as_deref() {
            Some("openmetrics") => Some(Exposition::OpenMetrics),
            Some("prometheus") => Some(Exposition::Prometheus),
            _ => None,
        };
        if let Some(listen) = self.listen.take() {
            if format.is_some() && exposition.is_none() {
                bail!("invalid --format with --listen: the server speaks `prometheus` (default) or `openmetrics`");
            }
            let addr = parse_listen(&listen)?;
            let explain = self.explain.explain;
            let spec = self.into_spec()?;
            return Ok(Mode::Listen {
                selection: spec.selection,
                exposition: exposition.unwrap_or(Exposition::Prometheus),
                addr,
                explain,
            });
        }
        let events = self.events;
        let spec = self.into_spec()?;
        Ok(match (format, exposition) {
            _ if events => Mode::Events { selection: spec.selection, json: spec.json },
            (_, Some(e)) => Mode::Metrics(spec.selection, e),
            (Some(f), None) => Mode::Stats(spec, Some(Template::parse(&f)?)),
            (None, None) => Mode::Stats(spec, None),
        })
    }

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

/// `--listen ADDR:PORT`: an IPv4 address, `[IPv6]`, `localhost`, or nothing (every address).
fn parse_listen(text: &str) -> anyhow::Result<SocketAddr> {
    let bad = |why: &str| anyhow::anyhow!("invalid --listen {text:?}: {why}");
    let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("expected ADDR:PORT, e.g. 127.0.0.1:9338"))?;
    let port: u16 = port.parse().map_err(|_| bad("the port must be a number from 1 to 65535"))?;
    if port == 0 {
        return Err(bad("the port must be a number from 1 to 65535"));
    }
    let ip: IpAddr = match host {
        "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        h => h
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(h)
            .parse()
            .map_err(|_| bad("the address must be an IP address, `localhost`, or empty for every address"))?,
    };
    Ok(SocketAddr::new(ip, port))
}

/// What `cli::run` turns on for `--explain`: the trace of every file read. A server traces its
/// requests instead, one line each ([`Mode::Listen`]'s `explain`), not the files of every scrape.
impl AsRef<Explain> for Args {
    fn as_ref(&self) -> &Explain {
        const NO_FILE_TRACE: Explain = Explain { explain: false };
        if self.listen.is_some() {
            &NO_FILE_TRACE
        } else {
            &self.explain
        }
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

    fn mode(argv: &[&str]) -> anyhow::Result<Mode> {
        Args::try_parse_from(std::iter::once("cgstat").chain(argv.iter().copied()))?.into_mode()
    }

    #[test]
    fn modes() {
        assert!(matches!(mode(&[]).unwrap(), Mode::Stats(_, None)));
        assert!(matches!(mode(&["--format", "table {{.Name}}"]).unwrap(), Mode::Stats(_, Some(t)) if t.is_table()));
        assert_eq!(
            mode(&["--format", "openmetrics", "web"]).unwrap(),
            Mode::Metrics(Selection::Parent { names: vec!["web".into()], parent: None }, Exposition::OpenMetrics)
        );
        assert!(matches!(mode(&["--format", "prometheus", "--all"]).unwrap(), Mode::Metrics(Selection::All, _)));
        assert!(matches!(mode(&["--events", "--json", "a"]).unwrap(), Mode::Events { json: true, .. }));
        let listen = mode(&["--listen", "127.0.0.1:9338"]).unwrap();
        assert_eq!(
            listen,
            Mode::Listen {
                selection: Selection::Parent { names: vec![], parent: None },
                exposition: Exposition::Prometheus,
                addr: "127.0.0.1:9338".parse().unwrap(),
                explain: false,
            }
        );
        assert!(matches!(
            mode(&["--listen", ":9338", "--format", "openmetrics"]).unwrap(),
            Mode::Listen { exposition: Exposition::OpenMetrics, .. }
        ));
    }

    // --explain of a server is one line per request: the request log, not cli::run's file trace.
    #[test]
    fn a_server_logs_requests_instead_of_tracing_files() {
        let args = |argv: &[&str]| Args::try_parse_from(std::iter::once("cgstat").chain(argv.iter().copied())).unwrap();
        let server = args(&["--listen", ":9338", "--explain"]);
        assert!(!server.as_ref().explain);
        assert!(matches!(server.into_mode().unwrap(), Mode::Listen { explain: true, .. }));
        assert!(args(&["--format", "prometheus", "--explain"]).as_ref().explain);
        assert!(args(&["--events", "--explain"]).as_ref().explain);
    }

    #[test]
    fn bad_formats_and_addresses_are_refused() {
        let err = |argv: &[&str]| mode(argv).unwrap_err().to_string();
        assert!(err(&["--format", "{{.Foo}}"]).contains("unknown placeholder .Foo"));
        assert!(err(&["--listen", "127.0.0.1:9338", "--format", "{{.Name}}"]).contains("--listen"));
        for bad in ["9338", "127.0.0.1:0", "127.0.0.1:99999", "example.com:80", "1.2.3:80", "[::1:80"] {
            assert!(err(&["--listen", bad]).contains("--listen"), "{bad}");
        }
        assert_eq!(parse_listen("[::1]:80").unwrap(), "[::1]:80".parse().unwrap());
        assert_eq!(parse_listen("localhost:80").unwrap(), "127.0.0.1:80".parse().unwrap());
        for conflict in
            [&["--json", "--format", "json"][..], &["--events", "--format", "json"], &["--listen", ":1", "--json"]]
        {
            assert!(mode(conflict).unwrap_err().downcast_ref::<clap::Error>().is_some(), "{conflict:?}");
        }
    }

    #[test]
    fn help_states_the_memory_formula() {
        let help = Args::command().render_long_help().to_string();
        assert!(help.contains("memory.usage_in_bytes - memory.stat total_inactive_file"), "{help}");
        assert!(help.contains("EXIT STATUS"));
    }
}
