//! What the rows need, made before measuring and removed afterwards by Drop guards: a scratch
//! directory, groups beneath our own cgroup in each v1 hierarchy, a namespaced target process
//! for the join rows, a runc bundle.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The controllers cgexec-rs puts a group in on v1 (its limits plus what cgstat and --rm use).
pub const CONTROLLERS: [&str; 6] = ["cpu", "cpuacct", "memory", "pids", "freezer", "blkio"];

/// One v1 hierarchy: where it is mounted and our own cgroup in it.
#[derive(Clone)]
pub struct Hierarchy {
    pub controller: String,
    pub own: PathBuf,
}

/// The v1 hierarchies of CONTROLLERS with our own cgroup in each, or why the cgroup rows
/// cannot run (they need v1 controllers: libcgroup's v2 support is another program).
pub fn hierarchies() -> Result<Vec<Hierarchy>, String> {
    let text = fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("/proc/self/cgroup: {e}"))?;
    CONTROLLERS
        .iter()
        .map(|c| {
            let line = text.lines().find(|l| l.split(':').nth(1).is_some_and(|cs| cs.split(',').any(|x| x == *c)));
            let own = line.and_then(|l| l.splitn(3, ':').nth(2)).ok_or(format!("no v1 {c} hierarchy"))?;
            let mount = Path::new("/sys/fs/cgroup").join(c);
            if !mount.join("cgroup.procs").exists() {
                return Err(format!("{} is not a v1 hierarchy", mount.display()));
            }
            Ok(Hierarchy { controller: c.to_string(), own: mount.join(own.trim_start_matches('/')) })
        })
        .collect()
}

/// `isolab-bench-PID` beneath our own cgroup in every hierarchy: everything the rows make goes
/// under it, and Drop removes the whole tree.
pub struct Groups {
    pub name: String,
    pub hierarchies: Vec<Hierarchy>,
}

impl Groups {
    pub fn new(hierarchies: Vec<Hierarchy>) -> Result<Groups, String> {
        let groups = Groups { name: format!("isolab-bench-{}", std::process::id()), hierarchies };
        for h in &groups.hierarchies {
            mkdir(&h.own.join(&groups.name))?;
        }
        Ok(groups)
    }

    /// The directory of `rel` (below isolab-bench-PID) in `controller`'s hierarchy.
    pub fn dir(&self, controller: &str, rel: &str) -> PathBuf {
        let h = self.hierarchies.iter().find(|h| h.controller == controller).expect("a known controller");
        h.own.join(&self.name).join(rel)
    }

    /// The cgroup path of `rel` as libcgroup wants it: from the hierarchy root.
    pub fn cg_path(&self, controller: &str, rel: &str) -> String {
        let mount = Path::new("/sys/fs/cgroup").join(controller);
        self.dir(controller, rel).strip_prefix(&mount).expect("under the mount").display().to_string()
    }

    /// `rel` in every hierarchy.
    pub fn make(&self, rel: &str) -> Result<(), String> {
        self.hierarchies.iter().try_for_each(|h| mkdir(&self.dir(&h.controller, rel)))
    }

    /// `count` empty groups `parent/g0...` in every hierarchy (the cgstat rows).
    pub fn make_many(&self, parent: &str, count: usize) -> Result<(), String> {
        self.make(parent)?;
        (0..count).try_for_each(|i| self.make(&format!("{parent}/g{i}")))
    }
}

impl Drop for Groups {
    fn drop(&mut self) {
        // Every hierarchy, not only ours: runc makes its group in all of them (cpuset, devices,
        // name=systemd, the cgroup2 mount) and removes only its own level.
        for top in every_hierarchy_own().into_iter().map(|own| own.join(&self.name)) {
            remove_tree(&top);
            if top.exists() {
                eprintln!("isolab-bench: could not remove {}", top.display());
            }
        }
    }
}

/// Our own cgroup's directory in every mounted hierarchy (/proc/self/cgroup).
pub fn every_hierarchy_own() -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let unified = if Path::new("/sys/fs/cgroup/unified").is_dir() { "unified" } else { "" };
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':').skip(1);
            let (ctrls, own) = (f.next()?, f.next()?);
            let name = match ctrls.split(',').next()? {
                "" => unified,
                c => c.strip_prefix("name=").unwrap_or(c),
            };
            let dir = Path::new("/sys/fs/cgroup").join(name).join(own.trim_start_matches('/'));
            dir.is_dir().then_some(dir)
        })
        .collect()
}

fn mkdir(dir: &Path) -> Result<(), String> {
    fs::create_dir(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))
}

/// rmdir a cgroup and its children, deepest first (a cgroup directory holds only files besides
/// its children, and rmdir removes those with it).
pub fn remove_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

