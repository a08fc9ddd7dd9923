//! The rows of issue 9: each isolab path (always side 0) beside its peer tool and, where there
//! is one, the bare-syscall floor (bench/c/*.c), all with payload /bin/true.

use std::path::PathBuf;

use crate::fixtures::{self, Bundle, Groups, NetDirs, PodmanImage, Target, CONTROLLERS};
use crate::measure::Side;

/// A goal: side 0's median over side `against`'s at most `limit`.
pub struct Goal {
    pub against: usize,
    pub limit: f64,
}

pub struct Row {
    pub id: &'static str,
    pub title: &'static str,
    pub sides: Vec<Side>,
    pub goals: Vec<Goal>,
    /// Slow rows run fewer times.
    pub slow: bool,
    /// Whatever must live as long as the row (the runc bundle).
    pub guard: Option<Box<dyn std::any::Any>>,
}

/// Where the binaries are.
pub struct Paths {
    pub bin: PathBuf,
    pub cbin: PathBuf,
    pub rootfs: PathBuf,
}

impl Paths {
    fn tool(&self, name: &str) -> String {
        self.bin.join(name).display().to_string()
    }
    fn c(&self, name: &str) -> String {
        self.cbin.join(name).display().to_string()
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn goals(limits: &[(usize, f64)]) -> Vec<Goal> {
    limits.iter().map(|&(against, limit)| Goal { against, limit }).collect()
}

pub fn exec_floor() -> Row {
    Row {
        id: "exec",
        title: "exec floor: /bin/true alone",
        sides: vec![Side::new("/bin/true", &["/bin/true"])],
        goals: vec![],
        slow: false,
        guard: None,
    }
}

pub fn ns_all(p: &Paths) -> Row {
    Row {
        id: "ns-all",
        title: "create every namespace, root mapped, fresh /proc",
        sides: vec![
            Side::new("nsexec -a --map-root", &[&p.tool("nsexec"), "-a", "--map-root", "/bin/true"]),
            Side::new(
                "unshare -U -r -m -p -f -n -u -i -C -T --mount-proc",
                &["unshare", "-U", "-r", "-m", "-p", "-f", "-n", "-u", "-i", "-C", "-T", "--mount-proc", "/bin/true"],
            ),
            Side::new("C floor: nsbase UmpnuiCTP", &[&p.c("nsbase"), "UmpnuiCTP", "/bin/true"]),
        ],
        goals: goals(&[(1, 1.0), (2, 1.1)]),
        slow: false,
        guard: None,
    }
}

pub fn ns_pid(p: &Paths) -> Row {
    Row {
        id: "ns-pid",
        title: "PID + mount namespace, fresh /proc",
        sides: vec![
            Side::new("nsexec --pid --mount", &[&p.tool("nsexec"), "--pid", "--mount", "/bin/true"]),
            Side::new(
                "unshare --fork --pid --mount-proc",
                &["unshare", "--fork", "--pid", "--mount-proc", "/bin/true"],
            ),
            Side::new("C floor: nsbase mpP", &[&p.c("nsbase"), "mpP", "/bin/true"]),
        ],
        goals: goals(&[(1, 1.0), (2, 1.1)]),
        slow: false,
        guard: None,
    }
}

pub fn ns_join(p: &Paths, target: &Target) -> Row {
    let pid = target.pid.to_string();
    Row {
        id: "ns-join",
        title: "join all 8 namespaces of a process (own user ns)",
        sides: vec![
            Side::new("nsenter-lite -t PID -a", &[&p.tool("nsenter-lite"), "-t", &pid, "-a", "/bin/true"]),
            Side::new("nsenter -t PID -a", &["nsenter", "-t", &pid, "-a", "/bin/true"]),
            Side::new("C floor: nsjoin (pidfd setns)", &[&p.c("nsjoin"), &pid, "UmpnuiCT", "/bin/true"]),
        ],
        goals: goals(&[(1, 1.0), (2, 1.1)]),
        slow: false,
        guard: None,
    }
}

/// The limits of the cycle and chain rows, as cgexec-rs flags and as v1 files.
const LIMITS: [&str; 6] = ["--memory", "100m", "--cpu-shares", "512", "--pids-limit", "64"];
const LIMIT_FILES: [(&str, &str, &str); 4] = [
    ("memory", "memory.limit_in_bytes", "104857600"),
    ("memory", "memory.memsw.limit_in_bytes", "209715200"), // Docker's default swap: twice --memory
    ("cpu", "cpu.shares", "512"),
    ("pids", "pids.max", "64"),
];

pub fn cg_cycle(p: &Paths, g: &Groups) -> Result<Row, String> {
    g.make("cycle")?;
    let parent = format!("{}/cycle", g.name);
    let mut ours = vec![p.tool("cgexec-rs"), "--cgroup-parent".into(), parent];
    ours.extend(strings(&LIMITS));
    ours.push("/bin/true".into());
    // libcgroup as a user scripts it: one path per controller, because cgdelete 2.0.2 removes
    // only one of several groups that share a path (and exits 0).
    let lc = |c: &str| format!("{c}:{}", g.cg_path(c, &format!("cycle/lc-{c}")));
    let mut create = strings(&["cgcreate"]);
    let mut delete = strings(&["cgdelete"]);
    let mut join = strings(&["cgexec"]);
    for c in CONTROLLERS {
        for list in [&mut create, &mut delete, &mut join] {
            list.extend(["-g".to_string(), lc(c)]);
        }
    }
    join.push("/bin/true".into());
    let set = |c: &str, files: &[(&str, &str, &str)]| {
        let mut argv = strings(&["cgset"]);
        for (_, file, value) in files.iter().filter(|(ctl, _, _)| *ctl == c) {
            argv.extend(["-r".to_string(), format!("{file}={value}")]);
        }
        argv.push(g.cg_path(c, &format!("cycle/lc-{c}")));
        argv
    };
    let libcgroup =
        vec![create, set("memory", &LIMIT_FILES), set("cpu", &LIMIT_FILES), set("pids", &LIMIT_FILES), join, delete];
    let mut base = vec![p.c("cgbase")];
    base.extend(CONTROLLERS.iter().map(|c| g.dir(c, "cycle/base").display().to_string()));
    base.extend(LIMIT_FILES.iter().map(|(c, f, v)| format!("{}={v}", g.dir(c, "cycle/base").join(f).display())));
    base.extend(strings(&["--", "/bin/true"]));
    Ok(Row {
        id: "cg-cycle",
        title: "cgroup: create + memory/cpu/pids limits + run + remove",
        sides: vec![
            Side::seq("cgexec-rs --memory --cpu-shares --pids-limit", vec![ours]),
            Side::seq("libcgroup: cgcreate; cgset x3; cgexec; cgdelete", libcgroup),
            Side::seq("C floor: cgbase (one process)", vec![base]),
        ],
        goals: goals(&[(1, 1.0), (2, 1.2)]),
        slow: false,
        guard: None,
    })
}

pub fn cg_exec(p: &Paths, g: &Groups) -> Result<Row, String> {
    g.make("exec")?;
    g.make("exec/existing")?;
    // Every hierarchy cgexec-rs may place the group in (it also joins devices, for the
    // confinement's device rules), not only the bench's own six.
    let made: Vec<PathBuf> =
        fixtures::every_hierarchy_own().into_iter().map(|own| own.join(&g.name).join("exec/x")).collect();
    let ours = vec![
        p.tool("cgexec-rs"),
        "--cgroup-parent".into(),
        format!("{}/exec", g.name),
        "--name".into(),
        "x".into(),
        "--exec".into(),
        "/bin/true".into(),
    ];
    let mut join = strings(&["cgexec"]);
    for c in CONTROLLERS {
        join.extend(["-g".to_string(), format!("{c}:{}", g.cg_path(c, "exec/existing"))]);
    }
    join.push("/bin/true".into());
    let mut base = vec![p.c("cgbase"), "-j".into()];
    base.extend(CONTROLLERS.iter().map(|c| g.dir(c, "exec/existing").display().to_string()));
    base.extend(strings(&["--", "/bin/true"]));
    Ok(Row {
        id: "cg-exec",
        title: "cgroup: run in place in a group (cgexec-rs --exec makes it; cgexec -g joins one)",
        sides: vec![
            // The group --exec leaves behind is removed untimed after each run.
            Side::seq("cgexec-rs --exec (new group)", vec![ours]).after(move || {
                made.iter().for_each(|d| {
                    let _ = std::fs::remove_dir(d);
                })
            }),
            Side::seq("cgexec -g (existing group)", vec![join]),
            Side::seq("C floor: cgbase -j (join + exec)", vec![base]),
        ],
        goals: goals(&[(1, 1.0)]),
        slow: false,
        guard: None,
    })
}

/// The chain's command (its groups under `parent`, made here) and bwrap's.
pub fn chain_commands(p: &Paths, g: &Groups, parent: &str) -> Result<(Vec<String>, Vec<String>), String> {
    g.make(parent)?;
    let rootfs = p.rootfs.display().to_string();
    let mut ours = vec![p.tool("cgexec-rs"), "--cgroup-parent".into(), format!("{}/{parent}", g.name)];
    ours.extend(strings(&LIMITS));
    ours.extend(strings(&["--", &p.tool("nsexec"), "-a", "--map-users", "0:100000:65536", "--map-groups"]));
    ours.extend(strings(&["0:100000:65536", "--rootfs", &rootfs, "--read-only", "--", "/bin/true"]));
    let bwrap = strings(&[
        "bwrap",
        "--unshare-all",
        "--ro-bind",
        &rootfs,
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "/bin/true",
    ]);
    Ok((ours, bwrap))
}

pub fn chain(p: &Paths, g: &Groups, bundle: Option<&Bundle>) -> Result<Row, String> {
    let (ours, bwrap) = chain_commands(p, g, "chain")?;
    let mut sides = vec![
        Side::seq("cgexec-rs LIMITS -- nsexec -a --map-users --rootfs", vec![ours]),
        Side::seq("bwrap --unshare-all --ro-bind ROOTFS /", vec![bwrap]),
    ];
    if let Some(b) = bundle {
        let dir = b.dir.display().to_string();
        sides.push(Side::new("runc run (same rootfs and limits)", &["runc", "run", "--bundle", &dir, &b.id]));
    }
    let goals = goals(&(1..sides.len()).map(|i| (i, 1.0)).collect::<Vec<_>>());
    Ok(Row {
        id: "chain",
        title: "full launch: limits + every namespace + id map + rootfs",
        sides,
        goals,
        slow: true,
        guard: None,
    })
}

/// The chain taken apart (issue 21): each side adds one stage to the one before, so the
/// differences of the medians are what each stage costs; bwrap last for scale. No goals.
pub fn stages(p: &Paths, g: &Groups) -> Result<Row, String> {
    g.make("stages")?;
    let rootfs = p.rootfs.display().to_string();
    let maps = ["-a", "--map-users", "0:100000:65536", "--map-groups", "0:100000:65536"];
    let nsexec = |extra: &[&str]| {
        let mut v = vec![p.tool("nsexec")];
        v.extend(strings(&maps));
        v.extend(strings(extra));
        v.extend(strings(&["--", "/bin/true"]));
        v
    };
    let cgexec = |then: Vec<String>| {
        let mut v = vec![p.tool("cgexec-rs"), "--cgroup-parent".into(), format!("{}/stages", g.name)];
        v.extend(strings(&LIMITS));
        v.push("--".into());
        v.extend(then);
        v
    };
    let root = ["--rootfs", rootfs.as_str()];
    let ro = ["--rootfs", rootfs.as_str(), "--read-only"];
    let bwrap = ["bwrap", "--unshare-all", "--ro-bind", &rootfs, "/", "--proc", "/proc", "--dev", "/dev", "/bin/true"];
    Ok(Row {
        id: "stages",
        title: "the chain, one stage at a time: each side adds a stage to the side below it",
        sides: vec![
            Side::seq("the chain (cgroup + exec hop + all below)", vec![cgexec(nsexec(&ro))]),
            Side::seq("cgroup alone: cgexec-rs LIMITS -- /bin/true", vec![cgexec(strings(&["/bin/true"]))]),
            Side::seq("namespaces + id map: nsexec -a --map-users", vec![nsexec(&[])]),
            Side::seq("+ mounts: --rootfs --privileged", vec![nsexec(&[&root[..], &["--privileged"]].concat())]),
            Side::seq(
                "+ read-only root, mount lock: --read-only --privileged",
                vec![nsexec(&[&ro[..], &["--privileged"]].concat())],
            ),
            Side::seq(
                "+ caps, masks, read-only /sys: --security-opt seccomp=unconfined",
                vec![nsexec(&[&ro[..], &["--security-opt", "seccomp=unconfined"]].concat())],
            ),
            Side::seq("+ seccomp: the defaults, nsexec -a --rootfs --read-only", vec![nsexec(&ro)]),
            Side::new("bwrap --unshare-all --ro-bind ROOTFS /", &bwrap),
        ],
        goals: vec![],
        slow: true,
        guard: None,
    })
}

/// cgstat over `count` empty groups against cgread reading the same files: cgstat's first
/// reading takes cpuacct.usage, the second every file; 1 ms apart.
pub fn stats(p: &Paths, g: &Groups, count: usize) -> Result<Row, String> {
    let parent = format!("s{count}");
    g.make_many(&parent, count)?;
    let ours = vec![
        p.tool("cgstat"),
        "--no-stream".into(),
        "--interval".into(),
        "0.001".into(),
        "--cgroup-parent".into(),
        format!("{}/{parent}", g.name),
    ];
    let spec = |c: &str, files: &str| format!("{}:{files}", g.dir(c, &parent).display());
    let mut reader = vec![p.c("cgread"), spec("cpuacct", "cpuacct.usage"), "--".into()];
    reader.extend([
        spec("pids", "cgroup.procs,pids.current"),
        spec("cpuacct", "cpuacct.usage"),
        spec("memory", "memory.usage_in_bytes,memory.stat,memory.limit_in_bytes"),
        spec("blkio", "blkio.throttle.io_service_bytes_recursive"),
    ]);
    let (id, title) = match count {
        100 => ("stats-100", "cgstat --no-stream over 100 groups"),
        1000 => ("stats-1000", "cgstat --no-stream over 1,000 groups"),
        _ => ("stats-10000", "cgstat --no-stream over 10,000 groups"),
    };
    Ok(Row {
        id,
        title,
        sides: vec![
            Side::seq("cgstat --no-stream --cgroup-parent", vec![ours]),
            Side::seq("C floor: cgread, the same files", vec![reader]),
        ],
        // Issue 21: within 5% of the C floor reading the same files.
        goals: goals(&[(1, 1.05)]),
        slow: count >= 1000,
        guard: None,
    })
}

/// What a network costs: the issue's chain with netexec (default network: bridge, host-local,
/// portmap with -p, firewall; ADD before and DEL after the command) against the same chain whose
/// nsexec makes an empty network namespace of its own (lo only), and `podman run --network
/// bridge` (podman's CNI bridge, with the same limits) when podman is there.
pub fn net_chain(p: &Paths, g: &Groups, net: &NetDirs, podman: Option<&PodmanImage>) -> Result<Row, String> {
    g.make("net")?;
    let rootfs = p.rootfs.display().to_string();
    let nsexec = |net_flag: &[&str]| {
        let mut argv = strings(&[&p.tool("nsexec"), "-U", "-m", "-p", "-u", "-i", "-C"]);
        argv.extend(strings(net_flag));
        argv.extend(strings(&["--map-users", "0:100000:65536", "--map-groups", "0:100000:65536"]));
        argv.extend(strings(&["--rootfs", &rootfs, "--read-only", "--", "/bin/true"]));
        argv
    };
    let cgexec = || {
        let mut argv = vec![p.tool("cgexec-rs"), "--cgroup-parent".into(), format!("{}/net", g.name)];
        argv.extend(strings(&LIMITS));
        argv.push("--".into());
        argv
    };
    let mut with_net = cgexec();
    with_net.extend([p.tool("netexec"), "--cni-config-dir".into(), net.config.display().to_string()]);
    with_net.extend(["--cni-cache-dir".into(), net.cache.display().to_string()]);
    with_net.extend(["-p".into(), format!("{}:80", net.port), "--".into()]);
    with_net.extend(nsexec(&[]));
    let mut without = cgexec();
    without.extend(nsexec(&["-n"]));
    let mut sides = vec![
        Side::seq("cgexec-rs LIMITS -- netexec -p -- nsexec -U -m -p -u -i -C --rootfs", vec![with_net]),
        Side::seq("the same chain without netexec (nsexec -n: lo only)", vec![without]),
    ];
    if let Some(image) = podman {
        let argv = [
            "podman",
            "run",
            "--rm",
            "--network",
            "bridge",
            "--memory",
            "100m",
            "--cpu-shares",
            "512",
            "--pids-limit",
            "64",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            &image.name,
            "/bin/true",
        ];
        sides.push(Side::new("podman run --rm --network bridge (same limits)", &argv));
    }
    Ok(Row {
        id: "net-chain",
        title: "what a network costs: the chain with netexec",
        sides,
        goals: vec![],
        // About 700 ms a round (podman, six CNI plugin runs): 150 rounds, not 400.
        slow: true,
        guard: None,
    })
}

/// One scrape of cAdvisor's metrics over `count` empty groups (what `cgstat --listen` does per
/// GET /metrics) against one `cgstat --no-stream` sample of the same groups: the same cost per
/// group or less is the goal (issue 19).
pub fn scrape(p: &Paths, g: &Groups, count: usize) -> Result<Row, String> {
    let parent = format!("m{count}");
    g.make_many(&parent, count)?;
    let at = format!("{}/{parent}", g.name);
    let cgstat = |args: &[&str]| {
        let mut argv = vec![p.tool("cgstat")];
        argv.extend(strings(args));
        argv.extend(["--cgroup-parent".to_string(), at.clone()]);
        argv
    };
    let (id, title) = match count {
        1000 => ("scrape-1000", "cgstat --format prometheus (one scrape) over 1,000 groups"),
        _ => ("scrape-10000", "cgstat --format prometheus (one scrape) over 10,000 groups"),
    };
    Ok(Row {
        id,
        title,
        sides: vec![
            Side::seq("cgstat --format prometheus --cgroup-parent", vec![cgstat(&["--format", "prometheus"])]),
            Side::seq("cgstat --no-stream --cgroup-parent", vec![cgstat(&["--no-stream", "--interval", "0.001"])]),
        ],
        goals: goals(&[(1, 1.0)]),
        slow: true,
        guard: None,
    })
}
