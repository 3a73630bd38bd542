//! Snapshot, postcard round trip, tree and DOT rendering.

use std::collections::BTreeMap;
use std::format;
use std::string::String;
use std::vec::Vec;

use super::{endpoint, two_spaces};
use crate::render::{KINDS, KindStyle};
use crate::{Badge, CapAddress, DotDetail, Object, Rights, Snapshot, TaskId};

fn sample() -> Snapshot {
    let (mut system, a, b) = two_spaces();
    let root = endpoint(&mut system, a);
    let minted = system
        .mint(a, root, b, Rights::WRITE, Badge::new(0x2a))
        .unwrap();
    system
        .create_object(
            b,
            Object::Region {
                base: 0x4000,
                len: 0x1000,
            },
        )
        .unwrap();
    let mut snapshot = system.snapshot();
    assert!(snapshot.name_task(TaskId(1), "shell"));
    assert!(!snapshot.name_task(TaskId(77), "nobody"));
    assert_eq!(
        snapshot.parent_of(CapAddress {
            cspace: b,
            cap: minted
        }),
        Some(CapAddress {
            cspace: a,
            cap: root
        })
    );
    snapshot
}

#[test]
fn snapshot_lists_tasks_objects_caps_and_edges() {
    let snapshot = sample();
    assert_eq!(snapshot.tasks.len(), 2);
    assert_eq!(snapshot.objects.len(), 2);
    assert_eq!(snapshot.caps.len(), 3);
    assert_eq!(snapshot.derivations.len(), 1);
    assert_eq!(snapshot.tasks[0].name.as_deref(), Some("shell"));
    assert_eq!(snapshot.caps_in(snapshot.tasks[1].cspace).count(), 2);
    assert_eq!(
        snapshot.cspace_of(TaskId(2)),
        Some(snapshot.tasks[1].cspace)
    );
    assert_eq!(snapshot.cspace_of(TaskId(77)), None);
    let edge = snapshot.derivations[0];
    assert_eq!(
        snapshot.children_of(edge.parent).collect::<Vec<_>>(),
        [edge.child]
    );
}

#[test]
fn snapshot_round_trips_through_postcard() {
    let snapshot = sample();
    let bytes = postcard::to_allocvec(&snapshot).unwrap();
    let back: Snapshot = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, snapshot);
}