/// A scratch directory under /tmp, removed on Drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A new directory `/tmp/isolab-bench-XXXXXX` made by mkdtemp(3), mode 0755: the bench runs
    /// as root and executes what it builds here, so the directory must be one nobody else made
    /// (a predictable name in /tmp is anyone's to plant first).
    pub fn new() -> Result<Scratch, String> {
        use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
        let template = std::env::temp_dir().join("isolab-bench-XXXXXX");
        let mut buf = std::ffi::CString::new(template.as_os_str().as_bytes())
            .map_err(|e| format!("{}: {e}", template.display()))?
            .into_bytes_with_nul();
        // SAFETY: `buf` is a NUL-terminated template ending in XXXXXX, which mkdtemp rewrites in place.
        if unsafe { libc::mkdtemp(buf.as_mut_ptr().cast()) }.is_null() {
            return Err(format!("mkdtemp {}: {}", template.display(), std::io::Error::last_os_error()));
        }
        buf.pop();
        let dir = PathBuf::from(std::ffi::OsString::from_vec(buf));
        fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A process in namespaces of its own (user with root mapped, mount, PID, net, UTS, IPC,
/// cgroup, time) for the join rows: `nsexec -a --map-root -- sleep`, its PID 1 the target.
/// Drop kills the target with SIGKILL (a PID-namespace init ignores SIGTERM) and reaps nsexec.
pub struct Target {
    pub pid: u32,
    launcher: Child,
}

impl Target {
    pub fn start(nsexec: &Path, scratch: &Path) -> Result<Target, String> {
        let pidfile = scratch.join("target.pid");
        let launcher = Command::new(nsexec)
            .args(["-a", "--map-root", "--pidfile"])
            .arg(&pidfile)
            .args(["--", "/bin/sleep", "3600"])
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", nsexec.display()))?;
        let mut target = Target { pid: 0, launcher };
        let deadline = Instant::now() + Duration::from_secs(10);
        while target.pid == 0 {
            if Instant::now() > deadline || target.launcher.try_wait().ok().flatten().is_some() {
                return Err("the nsenter target did not start".into());
            }
            std::thread::sleep(Duration::from_millis(5));
            target.pid = fs::read_to_string(&pidfile).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        }
        Ok(target)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if self.pid != 0 {
            // SAFETY: kill(2) on the PID nsexec reported for its own child, still unreaped by it.
            unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGKILL) };
        }
        let _ = self.launcher.kill();
        let _ = self.launcher.wait();
    }
}

/// A runc bundle for the busybox rootfs running /bin/true with the limits of the chain row;
/// its cgroup goes under isolab-bench-PID (runc takes a relative cgroupsPath as relative to its
/// own cgroup in each hierarchy). Drop deletes the container should a run have left it.
pub struct Bundle {
    pub dir: PathBuf,
    pub id: String,
}

impl Bundle {
    pub fn new(scratch: &Path, rootfs: &Path, cgroup_rel: &str) -> Result<Bundle, String> {
        let dir = scratch.join("bundle");
        mkdir(&dir)?;
        let status = Command::new("runc").args(["spec", "--bundle"]).arg(&dir).status();
        if !status.is_ok_and(|s| s.success()) {
            return Err("runc spec failed".into());
        }
        let file = dir.join("config.json");
        let text = fs::read_to_string(&file).map_err(|e| e.to_string())?;
        let mut spec: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        spec["process"]["terminal"] = false.into();
        spec["process"]["args"] = serde_json::json!(["/bin/true"]);
        spec["root"] = serde_json::json!({ "path": rootfs, "readonly": true });
        spec["linux"]["cgroupsPath"] = cgroup_rel.into();
        spec["linux"]["resources"]["memory"] = serde_json::json!({ "limit": 104857600, "swap": 209715200 });
        spec["linux"]["resources"]["cpu"] = serde_json::json!({ "shares": 512 });
        spec["linux"]["resources"]["pids"] = serde_json::json!({ "limit": 64 });
        let namespaces = spec["linux"]["namespaces"].as_array_mut().ok_or("no namespaces in runc's spec")?;
        if !namespaces.iter().any(|n| n["type"] == "cgroup") {
            namespaces.push(serde_json::json!({ "type": "cgroup" }));
        }
        fs::write(&file, spec.to_string()).map_err(|e| e.to_string())?;
        Ok(Bundle { dir, id: format!("isolab-bench-{}", std::process::id()) })
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = Command::new("runc").args(["delete", "--force", &self.id]).stderr(Stdio::null()).status();
    }
}

/// The bench's rootfs as a podman image (`podman import`, offline), removed on drop.
pub struct PodmanImage {
    pub name: String,
}

impl PodmanImage {
    pub fn new(rootfs: &Path) -> Result<PodmanImage, String> {
        if Command::new("podman").arg("--version").output().is_err() {
            return Err("podman is not installed".into());
        }
        let name = format!("localhost/isolab-bench-{}", std::process::id());
        let tar = Command::new("tar").arg("-C").arg(rootfs).args(["-c", "."]).stdout(Stdio::piped()).spawn();
        let mut tar = tar.map_err(|e| format!("tar: {e}"))?;
        let import = Command::new("podman").args(["import", "-", &name]).stdin(tar.stdout.take().unwrap()).output();
        let _ = tar.wait();
        match import {
            Ok(out) if out.status.success() => Ok(PodmanImage { name }),
            Ok(out) => Err(format!("podman import: {}", String::from_utf8_lossy(&out.stderr).trim())),
            Err(e) => Err(format!("podman import: {e}")),
        }
    }
}

impl Drop for PodmanImage {
    fn drop(&mut self) {
        let _ = Command::new("podman").args(["rmi", "--force", &self.name]).output();
    }
}

/// A configuration directory and result cache for netexec in the scratch directory (the
/// default network is written there), and a host port for -p.
pub struct NetDirs {
    pub config: PathBuf,
    pub cache: PathBuf,
    pub port: u16,
}

impl NetDirs {
    pub fn new(scratch: &Path) -> Result<NetDirs, String> {
        let port = std::net::TcpListener::bind(("0.0.0.0", 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("a free port: {e}"))?
            .port();
        Ok(NetDirs { config: scratch.join("net.d"), cache: scratch.join("cni"), port })
    }
}
