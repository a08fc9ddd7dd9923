//! The CNI runtime: run a network configuration list's plugins as the specification says.
//! See the CNI specification 1.0 (SPEC.md) and libcni/api.go, whose behaviour this follows.
//!
//! Rules that bite:
//! - Each plugin is a program: the command and the container in CNI_* variables, its own
//!   configuration on stdin with the list's `name` and `cniVersion` injected, the result (or an
//!   error object `{code, msg, details}` and a non-zero exit) on stdout.
//! - ADD runs the plugins in order, each getting the previous one's result as `prevResult`; the
//!   last result is the attachment's. DEL runs them in reverse, with the cached ADD result as
//!   prevResult (0.4.0 and later). CHECK runs them in order with the cached result.
//! - Capabilities: a runtimeConfig key goes only to the plugins that declare it in their
//!   `capabilities` (libcni `injectRuntimeConfig`).
//! - When ADD fails halfway, DEL every plugin that ran (the failed one too: it may have done
//!   part of its work; plugins must accept a DEL of what they did not make) so nothing stays.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};

use serde_json::{json, Map, Value};

use crate::conf::{self, NetworkList, Plugin};
use isolab_core::trace::{self, Step};

/// The CNI operations netexec performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Del,
    Check,
    Version,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Add => "ADD",
            Op::Del => "DEL",
            Op::Check => "CHECK",
            Op::Version => "VERSION",
        }
    }
}

/// The runtime's side of a call, libcni's RuntimeConf: who, where, and the capability arguments.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub container_id: String,
    /// CNI_NETNS; empty when the namespace is gone (DEL only).
    pub netns: String,
    pub ifname: String,
    pub cni_args: Vec<(String, String)>,
    pub capability_args: Map<String, Value>,
    pub cni_path: Vec<PathBuf>,
}

/// A list whose plugins were all found.
pub struct Resolved<'a> {
    pub list: &'a NetworkList,
    pub paths: Vec<PathBuf>,
}

/// Find every plugin's binary before anything is created.
pub fn resolve<'a>(list: &'a NetworkList, cni_path: &[PathBuf]) -> anyhow::Result<Resolved<'a>> {
    let mut paths = Vec::new();
    for (i, p) in list.plugins.iter().enumerate() {
        match conf::find_program(&p.kind, cni_path) {
            Some(path) => paths.push(path),
            None => anyhow::bail!(
                "plugin {:?} (plugin {} of network {} in {}) is not in CNI_PATH {}: is it installed? (Debian: containernetworking-plugins)",
                p.kind,
                i + 1,
                list.name,
                list.origin,
                cni_path.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":")
            ),
        }
    }
    Ok(Resolved { list, paths })
}

/// A plugin's configuration as sent on stdin (libcni `buildOneConfig`).
pub fn config_for(list: &NetworkList, plugin: &Plugin, prev: Option<&Value>, rt: &Runtime) -> Value {
    let mut conf = plugin.conf.clone();
    conf.insert("name".into(), json!(list.name));
    conf.insert("cniVersion".into(), json!(list.cni_version));
    if let Some(prev) = prev {
        conf.insert("prevResult".into(), prev.clone());
    }
    let runtime: Map<String, Value> = rt
        .capability_args
        .iter()
        .filter(|(cap, _)| plugin.has_capability(cap))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !runtime.is_empty() {
        conf.insert("runtimeConfig".into(), Value::Object(runtime));
    }
    Value::Object(conf)
}

/// A plugin that did not do what it was asked.
#[derive(Debug)]
pub struct PluginError {
    pub plugin: String,
    pub op: Op,
    pub code: Option<u64>,
    pub msg: String,
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(
                f,
                "plugin {} {} failed: CNI error {code} ({}): {}",
                self.plugin,
                self.op.as_str(),
                conf::error_meaning(code),
                self.msg
            ),
            None => write!(f, "plugin {} {} failed: {}", self.plugin, self.op.as_str(), self.msg),
        }
    }
}

impl std::error::Error for PluginError {}

