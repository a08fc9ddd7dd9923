//! The idmap tool's two actions: write the maps of a process, and show them.
//!
//! Both start by dropping to the caller (setuid mode), so every file the caller names is opened
//! with the caller's rights. Order of a write, so that a refusal leaves nothing written: drop,
//! pin the target (pidfd), build and validate both maps, check grants and ownership, check that
//! neither map is written yet, and only then write uid_map, setgroups, gid_map.

use std::path::{Path, PathBuf};

use anyhow::bail;

use isolab_core::creds::{self, Capability};
use isolab_core::idmap::privileged::{self, Caller};
use isolab_core::idmap::{parse, subid, write, Extent, Setgroups, Which};
use isolab_core::process::read_pidfile;
use isolab_core::procfs::{Pidfd, PinError, PinnedProcess, ProcDir};
use isolab_core::trace;

/// Which process: a PID, or a file that holds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidSource {
    Number(i32),
    File(PathBuf),
}

/// Where one map's extents come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// `--uid`/`--gid` or the triples.
    pub given: Vec<Extent>,
    /// `--map-root`: the caller's own id becomes 0.
    pub root: bool,
    /// `--auto`: the first subordinate range of a user becomes 0.
    pub auto: Option<AutoFor>,
}

/// Whose /etc/subuid and /etc/subgid ranges `--auto` maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoFor {
    /// The caller's.
    Caller,
    /// `--user NAME`'s (root only).
    User(String),
}

impl Source {
    pub fn is_empty(&self) -> bool {
        self.given.is_empty() && !self.root && self.auto.is_none()
    }
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    Write { pid: PidSource, uid: Source, gid: Source, setgroups: Option<Setgroups> },
    Show { pid: PidSource, json: bool },
}

/// Run the idmap tool.
pub fn run(spec: Spec) -> anyhow::Result<u8> {
    match spec {
        Spec::Show { pid, json } => show(&pid, json),
        Spec::Write { pid, uid, gid, setgroups } => write_maps(&pid, &uid, &gid, setgroups),
    }
}

fn resolve(pid: &PidSource) -> anyhow::Result<i32> {
    match pid {
        PidSource::Number(n) => Ok(*n),
        PidSource::File(path) => read_pidfile(path),
    }
}

fn write_maps(pid: &PidSource, uid: &Source, gid: &Source, setgroups: Option<Setgroups>) -> anyhow::Result<u8> {
    let caller = Caller::current();
    privileged::drop_to_caller(&caller)?;
    let (target, proc_dir) = pin(resolve(pid)?)?;
    privileged::check_owner(&caller, target.pid(), proc_dir.owner()?)?;
    let uid_map = build(&caller, Which::Uid, uid)?;
    let gid_map = build(&caller, Which::Gid, gid)?;
    let mut gid_from_subid = false;
    for (which, map) in [(Which::Uid, &uid_map), (Which::Gid, &gid_map)] {
        if map.is_empty() {
            continue;
        }
        parse::validate(which, map)?;
        let from_subid = privileged::check_grants(&caller, which, map)?;
        gid_from_subid |= which == Which::Gid && from_subid;
    }
    let setgroups = setgroups_to_write(&caller, &gid_map, gid_from_subid, setgroups)?;
    privileged::drop_setfcap_unless(&caller, uid_map.iter().any(Extent::maps_outside_root))?;
    let dir = proc_dir.path();
    for (which, map) in [(Which::Uid, &uid_map), (Which::Gid, &gid_map)] {
        if !map.is_empty() {
            write::check_unwritten(&dir, which)?;
        }
    }
    if !target.is_alive_traced() {
        return Err(exited(target.pid()));
    }
    if !uid_map.is_empty() {
        write::write_map(&dir, Which::Uid, &uid_map)?;
    }
    if let Some(value) = setgroups {
        write::write_setgroups(&dir, value)?;
    }
    if !gid_map.is_empty() {
        write::write_map(&dir, Which::Gid, &gid_map)?;
    }
    Ok(0)
}

/// Pin the target so that a reused PID is never mapped: a pidfd, then its /proc directory,
/// then proof through the pidfd that the process was alive, so the directory is its. Every later
/// step goes through that directory (`/proc/self/fd/N`).
fn pin(pid: i32) -> anyhow::Result<(PinnedProcess, ProcDir)> {
    let no_such = || anyhow::anyhow!("process {pid} does not exist (or has exited): nothing was mapped");
    let target = PinnedProcess::pin(pid, Pidfd::Required).map_err(|e| match e {
        PinError::NoSuchProcess => no_such(),
        PinError::Exited => exited(pid),
        PinError::Refused(err) => err,
    })?;
    let dir = target.open_proc_dir().map_err(|e| if target.is_alive() { e } else { no_such() })?;
    if !target.is_alive_traced() {
        return Err(exited(pid));
    }
    trace::note(format!("{} is /proc/{pid}, pinned while the pidfd says it is alive", dir.path().display()));
    Ok((target, dir))
}

fn exited(pid: i32) -> anyhow::Error {
    anyhow::anyhow!("process {pid} has exited: nothing was mapped")
}

/// The extents one source asks for. `--map-root` with `--auto` punches the caller's id out of
/// the automatic range, as util-linux does (`0 1000 1` and `1 100000 65535`).
fn build(caller: &Caller, which: Which, source: &Source) -> anyhow::Result<Vec<Extent>> {
    let mut map = source.given.clone();
    if source.root {
        map.push(Extent { inside: 0, outside: caller.own(which), count: 1 });
    }
    if let Some(user) = &source.auto {
        let name = match user {
            AutoFor::User(name) if caller.restricted() && Some(name) != caller.name.as_ref() => {
                bail!("--user {name}: only root may map another user's subordinate ids")
            }
            AutoFor::User(name) => name.clone(),
            AutoFor::Caller => caller.name.clone().unwrap_or_default(),
        };
        let uid = if Some(&name) == caller.name.as_ref() { caller.uid } else { uid_of(&name)? };
        for mut e in subid::auto_map(which, &name, uid)? {
            if source.root {
                e.inside = 1;
                e.count -= 1;
            }
            if e.count > 0 {
                map.push(e);
            }
        }
    }
    Ok(map)
}

