//! A plan: every write a group's limits need, in order, before any is made.
//!
//! [`plan`] asks [`super::v1`] or [`super::v2`] for each controller, according to the hierarchy
//! it lives on (hybrid hosts mix both), and adds `--set` writes last. The result is pure data:
//! `--explain` prints it as it is performed, tests compare it with golden tables, and [`apply`]
//! performs it through `trace`, so a refusal names the file and the value.

use std::path::{Path, PathBuf};

use super::group::Group;
use super::limits::Limits;
use super::{v1, v2};

/// One write of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub path: PathBuf,
    pub value: String,
    /// The flag it comes from (`--memory`), for messages.
    pub why: String,
    /// Skip it if the file does not exist (runc: `memory.swap.max` without swap accounting).
    pub optional: bool,
}

impl Write {
    pub fn new(dir: &Path, file: &str, value: impl Into<String>, why: &str) -> Write {
        Write { path: dir.join(file), value: value.into(), why: why.into(), optional: false }
    }

    pub fn optional(mut self) -> Write {
        self.optional = true;
        self
    }
}

/// The writes, and the limits the host cannot honour (one warning line each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WritePlan {
    pub writes: Vec<Write>,
    pub warnings: Vec<String>,
}

impl WritePlan {
    pub fn write(&mut self, dir: &Path, file: &str, value: impl Into<String>, why: &str) {
        self.writes.push(Write::new(dir, file, value, why));
    }

    pub fn warn(&mut self, msg: impl Into<String>) {
        self.warnings.push(msg.into());
    }
}

/// What the kernel offers in the new group, read from its files before planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Facts {
    /// v1 `memory.memsw.limit_in_bytes` (swap accounting on).
    pub memsw: bool,
    /// v1 kernel-memory limits still enforced (Linux < 6.1; later kernels accept and ignore the write).
    pub kmem: bool,
    /// `io.bfq.weight` (v2) or `blkio.bfq.weight` (v1): BFQ's weight, on the v1 scale.
    pub bfq_weight: bool,
    /// v1 `blkio.weight` (CFQ, before Linux 5.0).
    pub blkio_weight: bool,
}

impl Facts {
    pub fn probe(group: &Group) -> Facts {
        let has = |controller: &str, file: &str| group.dir(controller).is_some_and(|d| d.join(file).exists());
        Facts {
            memsw: has("memory", "memory.memsw.limit_in_bytes"),
            kmem: has("memory", "memory.kmem.limit_in_bytes") && kernel_before(6, 1),
            bfq_weight: has("blkio", "io.bfq.weight") || has("blkio", "blkio.bfq.weight"),
            blkio_weight: has("blkio", "blkio.weight"),
        }
    }
}

/// Whether the running kernel is older than MAJOR.MINOR.
fn kernel_before(major: u32, minor: u32) -> bool {
    let release = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse::<u32>().ok());
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    version < (major, minor)
}

/// The writes `limits` need in `group`, each controller by its hierarchy's version.
pub fn plan(limits: &Limits, group: &Group, facts: &Facts) -> anyhow::Result<WritePlan> {
    let mut plan = WritePlan::default();
    if let Some(dir) = group.dir("memory") {
        if group.is_v2("memory") {
            v2::memory(limits, dir, &mut plan)
        } else {
            v1::memory(limits, dir, facts, &mut plan)
        }
    }
    if let Some(dir) = group.dir("cpu") {
        if group.is_v2("cpu") {
            v2::cpu(limits, dir, &mut plan)
        } else {
            v1::cpu(limits, dir, &mut plan)?
        }
    }
    if let Some(dir) = group.dir("cpuset") {
        cpuset(limits, dir, &mut plan);
    }
    if let Some(dir) = group.dir("blkio") {
        if group.is_v2("blkio") {
            v2::io(limits, dir, facts, &mut plan)
        } else {
            v1::blkio(limits, dir, facts, &mut plan)?
        }
    }
    if let (Some(dir), Some(policy)) = (group.dir("devices"), &limits.devices) {
        for (file, value) in super::devices::v1_writes(&policy.rules) {
            plan.write(dir, file, value, "--device");
        }
    }
    if let (Some(dir), Some(n)) = (group.dir("pids"), limits.pids_limit) {
        plan.write(dir, "pids.max", if n <= 0 { "max".into() } else { n.to_string() }, "--pids-limit");
    }
    for (file, value) in &limits.set {
        let controller = file.split('.').next().unwrap_or_default();
        let dir = group.dir(controller).ok_or_else(|| {
            anyhow::anyhow!("--set {file}: the {controller} controller is not available to this group")
        })?;
        plan.write(dir, file, value.clone(), "--set");
    }
    Ok(plan)
}

