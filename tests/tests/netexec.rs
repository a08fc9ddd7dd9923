//! netexec against the real kernel and the real CNI plugins (containernetworking-plugins):
//! the article's experiment 4 with a network, published ports, clean-up whatever way the
//! command ends, kept namespaces, a user's own network, the rootless path, and bad input.
//!
//! Every test points netexec at its own configuration directory and result cache
//! (NETCONFPATH, NETEXEC_CACHE_DIR) in a scratch directory, so nothing is written to /etc;
//! leases stay in host-local's shared /var/lib/cni/networks (one allocator for everyone on
//! isolab0), and each test checks only the attachments it made, by container ID. Tests that
//! attach take one lock: the plugins' iptables calls and the leftover checks then never race
//! a sibling test of this binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use isolab_tests::{bin, need_root, scaled, skip, Run, Scratch, Tool};
use serde_json::Value;

static ATTACHING: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    ATTACHING.lock().unwrap_or_else(|e| e.into_inner())
}

/// A scratch configuration directory and cache, and a web root with a page.
struct Net {
    dir: Scratch,
}

impl Net {
    fn new(tag: &str) -> Net {
        let dir = Scratch::new(&format!("netexec-{tag}"));
        std::fs::create_dir_all(dir.path().join("www")).unwrap();
        std::fs::write(dir.path().join("www/index.html"), format!("hello from {tag}\n")).unwrap();
        Net { dir }
    }

