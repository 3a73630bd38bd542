//! Rendering a [`Snapshot`] for people: an indented tree for the shell's
//! `graph`, and Graphviz DOT for `graph --dot` in two levels of detail
//! ([`DotDetail`]).
//!
//! Everything writes to any `core::fmt::Write`, so the shell can stream it
//! to the console without building a string. The tree groups capabilities
//! by object, then follows derivation edges; it walks with an explicit
//! stack because a derivation chain can be thousands deep.
//!
//! The DOT is deterministic: nodes and edges come out in the snapshot's
//! order (tables, then slots), so the same system prints the same text and
//! tests can assert on lines. Node names are stable within one picture:
//! `t<i>` is the i-th task, `o<i>` the i-th object, `c<i>` the i-th
//! capability.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::cspace::CSpaceId;
use crate::graph::{CapAddress, CapNode, Snapshot};
use crate::object::{DeviceRange, Object, ObjectId, ObjectKind, TaskId};

/// Displays a snapshot as an indented tree (see [`Snapshot::tree`]).
pub struct TreeView<'a>(&'a Snapshot);

/// How much of the capability graph a DOT picture shows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DotDetail {
    /// One node per task and per object; an edge from each task to each
    /// object it holds, labelled with the capabilities' rights and badges;
    /// an edge from each Endpoint, Reply and Task object to the task it
    /// reaches. Sized to be read on one screen: "who can talk to whom".
    Objects,
    /// One node per capability, clustered by the task that holds it, an
    /// edge to the object it names and one per derivation: the whole tree,
    /// for debugging revoke.
    Slots,
}

/// Displays a snapshot as Graphviz DOT (see [`Snapshot::dot`]).
pub struct DotView<'a> {
    snapshot: &'a Snapshot,
    detail: DotDetail,
}

impl fmt::Display for TreeView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write_tree(f)
    }
}

