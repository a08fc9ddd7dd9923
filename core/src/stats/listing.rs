//! The groups under a parent as a sample walks them: names only, sorted, and which hierarchies
//! hold each; a group's directories ([`GroupFiles`]) are made when it is read, and dropped after.
//!
//! The same groups as `cgroup::list` (its rule: each hierarchy's parent directory, the
//! subdirectories with a valid name, gathered by name in hierarchy order), but what is held per
//! group is its name in one shared string and a bit per hierarchy: 10,000 groups hold about
//! 150 KB, where a `Group` per name (a directory and the controllers per hierarchy) and its
//! `GroupFiles` held 20 MB (issue 21).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::sample::GroupFiles;
use crate::cgroup::group::{parent_path, place_at};
use crate::cgroup::{validate_name, validate_parent, Group, Hierarchy, Place, Setup};

/// The groups under one parent, sorted by name.
pub struct Listing {
    /// Each hierarchy with the parent's directory in it.
    parents: Vec<(Hierarchy, PathBuf)>,
    /// Every name, one after the other; `ends[i]` is where the `i`th ends.
    names: String,
    ends: Vec<u32>,
    /// `words` words per group: bit `h` of the group's words is whether hierarchy `h` holds it.
    masks: Vec<u64>,
    words: usize,
}

impl Listing {
    /// The groups under the isolab parent (or `--cgroup-parent`), as `cgroup::list` finds them.
    pub fn of(parent: Option<&str>) -> anyhow::Result<Listing> {
        if let Some(p) = parent {
            validate_parent(p)?;
        }
        let setup = Setup::detect()?;
        let parents: Vec<(Hierarchy, PathBuf)> = setup
            .hierarchies
            .into_iter()
            .map(|h| {
                let dir = h.dir_of(&parent_path(&h, parent));
                (h, dir)
            })
            .collect();
        let words = parents.len().div_ceil(64).max(1);
        let mut found: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (h, (_, dir)) in parents.iter().enumerate() {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            for entry in entries.flatten() {
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let Some(name) = entry.file_name().to_str().map(String::from) else { continue };
                if validate_name(&name).is_err() {
                    continue;
                }
                found.entry(name).or_insert_with(|| vec![0; words])[h / 64] |= 1 << (h % 64);
            }
        }
        let mut listing =
            Listing { parents, names: String::new(), ends: Vec::with_capacity(found.len()), masks: Vec::new(), words };
        listing.masks.reserve(found.len() * words);
        for (name, mask) in found {
            listing.names.push_str(&name);
            listing.ends.push(listing.names.len() as u32);
            listing.masks.extend(mask);
        }
        listing.names.shrink_to_fit();
        Ok(listing)
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The `i`th group's name.
    pub fn name(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.names[start..self.ends[i] as usize]
    }

    /// Where `name` is in this listing, if it is.
    pub fn position(&self, name: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.name(mid).cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// The `i`th group's directories, made now (a v2 place reads its `cgroup.controllers`).
    pub fn files(&self, i: usize) -> GroupFiles {
        self.files_with(i, place_at)
    }

    /// The `i`th group's CPU counter's directory alone, as [`Listing::files`] would give it,
    /// without reading anything: v1's cpuacct, else the v2 directory (cpu.stat is in every group).
    pub fn cpu_files(&self, i: usize) -> GroupFiles {
        self.files_with(i, |h, dir| Place {
            dir,
            v2: h.v2,
            controllers: if h.v2 { Vec::new() } else { h.controllers.clone() },
        })
    }

    fn files_with(&self, i: usize, place: impl Fn(&Hierarchy, PathBuf) -> Place) -> GroupFiles {
        let name = self.name(i);
        let mask = &self.masks[i * self.words..(i + 1) * self.words];
        let mut places: Vec<Place> = Vec::new();
        for (h, (hierarchy, parent)) in self.parents.iter().enumerate() {
            if mask[h / 64] & (1 << (h % 64)) == 0 {
                continue;
            }
            let dir = parent.join(name);
            if !places.iter().any(|p| p.dir == dir) {
                places.push(place(hierarchy, dir));
            }
        }
        GroupFiles::of(&Group::new(name, places), name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hierarchy(mount: &str, v2: bool, controllers: &[&str]) -> Hierarchy {
        let controllers = controllers.iter().map(|c| c.to_string()).collect();
        Hierarchy { mount: mount.into(), v2, controllers, own: "/".into() }
    }

    #[test]
    fn names_in_order_and_each_group_where_it_is() {
        let parents = vec![
            (hierarchy("/sys/fs/cgroup/cpuacct", false, &["cpuacct"]), "/sys/fs/cgroup/cpuacct/isolab".into()),
            (hierarchy("/sys/fs/cgroup/memory", false, &["memory"]), "/sys/fs/cgroup/memory/a/isolab".into()),
        ];
        // "db" in both hierarchies, "web" in memory only.
        let listing = Listing { parents, names: "dbweb".into(), ends: vec![2, 5], masks: vec![0b11, 0b10], words: 1 };
        assert_eq!((listing.len(), listing.name(0), listing.name(1)), (2, "db", "web"));
        assert_eq!((listing.position("web"), listing.position("db"), listing.position("x")), (Some(1), Some(0), None));
        let db = listing.cpu_files(0);
        assert_eq!(db.cpu.unwrap().dir, PathBuf::from("/sys/fs/cgroup/cpuacct/isolab/db"));
        assert_eq!(db.memory.unwrap().dir, PathBuf::from("/sys/fs/cgroup/memory/a/isolab/db"));
        let web = listing.files(1);
        assert_eq!((web.name.as_str(), web.cpu), ("web", None));
        assert_eq!(web.procs, Some("/sys/fs/cgroup/memory/a/isolab/web".into()));
    }
}
