//! What the host offers a new group, checked before anything is created: the block devices a
//! limit names, and the CPUs and memory nodes the caller may give it; and, once the plan is
//! known, the disks a BFQ weight would not act on. See cgroups(7), cpuset(7).
//!
//! Rules that bite:
//! - blkio throttles and io.max take whole disks only (ENODEV for a partition): a partition
//!   resolves to its disk, whose /sys/dev/block/MAJ:MIN directory holds the partition's.
//! - A group's cpuset must lie within its parent's effective cpuset (Docker checks the same
//!   against the daemon's); `--cpus` cannot exceed the online CPUs.

use crate::trace;
use crate::units::IdList;

use super::detect::Setup;
use super::limits::Limits;
use super::plan::WritePlan;

/// Fill in each device's numbers: stat(2) the path, refuse what is not a block device, and use
/// the whole disk for a partition.
pub fn resolve_devices(limits: &mut Limits) -> anyhow::Result<()> {
    for d in limits.devices_mut() {
        let st = nix::sys::stat::stat(d.path.as_str()).map_err(|e| anyhow::anyhow!("{}: {}", d.path, e.desc()))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFBLK {
            anyhow::bail!("{} is not a block device", d.path);
        }
        let (major, minor) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
        (d.major, d.minor) = whole_disk(major, minor).unwrap_or((major, minor));
        if (d.major, d.minor) != (major, minor) {
            trace::note(format!("{} is a partition: limiting its disk {}", d.path, d.dev()));
        }
    }
    Ok(())
}

/// /sys/dev/block/MAJ:MIN of a partition has a `partition` file and sits inside its disk's directory.
fn whole_disk(major: u32, minor: u32) -> Option<(u32, u32)> {
    let sys = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    if !sys.join("partition").exists() {
        return None;
    }
    let dev = std::fs::read_to_string(sys.parent()?.join("dev")).ok()?;
    let (a, b) = dev.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// CPUs and memory nodes must exist and be allowed to the caller's cpuset.
pub fn check_cpus(setup: &Setup, limits: &Limits) -> anyhow::Result<()> {
    if limits.nano_cpus.is_none() && limits.cpuset_cpus.is_none() && limits.cpuset_mems.is_none() {
        return Ok(()); // nothing to check: skip reading four files
    }
    let online = read_list("/sys/devices/system/cpu/online").unwrap_or_default();
    let (mut cpus, mut mems) =
        (online.clone(), read_list("/sys/devices/system/node/online").unwrap_or(IdList(vec![0])));
    if let Some(h) = setup.for_controller("cpuset") {
        let own = h.dir_of(&h.own);
        let (c, m) = if h.v2 {
            ("cpuset.cpus.effective", "cpuset.mems.effective")
        } else {
            ("cpuset.effective_cpus", "cpuset.effective_mems")
        };
        cpus = read_list(&own.join(c).to_string_lossy()).filter(|l| !l.0.is_empty()).unwrap_or(cpus);
        mems = read_list(&own.join(m).to_string_lossy()).filter(|l| !l.0.is_empty()).unwrap_or(mems);
    }
    limits.check_host(online.0.len().max(1), &cpus, &mems)
}

/// A BFQ weight (`blkio.bfq.weight`, `io.bfq.weight`) acts only on disks whose I/O scheduler
/// is bfq; elsewhere (`none`, `mq-deadline`) the kernel takes `--blkio-weight`'s write and
/// ignores it (a per-device weight it refuses: EOPNOTSUPP, with its own hint). One warning per
/// disk of the host (a block device with a `device`: not loop, ram or zram) not under bfq.
pub fn weights_without_bfq(plan: &WritePlan, limits: &Limits) -> Vec<String> {
    let written = plan.writes.iter().any(|w| w.path.to_string_lossy().ends_with(".bfq.weight"));
    let mut disks: Vec<std::path::PathBuf> = Vec::new();
    if written && limits.blkio_weight.is_some() {
        let all = std::fs::read_dir("/sys/block").into_iter().flatten().flatten().map(|e| e.path());
        disks.extend(all.filter(|p| p.join("device").exists()));
    }
    let mut warnings = Vec::new();
    for sys in disks {
        let name = sys.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(sys.join("queue/scheduler")).unwrap_or_default();
        // "none [mq-deadline] kyber bfq": the one in brackets is in use.
        let Some(scheduler) = text.split_whitespace().find_map(|s| s.strip_prefix('[')?.strip_suffix(']')) else {
            continue;
        };
        trace::note(format!("{name}: I/O scheduler {scheduler} (from {})", sys.join("queue/scheduler").display()));
        if scheduler != "bfq" {
            warnings.push(format!(
                "--blkio-weight: no effect on {name}, whose I/O scheduler is {scheduler}: a blkio weight acts only \
                 under bfq (echo bfq > /sys/block/{name}/queue/scheduler)"
            ));
        }
    }
    warnings
}

fn read_list(path: &str) -> Option<IdList> {
    IdList::parse_kernel(&std::fs::read_to_string(path).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_disk_is_its_own_disk() {
        // vda or loop devices are whole disks: no parent to resolve to.
        assert_eq!(whole_disk(7, 0), None);
    }
}
