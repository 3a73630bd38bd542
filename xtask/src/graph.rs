//! `cargo xtask graph`: a picture of the running system's capabilities.
//! Boots headless, types `graph --dot` (or `graph --dot --slots`) and
//! `shutdown` into the shell, and writes what the shell printed to
//! `capgraph.dot`, then `capgraph.svg` and `capgraph.png` with Graphviz's
//! `dot`, installing Graphviz first where it can (see `setup.rs`).
//!
//! Without Graphviz the DOT file is still written and the run succeeds: it
//! is the product, and the note says the exact command that adds pictures.

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, Result, bail};

use mealy_protocol::terminal::PROMPT;

use crate::setup;

/// How much the picture shows (the shell's `graph --dot [--slots]`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Detail {
    /// One node per task and per object: who holds what, who reaches whom.
    Objects,
    /// One node per capability, clustered by task, with derivation edges.
    Slots,
}

impl Detail {
    /// The shell command that prints this view.
    pub fn command(self) -> &'static str {
        match self {
            Detail::Objects => "graph --dot",
            Detail::Slots => "graph --dot --slots",
        }
    }
}

/// The DOT text between `mealy> <command>` and the next prompt.
pub fn dot_from_session<'a>(session: &'a str, command: &str) -> Option<&'a str> {
    let echoed = format!("{PROMPT}{command}\n");
    let start = session.find(&echoed)? + echoed.len();
    let rest = &session[start..];
    let end = rest.find(PROMPT)?;
    let dot = &rest[..end];
    dot.trim_start().starts_with("digraph").then_some(dot)
}

pub fn run(out: &Path, detail: Detail) -> Result<ExitCode> {
    let command = detail.command();
    let xtask = std::env::current_exe().context("cannot find the xtask binary")?;
    let mut child = Command::new(xtask)
        .args(["qemu", "--headless", "--timeout", "180"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo xtask qemu")?;
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(format!("{command}\nshutdown\n").as_bytes())
            .context("cannot type into the guest")?;
    }
    let session = child.wait_with_output().context("cannot wait for QEMU")?;
    let text = String::from_utf8_lossy(&session.stdout);
    let Some(dot) = dot_from_session(&text, command) else {
        bail!(
            "the guest printed no graph (status {}):\n{text}",
            session.status
        );
    };
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let dot_path = out.join("capgraph.dot");
    std::fs::write(&dot_path, dot)
        .with_context(|| format!("cannot write {}", dot_path.display()))?;
    println!("xtask: wrote {}", dot_path.display());
    let graphviz = match setup::ensure_graphviz() {
        Ok(graphviz) => graphviz,
        Err(error) => {
            println!("xtask: no SVG or PNG: {error:#}");
            return Ok(ExitCode::SUCCESS);
        }
    };
    for format in ["svg", "png"] {
        let picture = out.join(format!("capgraph.{format}"));
        let status = Command::new(&graphviz)
            .arg(format!("-T{format}"))
            .arg("-o")
            .arg(&picture)
            .arg(&dot_path)
            .status()
            .with_context(|| format!("cannot run {}", graphviz.display()))?;
        if !status.success() {
            bail!("Graphviz's dot failed ({status}) on {}", dot_path.display());
        }
        println!("xtask: wrote {}", picture.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dot_text_is_cut_between_prompts() {
        let session = "banner\nmealy> graph --dot\ndigraph caps {\n  a -> b;\n}\nmealy> shutdown\n";
        assert_eq!(
            dot_from_session(session, Detail::Objects.command()),
            Some("digraph caps {\n  a -> b;\n}\n")
        );
        let slots = "mealy> graph --dot --slots\ndigraph caps {\n}\nmealy> shutdown\n";
        assert_eq!(
            dot_from_session(slots, Detail::Slots.command()),
            Some("digraph caps {\n}\n")
        );
        assert_eq!(dot_from_session(slots, Detail::Objects.command()), None);
    }

    #[test]
    fn an_error_instead_of_a_graph_is_none() {
        assert_eq!(
            dot_from_session(
                "mealy> graph --dot\nerror: graph: x\nmealy> ",
                Detail::Objects.command()
            ),
            None
        );
        assert_eq!(
            dot_from_session("no shell here", Detail::Objects.command()),
            None
        );
    }
}
