//! cgstat for pipelines and fleets (issue 19), against the real kernel and the real peers:
//! docker stats' --format, metrics that promtool and a strict OpenMetrics parser accept, a real
//! Prometheus scraping `cgstat --listen`, the server under bad requests, and --events seeing an
//! OOM kill and a pids limit hit made here. Groups are made by cgexec-rs under this test's own
//! cgroup with unique names; servers listen on ports the kernel picked, on 127.0.0.1 only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use isolab_tests::cgroups;
use isolab_tests::{need_root, Scratch, Tool};
use serde_json::Value;

/// A group made by `cgexec-rs --name NAME LIMITS -- COMMAND`, in the background; dropping it
/// stops cgexec-rs, which removes the group.
struct Group {
    name: String,
    cgexec: Child,
}

fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("isolab-test-{}-fleet{tag}{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

impl Group {
    fn start(limits: &[&str], command: &[&str]) -> Group {
        Group::start_named(unique(""), limits, command)
    }

    fn start_named(name: String, limits: &[&str], command: &[&str]) -> Group {
        let mut cmd = Tool::new("cgexec-rs").arg("--name").arg(&name).args(limits).arg("--").args(command).command();
        let cgexec = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("cgexec-rs");
        let g = Group { name, cgexec };
        let ready = cgroups::wait_until(30.0, || {
            let run = Tool::new("cgstat").args(["--no-stream", "--interval", "0.05", "--json", &g.name]).run();
            run.code == 0
                && serde_json::from_str::<Value>(run.stdout.trim()).is_ok_and(|v| v["pids"].as_u64() >= Some(1))
        });
        assert!(ready, "{} never ran", g.name);
        g
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid, not reaped yet.
        unsafe { libc::kill(self.cgexec.id() as i32, libc::SIGTERM) };
        let _ = self.cgexec.wait();
        let _ = Tool::new("cgexec-rs").args(["--rm", &self.name]).run();
    }
}

/// A background process of ours, killed and reaped on drop.
struct Bg(Child);

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port on 127.0.0.1 that was free a moment ago (the kernel's pick).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The group's cgroup path in the memory hierarchy, computed here (not by isolab-core).
fn cgroup_path(name: &str) -> String {
    let h = cgroups::hierarchy_of("memory").expect("a memory hierarchy");
    let dir = cgroups::default_dir(&h, name);
    format!("/{}", dir.strip_prefix(&h.mount).unwrap().display())
}

fn one_json(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not one JSON line ({e}): {stdout}"))
}

// Every placeholder of --format against cgstat's table and JSON line of a sleeping group, in
// separate runs: the steady columns must be the same strings, the moving ones (a few pages of
// memory, CPU %) the same format and about the same number. (The exact same sample through
// the template, the table and --json: cgstat's unit test every_placeholder_matches_...)
#[test]
fn format_placeholders_match_the_table_and_json() {
    need_root!("format_placeholders_match_the_table_and_json");
    let g = Group::start(&["--memory", "100m"], &["sleep", "60"]);
    let cgstat = |extra: &[&str]| {
        let mut args = vec!["--no-stream", "--interval", "0.2"];
        args.extend_from_slice(extra);
        args.push(&g.name);
        Tool::new("cgstat").args(args).run().ok().stdout.clone()
    };
    let cells_of = |table: &str| -> Vec<String> {
        let row = table.lines().nth(1).unwrap_or_else(|| panic!("no row: {table}"));
        row.split("   ").map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect()
    };
    let percent = |p: &str| -> f64 { p.strip_suffix('%').unwrap_or_else(|| panic!("{p}")).parse().unwrap() };
    let table = cgstat(&[]);
    let json = one_json(&cgstat(&["--json"]));
    let all =
        "{{.Name}}|{{.ID}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}|{{.Container}}";
    let line = cgstat(&["--format", all]);
    let f: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(f.len(), 9, "{line:?}");
    let cells = cells_of(&table);
    assert_eq!([f[0], f[5], f[6], f[7]], [&cells[0], &cells[4], &cells[5], &cells[6]]);
    for (i, key) in [(0, "Name"), (5, "NetIO"), (6, "BlockIO"), (7, "PIDs")] {
        assert_eq!(json[key], f[i], "{key}");
    }
    for (i, cell, key) in [(2, 1, "CPUPerc"), (4, 3, "MemPerc")] {
        let (ours, table, json) = (percent(f[i]), percent(&cells[cell]), percent(json[key].as_str().unwrap()));
        assert!((ours - table).abs() < 1.0 && (ours - json).abs() < 1.0, "{key}: {line} {cells:?} {json}");
    }
    assert!(f[3].ends_with(" / 100MiB") && cells[2].ends_with(" / 100MiB"), "{line} {cells:?}");
    assert!(json["MemUsage"].as_str().unwrap().ends_with(" / 100MiB"), "{json}");
    assert_eq!((f[1], f[8]), (cgroup_path(&g.name).as_str(), g.name.as_str()));

    let as_table = cgstat(&["--format", "table"]);
    assert_eq!(as_table.lines().next(), table.lines().next(), "--format table has the table's header");
    assert_eq!(cells_of(&as_table)[4..], cells[4..], "and its columns");
    let docker = cgstat(&["--format", "table {{.Name}}\\t{{.PIDs}}"]);
    assert_eq!(docker, format!("NAME{}PIDS\n{}{}1\n", " ".repeat(g.name.len() - 1), g.name, "   "));
    let object = one_json(&cgstat(&["--format", "{{json .}}"]));
    let keys: Vec<&String> = object.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage", "Name", "NetIO", "PIDs"]);
    assert_eq!(object["ID"], cgroup_path(&g.name));
    assert_eq!(
        cgstat(&["--format", "pids={{.PIDs}}; {{upper .Name}}"]),
        format!("pids=1; {}\n", g.name.to_uppercase())
    );
}

// Bad input: an unknown placeholder is refused before any group is read, naming it and the
// valid ones.
#[test]
fn unknown_placeholder_is_refused_with_the_valid_ones() {
    let run = Tool::new("cgstat").args(["--no-stream", "--format", "{{.Name}} {{.MemUsed}}"]).run();
    run.refused("unknown placeholder .MemUsed");
    run.stderr_has(".Name, .ID, .CPUPerc, .MemUsage, .MemPerc, .NetIO, .BlockIO, .PIDs, .Container");
    Tool::new("cgstat").args(["--format", "{{.Name"]).run().refused("--format");
    Tool::new("cgstat").args(["--listen", "127.0.0.1"]).run().refused("--listen");
    Tool::new("cgstat").args(["--listen", "127.0.0.1:1", "--format", "json"]).run().refused("--listen");
}

/// A group with every limit the metrics report.
fn limited_group() -> Group {
    Group::start(&["--memory", "64m", "--cpus", "0.5", "--pids-limit", "50"], &["sleep", "120"])
}

// promtool lints the Prometheus text format; python's prometheus_client parses OpenMetrics
// strictly (families, _total, units, # EOF). Both must accept cgstat's output, which must hold
// the group's limits as cAdvisor reports them.
#[test]
fn promtool_and_an_openmetrics_parser_accept_the_metrics() {
    need_root!("promtool_and_an_openmetrics_parser_accept_the_metrics");
    let g = limited_group();
    let text = Tool::new("cgstat").args(["--format", "prometheus", &g.name]).run().ok().stdout.clone();
    let id = cgroup_path(&g.name);
    for want in [
        format!("container_spec_memory_limit_bytes{{id=\"{id}\",name=\"{}\"}} 67108864\n", g.name),
        format!("container_spec_cpu_quota{{id=\"{id}\",name=\"{}\"}} 50000\n", g.name),
        format!("container_processes{{id=\"{id}\",name=\"{}\"}} 1\n", g.name),
        "# TYPE container_cpu_usage_seconds_total counter\n".to_string(),
        "# TYPE container_cpu_cfs_throttled_periods_total counter\n".to_string(),
    ] {
        assert!(text.contains(&want), "{want:?} not in\n{text}");
    }
    Tool::program("promtool").args(["check", "metrics"]).stdin(text.clone()).run().ok();
    // promtool is not a rubber stamp: a counter without HELP is refused.
    Tool::program("promtool").args(["check", "metrics"]).stdin("# TYPE x_total counter\nx_total 1\n").run().code(3);

    let om = Tool::new("cgstat").args(["--format", "openmetrics", &g.name]).run().ok().stdout.clone();
    assert!(om.ends_with("# EOF\n") && om.contains("# UNIT container_cpu_usage_seconds seconds\n"), "{om}");
    let parse = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n\
                 for f in p(sys.stdin.read()):\n    print(f.name, f.type, len(f.samples))\n";
    let run = Tool::program("/usr/bin/python3").args(["-c", parse]).stdin(om.clone()).run();
    run.ok().stdout_has("container_cpu_usage_seconds counter 1").stdout_has("container_memory_failcnt unknown 1");
    let cut = om.trim_end_matches("# EOF\n").to_string();
    Tool::program("/usr/bin/python3").args(["-c", parse]).stdin(cut).run().code(1).stderr_has("EOF");
}

/// GET `path` from 127.0.0.1:`port`: (status, body).
fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    read_response(&mut s)
}

fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Start `cgstat --listen` with `args`, waiting until it answers.
fn serve(port: u16, args: &[&str]) -> Bg {
    let addr = format!("127.0.0.1:{port}");
    let child = Tool::new("cgstat").arg("--listen").arg(&addr).args(args).command();
    let bg = Bg(spawn_piped(child, Stdio::null()));
    assert!(cgroups::wait_until(20.0, || TcpStream::connect(("127.0.0.1", port)).is_ok()), "cgstat never listened");
    bg
}

fn spawn_piped(mut cmd: Command, stderr: Stdio) -> Child {
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr).spawn().expect("spawn")
}

