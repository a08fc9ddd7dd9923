//! cgstat: usage of cgroups, computed and printed as `docker stats` does. See cgroups(7).

pub mod args;
pub mod render;
pub mod run;
pub mod select;