impl fmt::Display for DotView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.snapshot.write_dot(f, self.detail)
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
    pub fn dot(&self, detail: DotDetail) -> DotView<'_> {
        DotView {
            snapshot: self,
            detail,
        }
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

    /// Writes the snapshot as a Graphviz digraph named `caps`.
    pub fn write_dot(&self, out: &mut dyn fmt::Write, detail: DotDetail) -> fmt::Result {
        match detail {
            DotDetail::Objects => self.write_dot_objects(out),
            DotDetail::Slots => self.write_dot_slots(out),
        }
    }

    /// The compact picture (see [`DotDetail::Objects`]). The kernel's
    /// originals (every object has one, in the kernel's CSpace) are counted
    /// in the kernel's node rather than drawn: they would tie every object
    /// to one node and say nothing about who can talk to whom.
    fn write_dot_objects(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(out, "digraph caps {{")?;
        // Top to bottom, because the shell's holdings are the widest rank
        // and a screen is wider than tall; `size` (inches, at Graphviz's
        // 96 dpi for PNG: 1920x1080) scales a bigger system down to fit.
        writeln!(out, "  rankdir=TB;")?;
        writeln!(out, "  nodesep=0.15;")?;
        writeln!(out, "  ranksep=0.4;")?;
        writeln!(out, "  size=\"20,11.25\";")?;
        writeln!(
            out,
            "  node [fontname=\"Helvetica\", fontsize=11, style=filled];"
        )?;
        writeln!(out, "  edge [fontname=\"Courier\", fontsize=9];")?;
        let objects: BTreeMap<ObjectId, usize> = self
            .objects
            .iter()
            .enumerate()
            .map(|(o, object)| (object.id, o))
            .collect();
        let tasks: BTreeMap<CSpaceId, usize> = self
            .tasks
            .iter()
            .enumerate()
            .map(|(t, task)| (task.cspace, t))
            .collect();
        let has_parent = self.child_lists().1;
        // (task, object) -> the capabilities the task holds to it.
        let mut holds: BTreeMap<(usize, usize), Vec<&CapNode>> = BTreeMap::new();
        let mut originals = vec![0usize; self.tasks.len()];
        for (i, node) in self.caps.iter().enumerate() {
            let (Some(&t), Some(&o)) = (tasks.get(&node.at.cspace), objects.get(&node.cap.object))
            else {
                continue;
            };
            let is_original = !has_parent.get(i).copied().unwrap_or(false);
            let in_kernel = self.tasks.get(t).is_some_and(|t| t.task == TaskId::KERNEL);
            match originals.get_mut(t) {
                Some(count) if is_original && in_kernel => *count += 1,
                _ => holds.entry((t, o)).or_default().push(node),
            }
        }
        for (t, task) in self.tasks.iter().enumerate() {
            write!(
                out,
                "  t{t} [shape={TASK_SHAPE}, style=\"rounded,filled,bold\", fillcolor=\"{TASK_FILL}\", label=\""
            )?;
            match &task.name {
                // The kernel's id reads "kernel" too: say it once.
                Some(name) if task.task == TaskId::KERNEL => write_escaped(out, name)?,
                Some(name) => {
                    write_escaped(out, name)?;
                    write!(out, "\\n{}", task.task)?;
                }
                None => write!(out, "{}", task.task)?,
            }
            if let Some(&count) = originals.get(t).filter(|&&count| count > 0) {
                write!(out, "\\nholds {count} originals")?;
            }
            writeln!(out, "\"];")?;
        }
        for (o, object) in self.objects.iter().enumerate() {
            let style = KindStyle::of(object.object.kind());
            write!(
                out,
                "  o{o} [shape={}, fillcolor=\"{}\", label=\"",
                style.shape, style.fill
            )?;
            self.write_object_label(out, &object.object)?;
            writeln!(out, "\"];")?;
        }
        for (&(t, o), caps) in &holds {
            write!(out, "  t{t} -> o{o} [label=\"")?;
            for (n, node) in caps.iter().enumerate() {
                if n > 0 {
                    out.write_str("\\n")?;
                }
                write!(out, "{}", node.cap.rights)?;
                if let Some(badge) = node.cap.badge {
                    write!(out, " badge={badge}")?;
                }
            }
            writeln!(out, "\"];")?;
        }
        for (o, object) in self.objects.iter().enumerate() {
            let Some((task, style)) = reach(&object.object) else {
                continue;
            };
            if let Some(t) = self.tasks.iter().position(|node| node.task == task) {
                writeln!(out, "  o{o} -> t{t} [{style}, arrowhead=open];")?;
            }
        }
        self.write_legend(out)?;
        writeln!(out, "}}")
    }

    /// One table: what the edges mean, the rights letters, and the colour
    /// of each object kind in the picture (their shapes differ too).
    fn write_legend(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        writeln!(
            out,
            "  legend [shape=plaintext, style=solid, fontsize=9, label=<<table border=\"1\" cellborder=\"0\" cellspacing=\"0\" cellpadding=\"2\">"
        )?;
        for line in LEGEND {
            writeln!(out, "<tr><td colspan=\"4\" align=\"left\">{line}</td></tr>")?;
        }
        let kinds = KINDS
            .into_iter()
            .filter(|&kind| self.objects.iter().any(|o| o.object.kind() == kind));
        for (n, kind) in kinds.enumerate() {
            if n % 4 == 0 {
                if n > 0 {
                    out.write_str("</tr>\n")?;
                }
                out.write_str("<tr>")?;
            }
            write!(
                out,
                "<td bgcolor=\"{}\">{kind:?}</td>",
                KindStyle::of(kind).fill
            )?;
        }
        if !self.objects.is_empty() {
            out.write_str("</tr>\n")?;
        }
        writeln!(out, "</table>>];")
    }

    /// An object as one or two short lines, tasks by name where known.
    fn write_object_label(&self, out: &mut dyn fmt::Write, object: &Object) -> fmt::Result {
        match object {
            Object::Endpoint { task } => {
                out.write_str("Endpoint\\nto ")?;
                self.write_task_name(out, *task)
            }
            Object::Reply { caller } => {
                out.write_str("Reply\\nto ")?;
                self.write_task_name(out, *caller)
            }
            Object::Task { task } => {
                out.write_str("Task\\n")?;
                self.write_task_name(out, *task)
            }
            Object::Region { base, len } => write!(out, "Region\\n{base:#x}+{len:#x}"),
            Object::Device(DeviceRange::Mmio { base, len }) => {
                write!(out, "Device mmio\\n{base:#x}+{len:#x}")
            }
            Object::Device(DeviceRange::Ports { base, len }) => {
                write!(out, "Device ports\\n{base:#x}+{len:#x}")
            }
            Object::Irq { line } => write!(out, "Irq {line}"),
            Object::Timer => out.write_str("Timer"),
            Object::Inspect => out.write_str("Inspect"),
        }
    }

    fn write_task_name(&self, out: &mut dyn fmt::Write, task: TaskId) -> fmt::Result {
        match self
            .tasks
            .iter()
            .find(|node| node.task == task)
            .and_then(|node| node.name.as_deref())
        {
            Some(name) => write_escaped(out, name),
            None => write!(out, "{task}"),
        }
    }

    /// The per-capability picture (see [`DotDetail::Slots`]): one cluster
    /// per task holding its capabilities, one node per object (shaped by
    /// kind), dashed edges from capability to object, solid edges for
    /// derivations.
    fn write_dot_slots(&self, out: &mut dyn fmt::Write) -> fmt::Result {
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
            let style = KindStyle::of(object.object.kind());
            writeln!(
                out,
                "  o{o} [shape={}, style=filled, fillcolor=\"{}\", label=\"{}\"];",
                style.shape, style.fill, object.object
            )?;
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

/// The shape of a task's node, unlike every object kind's.
const TASK_SHAPE: &str = "box";
const TASK_FILL: &str = "#fff2cc";

/// The legend's lines, in Graphviz's HTML-like label syntax.
const LEGEND: [&str; 5] = [
    "<b>legend</b>",
    "task &#8594; object: holds it (rights, badge)",
    "object - - &#8594; task: sends to it (Endpoint, Reply)",
    "object &#183;&#183;&#183; &#8594; task: controls it (Task)",
    "rights rwxmgd: read, write, execute, map, grant, derive",
];

/// How an object kind is drawn: a Graphviz shape and fill colour, each
/// kind's own, so a picture tells them apart without reading labels.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct KindStyle {
    pub(crate) shape: &'static str,
    pub(crate) fill: &'static str,
}

