//! Which groups cgstat shows: the selection on the command line, found through core's cgroup
//! lookup (the same rule cgexec-rs places groups by), each with its files.

use std::borrow::Cow;

use isolab_core::cgroup;
use isolab_core::stats::cpu::CpuSnapshot;
use isolab_core::stats::listing::Listing;
use isolab_core::stats::sample::{self, GroupFiles};

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

/// The groups of one sample, walked one at a time: every group under a parent is a listing of
/// names, whose directories are made as each is read (10,000 groups hold 150 KB, not 20 MB);
/// named groups and `--all` are resolved whole.
pub enum Groups {
    Listed(Listing),
    Resolved(Vec<GroupFiles>),
}

impl Groups {
    pub fn len(&self) -> usize {
        match self {
            Groups::Listed(l) => l.len(),
            Groups::Resolved(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`th group's files.
    pub fn files(&self, i: usize) -> Cow<'_, GroupFiles> {
        match self {
            Groups::Listed(l) => Cow::Owned(l.files(i)),
            Groups::Resolved(v) => Cow::Borrowed(&v[i]),
        }
    }

    /// Each group's CPU time, between two reads of /proc/stat.
    pub fn cpu_snapshot(&self) -> CpuSnapshot {
        match self {
            Groups::Listed(l) => CpuSnapshot::take_with(l.len(), |i| sample::read_cpu(&l.cpu_files(i))),
            Groups::Resolved(v) => CpuSnapshot::take(v),
        }
    }

    /// `before`, a snapshot of `self`, for the groups `now` (listed again): a group keeps its
    /// CPU time, a new one has none.
    pub fn carry(&self, before: CpuSnapshot, now: &Groups) -> CpuSnapshot {
        match (self, now) {
            (Groups::Listed(was), Groups::Listed(is)) => before.realign_by(is.len(), |i| was.position(is.name(i))),
            (Groups::Resolved(was), Groups::Resolved(is)) => before.realign(was, is),
            (was, is) => {
                let (was, is): (Vec<GroupFiles>, Vec<GroupFiles>) = (was.all(), is.all());
                before.realign(&was, &is)
            }
        }
    }

    fn all(&self) -> Vec<GroupFiles> {
        (0..self.len()).map(|i| self.files(i).into_owned()).collect()
    }
}

/// The groups the selection names, to be walked one at a time.
pub fn groups(selection: &Selection) -> anyhow::Result<Groups> {
    Ok(match selection {
        Selection::Parent { names, parent } if names.is_empty() => Groups::Listed(Listing::of(parent.as_deref())?),
        other => Groups::Resolved(resolve(other)?),
    })
}

/// Why a listing shows no group, in one line: the directories it looked in and what each was
/// (missing, unreadable to this user, empty), so an empty table is never a silent answer.
pub fn why_empty(selection: &Selection) -> String {
    let Selection::Parent { parent, .. } = selection else {
        return "no group under any isolab parent in the hierarchies (groups in directories this user \
                cannot read are not seen: run as root)"
            .into();
    };
    let dirs = match cgroup::parent_dirs(parent.as_deref()) {
        Ok(dirs) => dirs,
        Err(e) => return format!("no group: {e:#}"),
    };
    let denied: Vec<String> = dirs
        .iter()
        .filter_map(|(d, r)| r.as_ref().err().filter(|e| e.kind() == std::io::ErrorKind::PermissionDenied).map(|_| d))
        .map(|d| d.display().to_string())
        .collect();
    if !denied.is_empty() {
        return format!("no group could be read: permission denied listing {} (run as root)", denied.join(", "));
    }
    let looked = match dirs.as_slice() {
        [] => "no hierarchy".to_string(),
        [(one, _)] => one.display().to_string(),
        [(first, _), rest @ ..] => format!("{} and {} more hierarchies", first.display(), rest.len()),
    };
    let whose =
        if parent.is_some() { "--cgroup-parent" } else { "the isolab parent beneath this process's own cgroup" };
    format!("no group under {whose} ({looked}): cgexec-rs --name NAME makes one there; --all looks under every isolab parent")
}

/// Whether the selection is re-listed at each sample (groups come and go), or was named once.
pub fn relists(selection: &Selection) -> bool {
    matches!(selection, Selection::All) || matches!(selection, Selection::Parent { names, .. } if names.is_empty())
}
