//! cAdvisor's container metrics for the selected groups, in Prometheus' text format 0.0.4 (what
//! cAdvisor serves, promtool lints and node_exporter's textfile collector reads) or OpenMetrics
//! 1.0. Names, units, help texts and labels are cAdvisor's (google/cadvisor
//! `metrics/prometheus.go`), so dashboards built on cAdvisor read cgstat unchanged:
//! - labels `id` (the group's cgroup path) and `name` (its name), plus `cpu="total"`,
//!   `interface` or `device` where cAdvisor has them, sorted as client_golang sorts them;
//! - values in base units (seconds, bytes), counters typed as counters; an unlimited memory
//!   limit is 0, the CFS counters and quota appear only under a quota, as in cAdvisor;
//! - `container_memory_failcnt` keeps cAdvisor's name, which lacks the `_total` a counter needs
//!   (promtool refuses such a counter, and OpenMetrics would rename it), so it is typed
//!   `untyped` / `unknown`; PromQL's rate() takes it as it takes any counter.
//!
//! The two formats differ in a counter's family name (`x_total` in 0.0.4, `x` in OpenMetrics,
//! whose samples add `_total`), in `# UNIT` lines and in the closing `# EOF`.
//! A scrape reads each group once (stats::detail), keeps only the numbers, and writes family
//! after family, as both formats want a family's samples together: memory is a few hundred
//! bytes per group, and the text goes out line by line through a buffer, never held whole.

use std::io::Write;
use std::path::{Path, PathBuf};

use isolab_core::cgroup::Setup;
use isolab_core::stats::detail::{self, Detail, DeviceNames};
use isolab_core::stats::net::NetReader;
use isolab_core::stats::sample::GroupFiles;

use crate::args::Exposition;
use crate::select::{self, Selection};

/// The cgroup path of a group (cAdvisor's `id`, `.ID` of --format): the directory of its
/// memory controller (else its CPU counter's, else its members') below the hierarchy's mount.
pub struct CgroupIds {
    mounts: Vec<PathBuf>,
}

impl CgroupIds {
    pub fn detect() -> anyhow::Result<CgroupIds> {
        Ok(CgroupIds::new(Setup::detect()?.hierarchies.into_iter().map(|h| h.mount).collect()))
    }

    pub fn new(mounts: Vec<PathBuf>) -> CgroupIds {
        CgroupIds { mounts }
    }

    pub fn id(&self, target: &GroupFiles) -> String {
        let dir = target.memory.as_ref().or(target.cpu.as_ref()).map(|c| c.dir.as_path()).or(target.procs.as_deref());
        let Some(dir) = dir else { return format!("/{}", target.name) };
        let below = self
            .mounts
            .iter()
            .filter_map(|m| dir.strip_prefix(m).ok())
            .min_by_key(|rest| rest.components().count())
            .unwrap_or(Path::new(""));
        format!("/{}", below.display())
    }
}

/// One group's numbers in a scrape.
pub struct Scraped {
    name: String,
    id: String,
    detail: Detail,
}

/// Read every selected group once.
pub fn scrape(selection: &Selection, ids: &CgroupIds) -> anyhow::Result<Vec<Scraped>> {
    let targets = select::groups(selection)?;
    isolab_core::stats::reader::new_sample();
    let mut net = NetReader::new(NetReader::own_inode());
    Ok((0..targets.len())
        .map(|i| {
            let t = targets.files(i);
            Scraped { name: t.name.clone(), id: ids.id(&t), detail: detail::read(&t, &mut net) }
        })
        .collect())
}

/// `--format openmetrics` / `prometheus`: one scrape on stdout.
pub fn print(selection: &Selection, exposition: Exposition) -> anyhow::Result<u8> {
    let groups = scrape(selection, &CgroupIds::detect()?)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write(&groups, exposition, &mut out)?;
    out.flush()?;
    Ok(0)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Untyped,
}

/// A number as the formats print it: integers exactly, seconds as decimals.
#[derive(Clone, Copy)]
enum Num {
    Int(u64),
    Secs(u64),
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Num::Int(n) => write!(f, "{n}"),
            Num::Secs(ns) => write!(f, "{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000),
        }
    }
}