    fn conf_dir(&self) -> PathBuf {
        self.dir.path().join("net.d")
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    fn www(&self) -> String {
        self.dir.path().join("www").display().to_string()
    }

    /// netexec with this directory's configuration and cache.
    fn netexec(&self) -> Tool {
        Tool::new("netexec").env("NETCONFPATH", self.conf_dir()).env("NETEXEC_CACHE_DIR", self.cache())
    }

    /// netexec with the JSON trace on: what it made can be read back from stderr.
    fn traced(&self) -> Tool {
        self.netexec().env("ISOLAB_EXPLAIN", "json")
    }

    /// Start `args` in the background, traced; returns once COMMAND has been exec'd.
    fn start(&self, args: &[&str]) -> Running {
        let mut cmd = self.traced().args(args).command();
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start netexec");
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut trace = String::new();
        let mut line = String::new();
        while err.read_line(&mut line).unwrap_or(0) > 0 {
            trace.push_str(&line);
            if line.contains("\"op\":\"execve\"") {
                break;
            }
            line.clear();
        }
        assert!(trace.contains("\"op\":\"execve\""), "netexec did not start its command: {trace}");
        let made = Made::from_trace(&trace);
        Running { child, err, trace, made }
    }

    /// Write a configuration list into the directory.
    fn conflist(&self, file: &str, text: &str) -> PathBuf {
        std::fs::create_dir_all(self.conf_dir()).unwrap();
        let path = self.conf_dir().join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The cached results, by file name.
    fn cached(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.cache().join("results"))
            .map(|d| d.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// A netexec running in the background.
struct Running {
    child: Child,
    err: BufReader<std::process::ChildStderr>,
    trace: String,
    made: Made,
}

impl Running {
    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the netexec this test started.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Wait for the end; the status as a shell shows it, and the rest of the trace.
    fn finish(mut self) -> (i32, String) {
        use std::os::unix::process::ExitStatusExt;
        let mut rest = String::new();
        let _ = self.err.read_to_string(&mut rest);
        let status = self.child.wait().unwrap();
        let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        (code, std::mem::take(&mut self.trace) + &rest)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGTERM);
            let _ = self.child.wait();
        }
    }
}

/// What one attachment made: its container ID, the host's end of its veth, its address.
#[derive(Debug, Clone)]
struct Made {
    id: String,
    veth: String,
    ip: String,
}

impl Made {
    /// From a JSON trace: the bridge plugin's ADD step and the result it printed.
    fn from_trace(trace: &str) -> Made {
        let steps: Vec<Value> = trace.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let text = |v: &Value| v["step"].as_str().unwrap_or("").to_string();
        let add = steps
            .iter()
            .position(|s| s["op"] == "env" && text(s).contains("CNI_COMMAND=ADD") && text(s).ends_with("/bridge"))
            .unwrap_or_else(|| panic!("no bridge ADD in the trace: {trace}"));
        let id =
            text(&steps[add]).split_whitespace().find_map(|w| w.strip_prefix("CNI_CONTAINERID=")).unwrap().to_string();
        let result = steps[add..]
            .iter()
            .find_map(|s| text(s).strip_prefix("stdout: ").and_then(|j| serde_json::from_str::<Value>(j).ok()))
            .unwrap_or_else(|| panic!("no bridge result in the trace: {trace}"));
        let veth = result["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["name"].as_str())
            .find(|n| n.starts_with("veth"))
            .unwrap()
            .to_string();
        let ip = result["ips"][0]["address"].as_str().unwrap().split('/').next().unwrap().to_string();
        Made { id, veth, ip }
    }

    /// What of this attachment is still on the host (empty: nothing).
    fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        if Path::new("/run/netns").join(&self.id).exists() {
            left.push(format!("/run/netns/{}", self.id));
        }
        if Path::new("/sys/class/net").join(&self.veth).exists() {
            left.push(format!("veth {}", self.veth));
        }
        for lease in std::fs::read_dir("/var/lib/cni/networks/isolab").into_iter().flatten().flatten() {
            if std::fs::read_to_string(lease.path()).is_ok_and(|t| t.contains(&self.id)) {
                left.push(format!("lease {}", lease.path().display()));
            }
        }
        let rules = output("iptables-save", &[]);
        for rule in rules.lines() {
            if rule.contains(&self.id)
                || rule.contains(&format!("{}/32", self.ip))
                || rule.contains(&format!("{}:", self.ip))
            {
                left.push(format!("rule {rule}"));
            }
        }
        left
    }

    /// Nothing of it left (the kernel removes a veth a little after its namespace goes).
    #[track_caller]
    fn assert_gone(&self) {
        let deadline = Instant::now() + Duration::from_secs(scaled("ISOLAB_TEST_NET_GONE_SECS", 5, 60));
        loop {
            let left = self.leftovers();
            if left.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "{} left behind: {left:#?}", self.id);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn output(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A TCP port nobody uses now (the kernel's pick).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap().local_addr().unwrap().port()
}

/// The host's own address (the first global IPv4 address not on a container bridge).
fn host_address() -> Option<String> {
    let text = output("ip", &["-4", "-o", "addr", "show", "scope", "global"]);
    text.lines()
        .filter(|l| !l.contains("isolab0") && !l.contains("cni") && !l.contains("docker"))
        .find_map(|l| l.split_whitespace().nth(3).and_then(|a| a.split('/').next()).map(String::from))
}

/// GET / from ADDR:PORT, retried until `within`; the body, or the last error.
fn fetch(addr: &str, port: u16, within: Duration) -> Result<String, String> {
    let deadline = Instant::now() + within;
    let target: SocketAddr = format!("{addr}:{port}").parse().unwrap();
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect_timeout(&target, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut reply = String::new();
            s.read_to_string(&mut reply)?;
            Ok(reply)
        })();
        match attempt {
            Ok(reply) if reply.contains("200 OK") => return Ok(reply),
            other if Instant::now() > deadline => return Err(format!("{other:?}")),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn plugins_installed(test: &str) -> bool {
    if Path::new("/usr/lib/cni/bridge").exists() {
        return true;
    }
    skip(test, "containernetworking-plugins is not installed (make deps installs it)");
    false
}

macro_rules! need_cni {
    ($test:expr) => {
        need_root!($test);
        if !plugins_installed($test) {
            return;
        }
    };
}

// Experiment 4 with a network: lo and eth0 172.18.0.x/24 on isolab0; the gateway answers.
#[test]
fn experiment_4_eth0_on_the_bridge_and_the_gateway_answers() {
    need_cni!("experiment_4_eth0_on_the_bridge_and_the_gateway_answers");
    let _one = serial();
    let net = Net::new("exp4");
    let run = net
        .traced()
        .args([
            "--",
            "sh",
            "-c",
            "ip -o link | cut -d: -f2; ip -o -4 addr show eth0; busybox ping -c 1 -W 5 172.18.0.1",
        ])
        .run();
    run.ok();
    let links: Vec<&str> = run.stdout.lines().take_while(|l| !l.contains("inet")).map(str::trim).collect();
    assert_eq!(links.len(), 2, "lo and eth0 only: {}", run.stdout);
    assert!(links[0] == "lo" && links[1].starts_with("eth0@if"), "{}", run.stdout);
    let made = Made::from_trace(&run.stderr);
    assert!(made.ip.starts_with("172.18.0.") && made.ip != "172.18.0.1", "{made:?}");
    run.stdout_has(&format!("inet {}/24", made.ip)).stdout_has("1 packets received");
    assert!(net.conf_dir().join("isolab.conflist").exists(), "the default network is written where netexec was told");
    made.assert_gone();
}

// Experiment 4: a second container on the same network reaches the first by its address.
#[test]
fn two_containers_reach_each_other() {
    need_cni!("two_containers_reach_each_other");
    let _one = serial();
    let net = Net::new("pair");
    let server = net.start(&["--", "busybox", "httpd", "-f", "-p", "80", "-h", &net.www()]);
    // busybox nc, not wget: busybox-static's wget dies of SIGSEGV on a refused connection.
    let get = format!(
        "for i in $(seq 50); do out=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 {} 80) && \
         case \"$out\" in *hello*) echo \"$out\"; exit 0;; esac; sleep 0.1; done; exit 1",
        server.made.ip
    );
    let client = net.traced().args(["--", "sh", "-c", &get]).run();
    client.ok().stdout_has("hello from pair");
    let other = Made::from_trace(&client.stderr);
    assert_ne!(other.ip, server.made.ip);
    other.assert_gone();
    let made = server.made.clone();
    server.signal(libc::SIGTERM);
    assert_eq!(server.finish().0, 143);
    made.assert_gone();
}

// -p HOST:CONTAINER: the page answers on the host's own address and on 127.0.0.1; without -p
// the host port stays closed.
#[test]
fn published_port_answers_on_the_hosts_addresses_only_with_p() {
    need_cni!("published_port_answers_on_the_hosts_addresses_only_with_p");
    let _one = serial();
    let net = Net::new("publish");
    let port = free_port();
    let server =
        net.start(&["-p", &format!("{port}:80"), "--", "busybox", "httpd", "-f", "-p", "80", "-h", &net.www()]);
    let page = fetch("127.0.0.1", port, Duration::from_secs(10)).expect("the page on 127.0.0.1");
    assert!(page.contains("hello from publish"), "{page}");
    match host_address() {
        Some(addr) => {
            let page = fetch(&addr, port, Duration::from_secs(5)).unwrap_or_else(|e| panic!("the page on {addr}: {e}"));
            assert!(page.contains("hello from publish"), "{page}");
        }
        None => {
            skip("published_port_answers_on_the_hosts_addresses_only_with_p", "this host has no global IPv4 address")
        }
    }
    let made = server.made.clone();
    server.signal(libc::SIGTERM);
    assert_eq!(server.finish().0, 143);
    made.assert_gone();
    assert!(fetch("127.0.0.1", port, Duration::ZERO).is_err(), "the port closed with the container");

    let unpublished = net.start(&["--", "busybox", "httpd", "-f", "-p", "80", "-h", &net.www()]);
    let direct = fetch(&unpublished.made.ip, 80, Duration::from_secs(10));
    assert!(direct.is_ok(), "the server runs (on its own address): {direct:?}");
    assert!(fetch("127.0.0.1", port, Duration::ZERO).is_err(), "without -p the host port is closed");
    let made = unpublished.made.clone();
    drop(unpublished);
    made.assert_gone();
}

// Nothing of an attachment stays, however the command ends.
#[test]
fn nothing_left_after_exit_0_42_sigkill_and_sigterm() {
    need_cni!("nothing_left_after_exit_0_42_sigkill_and_sigterm");
    let _one = serial();
    let net = Net::new("ends");
    let port = free_port().to_string();
    for (script, code) in [("exit 0", 0), ("exit 42", 42), ("kill -KILL $$", 137)] {
        let run = net.traced().args(["-p", &format!("{port}:80"), "--", "sh", "-c", script]).run();
        run.code(code);
        Made::from_trace(&run.stderr).assert_gone();
    }
    let running = net.start(&["-p", &format!("{port}:80"), "--", "sleep", "60"]);
    running.signal(libc::SIGTERM);
    let made = running.made.clone();
    let (code, trace) = running.finish();
    assert_eq!(code, 143, "{trace}");
    assert!(trace.contains("CNI_COMMAND=DEL"), "detached after SIGTERM: {trace}");
    made.assert_gone();
    assert!(net.cached().is_empty(), "cache emptied: {:?}", net.cached());
}

// 200 attach/run/detach cycles leave nothing (3 in the test VM).
#[test]
fn many_cycles_leave_nothing() {
    need_cni!("many_cycles_leave_nothing");
    let _one = serial();
    let net = Net::new("cycles");
    let cycles = scaled("ISOLAB_TEST_NET_CYCLES", 200, 3);
    let mut made = Vec::new();
    for _ in 0..cycles {
        let run = net.traced().args(["--", "true"]).run();
        run.ok();
        made.push(Made::from_trace(&run.stderr));
    }
    for m in &made {
        m.assert_gone();
    }
    assert!(net.cached().is_empty(), "cache emptied: {:?}", net.cached());
}

// kill -9 of netexec: its command dies with it (tether), the attachment stays; --gc detaches it.
#[test]
fn kill_9_then_gc_cleans_up() {
    need_cni!("kill_9_then_gc_cleans_up");
    let _one = serial();
    let net = Net::new("gc");
    let port = free_port();
    let running = net.start(&["-p", &format!("{port}:80"), "--", "sleep", "60"]);
    let made = running.made.clone();
    running.signal(libc::SIGKILL);
    let (code, _) = running.finish();
    assert_eq!(code, 137);
    assert!(!made.leftovers().is_empty(), "a killed netexec cannot detach: something must be left for --gc");
    net.netexec().args(["--gc"]).run().ok().stdout_has(&made.id);
    made.assert_gone();
    assert!(net.cached().is_empty(), "{:?}", net.cached());
    net.netexec().args(["--gc"]).run().ok();
}

// --keep NAME: /run/netns/NAME works with ip netns and nsenter-lite; --check; --rm detaches.
#[test]
fn keep_and_rm_with_ip_netns_and_nsenter_lite() {
    need_cni!("keep_and_rm_with_ip_netns_and_nsenter_lite");
    let _one = serial();
    let net = Net::new("keep");
    let name = format!("isolab-test-{}-keep", std::process::id());
    let kept = net.traced().args(["--keep", &name]).run();
    kept.ok();
    let made = Made::from_trace(&kept.stderr);
    assert_eq!(made.id, name);
    let inside = format!("inet {}/24", made.ip);
    Tool::program("ip")
        .args(["netns", "exec", &name, "ip", "-o", "-4", "addr", "show", "eth0"])
        .run()
        .ok()
        .stdout_has(&inside);
    Tool::new("nsenter-lite")
        .args(["--ns-file", &format!("net=/run/netns/{name}"), "--", "ip", "-o", "-4", "addr", "show", "eth0"])
        .run()
        .ok()
        .stdout_has(&inside);
    net.netexec().args(["--check", &name]).run().ok();
    net.netexec().args(["--keep", &name]).run().refused("exists already");
    net.netexec().args(["--gc"]).run().ok();
    assert!(made.leftovers().iter().any(|l| l.starts_with("/run/netns")), "--gc leaves a kept namespace alone");
    net.netexec().args(["--rm", &name]).run().ok();
    made.assert_gone();
    net.netexec().args(["--rm", &name]).run().refused("no namespace kept as");
}

// A user's own network from the configuration directory (ptp), and the same file by path.
#[test]
fn a_user_network_from_the_configuration_directory() {
    need_cni!("a_user_network_from_the_configuration_directory");
    let _one = serial();
    let net = Net::new("ptp");
    let name = format!("isolab-test-{}-ptp", std::process::id());
    let subnet = format!("10.{}.{}", 200 + std::process::id() % 50, std::process::id() % 250);
    let file = net.conflist(
        "50-ptp.conflist",
        &format!(
            r#"{{"cniVersion":"1.0.0","name":"{name}","plugins":[{{"type":"ptp","ipMasq":false,
            "ipam":{{"type":"host-local","ranges":[[{{"subnet":"{subnet}.0/24"}}]],"dataDir":"{}"}}}}]}}"#,
            net.dir.path().join("leases").display()
        ),
    );
    let show = ["--", "ip", "-o", "-4", "addr", "show", "eth0"];
    let run = net.netexec().args(["--network", &name]).args(show).run();
    run.ok().stdout_has(&format!("inet {subnet}."));
    let run = net.netexec().arg("--network").arg(&file).args(show).run();
    run.ok().stdout_has(&format!("inet {subnet}."));
    let leases = std::fs::read_dir(net.dir.path().join("leases").join(&name)).unwrap();
    let left: Vec<String> = leases.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(left.iter().all(|f| f == "lock" || f.starts_with("last_reserved_ip")), "leases left: {left:?}");
    assert!(!output("ip", &["-o", "-4", "route"]).contains(&format!("{subnet}.")), "ptp's host routes are gone");
    assert!(net.cached().is_empty(), "{:?}", net.cached());
}

// --explain: each plugin call with its configuration on stdin and the result; DEL in reverse.
#[test]
fn explain_shows_every_plugin_call() {
    need_cni!("explain_shows_every_plugin_call");
    let _one = serial();
    let net = Net::new("explain");
    let run = net.netexec().args(["--explain", "-p", &format!("{}:80", free_port()), "--", "true"]).run();
    run.ok();
    let calls: Vec<&str> = run.stderr.lines().filter(|l| l.contains("CNI_COMMAND=")).collect();
    let order: Vec<String> = calls
        .iter()
        .map(|l| {
            let cmd = l.split("CNI_COMMAND=").nth(1).unwrap().split_whitespace().next().unwrap();
            format!("{cmd} {}", l.rsplit('/').next().unwrap())
        })
        .collect();
    assert_eq!(order, ["ADD bridge", "ADD portmap", "ADD firewall", "DEL firewall", "DEL portmap", "DEL bridge"]);
    run.stderr_has("netexec: # stdin: {\"bridge\":\"isolab0\"")
        .stderr_has("\"runtimeConfig\":{\"portMappings\":[{")
        .stderr_has("\"prevResult\":{\"cniVersion\":\"1.0.0\"")
        .stderr_has("netexec: # stdout: {\"cniVersion\":\"1.0.0\",\"dns\":{},\"interfaces\":[");
}

// --ip, --mac, --ifname and --dns reach the namespace (runtimeConfig ips/mac, CNI_IFNAME, resolv.conf).
#[test]
fn ip_mac_ifname_and_dns() {
    need_cni!("ip_mac_ifname_and_dns");
    let _one = serial();
    let net = Net::new("flags");
    let ip = format!("172.18.0.{}", 100 + std::process::id() % 150);
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let run = net
        .netexec()
        .args(["--ip", &ip, "--mac", "02:42:ac:12:00:99", "--ifname", "net0", "--dns", "192.0.2.53", "--"])
        .args(["sh", "-c", "ip -o -4 addr show net0; cat /sys/class/net/net0/address; cat /etc/resolv.conf"])
        .run();
    run.ok().stdout_has(&format!("inet {ip}/24")).stdout_has("02:42:ac:12:00:99").stdout_has("nameserver 192.0.2.53");
    assert_eq!(std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(), host_resolv, "the host's is untouched");
}

// The chain of the issue: cgexec-rs -> netexec -p -> nsexec (no -n: netexec's namespace) ->
// httpd in a busybox root; the page from the host; cgstat counts eth0's traffic.
#[test]
fn the_chain_serves_a_published_page_and_cgstat_counts_eth0() {
    need_cni!("the_chain_serves_a_published_page_and_cgstat_counts_eth0");
    let _one = serial();
    let net = Net::new("chain");
    let rootfs = net.dir.path().join("rootfs");
    let made_root =
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../labs/mkrootfs")).arg(&rootfs).output().unwrap();
    assert!(made_root.status.success(), "mkrootfs: {made_root:?}");
    std::fs::create_dir_all(rootfs.join("www")).unwrap();
    std::fs::write(rootfs.join("www/index.html"), "hello from the chain\n").unwrap();
    let name = format!("isolab-test-{}-netchain", std::process::id());
    let port = free_port();
    let mut cmd = Tool::new("cgexec-rs")
        .env("NETCONFPATH", net.conf_dir())
        .env("NETEXEC_CACHE_DIR", net.cache())
        .env("ISOLAB_EXPLAIN", "json")
        .args(["--name", &name, "-m", "100m", "--"])
        .arg(bin("netexec"))
        .args(["-p", &format!("{port}:80"), "--"])
        .arg(bin("nsexec"))
        .args(["-U", "-m", "-p", "-u", "-i", "--map-users", "0:100000:65536", "--map-groups", "0:100000:65536"])
        .arg("--rootfs")
        .arg(&rootfs)
        .args(["--", "httpd", "-f", "-p", "80", "-h", "/www"])
        .command();
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut s);
        s
    });
    let page = fetch("127.0.0.1", port, Duration::from_secs(scaled("ISOLAB_TEST_NET_UP_SECS", 15, 120)));
    let stats = Tool::new("cgstat").args(["--no-stream", "--json", "--interval", "0.2", &name]).run();
    // SAFETY: kill(2) on the cgexec-rs this test started; it forwards SIGTERM down the chain.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    let trace = reader.join().unwrap();
    let page = page.unwrap_or_else(|e| panic!("no page through the chain: {e}\n{trace}"));
    assert!(page.contains("hello from the chain"), "{page}");
    stats.ok();
    let row: Value = serde_json::from_str(stats.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(row["net_namespace"], "private", "{row}");
    assert!(row["net_rx_bytes"].as_u64().unwrap_or(0) > 0, "NET I/O counts eth0: {row}");
    let netexec_trace: String =
        trace.lines().filter(|l| l.contains("\"tool\":\"netexec\"")).collect::<Vec<_>>().join("\n");
    let unshares: Vec<&str> =
        trace.lines().filter(|l| l.contains("\"tool\":\"nsexec\"") && l.contains("\"op\":\"unshare\"")).collect();
    assert!(
        !unshares.is_empty() && unshares.iter().all(|l| !l.contains("CLONE_NEWNET")),
        "nsexec stays in netexec's: {unshares:?}"
    );
    Made::from_trace(&netexec_trace).assert_gone();
}

