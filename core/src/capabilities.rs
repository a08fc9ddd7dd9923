//! Capability sets as a container gets them: Docker's default 14, `--cap-add`/`--cap-drop`
//! (ALL included) with Docker's rules, and the five sets applied exactly. See capabilities(7),
//! capset(2), prctl(2) PR_CAPBSET_DROP and PR_CAP_AMBIENT.
//!
//! Rules that bite:
//! - At execve, root's permitted set becomes bounding | inheritable and its effective set the
//!   permitted one: for a root payload the bounding set decides.
//! - A non-root payload keeps nothing across execve but the ambient set (which needs each
//!   capability in permitted and inheritable first); changing uid from 0 clears permitted and
//!   effective unless PR_SET_KEEPCAPS is on.
//! - Dropping from the bounding set needs CAP_SETPCAP, so it comes before the uid change.
//! - Docker leaves the inheritable set empty (CVE-2022-24769: with inheritable capabilities an
//!   execve of a file with inheritable file capabilities raised them into permitted).

pub use caps::Capability;

use crate::trace::{self, Step};

/// A set of capabilities as the kernel's bit mask (bit N = capability N), as /proc/PID/status shows it.
pub type Mask = u64;

/// Docker's default capabilities, in Docker's order (moby oci/caps DefaultCapabilities).
pub const DOCKER_DEFAULT: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

pub fn mask_of<'a>(caps: impl IntoIterator<Item = &'a Capability>) -> Mask {
    caps.into_iter().fold(0, |m, c| m | c.bitmask())
}

/// The capabilities in `mask`, by number.
pub fn set_of(mask: Mask) -> Vec<Capability> {
    let mut list: Vec<Capability> = caps::all().into_iter().filter(|c| mask & c.bitmask() != 0).collect();
    list.sort_by_key(|c| c.index());
    list
}

/// `CAP_CHOWN,CAP_KILL` (`none` for the empty set).
pub fn names(mask: Mask) -> String {
    if mask == 0 {
        return "none".into();
    }
    let set = set_of(mask);
    let mut list: Vec<String> = set.iter().map(|c| c.to_string()).collect();
    let unknown = mask & !mask_of(set.iter());
    if unknown != 0 {
        list.push(format!("{unknown:#x}"));
    }
    list.join(",")
}

/// The capabilities this kernel has (0 ..= /proc/sys/kernel/cap_last_cap).
pub fn all_supported() -> Mask {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(40)
        .min(63);
    if last == 63 {
        u64::MAX
    } else {
        (1u64 << (last + 1)) - 1
    }
}

/// Docker's `--cap-add`/`--cap-drop` on top of `base` (moby TweakCapabilities): with `ALL`
/// added, every capability but the dropped ones; with `ALL` dropped, only the added ones;
/// else the base minus the dropped plus the added (an added one wins over a dropped one).
pub fn tweak(base: Mask, add: Mask, add_all: bool, drop: Mask, drop_all: bool, all: Mask) -> Mask {
    if add_all {
        all & !drop
    } else if drop_all {
        add & all
    } else {
        ((base & !drop) | add) & all
    }
}

/// The five sets, applied exactly (OCI `process.capabilities`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sets {
    pub bounding: Mask,
    pub effective: Mask,
    pub permitted: Mask,
    pub inheritable: Mask,
    pub ambient: Mask,
}

impl Sets {
    /// What Docker gives a container whose capabilities are `caps`: bounding, effective and
    /// permitted; inheritable and ambient empty.
    pub fn container(caps: Mask) -> Sets {
        Sets { bounding: caps, effective: caps, permitted: caps, inheritable: 0, ambient: 0 }
    }

    /// One line for `--explain`.
    pub fn describe(&self) -> String {
        let docker = mask_of(DOCKER_DEFAULT.iter());
        let label = |m: Mask| {
            if m == docker {
                format!("{m:#018x} (Docker's default 14: {})", names(m))
            } else {
                format!("{m:#018x} ({})", names(m))
            }
        };
        if self.bounding == self.effective && self.effective == self.permitted {
            format!(
                "capabilities: bounding = permitted = effective = {}; inheritable = {}; ambient = {}",
                label(self.bounding),
                label(self.inheritable),
                label(self.ambient)
            )
        } else {
            format!(
                "capabilities: bounding = {}; permitted = {}; effective = {}; inheritable = {}; ambient = {}",
                label(self.bounding),
                label(self.permitted),
                label(self.effective),
                label(self.inheritable),
                label(self.ambient)
            )
        }
    }
}

