//! nsexec's confinement flags. A container (`--rootfs DIR`) gets Docker's defaults: the 14
//! capabilities, the default seccomp profile, masked and read-only paths, a read-only /sys
//! with a view of its own cgroups; `--privileged` turns them off. Without `--rootfs` nothing is
//! added unless one of these flags asks. The low-level flags (`--mask-path`, `--readonly-path`,
//! `--cap-bounding` and its siblings, `--security-opt seccomp=FILE`) say exactly what an OCI
//! config.json says, for isolab-oci.

use std::path::{Path, PathBuf};

use anyhow::bail;
use isolab_core::capabilities::{self, Mask, Sets};
use isolab_core::cgroup::devices::DeviceArg;
use isolab_core::creds::{self, Creds};
use isolab_core::mount;
use isolab_core::seccomp;

/// The confinement flags (flattened into nsexec's Args).
#[derive(clap::Args, Debug, Default, Clone)]
#[command(next_help_heading = "Confinement (Docker's defaults with --rootfs)")]
pub struct ConfineArgs {
    /// Turn the confinement off, as docker run --privileged does: every capability, no seccomp
    /// filter, no masked or read-only paths, /sys and the cgroup view writable
    #[arg(long)]
    pub privileged: bool,
    /// seccomp=FILE (a profile in Docker's JSON format, or an OCI linux.seccomp object),
    /// seccomp=unconfined, seccomp=default (Docker's profile, also without --rootfs),
    /// no-new-privileges[=true|false] (repeatable)
    #[arg(long, value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Hide PATH: /dev/null over a file, an empty read-only tmpfs over a directory (repeatable;
    /// given, the list replaces Docker's; --mask-path= alone for none)
    #[arg(long, value_name = "PATH")]
    pub mask_path: Vec<String>,
    /// Make PATH read-only (repeatable; given, the list replaces Docker's; --readonly-path= alone for none)
    #[arg(long, value_name = "PATH")]
    pub readonly_path: Vec<String>,
    /// Exact bounding set, comma-separated (an OCI config's process.capabilities.bounding; empty
    /// for none). Any --cap-SET flag gives all five sets exactly: a set not given is empty
    #[arg(long, value_name = "CAPS")]
    pub cap_bounding: Option<String>,
    /// Exact effective set (see --cap-bounding)
    #[arg(long, value_name = "CAPS")]
    pub cap_effective: Option<String>,
    /// Exact permitted set (see --cap-bounding)
    #[arg(long, value_name = "CAPS")]
    pub cap_permitted: Option<String>,
    /// Exact inheritable set (see --cap-bounding)
    #[arg(long, value_name = "CAPS")]
    pub cap_inheritable: Option<String>,
    /// Exact ambient set (see --cap-bounding)
    #[arg(long, value_name = "CAPS")]
    pub cap_ambient: Option<String>,
    /// Create the host's device node HOST in the container's /dev, at CONTAINER (default: the
    /// same path); the cgroup side (use of the node, rwm) is cgexec-rs --device (repeatable; needs --rootfs)
    #[arg(long, value_name = "HOST[:CONTAINER][:rwm]")]
    pub device: Vec<String>,
}

/// What `--security-opt seccomp=` asked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seccomp {
    Unset,
    Unconfined,
    Default,
    File(PathBuf),
}

/// The flags as checked values.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    seccomp: Seccomp,
    no_new_privs: bool,
}

fn security_opts(list: &[String]) -> anyhow::Result<Options> {
    let mut o = Options { seccomp: Seccomp::Unset, no_new_privs: false };
    for opt in list {
        // Docker takes both OPT=VALUE and the older OPT:VALUE.
        let (key, value) = match opt.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (opt.as_str(), None),
        };
        match (key, value) {
            ("seccomp", Some("unconfined")) => o.seccomp = Seccomp::Unconfined,
            ("seccomp", Some("default" | "builtin")) => o.seccomp = Seccomp::Default,
            ("seccomp", Some(file)) if !file.is_empty() => o.seccomp = Seccomp::File(file.into()),
            ("no-new-privileges", None | Some("true")) => o.no_new_privs = true,
            ("no-new-privileges", Some("false")) => o.no_new_privs = false,
            ("apparmor" | "label" | "systempaths" | "proc-opts", _) => {
                bail!("--security-opt {opt}: not supported by nsexec (seccomp=, no-new-privileges)")
            }
            _ => bail!(
                "invalid --security-opt {opt:?} (seccomp=FILE, seccomp=unconfined, seccomp=default, no-new-privileges[=true|false])"
            ),
        }
    }
    Ok(o)
}

/// `CAP_CHOWN,kill` -> a mask (empty string: none).
fn cap_list(flag: &str, list: &str) -> anyhow::Result<Mask> {
    list.split(',')
        .filter(|c| !c.is_empty())
        .map(|c| creds::parse_capability(c).map_err(|e| anyhow::anyhow!("{flag}: {e:#}")))
        .try_fold(0, |m, c| c.map(|c| m | c.bitmask()))
}

/// A path list: every entry absolute and clean; `--mask-path=` alone means none.
fn paths(flag: &str, list: &[String]) -> anyhow::Result<Vec<PathBuf>> {
    if list.len() == 1 && list[0].is_empty() {
        return Ok(Vec::new());
    }
    list.iter().map(|p| mount::clean_dest(p, flag)).collect()
}