// Without root: pasta (or slirp4netns) in a new user namespace; -p works the same.
#[test]
fn rootless_through_pasta_as_an_unprivileged_user() {
    need_root!("rootless_through_pasta_as_an_unprivileged_user");
    use std::os::unix::fs::PermissionsExt;
    let tun = std::fs::metadata("/dev/net/tun").map(|m| m.permissions().mode() & 0o777);
    if tun.as_ref().ok() != Some(&0o666) {
        skip(
            "rootless_through_pasta_as_an_unprivileged_user",
            &format!("/dev/net/tun is {tun:?} (mode bits): make deps sets Debian's 0666"),
        );
        return;
    }
    let isolab_tests::user::TestUser { uid, gid } = isolab_tests::user::test_user();
    let net = Net::new("rootless");
    let copy = net.dir.path().join("netexec");
    std::fs::copy(bin("netexec"), &copy).unwrap();
    let as_user = |args: &[&str]| {
        Tool::program("setpriv")
            .args(["--reuid", &uid.to_string(), "--regid", &gid.to_string(), "--clear-groups", "--"])
            .arg(&copy)
            .args(args)
    };
    let run = as_user(&["--", "sh", "-c", "id -u; ip -o -4 addr show eth0; ip route show default"]).run();
    run.ok().stdout_has("inet ").stdout_has("default via");
    assert_eq!(run.stdout.lines().next(), Some("0"), "root inside its own user namespace: {}", run.stdout);
    let port = free_port();
    let mut cmd =
        as_user(&["-p", &format!("{port}:80"), "--", "busybox", "httpd", "-f", "-p", "80", "-h", &net.www()]).command();
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let page = fetch("127.0.0.1", port, Duration::from_secs(15));
    // SAFETY: kill(2) on the setpriv/netexec this test started (setpriv execs netexec).
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let page = page.expect("the page through pasta");
    assert!(page.contains("hello from rootless"), "{page}");
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGTERM));
    // slirp4netns: its fixed 10.0.2.100, -p through its API socket.
    let port = free_port();
    let args = ["--network", "slirp4netns", "-p", &format!("{port}:80"), "--", "sh", "-c"];
    let script = format!("ip -o -4 addr show eth0 >&2; exec busybox httpd -f -p 80 -h {}", net.www());
    let mut cmd = as_user(&args).arg(&script).command();
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let page = fetch("127.0.0.1", port, Duration::from_secs(15));
    // SAFETY: kill(2) on the setpriv/netexec this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(page.is_ok_and(|p| p.contains("hello from rootless")), "the page through slirp4netns: {stderr}");
    assert!(stderr.contains("inet 10.0.2.100/24"), "{stderr}");
    let run = as_user(&["--network", "isolab", "--", "true"]).run();
    run.refused("need root");
}

