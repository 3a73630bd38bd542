//! `Context::spawn`: a program from a Region becomes a task with copies
//! of its grants and a Task capability for its spawner; every bad
//! argument is an error that leaves nothing behind; and a thousand spawns
//! and stops end where they began.

use alloc::boxed::Box;
use alloc::vec::Vec;

use mealy_caps::{CapRef, Rights};
use mealy_protocol::{IpcError, StateMachine};

use super::{Behaviour, Log, Recorder, World, recorder, world};
use crate::sched::TaskState;

/// Files starting with `PROG` load as a recorder; anything else is not a
/// program.
pub(super) fn loader(file: &[u8]) -> Result<Box<dyn StateMachine>, IpcError> {
    if file.starts_with(b"PROG") {
        Ok(Box::new(Recorder {
            log: Log::default(),
            behaviour: Behaviour::Record,
        }))
    } else {
        Err(IpcError::Malformed)
    }
}

pub(super) const SPAWNER_CAPS: &[crate::sched::CapSpec] = &[crate::sched::grant("peer")
    .endpoint_to("peer")
    .rights(Rights::WRITE.union(Rights::DERIVE).union(Rights::GRANT))];

/// A world with a spawner and a peer it has an endpoint to.
pub(super) fn spawner() -> World {
    let mut world = world(&[
        (recorder("peer"), Behaviour::Record),
        (recorder("spawner").caps(SPAWNER_CAPS), Behaviour::Record),
    ]);
    world.sched.platform_mut().program_loader = Some(loader);
    world
}

/// A region holding `bytes`, in the spawner's CSpace.
pub(super) fn file(world: &mut World, bytes: &[u8]) -> mealy_caps::CapRef {
    let spawner = world.sched.task_by_name("spawner").unwrap();
    world
        .sched
        .act_as(spawner, |cx| {
            let region = cx.alloc_region(4096).unwrap();
            cx.region_mut(region).unwrap()[..bytes.len()].copy_from_slice(bytes);
            region
        })
        .unwrap()
}

#[test]
fn a_spawned_program_gets_its_grants_and_its_spawner_a_task_cap() {
    let mut world = spawner();
    let spawner = world.sched.task_by_name("spawner").unwrap();
    let program = file(&mut world, b"PROG");
    let peer_cap = world.grant(spawner, "peer");
    let task_cap = world
        .sched
        .act_as(spawner, |cx| {
            cx.spawn(program, "hello", &[("peer", peer_cap)])
        })
        .unwrap()
        .expect("spawns");
    let id = world
        .sched
        .task_by_name("hello")
        .expect("a task named hello");
    assert_eq!(world.sched.task_info(id).unwrap().state, TaskState::Idle);
    let grants = world.sched.grants(id).to_vec();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].name, "peer");
    // The copy reaches the peer: it can send there.
    let sent = world
        .sched
        .act_as(id, |cx| cx.send(grants[0].cap, b"hi", &[]));
    assert_eq!(sent, Some(Ok(())));
    // The Task capability stops it; once it is dead, the capability is gone.
    let stopped = world.sched.act_as(spawner, |cx| cx.stop_task(task_cap));
    assert_eq!(stopped, Some(Ok(())));
    assert_eq!(world.sched.task_info(id).unwrap().state, TaskState::Stopped);
    let again = world.sched.act_as(spawner, |cx| cx.stop_task(task_cap));
    assert_eq!(again, Some(Err(IpcError::InvalidCap)));
}

/// A spawn's name, program, grants, and the error it must get.
type Attempt<'a> = (&'a str, CapRef, &'a [(&'a str, CapRef)], IpcError);

#[test]
fn bad_spawns_are_errors_and_leave_nothing() {
    let mut world = spawner();
    let spawner = world.sched.task_by_name("spawner").unwrap();
    let program = file(&mut world, b"PROG");
    let not_a_program = file(&mut world, b"\x7fELF garbage");
    let peer_cap = world.grant(spawner, "peer");
    let before = world.sched.caps().usage();
    let tasks_before = world.sched.tasks().count();
    let attempts: [Attempt; 6] = [
        ("notes", not_a_program, &[], IpcError::Malformed),
        ("bad name", program, &[], IpcError::Malformed),
        ("", program, &[], IpcError::Malformed),
        (
            "endpoint",
            peer_cap,
            &[],
            IpcError::MissingRights {
                missing: Rights::READ,
            },
        ),
        (
            "forged",
            mealy_caps::CapRef::from_raw(0xdead_0000_0009),
            &[],
            IpcError::InvalidCap,
        ),
        (
            "toomany",
            program,
            &[("peer", peer_cap); 9],
            IpcError::TooManyCaps { count: 9 },
        ),
    ];
    for (name, file, grants, error) in attempts {
        let result = world
            .sched
            .act_as(spawner, |cx| cx.spawn(file, name, grants))
            .unwrap();
        assert_eq!(result, Err(error), "spawn {name:?}");
    }
    // A grant it may not pass on: a copy of the endpoint without GRANT.
    let weak = world
        .sched
        .act_as(spawner, |cx| {
            cx.mint(peer_cap, Rights::WRITE | Rights::DERIVE, None)
        })
        .unwrap()
        .unwrap();
    let result = world
        .sched
        .act_as(spawner, |cx| cx.spawn(program, "weak", &[("peer", weak)]))
        .unwrap();
    assert_eq!(
        result,
        Err(IpcError::MissingRights {
            missing: Rights::GRANT
        })
    );
    let _ = world.sched.act_as(spawner, |cx| cx.drop_cap(weak));
    assert_eq!(world.sched.caps().usage(), before);
    assert_eq!(world.sched.tasks().count(), tasks_before);
}