fn uid_of(name: &str) -> anyhow::Result<u32> {
    match creds::uid_of(name) {
        Some(uid) => Ok(uid),
        None => bail!("--user {name}: no such user"),
    }
}

/// setgroups: `deny` before gid_map when the kernel demands it (a writer without CAP_SETGID)
/// or when no gid range came from /etc/subgid for a restricted caller (CVE-2018-7169).
fn setgroups_to_write(
    caller: &Caller,
    gid_map: &[Extent],
    from_subgid: bool,
    asked: Option<Setgroups>,
) -> anyhow::Result<Option<Setgroups>> {
    if gid_map.is_empty() {
        return Ok(asked);
    }
    let unprivileged = !privileged::holds(Capability::CAP_SETGID);
    let must_deny = unprivileged || (caller.restricted() && !from_subgid);
    match asked {
        Some(Setgroups::Allow) if unprivileged => {
            bail!("--setgroups allow: without CAP_SETGID the kernel takes a gid map only after setgroups is 'deny'")
        }
        Some(Setgroups::Allow) if must_deny => {
            bail!(
                "--setgroups allow: only a gid range granted by /etc/subgid may keep setgroups allowed (CVE-2018-7169)"
            )
        }
        Some(value) => Ok(Some(value)),
        None if must_deny => Ok(Some(Setgroups::Deny)),
        None => Ok(None),
    }
}

fn show(pid: &PidSource, json: bool) -> anyhow::Result<u8> {
    privileged::drop_all(&Caller::current())?;
    let pid = resolve(pid)?;
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let mut out = Vec::new();
    for which in [Which::Uid, Which::Gid] {
        out.push((which, read_map(&dir, which)?));
    }
    let setgroups = trace::read_file(dir.join("setgroups")).unwrap_or_default();
    let text = if json { render_json(pid, &out) } else { render_table(&out, setgroups.trim()) };
    isolab_core::exit::write_stdout(&text)?;
    Ok(0)
}

fn read_map(dir: &Path, which: Which) -> anyhow::Result<Vec<Extent>> {
    match trace::read_file(dir.join(which.map_file())) {
        Ok(text) => parse::parse_proc_map(&text),
        Err(_) if !dir.exists() => {
            bail!("process {} does not exist", dir.file_name().unwrap_or_default().to_string_lossy())
        }
        Err(e) => bail!("cannot read {}: {}", dir.join(which.map_file()).display(), isolab_core::process::plain_io(&e)),
    }
}

/// The maps as a table: `uid  0-65535  ->  100000-165535  65536`.
pub fn render_table(maps: &[(Which, Vec<Extent>)], setgroups: &str) -> String {
    let mut rows = vec![["MAP".to_string(), "INSIDE".into(), "".into(), "OUTSIDE".into(), "COUNT".into()]];
    for (which, map) in maps {
        for e in map {
            rows.push([which.name().into(), e.inside_span(), "->".into(), e.outside_span(), e.count.to_string()]);
        }
    }
    let widths: Vec<usize> = (0..5).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    let mut text = String::new();
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    for (which, _) in maps.iter().filter(|(_, map)| map.is_empty()) {
        text.push_str(&format!("{:<w$}  (not written)\n", which.name(), w = widths[0]));
    }
    if !setgroups.is_empty() {
        text.push_str(&format!("setgroups: {setgroups}\n"));
    }
    text
}

/// One JSON object per extent: `{"pid":42,"map":"uid","inside":0,"outside":100000,"count":65536}`.
pub fn render_json(pid: i32, maps: &[(Which, Vec<Extent>)]) -> String {
    maps.iter()
        .flat_map(|(which, map)| map.iter().map(move |e| (which, e)))
        .map(|(which, e)| {
            let obj = serde_json::json!({"pid": pid, "map": which.name(), "inside": e.inside, "outside": e.outside, "count": e.count});
            format!("{obj}\n")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps() -> Vec<(Which, Vec<Extent>)> {
        vec![(Which::Uid, vec![Extent { inside: 0, outside: 100000, count: 65536 }]), (Which::Gid, vec![])]
    }

    #[test]
    fn table_lines_up() {
        assert_eq!(
            render_table(&maps(), "deny"),
            "MAP  INSIDE       OUTSIDE        COUNT\n\
             uid  0-65535  ->  100000-165535  65536\n\
             gid  (not written)\n\
             setgroups: deny\n"
        );
    }

    #[test]
    fn json_is_one_object_per_extent() {
        assert_eq!(
            render_json(42, &maps()),
            "{\"count\":65536,\"inside\":0,\"map\":\"uid\",\"outside\":100000,\"pid\":42}\n"
        );
    }

    #[test]
    fn map_root_with_auto_leaves_a_hole_for_the_caller() {
        let caller = Caller { uid: 4_000_000_002, gid: 7, name: Some("isolab-no-such-user".into()), pw_gid: Some(7) };
        let src = Source { root: true, ..Default::default() };
        assert_eq!(build(&caller, Which::Gid, &src).unwrap(), vec![Extent { inside: 0, outside: 7, count: 1 }]);
        let other = Source { auto: Some(AutoFor::User("root".into())), ..Default::default() };
        assert!(build(&caller, Which::Uid, &other).unwrap_err().to_string().contains("only root may"));
    }
}
