//! seccomp: a profile in Docker's JSON format compiled to a classic-BPF filter and loaded as
//! the last step before exec. See seccomp(2), prctl(2) PR_SET_NO_NEW_PRIVS,
//! Documentation/userspace-api/seccomp_filter.rst.
//!
//! Rules that bite:
//! - Loading a filter needs no_new_privs or CAP_SYS_ADMIN in the caller's user namespace, so a
//!   launch without no_new_privs loads it before dropping capabilities (runc's order), and the
//!   filter must then allow what follows (setgroups, setresuid, capset, execve): Docker's does.
//! - A filter is inherited by every child and survives execve; it can never be removed, only
//!   narrowed by another filter.
//! - The filter sees system call numbers, not names, and numbers differ per ABI: an x86_64 host
//!   also runs i386 and x32 code, so Docker's profile lists those as sub-architectures.
//!
//! Why a compiler of our own (rather than libseccomp or seccompiler): Docker's semantics
//! (conditional rules, runc's argument grouping and its ENOSYS stub for calls newer than the
//! profile) are a small pure function from a profile to a program, testable against a BPF
//! interpreter without a kernel; there is no C library to link into a static-pie binary; and
//! the compiled filter searches numbers in a binary tree of ranges (~10 comparisons per system
//! call) where libseccomp emits a linear chain by default. seccompiler builds one architecture
//! per filter and knows neither i386 nor x32.
//!
//! Docker's default profile is vendored in `default.json` (moby/profiles, Apache-2.0: see
//! NOTICE beside it). Parsing and compiling it costs about 1 ms, so for Docker's default
//! capabilities the compiled program is kept in the source (precompiled.rs, checked by a test);
//! other capability sets and profile files are compiled at launch.

pub mod bpf;
pub mod copy;
mod precompiled;
pub mod profile;
pub mod resolve;
mod syscalls;

use std::collections::BTreeMap;

use anyhow::Context as _;

use self::bpf::{Call, Insn, Section};
pub use self::profile::{Action, Profile};
pub use self::resolve::Context;
use crate::trace::{self, Step};

/// Docker's default profile (moby profiles/seccomp/default.json), as vendored.
pub const DEFAULT_PROFILE: &str = include_str!("default.json");

/// What a profile may use and this compiler turns into a filter (an OCI runtime's `features`):
/// actions, argument operators, the architectures filtered on an x86_64 host, the flags.
pub const ACTIONS: [&str; 8] = [
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];
pub const OPERATORS: [&str; 7] =
    ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"];
pub const ARCHES: [&str; 3] = ["SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_X86_64"];
pub const FLAGS: [&str; 3] = ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"];

/// A compiled filter, with what `--explain` tells about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub program: Vec<Insn>,
    pub default_action: Action,
    /// Rules of the profile that apply here (after includes/excludes), and all of them.
    pub rules_applied: usize,
    pub rules_total: usize,
    /// Distinct system calls named by the applied rules and known on the host's ABI.
    pub calls: usize,
    pub arches: Vec<&'static str>,
    pub flags: u32,
    /// Where it came from: "Docker's default profile" or the file.
    pub source: String,
}

impl Filter {
    /// One line for `--explain`.
    pub fn summary(&self) -> String {
        format!(
            "seccomp: {}: {} of {} rules apply, {} system calls named, default {}; {}; {} BPF instructions",
            self.source,
            self.rules_applied,
            self.rules_total,
            self.calls,
            self.default_action.name(),
            self.arches.join(" "),
            self.program.len()
        )
    }
}

/// The default profile for a container with bounding set `caps`: precompiled for Docker's
/// default capabilities, else parsed and compiled now.
pub fn default_filter(caps: &[String]) -> anyhow::Result<Filter> {
    let docker: Vec<String> = crate::capabilities::DOCKER_DEFAULT.iter().map(|c| c.to_string()).collect();
    let same = caps.len() == docker.len() && docker.iter().all(|c| caps.contains(c));
    if same && std::env::consts::ARCH == "x86_64" && resolve::kernel_version() >= precompiled::KERNEL_FLOOR {
        return Ok(precompiled::filter());
    }
    let profile = Profile::parse(DEFAULT_PROFILE).context("the built-in default seccomp profile")?;
    compile(&profile, &Context::host(caps.to_vec()), "Docker's default profile")
}

/// Read, parse and compile a profile file (`--security-opt seccomp=FILE`).
pub fn filter_from_file(path: &std::path::Path, caps: &[String]) -> anyhow::Result<Filter> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {shown}: {}", crate::process::plain_io(&e)))?;
    let profile = Profile::parse(&text).with_context(|| format!("{shown}"))?;
    compile(&profile, &Context::host(caps.to_vec()), &shown.to_string()).with_context(|| format!("{shown}"))
}

