//! The result cache, as libcni keeps it (libcni/api.go `cacheAdd`): one JSON file per
//! attachment, CACHE/results/NETWORK-CONTAINERID-IFNAME, mode 0600 in a 0700 directory, with
//! `kind: cniCacheV1`, the list's configuration (base64, Go's []byte), the runtime arguments and
//! the ADD result. DEL reads it back: the spec gives DEL the ADD result as prevResult (0.4.0+),
//! and running the cached configuration undoes what was done even if the file changed since.
//!
//! netexec adds one key libcni ignores, `netexec`: who made the attachment (PID and start time,
//! so a reused PID is not mistaken for it) and where its namespace is bound, for --rm and --gc.
//! The entry is written before the first plugin runs, so a netexec killed during ADD leaves
//! something --gc can find.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::{json, Map, Value};

/// libcni's marker for this layout.
pub const KIND: &str = "cniCacheV1";

/// Who made an attachment and where its namespace is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: i32,
    pub start_time: u64,
    /// /run/netns/NAME
    pub netns_file: PathBuf,
    /// The namespace's inode when it was bound (its identity).
    pub netns_inode: u64,
    /// Made by --keep: stays until --rm.
    pub kept: bool,
}

/// One attachment's cache file.
#[derive(Debug, Clone)]
pub struct Entry {
    pub file: PathBuf,
    pub container_id: String,
    pub network: String,
    pub ifname: String,
    pub netns: String,
    /// The list's configuration as it was run.
    pub config: Value,
    pub capability_args: Map<String, Value>,
    pub cni_args: Vec<(String, String)>,
    pub result: Option<Value>,
    pub owner: Option<Owner>,
}

/// CACHE/results/NETWORK-ID-IFNAME.
pub fn path(cache_dir: &Path, network: &str, container_id: &str, ifname: &str) -> PathBuf {
    cache_dir.join("results").join(format!("{network}-{container_id}-{ifname}"))
}

impl Entry {
    fn to_json(&self) -> Value {
        let config = serde_json::to_vec(&self.config).expect("JSON values serialize");
        let mut v = json!({
            "kind": KIND,
            "containerId": self.container_id,
            "config": base64_encode(&config),
            "ifName": self.ifname,
            "networkName": self.network,
            "netns": self.netns,
        });
        if !self.cni_args.is_empty() {
            v["cniArgs"] = self.cni_args.iter().map(|(k, val)| json!([k, val])).collect();
        }
        if !self.capability_args.is_empty() {
            v["capabilityArgs"] = Value::Object(self.capability_args.clone());
        }
        if let Some(r) = &self.result {
            v["result"] = r.clone();
        }
        if let Some(o) = &self.owner {
            v["netexec"] = json!({
                "pid": o.pid,
                "startTime": o.start_time,
                "netnsFile": o.netns_file,
                "netnsInode": o.netns_inode,
                "kept": o.kept,
            });
        }
        v
    }

