//! `cargo xtask new-service NAME`: scaffolds a state-machine crate under
//! `services/NAME` from `xtask/templates/service/`, and wires it in: the
//! workspace members, the kernel's dependencies and the boot task list
//! (`kernel/src/tasks.rs`), each at a `new-service:` marker line. With no
//! further edits the service builds, boots and answers `ping::Ping`
//! (`cargo xtask qemu --cmdline test=ping` shows it).

use std::path::Path;

use anyhow::{Context, Result, bail};

const CARGO_TEMPLATE: &str = include_str!("../templates/service/Cargo.toml.in");
const LIB_TEMPLATE: &str = include_str!("../templates/service/lib.rs.in");

const WORKSPACE_MARKER: &str = "# new-service: services above this line";
const KERNEL_DEPENDENCY_MARKER: &str = "# new-service: service crates above this line";
const FACTORY_MARKER: &str = "// new-service: factories above this line";
const TASK_MARKER: &str = "// new-service: tasks above this line";

/// Names the rest of the system already uses for something else.
const RESERVED: [&str; 6] = ["kernel", "probe", "caps", "protocol", "image", "xtask"];

/// The forms of a service's name the files need.
#[derive(Debug, PartialEq, Eq)]
pub struct ServiceName {
    /// As given: `hello-world`. Task name, directory, crate suffix.
    pub name: String,
    /// As a Rust identifier: `hello_world`.
    pub ident: String,
    /// As a type: `HelloWorld`.
    pub type_name: String,
}

impl ServiceName {
    pub fn parse(name: &str) -> Result<Self> {
        let valid = name.len() <= 32
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.ends_with('-')
            && !name.contains("--");
        if !valid {
            bail!(
                "`{name}` is not a service name: use 1-32 lowercase letters, digits and single \
                 dashes, starting with a letter (e.g. `clock` or `block-cache`)"
            );
        }
        if RESERVED.contains(&name) {
            bail!("`{name}` is taken by a part of Mealy; choose another name");
        }
        let type_name = name
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                chars
                    .next()
                    .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect();
        Ok(ServiceName {
            name: name.to_string(),
            ident: name.replace('-', "_"),
            type_name,
        })
    }

    pub fn fill(&self, template: &str) -> String {
        template
            .replace("{{name}}", &self.name)
            .replace("{{ident}}", &self.ident)
            .replace("{{type}}", &self.type_name)
    }
}

/// `text` with `line` inserted before every line that contains `marker`;
/// an error unless the marker occurs exactly `expected` times.
pub fn insert_before_marker(
    text: &str,
    marker: &str,
    line: &str,
    expected: usize,
) -> Result<String> {
    let found = text.lines().filter(|l| l.contains(marker)).count();
    if found != expected {
        bail!("expected the marker `{marker}` {expected} time(s), found it {found} time(s)");
    }
    let mut out = String::with_capacity(text.len() + expected * (line.len() + 8));
    for existing in text.split_inclusive('\n') {
        if existing.contains(marker) {
            let indent: String = existing.chars().take_while(|c| *c == ' ').collect();
            out.push_str(&indent);
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(existing);
    }
    Ok(out)
}

fn edit(path: &Path, change: impl FnOnce(&str) -> Result<String>) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let changed = change(&text).with_context(|| format!("cannot edit {}", path.display()))?;
    std::fs::write(path, changed).with_context(|| format!("cannot write {}", path.display()))
}

