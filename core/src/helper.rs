//! Helper programs a tool runs beside its command for as long as the command runs (pasta(1)
//! for a rootless network). See prctl(2) PR_SET_PDEATHSIG, kill(2).
//!
//! Rules that bite:
//! - A helper must not outlive a killed tool: PR_SET_PDEATHSIG, set between fork and exec,
//!   survives the exec of a program that is not set-id; the parent may already be gone when it
//!   is set, so the child checks getppid() right after.
//! - std's Command resets the signal mask and dispositions in the child, so a helper started
//!   while the tool holds its forwarded signals blocked still receives them.

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command};

use crate::process::{self, Pid, Signal};
use crate::trace::{self, Step};

/// Start `argv` (program first) tethered to this process, traced as one spawn step.
pub fn spawn_tethered(argv: &[String], configure: impl FnOnce(&mut Command)) -> anyhow::Result<Child> {
    let Some((program, args)) = argv.split_first() else {
        anyhow::bail!("no helper program given");
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    configure(&mut cmd);
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs between fork and exec and makes only async-signal-safe system
    // calls (prctl, getppid); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    trace::run_io(Step::ForkExec { argv: argv.to_vec() }, || cmd.spawn())
}

/// Ask a helper to stop (SIGTERM) and reap it; SIGKILL if it is still there after `grace`.
pub fn stop(child: &mut Child, grace: std::time::Duration) {
    let pid = Pid::from_raw(child.id() as i32);
    if process::kill(pid, Signal::SIGTERM).is_err() {
        let _ = child.wait();
        return;
    }
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}
