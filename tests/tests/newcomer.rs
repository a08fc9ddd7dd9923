//! What a newcomer typed, and got (issue 13, §4): each case as it was reported, checked against
//! the real kernel. A refusal is one line and exit 125 that points the right way; a hint is
//! chosen by the step that failed, never by the errno alone; nothing is left behind.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use isolab_tests::cgroups::hierarchy_of;
use isolab_tests::{bin, mountinfo, need_root, skip, Run, Scratch, TestDisk, Tool};

/// The checkout's top directory (tests/ is one below it).
fn top() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// A busybox root file system in `dir` (labs/mkrootfs), or None after a printed skip.
fn rootfs(test: &str, dir: &Path) -> Option<PathBuf> {
    if !Path::new("/bin/busybox").exists() {
        skip(test, "no /bin/busybox (make deps installs busybox-static)");
        return None;
    }
    let status = Command::new(top().join("labs/mkrootfs")).arg(dir).output().expect("labs/mkrootfs");
    assert!(status.status.success(), "mkrootfs {}: {status:?}", dir.display());
    Some(dir.to_path_buf())
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// One line on stderr, exit 125, containing every `needle` and none of `never`.
#[track_caller]
fn refused_with(run: &Run, needles: &[&str], never: &[&str]) {
    run.refused(needles[0]);
    for n in needles {
        run.stderr_has(n);
    }
    for n in never {
        assert!(!run.stderr.contains(n), "stderr has {n:?}: {run:?}");
    }
}

/// Hints that belong to cgroup steps only.
const CGROUP_ADVICE: [&str; 3] = ["controller not enabled", "delegated", "the  controller"];

// `nsexec --user=1000:1000 -- id`, the article's Docker spelling: it ran as uid 65534, exit 0,
// and left a file ./1000:1000 with an nsfs mount on it.
#[test]
fn docker_user_spelling_points_to_user_id() {
    let dir = Scratch::new("newcomer-user");
    let run = Tool::program("sh")
        .args(["-c", "cd \"$1\" && exec \"$2\" --user=1000:1000 -- id", "sh"])
        .arg(dir.path())
        .arg(bin("nsexec"))
        .run();
    refused_with(&run, &["--user=1000:1000", "use --user-id 1000:1000"], &[]);
    assert!(!dir.path().join("1000:1000").exists(), "a file 1000:1000 was made");
    assert!(!mountinfo().contains(&dir.path().display().to_string()), "a mount was left");
}

// A clone under a directory only root may enter (root's home is 0700 on Debian, and so is
// `mktemp -d`): root of a new user namespace (host uid 100000) could not pass it, and lab 11
// failed with "cannot open .../rootfs from inside the new namespaces: Permission denied".
#[test]
fn rootfs_and_binds_under_a_0700_directory() {
    need_root!("rootfs_and_binds_under_a_0700_directory");
    let home = Scratch::new("newcomer-0700");
    chmod(home.path(), 0o700);
    let Some(root) = rootfs("rootfs_and_binds_under_a_0700_directory", &home.path().join("rootfs")) else { return };
    let data = home.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("hello"), "hello from a 0700 home\n").unwrap();
    let run = Tool::new("nsexec")
        .args(["-a", "--map-users", "0:100000:65536", "--map-groups", "0:100000:65536", "--rootfs"])
        .arg(&root)
        .arg("--bind")
        .arg(format!("{}:/mnt:ro", data.display()))
        .args(["--", "/bin/sh", "-c", "id; cat /mnt/hello"])
        .run();
    run.ok().stdout_has("uid=0(root)").stdout_has("hello from a 0700 home");
    assert!(!mountinfo().contains(&home.path().display().to_string()), "a mount was left");
}

// Opening the sources as the caller must not cost the kernel's mount locks: a bind source with
// a mount on part of it is cloned from the new namespace's own (locked) copy, so root inside
// cannot unmount the covering mount and read what it hides.
#[test]
fn binds_keep_the_kernels_mount_locks() {
    need_root!("binds_keep_the_kernels_mount_locks");
    let dir = Scratch::new("newcomer-locks");
    chmod(dir.path(), 0o755);
    let covered = dir.path().join("src/covered");
    std::fs::create_dir_all(&covered).unwrap();
    std::fs::write(covered.join("hidden"), "under the mount\n").unwrap();
    let ok = Command::new("mount").args(["-t", "tmpfs", "isolab-test-cover"]).arg(&covered).status().unwrap();
    assert!(ok.success(), "mount tmpfs on {}", covered.display());
    let src = format!("{}:/mnt", dir.path().join("src").display());
    let run = Tool::new("nsexec")
        .args(["-U", "--map-users", "0:100000:65536", "--map-groups", "0:100000:65536", "-m", "--bind", &src])
        .args(["--", "sh", "-c", "busybox umount /mnt/covered; ls /mnt/covered"])
        .run();
    let _ = Command::new("umount").arg(&covered).status();
    run.ok().stderr_has("Invalid argument");
    assert!(!run.stdout.contains("hidden"), "the covered directory was revealed: {run:?}");
}

