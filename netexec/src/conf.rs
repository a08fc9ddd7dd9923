//! Network configurations: lists (.conflist) and single plugins (.conf, .json) as libcni
//! loads them (libcni/conf.go), the default network, and where each plugin's binary is.
//!
//! libcni's rules kept here: a network is found by the `name` inside the file, not the file's
//! name; .conflist files are read first, in sorted order, then .conf/.json ones (upconverted to
//! a list of one); a file that cannot be parsed stops the search with an error; `cniVersions`,
//! when present, picks the newest version both sides support.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::{Map, Value};

/// Spec versions whose result format netexec chains (0.3.0 introduced lists and prevResult).
pub const SUPPORTED_VERSIONS: [&str; 4] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"];

/// The default network's name and file.
pub const DEFAULT_NETWORK: &str = "isolab";
pub const DEFAULT_FILE: &str = "isolab.conflist";

/// The article's Docker daemon (`"bip": "172.18.0.1/24"`) as a CNI network: podman's default
/// list with this bridge and subnet. Written once; the user may edit it afterwards.
pub const DEFAULT_CONFLIST: &str = r#"{
  "cniVersion": "1.0.0",
  "name": "isolab",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "isolab0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "capabilities": { "ips": true, "mac": true },
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "172.18.0.0/24", "rangeStart": "172.18.0.2", "gateway": "172.18.0.1" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "firewall" }
  ]
}
"#;

/// One plugin of a list: its `type` and its configuration object as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Plugin {
    pub kind: String,
    pub conf: Map<String, Value>,
}

impl Plugin {
    /// Whether the plugin declares `capability` (`"capabilities": {"portMappings": true}`).
    pub fn has_capability(&self, capability: &str) -> bool {
        self.conf.get("capabilities").and_then(|c| c.get(capability)).and_then(Value::as_bool) == Some(true)
    }
}

/// A network configuration list, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkList {
    pub name: String,
    pub cni_version: String,
    pub disable_check: bool,
    pub plugins: Vec<Plugin>,
    /// The list as JSON (kept in the cache, so DEL runs what ADD ran even if the file changes).
    pub raw: Value,
    /// Where it came from, for messages.
    pub origin: String,
}

/// CNI error codes the specification defines, as one line of words.
pub fn error_meaning(code: u64) -> &'static str {
    match code {
        1 => "incompatible CNI version",
        2 => "unsupported field in network configuration",
        3 => "container unknown or does not exist",
        4 => "invalid necessary environment variables",
        5 => "I/O failure",
        6 => "failed to decode content",
        7 => "invalid network config",
        11 => "try again later",
        50 => "the plugin is not available",
        51 => "the plugin is not available, and existing containers may be disrupted",
        100.. => "plugin-specific error",
        _ => "reserved error code",
    }
}

/// A configuration problem, worded with the specification's error code.
fn config_error(origin: &str, code: u64, what: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{origin}: CNI error {code} ({}): {what}", error_meaning(code))
}

/// Parse a file's text: a list when it has `plugins`, else a single plugin upconverted.
pub fn parse(text: &str, origin: &str) -> anyhow::Result<NetworkList> {
    let value: Value = serde_json::from_str(text).map_err(|e| config_error(origin, 6, e))?;
    let Value::Object(obj) = &value else {
        return Err(config_error(origin, 7, "the configuration is not a JSON object"));
    };
    if obj.contains_key("plugins") {
        return parse_list(value.clone(), origin);
    }
    // libcni ConfListFromConf: name and version move up, the plugin keeps its own copy.
    let mut list = Map::new();
    for key in ["name", "cniVersion"] {
        if let Some(v) = obj.get(key) {
            list.insert(key.into(), v.clone());
        }
    }
    list.insert("plugins".into(), Value::Array(vec![value.clone()]));
    parse_list(Value::Object(list), origin)
}

