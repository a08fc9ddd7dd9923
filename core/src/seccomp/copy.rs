//! Another process's seccomp filters, read from outside with ptrace(2)
//! PTRACE_SECCOMP_GET_FILTER, so that a command run in its namespaces gets the very same filters
//! (`docker exec` gets the container's). See ptrace(2), seccomp(2), proc(5) Seccomp_filters.
//!
//! Rules that bite:
//! - PTRACE_SECCOMP_GET_FILTER needs CAP_SYS_ADMIN in the initial user namespace, and a reader
//!   without a filter of its own (EACCES otherwise): it is checkpoint/restore's interface, closed
//!   to everyone else, so a rootless container's owner cannot read its filters at all.
//! - The target must be in a ptrace-stop of ours. PTRACE_SEIZE attaches without stopping it or
//!   sending it a signal; PTRACE_INTERRUPT stops it; waitpid reports the stop; PTRACE_DETACH lets
//!   it go. The stop lasts the few system calls in between (tens of microseconds). A system call
//!   it was blocked in is restarted by the kernel, as after any stop that delivers no signal; its
//!   parent sees nothing (a tracee's stops are reported to the tracer only).
//! - While it is seized, a signal sent to the target stops it first (signal-delivery-stop): that
//!   signal is handed back at PTRACE_DETACH, so nothing is lost. A target stopped already (a
//!   group-stop, SIGSTOP) reports that stop and stays stopped after the detach.
//! - A process traced already (strace, gdb) cannot be seized: EPERM, as under Yama's
//!   ptrace_scope 3.
//! - Filters are numbered from the newest (index 0), and each was installed on top of the older
//!   ones: the copy installs them oldest first. Of the flags a filter was loaded with, the kernel
//!   gives back only SECCOMP_FILTER_FLAG_LOG (PTRACE_SECCOMP_GET_METADATA); the copies are loaded
//!   without SECCOMP_FILTER_FLAG_SPEC_ALLOW, the stricter choice (the speculative store bypass
//!   mitigation stays on).

use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::bpf::Insn;
use crate::trace::{self, Errno, Step};

/// PTRACE_SECCOMP_GET_FILTER and PTRACE_SECCOMP_GET_METADATA (Linux 4.4 and 4.16,
/// include/uapi/linux/ptrace.h): the gnu libc crate does not define them.
const PTRACE_SECCOMP_GET_FILTER: libc::c_uint = 0x420c;
const PTRACE_SECCOMP_GET_METADATA: libc::c_uint = 0x420d;
/// SECCOMP_FILTER_FLAG_LOG, the one flag the metadata gives back.
const FILTER_FLAG_LOG: u64 = 1 << 1;

/// `struct seccomp_metadata`.
#[repr(C)]
#[derive(Default)]
struct Metadata {
    filter_off: u64,
    flags: u64,
}

/// One filter as the target has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub program: Vec<Insn>,
    /// The load flags that can be read back (SECCOMP_FILTER_FLAG_LOG or 0).
    pub flags: u32,
}

/// Why this process cannot read another's filters, in words; None if it may.
pub fn why_unreadable() -> Option<String> {
    let own = crate::procfs::status(std::process::id() as i32).unwrap_or_default();
    if own.seccomp.is_some_and(|m| m != 0) {
        return Some("this process has a seccomp filter of its own (PTRACE_SECCOMP_GET_FILTER answers EACCES)".into());
    }
    let initial = std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"]);
    let admin = crate::capabilities::capget()
        .is_ok_and(|(effective, ..)| effective & caps::Capability::CAP_SYS_ADMIN.bitmask() != 0);
    if !(initial && admin) {
        return Some("PTRACE_SECCOMP_GET_FILTER needs CAP_SYS_ADMIN in the initial user namespace".into());
    }
    None
}

/// Read every filter of process `pid` (which has some: `Seccomp: 2`), oldest first. The target
/// is stopped for the time of the reads (see the module's comment).
pub fn read_filters(pid: i32) -> anyhow::Result<Vec<Copied>> {
    let target = Pid::from_raw(pid);
    trace::run(Step::Ptrace { request: "PTRACE_SEIZE", pid, arg: "0".into() }, || {
        ptrace::seize(target, ptrace::Options::empty())
    })?;
    let stopped =
        trace::run(Step::Ptrace { request: "PTRACE_INTERRUPT", pid, arg: "0".into() }, || ptrace::interrupt(target))
            .and_then(|()| wait_for_stop(target));
    // Exited (or never stopped): nothing to detach from.
    let handed_back = stopped?;
    let filters = read_stopped(pid);
    let shown = handed_back.map_or("0".to_string(), |s| s.to_string());
    trace::run(Step::Ptrace { request: "PTRACE_DETACH", pid, arg: shown }, || ptrace::detach(target, handed_back))?;
    let mut filters = filters?;
    filters.reverse();
    Ok(filters)
}