impl ConfineArgs {
    fn exact_sets(&self) -> anyhow::Result<Option<Sets>> {
        let given =
            [&self.cap_bounding, &self.cap_effective, &self.cap_permitted, &self.cap_inheritable, &self.cap_ambient];
        if given.iter().all(|s| s.is_none()) {
            return Ok(None);
        }
        let set = |flag: &str, v: &Option<String>| v.as_deref().map_or(Ok(0), |l| cap_list(flag, l));
        Ok(Some(Sets {
            bounding: set("--cap-bounding", &self.cap_bounding)?,
            effective: set("--cap-effective", &self.cap_effective)?,
            permitted: set("--cap-permitted", &self.cap_permitted)?,
            inheritable: set("--cap-inheritable", &self.cap_inheritable)?,
            ambient: set("--cap-ambient", &self.cap_ambient)?,
        }))
    }

    /// Fill `creds` and `plan` and compile the filter. `container`: --rootfs was given.
    pub fn apply(
        &self,
        container: bool,
        new_mnt: bool,
        cap_add: &[String],
        creds: &mut Creds,
        plan: &mut mount::Mounts,
    ) -> anyhow::Result<Option<seccomp::Filter>> {
        let confined = container && !self.privileged;
        let opts = security_opts(&self.security_opt)?;
        creds.no_new_privs |= opts.no_new_privs;
        let add_all = creds.add_all;
        match self.exact_sets()? {
            Some(_) if !cap_add.is_empty() || !creds.cap_drop.is_empty() || creds.drop_all || self.privileged => {
                bail!("--cap-bounding/--cap-effective/--cap-permitted/--cap-inheritable/--cap-ambient give the sets exactly: drop --cap-add, --cap-drop and --privileged")
            }
            Some(sets) => {
                creds.sets = Some(sets);
                creds.exact_sets = true;
            }
            None if confined => {
                let all = capabilities::all_supported();
                let base = capabilities::mask_of(capabilities::DOCKER_DEFAULT.iter());
                let add = capabilities::mask_of(creds.cap_add.iter());
                let drop = capabilities::mask_of(creds.cap_drop.iter());
                creds.sets = Some(Sets::container(capabilities::tweak(base, add, add_all, drop, creds.drop_all, all)));
            }
            None => {}
        }
        // The filter's conditions look at the container's bounding set.
        let bounding = match &creds.sets {
            Some(s) => s.bounding,
            None => {
                let own = capabilities::bounding();
                let add = capabilities::mask_of(creds.cap_add.iter());
                match (add_all, creds.drop_all) {
                    (true, _) => own & !capabilities::mask_of(creds.cap_drop.iter()),
                    (false, true) => own & add,
                    (false, false) => (own & !capabilities::mask_of(creds.cap_drop.iter())) | (own & add),
                }
            }
        };
        let names: Vec<String> = capabilities::set_of(bounding).iter().map(|c| c.to_string()).collect();
        let filter = match &opts.seccomp {
            Seccomp::Unconfined => None,
            Seccomp::File(f) => Some(
                seccomp::filter_from_file(Path::new(f), &names)
                    .map_err(|e| anyhow::anyhow!("--security-opt seccomp: {e:#}"))?,
            ),
            Seccomp::Default => Some(seccomp::default_filter(&names)?),
            Seccomp::Unset if confined => Some(seccomp::default_filter(&names)?),
            Seccomp::Unset => None,
        };
        plan.masked = match self.mask_path.is_empty() {
            false => paths("--mask-path", &self.mask_path)?,
            true if confined => mount::DOCKER_MASKED.iter().map(PathBuf::from).collect(),
            true => Vec::new(),
        };
        plan.readonly_paths = match self.readonly_path.is_empty() {
            false => paths("--readonly-path", &self.readonly_path)?,
            true if confined => mount::DOCKER_READONLY.iter().map(PathBuf::from).collect(),
            true => Vec::new(),
        };
        if (!plan.masked.is_empty() || !plan.readonly_paths.is_empty()) && !new_mnt {
            bail!("--mask-path and --readonly-path need a mount namespace of their own: add -m/--mount");
        }
        if container {
            plan.sys = Some(!self.privileged);
        }
        plan.devices = self
            .device
            .iter()
            .map(|d| DeviceArg::parse(d).map_err(|e| anyhow::anyhow!("--device: {e:#}")))
            .collect::<anyhow::Result<_>>()?;
        if !plan.devices.is_empty() && !container {
            bail!("--device needs --rootfs: nsexec makes a /dev only for a new root");
        }
        if let Some(bad) = plan.devices.iter().find(|d| !d.container.starts_with("/dev/")) {
            bail!("--device {}: the container path {} must be under /dev", bad.host, bad.container);
        }
        Ok(filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_opts_like_docker() {
        assert_eq!(security_opts(&["seccomp=unconfined".into()]).unwrap().seccomp, Seccomp::Unconfined);
        assert_eq!(security_opts(&["seccomp:/p.json".into()]).unwrap().seccomp, Seccomp::File("/p.json".into()));
        assert!(security_opts(&["no-new-privileges".into()]).unwrap().no_new_privs);
        assert!(security_opts(&["no-new-privileges:true".into()]).unwrap().no_new_privs);
        assert!(!security_opts(&["no-new-privileges=false".into()]).unwrap().no_new_privs);
        for bad in ["seccomp", "seccomp=", "nnp", "no-new-privileges=maybe"] {
            assert!(security_opts(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(format!("{:#}", security_opts(&["apparmor=x".into()]).unwrap_err()).contains("not supported"));
    }

    #[test]
    fn cap_lists() {
        assert_eq!(cap_list("--cap-bounding", "").unwrap(), 0);
        assert_eq!(cap_list("--cap-bounding", "CAP_CHOWN,kill").unwrap(), 1 | 1 << 5);
        assert!(format!("{:#}", cap_list("--cap-ambient", "CAP_FLY").unwrap_err()).starts_with("--cap-ambient"));
    }
}
