//! From the selection on the command line to the files of each group, through `cgroup`'s lookup.
//!
//! A group's `cgroup.procs` is read from one of its hierarchies only (pids, else memory): the
//! member list is the same in each where the tools placed it, and reading it once per sample
//! is the cost rule.

use super::sample::{Ctl, Target};
use super::Selection;
use crate::cgroup::{self, Group};

/// The groups the selection names, each with its files.
pub fn resolve(selection: &Selection) -> anyhow::Result<Vec<Target>> {
    Ok(match selection {
        Selection::Parent { names, parent } if names.is_empty() => {
            cgroup::list(parent.as_deref())?.iter().map(|g| target(g, g.name())).collect()
        }
        Selection::Parent { names, parent } => names
            .iter()
            .map(|n| cgroup::locate(n, parent.as_deref()).map(|g| target(&g, g.name())))
            .collect::<anyhow::Result<_>>()?,
        Selection::All => cgroup::list_all()?.iter().map(|g| target(g, g.name())).collect(),
        Selection::Paths(paths) => {
            paths.iter().map(|p| cgroup::at_path(p).map(|g| target(&g, p))).collect::<anyhow::Result<_>>()?
        }
    })
}

/// Whether the selection is re-listed at each sample (groups come and go), or was named once.
pub fn relists(selection: &Selection) -> bool {
    matches!(selection, Selection::All) || matches!(selection, Selection::Parent { names, .. } if names.is_empty())
}

fn ctl(group: &Group, controller: &str) -> Option<Ctl> {
    Some(Ctl { dir: group.dir(controller)?.to_path_buf(), v2: group.is_v2(controller) })
}

fn target(group: &Group, name: &str) -> Target {
    let pids = ctl(group, "pids");
    let memory = ctl(group, "memory");
    let procs = pids
        .as_ref()
        .or(memory.as_ref())
        .map(|c| c.dir.clone())
        .or_else(|| group.places().first().map(|p| p.dir.clone()));
    let cpu_controller = ctl(group, "cpu");
    Target {
        name: name.to_string(),
        cpu: ctl(group, "cpuacct"),
        memory,
        io: ctl(group, "blkio"),
        pids,
        procs,
        cpu_controller,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::Place;
    use std::path::PathBuf;

    fn place(dir: &str, v2: bool, controllers: &[&str]) -> Place {
        Place { dir: dir.into(), v2, controllers: controllers.iter().map(|c| c.to_string()).collect() }
    }

    #[test]
    fn hybrid_group_reads_v1_controllers() {
        // As cgexec-rs places a group on the development hosts: v1 cpu and cpuacct apart.
        let g = Group::new(
            "web",
            vec![
                place("/sys/fs/cgroup/cpu/isolab/web", false, &["cpu"]),
                place("/sys/fs/cgroup/cpuacct/isolab/web", false, &["cpuacct"]),
                place("/sys/fs/cgroup/memory/a/isolab/web", false, &["memory"]),
                place("/sys/fs/cgroup/pids/isolab/web", false, &["pids"]),
            ],
        );
        let t = target(&g, "web");
        assert_eq!(t.cpu, Some(Ctl { dir: "/sys/fs/cgroup/cpuacct/isolab/web".into(), v2: false }));
        assert_eq!(t.memory.unwrap().dir, PathBuf::from("/sys/fs/cgroup/memory/a/isolab/web"));
        assert_eq!(t.io, None);
        assert_eq!(t.procs, Some("/sys/fs/cgroup/pids/isolab/web".into()));
    }

    #[test]
    fn v2_group_reads_cpu_stat_without_the_cpu_controller() {
        let g = Group::new("web", vec![place("/sys/fs/cgroup/isolab/web", true, &["memory", "io"])]);
        let t = target(&g, "web");
        let v2 = Some(Ctl { dir: "/sys/fs/cgroup/isolab/web".into(), v2: true });
        assert_eq!((t.cpu, t.memory, t.io.clone(), t.pids), (v2.clone(), v2.clone(), v2, None));
        assert_eq!(t.procs, Some("/sys/fs/cgroup/isolab/web".into()));
    }
}
