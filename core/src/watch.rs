//! Waiting for cgroup events without polling files: inotify(7) for files the kernel marks as
//! modified and for directories made or removed, eventfd(2) for v1's memory.oom_control, and
//! signalfd(2) for SIGINT/SIGTERM, all in one poll(2).
//!
//! Rules that bite:
//! - A cgroup file with events (v2 memory.events, pids.events on v1 and v2) raises IN_MODIFY when
//!   a counter in it changes (cgroup_file_notify); reading it then says which.
//! - v1 memory.oom_control raises nothing through inotify: an eventfd is registered by writing
//!   "EVENTFD_FD OOM_CONTROL_FD" to the group's cgroup.event_control; the kernel signals it when
//!   the group enters OOM (before the kill counter moves), and once more when the group is
//!   removed. The oom_control descriptor must stay open while the registration lives.
//! - mkdir/rmdir of a cgroup raise IN_CREATE/IN_DELETE on the parent like any directory; a
//!   removed group's own watches end with IN_IGNORED.
//! - v1 pids.events raises no IN_MODIFY on some kernels (6.18's legacy file has no notifier),
//!   but the kernel logs `cgroup: fork rejected by pids controller in PATH` on a group's first
//!   refusal: /dev/kmsg, read from its end, wakes the caller then. Later refusals of the same
//!   group are logged no more, so they are seen at the next wake-up of any kind.
//! - SIGINT and SIGTERM are blocked and read from a signalfd, so they end the wait cleanly; the
//!   caller must not have started threads (the mask is per thread).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::trace::{self, Step};

/// What woke the wait up. Tokens are the caller's, given when watching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// A watched file changed.
    Modified(u64),
    /// Something was made or removed in a watched directory.
    DirChanged(u64),
    /// A watch ended: its file or directory is gone.
    Gone(u64),
    /// A v1 OOM eventfd fired.
    Oom(u64),
    /// The kernel logged a fork refused by a pids limit (some group's pids.events rose).
    ForkRejected,
    /// SIGINT or SIGTERM.
    Interrupted,
    /// The reader of stdout went away (`| head -1`).
    OutputClosed,
    /// The timeout passed with nothing to report.
    Timeout,
}

/// One v1 OOM registration: the eventfd and the memory.oom_control it watches.
struct OomWatch {
    event: EventFd,
    _control: File,
}

/// inotify watches, OOM eventfds and the signals, waited on together.
pub struct Watcher {
    inotify: Inotify,
    watches: HashMap<WatchDescriptor, (u64, bool)>,
    ooms: Vec<(u64, OomWatch)>,
    signals: SignalFd,
    kmsg: Option<File>,
}