// The same from a clone of the checkout under a 0700 directory: lab 11 (the full chain, whose
// rootfs and bind source sit inside the clone) and `make demo ROOTFS=rootfs` work there.
#[test]
fn lab_11_and_the_demo_from_a_clone_under_a_0700_directory() {
    let test = "lab_11_and_the_demo_from_a_clone_under_a_0700_directory";
    need_root!(test);
    let home = Scratch::new("newcomer-clone");
    chmod(home.path(), 0o700);
    let clone = home.path().join("isolab");
    std::fs::create_dir(&clone).unwrap();
    for part in ["labs", "scripts"] {
        let ok = Command::new("cp").arg("-a").arg(top().join(part)).arg(&clone).status().unwrap();
        assert!(ok.success(), "cp -a {part}");
    }
    let _ = std::fs::remove_dir_all(clone.join("rootfs"));
    let Some(root) = rootfs(test, &clone.join("rootfs")) else { return };
    let bin_dir = bin("nsexec").parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let lab = Tool::program("sh").arg(clone.join("labs/11-full-launch/run")).env("PATH", &path).run();
    lab.ok().stdout_has("lab 11-full-launch: PASS (");
    let demo = Tool::program("sh").arg(clone.join("scripts/demo")).arg(&bin_dir).env("ROOTFS", &root).run();
    demo.ok().stdout_has("isolab-demo");
    assert!(!mountinfo().contains(&home.path().display().to_string()), "a mount was left");
}

// Hints that pointed the wrong way: each refusal names what failed and gives advice for that
// step, never the cgroup advice an errno alone would pick.
#[test]
fn mount_point_in_a_root_owned_rootfs() {
    need_root!("mount_point_in_a_root_owned_rootfs");
    let dir = Scratch::new("newcomer-eacces");
    chmod(dir.path(), 0o755);
    let Some(root) = rootfs("mount_point_in_a_root_owned_rootfs", &dir.path().join("rootfs")) else { return };
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    let run = Tool::new("nsexec")
        .args(["-U", "--map-users", "0:100000:65536", "--map-groups", "0:100000:65536", "-m", "--rootfs"])
        .arg(&root)
        .arg("--bind")
        .arg(format!("{}:/www/site", www.display()))
        .args(["--", "true"])
        .run();
    refused_with(
        &run,
        &["cannot create mount point /www: Permission denied (EACCES)", "create the mount point in the rootfs first"],
        &CGROUP_ADVICE,
    );
}

#[test]
fn pidfile_in_a_missing_directory() {
    need_root!("pidfile_in_a_missing_directory");
    let run = Tool::new("nsexec").args(["--pidfile", "/nonexistent-isolab-dir/pid", "--", "true"]).run();
    refused_with(
        &run,
        &["--pidfile", "/nonexistent-isolab-dir/pid", "the directory it would go in does not exist"],
        &CGROUP_ADVICE,
    );
}

#[test]
fn missing_ns_file() {
    let run = Tool::new("nsenter-lite").args(["--ns-file", "net=/nonexistent-isolab-dir/net", "--", "true"]).run();
    refused_with(&run, &["--ns-file net=/nonexistent-isolab-dir/net", "No such file or directory"], &CGROUP_ADVICE);
}

// `nsexec -a --rootfs / ...` without a map: creat("/dev/null") failed with EOVERFLOW and no word
// on why.
#[test]
fn user_namespace_without_a_map() {
    need_root!("user_namespace_without_a_map");
    let run = Tool::new("nsexec").args(["-a", "--rootfs", "/", "--", "true"]).run();
    refused_with(&run, &["EOVERFLOW", "no uid and gid map yet", "--map-root", "--map-users"], &CGROUP_ADVICE);
}

#[test]
fn setgroups_without_a_user_namespace() {
    let run = Tool::new("nsexec").args(["-u", "--setgroups", "deny", "--", "true"]).run();
    refused_with(&run, &["--setgroups applies to a new user namespace: add -U/--user"], &["EPERM"]);
}

#[test]
fn set_with_a_bad_controller_names_the_flag() {
    let run = Tool::new("cgexec-rs").args(["--set", "..=1", "--", "true"]).run();
    refused_with(&run, &["--set: invalid file name \"..\""], &CGROUP_ADVICE);
    let run = Tool::new("cgexec-rs").args(["--set", "foo.bar=1", "--", "true"]).run();
    refused_with(&run, &["--set foo.bar: the foo controller is not available"], &[]);
}

// `--cpus 0.0000001` silently became 0.01 (a quota of 1 ms). docker/cli's ParseCPUs takes it
// (100 NanoCPUs) and the kernel refuses the quota it makes; here it is refused up front.
#[test]
fn cpus_below_the_least_quota() {
    let run = Tool::new("cgexec-rs").args(["--cpus", "0.0000001", "--", "true"]).run();
    refused_with(&run, &["--cpus: 0.0000001 is below 0.01"], &[]);
    let run = Tool::new("cgexec-rs").args(["--cpus", "0.0000000001", "--", "true"]).run();
    refused_with(&run, &["value is too precise"], &[]);
}