    /// Write the entry (to a temporary name, then renamed: a reader never sees half a file).
    pub fn save(&self) -> anyhow::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
        let dir = self.file.parent().expect("results/ is the parent");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the cache directory {}", dir.display()))?;
        let mut tmp = self.file.clone().into_os_string();
        tmp.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let text = self.to_json().to_string();
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
            f.write_all(text.as_bytes())?;
            std::fs::rename(&tmp, &self.file)
        };
        write().with_context(|| format!("cannot write the cache entry {}", self.file.display()))?;
        let what = if self.result.is_some() { "with the ADD result" } else { "before ADD" };
        isolab_core::trace::note(format!("cache: {} ({KIND}, {what})", self.file.display()));
        Ok(())
    }

    /// Remove the entry (libcni `cacheDel`); a missing file is fine.
    pub fn remove(&self) -> anyhow::Result<()> {
        match std::fs::remove_file(&self.file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove {}", self.file.display()))
            }
            _ => Ok(()),
        }
    }

    /// Parse a cache file; `None` for what is not a libcni cache entry.
    pub fn parse(file: &Path, text: &str) -> Option<Entry> {
        let v: Value = serde_json::from_str(text).ok()?;
        if v.get("kind")?.as_str()? != KIND {
            return None;
        }
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
        let config = base64_decode(&s("config")?).and_then(|b| serde_json::from_slice(&b).ok())?;
        let owner = v.get("netexec").and_then(|o| {
            Some(Owner {
                pid: i32::try_from(o.get("pid")?.as_i64()?).ok()?,
                start_time: o.get("startTime")?.as_u64()?,
                netns_file: PathBuf::from(o.get("netnsFile")?.as_str()?),
                netns_inode: o.get("netnsInode")?.as_u64()?,
                kept: o.get("kept")?.as_bool()?,
            })
        });
        let cni_args = v
            .get("cniArgs")
            .and_then(Value::as_array)
            .map(|pairs| {
                pairs
                    .iter()
                    .filter_map(|p| Some((p.get(0)?.as_str()?.to_string(), p.get(1)?.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Some(Entry {
            file: file.to_path_buf(),
            container_id: s("containerId")?,
            network: s("networkName")?,
            ifname: s("ifName")?,
            netns: s("netns").unwrap_or_default(),
            config,
            capability_args: v.get("capabilityArgs").and_then(Value::as_object).cloned().unwrap_or_default(),
            cni_args,
            result: v.get("result").cloned(),
            owner,
        })
    }
}

/// Every entry netexec made (with its `netexec` key) in CACHE/results, sorted by file name.
pub fn ours(cache_dir: &Path) -> Vec<Entry> {
    let Ok(dir) = std::fs::read_dir(cache_dir.join("results")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = dir
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| !p.to_string_lossy().contains(".tmp-")) // being written
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|f| Entry::parse(f, &std::fs::read_to_string(f).ok()?))
        .filter(|e| e.owner.is_some())
        .collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as Go's encoding/json writes a []byte.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= chunk.len() { B64[(n >> shift) as usize & 63] as char } else { '=' });
        }
    }
    out
}

pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_like_go() {
        for (raw, enc) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("{\"a\":1}", "eyJhIjoxfQ==")] {
            assert_eq!(base64_encode(raw.as_bytes()), enc);
            assert_eq!(base64_decode(enc).unwrap(), raw.as_bytes());
        }
        assert!(base64_decode("#!").is_none());
    }

    #[test]
    fn entries_round_trip_and_keep_libcni_s_keys() {
        let e = Entry {
            file: "/c/results/isolab-web-eth0".into(),
            container_id: "web".into(),
            network: "isolab".into(),
            ifname: "eth0".into(),
            netns: "/run/netns/web".into(),
            config: json!({"name": "isolab", "plugins": []}),
            capability_args: json!({"portMappings": [{"hostPort": 8080}]}).as_object().unwrap().clone(),
            cni_args: vec![("IgnoreUnknown".into(), "1".into())],
            result: Some(json!({"cniVersion": "1.0.0"})),
            owner: Some(Owner {
                pid: 42,
                start_time: 7,
                netns_file: "/run/netns/web".into(),
                netns_inode: 4026532000,
                kept: true,
            }),
        };
        let text = e.to_json().to_string();
        let v: Value = serde_json::from_str(&text).unwrap();
        for key in ["kind", "containerId", "config", "ifName", "networkName", "netns", "capabilityArgs", "result"] {
            assert!(v.get(key).is_some(), "{key} missing: {text}");
        }
        let back = Entry::parse(&e.file, &text).unwrap();
        assert_eq!(back.config, e.config);
        assert_eq!(back.owner, e.owner);
        assert_eq!(back.cni_args, e.cni_args);
        assert_eq!(back.capability_args, e.capability_args);
        assert!(Entry::parse(&e.file, r#"{"kind":"other"}"#).is_none());
        assert_eq!(path(Path::new("/c"), "isolab", "web", "eth0"), e.file);
    }
}
