//! Whole-process timing: spawn, wait4(2) for the status and the rusage (peak RSS of the
//! largest process in the waited-for tree), sides of a row run interleaved so that load on a
//! shared machine hits every side alike.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set by SIGINT/SIGTERM: stop measuring, let the fixtures' Drop guards clean up.
pub static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

pub fn catch_interrupts() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    }
}

pub fn stopped() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// One way of doing a row's job: one or more commands run one after the other (libcgroup's
/// cycle is six), timed together; `after` runs untimed after each run (clean-up).
pub struct Side {
    pub label: String,
    pub steps: Vec<Vec<String>>,
    pub after: Option<Box<dyn Fn()>>,
}

impl Side {
    pub fn new(label: &str, argv: &[&str]) -> Side {
        Side { label: label.into(), steps: vec![argv.iter().map(|s| s.to_string()).collect()], after: None }
    }

    pub fn seq(label: &str, steps: Vec<Vec<String>>) -> Side {
        Side { label: label.into(), steps, after: None }
    }

    pub fn after(mut self, f: impl Fn() + 'static) -> Side {
        self.after = Some(Box::new(f));
        self
    }

    /// The command line as shown in the table.
    pub fn shown(&self) -> String {
        self.steps.iter().map(|s| s.join(" ")).collect::<Vec<_>>().join("; ")
    }

    /// Run every step once: wall time and what the kernel charged the process trees, or why
    /// it failed.
    pub fn run_once(&self) -> Result<(Duration, Usage), String> {
        let mut usage = Usage::default();
        let start = Instant::now();
        for argv in &self.steps {
            usage.add(&run_step(argv)?);
        }
        let took = start.elapsed();
        if let Some(f) = &self.after {
            f();
        }
        Ok((took, usage))
    }
}

/// What wait4(2) reports of a waited-for tree (the child and the descendants it waited for):
/// the largest process's peak RSS, and the tree's page faults, context switches and CPU time.
/// This VM has no PMU (`perf stat` counts no instructions), so these explain the wall times.
#[derive(Default, Clone, Copy)]
pub struct Usage {
    pub peak_kib: u64,
    pub faults: u64,
    pub switches: u64,
    pub cpu_us: u64,
}

impl Usage {
    fn add(&mut self, other: &Usage) {
        self.peak_kib = self.peak_kib.max(other.peak_kib);
        self.faults += other.faults;
        self.switches += other.switches;
        self.cpu_us += other.cpu_us;
    }
}

fn run_step(argv: &[String]) -> Result<Usage, String> {
    let pid = spawn(argv)?;
    let (status, usage) = wait4(pid);
    if status != 0 {
        return Err(format!("`{}` exited {}: {}", argv.join(" "), status, rerun_for_stderr(argv)));
    }
    Ok(usage)
}

/// fork + execvp, stdin/stdout/stderr on /dev/null. Not std's Command: it spawns with
/// CLONE_VM (posix_spawn), and exec then charges the harness's own memory to the child's
/// ru_maxrss (the kernel takes the old mm's high-water mark at exec).
fn spawn(argv: &[String]) -> Result<libc::pid_t, String> {
    let c: Vec<CString> =
        argv.iter().map(|a| CString::new(a.as_str()).map_err(|e| e.to_string())).collect::<Result<_, _>>()?;
    let mut ptrs: Vec<*const libc::c_char> = c.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let null = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null").map_err(|e| e.to_string())?;
    // SAFETY: the child calls only async-signal-safe functions (dup2, execvp, _exit) on data
    // prepared before fork.
    match unsafe { libc::fork() } {
        -1 => Err(format!("fork: {}", std::io::Error::last_os_error())),
        0 => unsafe {
            for fd in 0..3 {
                libc::dup2(null.as_raw_fd(), fd);
            }
            libc::execvp(ptrs[0], ptrs.as_ptr());
            libc::_exit(127)
        },
        pid => Ok(pid),
    }
}

/// wait4(2): the exit code (128+N for signal N) and the tree's usage.
fn wait4(pid: libc::pid_t) -> (i32, Usage) {
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: status and usage are valid for writes; pid is our own child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return (125, Usage::default());
        }
    }
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    let u = Usage {
        peak_kib: usage.ru_maxrss as u64,
        faults: (usage.ru_minflt + usage.ru_majflt) as u64,
        switches: (usage.ru_nvcsw + usage.ru_nivcsw) as u64,
        cpu_us: us(usage.ru_utime) + us(usage.ru_stime),
    };
    (code, u)
}

fn rerun_for_stderr(argv: &[String]) -> String {
    let out = Command::new(&argv[0]).args(&argv[1..]).stdin(Stdio::null()).output();
    out.map(|o| String::from_utf8_lossy(&o.stderr).trim().replace('\n', " | ")).unwrap_or_default()
}

/// What one side measured.
#[derive(Default, Clone)]
pub struct Sample {
    pub ms: Vec<f64>,
    pub peak_kib: Vec<u64>,
    pub faults: Vec<u64>,
    pub switches: Vec<u64>,
    pub cpu_us: Vec<u64>,
    pub error: Option<String>,
}

impl Sample {
    pub fn median(&self) -> f64 {
        median(&self.ms)
    }
    pub fn min(&self) -> f64 {
        self.ms.iter().copied().fold(f64::INFINITY, f64::min)
    }
    pub fn max(&self) -> f64 {
        self.ms.iter().copied().fold(0.0, f64::max)
    }
    pub fn peak_median_kib(&self) -> u64 {
        median_u64(&self.peak_kib)
    }
    /// Medians of page faults, context switches and CPU time (ms) per run.
    pub fn why(&self) -> (u64, u64, f64) {
        (median_u64(&self.faults), median_u64(&self.switches), median_u64(&self.cpu_us) as f64 / 1e3)
    }
}

fn median_u64(values: &[u64]) -> u64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Warm every side up, then run them interleaved `runs` times, the order rotating each round
/// (A B C, B C A, C A B...) so that no side always follows the same one. A side that fails
/// stops being run and keeps its error.
pub fn interleave(sides: &[Side], warmup: usize, runs: usize) -> Vec<Sample> {
    let mut samples = vec![Sample::default(); sides.len()];
    for _ in 0..warmup {
        for (side, sample) in sides.iter().zip(samples.iter_mut()) {
            if sample.error.is_none() && !stopped() {
                if let Err(e) = side.run_once() {
                    sample.error = Some(e);
                }
            }
        }
    }
    for round in 0..runs {
        for k in 0..sides.len() {
            let i = (round + k) % sides.len();
            if samples[i].error.is_some() || stopped() {
                continue;
            }
            match sides[i].run_once() {
                Ok((took, u)) => {
                    let s = &mut samples[i];
                    s.ms.push(took.as_secs_f64() * 1e3);
                    s.peak_kib.push(u.peak_kib);
                    s.faults.push(u.faults);
                    s.switches.push(u.switches);
                    s.cpu_us.push(u.cpu_us);
                }
                Err(e) => samples[i].error = Some(e),
            }
        }
    }
    samples
}

/// The median of the pair-by-pair ratios a[i] / b[i] (rounds where both ran).
pub fn paired_ratio(a: &Sample, b: &Sample) -> f64 {
    let ratios: Vec<f64> = a.ms.iter().zip(&b.ms).map(|(x, y)| x / y).collect();
    median(&ratios)
}
