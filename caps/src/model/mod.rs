//! Model-based checking: run an operation sequence against the real
//! [`CapSystem`] and a plain reference model side by side, and report the
//! first disagreement or broken invariant.
//!
//! Shared by the proptest (`properties.rs`, part of `cargo test`) and the
//! fuzz target (`caps/fuzz`), which is why it is public behind the `testing`
//! feature rather than test-only. After every operation it checks that the
//! result (value or exact error) matches the model, that every ref ever
//! issued resolves exactly as the model says (so no stale ref resolves), that
//! every live capability's parent is the model's and has at least its rights,
//! that a revoke left no descendant anywhere, that counts agree, and that the
//! real structure is internally consistent. Limits are tiny so exhaustion
//! errors come up constantly.

mod check;
mod harness;
mod ops;
#[cfg(test)]
mod properties;
mod reference;

pub use harness::{Harness, LIMITS, Violation, run};
pub use ops::{MAX_OPS, Op, decode_ops};