/// Run one plugin: CNI_* in its environment, `stdin` on its stdin; its stdout parsed.
fn call(plugin: &str, path: &PathBuf, op: Op, stdin: &Value, rt: &Runtime) -> Result<Option<Value>, PluginError> {
    let fail = |code: Option<u64>, msg: String| PluginError { plugin: plugin.to_string(), op, code, msg };
    let cni_path = rt.cni_path.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":");
    let env: Vec<(String, String)> = if op == Op::Version {
        vec![("CNI_COMMAND".into(), "VERSION".into()), ("CNI_PATH".into(), cni_path)]
    } else {
        let args = rt.cni_args.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(";");
        vec![
            ("CNI_COMMAND".into(), op.as_str().into()),
            ("CNI_CONTAINERID".into(), rt.container_id.clone()),
            ("CNI_NETNS".into(), rt.netns.clone()),
            ("CNI_IFNAME".into(), rt.ifname.clone()),
            ("CNI_ARGS".into(), args),
            ("CNI_PATH".into(), cni_path),
        ]
    };
    trace::explain(&Step::CniPlugin { plugin: path.clone(), env: env.clone() }, None);
    let text = stdin.to_string();
    trace::note(format!("stdin: {text}"));
    let mut cmd = Process::new(path);
    // A CNI_* variable of our caller's must not reach the plugin beside ours (libcni does the same).
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CNI_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| fail(None, format!("cannot run {}: {}", path.display(), plain(&e))))?;
    if let Some(mut pipe) = child.stdin.take() {
        // Plugins read all of stdin before anything else; a plugin that exits early gets EPIPE here.
        let _ = pipe.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| fail(None, format!("waiting for it: {}", plain(&e))))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let parsed: Option<Value> = serde_json::from_str(stdout.trim()).ok();
    if !stdout.trim().is_empty() {
        // Plugins indent their JSON: one line per trace entry (the same JSON, compacted).
        trace::note(format!("stdout: {}", parsed.as_ref().map_or_else(|| stdout.trim().to_string(), Value::to_string)));
    }
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        trace::note(format!("stderr: {line}"));
    }
    if !out.status.success() {
        let status = out.status.code().map_or_else(|| "killed by a signal".to_string(), |c| format!("exit status {c}"));
        if let Some(obj) = parsed.as_ref().filter(|v| v.get("code").is_some() || v.get("msg").is_some()) {
            let text = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("").trim().to_string();
            let (msg, details) = (text("msg"), text("details"));
            let msg = if details.is_empty() || msg.contains(&details) { msg } else { format!("{msg}: {details}") };
            return Err(fail(obj.get("code").and_then(Value::as_u64), msg));
        }
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        return Err(fail(None, if last.is_empty() { status } else { format!("{status}: {last}") }));
    }
    match op {
        Op::Add | Op::Version => match parsed {
            Some(v @ Value::Object(_)) => Ok(Some(v)),
            _ => Err(fail(None, format!("it printed no result object: {:?}", stdout.trim()))),
        },
        Op::Del | Op::Check => Ok(None),
    }
}

fn plain(e: &std::io::Error) -> String {
    isolab_core::process::plain_io(e)
}

/// ADD failed at `failed`; `undone` names the plugins DELeted again, `left` what DEL could not undo.
#[derive(Debug)]
pub struct AddFailure {
    pub error: PluginError,
    pub undone: Vec<String>,
    pub left: Vec<PluginError>,
}