/// Every kind, in the legend's order.
pub(crate) const KINDS: [ObjectKind; 8] = [
    ObjectKind::Endpoint,
    ObjectKind::Reply,
    ObjectKind::Region,
    ObjectKind::Device,
    ObjectKind::Irq,
    ObjectKind::Timer,
    ObjectKind::Inspect,
    ObjectKind::Task,
];

impl KindStyle {
    pub(crate) const fn of(kind: ObjectKind) -> KindStyle {
        let (shape, fill) = match kind {
            ObjectKind::Endpoint => ("cds", "#cfe2f3"),
            ObjectKind::Reply => ("larrow", "#d0e0e3"),
            ObjectKind::Region => ("folder", "#d9ead3"),
            ObjectKind::Device => ("component", "#f4cccc"),
            ObjectKind::Irq => ("diamond", "#fce5cd"),
            ObjectKind::Timer => ("ellipse", "#ead1dc"),
            ObjectKind::Inspect => ("hexagon", "#d9d2e9"),
            ObjectKind::Task => ("octagon", "#eeeeee"),
        };
        KindStyle { shape, fill }
    }
}

/// The task an object leads to, and the edge attributes that say how:
/// dashed for messages (Endpoint, Reply), dotted and grey for control
/// (Task), which matters less to "who can talk to whom".
fn reach(object: &Object) -> Option<(TaskId, &'static str)> {
    const MESSAGES: &str = "style=dashed";
    const CONTROL: &str = "style=dotted, color=gray40";
    match object {
        Object::Endpoint { task } => Some((*task, MESSAGES)),
        Object::Reply { caller } => Some((*caller, MESSAGES)),
        Object::Task { task } => Some((*task, CONTROL)),
        _ => None,
    }
}
