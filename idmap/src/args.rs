//! idmap's command line: clap's struct, then `into_spec()` into a checked [`Spec`].
//!
//! Two grammars: ours (`idmap PID --uid 0:100000:65536 --gid ...`) and shadow's newuidmap triple
//! form (`idmap uid PID 0 100000 65536 ...`), so scripts written for newuidmap/newgidmap port over:
//! the triples' numbers are read as newuidmap reads them (0x hex, leading 0 octal).

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::bail;
use clap::Parser;
use isolab_core::cli::Explain;
use isolab_core::idmap::{parse_extent, parse_triple, Extent, Setgroups, Which};

use crate::run::{AutoFor, PidSource, Source, Spec};

const AFTER_HELP: &str = "\
EXAMPLES:
  # The article's userns-remap: root inside is host uid 100000
  unshare --user sleep 600 &
  idmap $! --uid 0:100000:65536 --gid 0:100000:65536
  idmap --show $!

  # Map yourself to root inside (as unshare -r does)
  idmap 4242 --map-root

  # The ranges /etc/subuid and /etc/subgid grant you, first range -> 0
  idmap 4242 --auto

  # newuidmap / newgidmap syntax
  idmap uid 4242 0 100000 65536
  idmap gid 4242 0 100000 65536

  # util-linux 2.38's OUTER,INNER,COUNT is accepted too
  idmap 4242 --uid 100000,0,65536

  # One JSON object per extent
  idmap --show 4242 --json

SETUID MODE:
  Installed setuid root (install -m 4755 -o root), idmap lets a user write only the ranges
  /etc/subuid and /etc/subgid grant them, plus their own single id, into a process they own,
  as newuidmap does. gid maps with no /etc/subgid range leave setgroups 'deny' (CVE-2018-7169).

EXIT STATUS:
  0    the maps were written (or shown)
  125  idmap failed: bad flag, a range not granted, a refusal by the kernel; nothing was written";

/// Write or show the uid and gid maps of a process in a new user namespace.
#[derive(Debug, Parser)]
#[command(
    name = "idmap",
    version,
    about = "Write or show the uid/gid maps of a process in a new user namespace",
    long_about = "Write /proc/PID/uid_map and gid_map (and setgroups), each in one write, after checking \
every range as the kernel will; or show the maps in force. The same mechanism as newuidmap/newgidmap \
and `unshare --map-users`, as one tool. See user_namespaces(7).",
    after_help = AFTER_HELP,
    mut_arg("explain", |a| a.help("Print every kernel step on stderr as it happens (also ISOLAB_EXPLAIN=1)"))
)]
pub struct Args {
    /// The process whose maps to write (or show)
    #[arg(value_name = "PID")]
    pub pid: Option<String>,

    /// Read the PID from FILE (as written by nsexec --pidfile or `echo $$ > FILE`), in a directory
    /// no other user may write (in /tmp another user could hold FILE with a PID of their own)
    #[arg(long, value_name = "FILE", conflicts_with = "pid")]
    pub pidfile: Option<PathBuf>,

    /// Map uids INNER..INNER+COUNT to OUTER.. (also OUTER,INNER,COUNT); repeatable
    #[arg(long, value_name = "INNER:OUTER:COUNT")]
    pub uid: Vec<String>,

    /// Map gids INNER..INNER+COUNT to OUTER.. (also OUTER,INNER,COUNT); repeatable
    #[arg(long, value_name = "INNER:OUTER:COUNT")]
    pub gid: Vec<String>,

    /// Set /proc/PID/setgroups before the gid map (deny is one-way)
    #[arg(long, value_name = "allow|deny", value_parser = ["allow", "deny"])]
    pub setgroups: Option<String>,

    /// Map your own uid and gid to 0 inside
    #[arg(long)]
    pub map_root: bool,

    /// Map the first /etc/subuid and /etc/subgid range to 0 inside (util-linux --map-auto)
    #[arg(long)]
    pub auto: bool,

