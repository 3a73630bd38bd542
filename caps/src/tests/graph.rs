//! Snapshot, postcard round trip, tree and DOT rendering.

use std::format;
use std::string::String;

use super::{endpoint, two_spaces};
use crate::{Badge, CapAddress, Object, Rights, Snapshot, TaskId};

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
        snapshot
            .children_of(edge.parent)
            .collect::<std::vec::Vec<_>>(),
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
fn dot_has_clusters_objects_and_edges() {
    let mut snapshot = sample();
    snapshot.name_task(TaskId(2), "evil \"quoted\"");
    let dot = format!("{}", snapshot.dot());
    assert!(dot.starts_with("digraph caps {\n"));
    assert!(dot.ends_with("}\n"));
    assert!(dot.contains("label=\"shell (task 1)\";"));
    assert!(dot.contains("label=\"evil \\\"quoted\\\" (task 2)\";"));
    assert!(dot.contains("c0 -> o0 [style=dashed];"));
    assert!(dot.contains("c0 -> c1;"));
    assert!(dot.contains("badge=0x2a"));
    let mut direct = String::new();
    snapshot.write_dot(&mut direct).unwrap();
    assert_eq!(direct, dot);
}
