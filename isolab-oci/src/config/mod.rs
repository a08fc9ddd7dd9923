//! The bundle's config.json (OCI runtime spec, config.md and config-linux.md), read into typed
//! values and checked before anything is created. Every refusal names the field, the way a
//! user finds it in the file: `linux.namespaces[2].type: unknown namespace type "foo"`.
//!
//! Fields the spec marks optional stay optional; a field the runtime cannot honour is never
//! dropped here: it is kept so that [`crate::compose`] can map it, warn or refuse.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};
use isolab_core::idmap::Extent;
use isolab_core::ns;
use serde_json::{Map, Value};

mod resources;
use resources::resources;
pub use resources::{DeviceRule, Resources};

/// The parts of config.json the runtime reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub oci_version: String,
    /// `root.path`, resolved against the bundle directory.
    pub rootfs: PathBuf,
    pub readonly: bool,
    pub process: Option<Process>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub mounts: Vec<Mount>,
    pub hooks: Hooks,
    pub annotations: BTreeMap<String, String>,
    pub linux: Linux,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Process {
    pub terminal: bool,
    pub uid: u32,
    pub gid: u32,
    pub umask: Option<u32>,
    pub additional_gids: Vec<u32>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: String,
    pub capabilities: Option<Capabilities>,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
}

/// The five capability sets, names as given (`CAP_CHOWN`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub bounding: Vec<String>,
    pub effective: Vec<String>,
    pub permitted: Vec<String>,
    pub inheritable: Vec<String>,
    pub ambient: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rlimit {
    pub kind: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mount {
    pub destination: String,
    pub kind: String,
    pub source: String,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub path: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub timeout: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    pub prestart: Vec<Hook>,
    pub create_runtime: Vec<Hook>,
    pub create_container: Vec<Hook>,
    pub start_container: Vec<Hook>,
    pub poststart: Vec<Hook>,
    pub poststop: Vec<Hook>,
}

/// One entry of `linux.namespaces`: a new namespace, or one to join (`path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub kind: &'static ns::Kind,
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Linux {
    pub namespaces: Vec<Namespace>,
    pub uid_mappings: Vec<Extent>,
    pub gid_mappings: Vec<Extent>,
    pub resources: Resources,
    pub cgroups_path: Option<String>,
    pub sysctl: BTreeMap<String, String>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub devices: Vec<Device>,
    /// Kept as JSON: it is handed on to nsexec's filter as a file.
    pub seccomp: Option<Value>,
    pub rootfs_propagation: Option<String>,
    pub mount_label: Option<String>,
    /// Fields present that this runtime does not implement at all (`linux.intelRdt`, ...).
    pub unsupported: Vec<String>,
}

/// `linux.devices`: a node to create in the container's /dev.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub path: String,
    pub kind: String,
    pub major: i64,
    pub minor: i64,
}

/// Read and check `BUNDLE/config.json`.
pub fn load(bundle: &Path) -> anyhow::Result<Config> {
    let file = bundle.join("config.json");
    let text = std::fs::read_to_string(&file).map_err(|e| {
        anyhow!("cannot read {}: {}", file.display(), isolab_core::process::plain_io(&e))
            .context("invalid bundle")
            .context(format!("--bundle {}", bundle.display()))
    })?;
    parse(&text, bundle).map_err(|e| anyhow!("{}: {e:#}", file.display()))
}

