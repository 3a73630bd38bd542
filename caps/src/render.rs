//! Rendering a [`Snapshot`] for people: an indented tree for the shell's
//! `graph`, and Graphviz DOT for `graph --dot`.
//!
//! Both write to any `core::fmt::Write`, so the shell can stream them to the
//! console without building a string. The tree groups capabilities by
//! object, then follows derivation edges; it walks with an explicit stack
//! because a derivation chain can be thousands deep.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::graph::{CapAddress, CapNode, Snapshot};
use crate::object::ObjectId;

/// Displays a snapshot as an indented tree (see [`Snapshot::tree`]).
pub struct TreeView<'a>(&'a Snapshot);

/// Displays a snapshot as Graphviz DOT (see [`Snapshot::dot`]).
pub struct DotView<'a>(&'a Snapshot);

impl fmt::Display for TreeView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write_tree(f)
    }
}

impl fmt::Display for DotView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write_dot(f)
    }
}

/// Writes `text` inside a DOT double-quoted string.
fn write_escaped(out: &mut dyn fmt::Write, text: &str) -> fmt::Result {
    for ch in text.chars() {
        match ch {
            '"' | '\\' => {
                out.write_char('\\')?;
                out.write_char(ch)?;
            }
            '\n' => out.write_str("\\n")?,
            _ => out.write_char(ch)?,
        }
    }
    Ok(())
}

impl Snapshot {
    /// The snapshot as an indented tree, via `Display`.
    pub fn tree(&self) -> TreeView<'_> {
        TreeView(self)
    }

    /// The snapshot as Graphviz DOT, via `Display`.
    pub fn dot(&self) -> DotView<'_> {
        DotView(self)
    }

    /// Writes who holds `cspace`: the task's name if attached, else its id.
    fn write_holder(&self, out: &mut dyn fmt::Write, at: CapAddress) -> fmt::Result {
        match self.task_of(at.cspace) {
            Some(task) => match &task.name {
                Some(name) => out.write_str(name),
                None => write!(out, "{}", task.task),
            },
            None => write!(out, "{}", at.cspace),
        }
    }

    fn write_cap(&self, out: &mut dyn fmt::Write, node: &CapNode) -> fmt::Result {
        self.write_holder(out, node.at)?;
        write!(out, "[{}] {}", node.at.cap, node.cap.rights)?;
        if let Some(badge) = node.cap.badge {
            write!(out, " badge={badge}")?;
        }
        Ok(())
    }

    /// Children of each capability, by index into `caps`.
    fn child_lists(&self) -> (Vec<Vec<usize>>, Vec<bool>) {
        let index: BTreeMap<CapAddress, usize> = self
            .caps
            .iter()
            .enumerate()
            .map(|(i, node)| (node.at, i))
            .collect();
        let mut children = vec![Vec::new(); self.caps.len()];
        let mut has_parent = vec![false; self.caps.len()];
        for edge in &self.derivations {
            if let (Some(&parent), Some(&child)) = (index.get(&edge.parent), index.get(&edge.child))
            {
                if let Some(list) = children.get_mut(parent) {
                    list.push(child);
                }
                if let Some(flag) = has_parent.get_mut(child) {
                    *flag = true;
                }
            }
        }
        (children, has_parent)
    }

    /// Tasks first, then each object with its derivation forest.
    pub fn write_tree(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(out, "tasks")?;
        for task in &self.tasks {
            write!(out, "  {}", task.task)?;
            if let Some(name) = &task.name {
                write!(out, " \"{name}\"")?;
            }
            writeln!(
                out,
                "  {}  {}/{} slots",
                task.cspace, task.slots_used, task.slots
            )?;
        }
        writeln!(out, "objects")?;
        let (children, has_parent) = self.child_lists();
        for object in &self.objects {
            writeln!(out, "  {}  [object {}]", object.object, object.id)?;
            let roots = self.roots_of(object.id, &has_parent);
            let mut stack: Vec<(usize, usize)> = roots.into_iter().rev().map(|i| (i, 2)).collect();
            while let Some((i, depth)) = stack.pop() {
                let Some(node) = self.caps.get(i) else {
                    continue;
                };
                for _ in 0..depth {
                    out.write_str("  ")?;
                }
                self.write_cap(out, node)?;
                out.write_char('\n')?;
                if let Some(list) = children.get(i) {
                    stack.extend(list.iter().rev().map(|&child| (child, depth + 1)));
                }
            }
        }
        Ok(())
    }

    fn roots_of(&self, object: ObjectId, has_parent: &[bool]) -> Vec<usize> {
        self.caps
            .iter()
            .enumerate()
            .filter(|(i, node)| {
                node.cap.object == object && !has_parent.get(*i).copied().unwrap_or(false)
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// One cluster per task holding its capabilities, one box per object,
    /// dashed edges from capability to object, solid edges for derivations.
    pub fn write_dot(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(out, "digraph caps {{")?;
        writeln!(out, "  rankdir=LR;")?;
        writeln!(out, "  node [fontname=\"monospace\"];")?;
        let index: BTreeMap<CapAddress, usize> = self
            .caps
            .iter()
            .enumerate()
            .map(|(i, node)| (node.at, i))
            .collect();
        for (t, task) in self.tasks.iter().enumerate() {
            writeln!(out, "  subgraph cluster_t{t} {{")?;
            out.write_str("    label=\"")?;
            match &task.name {
                Some(name) => {
                    write_escaped(out, name)?;
                    write!(out, " ({})", task.task)?;
                }
                None => write!(out, "{}", task.task)?,
            }
            writeln!(out, "\";")?;
            for (i, node) in self.caps.iter().enumerate() {
                if node.at.cspace != task.cspace {
                    continue;
                }
                write!(
                    out,
                    "    c{i} [shape=ellipse, label=\"{} {}",
                    node.at.cap, node.cap.rights
                )?;
                if let Some(badge) = node.cap.badge {
                    write!(out, "\\nbadge={badge}")?;
                }
                writeln!(out, "\"];")?;
            }
            writeln!(out, "  }}")?;
        }
        for (o, object) in self.objects.iter().enumerate() {
            writeln!(out, "  o{o} [shape=box, label=\"{}\"];", object.object)?;
            for (i, node) in self.caps.iter().enumerate() {
                if node.cap.object == object.id {
                    writeln!(out, "  c{i} -> o{o} [style=dashed];")?;
                }
            }
        }
        for edge in &self.derivations {
            if let (Some(parent), Some(child)) = (index.get(&edge.parent), index.get(&edge.child)) {
                writeln!(out, "  c{parent} -> c{child};")?;
            }
        }
        writeln!(out, "}}")
    }
}