/// One metric family: how it is named and typed, and its samples for one group as
/// (extra label value, number).
struct Family {
    /// The sample name (`..._total` for counters), as cAdvisor's text format spells it.
    name: &'static str,
    help: &'static str,
    kind: Kind,
    unit: Option<&'static str>,
    /// The extra label's name (`cpu`, `interface`, `device`), if any.
    label: Option<&'static str>,
    values: fn(&Detail) -> Vec<(String, Num)>,
}

fn one(v: Option<Num>) -> Vec<(String, Num)> {
    v.map(|n| vec![(String::new(), n)]).unwrap_or_default()
}

fn ints(v: Option<u64>) -> Vec<(String, Num)> {
    one(v.map(Num::Int))
}

/// cAdvisor's "unlimited" rule for memory limits: anything above 2^62 (or `max`) is 0.
fn spec_memory(limit: Option<u64>) -> u64 {
    limit.filter(|&l| l <= 1 << 62).unwrap_or(0)
}

const FAMILIES: &[Family] = &[
    Family {
        name: "container_cpu_usage_seconds_total",
        help: "Cumulative cpu time consumed in seconds.",
        kind: Kind::Counter,
        unit: Some("seconds"),
        label: Some("cpu"),
        values: |d| d.cpu_ns.map(|ns| vec![("total".to_string(), Num::Secs(ns))]).unwrap_or_default(),
    },
    Family {
        name: "container_cpu_cfs_periods_total",
        help: "Number of elapsed enforcement period intervals.",
        kind: Kind::Counter,
        unit: None,
        label: None,
        values: |d| ints(d.throttling.map(|t| t.periods)),
    },
    Family {
        name: "container_cpu_cfs_throttled_periods_total",
        help: "Number of throttled period intervals.",
        kind: Kind::Counter,
        unit: None,
        label: None,
        values: |d| ints(d.throttling.map(|t| t.throttled_periods)),
    },
    Family {
        name: "container_cpu_cfs_throttled_seconds_total",
        help: "Total time duration the container has been throttled.",
        kind: Kind::Counter,
        unit: Some("seconds"),
        label: None,
        values: |d| one(d.throttling.map(|t| Num::Secs(t.throttled_ns))),
    },
    Family {
        name: "container_memory_usage_bytes",
        help: "Current memory usage in bytes, including all memory regardless of when it was accessed",
        kind: Kind::Gauge,
        unit: Some("bytes"),
        label: None,
        values: |d| ints(d.memory.map(|m| m.usage)),
    },
    Family {
        name: "container_memory_working_set_bytes",
        help: "Current working set in bytes.",
        kind: Kind::Gauge,
        unit: Some("bytes"),
        label: None,
        values: |d| ints(d.working_set()),
    },
    Family {
        name: "container_memory_rss",
        help: "Size of RSS in bytes.",
        kind: Kind::Gauge,
        unit: None,
        label: None,
        values: |d| ints(d.rss),
    },
    Family {
        name: "container_memory_cache",
        help: "Number of bytes of page cache memory.",
        kind: Kind::Gauge,
        unit: None,
        label: None,
        values: |d| ints(d.cache),
    },
    Family {
        name: "container_memory_failcnt",
        help: "Number of memory usage hits limits",
        kind: Kind::Untyped,
        unit: None,
        label: None,
        values: |d| ints(d.failcnt),
    },
    Family {
        name: "container_spec_memory_limit_bytes",
        help: "Memory limit for the container.",
        kind: Kind::Gauge,
        unit: Some("bytes"),
        label: None,
        values: |d| ints(d.memory.map(|m| spec_memory(m.limit))),
    },
    Family {
        name: "container_spec_cpu_shares",
        help: "CPU share of the container.",
        kind: Kind::Gauge,
        unit: None,
        label: None,
        values: |d| ints(d.cpu_spec.shares),
    },
    Family {
        name: "container_spec_cpu_quota",
        help: "CPU quota of the container.",
        kind: Kind::Gauge,
        unit: None,
        label: None,
        values: |d| ints(d.cpu_spec.quota_us),
    },
    Family {
        name: "container_spec_cpu_period",
        help: "CPU period of the container.",
        kind: Kind::Gauge,
        unit: None,
        label: None,
        values: |d| ints(d.cpu_spec.period_us),
    },
    Family {
        name: "container_network_receive_bytes_total",
        help: "Cumulative count of bytes received",
        kind: Kind::Counter,
        unit: Some("bytes"),
        label: Some("interface"),
        values: |d| d.interfaces.iter().map(|(i, rx, _)| (i.clone(), Num::Int(*rx))).collect(),
    },
    Family {
        name: "container_network_transmit_bytes_total",
        help: "Cumulative count of bytes transmitted",
        kind: Kind::Counter,
        unit: Some("bytes"),
        label: Some("interface"),
        values: |d| d.interfaces.iter().map(|(i, _, tx)| (i.clone(), Num::Int(*tx))).collect(),
    },
    Family {
        name: "container_fs_reads_bytes_total",
        help: "Cumulative count of bytes read",
        kind: Kind::Counter,
        unit: Some("bytes"),
        label: Some("device"),
        values: |d| d.devices.iter().map(|(dev, r, _)| (dev.clone(), Num::Int(*r))).collect(),
    },
    Family {
        name: "container_fs_writes_bytes_total",
        help: "Cumulative count of bytes written",
        kind: Kind::Counter,
        unit: Some("bytes"),
        label: Some("device"),
        values: |d| d.devices.iter().map(|(dev, _, w)| (dev.clone(), Num::Int(*w))).collect(),
    },
    Family {
        name: "container_processes",
        help: "Number of processes running inside the container.",
        kind: Kind::Gauge,
        unit: None,
        label: None,
        values: |d| ints(d.processes),
    },
    Family {
        name: "container_oom_events_total",
        help: "Count of out of memory events observed for the container",
        kind: Kind::Counter,
        unit: None,
        label: None,
        values: |d| ints(d.oom_kills),
    },
];

