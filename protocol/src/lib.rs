//! What crosses a boundary in Mealy: the message envelope, the
//! `StateMachine` and `Context` traits, and one module of message types per
//! service.
//!
//! `#![no_std]`; depends only on `mealy-caps`. Nothing here is defined yet:
//! the message path arrives with the scheduler.
#![no_std]