pub fn run(root: &Path, name: &str) -> Result<()> {
    let service = ServiceName::parse(name)?;
    let dir = root.join("services").join(&service.name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let tasks = root.join("kernel/src/tasks.rs");
    let tasks_text = std::fs::read_to_string(&tasks)
        .with_context(|| format!("cannot read {}", tasks.display()))?;
    if tasks_text.contains(&format!("TaskSpec::new(\"{}\"", service.name)) {
        bail!("the task list already has a task named `{}`", service.name);
    }

    // Every edit is computed before anything is written, so a failure
    // leaves the tree as it was.
    let member = format!("\"services/{}\",", service.name);
    let workspace = root.join("Cargo.toml");
    let workspace_text = std::fs::read_to_string(&workspace)
        .with_context(|| format!("cannot read {}", workspace.display()))?;
    let workspace_new = insert_before_marker(&workspace_text, WORKSPACE_MARKER, &member, 2)?;
    let kernel_manifest = root.join("kernel/Cargo.toml");
    let kernel_text = std::fs::read_to_string(&kernel_manifest)
        .with_context(|| format!("cannot read {}", kernel_manifest.display()))?;
    let dependency = format!(
        "mealy-{} = {{ path = \"../services/{}\" }}",
        service.name, service.name
    );
    let kernel_new = insert_before_marker(&kernel_text, KERNEL_DEPENDENCY_MARKER, &dependency, 1)?;
    let factory = format!(
        "fn make_{ident}() -> Box<dyn StateMachine> {{\n    Box::new(mealy_{ident}::{ty}::new())\n}}\n",
        ident = service.ident,
        ty = service.type_name
    );
    let tasks_new = insert_before_marker(&tasks_text, FACTORY_MARKER, &factory, 1)?;
    let entry = format!(
        "TaskSpec::new(\"{}\", make_{}),",
        service.name, service.ident
    );
    let tasks_new = insert_before_marker(&tasks_new, TASK_MARKER, &entry, 1)?;

    std::fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join("Cargo.toml"), service.fill(CARGO_TEMPLATE))?;
    std::fs::write(dir.join("src/lib.rs"), service.fill(LIB_TEMPLATE))?;
    edit(&workspace, |_| Ok(workspace_new))?;
    edit(&kernel_manifest, |_| Ok(kernel_new))?;
    edit(&tasks, |_| Ok(tasks_new))?;
    println!(
        "xtask: created services/{name} (crate mealy-{name}, type {ty}) and added it to the \
         workspace, the kernel and the boot task list.\n\
         Boot it and ping every task: cargo xtask qemu --headless --cmdline test=ping",
        name = service.name,
        ty = service.type_name
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_identifiers_and_types() {
        let service = ServiceName::parse("block-cache2").unwrap();
        assert_eq!(service.ident, "block_cache2");
        assert_eq!(service.type_name, "BlockCache2");
    }

    #[test]
    fn bad_and_reserved_names_are_refused_with_a_reason() {
        for bad in [
            "",
            "Hello",
            "1st",
            "a_b",
            "a--b",
            "a-",
            "with space",
            &"x".repeat(33),
        ] {
            let error = ServiceName::parse(bad).unwrap_err().to_string();
            assert!(error.contains("is not a service name"), "{bad}: {error}");
        }
        let error = ServiceName::parse("kernel").unwrap_err().to_string();
        assert!(error.contains("is taken"), "{error}");
    }

    #[test]
    fn lines_go_before_each_marker_with_its_indent() {
        let text = "a\n    # mark\nb\n  # mark\n";
        let out = insert_before_marker(text, "# mark", "x", 2).unwrap();
        assert_eq!(out, "a\n    x\n    # mark\nb\n  x\n  # mark\n");
    }

    #[test]
    fn a_missing_or_doubled_marker_is_an_error() {
        assert!(insert_before_marker("a\n", "# mark", "x", 1).is_err());
        assert!(insert_before_marker("# mark\n# mark\n", "# mark", "x", 1).is_err());
    }

    #[test]
    fn templates_have_no_placeholder_left_after_filling() {
        let service = ServiceName::parse("hello").unwrap();
        for template in [CARGO_TEMPLATE, LIB_TEMPLATE] {
            assert!(!service.fill(template).contains("{{"));
        }
        assert!(service.fill(LIB_TEMPLATE).contains("pub struct Hello {"));
        // It serves `ping` through the interface and tests itself.
        assert!(
            service
                .fill(LIB_TEMPLATE)
                .contains("ping::serve(self, cx, &msg)")
        );
        assert!(
            service
                .fill(CARGO_TEMPLATE)
                .contains("features = [\"testing\"]")
        );
    }
}
