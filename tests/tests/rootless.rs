//! The tools as a student runs them: an unprivileged user (`isolab-test`, made by
//! scripts/test-user, with ranges in /etc/subuid and /etc/subgid), not root. Experiment 3
//! through nsexec and the setuid helper the system has; joining one's own --init container;
//! cgstat and cgexec-rs where cgroups are not delegated (the delegated v2 case runs in the test
//! VM: `delegated` in the names).
//!
//! The tests start as root (to provision the user) and run every tool through `setpriv` as the
//! user: a real unprivileged process, no capability.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use isolab_tests::cgroups::{existing_dirs, layout, Delegated, Layout};
use isolab_tests::user::{as_user, setuid_idmap, test_user, TestUser, SUB_COUNT, SUB_START};
use isolab_tests::{bin, need_root, Run, Running, Scratch, Tool};

/// A root-owned directory (0755) holding a root-owned file, as the article's /bin/touch.bak.
fn host_dir_with_touch_bak() -> Scratch {
    let dir = Scratch::new("rootless-host");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.path().join("touch.bak"), "host\n").unwrap();
    dir
}

/// nsexec as the test user, with `path` as its PATH (where it looks for the helper).
fn nsexec_as(user: TestUser, path: &str) -> Tool {
    as_user(user, bin("nsexec")).env("PATH", path)
}

const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// PATH values that select each helper: shadow's newuidmap/newgidmap (the system's PATH), and
/// a setuid-root idmap in front of it (None, after a skip, where the scratch dir is nosuid).
fn helpers(scratch: &Scratch) -> Vec<(&'static str, String)> {
    let mut list = Vec::new();
    if Path::new("/usr/bin/newuidmap").exists() {
        list.push(("newuidmap", SYSTEM_PATH.to_string()));
    }
    if let Some(idmap) = setuid_idmap(scratch) {
        list.push(("idmap", format!("{}:{SYSTEM_PATH}", idmap.parent().unwrap().display())));
    }
    assert!(!list.is_empty(), "neither newuidmap (package uidmap, make deps) nor a setuid idmap");
    list
}

// Lab 3 without root: userns remap through the setuid helper; root inside, the host file survives.
#[test]
fn experiment_3_as_a_user_through_each_helper() {
    need_root!("experiment_3_as_a_user_through_each_helper");
    let user = test_user();
    let scratch = Scratch::new("rootless-helpers");
    for (helper, path) in helpers(&scratch) {
        let dir = host_dir_with_touch_bak();
        let range = format!("0:{SUB_START}:{SUB_COUNT}");
        let run = nsexec_as(user, &path)
            .args(["--explain", "--map-users", &range, "--map-groups", &range, "--mount"])
            .arg("--bind")
            .arg(format!("{}:/mnt", dir.path().display()))
            .args(["--", "sh", "-c", "id -u; id -g; cat /proc/self/uid_map; rm -f /mnt/touch.bak"])
            .run();
        assert_eq!(run.code, 1, "{helper}: rm must fail{run:?}");
        let out: Vec<String> = run.stdout.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        assert_eq!(out, ["0", "0", &format!("0 {SUB_START} {SUB_COUNT}")], "{helper}: {run:?}");
        run.stderr_has("Permission denied").stderr_has(&format!("posix_spawn(\"{}", dir_of_helper(&path, helper)));
        assert_eq!(std::fs::read_to_string(dir.path().join("touch.bak")).unwrap(), "host\n", "the host file survives");

        // --map-auto: the first range of /etc/subuid and /etc/subgid, to 0.
        let auto = nsexec_as(user, &path).args(["--map-auto", "--", "sh", "-c", "id -u; cat /proc/self/gid_map"]).run();
        auto.ok();
        assert!(auto.stdout.starts_with("0\n"), "{helper}: {auto:?}");
        assert!(
            auto.stdout.split_whitespace().collect::<Vec<_>>()
                == ["0", "0", &SUB_START.to_string(), &SUB_COUNT.to_string()]
        );
    }
}

/// Where `helper` lives on `path` (its first directory that has it).
fn dir_of_helper(path: &str, helper: &str) -> String {
    path.split(':').map(|d| format!("{d}/{helper}")).find(|p| Path::new(p).exists()).unwrap()
}