/// Parse config.json's text; relative paths are resolved against `bundle`.
pub fn parse(text: &str, bundle: &Path) -> anyhow::Result<Config> {
    let value: Value = serde_json::from_str(text).map_err(|e| anyhow!("not valid JSON: {e}"))?;
    let top = obj(&value, "(top level)")?;
    let oci_version = string(top, "ociVersion", "ociVersion")?.ok_or_else(|| anyhow!("ociVersion: missing"))?;
    if !oci_version.starts_with("1.") {
        bail!("ociVersion: {oci_version:?} is not a 1.x version of the runtime spec");
    }
    let root = top.get("root").ok_or_else(|| anyhow!("root: missing (root.path names the container's root)"))?;
    let root = obj(root, "root")?;
    let root_path = string(root, "path", "root.path")?.ok_or_else(|| anyhow!("root.path: missing"))?;
    let rootfs = bundle.join(&root_path);
    if !rootfs.is_dir() {
        bail!("root.path: {} is not a directory", rootfs.display());
    }
    let mut cfg = Config {
        oci_version,
        rootfs,
        readonly: boolean(root, "readonly", "root.readonly")?,
        hostname: string(top, "hostname", "hostname")?,
        domainname: string(top, "domainname", "domainname")?,
        ..Config::default()
    };
    if let Some(p) = top.get("process") {
        cfg.process = Some(process(p, "process")?);
    }
    cfg.mounts =
        array(top, "mounts", "mounts")?.iter().enumerate().map(|(i, m)| mount(m, i)).collect::<Result<_, _>>()?;
    if let Some(h) = top.get("hooks") {
        cfg.hooks = hooks(h)?;
    }
    cfg.annotations = string_map(top, "annotations", "annotations")?;
    if let Some(l) = top.get("linux") {
        cfg.linux = linux(l)?;
    }
    for name in ["hostname", "domainname"] {
        let set = if name == "hostname" { &cfg.hostname } else { &cfg.domainname };
        if set.as_deref().is_some_and(|h| !h.is_empty())
            && !cfg.linux.namespaces.iter().any(|n| n.kind.proc_name == "uts")
        {
            bail!("{name}: setting it needs a new uts namespace in linux.namespaces");
        }
    }
    let has_user_ns = cfg.linux.namespaces.iter().any(|n| n.kind.proc_name == "user");
    if (!cfg.linux.uid_mappings.is_empty() || !cfg.linux.gid_mappings.is_empty()) && !has_user_ns {
        bail!("linux.uidMappings: mappings need a user namespace in linux.namespaces");
    }
    Ok(cfg)
}

/// `exec --process FILE`: a process object alone.
pub fn parse_process(text: &str) -> anyhow::Result<Process> {
    let value: Value = serde_json::from_str(text).map_err(|e| anyhow!("not valid JSON: {e}"))?;
    process(&value, "process")
}

fn obj<'a>(v: &'a Value, at: &str) -> anyhow::Result<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| anyhow!("{at}: expected an object, found {}", kind_of(v)))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string(m: &Map<String, Value>, key: &str, at: &str) -> anyhow::Result<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => bail!("{at}: expected a string, found {}", kind_of(v)),
    }
}

fn boolean(m: &Map<String, Value>, key: &str, at: &str) -> anyhow::Result<bool> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => bail!("{at}: expected true or false, found {}", kind_of(v)),
    }
}

fn int(m: &Map<String, Value>, key: &str, at: &str) -> anyhow::Result<Option<i64>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            // u64 values past i64::MAX mean "unlimited" to some engines (memory limits): keep -1.
            n.as_i64()
                .or_else(|| n.as_u64().map(|_| -1))
                .map(Some)
                .ok_or_else(|| anyhow!("{at}: expected an integer, found {n}"))
        }
        Some(v) => bail!("{at}: expected an integer, found {}", kind_of(v)),
    }
}

fn uint(m: &Map<String, Value>, key: &str, at: &str) -> anyhow::Result<Option<u64>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            n.as_u64().map(Some).ok_or_else(|| anyhow!("{at}: expected a non-negative integer, found {n}"))
        }
        Some(v) => bail!("{at}: expected a non-negative integer, found {}", kind_of(v)),
    }
}

fn u32_of(m: &Map<String, Value>, key: &str, at: &str) -> anyhow::Result<Option<u32>> {
    uint(m, key, at)?.map(|n| u32::try_from(n).map_err(|_| anyhow!("{at}: {n} is past 2^32-1"))).transpose()
}

