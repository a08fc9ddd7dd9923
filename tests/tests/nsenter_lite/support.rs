//! Processes for the nsenter-lite tests: targets made with util-linux `unshare` (optionally under
//! a launcher such as cgexec-rs or setpriv), payloads found from outside, persisted namespaces.
//! Every process is killed by PID only while its reaper is still unreaped, so no PID is reused.

use std::os::unix::fs::MetadataExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use isolab_tests::Tool;

/// A target: `unshare --fork ... COMMAND`, whose forked child (the one inside) is `pid`.
/// util-linux unshare --fork ignores SIGTERM, so the inner process is SIGKILLed, then unshare reaped.
pub struct Target {
    launcher: Child,
    pub pid: i32,
}

impl Target {
    /// `unshare --fork <flags> <command>`; waits until the child has exec'd `comm`.
    pub fn start(flags: &[&str], command: &[&str], comm: &str) -> Target {
        Target::start_with(Command::new("unshare"), flags, command, comm)
    }

    pub fn start_with(mut cmd: Command, flags: &[&str], command: &[&str], comm: &str) -> Target {
        cmd.arg("--fork").args(flags).args(command).stdin(Stdio::null()).stdout(Stdio::null());
        let launcher = cmd.spawn().expect("start unshare");
        let outer = launcher.id() as i32;
        let mut target = Target { launcher, pid: 0 };
        // The process unshare forked (below a launcher such as cgexec-rs, if any), once it has
        // exec'd `comm`; never one of its own short-lived children (`sh -c 'busybox ip ...'`).
        let forked_by_unshare = || {
            let unshare = std::iter::once(outer).chain(descendants(outer)).find(|&p| comm_of(p) == "unshare")?;
            children(unshare).into_iter().find(|&p| comm_of(p) == comm)
        };
        target.pid = wait_for_process(forked_by_unshare)
            .unwrap_or_else(|| panic!("unshare {flags:?} {command:?} did not start {comm}"));
        target
    }

    pub fn pid(&self) -> String {
        self.pid.to_string()
    }
}

impl Target {
    /// SIGKILL the inner process and reap unshare (and any launcher above it, which then
    /// cleans up after itself). A PID is killed only while unshare, its reaper, is unreaped.
    pub fn stop(&mut self) {
        if self.pid == 0 {
            return;
        }
        if matches!(self.launcher.try_wait(), Ok(None)) {
            kill(self.pid, libc::SIGKILL);
        }
        self.pid = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.launcher.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                let _ = self.launcher.kill();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A spawned nsenter-lite whose payload is `sleep`: found (itself after exec, or its forked
/// child) so its namespaces can be read from outside; killed and reaped on drop.
pub struct Payload {
    tool: Child,
    pub pid: i32,
}

impl Payload {
    pub fn start(args: &[&str]) -> Payload {
        let mut cmd = Tool::new("nsenter-lite").args(args).args(["--", "sleep", "30"]).command();
        let tool = cmd.stdin(Stdio::null()).stdout(Stdio::null()).spawn().expect("start nsenter-lite");
        let me = tool.id() as i32;
        let mut payload = Payload { tool, pid: 0 };
        payload.pid = wait_for_process(|| std::iter::once(me).chain(children(me)).find(|&p| comm_of(p) == "sleep"))
            .unwrap_or_else(|| panic!("nsenter-lite {args:?} did not run sleep"));
        payload
    }
}

impl Drop for Payload {
    fn drop(&mut self) {
        // While nsenter-lite is unreaped, the payload (itself or its child) still holds its PID.
        if matches!(self.tool.try_wait(), Ok(None)) {
            kill(self.pid, libc::SIGKILL);
        }
        let _ = self.tool.wait();
    }
}

/// A network namespace kept by a bind mount (`unshare --net=FILE`), unmounted on drop, always.
pub struct PersistedNet {
    pub file: std::path::PathBuf,
}

impl Drop for PersistedNet {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.file).status();
    }
}

pub fn wait_for_process(mut find: impl FnMut() -> Option<i32>) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(pid) = find() {
            return Some(pid);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

pub fn children(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

pub fn descendants(pid: i32) -> Vec<i32> {
    let mut found = children(pid);
    let mut i = 0;
    while i < found.len() {
        found.extend(children(found[i]));
        i += 1;
    }
    found
}

pub fn comm_of(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string()
}

pub fn is_zombie(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z'))
}

pub fn kill(pid: i32, sig: libc::c_int) {
    if pid > 0 {
        // SAFETY: kill(2) on a process this test started.
        unsafe { libc::kill(pid, sig) };
    }
}

/// The inode of `pid`'s namespace of `kind` ("self" for this test process).
pub fn ino(pid: &str, kind: &str) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/{kind}")).unwrap_or_else(|e| panic!("/proc/{pid}/ns/{kind}: {e}")).ino()
}
