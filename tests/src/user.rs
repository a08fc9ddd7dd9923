//! The unprivileged test user `isolab-test`, made by `scripts/test-user` (the one provisioning
//! step, also `make test-user`): a system user with `isolab-test:1200000:65536` (by name) and
//! `UID:1265536:100` (by uid, continuing the first) in /etc/subuid and /etc/subgid, left in place
//! for the next run. Tests run the tools as this user through `setpriv`, a real unprivileged
//! process: no capability, its own uid and gid, its own groups.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::{bin, skip, Scratch, Tool};

pub const USER: &str = "isolab-test";
/// The user's first range (by name) in /etc/subuid and /etc/subgid.
pub const SUB_START: u32 = 1_200_000;
pub const SUB_COUNT: u32 = 65536;
/// The second range (by uid), continuing the first.
pub const BY_UID_START: u32 = SUB_START + SUB_COUNT;
pub const BY_UID_COUNT: u32 = 100;

/// The test user's ids.
#[derive(Debug, Clone, Copy)]
pub struct TestUser {
    pub uid: u32,
    pub gid: u32,
}

/// The repository's `scripts/test-user`.
pub fn provisioning_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/test-user")
}

/// The test user and its grants, made once per test run (needs root; the script is idempotent).
pub fn test_user() -> TestUser {
    static ONCE: OnceLock<TestUser> = OnceLock::new();
    *ONCE.get_or_init(|| {
        let out = Command::new(provisioning_script()).output().expect("scripts/test-user");
        let text = String::from_utf8_lossy(&out.stdout);
        let ids: Vec<u32> = text.split_whitespace().filter_map(|s| s.parse().ok()).collect();
        assert!(
            out.status.success() && ids.len() == 2,
            "scripts/test-user failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
        TestUser { uid: ids[0], gid: ids[1] }
    })
}

/// `program` run by `setpriv` as the test user: real and effective ids, its groups, no
/// capabilities, and an environment of its own (HOME, USER, LOGNAME) as a login would give.
pub fn as_user(user: TestUser, program: impl AsRef<OsStr>) -> Tool {
    // By path: a test may give the tool a PATH of its own, which std would search for setpriv too.
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].into_iter().find(|p| Path::new(p).exists());
    Tool::program(setpriv.unwrap_or("setpriv"))
        .args(["--reuid", &user.uid.to_string(), "--regid", &user.gid.to_string(), "--init-groups"])
        .env("HOME", "/")
        .env("USER", USER)
        .env("LOGNAME", USER)
        .arg(program)
}

/// A setuid-root copy of the built idmap in `scratch`, as an administrator would install it;
/// None (after a printed skip) when the scratch directory is mounted nosuid.
pub fn setuid_idmap(scratch: &Scratch) -> Option<PathBuf> {
    let dir = scratch.path();
    let copy = copy_idmap(scratch, 0o4755);
    let c = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    // SAFETY: statvfs writes into the zeroed struct we pass; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let nosuid = unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0 && st.f_flag & libc::ST_NOSUID != 0;
    if nosuid {
        skip("idmap setuid", &format!("{} is mounted nosuid", dir.display()));
        return None;
    }
    Some(copy)
}

/// A copy of the built idmap in `scratch` (readable by every user), with `mode`.
pub fn copy_idmap(scratch: &Scratch, mode: u32) -> PathBuf {
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = scratch.path().join("idmap");
    // cp writes the copy, not this process: a child that another test thread forks meanwhile
    // would inherit a descriptor open for writing on it, and exec of the copy would fail with
    // ETXTBSY until that child execs.
    let status = Command::new("cp").arg(bin("idmap")).arg(&copy).status().unwrap();
    assert!(status.success(), "cp idmap");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(mode)).unwrap();
    copy
}