impl std::fmt::Display for AddFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)?;
        if !self.undone.is_empty() {
            write!(f, " (undone with DEL: {})", self.undone.join(", "))?;
        }
        for e in &self.left {
            write!(f, "; and {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for AddFailure {}

/// ADD the whole list; the last plugin's result is the attachment's. On failure, everything
/// that ran is DELeted again, in reverse.
pub fn add(net: &Resolved, rt: &Runtime) -> Result<Value, AddFailure> {
    let list = net.list;
    let mut result: Option<Value> = None;
    for (i, (plugin, path)) in list.plugins.iter().zip(&net.paths).enumerate() {
        let stdin = config_for(list, plugin, result.as_ref(), rt);
        match call(&plugin.kind, path, Op::Add, &stdin, rt) {
            Ok(r) => result = r,
            Err(error) => {
                let mut undone = Vec::new();
                let left = del_range(net, rt, result.as_ref(), i + 1, &mut undone);
                return Err(AddFailure { error, undone, left });
            }
        }
    }
    Ok(result.unwrap_or_else(|| json!({"cniVersion": list.cni_version})))
}

/// DEL plugins `0..end` in reverse; returns what failed (the others still run).
fn del_range(
    net: &Resolved,
    rt: &Runtime,
    prev: Option<&Value>,
    end: usize,
    undone: &mut Vec<String>,
) -> Vec<PluginError> {
    let list = net.list;
    let prev = prev.filter(|_| conf::has_check(&list.cni_version));
    let mut failed = Vec::new();
    for (plugin, path) in list.plugins.iter().zip(&net.paths).take(end).rev() {
        let stdin = config_for(list, plugin, prev, rt);
        match call(&plugin.kind, path, Op::Del, &stdin, rt) {
            Ok(_) => undone.push(plugin.kind.clone()),
            Err(e) => failed.push(e),
        }
    }
    failed
}

/// DEL the whole list in reverse with the cached ADD result. Every plugin is asked even when
/// an earlier one fails (libcni stops at the first; going on leaves less behind); the first
/// failure is returned.
pub fn del(net: &Resolved, rt: &Runtime, cached: Option<&Value>) -> Result<(), PluginError> {
    let mut undone = Vec::new();
    match del_range(net, rt, cached, net.list.plugins.len(), &mut undone).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// CHECK the list in order with the cached result (0.4.0 and later; `disableCheck` skips it).
pub fn check(net: &Resolved, rt: &Runtime, cached: Option<&Value>) -> anyhow::Result<()> {
    let list = net.list;
    if !conf::has_check(&list.cni_version) {
        anyhow::bail!("network {}: version {} has no CHECK (0.4.0 and later)", list.name, list.cni_version);
    }
    if list.disable_check {
        trace::note(format!("network {} sets disableCheck: no CHECK", list.name));
        return Ok(());
    }
    for (plugin, path) in list.plugins.iter().zip(&net.paths) {
        call(&plugin.kind, path, Op::Check, &config_for(list, plugin, cached, rt), rt)?;
    }
    Ok(())
}

/// VERSION of every plugin: each must support the list's version.
pub fn versions(net: &Resolved, rt: &Runtime) -> anyhow::Result<()> {
    let list = net.list;
    for (plugin, path) in list.plugins.iter().zip(&net.paths) {
        let reply =
            call(&plugin.kind, path, Op::Version, &json!({"cniVersion": list.cni_version}), rt)?.unwrap_or_default();
        let supported: Vec<&str> = reply
            .get("supportedVersions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !supported.contains(&list.cni_version.as_str()) {
            return Err(PluginError {
                plugin: plugin.kind.clone(),
                op: Op::Version,
                code: Some(1),
                msg: format!(
                    "network {} is version {}, the plugin supports {}",
                    list.name,
                    list.cni_version,
                    supported.join(", ")
                ),
            }
            .into());
        }
    }
    Ok(())
}

/// The container interface's addresses in a result (`ips` of an interface in the namespace).
pub fn addresses(result: &Value) -> Vec<String> {
    let ifaces = result.get("interfaces").and_then(Value::as_array).cloned().unwrap_or_default();
    let in_sandbox = |i: &Value| -> bool {
        let idx = i.get("interface").and_then(Value::as_u64);
        idx.and_then(|n| ifaces.get(n as usize)).is_none_or(|iface| iface.get("sandbox").is_some())
    };
    result
        .get("ips")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|ip| in_sandbox(ip))
        .filter_map(|ip| ip.get("address").and_then(Value::as_str).map(String::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(caps: Value) -> Runtime {
        Runtime {
            container_id: "c1".into(),
            netns: "/run/netns/c1".into(),
            ifname: "eth0".into(),
            cni_args: vec![],
            capability_args: caps.as_object().unwrap().clone(),
            cni_path: vec!["/usr/lib/cni".into()],
        }
    }

    #[test]
    fn configs_get_name_version_prev_result_and_only_declared_capabilities() {
        let list = conf::parse(conf::DEFAULT_CONFLIST, "default").unwrap();
        let caps = json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}], "ips": ["172.18.0.9"]});
        let rt = rt(caps);
        let bridge = config_for(&list, &list.plugins[0], None, &rt);
        assert_eq!((bridge["name"].as_str(), bridge["cniVersion"].as_str()), (Some("isolab"), Some("1.0.0")));
        assert!(bridge.get("prevResult").is_none());
        assert_eq!(bridge["runtimeConfig"], json!({"ips": ["172.18.0.9"]}));
        let prev = json!({"cniVersion": "1.0.0", "ips": []});
        let portmap = config_for(&list, &list.plugins[1], Some(&prev), &rt);
        assert_eq!(portmap["prevResult"], prev);
        assert_eq!(portmap["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
        assert!(portmap["runtimeConfig"].get("ips").is_none());
        let firewall = config_for(&list, &list.plugins[2], Some(&prev), &rt);
        assert!(firewall.get("runtimeConfig").is_none());
    }

    #[test]
    fn addresses_are_those_of_the_sandbox_interface() {
        let r = json!({
            "interfaces": [{"name": "isolab0"}, {"name": "veth1"}, {"name": "eth0", "sandbox": "/run/netns/x"}],
            "ips": [{"address": "172.18.0.5/24", "gateway": "172.18.0.1", "interface": 2}]
        });
        assert_eq!(addresses(&r), ["172.18.0.5/24"]);
        let r = json!({"interfaces": [{"name": "isolab0"}], "ips": [{"address": "172.18.0.1/24", "interface": 0}]});
        assert!(addresses(&r).is_empty());
    }

    #[test]
    fn plugin_errors_read_as_one_line_with_the_code() {
        let e = PluginError { plugin: "bridge".into(), op: Op::Add, code: Some(7), msg: "bad".into() };
        assert_eq!(e.to_string(), "plugin bridge ADD failed: CNI error 7 (invalid network config): bad");
        let f = AddFailure { error: e, undone: vec!["portmap".into(), "bridge".into()], left: vec![] };
        assert!(f.to_string().ends_with("(undone with DEL: portmap, bridge)"));
    }
}
