//! `features` (runtime-spec features.md) and `spec` (a starting config.json that isolab-oci runs).

use isolab_core::{capabilities, seccomp};
use serde_json::{json, Value};

/// The mount options nsexec applies to a bind mount (`--bind SRC:DST[:ro]`); others are listed
/// as not applied in create's warning line.
pub const MOUNT_OPTIONS: [&str; 6] = ["bind", "rbind", "ro", "rw", "private", "rprivate"];

/// What this runtime supports: what the tools it composes apply, as core knows it (the seccomp
/// compiler's actions, operators and architectures; the capabilities this kernel has).
pub fn features() -> Value {
    let caps: Vec<String> = capabilities::set_of(capabilities::all_supported()).iter().map(|c| c.to_string()).collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::state::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": {
                "enabled": true,
                "actions": seccomp::ACTIONS,
                "operators": seccomp::OPERATORS,
                "archs": seccomp::ARCHES,
                "knownFlags": seccomp::FLAGS,
                "supportedFlags": seccomp::FLAGS
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "org.isolab.oci.composition": "cgexec-rs -> nsenter-lite -> nsexec -> init"
        }
    })
}

/// runc spec's config, less its mqueue and cgroup mounts (nsexec mounts the container's cgroup
/// view itself) and with terminal off, so that `isolab-oci run` takes it as it is.
pub fn spec(rootless: bool) -> Value {
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "network"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    if rootless {
        namespaces.push(json!({"type": "user"}));
    }
    json!({
        "ociVersion": crate::state::OCI_VERSION,
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "isolab",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "maskedPaths": isolab_core::mount::DOCKER_MASKED,
            "readonlyPaths": isolab_core::mount::DOCKER_READONLY,
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": namespaces
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_is_a_config_isolab_oci_takes_as_it_is() {
        let dir = std::env::temp_dir().join(format!("isolab-oci-spec-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        for rootless in [false, true] {
            let cfg = crate::config::parse(&spec(rootless).to_string(), &dir).unwrap();
            let mut notes = vec![];
            crate::compose::nsexec_args(&cfg, &dir, &[], std::path::Path::new("/s"), &mut notes).unwrap();
            assert!(notes.is_empty(), "{notes:?}");
            assert_eq!(cfg.process.unwrap().args, vec!["sh".to_string()]);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn features_say_what_the_tools_apply() {
        let f = features();
        assert_eq!(f["linux"]["seccomp"]["enabled"], true);
        assert!(f["linux"]["seccomp"]["actions"].as_array().unwrap().iter().any(|a| a == "SCMP_ACT_ERRNO"));
        assert!(f["linux"]["seccomp"]["archs"].as_array().unwrap().iter().any(|a| a == "SCMP_ARCH_X86_64"));
        assert!(f["linux"]["capabilities"].as_array().unwrap().iter().any(|c| c == "CAP_SYS_ADMIN"));
        assert_eq!(f["linux"]["cgroup"]["systemd"], false);
        assert!(f["hooks"].as_array().unwrap().iter().any(|h| h == "createRuntime"));
        assert_eq!(f["mountOptions"].as_array().unwrap().len(), MOUNT_OPTIONS.len());
    }
}