fn array<'a>(m: &'a Map<String, Value>, key: &str, at: &str) -> anyhow::Result<&'a [Value]> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(v) => bail!("{at}: expected an array, found {}", kind_of(v)),
    }
}

fn strings(m: &Map<String, Value>, key: &str, at: &str) -> anyhow::Result<Vec<String>> {
    array(m, key, at)?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str().map(str::to_string).ok_or_else(|| anyhow!("{at}[{i}]: expected a string, found {}", kind_of(v)))
        })
        .collect()
}

fn string_map(m: &Map<String, Value>, key: &str, at: &str) -> anyhow::Result<BTreeMap<String, String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => bail!("{at}.{k}: expected a string, found {}", kind_of(v)),
            })
            .collect(),
        Some(v) => bail!("{at}: expected an object, found {}", kind_of(v)),
    }
}

fn process(v: &Value, at: &str) -> anyhow::Result<Process> {
    let p = obj(v, at)?;
    let args = strings(p, "args", &format!("{at}.args"))?;
    if args.is_empty() {
        bail!("{at}.args: at least one argument (the program) is required");
    }
    let cwd = string(p, "cwd", &format!("{at}.cwd"))?.unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        bail!("{at}.cwd: {cwd:?} must be an absolute path");
    }
    let env = strings(p, "env", &format!("{at}.env"))?
        .into_iter()
        .enumerate()
        .map(|(i, kv)| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("{at}.env[{i}]: {kv:?} is not NAME=VALUE"),
        })
        .collect::<anyhow::Result<_>>()?;
    let user = match p.get("user") {
        Some(u) => obj(u, &format!("{at}.user"))?.clone(),
        None => Map::new(),
    };
    if let Some(name) = string(&user, "username", &format!("{at}.user.username"))? {
        bail!("{at}.user.username: {name:?}: only numeric uid and gid are supported (Windows field)");
    }
    let additional_gids = array(&user, "additionalGids", &format!("{at}.user.additionalGids"))?
        .iter()
        .enumerate()
        .map(|(i, g)| {
            g.as_u64()
                .and_then(|g| u32::try_from(g).ok())
                .ok_or_else(|| anyhow!("{at}.user.additionalGids[{i}]: expected a gid"))
        })
        .collect::<anyhow::Result<_>>()?;
    let capabilities = match p.get("capabilities") {
        None | Some(Value::Null) => None,
        Some(c) => {
            let c = obj(c, &format!("{at}.capabilities"))?;
            let set = |name: &str| -> anyhow::Result<Vec<String>> {
                let field = format!("{at}.capabilities.{name}");
                let caps = strings(c, name, &field)?;
                for (i, cap) in caps.iter().enumerate() {
                    isolab_core::creds::parse_capability(cap).map_err(|e| anyhow!("{field}[{i}]: {e:#}"))?;
                }
                Ok(caps)
            };
            Some(Capabilities {
                bounding: set("bounding")?,
                effective: set("effective")?,
                permitted: set("permitted")?,
                inheritable: set("inheritable")?,
                ambient: set("ambient")?,
            })
        }
    };
    let rlimits = array(p, "rlimits", &format!("{at}.rlimits"))?
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let field = format!("{at}.rlimits[{i}]");
            let r = obj(r, &field)?;
            let kind = string(r, "type", &format!("{field}.type"))?.ok_or_else(|| anyhow!("{field}.type: missing"))?;
            if isolab_core::process::handoff::rlimit_by_name(&kind).is_none() {
                bail!("{field}.type: unknown rlimit {kind:?}");
            }
            let soft = uint(r, "soft", &format!("{field}.soft"))?.ok_or_else(|| anyhow!("{field}.soft: missing"))?;
            let hard = uint(r, "hard", &format!("{field}.hard"))?.ok_or_else(|| anyhow!("{field}.hard: missing"))?;
            if soft > hard {
                bail!("{field}: soft limit {soft} is above the hard limit {hard}");
            }
            Ok(Rlimit { kind, soft, hard })
        })
        .collect::<anyhow::Result<_>>()?;
    let oom_score_adj = int(p, "oomScoreAdj", &format!("{at}.oomScoreAdj"))?
        .map(|n| {
            i32::try_from(n)
                .ok()
                .filter(|n| (-1000..=1000).contains(n))
                .ok_or_else(|| anyhow!("{at}.oomScoreAdj: {n} is outside -1000..1000"))
        })
        .transpose()?;
    Ok(Process {
        terminal: boolean(p, "terminal", &format!("{at}.terminal"))?,
        uid: u32_of(&user, "uid", &format!("{at}.user.uid"))?.unwrap_or(0),
        gid: u32_of(&user, "gid", &format!("{at}.user.gid"))?.unwrap_or(0),
        umask: u32_of(&user, "umask", &format!("{at}.user.umask"))?,
        additional_gids,
        args,
        env,
        cwd,
        capabilities,
        rlimits,
        no_new_privileges: boolean(p, "noNewPrivileges", &format!("{at}.noNewPrivileges"))?,
        oom_score_adj,
        apparmor_profile: string(p, "apparmorProfile", &format!("{at}.apparmorProfile"))?.filter(|s| !s.is_empty()),
        selinux_label: string(p, "selinuxLabel", &format!("{at}.selinuxLabel"))?.filter(|s| !s.is_empty()),
    })
}

