//! Property tests: per-sender FIFO with backpressure (nothing lost, nothing
//! duplicated, an error exactly when the mailbox is full), and
//! all-or-nothing capability transfer.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use mealy_caps::{CapRef, Rights, TaskId};
use mealy_protocol::IpcError;
use proptest::prelude::*;

use super::{Behaviour, World, recorder, world};
use crate::sched::{CapSpec, grant};

const CAPACITY: usize = 4;

static TO_SINK: &[CapSpec] = &[grant("sink").endpoint_to("sink").rights(Rights::WRITE)];

fn senders_and_sink() -> World {
    world(&[
        (recorder("s0").caps(TO_SINK), Behaviour::Record),
        (recorder("s1").caps(TO_SINK), Behaviour::Record),
        (recorder("s2").caps(TO_SINK), Behaviour::Record),
        (recorder("sink").mailbox(CAPACITY as u32), Behaviour::Record),
    ])
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Send(u32),
    Dispatch,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u32..3).prop_map(Step::Send),
        2 => Just(Step::Dispatch),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn per_sender_fifo_and_backpressure(steps in proptest::collection::vec(step(), 1..80)) {
        let mut w = senders_and_sink();
        let sink = w.grant(TaskId(0), "sink");
        let mut model: VecDeque<(u32, u32)> = VecDeque::new();
        let mut next_seq = [0u32; 3];
        let mut accepted: Vec<(u32, u32)> = Vec::new();
        for step in steps {
            match step {
                Step::Send(sender) => {
                    let seq = next_seq[sender as usize];
                    let payload = [sender as u8, seq as u8];
                    let result = w.act(TaskId(sender), |cx| cx.send(sink, &payload, &[]));
                    if model.len() == CAPACITY {
                        prop_assert_eq!(result, Err(IpcError::MailboxFull));
                    } else {
                        prop_assert_eq!(result, Ok(()));
                        model.push_back((sender, seq));
                        accepted.push((sender, seq));
                        next_seq[sender as usize] += 1;
                    }
                }
                Step::Dispatch => {
                    let ran = w.sched.dispatch_one();
                    prop_assert_eq!(ran, !model.is_empty());
                    model.pop_front();
                }
            }
        }
        w.run();
        let delivered: Vec<(u32, u32)> = w
            .received(3)
            .iter()
            .map(|r| (u32::from(r.payload[0]), u32::from(r.payload[1])))
            .collect();
        // Nothing lost, nothing duplicated, and one mailbox means FIFO
        // across all senders, so in particular per sender.
        prop_assert_eq!(delivered, accepted);
    }
}

static HOLDER_CAPS: &[CapSpec] = &[
    grant("sink").endpoint_to("sink").rights(Rights::WRITE),
    grant("g0").timer(),
    grant("g1").timer(),
    grant("g2").timer(),
    grant("n0").timer().rights(Rights::WRITE),
    grant("n1")
        .timer()
        .rights(Rights::WRITE.union(Rights::DERIVE)),
];

const NAMES: [&str; 5] = ["g0", "g1", "g2", "n0", "n1"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn transfer_is_all_or_nothing(
        picks in proptest::collection::vec(0usize..6, 0..6),
        call in any::<bool>(),
    ) {
        let mut w = world(&[
            (recorder("holder").caps(HOLDER_CAPS), Behaviour::Record),
            (recorder("sink").cspace_slots(4), Behaviour::Record),
        ]);
        let sink = w.grant(TaskId(0), "sink");
        // Index 5 is a forged ref.
        let refs: Vec<CapRef> = picks
            .iter()
            .map(|&i| if i < 5 { w.grant(TaskId(0), NAMES[i]) } else { CapRef::from_raw(0xbad) })
            .collect();
        let holder = w.sched.kernel.tasks[TaskId(0)].cspace;
        let receiver = w.sched.kernel.tasks[TaskId(1)].cspace;
        let count = |w: &World, cspace| w.sched.caps().caps_of(cspace).unwrap().count();
        let (before_holder, before_receiver) = (count(&w, holder), count(&w, receiver));
        let result = w.act(TaskId(0), |cx| {
            if call { cx.call(sink, b"x", &refs).map(|_| ()) } else { cx.send(sink, b"x", &refs) }
        });
        let delivered = w.run();
        if result.is_ok() {
            prop_assert_eq!(delivered, 1);
            prop_assert_eq!(count(&w, holder), before_holder - refs.len());
            let got = w.received(1);
            prop_assert_eq!(got[0].caps.len(), refs.len());
            for r in &refs {
                prop_assert!(w.sched.caps().lookup(holder, *r, Rights::empty()).is_err());
            }
        } else {
            prop_assert_eq!(delivered, 0);
            prop_assert_eq!(count(&w, holder), before_holder);
            prop_assert_eq!(count(&w, receiver), before_receiver);
            for r in refs.iter().filter(|r| r.to_raw() != 0xbad) {
                prop_assert!(w.sched.caps().lookup(holder, *r, Rights::empty()).is_ok());
            }
        }
    }
}
