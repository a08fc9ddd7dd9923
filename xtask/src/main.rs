//! xtask: man pages and shell completions from the tools' clap definitions (`make install`).
//!
//!   cargo run -p xtask -- man DIR
//!   cargo run -p xtask -- completions BASH_DIR ZSH_DIR FISH_DIR

use std::path::Path;

use anyhow::{bail, Context as _};
use clap::CommandFactory as _;
use clap_complete::Shell;

fn commands() -> Vec<clap::Command> {
    vec![
        nsexec::args::Args::command(),
        nsenter_lite::args::Args::command(),
        cgexec_rs::args::Args::command(),
        netexec::args::Args::command(),
        idmap::args::Args::command(),
        cgstat::args::Args::command(),
        isolab_oci::args::Args::command(),
    ]
}

/// The `after_help` text split into its upper-case headed sections (EXAMPLES:, EXIT STATUS:).
fn extra_sections(cmd: &clap::Command) -> Vec<(String, String)> {
    let text = cmd.get_after_help().map(|h| h.to_string()).unwrap_or_default();
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let head =
            line.strip_suffix(':').filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_uppercase() || c == ' '));
        match (head, sections.last_mut()) {
            (Some(h), _) => sections.push((h.to_string(), String::new())),
            (None, Some((_, body))) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    sections
}

/// roff for a preformatted section: no filling, no hyphenation, backslashes and leading dots escaped.
fn roff_section(title: &str, body: &str) -> String {
    let mut out = format!(".SH \"{title}\"\n.nf\n");
    for line in body.trim_end().lines() {
        let line = line.replace('\\', "\\e");
        if line.starts_with('.') || line.starts_with('\'') {
            out.push_str("\\&");
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(".fi\n");
    out
}

fn man(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for cmd in commands() {
        let path = dir.join(format!("{}.1", cmd.get_name()));
        let sections = extra_sections(&cmd);
        let has_version = cmd.get_version().is_some();
        let page = clap_mangen::Man::new(cmd.clone().after_help(None::<&str>));
        let mut out = Vec::new();
        page.render_title(&mut out)?;
        page.render_name_section(&mut out)?;
        page.render_synopsis_section(&mut out)?;
        page.render_description_section(&mut out)?;
        page.render_options_section(&mut out)?;
        for (title, body) in &sections {
            out.extend(roff_section(title, body).into_bytes());
        }
        if has_version {
            page.render_version_section(&mut out)?;
        }
        std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn completions(dirs: &[String]) -> anyhow::Result<()> {
    let [bash, zsh, fish] = dirs else { bail!("usage: completions BASH_DIR ZSH_DIR FISH_DIR") };
    for (shell, dir) in [(Shell::Bash, bash), (Shell::Zsh, zsh), (Shell::Fish, fish)] {
        std::fs::create_dir_all(dir)?;
        for mut cmd in commands() {
            let name = cmd.get_name().to_string();
            clap_complete::generate_to(shell, &mut cmd, name, dir)?;
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((cmd, [dir])) if cmd == "man" => man(Path::new(dir)),
        Some((cmd, dirs)) if cmd == "completions" => completions(dirs),
        _ => bail!("usage: xtask man DIR | xtask completions BASH_DIR ZSH_DIR FISH_DIR"),
    }
}