    /// Whose /etc/subuid ranges --auto uses (root only; default: you)
    #[arg(long, value_name = "NAME", requires = "auto")]
    pub user: Option<String>,

    /// Show the maps in force instead of writing
    #[arg(long, conflicts_with_all = ["uid", "gid", "setgroups", "map_root", "auto"])]
    pub show: bool,

    /// With --show: one JSON object per extent
    #[arg(long, requires = "show")]
    pub json: bool,

    #[command(flatten)]
    pub explain: Explain,
}

/// An idmap command line in either grammar.
#[derive(Debug)]
pub enum CommandLine {
    /// `idmap PID --uid ... --gid ...`, `idmap --show PID`.
    Flags(Args),
    /// newuidmap's `idmap uid|gid PID INNER OUTER COUNT...`, checked already.
    Triples { spec: Spec, explain: Explain },
}

impl CommandLine {
    pub fn into_spec(self) -> anyhow::Result<Spec> {
        match self {
            CommandLine::Flags(args) => args.into_spec(),
            CommandLine::Triples { spec, .. } => Ok(spec),
        }
    }
}

impl AsRef<Explain> for CommandLine {
    fn as_ref(&self) -> &Explain {
        match self {
            CommandLine::Flags(args) => &args.explain,
            CommandLine::Triples { explain, .. } => explain,
        }
    }
}

/// Parse argv in either grammar.
pub fn parse(argv: Vec<OsString>) -> anyhow::Result<CommandLine> {
    let words: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let which = match words.get(1).map(String::as_str) {
        Some("uid") => Which::Uid,
        Some("gid") => Which::Gid,
        _ => return Ok(CommandLine::Flags(Args::try_parse_from(argv)?)),
    };
    // `--explain` may stand anywhere among the triples, as it may among the flags.
    let (explain, words): (Vec<&String>, Vec<&String>) = words[2..].iter().partition(|w| *w == "--explain");
    Ok(CommandLine::Triples { spec: triples(which, &words)?, explain: Explain { explain: !explain.is_empty() } })
}

impl Args {
    /// Strings to typed, checked values; flags against each other.
    pub fn into_spec(self) -> anyhow::Result<Spec> {
        let pid = match (self.pid, self.pidfile) {
            (Some(pid), None) => PidSource::Number(pid_number(&pid)?),
            (None, Some(file)) => PidSource::File(file),
            _ => bail!("which process? give a PID or --pidfile FILE"),
        };
        if self.show {
            return Ok(Spec::Show { pid, json: self.json });
        }
        // clap's `requires = "show"` on --json let `idmap PID --json --map-root` write the maps.
        if self.json {
            bail!("--json goes with --show: it formats the maps shown, not the ones written");
        }
        let auto = self.auto.then(|| self.user.clone().map_or(AutoFor::Caller, AutoFor::User));
        let uid = Source { given: extents("--uid", &self.uid)?, root: self.map_root, auto: auto.clone() };
        let gid = Source { given: extents("--gid", &self.gid)?, root: self.map_root, auto };
        if uid.is_empty() && gid.is_empty() {
            bail!("nothing to map: give --uid, --gid, --map-root or --auto (or --show to read the maps)");
        }
        let setgroups = self.setgroups.as_deref().map(Setgroups::parse).transpose()?;
        Ok(Spec::Write { pid, uid, gid, setgroups })
    }
}

fn pid_number(s: &str) -> anyhow::Result<i32> {
    match s.parse::<i32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("'{s}' is not a process id"),
    }
}

fn extents(flag: &str, specs: &[String]) -> anyhow::Result<Vec<Extent>> {
    specs.iter().map(|s| parse_extent(s).map_err(|e| anyhow::anyhow!("{flag}: {e:#}"))).collect()
}