/// Bad input: exit 125, one line naming the plugin, flag or file, and nothing of it left.
#[track_caller]
fn refused_leaving_nothing(net: &Net, args: &[&str], needle: &str) -> Run {
    let before = (ports_of_bridge(), netns_entries(), net.cached());
    let run = net.netexec().args(args).run();
    run.refused(needle);
    assert_eq!((ports_of_bridge(), netns_entries(), net.cached()), before, "something was left: {}", run.stderr);
    run
}

fn ports_of_bridge() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/class/net/isolab0/brif")
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn netns_entries() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn bad_input_is_refused_and_leaves_nothing() {
    need_cni!("bad_input_is_refused_and_leaves_nothing");
    let _one = serial();
    let net = Net::new("bad");
    let leases = net.dir.path().join("leases").display().to_string();
    // isolab0 with a gateway, as the default network makes it: a bridge the plugin made without
    // one keeps no MAC of its own once its last port goes (00:00:00:00:00:00 on 6.x), and the
    // packaged bridge plugin then fails every later gateway ADD ("could not set bridge's mac").
    let bridge = format!(
        r#"{{"type":"bridge","bridge":"isolab0","isGateway":true,"ipam":{{"type":"host-local","dataDir":"{leases}",
        "ranges":[[{{"subnet":"172.18.0.0/24","rangeStart":"172.18.0.2","gateway":"172.18.0.1"}}]]}}}}"#
    );
    let tag = std::process::id();
    // A missing plugin: found out before anything is made.
    net.conflist(
        "a.conflist",
        &format!(r#"{{"cniVersion":"1.0.0","name":"missing{tag}","plugins":[{bridge},{{"type":"nosuchplugin"}}]}}"#),
    );
    refused_leaving_nothing(&net, &["--network", &format!("missing{tag}"), "true"], "plugin \"nosuchplugin\"");
    // A plugin that fails ADD halfway: the bridge ran, tuning failed; both are DELeted.
    net.conflist(
        "b.conflist",
        &format!(
            r#"{{"cniVersion":"1.0.0","name":"halfway{tag}","plugins":[{bridge},
            {{"type":"tuning","sysctl":{{"net.ipv4.conf.eth0.no_such_knob":"1"}}}}]}}"#
        ),
    );
    let run = refused_leaving_nothing(
        &net,
        &["--network", &format!("halfway{tag}"), "true"],
        "plugin tuning ADD failed: CNI error",
    );
    run.stderr_has("(undone with DEL: tuning, bridge)");
    // A malformed list, named by path.
    let bad = net.conflist("c.json.txt", "{\"cniVersion\": \"1.0.0\", \"name\": ");
    refused_leaving_nothing(
        &net,
        &["--network", bad.to_str().unwrap(), "true"],
        "CNI error 6 (failed to decode content)",
    );
    let old = net.conflist("d.txt", r#"{"cniVersion":"0.2.0","name":"old","plugins":[{"type":"bridge"}]}"#);
    refused_leaving_nothing(
        &net,
        &["--network", old.to_str().unwrap(), "true"],
        "CNI error 1 (incompatible CNI version)",
    );
    // An address outside the subnet.
    let run = refused_leaving_nothing(&net, &["--ip", "10.9.9.9", "true"], "plugin bridge ADD failed: CNI error");
    run.stderr_has("10.9.9.9");
    // A host port in use.
    let busy = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let port = busy.local_addr().unwrap().port();
    refused_leaving_nothing(&net, &["-p", &format!("{port}:80"), "true"], "Address already in use");
    // Flags the network cannot honour, names that do not exist.
    net.conflist("e.conflist", &format!(r#"{{"cniVersion":"1.0.0","name":"noports{tag}","plugins":[{bridge}]}}"#));
    refused_leaving_nothing(
        &net,
        &["--network", &format!("noports{tag}"), "-p", "8080:80", "true"],
        "\"portMappings\" capability",
    );
    refused_leaving_nothing(&net, &["--network", "no-such-network", "true"], "no network named \"no-such-network\"");
    refused_leaving_nothing(&net, &["--rm", "no-such-namespace"], "no namespace kept as no-such-namespace");
    refused_leaving_nothing(&net, &["--check", "no-such-namespace"], "no namespace kept");
    for (args, needle) in [
        (&["-p", "80", "true"][..], "-p 80"),
        (&["-p", "8080:80/sctp", "true"], "unknown protocol"),
        (&["--ifname", "a/b", "true"], "--ifname"),
        (&["--mac", "zz", "true"], "--mac"),
        (&["--ip", "1.2.3", "true"], "--ip"),
        (&["--keep", "../etc", "true"], "--keep"),
        (&["--gc", "true"], "--gc takes no command"),
        (&[], "a command is required"),
    ] {
        refused_leaving_nothing(&net, args, needle);
    }
}