// A range /etc/subuid does not grant is refused by each helper: one line naming the file.
#[test]
fn ungranted_range_is_refused_through_each_helper() {
    need_root!("ungranted_range_is_refused_through_each_helper");
    let user = test_user();
    let scratch = Scratch::new("rootless-refuse");
    for (helper, path) in helpers(&scratch) {
        let run = nsexec_as(user, &path)
            .args(["--map-users", "0:100000:65536", "--map-groups", &format!("0:{SUB_START}:{SUB_COUNT}"), "--"])
            .args(["sh", "-c", "echo must not run"])
            .run();
        run.refused("uid range 0-65535 -> 100000-165535 is not granted to isolab-test by /etc/subuid");
        run.stderr_has(&format!("({helper}: "));
        assert_eq!(run.stdout, "", "{helper}");
    }
}

// No helper on PATH: one line naming the file that grants ranges and the missing helper,
// before anything is made (no fork, no namespace).
#[test]
fn missing_helper_is_one_line() {
    need_root!("missing_helper_is_one_line");
    let user = test_user();
    let empty = Scratch::new("rootless-nopath");
    std::fs::set_permissions(empty.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let run: Run =
        nsexec_as(user, empty.path().to_str().unwrap()).args(["--explain", "--map-auto", "--", "/bin/true"]).run();
    run.refused("/etc/subuid").refused("no setuid-root idmap and no newuidmap on PATH");
    // Explained steps would be on stderr too: refused() already checked there is exactly one line.
}

/// A scratch directory the test user may write (pid files of the tools it runs).
fn user_dir(user: TestUser, tag: &str) -> Scratch {
    let dir = Scratch::new(tag);
    std::os::unix::fs::chown(dir.path(), Some(user.uid), Some(user.gid)).unwrap();
    dir
}

/// A user's own `nsexec --init` container running `sleep 60`, its init's PID in dir/init.pid.
fn own_container(user: TestUser, dir: &Scratch, args: &[&str]) -> Running {
    let pidfile = dir.path().join("init.pid");
    let tool = as_user(user, bin("nsexec")).args(args).arg("--pidfile").arg(&pidfile).args(["--", "sleep", "60"]);
    Running::start(tool, &pidfile)
}

// docker exec into one's own container: the init stays closed (CVE-2019-5736), its command is joined.
#[test]
fn nsenter_lite_into_ones_own_init_container() {
    need_root!("nsenter_lite_into_ones_own_init_container");
    let user = test_user();
    let dir = user_dir(user, "rootless-exec");
    let box_ = own_container(user, &dir, &["--init", "-p", "-m", "-n", "-u", "--hostname", "box", "--map-auto"]);
    let pid = box_.pid.to_string();
    let run = as_user(user, bin("nsenter-lite"))
        .args(["--explain", "-t", &pid, "-U", "-n", "-u", "--", "sh", "-c", "id -u; hostname; ip -o link | wc -l"])
        .run();
    run.ok();
    assert_eq!(run.stdout, "0\nbox\n1\n", "{run:?}");
    run.stderr_has(&format!("process {pid} is PID 1 of its namespace and not dumpable"));
    // Every namespace (-a), by pidfile too: the PID namespace shows the init as PID 1.
    let all = as_user(user, bin("nsenter-lite"))
        .arg("--pidfile")
        .arg(dir.path().join("init.pid"))
        .args(["-a", "--", "sh", "-c", "ps -o pid=,args= | head -n 2; readlink /proc/1/exe || echo closed"])
        .run();
    all.ok().stdout_has("closed");
    assert!(all.stdout.trim_start().starts_with("1 "), "{all:?}");
    // The init itself stays closed to its owner: not dumpable, as CVE-2019-5736 wants.
    let init = as_user(user, "readlink").arg(format!("/proc/{pid}/ns/user")).run();
    assert_ne!(init.code, 0, "the init's namespaces must stay closed to the user: {init:?}");
}

const NEED: &str = "cgroup limits need root or a delegated cgroup-v2 subtree";

// cgexec-rs, cgstat and nsenter-lite --container as a user. On a pure v2 host (the test VM),
// beneath a subtree delegated the way systemd's Delegate=yes does it: the limits are written, the
// caller's own processes move into a leaf (no internal processes), the group is found and joined
// by name and removed after. Elsewhere (hybrid, v1) and without delegation: one line saying what
// is missing, nothing made.
#[test]
fn cgroup_limits_as_a_user() {
    need_root!("cgroup_limits_as_a_user");
    let user = test_user();
    let name = isolab_tests::cgroups::unique_name();
    let refused = as_user(user, bin("cgexec-rs")).args(["--name", &name, "-m", "64m", "--", "true"]).run();
    // cgstat finds no group of the user's: the header, and one line saying why.
    let parent = format!("{name}-parent");
    let stat =
        as_user(user, bin("cgstat")).args(["--no-stream", "--interval", "0.1", "--cgroup-parent", &parent]).run();
    stat.ok().stderr_has("no group under").stderr_has(NEED);
    assert_eq!(stat.stdout.lines().count(), 1, "the header only: {stat:?}");
    if layout() != Layout::V2 {
        refused.refused(NEED).refused("cgroup v1");
        stat.stderr_has("memory is on cgroup v1 here");
        assert!(existing_dirs(&name).is_empty(), "nothing made: {:?}", existing_dirs(&name));
        return;
    }
    refused.refused(NEED).refused("belongs to uid 0");
    stat.stderr_has(&format!("is not delegated to uid {}", user.uid));
    let deleg = Delegated::new(user.uid, user.gid);
    let script =
        "cat /proc/self/cgroup; g=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup); cat $g/memory.max $g/pids.max";
    let run = as_user(user, bin("cgexec-rs"))
        .in_cgroup(&deleg.dir)
        .args(["--explain", "--name", "web", "-m", "64m", "--pids-limit", "20", "--", "sh", "-c", script])
        .run();
    run.ok().stderr_has("holds processes: moving them into caller/");
    assert_eq!(run.stdout, format!("0::{}/isolab/web\n67108864\n20\n", deleg.path), "{run:?}");
    assert!(!deleg.dir.join("isolab/web").exists(), "the group is removed after");
    assert_eq!(std::fs::read_to_string(deleg.dir.join("cgroup.procs")).unwrap(), "", "no internal process");

    // A container by name, from the leaf a shell of the user's would now sit in.
    let leaf = deleg.dir.join("caller");
    let dir = user_dir(user, "rootless-deleg");
    let pidfile = dir.path().join("init.pid");
    let launch = as_user(user, bin("cgexec-rs"))
        .in_cgroup(&leaf)
        .args(["--name", "box", "--pids-limit", "50", "--", &bin("nsexec").display().to_string()])
        .args(["--init", "-p", "-m", "-u", "--hostname", "box", "--map-root", "--pidfile"])
        .arg(&pidfile)
        .args(["--", "sleep", "60"]);
    let _box = Running::start(launch, &pidfile);
    let exec = as_user(user, bin("nsenter-lite"))
        .in_cgroup(&leaf)
        .args(["--container", "box", "-U", "-u", "--", "sh", "-c", "hostname; cat /proc/self/cgroup"])
        .run();
    exec.ok();
    assert_eq!(exec.stdout, format!("box\n0::{}/isolab/box\n", deleg.path), "{exec:?}");
    let stat = as_user(user, bin("cgstat")).in_cgroup(&leaf).args(["--no-stream", "--interval", "0.2"]).run();
    stat.ok();
    assert!(stat.stdout.lines().any(|l| l.starts_with("box ")), "cgstat lists the user's group: {stat:?}");
}

/// The repository's top directory.
fn top() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

// make demo and make rootfs without root: the demo's namespaces through the user's own range,
// the group only where delegated (else one line); a busybox rootfs with no file given away.
#[test]
fn demo_and_rootfs_as_a_user() {
    need_root!("demo_and_rootfs_as_a_user");
    let user = test_user();
    let bin_dir = bin("nsexec").parent().unwrap().to_path_buf();
    let demo = as_user(user, top().join("scripts/demo")).arg(&bin_dir).env("PATH", SYSTEM_PATH).run();
    demo.ok()
        .stdout_has("uid=0(root) gid=0(root)")
        .stdout_has("isolab-demo")
        .stdout_has("read-only: touch /probe fails");
    if layout() != Layout::V2 {
        demo.stderr_has(&format!("demo: without the group and cgstat: {NEED}"));
    }
    let dir = user_dir(user, "rootless-rootfs");
    let rootfs = dir.path().join("rootfs");
    as_user(user, top().join("labs/mkrootfs")).arg(&rootfs).run().ok();
    assert!(rootfs.join("bin/busybox").exists());
    let home = std::fs::metadata(rootfs.join("home/user")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((home.uid(), home.mode() & 0o7777), (user.uid, 0o1777), "no chown without root: a sticky, open home");
}