/// A label value with `\`, `"` and newlines escaped (both formats' rule).
fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return value.into();
    }
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").into()
}

/// Write the metrics of `groups`, family after family, each sample line as it is made (a
/// family's header only when some group has a sample of it).
pub fn write(groups: &[Scraped], exposition: Exposition, out: &mut impl Write) -> std::io::Result<()> {
    let om = exposition == Exposition::OpenMetrics;
    let mut devices = DeviceNames::default();
    for family in FAMILIES {
        if groups.iter().all(|g| (family.values)(&g.detail).is_empty()) {
            continue;
        }
        // OpenMetrics names a counter's family without the `_total` its samples carry.
        let family_name = match family.kind {
            Kind::Counter if om => family.name.trim_end_matches("_total"),
            _ => family.name,
        };
        let kind = match family.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Untyped if om => "unknown",
            Kind::Untyped => "untyped",
        };
        writeln!(out, "# HELP {family_name} {}", family.help)?;
        writeln!(out, "# TYPE {family_name} {kind}")?;
        if let (true, Some(unit)) = (om, family.unit) {
            writeln!(out, "# UNIT {family_name} {unit}")?;
        }
        for g in groups {
            let (id, name) = (escape(&g.id), escape(&g.name));
            for (extra, value) in (family.values)(&g.detail) {
                match family.label {
                    // Labels sorted by name, as client_golang writes them: cpu, device < id < interface < name.
                    Some("device") => {
                        let dev = escape(devices.name(&extra));
                        writeln!(out, "{}{{device=\"{dev}\",id=\"{id}\",name=\"{name}\"}} {value}", family.name)
                    }
                    Some(l @ "cpu") => writeln!(
                        out,
                        "{}{{{l}=\"{}\",id=\"{id}\",name=\"{name}\"}} {value}",
                        family.name,
                        escape(&extra)
                    ),
                    Some(l) => writeln!(
                        out,
                        "{}{{id=\"{id}\",{l}=\"{}\",name=\"{name}\"}} {value}",
                        family.name,
                        escape(&extra)
                    ),
                    None => writeln!(out, "{}{{id=\"{id}\",name=\"{name}\"}} {value}", family.name),
                }?;
            }
        }
    }
    if om {
        out.write_all(b"# EOF\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use isolab_core::stats::detail::{CpuSpec, Throttling};
    use isolab_core::stats::sample::{Ctl, Memory};

    fn web() -> Scraped {
        Scraped {
            name: "web".into(),
            id: "/isolab/web".into(),
            detail: Detail {
                cpu_ns: Some(1_500_000_002),
                throttling: Some(Throttling { periods: 10, throttled_periods: 2, throttled_ns: 3_000_000 }),
                cpu_spec: CpuSpec { shares: Some(512), quota_us: Some(50000), period_us: Some(100000) },
                memory: Some(Memory { usage: 1000, inactive_file: Some(100), limit: Some(104857600) }),
                rss: Some(600),
                cache: Some(300),
                failcnt: Some(0),
                oom_kills: Some(1),
                devices: vec![("4095:99999".into(), 4096, 0)],
                interfaces: vec![("eth0".into(), 10, 20)],
                processes: Some(2),
                net: None,
            },
        }
    }

    fn text(groups: &[Scraped], e: Exposition) -> String {
        let mut out = Vec::new();
        write(groups, e, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn prometheus_text_is_cadvisors() {
        let t = text(&[web()], Exposition::Prometheus);
        for want in [
            "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.\n\
             # TYPE container_cpu_usage_seconds_total counter\n\
             container_cpu_usage_seconds_total{cpu=\"total\",id=\"/isolab/web\",name=\"web\"} 1.500000002\n",
            "container_cpu_cfs_throttled_seconds_total{id=\"/isolab/web\",name=\"web\"} 0.003000000\n",
            "container_memory_working_set_bytes{id=\"/isolab/web\",name=\"web\"} 900\n",
            "# TYPE container_memory_failcnt untyped\ncontainer_memory_failcnt{",
            "container_spec_memory_limit_bytes{id=\"/isolab/web\",name=\"web\"} 104857600\n",
            "container_network_receive_bytes_total{id=\"/isolab/web\",interface=\"eth0\",name=\"web\"} 10\n",
            "container_fs_reads_bytes_total{device=\"4095:99999\",id=\"/isolab/web\",name=\"web\"} 4096\n",
            "container_oom_events_total{id=\"/isolab/web\",name=\"web\"} 1\n",
        ] {
            assert!(t.contains(want), "{want:?} not in:\n{t}");
        }
        assert!(!t.contains("# EOF") && !t.contains("# UNIT"));
    }

    #[test]
    fn openmetrics_names_counter_families_without_total() {
        let t = text(&[web()], Exposition::OpenMetrics);
        assert!(t.contains(
            "# HELP container_cpu_usage_seconds Cumulative cpu time consumed in seconds.\n\
             # TYPE container_cpu_usage_seconds counter\n# UNIT container_cpu_usage_seconds seconds\n\
             container_cpu_usage_seconds_total{"
        ));
        assert!(t.contains("# TYPE container_memory_usage_bytes gauge\n# UNIT container_memory_usage_bytes bytes\n"));
        assert!(t.contains("# TYPE container_memory_failcnt unknown\n"));
        assert!(t.ends_with("}\u{20}1\n# EOF\n"), "{t}");
    }

    #[test]
    fn families_group_their_samples_and_skip_what_no_group_has() {
        let bare =
            Scraped { name: "a\"b".into(), id: "/x".into(), detail: Detail { rss: Some(1), ..Detail::default() } };
        let t = text(&[web(), bare], Exposition::Prometheus);
        assert_eq!(t.matches("# TYPE container_memory_rss").count(), 1);
        assert_eq!(t.matches("container_memory_rss{").count(), 2);
        let t = text(
            &[Scraped { name: "a\"b".into(), id: "/x".into(), detail: Detail::default() }],
            Exposition::Prometheus,
        );
        assert_eq!(t, "", "no number, no family");
        let quoted = text(
            &[Scraped {
                name: "a\"b".into(),
                id: "/x".into(),
                detail: Detail { processes: Some(1), ..Detail::default() },
            }],
            Exposition::Prometheus,
        );
        assert!(quoted.contains("name=\"a\\\"b\"} 1"), "{quoted}");
    }

    #[test]
    fn unlimited_memory_is_zero_as_in_cadvisor() {
        assert_eq!(spec_memory(Some(9223372036854771712)), 0);
        assert_eq!(spec_memory(None), 0);
        assert_eq!(spec_memory(Some(104857600)), 104857600);
    }

    #[test]
    fn ids_are_paths_below_the_mount() {
        let ids = CgroupIds::new(vec!["/sys/fs/cgroup".into(), "/sys/fs/cgroup/memory".into()]);
        let t = crate::fixtures::memory_target("web");
        assert_eq!(ids.id(&t), "/a/isolab/web");
        let root = GroupFiles { memory: Some(Ctl { dir: "/sys/fs/cgroup".into(), v2: true }), ..t };
        assert_eq!(ids.id(&root), "/");
    }
}