fn parse_list(raw: Value, origin: &str) -> anyhow::Result<NetworkList> {
    let obj = raw.as_object().expect("checked by the caller");
    let name = match obj.get("name") {
        Some(Value::String(n)) if !n.is_empty() => n.clone(),
        Some(_) => return Err(config_error(origin, 7, "\"name\" must be a non-empty string")),
        None => return Err(config_error(origin, 7, "no \"name\"")),
    };
    crate::args::check_network_name(&name)
        .map_err(|_| config_error(origin, 7, format!("invalid network name {name:?}")))?;
    let cni_version = pick_version(obj, origin)?;
    let disable_check = match obj.get("disableCheck") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        Some(other) => return Err(config_error(origin, 7, format!("invalid disableCheck {other}"))),
    };
    let plugins = match obj.get("plugins") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(Value::Array(_)) => return Err(config_error(origin, 7, "no plugins in list")),
        _ => return Err(config_error(origin, 7, "\"plugins\" must be a list of plugin configurations")),
    };
    let plugins = plugins
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let conf =
                p.as_object().ok_or_else(|| config_error(origin, 7, format!("plugin {} is not an object", i + 1)))?;
            match conf.get("type") {
                Some(Value::String(t)) if valid_type(t) => Ok(Plugin { kind: t.clone(), conf: conf.clone() }),
                Some(t) => Err(config_error(origin, 7, format!("plugin {} has an invalid \"type\" {t}", i + 1))),
                None => Err(config_error(origin, 7, format!("plugin {} has no \"type\"", i + 1))),
            }
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(NetworkList { name, cni_version, disable_check, plugins, raw, origin: origin.to_string() })
}

/// A plugin type is a file name in CNI_PATH: no path, no leading dot.
fn valid_type(t: &str) -> bool {
    !t.is_empty() && !t.contains('/') && !t.starts_with('.')
}

/// `cniVersion`, or with `cniVersions` the newest that netexec supports (libcni's rule).
fn pick_version(obj: &Map<String, Value>, origin: &str) -> anyhow::Result<String> {
    let mut candidates: Vec<String> = Vec::new();
    if let Some(list) = obj.get("cniVersions") {
        let list = list.as_array().ok_or_else(|| config_error(origin, 7, "\"cniVersions\" must be a list"))?;
        candidates.extend(list.iter().filter_map(Value::as_str).map(String::from));
    }
    match obj.get("cniVersion") {
        Some(Value::String(v)) => candidates.push(v.clone()),
        Some(_) => return Err(config_error(origin, 7, "\"cniVersion\" must be a string")),
        None if candidates.is_empty() => return Err(config_error(origin, 7, "no \"cniVersion\"")),
        None => {}
    }
    let supported: Vec<&String> = candidates.iter().filter(|v| SUPPORTED_VERSIONS.contains(&v.as_str())).collect();
    match supported.into_iter().max_by_key(|v| version_key(v)) {
        Some(v) => Ok(v.clone()),
        None => Err(config_error(
            origin,
            1,
            format!("version {} is not one netexec runs ({})", candidates.join(", "), SUPPORTED_VERSIONS.join(", ")),
        )),
    }
}

/// "1.0.0" -> (1, 0, 0), for ordering versions.
pub fn version_key(v: &str) -> (u32, u32, u32) {
    let mut parts = v.split('.').map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Whether a version has prevResult on DEL and the CHECK command (0.4.0 and later).
pub fn has_check(version: &str) -> bool {
    version_key(version) >= (0, 4, 0)
}

/// Read a configuration file named on the command line.
pub fn load_file(path: &Path) -> anyhow::Result<NetworkList> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!("--network: cannot read {}: {}", path.display(), isolab_core::process::plain_io(&e))
    })?;
    parse(&text, &path.display().to_string())
}

/// The files of `dir` with one of `exts`, sorted by name.
fn files(dir: &Path, exts: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().and_then(|e| e.to_str()).is_some_and(|e| exts.contains(&e)))
        .collect();
    out.sort();
    Ok(out)
}