/// Prometheus' instant query: the values of the vector, as numbers.
fn query(port: u16, promql: &str) -> Vec<f64> {
    let encoded: String = promql
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    // Prometheus takes a few seconds to listen: no answer is no value yet.
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return Vec::new() };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = write!(s, "GET /api/v1/query?query={encoded} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let (status, body) = read_response(&mut s);
    if status != 200 {
        return Vec::new();
    }
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    v["data"]["result"]
        .as_array()
        .map(|r| r.iter().filter_map(|s| s["value"][1].as_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

// A real Prometheus, started here on 127.0.0.1 with its own config and tsdb under a scratch
// directory, scrapes `cgstat --listen` in the Prometheus text format and in OpenMetrics (two
// jobs: each parser of Prometheus must take its format). Its query API must return the group's
// limit, and a memory usage within what cgstat --json reports around the query.
#[test]
fn prometheus_scrapes_cgstat_listen() {
    need_root!("prometheus_scrapes_cgstat_listen");
    let g = Group::start(&["--memory", "96m"], &["perl", "-e", "$x = 'a'; $x x= 20_000_000; sleep 120"]);
    let (text_port, om_port, prom_port) = (free_port(), free_port(), free_port());
    let _text = serve(text_port, &[&g.name]);
    let _om = serve(om_port, &["--format", "openmetrics", &g.name]);
    let dir = Scratch::new("prometheus");
    let config = dir.path().join("prometheus.yml");
    let yml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
         - job_name: cgstat\n  static_configs:\n  - targets: ['127.0.0.1:{text_port}']\n\
         - job_name: cgstat-openmetrics\n  static_configs:\n  - targets: ['127.0.0.1:{om_port}']\n"
    );
    std::fs::write(&config, yml).unwrap();
    let mut prom = Command::new("prometheus");
    prom.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"));
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _prom = Bg(spawn_piped(prom, Stdio::from(log)));

    let name = &g.name;
    let limit = format!("container_spec_memory_limit_bytes{{name=\"{name}\"}}");
    let up = |job: &str| query(prom_port, &format!("up{{job=\"{job}\"}}")) == [1.0];
    let scraped =
        cgroups::wait_until(60.0, || up("cgstat") && up("cgstat-openmetrics") && !query(prom_port, &limit).is_empty());
    let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    assert!(scraped, "Prometheus never scraped both jobs; its log:\n{log}");
    for job in ["cgstat", "cgstat-openmetrics"] {
        let values = query(prom_port, &format!("container_spec_memory_limit_bytes{{name=\"{name}\",job=\"{job}\"}}"));
        assert_eq!(values, [96.0 * 1024.0 * 1024.0], "{job}");
    }

    // Usage: cgstat --json before and after a fresh scrape's value (Docker's usage leaves out
    // inactive file pages, a few pages for a perl holding 20 MB of anonymous memory).
    let json_usage = || {
        let run = Tool::new("cgstat").args(["--no-stream", "--interval", "0.05", "--json", name]).run();
        one_json(&run.ok().stdout)["mem_usage_bytes"].as_f64().unwrap()
    };
    let before = json_usage();
    std::thread::sleep(Duration::from_millis(2500)); // two scrape intervals: the value is newer than `before`
    let usage = query(prom_port, &format!("container_memory_usage_bytes{{name=\"{name}\",job=\"cgstat\"}}"));
    let after = json_usage();
    let (lo, hi) = (before.min(after), before.max(after));
    assert_eq!(usage.len(), 1, "{usage:?}");
    assert!(usage[0] >= lo && usage[0] <= hi + 1024.0 * 1024.0, "Prometheus {} vs cgstat --json {lo}..{hi}", usage[0]);
    assert!(usage[0] > 19e6, "perl's 20 MB: {}", usage[0]);
}

/// Send raw bytes, read what comes back (the status).
fn raw_request(port: u16, bytes: &[u8]) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    read_response(&mut s).0
}

// The server answers what it does not serve with an error status and goes on: other paths and
// methods, garbage, headers past 8 KiB, a client that says nothing, one that leaves at once,
// and slow clients holding every worker. Under --explain: one line per request.
#[test]
fn bad_requests_get_errors_and_never_stop_the_server() {
    need_root!("bad_requests_get_errors_and_never_stop_the_server");
    let g = Group::start(&[], &["sleep", "120"]);
    let port = free_port();
    let dir = Scratch::new("listen");
    let log = dir.path().join("stderr");
    let child =
        Tool::new("cgstat").arg("--listen").arg(format!("127.0.0.1:{port}")).args(["--explain", &g.name]).command();
    let _server = Bg(spawn_piped(child, Stdio::from(std::fs::File::create(&log).unwrap())));
    assert!(cgroups::wait_until(20.0, || TcpStream::connect(("127.0.0.1", port)).is_ok()));
    let ok = || {
        let (status, body) = http_get(port, "/metrics");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(&format!("name=\"{}\"", g.name)), "{body}");
    };
    ok();
    assert_eq!(http_get(port, "/").0, 404);
    assert_eq!(http_get(port, "/metrics/../etc/passwd").0, 404);
    assert_eq!(raw_request(port, b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), 405);
    assert_eq!(raw_request(port, b"DELETE /metrics HTTP/1.1\r\n\r\n"), 405);
    assert_eq!(raw_request(port, b"\x00\x01garbage\r\n\r\n"), 400);
    let huge = format!("GET /metrics HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000));
    assert_eq!(raw_request(port, huge.as_bytes()), 431);
    let many: String = (0..100).map(|i| format!("X-{i}: y\r\n")).collect();
    assert_eq!(raw_request(port, format!("GET /metrics HTTP/1.1\r\n{many}\r\n").as_bytes()), 431);
    drop(TcpStream::connect(("127.0.0.1", port)).unwrap()); // gone before a word
    ok();
    // Six slow clients at once (more than the workers): each gets 408, and a scrape after them works.
    let started = Instant::now();
    let slow: Vec<_> = (0..6).map(|_| std::thread::spawn(move || raw_request(port, b"GET /metr"))).collect();
    let statuses: Vec<u16> = slow.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(statuses, [408; 6], "slow clients");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    ok();
    let trace = std::fs::read_to_string(&log).unwrap();
    let lines = trace.lines().filter(|l| l.contains(" bytes ")).count();
    assert!(lines >= 15, "one line per request:\n{trace}");
    assert!(trace.contains("\"POST /metrics HTTP/1.1\" 405"), "{trace}");
}

/// `cgstat --events --json NAMES...` in the background, its lines with the time they arrived.
struct Events {
    child: Child,
    lines: mpsc::Receiver<(Instant, Value)>,
}

impl Events {
    fn start(names: &[&str]) -> Events {
        let ready = unique("ready");
        let mut cmd = Tool::new("cgstat").args(["--events", "--json", &ready]).args(names).command();
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                if tx.send((Instant::now(), v)).is_err() {
                    break;
                }
            }
        });
        // The watches are set once it has read the layout, later on a loaded machine: a group
        // made and removed until cgstat reports it says it is watching.
        let events = Events { child, lines };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(Instant::now() < deadline, "cgstat --events never saw a group made");
            run_to_end(&ready, &[], &["true"]);
            if events.next("create", &ready, 1).is_some() {
                break;
            }
        }
        events
    }

    /// The first event `action` of group `name` within `secs`.
    fn next(&self, action: &str, name: &str, secs: u64) -> Option<(Instant, Value)> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok((at, v)) if v["Action"] == action && v["Actor"]["Attributes"]["name"] == name => {
                    return Some((at, v))
                }
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

