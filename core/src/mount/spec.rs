//! What nsexec is asked to mount, parsed: `--bind SRC:DST[:ro]`, `--propagation`, destinations.

use std::path::{Component, Path, PathBuf};

use anyhow::bail;

/// Mount propagation of the new mount namespace (`--propagation`, as util-linux unshare).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Private,
    Slave,
    Shared,
    Unchanged,
}

impl Propagation {
    pub fn parse(s: &str) -> anyhow::Result<Propagation> {
        Ok(match s {
            "private" => Propagation::Private,
            "slave" => Propagation::Slave,
            "shared" => Propagation::Shared,
            "unchanged" => Propagation::Unchanged,
            _ => bail!("invalid --propagation '{s}': expected private, slave, shared or unchanged"),
        })
    }
}

/// `--bind SRC:DST[:ro]` (Docker `-v`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub source: PathBuf,
    pub dest: PathBuf,
    pub read_only: bool,
}

impl Bind {
    pub fn parse(spec: &str) -> anyhow::Result<Bind> {
        let parts: Vec<&str> = spec.split(':').collect();
        let (src, dst, mode) = match parts.as_slice() {
            [s, d] => (*s, *d, None),
            [s, d, m] => (*s, *d, Some(*m)),
            _ => bail!("invalid --bind '{spec}': expected SRC:DST[:ro|rw]"),
        };
        let read_only = match mode {
            None | Some("rw") => false,
            Some("ro") => true,
            Some(m) => bail!("invalid --bind '{spec}': unknown mode '{m}' (ro or rw)"),
        };
        if src.is_empty() || !dst.starts_with('/') {
            bail!("invalid --bind '{spec}': the source must be given and the destination must be absolute");
        }
        Ok(Bind { source: src.into(), dest: clean_dest(dst, "--bind")?, read_only })
    }
}

/// Refuse control characters (newline, tab, escape...) in a name or a path the tools create: a
/// mount point named `a\nb` breaks every line-based reader of /proc/self/mountinfo and of logs.
pub fn no_control_chars(what: &str, value: &str) -> anyhow::Result<()> {
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        bail!(
            "invalid {what} '{}': a control character ({}) is not allowed there",
            value.escape_debug(),
            c.escape_debug()
        );
    }
    Ok(())
}

/// An absolute path inside the new root, without `..` (which could climb out of it) or control
/// characters.
pub fn clean_dest(dst: &str, flag: &str) -> anyhow::Result<PathBuf> {
    no_control_chars(&format!("{flag} destination"), dst)?;
    let path = Path::new(dst);
    if !path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir)) {
        bail!("invalid {flag} destination '{dst}': must be an absolute path without '..'");
    }
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_parse_like_docker_volumes() {
        let b = Bind::parse("/srv/data:/data:ro").unwrap();
        assert_eq!(b, Bind { source: "/srv/data".into(), dest: "/data".into(), read_only: true });
        assert!(!Bind::parse("/a:/b").unwrap().read_only);
        assert!(!Bind::parse("/a:/b:rw").unwrap().read_only);
        for bad in ["/a", "/a:b", ":/b", "/a:/b:rx", "/a:/b/../../etc", "/a:/b:ro:x"] {
            let e = Bind::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad) || e.contains("'/b/../../etc'"), "{bad}: {e}");
        }
        let e = Bind::parse("/a:/b\nc").unwrap_err().to_string();
        assert_eq!(e, "invalid --bind destination '/b\\nc': a control character (\\n) is not allowed there");
        assert!(clean_dest("/x\u{1b}", "--tmpfs").is_err() && clean_dest("/caf\u{e9}", "--tmpfs").is_ok());
    }

    #[test]
    fn propagation_names() {
        assert_eq!(Propagation::parse("slave").unwrap(), Propagation::Slave);
        assert!(Propagation::parse("rprivate").is_err());
    }
}
