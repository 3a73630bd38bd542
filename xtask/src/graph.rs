//! `cargo xtask graph`: a picture of the running system's capabilities.
//! Boots headless, types `graph --dot` and `shutdown` into the shell, and
//! writes what `graph --dot` printed to `capgraph.dot`, plus `capgraph.svg`
//! when Graphviz's `dot` is installed.

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, Result, bail};

/// The shell's prompt, which ends every command's output.
const PROMPT: &str = "mealy> ";
const COMMAND: &str = "graph --dot";

/// The DOT text between `mealy> graph --dot` and the next prompt.
pub fn dot_from_session(session: &str) -> Option<&str> {
    let start = session.find(&format!("{PROMPT}{COMMAND}\n"))? + PROMPT.len() + COMMAND.len() + 1;
    let rest = &session[start..];
    let end = rest.find(PROMPT)?;
    let dot = &rest[..end];
    dot.trim_start().starts_with("digraph").then_some(dot)
}

pub fn run(out: &Path) -> Result<ExitCode> {
    let xtask = std::env::current_exe().context("cannot find the xtask binary")?;
    let mut child = Command::new(xtask)
        .args(["qemu", "--headless", "--timeout", "180"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo xtask qemu")?;
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(format!("{COMMAND}\nshutdown\n").as_bytes())
            .context("cannot type into the guest")?;
    }
    let session = child.wait_with_output().context("cannot wait for QEMU")?;
    let text = String::from_utf8_lossy(&session.stdout);
    let Some(dot) = dot_from_session(&text) else {
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
    let svg_path = out.join("capgraph.svg");
    match Command::new("dot")
        .args(["-Tsvg", "-o"])
        .arg(&svg_path)
        .arg(&dot_path)
        .status()
    {
        Ok(status) if status.success() => println!("xtask: wrote {}", svg_path.display()),
        Ok(status) => bail!("Graphviz's dot failed ({status}) on {}", dot_path.display()),
        Err(_) => {
            println!("xtask: no SVG: Graphviz is not installed (sudo apt-get install graphviz)")
        }
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
            dot_from_session(session),
            Some("digraph caps {\n  a -> b;\n}\n")
        );
    }

    #[test]
    fn an_error_instead_of_a_graph_is_none() {
        assert_eq!(
            dot_from_session("mealy> graph --dot\nerror: graph: x\nmealy> "),
            None
        );
        assert_eq!(dot_from_session("no shell here"), None);
    }
}