/// This process's bounding set (PR_CAPBSET_READ of each capability the kernel has).
pub fn bounding() -> Mask {
    let all = all_supported();
    caps::all()
        .into_iter()
        .filter(|c| all & c.bitmask() != 0)
        // SAFETY: PR_CAPBSET_READ only reads this process's bounding set.
        .filter(|c| unsafe { libc::prctl(libc::PR_CAPBSET_READ, c.index() as libc::c_ulong, 0, 0, 0) } == 1)
        .fold(0, |m, c| m | c.bitmask())
}

/// Drop from the bounding set everything not in `keep` (PR_CAPBSET_DROP, one call each).
pub fn limit_bounding(keep: Mask) -> anyhow::Result<()> {
    let drop = set_of(bounding() & !keep);
    if drop.is_empty() {
        return Ok(());
    }
    trace::run(Step::CapbsetDrop(drop.clone()), || {
        for c in &drop {
            // SAFETY: PR_CAPBSET_DROP takes a capability number; no pointers.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, c.index() as libc::c_ulong, 0, 0, 0) };
            nix::errno::Errno::result(r)?;
        }
        Ok(())
    })
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// capset(2) of effective, permitted and inheritable at once.
pub fn capset(effective: Mask, permitted: Mask, inheritable: Mask) -> anyhow::Result<()> {
    let mut header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let data = [
        CapData { effective: effective as u32, permitted: permitted as u32, inheritable: inheritable as u32 },
        CapData {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    trace::run(Step::Capset { effective, permitted, inheritable }, || {
        // SAFETY: header and data are the version-3 structs capset(2) takes (two data elements).
        let r = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()) };
        nix::errno::Errno::result(r).map(drop)
    })
}

/// capget(2): this process's effective, permitted and inheritable sets.
pub fn capget() -> anyhow::Result<(Mask, Mask, Mask)> {
    let mut header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and data are the version-3 structs capget(2) fills (two data elements).
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut header as *mut CapHeader, data.as_mut_ptr()) };
    nix::errno::Errno::result(r).map_err(|e| anyhow::anyhow!("capget: {}", e.desc()))?;
    let join = |lo: u32, hi: u32| u64::from(lo) | u64::from(hi) << 32;
    Ok((
        join(data[0].effective, data[1].effective),
        join(data[0].permitted, data[1].permitted),
        join(data[0].inheritable, data[1].inheritable),
    ))
}

/// Make the ambient set exactly `mask` (clear, then raise each; each must be permitted and inheritable).
pub fn set_ambient(mask: Mask) -> anyhow::Result<()> {
    trace::run(Step::AmbientSet(mask), || {
        // SAFETY: PR_CAP_AMBIENT operations take capability numbers; no pointers.
        let clear =
            unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0) };
        nix::errno::Errno::result(clear)?;
        for c in set_of(mask) {
            // SAFETY: as above.
            let r = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    c.index() as libc::c_ulong,
                    0,
                    0,
                )
            };
            nix::errno::Errno::result(r)?;
        }
        Ok(())
    })
}

/// After the uid change (with PR_SET_KEEPCAPS, so permitted survived): the exact sets.
pub fn apply_after_uid_change(sets: &Sets) -> anyhow::Result<()> {
    capset(sets.effective, sets.permitted, sets.inheritable)?;
    set_ambient(sets.ambient)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_default_is_the_mask_docker_shows() {
        assert_eq!(mask_of(DOCKER_DEFAULT.iter()), 0xa80425fb);
        assert!(names(0xa80425fb).starts_with("CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_FOWNER"));
        assert_eq!(names(0), "none");
    }

    #[test]
    fn tweak_follows_docker() {
        let base = mask_of(DOCKER_DEFAULT.iter());
        let all = (1u64 << 41) - 1;
        let admin = Capability::CAP_SYS_ADMIN.bitmask();
        let raw = Capability::CAP_NET_RAW.bitmask();
        assert_eq!(tweak(base, 0, false, 0, false, all), base);
        assert_eq!(tweak(base, admin, false, raw, false, all), (base | admin) & !raw);
        assert_eq!(tweak(base, raw, false, raw, false, all), base, "an added capability wins over a dropped one");
        assert_eq!(tweak(base, admin, false, 0, true, all), admin, "--cap-drop ALL keeps only the added");
        assert_eq!(tweak(base, 0, true, raw, false, all), all & !raw, "--cap-add ALL gives all but the dropped");
        assert_eq!(tweak(base, 0, false, 0, true, all), 0);
    }

    #[test]
    fn describe_names_the_default() {
        let d = Sets::container(0xa80425fb).describe();
        assert!(d.contains("Docker's default 14") && d.contains("inheritable = 0x0000000000000000 (none)"), "{d}");
    }
}
