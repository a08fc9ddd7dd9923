//! The labs (labs/NN-topic/run) as tests: each runs its script with the built binaries first on
//! PATH and passes when the script exits 0, i.e. when the kernel did what the lab says.
//!
//! All ignored in plain `cargo test`: on the host `make lab` runs them (with `make rootfs`
//! first); the test VM runs those whose name contains `cgroup` with `--ignored`, on the pure v2
//! and pure v1 layouts. On failure the whole lab output is printed.

use isolab_tests::cgroups::{layout, Delegated, Layout};
use isolab_tests::{bin, need_root, Tool};
use std::path::PathBuf;
use std::sync::Mutex;

/// Labs run one at a time, as `make lab` runs them: lab 8 measures CPU shares, lab 10 the host's
/// fork latency, lab 9 picks a free loop device.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The repository's top directory (tests/ is one below it).
fn top() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The `run` script of lab `number` (labs/NN-*/run).
fn script(number: &str) -> PathBuf {
    let labs = top().join("labs");
    let entries = std::fs::read_dir(&labs).unwrap_or_else(|e| panic!("{}: {e}", labs.display()));
    let dir = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&format!("{number}-"))))
        .unwrap_or_else(|| panic!("no labs/{number}-* directory"));
    dir.join("run")
}

/// Run lab `number` with target/<profile>/ first on PATH and assert it passed.
fn lab(test: &str, number: &str) {
    need_root!(test);
    // A failed lab poisons the lock; the next lab may still run.
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let bin_dir = bin("nsexec").parent().expect("target dir").to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let run = Tool::program("sh").arg(script(number)).env("PATH", path).run();
    // A lab prints `lab NN-topic: PASS (N checks)` only when every check passed.
    run.code(0).stdout_has(": PASS (");
}

// Lab 1: root in a container deletes a root-owned host file through a bind mount.
#[test]
#[ignore = "run by make lab on the host, and by the VM suite with --ignored"]
fn lab_01_root_in_container() {
    lab("lab_01_root_in_container", "01");
}

// Lab 2: Docker --user 1000:1000: the same rm is refused.
#[test]
#[ignore = "run by make lab on the host, and by the VM suite with --ignored"]
fn lab_02_user_id() {
    lab("lab_02_user_id", "02");
}

// Lab 3: userns remap: uid 0 inside, uid 100000 outside; by hand with idmap too.
#[test]
#[ignore = "run by make lab on the host, and by the VM suite with --ignored"]
fn lab_03_userns_remap() {
    lab("lab_03_userns_remap", "03");
}

// Lab 4: a network namespace has only lo, up.
#[test]
#[ignore = "run by make lab on the host, and by the VM suite with --ignored"]
fn lab_04_net_namespace() {
    lab("lab_04_net_namespace", "04");
}

// Lab 5: a PID namespace: ps sees PID 1 and itself.
#[test]
#[ignore = "run by make lab on the host, and by the VM suite with --ignored"]
fn lab_05_pid_namespace() {
    lab("lab_05_pid_namespace", "05");
}

// Lab 6: nsenter-lite --container joins a web server's namespaces (its group made by cgexec-rs).
#[test]
#[ignore = "run by make lab on the host, and by the VM suite with --ignored"]
fn lab_06_shared_namespace_cgroup() {
    lab("lab_06_shared_namespace_cgroup", "06");
}

// Lab 7: memory limit 100 MiB: cgstat shows it, OOM kill, exit 137.
#[test]
#[ignore = "run by make lab on the host, and by the VM suite with --ignored"]
fn lab_07_memory_cgroup() {
    lab("lab_07_memory_cgroup", "07");
}

// Lab 8: cpu shares 768 vs 256 on one CPU split about 3:1.
#[test]
#[ignore = "run by make lab on the host, and by the VM suite with --ignored"]
fn lab_08_cpu_shares_cgroup() {
    lab("lab_08_cpu_shares_cgroup", "08");
}

// Lab 9: --device-read-bps caps a direct read.
#[test]
#[ignore = "run by make lab on the host, and by the VM suite with --ignored"]
fn lab_09_blkio_cgroup() {
    lab("lab_09_blkio_cgroup", "09");
}

// Lab 10: --pids-limit contains a bounded fork bomb.
#[test]
#[ignore = "run by make lab on the host, and by the VM suite with --ignored"]
fn lab_10_pids_cgroup() {
    lab("lab_10_pids_cgroup", "10");
}

// Lab 11: the full launch, seen from outside, leaves nothing behind.
#[test]
#[ignore = "run by make lab on the host, and by the VM suite with --ignored"]
fn lab_11_full_launch_cgroup() {
    lab("lab_11_full_launch_cgroup", "11");
}