/// Wait until the seized `target` reports a ptrace-stop; the signal it was about to receive, if
/// the stop is a signal-delivery-stop (to hand back at the detach).
fn wait_for_stop(target: Pid) -> anyhow::Result<Option<Signal>> {
    let pid = target.as_raw();
    loop {
        let status = waitpid(target, Some(WaitPidFlag::__WALL));
        trace::explain(&Step::Wait(pid), status.as_ref().err().copied());
        match status {
            Ok(WaitStatus::Stopped(_, signal)) => return Ok(Some(signal)),
            Ok(WaitStatus::PtraceEvent(..) | WaitStatus::PtraceSyscall(_)) => return Ok(None),
            Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => {
                anyhow::bail!("process {pid} exited while its seccomp filters were read")
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => anyhow::bail!("waiting for process {pid} to stop: {}", e.desc()),
        }
    }
}

/// The filters of a stopped tracee, newest first.
fn read_stopped(pid: i32) -> anyhow::Result<Vec<Copied>> {
    let mut filters = Vec::new();
    for index in 0.. {
        // First the length (a null buffer), then the instructions.
        let step = Step::Ptrace { request: "PTRACE_SECCOMP_GET_FILTER", pid, arg: format!("{index}, NULL") };
        let len = match get_filter(pid, index, None) {
            Err(Errno::ENOENT) if index > 0 => break, // no filter at that index: all read
            counted => trace::run(step, || counted)?,
        };
        let mut raw = vec![libc::sock_filter { code: 0, jt: 0, jf: 0, k: 0 }; len];
        let step = Step::Ptrace { request: "PTRACE_SECCOMP_GET_FILTER", pid, arg: format!("{index}, buf[{len}]") };
        trace::run(step, || get_filter(pid, index, Some(&mut raw)))?;
        let mut meta = Metadata { filter_off: index, flags: 0 };
        let step = Step::Ptrace { request: "PTRACE_SECCOMP_GET_METADATA", pid, arg: format!("{{filter_off={index}}}") };
        // Linux 4.16; without it the flags are unknown (0).
        let _ = trace::run(step, || get_metadata(pid, &mut meta));
        let program = raw.iter().map(|i| Insn { code: i.code, jt: i.jt, jf: i.jf, k: i.k }).collect();
        filters.push(Copied { program, flags: (meta.flags & FILTER_FLAG_LOG) as u32 });
    }
    Ok(filters)
}

fn get_filter(pid: i32, index: u64, buf: Option<&mut [libc::sock_filter]>) -> nix::Result<usize> {
    let ptr = buf.map_or(std::ptr::null_mut(), |b| b.as_mut_ptr());
    // SAFETY: with a null buffer the kernel only counts; otherwise `buf` holds as many
    // instructions as it said the filter has (a filter never changes once installed).
    let r = unsafe { libc::ptrace(PTRACE_SECCOMP_GET_FILTER as _, pid, index as libc::c_ulong, ptr) };
    Errno::result(r).map(|n| n as usize)
}

fn get_metadata(pid: i32, meta: &mut Metadata) -> nix::Result<()> {
    // SAFETY: the kernel reads filter_off and writes both fields of the struct we pass, of the size we pass.
    let r = unsafe {
        libc::ptrace(PTRACE_SECCOMP_GET_METADATA as _, pid, std::mem::size_of::<Metadata>(), meta as *mut Metadata)
    };
    Errno::result(r).map(drop)
}

/// Install `filters` (oldest first) on this process, each as the target had it.
pub fn load(filters: &[Copied], from: i32) -> anyhow::Result<()> {
    for (n, f) in filters.iter().enumerate() {
        let what = format!("process {from}'s filter {} of {}", n + 1, filters.len());
        super::load_program(&f.program, f.flags, what)?;
    }
    Ok(())
}
