//! Builds the confinement probe (tests/probe/confine-probe.c) as a static binary, so that it
//! runs in a busybox root file system and under runc; tests find it through ISOLAB_PROBE.
//! gcc is there wherever Rust links (cc), and `make deps` installs it too.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = PathBuf::from("probe/confine-probe.c");
    println!("cargo:rerun-if-changed={}", src.display());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("confine-probe");
    let built = Command::new("gcc")
        .args(["-static", "-O2", "-Wall", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .is_ok_and(|s| s.success());
    if built {
        println!("cargo:rustc-env=ISOLAB_PROBE={}", out.display());
    } else {
        println!("cargo:warning=gcc -static failed: the confinement tests will fail (install gcc and libc6-dev)");
        println!("cargo:rustc-env=ISOLAB_PROBE=");
    }
}
