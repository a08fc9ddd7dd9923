//! A container's state on disk, in `--root` (default /run/isolab-oci): `ROOT/ID/state.json`
//! (what `state` prints, per the OCI runtime spec's runtime.md, and what `delete` needs to clean
//! up) and `ROOT/ID/exec.fifo` (present between create and start, runc's exec fifo).
//!
//! A PID alone is no identity: the init's start time is stored beside it, so a container whose
//! process ended and whose PID was reused reads as stopped, never as someone else's process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};
use serde_json::{json, Value};

use crate::config::Hook;

/// The OCI runtime spec version the state and features speak.
pub const OCI_VERSION: &str = "1.0.2";
pub const STATE_FILE: &str = "state.json";
pub const FIFO: &str = "exec.fifo";

/// What `--root` holds for one container.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub id: String,
    /// The container's init as the host sees it; 0 while it is being created.
    pub pid: i32,
    /// /proc/PID/stat field 22 of that init.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub annotations: BTreeMap<String, String>,
    /// cgexec-rs's --cgroup-parent and --name for the group.
    pub cgroup_parent: Option<String>,
    pub cgroup_name: String,
    pub poststop: Vec<Hook>,
    /// `start` has run (delete then runs the poststop hooks).
    pub started: bool,
}

/// The lifecycle states of runtime.md (`creating` while create has not finished).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

/// runc's rule for container ids: letters, digits, `_+-.`, not `.` or `..`, at most 1024 bytes.
pub fn check_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if !ok {
        bail!("invalid container id {:?}: use letters, digits, '_', '+', '-', '.'", id);
    }
    Ok(())
}

pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

fn hook_json(h: &Hook) -> Value {
    json!({"path": h.path, "args": h.args, "env": h.env, "timeout": h.timeout})
}

fn hook_from(v: &Value) -> Option<Hook> {
    Some(Hook {
        path: v.get("path")?.as_str()?.into(),
        args: v.get("args")?.as_array()?.iter().filter_map(|a| a.as_str().map(String::from)).collect(),
        env: v.get("env")?.as_array()?.iter().filter_map(|a| a.as_str().map(String::from)).collect(),
        timeout: v.get("timeout").and_then(Value::as_u64),
    })
}

impl State {
    /// The state as runtime.md defines it (plus runc's rootfs, created and owner).
    pub fn oci_json(&self, status: Status) -> Value {
        json!({
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "status": status.as_str(),
            "pid": if status == Status::Stopped { 0 } else { self.pid },
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": "",
            "annotations": self.annotations,
        })
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id, "pid": self.pid, "start_time": self.start_time, "bundle": self.bundle,
            "rootfs": self.rootfs, "created": self.created, "annotations": self.annotations,
            "cgroup_parent": self.cgroup_parent, "cgroup_name": self.cgroup_name,
            "poststop": self.poststop.iter().map(hook_json).collect::<Vec<_>>(), "started": self.started,
        })
    }

    fn from_json(v: &Value) -> Option<State> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
        Some(State {
            id: s("id")?,
            pid: i32::try_from(v.get("pid")?.as_i64()?).ok()?,
            start_time: v.get("start_time")?.as_u64()?,
            bundle: s("bundle")?.into(),
            rootfs: s("rootfs")?.into(),
            created: s("created")?,
            annotations: v
                .get("annotations")?
                .as_object()?
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect(),
            cgroup_parent: s("cgroup_parent"),
            cgroup_name: s("cgroup_name")?,
            poststop: v.get("poststop")?.as_array()?.iter().filter_map(hook_from).collect(),
            started: v.get("started").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    /// Write state.json atomically (a reader never sees half a file).
    pub fn save(&self, root: &Path) -> anyhow::Result<()> {
        let dir = dir(root, &self.id);
        let tmp = dir.join(".state.json.tmp");
        let text = serde_json::to_string(&self.to_json())?;
        std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join(STATE_FILE))
            .with_context(|| format!("cannot write {}", dir.join(STATE_FILE).display()))
    }

    pub fn load(root: &Path, id: &str) -> anyhow::Result<State> {
        check_id(id)?;
        let dir = dir(root, id);
        if !dir.is_dir() {
            bail!("container {id:?} does not exist");
        }
        let file = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&file).map_err(|e| {
            anyhow!("container {id:?}: cannot read {}: {}", file.display(), isolab_core::process::plain_io(&e))
        })?;
        let v: Value = serde_json::from_str(&text).map_err(|e| anyhow!("container {id:?}: {}: {e}", file.display()))?;
        State::from_json(&v).ok_or_else(|| anyhow!("container {id:?}: {} is not isolab-oci's state", file.display()))
    }

    /// Whether the init recorded here is still the process it was (not ended, not a zombie, PID not reused).
    pub fn init_alive(&self) -> bool {
        self.pid > 0 && process_alive(self.pid, self.start_time)
    }

    pub fn status(&self, root: &Path) -> Status {
        if self.pid == 0 {
            return Status::Creating;
        }
        if !self.init_alive() {
            return Status::Stopped;
        }
        if dir(root, &self.id).join(FIFO).exists() {
            Status::Created
        } else {
            Status::Running
        }
    }
}

/// Whether PID is alive, not a zombie, and started at `start_time`.
pub fn process_alive(pid: i32, start_time: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else { return false };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let zombie = matches!(fields.first(), Some(&"Z") | Some(&"X"));
    !zombie && isolab_core::procfs::start_time(pid).is_ok_and(|t| t == start_time)
}

/// RFC 3339 time in UTC with nanoseconds, as runc writes `created`.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    isolab_core::units::rfc3339(now.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc() {
        for ok in ["web", "a.b_c-d+e", &"x".repeat(64)] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "../x"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn state_round_trips_and_reads_as_stopped_when_the_pid_is_gone() {
        let root = std::env::temp_dir().join(format!("isolab-oci-state-{}", std::process::id()));
        std::fs::create_dir_all(root.join("c1")).unwrap();
        let me = std::process::id() as i32;
        let mut s = State {
            id: "c1".into(),
            pid: me,
            start_time: isolab_core::procfs::start_time(me).unwrap(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: now_rfc3339(),
            annotations: BTreeMap::from([("k".into(), "v".into())]),
            cgroup_parent: Some("/p".into()),
            cgroup_name: "c1".into(),
            poststop: vec![Hook { path: "/bin/true".into(), args: vec!["true".into()], env: vec![], timeout: Some(3) }],
            started: false,
        };
        s.save(&root).unwrap();
        assert_eq!(State::load(&root, "c1").unwrap(), s);
        assert_eq!(s.status(&root), Status::Running);
        std::fs::write(root.join("c1").join(FIFO), "").unwrap();
        assert_eq!(s.status(&root), Status::Created);
        s.start_time += 1; // a reused PID has another start time
        assert_eq!(s.status(&root), Status::Stopped);
        assert_eq!(s.oci_json(Status::Stopped)["pid"], 0);
        s.pid = 0;
        assert_eq!(s.status(&root), Status::Creating);
        assert!(State::load(&root, "nope").unwrap_err().to_string().contains("does not exist"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn created_is_rfc3339() {
        let t = now_rfc3339();
        assert_eq!(t.len(), "2026-12-02T03:15:48.899621596Z".len(), "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z') && &t[10..11] == "T", "{t}");
    }
}
