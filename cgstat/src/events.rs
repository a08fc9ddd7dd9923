//! `--events [NAME...]`: what `docker events` says about limits, for groups: one line (or one
//! JSON object with --json) per OOM kill, pids limit hit, and group created or removed under the
//! isolab parents, as it happens. Nothing is polled: the kernel wakes cgstat (core `watch`).
//!
//! - oom-kill: v2 memory.events `oom_kill` rose (inotify); v1 memory.oom_control's eventfd fired
//!   and its `oom_kill` rose. The v1 eventfd fires as the group enters OOM, a moment before the
//!   kill is counted (and the group may be gone a few milliseconds after it), so the counter is
//!   read again every millisecond for up to a second after it.
//! - pids-limit: pids.events `max` rose (a fork refused at pids.max): inotify; on v1, whose file
//!   may not notify, also the kernel's log line of a group's first refusal (core `watch`).
//! - create / destroy: a directory appeared or went in a parent (inotify); groups are then listed
//!   again and compared with the last list. A parent that does not exist yet is waited for in
//!   the nearest directory above it that does.
//!
//! Counters are taken when cgstat starts, so only what happens after is reported; a group (or a
//! controller of one) that appears later counts from zero, so a refusal made before cgstat got
//! round to listing it is still reported, with `count` the number of kills or refusals since the last line. SIGINT and
//! SIGTERM end it with status 0, as does the reader of stdout going away (`| head -1`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use isolab_core::cgroup;
use isolab_core::cgroup::files::keyed;
use isolab_core::stats::sample::GroupFiles;
use isolab_core::trace;
use isolab_core::watch::{Wake, Watcher};

use crate::metrics::CgroupIds;
use crate::select::{self, Selection};

/// Tokens of parent directories start here; groups count from 0.
const PARENT_TOKEN: u64 = 1 << 40;
/// How long a v1 OOM notification waits for its kill to be counted.
const OOM_SETTLE: Duration = Duration::from_secs(1);
/// How long a new group's `create` waits for the hierarchies it is still being made in.
const PENDING_WAIT: Duration = Duration::from_millis(50);

/// The counters of one group that events are made of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counters {
    oom_kills: u64,
    pids_max: u64,
}

struct Known {
    token: u64,
    target: GroupFiles,
    id: String,
    counters: Counters,
    /// Its `create` line is out. A new group is announced once its memory or cpu place is there,
    /// which names its id (the id of every later line), or at the next listing without it.
    announced: bool,
    /// When cgstat first listed it.
    seen: Instant,
}

struct Events {
    selection: Selection,
    json: bool,
    ids: CgroupIds,
    watcher: Watcher,
    groups: BTreeMap<String, Known>,
    next_token: u64,
    /// The parents to watch, and whether each is watched yet (or only an ancestor of it).
    parents: Vec<(PathBuf, bool)>,
    /// v1 groups whose OOM notification came before its kill was counted, and until when to look.
    settling: Vec<(String, Instant)>,
}

pub fn run(selection: &Selection, json: bool) -> anyhow::Result<u8> {
    let watcher = Watcher::new()?;
    let mut ev = Events {
        selection: selection.clone(),
        json,
        ids: CgroupIds::detect()?,
        watcher,
        groups: BTreeMap::new(),
        next_token: 0,
        parents: parent_dirs(selection)?.into_iter().map(|p| (p, false)).collect(),
        settling: Vec::new(),
    };
    ev.watch_parents();
    ev.resync(false)?;
    loop {
        let pending = ev.groups.values().any(|k| !k.announced);
        let timeout = match (ev.settling.is_empty(), pending) {
            (false, _) => Some(Duration::from_millis(1)),
            (true, true) => Some(PENDING_WAIT),
            (true, false) => None,
        };
        let wakes = ev.watcher.wait(timeout)?;
        let mut relist = pending;
        for wake in wakes {
            match wake {
                Wake::Interrupted | Wake::OutputClosed => return Ok(0),
                Wake::DirChanged(_) | Wake::Gone(_) => relist = true,
                Wake::Modified(t) | Wake::Oom(t) => {
                    if let Some(name) = ev.name_of(t) {
                        if matches!(wake, Wake::Oom(_)) {
                            ev.settling.push((name.clone(), Instant::now() + OOM_SETTLE));
                        }
                        ev.check(&name)?;
                    }
                }
                Wake::ForkRejected => {
                    let names: Vec<String> = ev.groups.keys().cloned().collect();
                    for name in names {
                        ev.check(&name)?;
                    }
                }
                Wake::Timeout => {}
            }
        }
        let now = Instant::now();
        let settling: Vec<String> = ev.settling.iter().map(|(n, _)| n.clone()).collect();
        for name in settling {
            ev.check(&name)?;
        }
        ev.settling.retain(|(_, until)| *until > now);
        if relist {
            ev.watch_parents();
            ev.resync(true)?;
        }
    }
}

