//! Usage of groups as `docker stats` computes it: reading each group's files once per sample,
//! Docker's formulas and Docker's way of printing numbers. See cgroups(7), proc(5); peers.md §2.8.

pub mod cpu;
pub mod format;
pub mod lookup;
pub mod net;
pub mod sample;

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
