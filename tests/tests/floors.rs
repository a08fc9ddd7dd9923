//! The two floors (DESIGN.md "Layout"), checked on the source: each tool crate owns its flow,
//! core holds the mechanisms and knows no tool. From the crates' `use` lines and the paths the
//! code names (comments and strings left out), and from their Cargo.toml dependencies:
//! - core never imports a tool crate;
//! - no tool crate imports another (they meet only through exec, files and the kernel);
//! - no mechanism module of core imports `cli`, the one module that stands at a tool's front door;
//! - a tool crate makes no syscall of its own: no libc, nix or caps, no `unsafe` (STYLE.md:
//!   "a tool crate that needs a syscall asks core").
//!
//! The tool crates are the workspace's members other than core, tests, xtask and bench, so a new
//! tool (netexec, isolab-oci) is checked as soon as it joins the workspace.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Members that are not tools: the lower floor itself, and what builds, tests and measures.
const NOT_TOOLS: [&str; 4] = ["core", "tests", "xtask", "bench"];
/// What a tool crate may depend on: core, and crates that make no syscall (httparse: cgstat
/// --listen's HTTP/1.x request parser, over a buffer the caller fills; no I/O of its own).
const TOOL_DEPENDENCIES: [&str; 5] = ["isolab-core", "clap", "anyhow", "serde_json", "httparse"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A crate of the workspace: its directory and the name its code calls it by.
struct Crate {
    dir: PathBuf,
    package: String,
    ident: String,
}

fn workspace_crates() -> Vec<Crate> {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let members = manifest.lines().find(|l| l.trim_start().starts_with("members")).expect("workspace members");
    members
        .split('"')
        .skip(1)
        .step_by(2)
        .map(|m| {
            let dir = root().join(m);
            let own = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            let package = toml_value(&own, "name").expect("package name");
            Crate { ident: package.replace('-', "_"), package, dir }
        })
        .collect()
}

fn tools() -> Vec<Crate> {
    workspace_crates().into_iter().filter(|c| !NOT_TOOLS.iter().any(|n| c.dir.ends_with(n))).collect()
}

/// `key = "value"` at the start of a line of a Cargo.toml.
fn toml_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(key).map(str::trim_start).and_then(|r| r.strip_prefix('=')))
        .map(|v| v.trim().trim_matches('"').to_string())
}

