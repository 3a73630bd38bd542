//! The model-based proptest: thousands of random operation sequences, each
//! checked step by step by the shared harness. Runs in plain `cargo test`.

use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::{Op, run};

fn op() -> impl Strategy<Value = Op> {
    let byte = any::<u8>;
    prop_oneof![
        1 => byte().prop_map(|capacity| Op::CreateCSpace { capacity }),
        1 => byte().prop_map(|space| Op::DestroyCSpace { space }),
        4 => (byte(), byte()).prop_map(|(space, kind)| Op::CreateObject { space, kind }),
        3 => (byte(), byte()).prop_map(|(cap, rights)| Op::Lookup { cap, rights }),
        1 => (byte(), byte(), byte())
            .prop_map(|(space, slot, generation)| Op::LookupForged { space, slot, generation }),
        5 => (byte(), byte(), byte(), byte())
            .prop_map(|(cap, dest, rights, badge)| Op::Mint { cap, dest, rights, badge }),
        3 => (byte(), byte()).prop_map(|(cap, dest)| Op::Copy { cap, dest }),
        3 => (byte(), byte()).prop_map(|(cap, dest)| Op::Move { cap, dest }),
        2 => byte().prop_map(|cap| Op::Drop { cap }),
        2 => byte().prop_map(|cap| Op::Revoke { cap }),
        1 => byte().prop_map(|object| Op::Destroy { object }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn real_system_matches_the_model(ops in proptest::collection::vec(op(), 1..48)) {
        let ops: Vec<Op> = ops;
        if let Err(violation) = run(&ops) {
            prop_assert!(false, "{}", violation);
        }
    }
}
