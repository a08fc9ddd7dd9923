//! A seccomp profile in Docker's JSON format (moby's profiles/seccomp/default.json), which also
//! reads the OCI runtime spec's `linux.seccomp` object (its subset without includes/excludes).
//!
//! Parsing is strict where Docker is lax: an unknown key is refused with its path
//! (`syscalls[3].acton`), since a typo in a security policy should not silently widen it.
//! Every refusal names the field, so `nsexec --security-opt seccomp=FILE` can say what is wrong
//! before anything is created.

use anyhow::{anyhow, bail};
use serde_json::{Map, Value};

/// What a matching rule (or the default) does: seccomp(2)'s SECCOMP_RET_* actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Allow,
    /// Fail with this errno (Docker's default: EPERM).
    Errno(u16),
    KillThread,
    KillProcess,
    Trap,
    /// Notify a ptrace tracer with this value (or fail with ENOSYS without one).
    Trace(u16),
    Log,
}

/// The largest errno a filter can return (SECCOMP_RET_DATA holds 16 bits; the kernel caps errno at 4095).
const MAX_ERRNO: u64 = 4095;

impl Action {
    /// The 32-bit value a filter returns (SECCOMP_RET_ACTION_FULL | SECCOMP_RET_DATA).
    pub fn ret(self) -> u32 {
        match self {
            Action::Allow => 0x7fff_0000,
            Action::Errno(e) => 0x0005_0000 | u32::from(e),
            Action::KillThread => 0,
            Action::KillProcess => 0x8000_0000,
            Action::Trap => 0x0003_0000,
            Action::Trace(v) => 0x7ff0_0000 | u32::from(v),
            Action::Log => 0x7ffc_0000,
        }
    }

    /// Docker's name with its value: `SCMP_ACT_ERRNO(EPERM)`.
    pub fn name(self) -> String {
        match self {
            Action::Allow => "SCMP_ACT_ALLOW".into(),
            Action::Errno(e) => format!("SCMP_ACT_ERRNO({})", errno_name(e)),
            Action::KillThread => "SCMP_ACT_KILL_THREAD".into(),
            Action::KillProcess => "SCMP_ACT_KILL_PROCESS".into(),
            Action::Trap => "SCMP_ACT_TRAP".into(),
            Action::Trace(v) => format!("SCMP_ACT_TRACE({v})"),
            Action::Log => "SCMP_ACT_LOG".into(),
        }
    }

    fn parse(name: &str, errno: Option<u16>, field: &str) -> anyhow::Result<Action> {
        Ok(match name {
            "SCMP_ACT_ALLOW" => Action::Allow,
            // runc: an errno action without errnoRet returns EPERM.
            "SCMP_ACT_ERRNO" => Action::Errno(errno.unwrap_or(libc::EPERM as u16)),
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
            "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
            "SCMP_ACT_TRAP" => Action::Trap,
            "SCMP_ACT_TRACE" => Action::Trace(errno.unwrap_or(libc::EPERM as u16)),
            "SCMP_ACT_LOG" => Action::Log,
            "SCMP_ACT_NOTIFY" => {
                bail!("{field}: SCMP_ACT_NOTIFY needs a listener process, which nsexec does not provide")
            }
            other => bail!(
                "{field}: unknown action {other:?} (SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, \
                 SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_TRACE, SCMP_ACT_LOG)"
            ),
        })
    }
}

/// `EPERM` for 1, the number itself for an errno without a name here.
pub fn errno_name(e: u16) -> String {
    let errno = nix::errno::Errno::from_raw(i32::from(e));
    if errno == nix::errno::Errno::UnknownErrno {
        e.to_string()
    } else {
        format!("{errno:?}")
    }
}

/// A comparison of one system call argument (seccomp's SCMP_CMP_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    /// `(arg & value) == value_two`.
    MaskedEq,
}

impl Op {
    fn parse(name: &str, field: &str) -> anyhow::Result<Op> {
        Ok(match name {
            "SCMP_CMP_NE" => Op::Ne,
            "SCMP_CMP_LT" => Op::Lt,
            "SCMP_CMP_LE" => Op::Le,
            "SCMP_CMP_EQ" => Op::Eq,
            "SCMP_CMP_GE" => Op::Ge,
            "SCMP_CMP_GT" => Op::Gt,
            "SCMP_CMP_MASKED_EQ" => Op::MaskedEq,
            other => bail!(
                "{field}: unknown operator {other:?} (SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, \
                 SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ)"
            ),
        })
    }

    /// Whether `arg` passes this comparison.
    pub fn test(self, arg: u64, value: u64, value_two: u64) -> bool {
        match self {
            Op::Ne => arg != value,
            Op::Lt => arg < value,
            Op::Le => arg <= value,
            Op::Eq => arg == value,
            Op::Ge => arg >= value,
            Op::Gt => arg > value,
            Op::MaskedEq => arg & value == value_two,
        }
    }
}

