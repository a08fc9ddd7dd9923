//! Which groups cgstat shows: the selection on the command line, found through core's cgroup
//! lookup (the same rule cgexec-rs places groups by), each with its files.

use isolab_core::cgroup;
use isolab_core::stats::sample::GroupFiles;

/// Which groups to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Named groups under the parent (DESIGN.md's rule), or every group there when `names` is empty.
    Parent { names: Vec<String>, parent: Option<String> },
    /// Every group under any isolab parent in the hierarchies.
    All,
    /// Any cgroups, by path from the hierarchy roots.
    Paths(Vec<String>),
}

/// The groups the selection names, each with its files.
pub fn resolve(selection: &Selection) -> anyhow::Result<Vec<GroupFiles>> {
    Ok(match selection {
        Selection::Parent { names, parent } if names.is_empty() => {
            cgroup::list(parent.as_deref())?.iter().map(|g| GroupFiles::of(g, g.name())).collect()
        }
        Selection::Parent { names, parent } => names
            .iter()
            .map(|n| cgroup::locate(n, parent.as_deref()).map(|g| GroupFiles::of(&g, g.name())))
            .collect::<anyhow::Result<_>>()?,
        Selection::All => cgroup::list_all()?.iter().map(|g| GroupFiles::of(g, g.name())).collect(),
        Selection::Paths(paths) => {
            paths.iter().map(|p| cgroup::at_path(p).map(|g| GroupFiles::of(&g, p))).collect::<anyhow::Result<_>>()?
        }
    })
}

/// Whether the selection is re-listed at each sample (groups come and go), or was named once.
pub fn relists(selection: &Selection) -> bool {
    matches!(selection, Selection::All) || matches!(selection, Selection::Parent { names, .. } if names.is_empty())
}