/// The `[dependencies]` of a Cargo.toml, by package name.
fn dependencies(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut deps = Vec::new();
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[dependencies]";
        } else if inside && !line.is_empty() && !line.starts_with('#') {
            deps.push(line.split(['=', '.', ' ']).next().unwrap().to_string());
        }
    }
    deps
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// Source text without comments, string and character literals, so that a path in a message
/// ("nsexec --user") or a doc comment is no import.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'r' if matches!(b.get(i + 1), Some(b'"' | b'#')) && (i == 0 || !is_ident(b[i - 1])) => {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
                i += 2 + hashes;
                while i < b.len() && !b[i..].starts_with(&close) {
                    i += 1;
                }
                i += close.len();
                out.push_str("\"\"");
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            b'\'' if b.get(i + 1) == Some(&b'\\') => {
                i += 3;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            b'\'' if b.get(i + 2) == Some(&b'\'') => i += 3,
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Whether `text[at..at + len]` is a whole word.
fn word_at(text: &str, at: usize, len: usize) -> bool {
    let b = text.as_bytes();
    (at == 0 || !is_ident(b[at - 1])) && b.get(at + len).is_none_or(|&c| !is_ident(c))
}

/// Expand `a::{b, c::{d, e as f}, self}` into whole paths, each with the name it binds.
fn expand(tree: &str, prefix: &str, out: &mut Vec<(String, String)>) {
    let tree = tree.trim();
    let join = |p: &str| if prefix.is_empty() { p.to_string() } else { format!("{prefix}::{p}") };
    match tree.find('{') {
        None => {
            let (path, alias) = match tree.split_once(" as ") {
                Some((p, a)) => (p.trim(), Some(a.trim())),
                None => (tree, None),
            };
            let full = if path == "self" { prefix.to_string() } else { join(path) };
            let name = alias.unwrap_or_else(|| full.rsplit("::").next().unwrap()).to_string();
            out.push((full, name));
        }
        Some(open) => {
            let head = tree[..open].trim().trim_end_matches("::");
            let inner = &tree[open + 1..tree.rfind('}').unwrap()];
            let base = if head.is_empty() { prefix.to_string() } else { join(head) };
            let (mut depth, mut start) = (0, 0);
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&inner[start..i], &base, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            if !inner[start..].trim().is_empty() {
                expand(&inner[start..], &base, out);
            }
        }
    }
}

/// Every path a file names, made absolute where it can be: `use` trees expanded, names a `use`
/// binds replaced by where they come from, `super` and `self` by the file's module path.
fn paths(code: &str, module: &[String]) -> Vec<String> {
    let mut used = Vec::new();
    for stmt in code.split(';') {
        // A use tree holds no `use`: the statement is what follows the last one.
        let at = stmt.match_indices("use").filter(|&(i, _)| word_at(stmt, i, 3)).last();
        if let Some((i, _)) = at {
            expand(&stmt[i + 3..], "", &mut used);
        }
    }
    let bound: BTreeMap<String, String> =
        used.iter().filter(|(p, _)| !p.ends_with('*')).map(|(p, name)| (name.clone(), p.clone())).collect();
    let used: Vec<String> = used.into_iter().map(|(p, _)| p).collect();
    let absolute = |p: &str| -> String {
        let mut segs: Vec<&str> = p.split("::").collect();
        let mut base: Vec<String> = module.to_vec();
        match segs[0] {
            "self" => segs.remove(0),
            "super" => {
                while segs.first() == Some(&"super") {
                    segs.remove(0);
                    base.pop();
                }
                ""
            }
            first => match bound.get(first) {
                Some(full) if full != p => return format!("{full}{}", &p[first.len()..]),
                _ => return p.to_string(),
            },
        };
        std::iter::once("crate".to_string())
            .chain(base)
            .chain(segs.iter().map(|s| s.to_string()))
            .collect::<Vec<_>>()
            .join("::")
    };
    let mut all: Vec<String> = used.iter().map(|p| absolute(p)).collect();
    let b = code.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if is_ident(b[i]) && (i == 0 || !(is_ident(b[i - 1]) || b[i - 1] == b':')) {
            let start = i;
            while i < b.len() && (is_ident(b[i]) || (b[i] == b':' && b.get(i + 1) == Some(&b':'))) {
                i += if b[i] == b':' { 2 } else { 1 };
            }
            let path = code[start..i].trim_end_matches(':');
            if path.contains("::") {
                all.push(absolute(path));
            }
        } else {
            i += 1;
        }
    }
    all
}

/// The module path of a source file of a crate: core/src/cgroup/plan.rs -> [cgroup, plan].
fn module_of(src_dir: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src_dir).unwrap().with_extension("");
    let mut segs: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    if matches!(segs.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        segs.pop();
    }
    segs
}

/// What a source file must not name, and why; the violations found, one line each.
struct Rule<'a> {
    /// A path whose first segment is one of these names another crate.
    crates: &'a [String],
    /// A path that starts with one of these (absolute, `crate::...`) is refused.
    modules: &'a [String],
    unsafe_code: bool,
}

fn violations(file: &str, src: &str, module: &[String], rule: &Rule) -> Vec<String> {
    let code = code_only(src);
    let mut found = BTreeSet::new();
    for path in paths(&code, module) {
        let first = path.split("::").next().unwrap();
        if rule.crates.iter().any(|c| c == first) {
            found.insert(format!("{file}: names {path}"));
        }
        if rule.modules.iter().any(|m| path == *m || path.starts_with(&format!("{m}::"))) {
            found.insert(format!("{file}: names {path}"));
        }
    }
    if !rule.unsafe_code && code.split(|c: char| !c.is_alphanumeric() && c != '_').any(|w| w == "unsafe") {
        found.insert(format!("{file}: has unsafe code"));
    }
    found.into_iter().collect()
}

fn check_crate(krate: &Crate, rule_for: impl Fn(&[String]) -> Rule<'static>) -> Vec<String> {
    let src = krate.dir.join("src");
    rust_files(&src)
        .iter()
        .flat_map(|f| {
            let module = module_of(&src, f);
            let shown = f.strip_prefix(root()).unwrap().display().to_string();
            violations(&shown, &std::fs::read_to_string(f).unwrap(), &module, &rule_for(&module))
        })
        .collect()
}

fn leak<T>(v: Vec<T>) -> &'static [T] {
    Box::leak(v.into_boxed_slice())
}