/// The network called `name` in `dir` (libcni LoadNetworkConf), or `None`.
pub fn load_named(dir: &Path, name: &str) -> anyhow::Result<Option<NetworkList>> {
    for ext in [&["conflist"][..], &["conf", "json"][..]] {
        for file in files(dir, ext)? {
            let list =
                load_file(&file).map_err(|e| anyhow::anyhow!("{e:#}").context("in the configuration directory"))?;
            if list.name == name {
                return Ok(Some(list));
            }
        }
    }
    Ok(None)
}

/// The names of the networks in `dir`, for an error message.
pub fn names_in(dir: &Path) -> Vec<String> {
    let all = files(dir, &["conflist", "conf", "json"]).unwrap_or_default();
    all.iter().filter_map(|f| load_file(f).ok()).map(|l| l.name).collect()
}

/// The first executable file called `name` in `dirs`: a plugin's binary in CNI_PATH, or the
/// user-mode network's helper on PATH.
pub fn find_program(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    dirs.iter()
        .map(|dir| dir.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_network_parses_as_the_article_s_daemon() {
        let list = parse(DEFAULT_CONFLIST, "default").unwrap();
        assert_eq!(list.name, DEFAULT_NETWORK);
        assert_eq!(list.cni_version, "1.0.0");
        let kinds: Vec<&str> = list.plugins.iter().map(|p| p.kind.as_str()).collect();
        assert_eq!(kinds, ["bridge", "portmap", "firewall"]);
        assert!(list.plugins[0].has_capability("ips") && list.plugins[1].has_capability("portMappings"));
        assert!(!list.plugins[2].has_capability("portMappings"));
        assert_eq!(list.plugins[0].conf["bridge"], "isolab0");
        let range = &list.plugins[0].conf["ipam"]["ranges"][0][0];
        assert_eq!((range["subnet"].as_str(), range["gateway"].as_str()), (Some("172.18.0.0/24"), Some("172.18.0.1")));
    }

    #[test]
    fn a_single_plugin_is_upconverted_to_a_list() {
        let list =
            parse(r#"{"cniVersion":"0.4.0","name":"pt","type":"ptp","ipam":{"type":"host-local"}}"#, "f").unwrap();
        assert_eq!((list.name.as_str(), list.cni_version.as_str(), list.plugins.len()), ("pt", "0.4.0", 1));
        assert_eq!(list.plugins[0].conf["name"], "pt");
    }

    #[test]
    fn versions_follow_libcni() {
        let v = |text: &str| parse(text, "f").map(|l| l.cni_version);
        assert_eq!(
            v(r#"{"cniVersions":["0.3.1","1.0.0","9.9.9"],"name":"n","plugins":[{"type":"x"}]}"#).unwrap(),
            "1.0.0"
        );
        let e = format!("{:#}", v(r#"{"cniVersion":"0.2.0","name":"n","plugins":[{"type":"x"}]}"#).unwrap_err());
        assert!(e.contains("CNI error 1 (incompatible CNI version)"), "{e}");
        assert!(has_check("1.0.0") && has_check("0.4.0") && !has_check("0.3.1"));
    }

    #[test]
    fn malformed_configurations_are_refused_with_a_cni_code() {
        for (text, want) in [
            ("{\"name\": ", "CNI error 6 (failed to decode content)"),
            ("[1]", "not a JSON object"),
            (r#"{"cniVersion":"1.0.0","plugins":[{"type":"x"}]}"#, "no \"name\""),
            (r#"{"cniVersion":"1.0.0","name":"n","plugins":[]}"#, "no plugins in list"),
            (r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"ipam":{}}]}"#, "plugin 1 has no \"type\""),
            (r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"../x"}]}"#, "invalid \"type\""),
            (r#"{"cniVersion":"1.0.0","name":"a b","plugins":[{"type":"x"}]}"#, "invalid network name"),
            (r#"{"name":"n","plugins":[{"type":"x"}]}"#, "no \"cniVersion\""),
        ] {
            let e = format!("{:#}", parse(text, "f.conflist").unwrap_err());
            assert!(e.starts_with("f.conflist: CNI error") && e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn error_codes_have_words() {
        assert_eq!(error_meaning(7), "invalid network config");
        assert_eq!(error_meaning(999), "plugin-specific error");
    }
}
