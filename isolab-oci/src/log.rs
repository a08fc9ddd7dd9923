//! Warnings and errors: one line on stderr, and, with `--log FILE`, the same line in FILE as
//! runc writes it (`--log-format json`: `{"level":"error","msg":"...","time":"..."}`), which is
//! where podman and containerd look for a runtime's reason.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::args::LogFormat;

static LOG: OnceLock<(PathBuf, LogFormat)> = OnceLock::new();

pub fn init(file: Option<PathBuf>, format: LogFormat) {
    if let Some(f) = file {
        let _ = LOG.set((f, format));
    }
}

/// Append one entry to the --log file, if any.
pub fn write(level: &str, msg: &str) {
    let Some((file, format)) = LOG.get() else { return };
    let time = crate::state::now_rfc3339();
    let line = match format {
        LogFormat::Json => serde_json::json!({"level": level, "msg": msg, "time": time}).to_string(),
        LogFormat::Text => format!("time=\"{time}\" level={level} msg={msg:?}"),
    };
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(file) {
        let _ = writeln!(f, "{line}");
    }
}

/// A warning line (`isolab-oci: warning: ...`) on stderr and in the log.
pub fn warn(msg: impl std::fmt::Display) {
    let msg = msg.to_string();
    isolab_core::exit::warn(&msg);
    write("warning", &msg);
}
