//! The PID-reuse race (peers.md §4): the number of a process being mapped goes to a new process
//! between pinning and writing. ns_last_pid hands the old number to the next process, so the race
//! is forced, not hoped for.
//!
//! This drives core's pinning (`procfs::PinnedProcess`) and map writing in-process, because the
//! window lies inside one idmap run. It is a file of its own so that no other test of the same
//! binary forks meanwhile and takes the number: ns_last_pid is global to the PID namespace.

use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command};

use isolab_core::idmap::{write_map, Extent, Which};
use isolab_core::procfs::{Pidfd, PinnedProcess};
use isolab_tests::need_root;

/// `unshare --user sleep 30`, once it is in its new namespace.
fn in_new_userns() -> Child {
    let child = Command::new("unshare").args(["--user", "sleep", "30"]).spawn().expect("unshare");
    let ours = std::fs::metadata("/proc/self/ns/user").unwrap().ino();
    for _ in 0..500 {
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", child.id())).unwrap_or_default();
        let ns = std::fs::metadata(format!("/proc/{}/ns/user", child.id())).map(|m| m.ino()).unwrap_or(ours);
        if ns != ours && comm.trim() == "sleep" {
            return child;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    end(child);
    panic!("unshare --user did not start");
}

fn end(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

// The pinned /proc directory of an exited process maps nothing, even when its number now names
// another process in a fresh user namespace (whose uid_map is still writable).
#[test]
fn a_reused_pid_is_never_mapped() {
    need_root!("a_reused_pid_is_never_mapped");
    let first = in_new_userns();
    let pid = first.id() as i32;
    let target = PinnedProcess::pin(pid, Pidfd::Required).unwrap();
    let dir = target.open_proc_dir().unwrap();
    assert!(target.is_alive());
    end(first);
    let second = (0..200)
        .find_map(|_| {
            std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).unwrap();
            let child = in_new_userns();
            if child.id() as i32 == pid {
                Some(child)
            } else {
                end(child);
                None
            }
        })
        .expect("pid was not reused in 200 tries");
    let err = write_map(&dir.path(), Which::Uid, &[Extent { inside: 0, outside: 100000, count: 1 }]).unwrap_err();
    let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    let still = target.is_alive();
    end(second);
    assert_eq!(err.to_string(), format!("process {pid} has exited: nothing was mapped"));
    assert_eq!(uid_map, "", "the new process with the old number was mapped");
    assert!(!still, "the pinned process is gone, whoever has its number");
}