fn mount(v: &Value, i: usize) -> anyhow::Result<Mount> {
    let at = format!("mounts[{i}]");
    let m = obj(v, &at)?;
    let destination =
        string(m, "destination", &format!("{at}.destination"))?.ok_or_else(|| anyhow!("{at}.destination: missing"))?;
    if !destination.starts_with('/') || destination.split('/').any(|c| c == "..") {
        bail!("{at}.destination: {destination:?} must be an absolute path without '..'");
    }
    let options = strings(m, "options", &format!("{at}.options"))?;
    let mut kind = string(m, "type", &format!("{at}.type"))?.unwrap_or_default();
    if kind.is_empty() && options.iter().any(|o| o == "bind" || o == "rbind") {
        kind = "bind".into();
    }
    if kind.is_empty() {
        bail!("{at}.type: missing (and no bind option)");
    }
    Ok(Mount { destination, kind, source: string(m, "source", &format!("{at}.source"))?.unwrap_or_default(), options })
}

fn hook_list(h: &Map<String, Value>, key: &str) -> anyhow::Result<Vec<Hook>> {
    array(h, key, &format!("hooks.{key}"))?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let at = format!("hooks.{key}[{i}]");
            let o = obj(v, &at)?;
            let path = string(o, "path", &format!("{at}.path"))?.ok_or_else(|| anyhow!("{at}.path: missing"))?;
            if !path.starts_with('/') {
                bail!("{at}.path: {path:?} must be absolute");
            }
            let timeout = int(o, "timeout", &format!("{at}.timeout"))?
                .map(|t| {
                    u64::try_from(t)
                        .ok()
                        .filter(|&t| t > 0)
                        .ok_or_else(|| anyhow!("{at}.timeout: must be greater than zero"))
                })
                .transpose()?;
            Ok(Hook {
                path: path.into(),
                args: strings(o, "args", &format!("{at}.args"))?,
                env: strings(o, "env", &format!("{at}.env"))?,
                timeout,
            })
        })
        .collect()
}

fn hooks(v: &Value) -> anyhow::Result<Hooks> {
    let h = obj(v, "hooks")?;
    Ok(Hooks {
        prestart: hook_list(h, "prestart")?,
        create_runtime: hook_list(h, "createRuntime")?,
        create_container: hook_list(h, "createContainer")?,
        start_container: hook_list(h, "startContainer")?,
        poststart: hook_list(h, "poststart")?,
        poststop: hook_list(h, "poststop")?,
    })
}