#[test]
fn cpus_at_the_least_quota_runs() {
    need_root!("cpus_at_the_least_quota_runs");
    let run = Tool::new("cgexec-rs").args(["--explain", "--cpus", "0.01", "--", "true"]).run();
    run.ok();
    assert!(run.stderr.contains("cpu.cfs_quota_us = 1000") || run.stderr.contains("cpu.max = 1000 100000"), "{run:?}");
}

// `--cap-add ALL` was refused; Docker accepts it: every capability, less those dropped.
#[test]
fn cap_add_all_as_docker() {
    need_root!("cap_add_all_as_docker");
    let run = Tool::new("nsexec")
        .args(["--user-id", "1000", "--cap-add", "ALL", "--cap-drop", "NET_RAW", "--"])
        .args(["sh", "-c", "grep CapAmb /proc/self/status"])
        .run();
    run.ok();
    let hex = run.stdout.split_whitespace().last().unwrap_or("0");
    let amb = u64::from_str_radix(hex, 16).unwrap();
    assert_ne!(amb & (1 << 12), 0, "CAP_NET_ADMIN kept: {run:?}");
    assert_eq!(amb & (1 << 13), 0, "CAP_NET_RAW dropped: {run:?}");
}

/// The I/O scheduler in use on a disk (`/sys/block/NAME`): the one in brackets.
fn scheduler(sys: &Path) -> String {
    let text = std::fs::read_to_string(sys.join("queue/scheduler")).unwrap_or_default();
    text.split_whitespace().find_map(|s| s.strip_prefix('[')?.strip_suffix(']')).unwrap_or("").to_string()
}

// `--blkio-weight 500` on a disk whose scheduler is `none` wrote blkio.bfq.weight and said
// nothing: the kernel takes the weight and ignores it there.
#[test]
fn blkio_weight_on_a_disk_without_bfq_warns() {
    need_root!("blkio_weight_on_a_disk_without_bfq_warns");
    let run = Tool::new("cgexec-rs").args(["--explain", "--blkio-weight", "500", "--", "true"]).run();
    run.ok();
    let bfq_written = run.stderr.contains(".bfq.weight = 500");
    let disks =
        std::fs::read_dir("/sys/block").unwrap().flatten().map(|e| e.path()).filter(|p| p.join("device").exists());
    for sys in disks {
        let (name, scheduler) = (sys.file_name().unwrap().to_string_lossy().into_owned(), scheduler(&sys));
        let warning = format!("warning: --blkio-weight: no effect on {name}, whose I/O scheduler is {scheduler}");
        assert_eq!(run.stderr.contains(&warning), bfq_written && scheduler != "bfq", "{warning:?}: {run:?}");
    }
}

// A per-device weight on a disk without bfq is refused by the kernel (EOPNOTSUPP): the hint says
// why, in terms of the disk's scheduler.
#[test]
fn blkio_weight_device_without_bfq_says_why() {
    need_root!("blkio_weight_device_without_bfq_says_why");
    let Some(disk) = TestDisk::new() else { return };
    let name = Path::new(&disk.path).file_name().unwrap().to_string_lossy().into_owned();
    let run = Tool::new("cgexec-rs").args(["--blkio-weight-device", &format!("{}:500", disk.path), "--", "true"]).run();
    if scheduler(&Path::new("/sys/block").join(&name)) != "bfq" && run.code != 0 {
        refused_with(&run, &["--blkio-weight-device", "needs the disk's I/O scheduler to be bfq"], &CGROUP_ADVICE);
    } else {
        run.ok();
    }
}

// cgstat run by a user who could read no group printed its header alone and exited 0.
#[test]
fn cgstat_says_why_it_shows_no_group() {
    need_root!("cgstat_says_why_it_shows_no_group");
    let missing = format!("isolab-test-{}-none", std::process::id());
    let run = Tool::new("cgstat").args(["--no-stream", "--interval", "0.1", "--cgroup-parent", &missing]).run();
    run.ok().stdout_has("NAME").stderr_has(&format!("no group under --cgroup-parent ({}", "/sys/fs/cgroup"));
    run.stderr_has("--all");

    // A parent this user may not list: a 0700 directory beneath our own memory cgroup.
    let h = hierarchy_of("memory").expect("a memory hierarchy");
    let locked = format!("isolab-test-{}-locked", std::process::id());
    let dir = h.mount.join(h.own.trim_start_matches('/')).join(&locked);
    std::fs::create_dir(&dir).unwrap();
    std::fs::create_dir(dir.join("web")).unwrap();
    chmod(&dir, 0o700);
    let run = Tool::program("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(bin("cgstat"))
        .args(["--no-stream", "--interval", "0.1", "--cgroup-parent", &locked])
        .run();
    let _ = std::fs::remove_dir(dir.join("web"));
    let _ = std::fs::remove_dir(&dir);
    run.ok().stderr_has("no group could be read: permission denied listing").stderr_has(&locked);
}