/// Run cgexec-rs to its end: the moment it returned and its status.
fn run_to_end(name: &str, limits: &[&str], command: &[&str]) -> (Instant, i32) {
    let run = Tool::new("cgexec-rs").args(["--name", name]).args(limits).arg("--").args(command).run();
    (Instant::now(), run.code)
}

// --events reports an OOM kill and a pids limit hit that this test makes, within a second of
// the payload's end (the kill and the refused fork come before it), and the groups' creation
// and removal; SIGINT ends it with status 0. Host and both VM layouts.
#[test]
fn events_see_an_oom_kill_and_a_pids_limit_hit() {
    need_root!("events_see_an_oom_kill_and_a_pids_limit_hit");
    let (oom, pids) = (unique("oom"), unique("pids"));
    let mut events = Events::start(&[&oom, &pids]);
    // A second for cgstat to see the group before the kill, however loaded the machine.
    let alloc = "select(undef, undef, undef, 1); $x = 'a'; $x x= 200_000_000; sleep 5";
    let (ended, code) = run_to_end(&oom, &["--memory", "32m"], &["perl", "-e", alloc]);
    assert_eq!(code, 137, "the OOM killer took the payload");
    let (_, created) = events.next("create", &oom, 10).expect("the group's creation");
    let (at, v) = events.next("oom-kill", &oom, 10).expect("an oom-kill event");
    assert!(at <= ended + Duration::from_secs(1), "oom-kill came {:?} after the payload ended", at - ended);
    assert_eq!((v["Actor"]["Attributes"]["count"].as_u64(), v["Type"].as_str()), (Some(1), Some("group")));
    let (_, destroyed) = events.next("destroy", &oom, 10).expect("the group's removal");
    // One id for the group in every line (the memory hierarchy's path, which it is made in last).
    let id = &v["Actor"]["ID"];
    assert!(id.as_str().is_some_and(|i| i.ends_with(&format!("/{oom}"))), "{v}");
    assert_eq!((&created["Actor"]["ID"], &destroyed["Actor"]["ID"]), (id, id));

    // Forks until the kernel refuses one (perl and two children fill pids.max 3), then stays a
    // second, so the group is still there however late cgstat lists it, and fails.
    let fork = "select(undef, undef, undef, 0.3); my @kids; while (1) { my $p = fork; \
                if (!defined $p) { sleep 1; kill 9, @kids; exit 1 } if (!$p) { sleep 5; exit 0 } push @kids, $p }";
    let (ended, code) = run_to_end(&pids, &["--pids-limit", "3"], &["perl", "-e", fork]);
    assert_ne!(code, 0, "a fork was refused");
    let (at, _) = events.next("pids-limit", &pids, 10).expect("a pids-limit event");
    assert!(at <= ended + Duration::from_secs(1), "pids-limit came {:?} after the payload ended", at - ended);

    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(events.child.id() as i32, libc::SIGINT) };
    let status = events.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "SIGINT ends --events with status 0");
}

// `cgstat --events | head -1`: the reader leaves after the first line; cgstat notices at once
// (not at its next event) and exits 0 without a word.
#[test]
fn events_into_head_exits_zero() {
    need_root!("events_into_head_exits_zero");
    let name = unique("head");
    let script = format!(
        "{} --events {name} | head -1; echo \"status ${{PIPESTATUS[0]}}\"",
        isolab_tests::bin("cgstat").display()
    );
    let mut sh =
        Command::new("bash").args(["-c", &script]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let g = Group::start_named(name, &[], &["sleep", "60"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sh.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if sh.try_wait().unwrap().is_none() {
        let _ = sh.kill();
    }
    let out = sh.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("group create {}", g.name)), "{stdout}");
    assert!(stdout.ends_with("status 0\n"), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