/// One argument condition: `args[index] OP value` (MaskedEq: `args[index] & value == value_two`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Arg {
    pub index: u8,
    pub value: u64,
    pub value_two: u64,
    pub op: Op,
}

/// Docker's conditions on a rule: capabilities of the container, the host's architecture
/// (Go's names: amd64, arm64, x86...) and its kernel version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub caps: Vec<String>,
    pub arches: Vec<String>,
    pub min_kernel: Option<(u32, u32)>,
}

/// One entry of `syscalls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub names: Vec<String>,
    pub action: Action,
    pub args: Vec<Arg>,
    pub includes: Filter,
    pub excludes: Filter,
}

/// seccomp(2) filter flags a profile may ask for (OCI `flags`).
pub const FLAG_LOG: u32 = 1 << 1;
pub const FLAG_SPEC_ALLOW: u32 = 1 << 2;

/// A parsed profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub default_action: Action,
    /// The architectures for a host of each native one (`archMap`), or the flat list of OCI's
    /// `architectures` (then for any host).
    pub arch_map: Vec<(String, Vec<String>)>,
    pub architectures: Vec<String>,
    pub flags: u32,
    pub rules: Vec<Rule>,
}

/// libseccomp's architecture names that a profile may list.
const ARCHES: &[&str] = &[
    "SCMP_ARCH_NATIVE",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

impl Profile {
    /// Parse a profile's JSON text; errors name the field (`syscalls[3].args[0].op: ...`).
    pub fn parse(text: &str) -> anyhow::Result<Profile> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| anyhow!("not valid JSON at line {} column {}: {e}", e.line(), e.column()))?;
        let top = object(&value, "the profile")?;
        known_keys(
            top,
            "",
            &[
                "defaultAction",
                "defaultErrnoRet",
                "architectures",
                "archMap",
                "syscalls",
                "flags",
                "listenerPath",
                "listenerMetadata",
            ],
        )?;
        if top.get("listenerPath").and_then(Value::as_str).is_some_and(|s| !s.is_empty()) {
            bail!("listenerPath: a seccomp notify listener is not supported by nsexec");
        }
        let default_errno = errno_field(top.get("defaultErrnoRet"), "defaultErrnoRet")?;
        let default_action = match top.get("defaultAction") {
            Some(v) => Action::parse(string(v, "defaultAction")?, default_errno, "defaultAction")?,
            None => bail!("defaultAction: missing (e.g. \"SCMP_ACT_ERRNO\")"),
        };
        let architectures = match top.get("architectures") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => {
                strings(v, "architectures")?.into_iter().map(|a| arch(a, "architectures")).collect::<Result<_, _>>()?
            }
        };
        let mut arch_map = Vec::new();
        if let Some(v) = top.get("archMap").filter(|v| !v.is_null()) {
            for (i, entry) in array(v, "archMap")?.iter().enumerate() {
                let field = format!("archMap[{i}]");
                let obj = object(entry, &field)?;
                known_keys(obj, &field, &["architecture", "subArchitectures"])?;
                let main_field = format!("{field}.architecture");
                let main = obj.get("architecture").ok_or_else(|| anyhow!("{main_field}: missing"))?;
                let main = arch(string(main, &main_field)?, &main_field)?;
                let sub_field = format!("{field}.subArchitectures");
                let subs = match obj.get("subArchitectures") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(v) => {
                        strings(v, &sub_field)?.into_iter().map(|a| arch(a, &sub_field)).collect::<Result<_, _>>()?
                    }
                };
                arch_map.push((main, subs));
            }
        }
        if !architectures.is_empty() && !arch_map.is_empty() {
            bail!("architectures and archMap: use one or the other, not both (as Docker requires)");
        }
        let flags = match top.get("flags") {
            None | Some(Value::Null) => 0,
            Some(v) => strings(v, "flags")?.into_iter().try_fold(0, |acc, f| {
                Ok::<u32, anyhow::Error>(
                    acc | match f {
                        "SECCOMP_FILTER_FLAG_LOG" => FLAG_LOG,
                        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => FLAG_SPEC_ALLOW,
                        // Single-threaded at load time: synchronizing threads changes nothing.
                        "SECCOMP_FILTER_FLAG_TSYNC" => 0,
                        other => bail!("flags: unknown or unsupported flag {other:?} (SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW, SECCOMP_FILTER_FLAG_TSYNC)"),
                    },
                )
            })?,
        };
        let rules = match top.get("syscalls") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => array(v, "syscalls")?
                .iter()
                .enumerate()
                .map(|(i, r)| parse_rule(r, &format!("syscalls[{i}]")))
                .collect::<anyhow::Result<_>>()?,
        };
        Ok(Profile { default_action, arch_map, architectures, flags, rules })
    }
}