/// newuidmap's grammar: `uid|gid PID INNER OUTER COUNT [INNER OUTER COUNT]...`.
fn triples(which: Which, words: &[&String]) -> anyhow::Result<Spec> {
    if words.len() < 4 || (words.len() - 1) % 3 != 0 {
        bail!("usage: idmap {} PID INNER OUTER COUNT [INNER OUTER COUNT]...", which.name());
    }
    let pid = PidSource::Number(pid_number(words[0])?);
    // Numbers as newuidmap reads them (strtoul base 0), so the same argv maps the same ranges.
    let given = words[1..].chunks(3).map(|t| parse_triple(t[0], t[1], t[2])).collect::<anyhow::Result<Vec<_>>>()?;
    let source = Source { given, ..Default::default() };
    let (uid, gid) = match which {
        Which::Uid => (source, Source::default()),
        Which::Gid => (Source::default(), source),
    };
    Ok(Spec::Write { pid, uid, gid, setgroups: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn spec(line: &str) -> anyhow::Result<Spec> {
        parse(line.split_whitespace().map(OsString::from).collect())?.into_spec()
    }

    fn e(inside: u32, outside: u32, count: u32) -> Extent {
        Extent { inside, outside, count }
    }

    #[test]
    fn both_grammars_give_the_same_spec() {
        let ours = spec("idmap 42 --uid 0:100000:65536").unwrap();
        let shadow = spec("idmap uid 42 0 100000 65536").unwrap();
        let utillinux = spec("idmap 42 --uid 100000,0,65536").unwrap();
        assert_eq!(ours, shadow);
        assert_eq!(ours, utillinux);
        let Spec::Write { uid, gid, .. } = ours else { panic!() };
        assert_eq!(uid.given, vec![e(0, 100000, 65536)]);
        assert!(gid.is_empty());
    }

    #[test]
    fn triples_take_several_ranges() {
        let Spec::Write { gid, .. } = spec("idmap gid 42 0 1000 1 1 100000 65535").unwrap() else { panic!() };
        assert_eq!(gid.given, vec![e(0, 1000, 1), e(1, 100000, 65535)]);
        assert!(spec("idmap gid 42 0 1000").unwrap_err().to_string().starts_with("usage: idmap gid PID"));
        assert!(format!("{:#}", spec("idmap uid 42 0 4294967295 2").unwrap_err()).contains("overflows"));
        // newuidmap's reading: octal and hex; our own grammar refuses the octal-looking one.
        let Spec::Write { uid, .. } = spec("idmap uid 42 0 01200000 0x10").unwrap() else { panic!() };
        assert_eq!(uid.given, vec![e(0, 0o1200000, 16)]);
        assert!(format!("{:#}", spec("idmap 42 --uid 0:01200000:1").unwrap_err()).contains("leading zero"));
    }

    #[test]
    fn bad_values_are_named() {
        assert_eq!(
            format!("{:#}", spec("idmap 42 --uid 0:100000:0").unwrap_err()),
            "--uid: invalid map '0:100000:0': count must be at least 1"
        );
        assert_eq!(spec("idmap abc --map-root").unwrap_err().to_string(), "'abc' is not a process id");
        assert!(spec("idmap 42").unwrap_err().to_string().starts_with("nothing to map"));
        assert!(spec("idmap --map-root").unwrap_err().to_string().starts_with("which process?"));
        assert!(spec("idmap 42 --json").is_err());
        assert!(spec("idmap 42 --show --uid 0:0:1").is_err());
        assert!(spec("idmap 42 --user bob").is_err());
        assert!(spec("idmap 42 --setgroups maybe --map-root").is_err());
    }

    #[test]
    fn show_and_pidfile() {
        assert_eq!(spec("idmap --show 42 --json").unwrap(), Spec::Show { pid: PidSource::Number(42), json: true });
        let Spec::Write { pid, uid, setgroups, .. } = spec("idmap --pidfile /tmp/p --auto --setgroups deny").unwrap()
        else {
            panic!()
        };
        assert_eq!(pid, PidSource::File("/tmp/p".into()));
        assert_eq!(uid.auto, Some(AutoFor::Caller));
        assert_eq!(setgroups, Some(Setgroups::Deny));
    }

    #[test]
    fn command_is_well_formed() {
        Args::command().debug_assert();
    }
}
