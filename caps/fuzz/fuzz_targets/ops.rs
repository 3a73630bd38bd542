//! Fuzz target: any byte string decodes to an operation sequence, which the
//! shared harness (`mealy_caps::model`) runs against the reference model,
//! checking every invariant after every step. A violation panics, which
//! libFuzzer records as a crash with the input that caused it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mealy_caps::model::{decode_ops, run};

fuzz_target!(|data: &[u8]| {
    let ops = decode_ops(data);
    if let Err(violation) = run(&ops) {
        panic!("{violation}");
    }
});