/// cpuset files have the same names and syntax on v1 and v2.
fn cpuset(limits: &Limits, dir: &Path, plan: &mut WritePlan) {
    if let Some(cpus) = &limits.cpuset_cpus {
        plan.write(dir, "cpuset.cpus", cpus.to_string(), "--cpuset-cpus");
    }
    if let Some(mems) = &limits.cpuset_mems {
        plan.write(dir, "cpuset.mems", mems.to_string(), "--cpuset-mems");
    }
}

/// Perform `plan`, in order. Stops at the first refusal, whose error names the file, the value
/// and the flag.
/// Writes in a row to one file (the device rules) share one open.
pub fn apply(plan: &WritePlan) -> anyhow::Result<()> {
    let mut writer = crate::trace::FileWriter::default();
    for w in &plan.writes {
        if w.optional && !w.path.exists() {
            crate::trace::note(format!("skip {} (not offered by this kernel)", w.path.display()));
            continue;
        }
        writer.write(&w.path, &w.value).map_err(|e| e.context(w.why.clone()))?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cgroup::group::Place;
    use crate::units::{IdList, SizeOrUnlimited};

    pub fn group(v2: bool) -> Group {
        let ctrls = ["memory", "cpu", "cpuacct", "cpuset", "blkio", "io", "pids"];
        let places = if v2 {
            vec![Place::new("/cg/g", true, &ctrls)]
        } else {
            ctrls.iter().filter(|c| **c != "io").map(|c| Place::new(format!("/cg/{c}/g"), false, &[c])).collect()
        };
        Group::new("g", places)
    }

    /// Golden pairs as owned strings.
    pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    /// (file name, value) pairs of a plan, for golden tables.
    pub fn files(plan: &WritePlan) -> Vec<(String, String)> {
        plan.writes
            .iter()
            .map(|w| (w.path.file_name().unwrap().to_string_lossy().into_owned(), w.value.clone()))
            .collect()
    }

    #[test]
    fn pids_cpuset_and_set_are_the_same_on_both_versions() {
        let limits = Limits {
            pids_limit: Some(20),
            cpuset_cpus: Some(IdList(vec![0, 1, 2, 5])),
            set: vec![("memory.high".into(), "50M".into())],
            ..Default::default()
        };
        for v2 in [false, true] {
            let plan = plan(&limits, &group(v2), &Facts::default()).unwrap();
            assert_eq!(
                files(&plan),
                vec![
                    ("cpuset.cpus".into(), "0-2,5".into()),
                    ("pids.max".into(), "20".into()),
                    ("memory.high".into(), "50M".into())
                ]
            );
        }
        let unlimited = Limits { pids_limit: Some(-1), ..Default::default() };
        assert_eq!(
            files(&plan(&unlimited, &group(true), &Facts::default()).unwrap()),
            vec![("pids.max".into(), "max".into())]
        );
    }

    #[test]
    fn v1_paths_are_per_controller() {
        let limits =
            Limits { memory: Some(100 << 20), memory_swap: Some(SizeOrUnlimited::Unlimited), ..Default::default() };
        let plan = plan(&limits, &group(false), &Facts { memsw: true, ..Default::default() }).unwrap();
        assert_eq!(plan.writes[0].path, PathBuf::from("/cg/memory/g/memory.limit_in_bytes"));
        assert_eq!(plan.writes[0].why, "--memory");
    }

    #[test]
    fn set_needs_the_controller() {
        let limits = Limits { set: vec![("hugetlb.2MB.limit_in_bytes".into(), "0".into())], ..Default::default() };
        assert!(plan(&limits, &group(false), &Facts::default()).is_err());
    }
}
