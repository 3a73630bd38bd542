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

/// The DOT text between `mealy> <command>` and the next prompt, without
/// the kernel's log lines that landed in it.
pub fn dot_from_session(session: &str, command: &str) -> Option<String> {
    let echoed = format!("{PROMPT}{command}\n");
    let start = session.find(&echoed)? + echoed.len();
    let rest = &session[start..];
    let end = rest.find(PROMPT)?;
    let dot = without_log_lines(&rest[..end]);
    dot.trim_start().starts_with("digraph").then_some(dot)
}

/// `text` without the log lines the kernel writes to the serial port
/// beside the shell's output (`[task] line` for a task's `cx.log`,
/// `[LEVEL module] line` for its own): a large output goes out in chunks,
/// and such a line can land between two, even inside one of the shell's
/// lines. DOT never has `[` followed by a bare word and `] `: its
/// attribute lists are `[key=value, ...]`.
fn without_log_lines(text: &str) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('[') {
        let (before, from) = rest.split_at(at);
        kept.push_str(before);
        match log_line_len(from) {
            Some(len) => rest = &from[len..],
            None => {
                kept.push('[');
                rest = &from[1..];
            }
        }
    }
    kept.push_str(rest);
    kept
}

/// The length of the log line `text` starts with, its newline included.
fn log_line_len(text: &str) -> Option<usize> {
    let close = text.find("] ")?;
    let tag = &text[1..close];
    let task = !tag.is_empty()
        && tag
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let level = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]
        .iter()
        .any(|level| tag.starts_with(level))
        && !tag.contains('=');
    if !(task || level) {
        return None;
    }
    let end = text.find('\n')?;
    (end > close).then_some(end + 1)
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
    std::fs::write(&dot_path, &dot)
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
            dot_from_session(session, Detail::Objects.command()).as_deref(),
            Some("digraph caps {\n  a -> b;\n}\n")
        );
        let slots = "mealy> graph --dot --slots\ndigraph caps {\n}\nmealy> shutdown\n";
        assert_eq!(
            dot_from_session(slots, Detail::Slots.command()).as_deref(),
            Some("digraph caps {\n}\n")
        );
        assert_eq!(dot_from_session(slots, Detail::Objects.command()), None);
    }

    #[test]
    fn log_lines_that_land_in_the_graph_are_left_out() {
        let session = "mealy> graph --dot\n\
            digraph caps {\n  \
            a [shape=box, label=\"x\"];\n  \
            a -> [console] cannot deliver to a display: full (counted from now on)\n\
            b [style=dashed];\n\
            [INFO  mealy_kernel::sched] a line\n\
            }\nmealy> shutdown\n";
        assert_eq!(
            dot_from_session(session, Detail::Objects.command()).as_deref(),
            Some("digraph caps {\n  a [shape=box, label=\"x\"];\n  a -> b [style=dashed];\n}\n")
        );
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
