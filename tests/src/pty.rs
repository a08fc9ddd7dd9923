//! A real terminal for the tools under test: a pty whose slave is the tool's stdin, stdout,
//! stderr and controlling terminal (in a session of its own, as a login shell's), and whose
//! master the test types into and reads from, expect-style.

use std::io::Write as _;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::Tool;

/// A tool running on a terminal of the test's own.
pub struct Terminal {
    master: std::fs::File,
    /// The test's own descriptor of the slave: its termios are the tool's terminal's.
    slave: OwnedFd,
    /// The terminal's mode before the tool started (a tool that goes raw at once would
    /// otherwise be seen raw by a first look taken after spawn returns).
    initial: Mode,
    child: Child,
    /// Everything the terminal printed so far.
    pub transcript: String,
    read_upto: usize,
}

/// The parts of a termios that raw mode changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub iflag: libc::tcflag_t,
    pub oflag: libc::tcflag_t,
    pub lflag: libc::tcflag_t,
}

impl Mode {
    pub fn canonical(&self) -> bool {
        self.lflag & libc::ICANON != 0
    }
    pub fn echoes(&self) -> bool {
        self.lflag & libc::ECHO != 0
    }
}

impl Terminal {
    /// Start `tool` on a new pty of `rows` x `cols`.
    pub fn spawn(tool: Tool, rows: u16, cols: u16) -> Terminal {
        let (mut master, mut slave) = (-1, -1);
        let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: openpty writes two descriptors; the name and termios pointers may be null.
        let r = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
        assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: openpty just gave us both descriptors.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        for fd in [&master, &slave] {
            // SAFETY: F_SETFD on a descriptor we own.
            unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        // SAFETY: F_SETFL on a descriptor we own: reads must not block the test.
        unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        let stdio = || Stdio::from(slave.try_clone().expect("dup slave"));
        let mut cmd = tool.command();
        cmd.stdin(stdio()).stdout(stdio()).stderr(stdio());
        // SAFETY: setsid, ioctl and signal are async-signal-safe; the child makes the pty its terminal.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // A terminal session starts with the keyboard's signals at their defaults, as a
                // login gives them. A test run started as a script's background job inherits
                // SIGINT and SIGQUIT ignored, the tools pass dispositions on as exec does, and
                // the shell's jobs keep them: Ctrl-C then stops nothing.
                for sig in [libc::SIGINT, libc::SIGQUIT, libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
                    libc::signal(sig, libc::SIG_DFL);
                }
                Ok(())
            });
        }
        let initial = mode_of(&slave);
        let child = cmd.spawn().expect("spawn under a pty");
        let master = std::fs::File::from(master);
        Terminal { master, slave, initial, child, transcript: String::new(), read_upto: 0 }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Type `text` (bytes as they are: "\x03" is Ctrl-C, "\x04" Ctrl-D).
    pub fn send(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).expect("write to the pty");
    }

    /// Read what is there now.
    fn pump(&mut self, wait: Duration) {
        let mut fds = [libc::pollfd { fd: self.master.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        // SAFETY: one pollfd, ours.
        unsafe { libc::poll(fds.as_mut_ptr(), 1, wait.as_millis() as i32) };
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: read into our buffer from our descriptor (non-blocking).
            let n = unsafe { libc::read(self.master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return;
            }
            self.transcript.push_str(&String::from_utf8_lossy(&buf[..n as usize]));
        }
    }

    /// Wait until the output since the last `expect` contains `needle`; the text up to it is
    /// returned. Panics with the transcript after `secs`.
    pub fn expect(&mut self, needle: &str, secs: u64) -> String {
        match self.try_expect(needle, secs) {
            Some(seen) => seen,
            None => panic!("no {needle:?} within {secs} s; the terminal showed:\n{}", self.transcript),
        }
    }

    /// [`Terminal::expect`], or `None` after `secs`, for a test that explains the failure itself.
    pub fn try_expect(&mut self, needle: &str, secs: u64) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(at) = self.transcript[self.read_upto..].find(needle) {
                let end = self.read_upto + at + needle.len();
                let seen = self.transcript[self.read_upto..end].to_string();
                self.read_upto = end;
                return Some(seen);
            }
            if Instant::now() >= deadline {
                return None;
            }
            self.pump(Duration::from_millis(50));
        }
    }

    /// The tool's terminal mode now.
    pub fn mode(&self) -> Mode {
        mode_of(&self.slave)
    }

    /// The terminal's mode before the tool started: what it must be given back.
    pub fn initial_mode(&self) -> Mode {
        self.initial
    }

    /// Resize the terminal (the kernel sends SIGWINCH to its foreground process group).
    pub fn resize(&mut self, rows: u16, cols: u16) {
        let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ reads one winsize.
        assert_eq!(unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) }, 0);
    }

    /// Wait for the tool to exit (reading its output meanwhile): its status as a shell shows it.
    pub fn wait(&mut self, secs: u64) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            self.pump(Duration::from_millis(20));
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.pump(Duration::from_millis(50));
                return status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the tool did not end within {secs} s; the terminal showed:\n{}", self.transcript);
            }
        }
    }
}

fn mode_of(slave: &OwnedFd) -> Mode {
    // SAFETY: tcgetattr fills the zeroed termios we pass.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: a descriptor we own, a termios of ours.
    assert_eq!(unsafe { libc::tcgetattr(slave.as_raw_fd(), &mut t) }, 0);
    Mode { iflag: t.c_iflag, oflag: t.c_oflag, lflag: t.c_lflag }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