#[test]
fn core_knows_no_tool() {
    let tools = tools();
    assert!(
        tools.len() >= 5,
        "the tool crates were not found: {:?}",
        tools.iter().map(|t| &t.package).collect::<Vec<_>>()
    );
    let core = workspace_crates().into_iter().find(|c| c.package == "isolab-core").unwrap();
    let idents = leak(tools.iter().map(|t| t.ident.clone()).collect());
    let mut found = check_crate(&core, |_| Rule { crates: idents, modules: &[], unsafe_code: true });
    for dep in dependencies(&core.dir.join("Cargo.toml")) {
        if tools.iter().any(|t| t.package == dep) {
            found.push(format!("core/Cargo.toml: depends on {dep}"));
        }
    }
    assert!(found.is_empty(), "core imports a tool:\n{}", found.join("\n"));
}

#[test]
fn no_tool_imports_another() {
    let tools = tools();
    let mut found = Vec::new();
    for tool in &tools {
        let others = leak(tools.iter().filter(|t| t.package != tool.package).map(|t| t.ident.clone()).collect());
        found.extend(check_crate(tool, |_| Rule { crates: others, modules: &[], unsafe_code: true }));
        for dep in dependencies(&tool.dir.join("Cargo.toml")) {
            if tools.iter().any(|t| t.package == dep) {
                found.push(format!("{}/Cargo.toml: depends on {dep}", tool.package));
            }
        }
    }
    assert!(found.is_empty(), "a tool imports another:\n{}", found.join("\n"));
}

#[test]
fn mechanisms_do_not_import_the_front_door() {
    let core = workspace_crates().into_iter().find(|c| c.package == "isolab-core").unwrap();
    let front = leak(vec!["crate::cli".to_string(), "isolab_core::cli".to_string()]);
    let found = check_crate(&core, |module| {
        // lib.rs declares the modules; cli.rs is the front door itself.
        let exempt = module.is_empty() || module[0] == "cli";
        Rule { crates: &[], modules: if exempt { &[] } else { front }, unsafe_code: true }
    });
    assert!(found.is_empty(), "a mechanism of core imports cli:\n{}", found.join("\n"));
}

#[test]
fn tools_make_no_syscall_of_their_own() {
    let syscall_crates = leak(vec!["libc".to_string(), "nix".to_string(), "caps".to_string(), "rustix".to_string()]);
    let mut found = Vec::new();
    for tool in tools() {
        found.extend(check_crate(&tool, |_| Rule { crates: syscall_crates, modules: &[], unsafe_code: false }));
        for dep in dependencies(&tool.dir.join("Cargo.toml")) {
            if !TOOL_DEPENDENCIES.contains(&dep.as_str()) {
                found.push(format!("{}/Cargo.toml: depends on {dep}", tool.package));
            }
        }
    }
    assert!(found.is_empty(), "a tool crate makes syscalls itself (ask core):\n{}", found.join("\n"));
}

// The checker itself: each kind of import it must see, and what it must not mistake for one.
#[test]
fn the_checker_sees_every_way_to_name_a_crate_or_module() {
    let tools = leak(vec!["nsexec".to_string(), "cgstat".to_string()]);
    let cli = leak(vec!["crate::cli".to_string()]);
    let rule = Rule { crates: tools, modules: cli, unsafe_code: false };
    let module = vec!["cgroup".to_string(), "run".to_string()];
    let check = |src: &str| violations("x.rs", src, &module, &rule);
    for bad in [
        "use nsexec::launch;",
        "use nsexec;",
        "pub use cgstat::{render::{self, Sample}, run};",
        "fn f() { nsexec::launch::run(spec) }",
        "use crate::cli::Explain;",
        "use crate::{cli, trace};",
        "fn f() { crate::cli::run() }",
        "use super::super::cli;",
        "use crate::cli as front; fn f() { front::run() }",
        "fn f() { unsafe { g() } }",
    ] {
        assert!(!check(bad).is_empty(), "missed: {bad}");
    }
    for fine in [
        "use crate::trace; // nsexec::launch",
        "/* use crate::cli; */ fn f() {}",
        r#"fn f() { bail!("run nsexec::launch, crate::cli or unsafe") }"#,
        r##"const S: &str = r#"use nsexec::x;"#;"##,
        "use crate::idmap::{self, Which}; fn f() { idmap::render(&[]) }",
        "use super::group::Group; fn f(c: char) -> bool { c == '\"' }",
        "fn f() { let unsafe_count = 1; }",
    ] {
        assert!(check(fine).is_empty(), "mistaken: {fine}: {:?}", check(fine));
    }
    assert_eq!(module_of(Path::new("core/src"), Path::new("core/src/cgroup/mod.rs")), ["cgroup"]);
    assert!(violations("x.rs", "use super::cli;", &["plan".to_string()], &rule).len() == 1, "super from a top module");
}