// Lab 12: netexec: eth0 on the isolab0 bridge, --net=host beside it, a published port.
#[test]
#[ignore = "run by make lab on the host, and by the VM suite with --ignored"]
fn lab_12_network() {
    lab("lab_12_network", "12");
}

// Issue 13 §1: `make lab` runs through labs/no-leftovers, which must see what a run leaves on
// the host: an entry at the top of / (here of a stand-in root), a file in /etc, a mount under
// a lab's scratch dir. A clean run passes its exit status through.
#[test]
fn no_leftovers_sees_what_a_run_leaves() {
    need_root!("no_leftovers_sees_what_a_run_leaves");
    let script = top().join("labs/no-leftovers");
    let clean = Tool::program(&script).args(["sh", "-c", "exit 3"]).run();
    clean.code(3).stdout_has("no-leftovers: / and /etc as they were");

    let root = isolab_tests::Scratch::new("leftovers-root");
    std::fs::create_dir(root.path().join("etc")).unwrap();
    // Named as a lab's scratch dir, which no-leftovers watches; made by mkdtemp (root runs this
    // in a /tmp every user writes: a predictable name is anyone's to plant first, as a symlink).
    let scratch = isolab_tests::fresh_dir("isolab-lab-selftest.");
    let leave = format!(
        "mkdir {root}/host && touch {root}/etc/leftover && mount -t tmpfs isolab-selftest {s}",
        root = root.path().display(),
        s = scratch.display()
    );
    let run = Tool::program(&script).env("ISOLAB_LEFTOVERS_ROOT", root.path()).args(["sh", "-c", &leave]).run();
    let _ = std::process::Command::new("umount").arg(&scratch).status();
    let _ = std::fs::remove_dir(&scratch);
    run.code(1).stdout_has("changed the machine");
    run.stdout_has("+ /host d ");
    run.stdout_has(&format!("+ {}/etc/leftover f ", root.path().display()));
    run.stdout_has(&format!("+ mount {} tmpfs isolab-selftest", scratch.display()));
}

// Every lab as the unprivileged test user (`make lab-user`): on the hybrid host the namespace
// labs pass through a user namespace of the user's own and the rest say, one line each, what
// they need (root; a delegated cgroup-v2 subtree); the guests run the labs the layout decides:
// in the v1 guest the cgroup labs say what they need, in the v2 guest, run from a subtree
// delegated as systemd's Delegate=yes does it, they pass. Lab 1 needs root everywhere (root
// inside without a user namespace is the host's root), lab 9 a block device the user may read.
#[test]
#[ignore = "run by make lab-user on the host, and by the VM suite with --ignored"]
fn labs_as_a_user_with_cgroups_where_delegated() {
    need_root!("labs_as_a_user_with_cgroups_where_delegated");
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let user = isolab_tests::user::test_user();
    let bin_dir = bin("nsexec").parent().expect("target dir").to_path_buf();
    let path = format!("{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", bin_dir.display());
    let v2 = layout() == Layout::V2;
    let delegated = v2.then(|| Delegated::new(user.uid, user.gid));
    let in_vm = std::env::var_os("ISOLAB_VM_LAYOUT").is_some();
    // In the guest only what the cgroup layout decides: the cgroup labs and the two that cannot
    // run (02, 03 and 05 do not read the layout; make lab-user runs them on the host).
    let labs: &[&str] = if in_vm { &["01", "06", "07", "08", "09", "10", "11"] } else { &[] };
    let mut tool = isolab_tests::user::as_user(user, "sh").arg(top().join("labs/run-all")).args(labs).env("PATH", path);
    if let Some(d) = &delegated {
        tool = tool.in_cgroup(&d.dir);
    }
    let run = tool.run();
    run.ok();
    let (passed, cannot) = match (v2, in_vm) {
        (true, _) => (5, 2),
        (false, true) => (0, 7),
        (false, false) => (4, 7),
    };
    run.stdout_has(&format!("{passed} passed, 0 failed, {cannot} cannot run as isolab-test:"));
    run.stdout_has("  01-root-in-container needs root: ");
    run.stdout_has("  09-blkio needs root: a block device to read");
    if !v2 {
        for lab in ["06-shared-namespace", "07-memory", "08-cpu-shares", "10-pids", "11-full-launch"] {
            let line = run.stdout.lines().find(|l| l.starts_with(&format!("  {lab} needs "))).unwrap_or_default();
            assert!(line.contains("cgroup limits need root or a delegated cgroup-v2 subtree"), "{lab}: {line:?}");
        }
    }
}