/// The parent directories of the selection in every hierarchy.
fn parent_dirs(selection: &Selection) -> anyhow::Result<Vec<PathBuf>> {
    let parent = match selection {
        Selection::Parent { parent, .. } => parent.as_deref(),
        _ => None,
    };
    let mut dirs: Vec<PathBuf> = cgroup::parent_dirs(parent)?.into_iter().map(|(dir, _)| dir).collect();
    if matches!(selection, Selection::All) {
        for g in cgroup::list_all()? {
            dirs.extend(g.places().iter().filter_map(|p| p.dir.parent().map(Path::to_path_buf)));
        }
    }
    dirs.sort();
    dirs.dedup();
    Ok(dirs)
}

impl Events {
    fn name_of(&self, token: u64) -> Option<String> {
        self.groups.iter().find(|(_, k)| k.token == token).map(|(n, _)| n.clone())
    }

    /// Watch each parent that exists; for one that does not, the nearest existing directory above.
    fn watch_parents(&mut self) {
        for i in 0..self.parents.len() {
            let (dir, watched) = self.parents[i].clone();
            if watched {
                continue;
            }
            let token = PARENT_TOKEN + i as u64;
            if dir.is_dir() {
                self.parents[i].1 = self.watcher.watch_dir(&dir, token).is_ok();
            } else if let Some(above) = dir.ancestors().skip(1).find(|d| d.is_dir()) {
                let _ = self.watcher.watch_dir(above, token);
            }
        }
    }

    /// List the groups again: report the new and the gone ones, watch the new ones.
    fn resync(&mut self, report: bool) -> anyhow::Result<()> {
        let listed = match &self.selection {
            Selection::Parent { parent, .. } => {
                select::resolve(&Selection::Parent { names: Vec::new(), parent: parent.clone() })?
            }
            other => select::resolve(other)?,
        };
        let wanted = |name: &str| match &self.selection {
            Selection::Parent { names, .. } if !names.is_empty() => names.iter().any(|n| n == name),
            _ => true,
        };
        let listed: Vec<GroupFiles> = listed.into_iter().filter(|t| wanted(&t.name)).collect();
        let gone: Vec<String> = self.groups.keys().filter(|n| !listed.iter().any(|t| &t.name == *n)).cloned().collect();
        for name in gone {
            if let Some(k) = self.groups.remove(&name) {
                self.watcher.forget(k.token);
                self.watcher.forget_oom(k.token);
                if report {
                    if !k.announced {
                        self.emit("create", &name, &k.id, None)?;
                    }
                    self.emit("destroy", &name, &k.id, None)?;
                }
            }
        }
        for target in listed {
            // A group appears one hierarchy at a time: watch each controller as it arrives.
            let (token, created) = match self.groups.get(&target.name) {
                Some(k) if k.target == target && k.announced => continue,
                Some(k) => (k.token, false),
                None => {
                    self.next_token += 1;
                    (self.next_token - 1, true)
                }
            };
            let old = self.groups.get(&target.name).map(|k| (k.target.clone(), k.counters));
            self.watch_group(&target, old.as_ref().map(|(t, _)| t), token);
            // Counters of a controller seen before are kept: what rose meanwhile is still reported.
            // A controller that appeared while cgstat watched starts from zero: all it counted
            // happened since, even when cgstat, busy, saw the directory after its first refusal.
            let now = read_counters(&target);
            let seen = |had: bool, kept: u64, read: u64| match (had, report) {
                (true, _) => kept,
                (false, true) => 0,
                (false, false) => read,
            };
            let (had_memory, had_pids, kept) = match &old {
                Some((t, c)) => (t.memory.is_some(), t.pids.is_some(), *c),
                None => (false, false, Counters::default()),
            };
            let counters = Counters {
                oom_kills: seen(had_memory, kept.oom_kills, now.oom_kills),
                pids_max: seen(had_pids, kept.pids_max, now.pids_max),
            };
            // A group listed when cgstat starts is not new. A new one is announced once it is in
            // the memory hierarchy, whose path is its id (cAdvisor's), or PENDING_WAIT after it
            // was first listed, whatever it holds; from then on its id stays its `create` line's.
            let named = target.memory.is_some();
            let before = self.groups.get(&target.name).filter(|k| k.announced).map(|k| k.id.clone());
            let announced = !report || before.is_some();
            let id = before.unwrap_or_else(|| self.ids.id(&target));
            let seen = self.groups.get(&target.name).map_or_else(Instant::now, |k| k.seen);
            let mut known = Known { token, id, counters, target, announced, seen };
            let name = known.target.name.clone();
            if !known.announced && (named || !created && seen.elapsed() >= PENDING_WAIT) {
                self.emit("create", &name, &known.id, None)?;
                known.announced = true;
            }
            let announced = known.announced;
            self.groups.insert(name.clone(), known);
            if report && announced {
                self.check(&name)?;
            }
        }
        Ok(())
    }

