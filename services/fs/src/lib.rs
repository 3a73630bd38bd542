//! Mealy's file system: the image format ([`format`]) and the fs service
//! ([`Fs`]), a state machine that owns the image as a Region and hands out
//! each file's pages as a Region capability.
//!
//! `#![no_std]`, `#![forbid(unsafe_code)]`; depends on `mealy-protocol`
//! and `crc`. The builder (`format::build`) needs the `alloc` feature,
//! which host tools enable; the parser and the service need no heap.
#![no_std]
#![forbid(unsafe_code)]

pub mod format;
mod service;

pub use service::{Fs, IMAGE_GRANT, Mount};
