//! Test harness: run the built tools against the real kernel (ripgrep's `tests/util.rs` shape).
//!
//! Kernel tests never call unshare/setns inside the (threaded) test runner: they run the built
//! binaries. `make test` builds them first; [`bin`] finds them (ISOLAB_BIN, or beside the test executable).
//! Skips print `SKIP test: why` and become failures under `ISOLAB_TEST_STRICT=1` (CI).

use std::ffi::OsStr;
use std::io::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The built binary `name`: in `ISOLAB_BIN` when set (`make test` points it at the release build
/// it ships, so the tested binary is the installed one), else beside the test executable
/// (target/debug/NAME after `cargo build --workspace`).
pub fn bin(name: &str) -> PathBuf {
    let dir = match std::env::var_os("ISOLAB_BIN") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().expect("current_exe");
            // target/<profile>/deps/<test>-<hash> -> target/<profile>/<name>
            exe.parent().and_then(|d| d.parent()).expect("target dir").to_path_buf()
        }
    };
    let path = dir.join(name);
    assert!(path.exists(), "{} is not built: run `make release` or `cargo build --workspace` first", path.display());
    path
}

/// A command line to run, shown whole when an assertion fails.
pub struct Tool {
    cmd: Command,
    shown: Vec<String>,
    stdin: Option<Vec<u8>>,
}

impl Tool {
    /// One of the project's tools.
    pub fn new(name: &str) -> Tool {
        Tool::program(bin(name))
    }

    /// Any program (a peer tool, a shell).
    pub fn program(path: impl AsRef<OsStr>) -> Tool {
        let path = path.as_ref();
        let mut cmd = Command::new(path);
        // Tests read messages and traces; a caller's ISOLAB_EXPLAIN must not leak into them.
        cmd.env_remove("ISOLAB_EXPLAIN");
        Tool { cmd, shown: vec![path.to_string_lossy().into_owned()], stdin: None }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Tool {
        self.shown.push(a.as_ref().to_string_lossy().into_owned());
        self.cmd.arg(a);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Tool {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> Tool {
        self.cmd.env(k, v);
        self
    }

    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Tool {
        self.stdin = Some(data.into());
        self
    }

    /// Start the tool with only descriptors 0, 1 and 2 open (the harness itself, or the shell
    /// that runs the tests, may have others without close-on-exec).
    pub fn only_stdio(mut self) -> Tool {
        use std::os::unix::process::CommandExt;
        // SAFETY: close_range only marks descriptors close-on-exec; it is async-signal-safe.
        unsafe {
            self.cmd.pre_exec(|| {
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
                Ok(())
            });
        }
        self
    }

    /// Start the tool in the cgroup-v2 group `dir`: the child writes "0" (itself) to its
    /// cgroup.procs before exec, with the test's privileges (then `setpriv` may drop them).
    pub fn in_cgroup(mut self, dir: &std::path::Path) -> Tool {
        use std::os::unix::process::CommandExt;
        let procs = std::ffi::CString::new(dir.join("cgroup.procs").into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: open, write and close are async-signal-safe; the path was allocated before fork.
        unsafe {
            self.cmd.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fd);
                Ok(())
            });
        }
        self
    }

    /// The underlying command, for tests that need to spawn and interact.
    pub fn command(self) -> Command {
        self.cmd
    }

    /// Run to completion, capturing stdout and stderr.
    pub fn run(mut self) -> Run {
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.cmd.stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child = self.cmd.spawn().unwrap_or_else(|e| panic!("cannot start {:?}: {e}", self.shown));
        if let Some(data) = self.stdin.take() {
            let mut pipe = child.stdin.take().unwrap();
            let _ = pipe.write_all(&data);
        }
        let out = child.wait_with_output().expect("wait");
        Run {
            shown: self.shown.join(" "),
            code: out.status.code().unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0)),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A finished run.
#[derive(Debug)]
pub struct Run {
    pub shown: String,
    /// Exit code, or 128+N when killed by signal N (as a shell reports it).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn dump(&self) -> String {
        format!(
            "\ncommand: {}\nstatus: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.shown, self.code, self.stdout, self.stderr
        )
    }

    /// Assert the exit status; on failure print the whole run.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Run {
        assert_eq!(self.code, expected, "unexpected exit status{}", self.dump());
        self
    }

    #[track_caller]
    pub fn ok(&self) -> &Run {
        self.code(0)
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(self.stdout.contains(needle), "stdout lacks {needle:?}{}", self.dump());
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}{}", self.dump());
        self
    }

    /// A tool's own failure: exit 125 and exactly one line on stderr that contains `needle`.
    #[track_caller]
    pub fn refused(&self, needle: &str) -> &Run {
        self.code(125);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one line on stderr{}", self.dump());
        assert!(lines[0].contains(needle), "stderr lacks {needle:?}{}", self.dump());
        assert!(!self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"), "{}", self.dump());
        self
    }
}

/// A block device to read from: the spare disk the test VM gives (`ISOLAB_TEST_DISK`, left
/// alone), else a loop device over a sparse scratch file, detached on drop.
pub struct TestDisk {
    pub path: String,
    scratch: Option<Scratch>,
}