fn parse_rule(v: &Value, field: &str) -> anyhow::Result<Rule> {
    let obj = object(v, field)?;
    known_keys(obj, field, &["name", "names", "action", "errnoRet", "args", "comment", "includes", "excludes"])?;
    let mut names = Vec::new();
    if let Some(n) = obj.get("names").filter(|v| !v.is_null()) {
        names = strings(n, &format!("{field}.names"))?.into_iter().map(String::from).collect();
    }
    if let Some(n) = obj.get("name").filter(|v| !v.is_null()) {
        if !names.is_empty() {
            bail!("{field}: both name and names are given, use one (as Docker requires)");
        }
        names.push(string(n, &format!("{field}.name"))?.to_string());
    }
    if names.is_empty() {
        bail!("{field}.names: missing or empty (a rule names at least one system call)");
    }
    if let Some(bad) = names.iter().find(|n| n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        bail!("{field}.names: {bad:?} is not a system call name");
    }
    let errno = errno_field(obj.get("errnoRet"), &format!("{field}.errnoRet"))?;
    let action_field = format!("{field}.action");
    let action = match obj.get("action") {
        Some(a) => Action::parse(string(a, &action_field)?, errno, &action_field)?,
        None => bail!("{action_field}: missing"),
    };
    let args = match obj.get("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(a) => array(a, &format!("{field}.args"))?
            .iter()
            .enumerate()
            .map(|(i, a)| parse_arg(a, &format!("{field}.args[{i}]")))
            .collect::<anyhow::Result<_>>()?,
    };
    let includes = parse_filter(obj.get("includes"), &format!("{field}.includes"))?;
    let excludes = parse_filter(obj.get("excludes"), &format!("{field}.excludes"))?;
    Ok(Rule { names, action, args, includes, excludes })
}

fn parse_arg(v: &Value, field: &str) -> anyhow::Result<Arg> {
    let obj = object(v, field)?;
    known_keys(obj, field, &["index", "value", "valueTwo", "op"])?;
    let index = number(obj.get("index"), &format!("{field}.index"))?;
    if index > 5 {
        bail!("{field}.index: {index} is out of range (a system call has arguments 0 to 5)");
    }
    let op_field = format!("{field}.op");
    let op = match obj.get("op") {
        Some(o) => Op::parse(string(o, &op_field)?, &op_field)?,
        None => bail!("{op_field}: missing"),
    };
    let value = number(obj.get("value"), &format!("{field}.value"))?;
    let value_two = match obj.get("valueTwo") {
        None | Some(Value::Null) => 0,
        Some(_) => number(obj.get("valueTwo"), &format!("{field}.valueTwo"))?,
    };
    Ok(Arg { index: index as u8, value, value_two, op })
}

fn parse_filter(v: Option<&Value>, field: &str) -> anyhow::Result<Filter> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(Filter::default()) };
    let obj = object(v, field)?;
    known_keys(obj, field, &["caps", "arches", "minKernel"])?;
    let list = |key: &str| -> anyhow::Result<Vec<String>> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(v) => Ok(strings(v, &format!("{field}.{key}"))?.into_iter().map(String::from).collect()),
        }
    };
    let min_kernel = match obj.get("minKernel") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let k_field = format!("{field}.minKernel");
            let s = string(v, &k_field)?;
            if s.is_empty() {
                None
            } else {
                Some(parse_version(s).ok_or_else(|| anyhow!("{k_field}: {s:?} is not a kernel version like \"4.8\""))?)
            }
        }
    };
    Ok(Filter { caps: list("caps")?, arches: list("arches")?, min_kernel })
}

/// `"4.8"` -> (4, 8); Docker refuses anything but two numbers, and 0.0.
fn parse_version(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('.')?;
    let v = (a.parse().ok()?, b.parse().ok()?);
    (v != (0, 0)).then_some(v)
}

fn arch(name: &str, field: &str) -> anyhow::Result<String> {
    if !ARCHES.contains(&name) {
        bail!("{field}: unknown architecture {name:?} (libseccomp's names: SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32, SCMP_ARCH_AARCH64, ...)");
    }
    Ok(name.to_string())
}

fn errno_field(v: Option<&Value>, field: &str) -> anyhow::Result<Option<u16>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(_) => {
            let n = number(v, field)?;
            if n > MAX_ERRNO {
                bail!("{field}: {n} is not an errno (1 to {MAX_ERRNO})");
            }
            Ok(Some(n as u16))
        }
    }
}

fn object<'a>(v: &'a Value, field: &str) -> anyhow::Result<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| anyhow!("{field}: expected an object, found {}", kind(v)))
}

