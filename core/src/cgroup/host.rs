//! What the host offers a new group, checked before anything is created: the block devices a
//! limit names, and the CPUs and memory nodes the caller may give it. See cgroups(7), cpuset(7).
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