#[test]
fn tree_indents_derivations_under_their_object() {
    let text = format!("{}", sample().tree());
    let expected = "tasks
  task 1 \"shell\"  cspace 0#0  1/8 slots
  task 2  cspace 1#0  2/8 slots
objects
  Endpoint -> task 9  [object 0#0]
    shell[0#0] -w--gd
      task 2[0#0] -w---- badge=0x2a
  Region 0x4000+0x1000  [object 1#0]
    task 2[1#0] rwxmgd
";
    assert_eq!(text, expected);
}

#[test]
fn slots_dot_has_clusters_objects_and_edges() {
    let mut snapshot = sample();
    snapshot.name_task(TaskId(2), "evil \"quoted\"");
    let dot = format!("{}", snapshot.dot(DotDetail::Slots));
    assert!(dot.starts_with("digraph caps {\n"));
    assert!(dot.ends_with("}\n"));
    assert!(dot.contains("label=\"shell (task 1)\";"));
    assert!(dot.contains("label=\"evil \\\"quoted\\\" (task 2)\";"));
    assert!(dot.contains("c0 -> o0 [style=dashed];"));
    assert!(dot.contains("c0 -> c1;"));
    assert!(dot.contains("badge=0x2a"));
    let mut direct = String::new();
    snapshot.write_dot(&mut direct, DotDetail::Slots).unwrap();
    assert_eq!(direct, dot);
}

/// The boot system as `cargo xtask graph` sees it: the kernel holds the
/// original of every object, nine tasks hold what they were granted.
fn boot() -> Snapshot {
    use crate::{CapSystem, DeviceRange, Limits};
    const NAMES: [&str; 8] = [
        "echo", "pinger", "fs", "serial", "keyboard", "fbcon", "console", "shell",
    ];
    let mut system = CapSystem::new(Limits {
        max_cspaces: 16,
        max_cspace_slots: 32,
        max_objects: 32,
        max_caps: 64,
    })
    .unwrap();
    let kernel = system.create_cspace(TaskId::KERNEL, 32).unwrap();
    let spaces: Vec<_> = (0..8)
        .map(|task| system.create_cspace(TaskId(task), 32).unwrap())
        .collect();
    let endpoint = |task| Object::Endpoint { task: TaskId(task) };
    let objects = [
        endpoint(0),
        endpoint(1),
        endpoint(2),
        Object::Region {
            base: 0x1000_4006_d000,
            len: 0xa000,
        },
        endpoint(3),
        endpoint(4),
        endpoint(5),
        endpoint(6),
        endpoint(7),
        Object::Device(DeviceRange::Ports {
            base: 0x3f8,
            len: 8,
        }),
        Object::Irq { line: 4 },
        Object::Timer,
        Object::Device(DeviceRange::Ports { base: 0x60, len: 5 }),
        Object::Irq { line: 1 },
        Object::Region {
            base: 0x1000_4007_9000,
            len: 0x3e_8000,
        },
        Object::Task { task: TaskId(0) },
        Object::Task { task: TaskId(1) },
        Object::Task { task: TaskId(2) },
        Object::Task { task: TaskId(3) },
        Object::Task { task: TaskId(4) },
        Object::Task { task: TaskId(5) },
        Object::Task { task: TaskId(6) },
        Object::Task {
            task: TaskId::KERNEL,
        },
        Object::Inspect,
        Object::Timer,
    ];
    let originals: Vec<_> = objects
        .iter()
        .map(|&object| system.create_object(kernel, object).unwrap())
        .collect();
    let send = Some(Rights::WRITE);
    // (task, object, rights if minted rather than copied, badge)
    let grants: &[(usize, usize, Option<Rights>, u64)] = &[
        (1, 0, send, 1),
        (2, 3, None, 0),
        (3, 9, None, 0),
        (3, 10, None, 0),
        (3, 11, None, 0),
        (3, 7, send, 1),
        (4, 12, None, 0),
        (4, 13, None, 0),
        (4, 7, send, 2),
        (5, 14, Some(Rights::READ | Rights::WRITE), 0),
        (6, 8, send, 0),
        (6, 4, send, 0),
        (6, 6, send, 0),
        (7, 0, send, 0),
        (7, 1, send, 0),
        (7, 2, send, 0),
        (7, 4, send, 0),
        (7, 5, send, 0),
        (7, 6, send, 0),
        (7, 7, send, 0),
        (7, 15, None, 0),
        (7, 16, None, 0),
        (7, 17, None, 0),
        (7, 18, None, 0),
        (7, 19, None, 0),
        (7, 20, None, 0),
        (7, 21, None, 0),
        (7, 22, None, 0),
        (7, 23, None, 0),
        (7, 7, send, 3),
        (7, 24, None, 0),
    ];
    for &(task, object, rights, badge) in grants {
        let (dest, src) = (spaces[task], originals[object]);
        match rights {
            Some(rights) => system.mint(kernel, src, dest, rights, Badge::new(badge)),
            None => system.copy(kernel, src, dest),
        }
        .unwrap();
    }
    let mut snapshot = system.snapshot();
    snapshot.name_task(TaskId::KERNEL, "kernel");
    for (task, name) in NAMES.iter().enumerate() {
        snapshot.name_task(TaskId(task as u32), name);
    }
    snapshot
}

/// The numbers of the nodes `<letter><number> [` declared at the top
/// level (two spaces in), in order.
fn top_nodes(dot: &str, letter: char) -> Vec<usize> {
    dot.lines()
        .filter_map(|line| line.strip_prefix("  ")?.strip_prefix(letter))
        .filter_map(|rest| rest.split_once(" [")?.0.parse().ok())
        .collect()
}

/// The edges `<from> -> <to>` whose ends start with the given letters.
fn edges(dot: &str, from: char, to: char) -> Vec<&str> {
    dot.lines()
        .filter(|line| {
            let Some((a, b)) = line.trim_start().split_once(" -> ") else {
                return false;
            };
            a.starts_with(from) && b.starts_with(to)
        })
        .collect()
}

/// The value of `attribute=` in a node or edge line.
fn attribute<'a>(line: &'a str, attribute: &str) -> Option<&'a str> {
    let start = line.find(&format!("{attribute}="))? + attribute.len() + 1;
    let rest = &line[start..];
    let end = rest.find([',', ']']).unwrap_or(rest.len());
    Some(&rest[..end])
}

#[test]
fn the_compact_picture_has_one_node_per_task_and_per_object() {
    let snapshot = boot();
    let dot = format!("{}", snapshot.dot(DotDetail::Objects));
    assert!(dot.starts_with("digraph caps {\n"), "{dot}");
    assert!(dot.ends_with("}\n"), "{dot}");
    assert_eq!(top_nodes(&dot, 't'), (0..9).collect::<Vec<_>>(), "{dot}");
    assert_eq!(top_nodes(&dot, 'o'), (0..25).collect::<Vec<_>>(), "{dot}");
    // No capability nodes, no clusters: the slots are behind `Slots`.
    assert!(top_nodes(&dot, 'c').is_empty(), "{dot}");
    assert!(!dot.contains("    c0 ["), "{dot}");
    assert!(!dot.contains("subgraph cluster_t"), "{dot}");
    // One holds edge per (task, object) pair: 31 grants, the shell's two
    // endpoints to the console merged into one edge. The kernel's 25
    // originals are counted in its node, not drawn.
    assert_eq!(edges(&dot, 't', 'o').len(), 30, "{dot}");
    assert!(
        edges(&dot, 't', 'o')
            .iter()
            .all(|e| !e.starts_with("  t0 "))
    );
    assert!(dot.contains("  t0 [shape=box, style=\"rounded,filled,bold\", fillcolor=\"#fff2cc\", label=\"kernel\\nholds 25 originals\"];\n"), "{dot}");
    assert!(dot.contains("label=\"echo\\ntask 0\"];\n"), "{dot}");
    // Eight endpoints reach their tasks, eight Task objects control theirs.
    let reach = edges(&dot, 'o', 't');
    assert_eq!(reach.len(), 16, "{dot}");
    assert!(
        dot.contains("  o0 -> t1 [style=dashed, arrowhead=open];\n"),
        "{dot}"
    );
    assert!(
        dot.contains("  o22 -> t0 [style=dotted, color=gray40, arrowhead=open];\n"),
        "{dot}"
    );
    assert!(
        dot.contains("  o0 [shape=cds, fillcolor=\"#cfe2f3\", label=\"Endpoint\\nto echo\"];\n"),
        "{dot}"
    );
}

#[test]
fn holds_edges_carry_rights_and_badges() {
    let dot = format!("{}", boot().dot(DotDetail::Objects));
    // pinger's badged send right to echo's endpoint.
    assert!(
        dot.contains("  t2 -> o0 [label=\"-w---- badge=0x1\"];\n"),
        "{dot}"
    );
    // fs's copy of the image region keeps every right.
    assert!(dot.contains("  t3 -> o3 [label=\"rwxmgd\"];\n"), "{dot}");
    // Two capabilities to one object: one edge, one label line each.
    assert!(
        dot.contains("  t8 -> o7 [label=\"-w----\\n-w---- badge=0x3\"];\n"),
        "{dot}"
    );
    for edge in edges(&dot, 't', 'o') {
        let label = attribute(edge, "label").unwrap_or_default();
        assert!(label.len() > 6, "{edge}");
    }
}

#[test]
fn object_kinds_have_distinct_shapes() {
    let snapshot = boot();
    let dot = format!("{}", snapshot.dot(DotDetail::Objects));
    let mut shapes = BTreeMap::new();
    for line in dot.lines() {
        let Some(rest) = line.strip_prefix("  o") else {
            continue;
        };
        let Some((number, _)) = rest.split_once(" [") else {
            continue;
        };
        let Ok(o) = number.parse::<usize>() else {
            continue;
        };
        let kind = format!("{:?}", snapshot.objects[o].object.kind());
        let shape = attribute(line, "shape").unwrap();
        assert_eq!(*shapes.entry(kind).or_insert(shape), shape, "{line}");
    }
    // Endpoint, Region, Device, Irq, Timer, Task, Inspect in the boot.
    assert_eq!(shapes.len(), 7, "{shapes:?}");
    let mut distinct: Vec<_> = shapes.values().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), shapes.len(), "{shapes:?}");
    let task_shape = attribute(
        dot.lines().find(|l| l.starts_with("  t0 [")).unwrap(),
        "shape",
    );
    assert!(!shapes.values().any(|shape| Some(*shape) == task_shape));
    // Every kind, present or not, has its own shape and colour.
    let styles: Vec<_> = KINDS.iter().map(|&kind| KindStyle::of(kind)).collect();
    for (i, a) in styles.iter().enumerate() {
        for b in &styles[i + 1..] {
            assert!(a.shape != b.shape && a.fill != b.fill, "{a:?} {b:?}");
        }
    }
    // The legend names the kinds in the picture and explains the rights.
    assert!(
        dot.contains("<td bgcolor=\"#cfe2f3\">Endpoint</td>"),
        "{dot}"
    );
    assert!(!dot.contains(">Reply</td>"), "{dot}");
    assert!(dot.contains("rights rwxmgd: read, write, execute, map, grant, derive"));
}

#[test]
fn slots_restore_the_per_capability_picture() {
    let snapshot = boot();
    let dot = format!("{}", snapshot.dot(DotDetail::Slots));
    assert_eq!(dot.matches("  subgraph cluster_t").count(), 9, "{dot}");
    let caps = dot
        .lines()
        .filter(|line| line.starts_with("    c") && line.contains(" [shape=ellipse"))
        .count();
    assert_eq!(caps, snapshot.caps.len());
    assert_eq!(caps, 56);
    assert_eq!(edges(&dot, 'c', 'c').len(), snapshot.derivations.len());
    assert_eq!(edges(&dot, 'c', 'o').len(), 56, "{dot}");
    assert!(
        dot.contains("    c25 [shape=ellipse, label=\"0#0 -w----\\nbadge=0x1\"];\n"),
        "{dot}"
    );
    assert!(dot.contains("  c0 -> c25;\n"), "{dot}");
    assert!(dot.contains("  o9 [shape=component, style=filled, fillcolor=\"#f4cccc\", label=\"Device ports 0x3f8+0x8\"];\n"), "{dot}");
    assert!(top_nodes(&dot, 't').is_empty(), "{dot}");
}

#[test]
fn the_same_system_draws_the_same_text() {
    let snapshot = boot();
    let bytes = postcard::to_allocvec(&snapshot).unwrap();
    let back: Snapshot = postcard::from_bytes(&bytes).unwrap();
    for detail in [DotDetail::Objects, DotDetail::Slots] {
        let first = format!("{}", snapshot.dot(detail));
        assert_eq!(first, format!("{}", boot().dot(detail)));
        assert_eq!(first, format!("{}", back.dot(detail)));
        let mut direct = String::new();
        snapshot.write_dot(&mut direct, detail).unwrap();
        assert_eq!(direct, first);
    }
}

#[test]
fn an_endpoint_to_a_task_outside_the_snapshot_names_its_id() {
    let dot = format!("{}", sample().dot(DotDetail::Objects));
    // Task 9 has no CSpace: its endpoint is drawn, with no edge onwards.
    assert!(dot.contains("label=\"Endpoint\\nto task 9\"];\n"), "{dot}");
    assert!(edges(&dot, 'o', 't').is_empty(), "{dot}");
    // Task 2 has no name: its id is its label.
    assert!(dot.contains("  t1 [shape=box, style=\"rounded,filled,bold\", fillcolor=\"#fff2cc\", label=\"task 2\"];\n"), "{dot}");
    assert!(dot.contains("  t0 -> o0 [label=\"-w--gd\"];\n"), "{dot}");
    assert!(
        dot.contains("  t1 -> o0 [label=\"-w---- badge=0x2a\"];\n"),
        "{dot}"
    );
}