/// The spec's namespace type names (config-linux.md) and core's kinds.
pub fn namespace_kind(spec_name: &str) -> Option<&'static ns::Kind> {
    let proc_name = match spec_name {
        "pid" => "pid",
        "network" => "net",
        "mount" => "mnt",
        "ipc" => "ipc",
        "uts" => "uts",
        "user" => "user",
        "cgroup" => "cgroup",
        "time" => "time",
        _ => return None,
    };
    ns::kind_by_name(proc_name)
}

fn mappings(l: &Map<String, Value>, key: &str) -> anyhow::Result<Vec<Extent>> {
    array(l, key, &format!("linux.{key}"))?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let at = format!("linux.{key}[{i}]");
            let m = obj(v, &at)?;
            let get = |k: &str| u32_of(m, k, &format!("{at}.{k}"))?.ok_or_else(|| anyhow!("{at}.{k}: missing"));
            let e = Extent { inside: get("containerID")?, outside: get("hostID")?, count: get("size")? };
            if e.count == 0 {
                bail!("{at}.size: must be at least 1");
            }
            Ok(e)
        })
        .collect()
}

fn linux(v: &Value) -> anyhow::Result<Linux> {
    let l = obj(v, "linux")?;
    let mut out = Linux::default();
    for (i, n) in array(l, "namespaces", "linux.namespaces")?.iter().enumerate() {
        let at = format!("linux.namespaces[{i}]");
        let n = obj(n, &at)?;
        let name = string(n, "type", &format!("{at}.type"))?.ok_or_else(|| anyhow!("{at}.type: missing"))?;
        let kind = namespace_kind(&name).ok_or_else(|| {
            anyhow!("{at}.type: unknown namespace type {name:?} (pid, network, mount, ipc, uts, user, cgroup, time)")
        })?;
        if out.namespaces.iter().any(|x: &Namespace| x.kind == kind) {
            bail!("{at}.type: namespace {name:?} appears twice");
        }
        let path = string(n, "path", &format!("{at}.path"))?.filter(|p| !p.is_empty()).map(PathBuf::from);
        if let Some(p) = &path {
            if !p.is_absolute() {
                bail!("{at}.path: {} must be absolute", p.display());
            }
            if !p.exists() {
                bail!("{at}.path: {} does not exist", p.display());
            }
        }
        out.namespaces.push(Namespace { kind, path });
    }
    out.uid_mappings = mappings(l, "uidMappings")?;
    out.gid_mappings = mappings(l, "gidMappings")?;
    for (which, m) in [("uidMappings", &out.uid_mappings), ("gidMappings", &out.gid_mappings)]
        .into_iter()
        .filter(|(_, m)| !m.is_empty())
    {
        let w = if which == "uidMappings" { isolab_core::idmap::Which::Uid } else { isolab_core::idmap::Which::Gid };
        isolab_core::idmap::validate(w, m).with_context(|| format!("linux.{which}"))?;
    }
    if let Some(r) = l.get("resources") {
        out.resources = resources(r)?;
    }
    out.cgroups_path = string(l, "cgroupsPath", "linux.cgroupsPath")?.filter(|p| !p.is_empty());
    if let Some(p) = &out.cgroups_path {
        if p.contains(':') {
            bail!("linux.cgroupsPath: {p:?} is a systemd slice:prefix:name path; isolab-oci manages cgroupfs paths only (run the engine with cgroup_manager = \"cgroupfs\")");
        }
        isolab_core::cgroup::validate_parent(p).context("linux.cgroupsPath")?;
    }
    out.sysctl = string_map(l, "sysctl", "linux.sysctl")?;
    for k in out.sysctl.keys() {
        if k.contains("..") || k.starts_with(['.', '/']) || k.is_empty() {
            bail!("linux.sysctl: invalid key {k:?}");
        }
    }
    out.masked_paths = strings(l, "maskedPaths", "linux.maskedPaths")?;
    out.readonly_paths = strings(l, "readonlyPaths", "linux.readonlyPaths")?;
    for (i, d) in array(l, "devices", "linux.devices")?.iter().enumerate() {
        let at = format!("linux.devices[{i}]");
        let d = obj(d, &at)?;
        let path = string(d, "path", &format!("{at}.path"))?.ok_or_else(|| anyhow!("{at}.path: missing"))?;
        let kind = string(d, "type", &format!("{at}.type"))?.ok_or_else(|| anyhow!("{at}.type: missing"))?;
        if !["c", "b", "u", "p"].contains(&kind.as_str()) {
            bail!("{at}.type: {kind:?} is not c, b, u or p");
        }
        let major = int(d, "major", &format!("{at}.major"))?.unwrap_or(0);
        let minor = int(d, "minor", &format!("{at}.minor"))?.unwrap_or(0);
        out.devices.push(Device { path, kind, major, minor });
    }
    out.seccomp = l.get("seccomp").filter(|s| !s.is_null()).cloned();
    out.rootfs_propagation = string(l, "rootfsPropagation", "linux.rootfsPropagation")?.filter(|s| !s.is_empty());
    if let Some(p) = &out.rootfs_propagation {
        if !["private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable"]
            .contains(&p.as_str())
        {
            bail!("linux.rootfsPropagation: unknown propagation {p:?}");
        }
    }
    out.mount_label = string(l, "mountLabel", "linux.mountLabel")?.filter(|s| !s.is_empty());
    for key in ["intelRdt", "personality", "timeOffsets", "memoryPolicy", "netDevices"] {
        if l.get(key).is_some_and(|v| !v.is_null()) {
            out.unsupported.push(format!("linux.{key}"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundle that is always there and leaves nothing behind: `/`, with `tmp` as its root.
    fn bundle() -> PathBuf {
        PathBuf::from("/")
    }

    fn with(extra: &str) -> String {
        format!(r#"{{"ociVersion":"1.0.2","root":{{"path":"tmp"}},"process":{{"args":["sh"],"cwd":"/"}}{extra}}}"#)
    }

    fn err(extra: &str) -> String {
        format!("{:#}", parse(&with(extra), &bundle()).unwrap_err())
    }

    #[test]
    fn a_minimal_config_parses_with_defaults() {
        let c = parse(&with(""), &bundle()).unwrap();
        assert_eq!(c.rootfs, bundle().join("tmp"));
        let p = c.process.unwrap();
        assert_eq!((p.uid, p.gid, p.args.as_slice()), (0, 0, &["sh".to_string()][..]));
        assert!(c.linux.namespaces.is_empty());
    }

    #[test]
    fn namespaces_and_mappings() {
        let c = parse(
            &with(
                r#","linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/proc/self/ns/net"},{"type":"user"}],
                "uidMappings":[{"containerID":0,"hostID":100000,"size":65536}],"gidMappings":[{"containerID":0,"hostID":100000,"size":65536}]}"#,
            ),
            &bundle(),
        )
        .unwrap();
        assert_eq!(c.linux.namespaces[1].kind.proc_name, "net");
        assert_eq!(c.linux.namespaces[1].path, Some(PathBuf::from("/proc/self/ns/net")));
        assert_eq!(c.linux.uid_mappings, vec![Extent { inside: 0, outside: 100000, count: 65536 }]);
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (r#","linux":{"namespaces":[{"type":"foo"}]}"#, "linux.namespaces[0].type: unknown namespace type \"foo\""),
            (r#","linux":{"namespaces":[{"type":"pid"},{"type":"pid"}]}"#, "linux.namespaces[1].type"),
            (r#","linux":{"namespaces":[{"type":"network","path":"/nonexistent/ns"}]}"#, "linux.namespaces[0].path"),
            (
                r#","linux":{"namespaces":[{"type":"user"}],"uidMappings":[{"containerID":0,"hostID":1,"size":0}]}"#,
                "linux.uidMappings[0].size",
            ),
            (
                r#","linux":{"namespaces":[{"type":"user"}],"uidMappings":[{"containerID":0,"size":1}]}"#,
                "linux.uidMappings[0].hostID: missing",
            ),
            (r#","linux":{"uidMappings":[{"containerID":0,"hostID":1,"size":1}]}"#, "need a user namespace"),
            (r#","hostname":"h""#, "hostname: setting it needs a new uts namespace"),
            (r#","mounts":[{"destination":"rel","type":"tmpfs"}]"#, "mounts[0].destination"),
            (r#","linux":{"cgroupsPath":"machine.slice:libpod:x"}"#, "linux.cgroupsPath"),
            (
                r#","linux":{"resources":{"memory":{"limit":"big"}}}"#,
                "linux.resources.memory.limit: expected an integer",
            ),
            (
                r#","linux":{"resources":{"devices":[{"allow":true,"access":"rwx"}]}}"#,
                "linux.resources.devices[0].access",
            ),
            (r#","hooks":{"prestart":[{"path":"rel"}]}"#, "hooks.prestart[0].path"),
        ];
        for (extra, want) in cases {
            let e = err(extra);
            assert!(e.contains(want), "{extra}: {e}");
        }
        let p = |proc: &str| {
            format!(
                "{:#}",
                parse(&format!(r#"{{"ociVersion":"1.0.2","root":{{"path":"tmp"}},"process":{proc}}}"#), &bundle())
                    .unwrap_err()
            )
        };
        assert!(p(r#"{"args":[]}"#).contains("process.args"));
        assert!(p(r#"{"args":["sh"],"cwd":"rel"}"#).contains("process.cwd"));
        assert!(p(r#"{"args":["sh"],"env":["NOEQUALS"]}"#).contains("process.env[0]"));
        assert!(p(r#"{"args":["sh"],"capabilities":{"bounding":["CAP_FLY"]}}"#)
            .contains("process.capabilities.bounding[0]"));
        assert!(p(r#"{"args":["sh"],"rlimits":[{"type":"RLIMIT_BOGUS","soft":1,"hard":1}]}"#)
            .contains("process.rlimits[0].type"));
        assert!(p(r#"{"args":["sh"],"rlimits":[{"type":"RLIMIT_NOFILE","soft":2,"hard":1}]}"#)
            .contains("process.rlimits[0]"));
        assert!(p(r#"{"args":["sh"],"user":{"uid":-1}}"#).contains("process.user.uid"));
        assert!(format!("{:#}", parse("{", &bundle()).unwrap_err()).contains("not valid JSON"));
        assert!(format!("{:#}", parse(r#"{"ociVersion":"1.0.0"}"#, &bundle()).unwrap_err()).contains("root: missing"));
        assert!(format!("{:#}", parse(r#"{"ociVersion":"1.0.0","root":{"path":"nope"}}"#, &bundle()).unwrap_err())
            .contains("root.path"));
        assert!(format!("{:#}", parse(r#"{"ociVersion":"0.5","root":{"path":"tmp"}}"#, &bundle()).unwrap_err())
            .contains("ociVersion"));
    }

    #[test]
    fn resources_read_in_spec_units() {
        let c = parse(
            &with(
                r#","linux":{"resources":{"memory":{"limit":67108864,"swap":-1},"cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0"},
                "pids":{"limit":64},"blockIO":{"weight":500,"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}]},
                "devices":[{"allow":false,"access":"rwm"}],"network":{"classID":1}}}"#,
            ),
            &bundle(),
        )
        .unwrap();
        let r = c.linux.resources;
        assert_eq!(
            (r.memory_limit, r.memory_swap, r.cpu_shares, r.pids_limit),
            (Some(67108864), Some(-1), Some(512), Some(64))
        );
        assert_eq!(r.blkio_throttle, vec![("read_bps", 8, 0, 1048576)]);
        assert_eq!(r.devices[0].kind, "a");
        assert_eq!(r.unsupported, vec!["linux.resources.network".to_string()]);
    }
}