impl Watcher {
    /// Block SIGINT and SIGTERM (this thread) and open the inotify and signal descriptors.
    pub fn new() -> anyhow::Result<Watcher> {
        let ended = vec![Signal::SIGINT, Signal::SIGTERM];
        let mask: SigSet = ended.iter().copied().collect();
        trace::run(Step::SigBlock(ended.clone()), || mask.thread_block())?;
        let signals = trace::run(Step::Signalfd(ended), || {
            SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        })?;
        let inotify = trace::run(Step::InotifyInit, || Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK))?;
        Ok(Watcher { inotify, watches: HashMap::new(), ooms: Vec::new(), signals, kmsg: None })
    }

    /// Wake with `Modified(token)` when the kernel marks `file` modified.
    pub fn watch_file(&mut self, file: &Path, token: u64) -> anyhow::Result<()> {
        self.add(file, AddWatchFlags::IN_MODIFY, "IN_MODIFY", token, false)
    }

    /// Wake with `DirChanged(token)` when a directory is made or removed in `dir`.
    pub fn watch_dir(&mut self, dir: &Path, token: u64) -> anyhow::Result<()> {
        let flags = AddWatchFlags::IN_CREATE | AddWatchFlags::IN_DELETE | AddWatchFlags::IN_ONLYDIR;
        self.add(dir, flags, "IN_CREATE|IN_DELETE|IN_ONLYDIR", token, true)
    }

    fn add(
        &mut self,
        path: &Path,
        flags: AddWatchFlags,
        names: &'static str,
        token: u64,
        dir: bool,
    ) -> anyhow::Result<()> {
        let step = Step::InotifyAddWatch { path: path.to_path_buf(), mask: names };
        let wd = trace::run(step, || self.inotify.add_watch(path, flags))?;
        self.watches.insert(wd, (token, dir));
        Ok(())
    }

    /// v1: wake with `Oom(token)` when the group whose memory directory is `dir` goes OOM.
    pub fn watch_oom_v1(&mut self, dir: &Path, token: u64) -> anyhow::Result<()> {
        let control_path = dir.join("memory.oom_control");
        let control = trace::run_io(Step::Open(control_path.clone()), || File::open(&control_path))?;
        let event = trace::run(Step::Eventfd, || EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK))?;
        let line = format!("{} {}", event.as_fd().as_raw_fd(), control.as_raw_fd());
        trace::write_file(dir.join("cgroup.event_control"), line)?;
        self.ooms.push((token, OomWatch { event, _control: control }));
        Ok(())
    }

    /// Wake with `ForkRejected` when the kernel logs a fork refused by a pids limit (for v1
    /// pids.events, which may raise no inotify event). Idempotent.
    pub fn watch_fork_rejections(&mut self) -> anyhow::Result<()> {
        if self.kmsg.is_some() {
            return Ok(());
        }
        let path = Path::new("/dev/kmsg");
        let mut kmsg = trace::run_io(Step::Open(path.to_path_buf()), || {
            std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open(path)
        })?;
        // Only what is logged from now on.
        trace::run_io(Step::SeekEnd(path.to_path_buf()), || kmsg.seek(SeekFrom::End(0)))?;
        self.kmsg = Some(kmsg);
        Ok(())
    }

    /// Stop watching the OOM eventfd of `token` (its group is gone).
    pub fn forget_oom(&mut self, token: u64) {
        self.ooms.retain(|(t, _)| *t != token);
    }

    /// Forget every inotify watch of `token` (the kernel drops them itself when the file goes).
    pub fn forget(&mut self, token: u64) {
        let wds: Vec<WatchDescriptor> =
            self.watches.iter().filter(|(_, (t, _))| *t == token).map(|(w, _)| *w).collect();
        for wd in wds {
            self.watches.remove(&wd);
            let _ = self.inotify.rm_watch(wd);
        }
    }

    /// Wait for the next wake-ups (several may come at once), at most `timeout`.
    pub fn wait(&mut self, timeout: Option<Duration>) -> anyhow::Result<Vec<Wake>> {
        let stdout = std::io::stdout();
        let mut fds = vec![
            PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.signals.as_fd(), PollFlags::POLLIN),
            // No event asked: a pipe whose reader left still reports POLLERR.
            PollFd::new(stdout.as_fd(), PollFlags::empty()),
        ];
        fds.extend(self.ooms.iter().map(|(_, o)| PollFd::new(o.event.as_fd(), PollFlags::POLLIN)));
        if let Some(k) = &self.kmsg {
            fds.push(PollFd::new(k.as_fd(), PollFlags::POLLIN));
        }
        let timeout = match timeout {
            Some(t) => PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX),
            None => PollTimeout::NONE,
        };
        match poll(&mut fds, timeout) {
            Ok(0) => return Ok(vec![Wake::Timeout]),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Ok(Vec::new()),
            Err(e) => anyhow::bail!("poll: {}", e.desc()),
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        let mut wakes = Vec::new();
        if ready[1] {
            while let Ok(Some(_)) = self.signals.read_signal() {}
            wakes.push(Wake::Interrupted);
        }
        if ready[2] {
            wakes.push(Wake::OutputClosed);
        }
        if ready[0] {
            self.read_inotify(&mut wakes);
        }
        for (i, (token, oom)) in self.ooms.iter().enumerate() {
            if ready[3 + i] {
                let _ = oom.event.read();
                wakes.push(Wake::Oom(*token));
            }
        }
        if ready.len() > 3 + self.ooms.len() && ready[3 + self.ooms.len()] && self.read_kmsg() {
            wakes.push(Wake::ForkRejected);
        }
        Ok(wakes)
    }

    /// Read the new kernel log records: whether one is a fork refused by a pids limit.
    fn read_kmsg(&mut self) -> bool {
        let Some(kmsg) = self.kmsg.as_mut() else { return false };
        let mut record = [0u8; 8192];
        let mut rejected = false;
        // One record per read; EAGAIN when there is no more, EPIPE when records were overwritten.
        for _ in 0..1024 {
            match kmsg.read(&mut record) {
                Ok(0) => break,
                Ok(n) => rejected |= record[..n].windows(32).any(|w| w == b"fork rejected by pids controller"),
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(_) => break,
            }
        }
        rejected
    }

    fn read_inotify(&mut self, wakes: &mut Vec<Wake>) {
        while let Ok(events) = self.inotify.read_events() {
            for e in events {
                let Some(&(token, dir)) = self.watches.get(&e.wd) else { continue };
                let wake = if e.mask.contains(AddWatchFlags::IN_IGNORED) {
                    self.watches.remove(&e.wd);
                    Wake::Gone(token)
                } else if dir {
                    Wake::DirChanged(token)
                } else {
                    Wake::Modified(token)
                };
                if !wakes.contains(&wake) {
                    wakes.push(wake);
                }
            }
        }
    }
}