fn array<'a>(v: &'a Value, field: &str) -> anyhow::Result<&'a Vec<Value>> {
    v.as_array().ok_or_else(|| anyhow!("{field}: expected a list, found {}", kind(v)))
}

fn string<'a>(v: &'a Value, field: &str) -> anyhow::Result<&'a str> {
    v.as_str().ok_or_else(|| anyhow!("{field}: expected a string, found {}", kind(v)))
}

fn strings<'a>(v: &'a Value, field: &str) -> anyhow::Result<Vec<&'a str>> {
    array(v, field)?.iter().enumerate().map(|(i, s)| string(s, &format!("{field}[{i}]"))).collect()
}

fn number(v: Option<&Value>, field: &str) -> anyhow::Result<u64> {
    match v {
        Some(n) => n.as_u64().ok_or_else(|| anyhow!("{field}: expected a number from 0 to 2^64-1, found {}", kind(n))),
        None => bail!("{field}: missing"),
    }
}

fn known_keys(obj: &Map<String, Value>, field: &str, keys: &[&str]) -> anyhow::Result<()> {
    if let Some(k) = obj.keys().find(|k| !keys.contains(&k.as_str())) {
        let at = if field.is_empty() { k.clone() } else { format!("{field}.{k}") };
        bail!("{at}: unknown field (known here: {})", keys.join(", "));
    }
    Ok(())
}

fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{:?}", s.chars().take(40).collect::<String>()),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        format!("{:#}", Profile::parse(text).unwrap_err())
    }

    #[test]
    fn the_vendored_default_profile_parses() {
        let p = Profile::parse(super::super::DEFAULT_PROFILE).unwrap();
        assert_eq!(p.default_action, Action::Errno(1));
        assert!(p.arch_map.iter().any(|(a, subs)| a == "SCMP_ARCH_X86_64" && subs.contains(&"SCMP_ARCH_X86".into())));
        assert!(p.rules.len() > 30);
        let clone = p.rules.iter().find(|r| r.names == ["clone"] && r.excludes.caps == ["CAP_SYS_ADMIN"]).unwrap();
        assert_eq!(clone.args[0].op, Op::MaskedEq);
        assert_eq!(clone.args[0].value, 0x7E02_0000);
    }

    #[test]
    fn refusals_name_the_field() {
        assert!(err("{").contains("not valid JSON"));
        assert!(err("[]").contains("the profile: expected an object"));
        assert!(err(r#"{"syscalls": []}"#).starts_with("defaultAction: missing"));
        assert!(
            err(r#"{"defaultAction": "SCMP_ACT_DENY"}"#).starts_with("defaultAction: unknown action \"SCMP_ACT_DENY\"")
        );
        assert!(err(r#"{"defaultActon": "SCMP_ACT_ALLOW"}"#).starts_with("defaultActon: unknown field"));
        let bad_op = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SAME"}]}]}"#;
        assert!(
            err(bad_op).starts_with("syscalls[1].args[0].op: unknown operator \"SCMP_CMP_SAME\""),
            "{}",
            err(bad_op)
        );
        let bad_index = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#;
        assert!(err(bad_index).starts_with("syscalls[0].args[0].index: 6 is out of range"));
        let neg = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]}"#;
        assert!(err(neg).starts_with("syscalls[0].args[0].value: expected a number"));
        let no_names =
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]}"#;
        assert!(err(no_names).starts_with("syscalls[0].names: missing or empty"));
        let both = r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "archMap": []}"#;
        assert!(Profile::parse(both).is_ok(), "an empty archMap is no conflict");
        let arch = r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}"#;
        assert!(err(arch).starts_with("architectures: unknown architecture"));
        let kernel = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4"}}]}"#;
        assert!(err(kernel).starts_with("syscalls[0].includes.minKernel"));
        let errno = r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}"#;
        assert!(err(errno).starts_with("defaultErrnoRet: 70000 is not an errno"));
        let notify = r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#;
        assert!(err(notify).contains("listener"));
    }

    #[test]
    fn oci_format_and_old_single_names_are_read() {
        let oci = r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "architectures": ["SCMP_ARCH_X86_64"],
            "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}, {"name": "kill", "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#;
        let p = Profile::parse(oci).unwrap();
        assert_eq!(p.default_action, Action::Errno(38));
        assert_eq!(p.flags, FLAG_SPEC_ALLOW);
        assert_eq!(p.rules[1].names, ["kill"]);
        assert_eq!(p.rules[1].action, Action::Errno(1));
        assert_eq!(Action::Errno(1).name(), "SCMP_ACT_ERRNO(EPERM)");
        assert_eq!(Action::Errno(1).ret(), 0x0005_0001);
    }
}
