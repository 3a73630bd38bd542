//! `cargo xtask new-program NAME`: scaffolds a user program under
//! `user/programs/NAME` from `xtask/templates/program/`: a library with
//! the state machine (a `ping` handler, a start line in the log, unit
//! tests over `FakeContext`) and a one-line `src/main.rs` that makes it
//! the program. Nothing else is edited: the workspace takes every crate
//! under `user/programs/`, and `cargo xtask` builds each one and packs it
//! as `/bin/NAME`.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::build::{PROGRAMS_DIR, program_crates};
use crate::new_service::ServiceName;

const CARGO_TEMPLATE: &str = include_str!("../templates/program/Cargo.toml.in");
const LIB_TEMPLATE: &str = include_str!("../templates/program/lib.rs.in");
const MAIN_TEMPLATE: &str = include_str!("../templates/program/main.rs.in");

/// The files of program `name`, by path inside its directory.
pub fn files(name: &ServiceName) -> [(&'static str, String); 3] {
    [
        ("Cargo.toml", name.fill(CARGO_TEMPLATE)),
        ("src/lib.rs", name.fill(LIB_TEMPLATE)),
        ("src/main.rs", name.fill(MAIN_TEMPLATE)),
    ]
}

pub fn run(root: &Path, name: &str) -> Result<()> {
    let program = ServiceName::parse(name)?;
    let dir = root.join(PROGRAMS_DIR).join(&program.name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let taken = program_crates(root)?
        .into_iter()
        .any(|krate| krate.binaries.contains(&program.name));
    if taken {
        bail!("a program named `{}` exists already", program.name);
    }
    for (path, text) in files(&program) {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "xtask: created {PROGRAMS_DIR}/{name} (crate mealy-program-{name}, type {ty}).\n\
         Test it with `cargo test -p mealy-program-{name}`; `cargo xtask programs` builds it, \
         and every boot packs it as /bin/{name}.",
        name = program.name,
        ty = program.type_name
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_completely() {
        let program = ServiceName::parse("clock").unwrap();
        for (path, text) in files(&program) {
            assert!(!text.contains("{{"), "{path}");
        }
        let [(_, cargo), (_, lib), (_, main)] = files(&program);
        assert!(cargo.contains("name = \"mealy-program-clock\""));
        assert!(cargo.contains("[[bin]]\nname = \"clock\""));
        assert!(lib.contains("pub struct Clock {"));
        assert!(lib.contains("clock: started"));
        assert!(main.contains("mealy_user::program!(mealy_program_clock::Clock::new());"));
    }

    /// Scaffolds a program into a copy of the workspace's layout and builds
    /// and tests it there on the host, as `new-program` leaves it.
    #[test]
    fn a_scaffolded_program_builds_and_passes_its_tests() {
        let root = crate::build::workspace_root();
        let scratch = root.join("target/new-program-test");
        let _ = std::fs::remove_dir_all(&scratch);
        let program = ServiceName::parse("scaffold-check").unwrap();
        let dir = scratch.join("user/programs/scaffold-check");
        for (path, text) in files(&program) {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        // The crate's relative paths (../../runtime, ../../../protocol)
        // must resolve as in the real tree: link the siblings in.
        std::os::unix::fs::symlink(root.join("user/runtime"), scratch.join("user/runtime"))
            .unwrap();
        std::fs::create_dir_all(scratch.join("services")).unwrap();
        for sibling in ["protocol", "caps", "services/echo"] {
            std::os::unix::fs::symlink(root.join(sibling), scratch.join(sibling)).unwrap();
        }
        let manifest = "[workspace]\nresolver = \"3\"\nmembers = [\"user/programs/*\"]\n\n\
             [workspace.package]\nversion = \"0.1.0\"\nedition = \"2024\"\n\
             license = \"MIT OR Apache-2.0\"\nrust-version = \"1.95\"\n";
        std::fs::write(scratch.join("Cargo.toml"), manifest).unwrap();
        std::fs::copy(root.join("Cargo.lock"), scratch.join("Cargo.lock")).unwrap();
        let status = std::process::Command::new(crate::build::cargo())
            .args([
                "test",
                "--quiet",
                "--offline",
                "--package",
                "mealy-program-scaffold-check",
            ])
            .env(
                "CARGO_TARGET_DIR",
                root.join("target/new-program-test-target"),
            )
            .current_dir(&scratch)
            .status()
            .unwrap();
        assert!(status.success(), "the scaffolded program's tests failed");
    }
}
