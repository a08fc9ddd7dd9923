//! `features` (runtime-spec features.md) and `spec` (a starting config.json that isolab-oci runs).

use serde_json::{json, Value};

use crate::compose::NsexecFeatures;

/// What this runtime supports, given what the installed nsexec can do.
pub fn features(nsexec: NsexecFeatures) -> Value {
    let caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::state::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "poststart", "poststop"],
        "mountOptions": ["bind", "rbind", "ro", "rw"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": {"enabled": nsexec.seccomp},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "org.isolab.oci.composition": "cgexec-rs -> nsenter-lite -> nsexec -> init",
            "org.isolab.oci.nsexec.masked-paths": nsexec.mask_path.to_string()
        }
    })
}

/// runc spec's config, less what nsexec cannot do yet (masked and read-only paths, mqueue and
/// cgroup mounts) and with terminal off, so that `isolab-oci run` takes it as it is.
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
            let features = NsexecFeatures::default();
            crate::compose::nsexec_args(&cfg, &dir, features, std::path::Path::new("/s"), &mut notes).unwrap();
            assert_eq!(cfg.process.unwrap().args, vec!["sh".to_string()]);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn features_say_what_nsexec_can_do() {
        let f = features(NsexecFeatures::default());
        assert_eq!(f["linux"]["seccomp"]["enabled"], false);
        assert_eq!(f["linux"]["cgroup"]["systemd"], false);
        assert!(f["hooks"].as_array().unwrap().iter().any(|h| h == "createRuntime"));
        let with = features(NsexecFeatures::from_help("--security-opt"));
        assert_eq!(with["linux"]["seccomp"]["enabled"], true);
    }
}