#[test]
fn a_thousand_spawns_and_stops_end_where_they_began() {
    let mut world = spawner();
    let spawner = world.sched.task_by_name("spawner").unwrap();
    let program = file(&mut world, b"PROG");
    let peer_cap = world.grant(spawner, "peer");
    let spawn_and_stop = |world: &mut World| {
        let task = world
            .sched
            .act_as(spawner, |cx| {
                cx.spawn(program, "churn", &[("peer", peer_cap)])
            })
            .unwrap()
            .expect("spawns");
        world.sched.run_until_idle(16);
        let stopped = world.sched.act_as(spawner, |cx| cx.stop_task(task));
        assert_eq!(stopped, Some(Ok(())));
    };
    spawn_and_stop(&mut world);
    let usage = world.sched.caps().usage();
    let records = world.sched.tasks().count();
    for _ in 0..1000 {
        spawn_and_stop(&mut world);
    }
    let after = world.sched.caps().usage();
    // Its CSpace, the copies of its grants, its Endpoint and its Task
    // object are gone with each.
    assert_eq!(after, usage);
    let live = world
        .sched
        .tasks()
        .filter(|task| task.state.is_alive())
        .count();
    assert_eq!(live, 2);
    // Each one took the dead one's slot: the task table did not grow.
    assert_eq!(world.sched.tasks().count(), records);
}

#[test]
fn a_reused_slot_takes_no_answer_meant_for_the_dead_task() {
    let mut world = spawner();
    let spawner = world.sched.task_by_name("spawner").unwrap();
    let peer = world.sched.task_by_name("peer").unwrap();
    let program = file(&mut world, b"PROG");
    let peer_cap = world.grant(spawner, "peer");
    let first = world
        .sched
        .act_as(spawner, |cx| {
            cx.spawn(program, "first", &[("peer", peer_cap)])
        })
        .unwrap()
        .unwrap();
    let first_id = world.sched.task_by_name("first").unwrap();
    // The program calls the peer, which holds the call unanswered.
    let granted = world.sched.grants(first_id)[0].cap;
    world
        .sched
        .act_as(first_id, |cx| cx.call(granted, b"q", &[]))
        .unwrap()
        .unwrap();
    world.sched.run_until_idle(16);
    let reply = world.logs[0]
        .borrow()
        .last()
        .and_then(|got| got.reply)
        .expect("a call");
    let _ = world.sched.act_as(spawner, |cx| cx.stop_task(first));
    let second = world
        .sched
        .act_as(spawner, |cx| cx.spawn(program, "second", &[]))
        .unwrap()
        .unwrap();
    let second_id = world.sched.task_by_name("second").unwrap();
    assert_eq!(second_id, first_id, "the slot is reused");
    // The peer's answer to the dead task's call goes nowhere.
    let answered = world.sched.act_as(peer, |cx| cx.reply(reply, b"a", &[]));
    assert_eq!(answered, Some(Err(IpcError::InvalidCap)));
    let _ = second;
}

#[test]
fn a_spawn_that_fails_half_way_leaves_no_endpoint_behind() {
    let mut world = world(&[
        (recorder("peer"), Behaviour::Record),
        (recorder("spawner").caps(SPAWNER_CAPS), Behaviour::Record),
        (recorder("filler1"), Behaviour::Record),
        (recorder("filler2"), Behaviour::Record),
        (recorder("filler3"), Behaviour::Record),
        (recorder("filler4"), Behaviour::Record),
    ]);
    world.sched.platform_mut().program_loader = Some(loader);
    let spawner = world.sched.task_by_name("spawner").unwrap();
    let program = file(&mut world, b"PROG");
    // Fill the object table (each task until its CSpace or the table is
    // full), then make room for exactly one object: the new task's
    // Endpoint fits, its Task object does not.
    let ids: Vec<_> = world.sched.tasks().map(|task| task.id).collect();
    let mut spawners_regions = Vec::new();
    let mut last_error = None;
    for id in ids {
        loop {
            match world.sched.act_as(id, |cx| cx.alloc_region(1)) {
                Some(Ok(region)) if id == spawner => spawners_regions.push(region),
                Some(Ok(_)) => {}
                other => {
                    last_error = other;
                    break;
                }
            }
        }
    }
    assert_eq!(
        last_error,
        Some(Err(IpcError::OutOfResources)),
        "the table is full"
    );
    let last = spawners_regions.pop().expect("the spawner got regions");
    let _ = world.sched.act_as(spawner, |cx| cx.drop_cap(last));
    let before = world.sched.caps().usage();
    let alive = |world: &World| {
        world
            .sched
            .tasks()
            .filter(|task| task.state.is_alive())
            .count()
    };
    let tasks_before = alive(&world);
    let result = world
        .sched
        .act_as(spawner, |cx| cx.spawn(program, "half", &[]))
        .unwrap();
    assert_eq!(result, Err(IpcError::OutOfResources));
    assert_eq!(world.sched.caps().usage(), before);
    assert_eq!(alive(&world), tasks_before);
}
