//! The tools chained as DESIGN.md opens: cgexec-rs execs nsexec execs the payload; from outside,
//! nsenter-lite --container joins it and cgstat reads it; when the payload ends, nothing remains.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use isolab_tests::{need_root, Tool};

/// A named container running `sleep`, launched through the whole chain.
struct Container {
    name: String,
    child: Child,
}

impl Container {
    fn start(tag: &str) -> Container {
        let name = format!("isolab-test-{}-{tag}", std::process::id());
        let mut cmd = Tool::new("cgexec-rs")
            .args(["--name", &name, "--memory", "100m", "--pids-limit", "64", "--"])
            .arg(isolab_tests::bin("nsexec"))
            .args(["-a", "--init", "--map-users", "0:100000:65536", "--map-groups", "0:100000:65536"])
            .args(["--hostname", &name])
            .args(["--", "sleep", "30"])
            .command();
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let container = Container { name, child: cmd.spawn().unwrap() };
        container.wait_until_running();
        container
    }

    /// Until nsenter-lite finds the group's init (nsexec --init, PID 1 of its namespace).
    fn wait_until_running(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let run = Tool::new("nsenter-lite").args(["--container", &self.name, "-u", "--", "hostname"]).run();
            if run.code == 0 && run.stdout.trim() == self.name {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("container {} did not come up", self.name);
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // SAFETY: kill(2) on cgexec-rs, which we started; it forwards the signal and cleans up.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// The cgroup path of the memory hierarchy (v1) or the unified one (v2) in /proc/self/cgroup text.
fn memory_line(proc_cgroup: &str) -> String {
    let line = proc_cgroup
        .lines()
        .find(|l| l.contains(":memory:"))
        .or_else(|| proc_cgroup.lines().find(|l| l.starts_with("0::")));
    line.unwrap_or_default().to_string()
}

// docker exec: a command run in a container by name joins its namespaces and its cgroups.
#[test]
fn exec_by_name_joins_namespaces_and_group() {
    need_root!("exec_by_name_joins_namespaces_and_group");
    let c = Container::start("exec");
    let inside = Tool::new("nsenter-lite").args(["--container", &c.name, "-a", "--", "cat", "/proc/self/cgroup"]).run();
    inside.ok();
    // In the container's cgroup namespace the group is its root.
    assert!(memory_line(&inside.stdout).ends_with(":/"), "{}", inside.stdout);
    let outside =
        Tool::new("nsenter-lite").args(["--container", &c.name, "-u", "--", "cat", "/proc/self/cgroup"]).run();
    assert!(memory_line(&outside.ok().stdout).ends_with(&format!("/{}", c.name)), "{}", outside.stdout);
    let stay = Tool::new("nsenter-lite")
        .args(["--container", &c.name, "--no-join-cgroup", "-u", "--", "cat", "/proc/self/cgroup"])
        .run();
    assert!(!stay.ok().stdout.contains(&c.name), "{}", stay.stdout);
    let id = Tool::new("nsenter-lite").args(["--container", &c.name, "-a", "--", "id", "-u"]).run();
    assert_eq!(id.ok().stdout.trim(), "0", "root inside the remapped user namespace");
}

// docker stats: the chain's group shows its limit, and its process count includes an exec'd command.
#[test]
fn cgstat_sees_the_chain() {
    need_root!("cgstat_sees_the_chain");
    let c = Container::start("stat");
    let run = Tool::new("cgstat").args(["--no-stream", "--interval", "0.2", "--json", &c.name]).run();
    let v: serde_json::Value = serde_json::from_str(run.ok().stdout.lines().next().unwrap()).unwrap();
    assert!(v["MemUsage"].as_str().unwrap().ends_with(" / 100MiB"), "{v}");
    assert_eq!(v["net_namespace"], "private", "{v}");
}

// Nothing left behind: when the payload ends, the group goes, and cgexec-rs passes its status.
#[test]
fn chain_passes_status_and_leaves_nothing() {
    need_root!("chain_passes_status_and_leaves_nothing");
    let name = format!("isolab-test-{}-status", std::process::id());
    let nsexec = isolab_tests::bin("nsexec");
    let run = Tool::new("cgexec-rs")
        .args(["--name", &name, "--memory", "100m", "--"])
        .arg(&nsexec)
        .args(["-a", "--map-root", "--", "sh", "-c", "exit 42"])
        .run();
    assert_eq!(run.code, 42, "{run:?}");
    let left = Tool::new("cgstat").args(["--no-stream", "--interval", "0.1", &name]).run();
    left.refused("no group named");
}