impl TestDisk {
    /// `None` (after a printed skip) when no loop device can be had.
    pub fn new() -> Option<TestDisk> {
        if let Ok(disk) = std::env::var("ISOLAB_TEST_DISK") {
            return Some(TestDisk { path: disk, scratch: None });
        }
        let dir = Scratch::new("loop");
        let file = dir.path().join("disk.img");
        std::fs::File::create(&file).and_then(|f| f.set_len(64 << 20)).expect("sparse file");
        let out = match Command::new("losetup").args(["-f", "--show"]).arg(&file).output() {
            Ok(out) if out.status.success() => out,
            other => {
                skip("loop device", &format!("losetup failed: {other:?}"));
                return None;
            }
        };
        Some(TestDisk { path: String::from_utf8_lossy(&out.stdout).trim().to_string(), scratch: Some(dir) })
    }

    /// "MAJ:MIN" of the device.
    pub fn numbers(&self) -> String {
        let name = std::path::Path::new(&self.path).file_name().unwrap().to_string_lossy().into_owned();
        std::fs::read_to_string(format!("/sys/class/block/{name}/dev")).unwrap().trim().to_string()
    }
}

impl Drop for TestDisk {
    fn drop(&mut self) {
        if self.scratch.is_some() {
            let _ = Command::new("losetup").args(["-d", &self.path]).status();
        }
    }
}

/// `host` on the host, `vm` inside the test VM, where guest code runs 25-55x slower; an
/// environment variable `name` overrides both.
pub fn scaled(name: &str, host: u64, vm: u64) -> u64 {
    if let Some(n) = std::env::var(name).ok().and_then(|v| v.parse().ok()) {
        return n;
    }
    if std::env::var_os("ISOLAB_VM_LAYOUT").is_some() {
        vm
    } else {
        host
    }
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Skip the calling test with a printed reason, or fail it under `ISOLAB_TEST_STRICT=1`.
/// libtest hides `eprintln!` of passing tests, so this writes to stderr directly.
#[track_caller]
pub fn skip(test: &str, why: &str) {
    if std::env::var("ISOLAB_TEST_STRICT").as_deref() == Ok("1") {
        panic!("{test}: would skip under ISOLAB_TEST_STRICT=1: {why}");
    }
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {why}");
}

/// `if !root!("name") { return; }`: skip a test that needs root when not root.
#[macro_export]
macro_rules! need_root {
    ($test:expr) => {
        if !$crate::is_root() {
            $crate::skip($test, "needs root (the kernel refuses these namespaces and cgroups to others)");
            return;
        }
    };
}

/// Lines of /proc/self/mountinfo, to prove a failed run left nothing mounted.
pub fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo")
}

/// A fresh scratch directory under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A new directory `/tmp/isolab-test-<pid>-<tag>-XXXXXX`, made here by mkdtemp(3), mode 0755
    /// (mapped users, host uid 100000, must walk in). Root runs these tests in a /tmp every user
    /// may write: a name another user can predict would be theirs to plant first (a directory of
    /// their own, a symlink), so the name is random and the directory is never one that existed.
    pub fn new(tag: &str) -> Scratch {
        let dir = fresh_dir(&format!("isolab-test-{}-{tag}-", std::process::id()));
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod scratch dir");
        Scratch(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

/// mkdtemp(3) of `/tmp/PREFIXXXXXXX`: a directory made now, mode 0700, with a name nobody chose.
pub fn fresh_dir(prefix: &str) -> PathBuf {
    use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
    let template = std::env::temp_dir().join(format!("{prefix}XXXXXX"));
    let mut buf =
        std::ffi::CString::new(template.as_os_str().as_bytes()).expect("no NUL in /tmp").into_bytes_with_nul();
    // SAFETY: `buf` is a NUL-terminated template ending in XXXXXX, which mkdtemp rewrites in place.
    let made = unsafe { libc::mkdtemp(buf.as_mut_ptr().cast()) };
    assert!(!made.is_null(), "mkdtemp {}: {}", template.display(), std::io::Error::last_os_error());
    buf.pop();
    PathBuf::from(std::ffi::OsString::from_vec(buf))
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
/// Docker's 14 default capabilities, in the order dockerd writes them into a config.json
/// (the set a default `docker run` keeps: CapEff 00000000a80425fb).
pub const DOCKER_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

pub mod cgroups;
pub mod pty;
pub mod user;

/// The PID a tool writes to `file` (`--pidfile`), once it is there (panics after 10 s).
pub fn wait_for_pidfile(file: &std::path::Path) -> i32 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(pid) = std::fs::read_to_string(file).ok().and_then(|s| s.trim().parse().ok()) {
            return pid;
        }
        assert!(std::time::Instant::now() < deadline, "{} was not written within 10 s", file.display());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A tool left running (a container) whose `--pidfile` names its target; killed on drop (an
/// nsexec takes its PID namespace along: PR_SET_PDEATHSIG).
pub struct Running {
    child: std::process::Child,
    pub pid: i32,
}

impl Running {
    /// Start `tool` (which must write `pidfile`) and wait for the PID.
    pub fn start(tool: Tool, pidfile: &std::path::Path) -> Running {
        let child = tool.command().spawn().expect("start a background tool");
        Running { child, pid: wait_for_pidfile(pidfile) }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
