//! From a Docker profile to the rules that apply to one container, as dockerd does before it
//! hands runc an OCI config (moby profiles/seccomp: setupSeccomp): a rule is dropped when its
//! `excludes` match (an architecture equal to the host's, any listed capability in the
//! container's bounding set, a kernel at least `minKernel`) or its `includes` do not (the host's
//! architecture listed, every capability in the bounding set, the kernel at least `minKernel`).

use super::profile::{Filter, Profile, Rule};

/// What a profile's conditions are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The container's bounding set, as `CAP_SYS_ADMIN` names.
    pub caps: Vec<String>,
    /// The host's kernel version (major, minor).
    pub kernel: (u32, u32),
    /// The host's architecture in Go's spelling (Docker compares `arches` with it): `amd64`.
    pub native: &'static str,
}

impl Context {
    /// The running host's kernel and architecture, with `caps` as the bounding set.
    pub fn host(caps: Vec<String>) -> Context {
        Context { caps, kernel: kernel_version(), native: native_arch() }
    }
}

/// Go's name of this build's architecture (Docker's `includes.arches` compare with it).
pub fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "x86",
        "aarch64" => "arm64",
        other => other,
    }
}

/// (major, minor) of the running kernel; (0, 0) if uname's release cannot be read.
pub fn kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    parse_release(&release)
}

/// `6.18.44-fc-v1045` -> (6, 18): minor revisions and suffixes are ignored, as Docker does.
pub fn parse_release(release: &str) -> (u32, u32) {
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The rules of `profile` that apply in `ctx`, in the profile's order.
pub fn applicable<'a>(profile: &'a Profile, ctx: &Context) -> Vec<&'a Rule> {
    profile.rules.iter().filter(|r| !excluded(&r.excludes, ctx) && included(&r.includes, ctx)).collect()
}

fn excluded(f: &Filter, ctx: &Context) -> bool {
    f.arches.iter().any(|a| a == ctx.native)
        || f.caps.iter().any(|c| ctx.caps.contains(c))
        || f.min_kernel.is_some_and(|k| ctx.kernel >= k)
}

fn included(f: &Filter, ctx: &Context) -> bool {
    (f.arches.is_empty() || f.arches.iter().any(|a| a == ctx.native))
        && f.caps.iter().all(|c| ctx.caps.contains(c))
        && f.min_kernel.is_none_or(|k| ctx.kernel >= k)
}

/// The architectures the filter covers: the host's entry of `archMap` (itself and its
/// sub-architectures), or the flat `architectures` list; the host's own always (libseccomp
/// adds the native architecture to every filter).
pub fn architectures(profile: &Profile, native_scmp: &str) -> Vec<String> {
    let mut list: Vec<String> = if !profile.architectures.is_empty() {
        profile.architectures.clone()
    } else {
        profile
            .arch_map
            .iter()
            .find(|(main, _)| main == native_scmp)
            .map(|(main, subs)| std::iter::once(main.clone()).chain(subs.iter().cloned()).collect())
            .unwrap_or_default()
    };
    if !list.iter().any(|a| a == native_scmp || a == "SCMP_ARCH_NATIVE") {
        list.insert(0, native_scmp.to_string());
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::DEFAULT_PROFILE;

    fn names(rules: &[&Rule]) -> Vec<String> {
        rules.iter().flat_map(|r| r.names.clone()).collect()
    }

    #[test]
    fn docker_conditions() {
        let p = Profile::parse(DEFAULT_PROFILE).unwrap();
        let plain = Context { caps: vec!["CAP_CHOWN".into()], kernel: (6, 1), native: "amd64" };
        let got = names(&applicable(&p, &plain));
        assert!(got.contains(&"arch_prctl".to_string()), "amd64 rules apply");
        assert!(!got.contains(&"s390_runtime_instr".to_string()), "s390 rules do not");
        assert!(!got.contains(&"mount".to_string()), "mount needs CAP_SYS_ADMIN");
        assert!(got.contains(&"ptrace".to_string()), "ptrace since 4.8");
        let old = Context { kernel: (4, 4), ..plain.clone() };
        assert!(!names(&applicable(&p, &old)).contains(&"ptrace".to_string()));
        let admin = Context { caps: vec!["CAP_SYS_ADMIN".into()], ..plain.clone() };
        let got = names(&applicable(&p, &admin));
        assert!(got.contains(&"mount".to_string()) && got.contains(&"unshare".to_string()));
        // clone with the namespace mask is excluded for CAP_SYS_ADMIN (it gets clone outright).
        let clone_masks = applicable(&p, &admin).iter().filter(|r| r.names == ["clone"] && !r.args.is_empty()).count();
        assert_eq!(clone_masks, 0);
        assert_eq!(applicable(&p, &plain).iter().filter(|r| r.names == ["clone"] && !r.args.is_empty()).count(), 1);
    }

    #[test]
    fn arch_lists() {
        let p = Profile::parse(DEFAULT_PROFILE).unwrap();
        assert_eq!(architectures(&p, "SCMP_ARCH_X86_64"), ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
        let bare = Profile::parse(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#).unwrap();
        assert_eq!(architectures(&bare, "SCMP_ARCH_X86_64"), ["SCMP_ARCH_X86_64"]);
        assert_eq!(parse_release("6.18.44-fc-v1045"), (6, 18));
        assert_eq!(parse_release("3.12-1-amd64"), (3, 12));
    }
}