/// Compile `profile` for the context `ctx` (bounding set, kernel, architecture).
pub fn compile(profile: &Profile, ctx: &Context, source: &str) -> anyhow::Result<Filter> {
    if std::env::consts::ARCH != "x86_64" {
        anyhow::bail!("seccomp filters are compiled for x86_64 hosts only (this is {})", std::env::consts::ARCH);
    }
    let arches = resolve::architectures(profile, "SCMP_ARCH_X86_64");
    let rules = resolve::applicable(profile, ctx);
    let has = |a: &str| arches.iter().any(|x| x == a || (a == "SCMP_ARCH_X86_64" && x == "SCMP_ARCH_NATIVE"));
    // runc's stub: calls newer than anything the profile names fail with ENOSYS, unless the
    // default allows anyway or is ENOSYS already.
    let stub = !matches!(profile.default_action, Action::Allow | Action::Errno(38));
    let make = |name, base, bits32, table: &'static [(&'static str, u32)]| {
        section(name, base, bits32, table, &rules, profile.default_action, stub)
    };
    let x86_64 = has("SCMP_ARCH_X86_64").then(|| make("x86_64", 0, false, syscalls::X86_64));
    let x32 = has("SCMP_ARCH_X32").then(|| make("x32", bpf::X32_SYSCALL_BIT, false, syscalls::X32));
    let i386 = has("SCMP_ARCH_X86").then(|| make("x86", 0, true, syscalls::I386));
    let calls = x86_64.as_ref().map_or(0, |s| s.calls.len());
    let spec = bpf::Spec {
        default: profile.default_action,
        // libseccomp's default for an architecture the filter does not cover; the whole process,
        // so that no thread goes on in a half-killed program.
        bad_arch: Action::KillProcess,
        x86_64,
        x32,
        i386,
    };
    let program = bpf::emit(&spec)?;
    let arch_names = [(spec.x86_64.is_some(), "x86_64"), (spec.i386.is_some(), "x86"), (spec.x32.is_some(), "x32")];
    Ok(Filter {
        program,
        default_action: profile.default_action,
        rules_applied: rules.len(),
        rules_total: profile.rules.len(),
        calls,
        arches: arch_names.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect(),
        flags: profile.flags,
        source: source.to_string(),
    })
}

fn lookup(table: &[(&str, u32)], name: &str) -> Option<u32> {
    table.binary_search_by(|(n, _)| (*n).cmp(name)).ok().map(|i| table[i].1)
}

/// The calls of one ABI: each applied rule's names that this ABI knows (unknown names are
/// skipped, as runc does), grouped by number.
fn section(
    name: &'static str,
    base: u32,
    bits32: bool,
    table: &'static [(&'static str, u32)],
    rules: &[&profile::Rule],
    default: Action,
    stub: bool,
) -> Section {
    let mut calls: BTreeMap<u32, Call> = BTreeMap::new();
    let mut max = None;
    for rule in rules {
        for n in &rule.names {
            let Some(nr) = lookup(table, n).map(|nr| nr | base) else { continue };
            max = max.max(Some(nr));
            // runc skips a rule whose action is the default: it changes nothing.
            if rule.action == default {
                continue;
            }
            let call = calls.entry(nr).or_default();
            if rule.args.is_empty() {
                call.unconditional.get_or_insert(rule.action);
            } else if repeats_an_index(&rule.args) {
                // runc: conditions on the same argument are alternatives, one rule each.
                call.groups.extend(rule.args.iter().map(|a| (vec![*a], rule.action)));
            } else {
                call.groups.push((rule.args.clone(), rule.action));
            }
        }
    }
    Section { name, base, bits32, calls, enosys_above: if stub { max } else { None } }
}

fn repeats_an_index(args: &[profile::Arg]) -> bool {
    (0..6).any(|i| args.iter().filter(|a| a.index == i).count() > 1)
}

/// Load `filter` for this process and its future children: seccomp(SECCOMP_SET_MODE_FILTER).
pub fn load(filter: &Filter) -> anyhow::Result<()> {
    trace::note(filter.summary());
    load_program(&filter.program, filter.flags, format!("default {}", filter.default_action.name()))
}

/// Load a classic-BPF `program` with `flags`; `what` says what it is, for `--explain`.
pub fn load_program(program: &[Insn], flags: u32, what: String) -> anyhow::Result<()> {
    let insns: Vec<libc::sock_filter> =
        program.iter().map(|i| libc::sock_filter { code: i.code, jt: i.jt, jf: i.jf, k: i.k }).collect();
    let prog = libc::sock_fprog { len: insns.len() as u16, filter: insns.as_ptr() as *mut libc::sock_filter };
    let step = Step::SeccompLoad { flags, instructions: insns.len(), what };
    trace::run(step, || {
        // SAFETY: prog points at `insns`, alive for the call; the kernel copies the program.
        let r =
            unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags as libc::c_ulong, &prog) };
        nix::errno::Errno::result(r).map(drop)
    })
}

#[cfg(test)]
mod tests;