    /// Watch a group's event files not watched yet (`old`: what was there before). A group
    /// removed meanwhile just has no watches.
    fn watch_group(&mut self, t: &GroupFiles, old: Option<&GroupFiles>, token: u64) {
        if let Some(m) = t.memory.as_ref().filter(|m| old.and_then(|o| o.memory.as_ref()) != Some(*m)) {
            let _ = if m.v2 {
                self.watcher.watch_file(&m.dir.join("memory.events"), token)
            } else {
                self.watcher.watch_oom_v1(&m.dir, token)
            };
        }
        if let Some(p) = t.pids.as_ref().filter(|p| old.and_then(|o| o.pids.as_ref()) != Some(*p)) {
            if !p.v2 {
                let _ = self.watcher.watch_fork_rejections();
            }
            let _ = self.watcher.watch_file(&p.dir.join("pids.events"), token);
        }
    }

    /// Read a group's counters and report what rose.
    fn check(&mut self, name: &str) -> anyhow::Result<()> {
        // Not announced yet: what rose is reported right after its `create`.
        let Some(k) = self.groups.get_mut(name).filter(|k| k.announced) else { return Ok(()) };
        let now = read_counters(&k.target);
        let before = std::mem::replace(&mut k.counters, now);
        let id = k.id.clone();
        if now.oom_kills > before.oom_kills {
            self.settling.retain(|(n, _)| n != name);
            self.emit("oom-kill", name, &id, Some(now.oom_kills - before.oom_kills))?;
        }
        if now.pids_max > before.pids_max {
            self.emit("pids-limit", name, &id, Some(now.pids_max - before.pids_max))?;
        }
        Ok(())
    }

    fn emit(&self, action: &str, name: &str, id: &str, count: Option<u64>) -> std::io::Result<()> {
        let line = event_line(SystemTime::now(), action, name, id, count, self.json);
        let mut out = std::io::stdout().lock();
        out.write_all(line.as_bytes())?;
        out.flush()
    }
}

/// A group's kill and refusal counters now (0 for what cannot be read: a group going away).
fn read_counters(t: &GroupFiles) -> Counters {
    let oom_kills = t.memory.as_ref().and_then(|m| {
        let file = if m.v2 { "memory.events" } else { "memory.oom_control" };
        trace::read_file(m.dir.join(file)).ok().and_then(|s| keyed(&s, "oom_kill"))
    });
    let pids_max =
        t.pids.as_ref().and_then(|p| trace::read_file(p.dir.join("pids.events")).ok()).and_then(|s| keyed(&s, "max"));
    Counters { oom_kills: oom_kills.unwrap_or(0), pids_max: pids_max.unwrap_or(0) }
}

/// One event: `TIME group ACTION NAME (id=ID, count=N)`, or docker events' JSON shape.
fn event_line(at: SystemTime, action: &str, name: &str, id: &str, count: Option<u64>, json: bool) -> String {
    let nanos = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    if json {
        let mut attributes = serde_json::json!({ "name": name });
        if let Some(c) = count {
            attributes["count"] = c.into();
        }
        let v = serde_json::json!({
            "Type": "group",
            "Action": action,
            "Actor": { "ID": id, "Attributes": attributes },
            "time": (nanos / 1_000_000_000) as u64,
            "timeNano": nanos as u64,
        });
        return format!("{v}\n");
    }
    let count = count.map(|c| format!(", count={c}")).unwrap_or_default();
    format!("{} group {action} {name} (id={id}{count})\n", isolab_core::units::rfc3339(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_json() {
        let at = UNIX_EPOCH + Duration::from_secs(60);
        assert_eq!(
            event_line(at, "oom-kill", "web", "/isolab/web", Some(1), false),
            "1970-01-01T00:01:00.000000000Z group oom-kill web (id=/isolab/web, count=1)\n"
        );
        let v: serde_json::Value =
            serde_json::from_str(&event_line(at, "create", "web", "/isolab/web", None, true)).unwrap();
        assert_eq!((v["Action"].as_str(), v["Actor"]["Attributes"]["name"].as_str()), (Some("create"), Some("web")));
        assert_eq!((v["time"].as_u64(), v["Actor"]["ID"].as_str()), (Some(60), Some("/isolab/web")));
    }
}
