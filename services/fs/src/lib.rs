//! Mealy's file system: the boot image format ([`format`]), the
//! crash-consistent disk format ([`disk`]), and the fs service
//! ([`Fs`]), a state machine that owns the image as a Region, keeps a
//! mutable tree of the namespace over it, and hands out each file's pages
//! as a Region capability (the image's own pages until the file is first
//! changed, then a private copy; see `service/backing.rs`). It serves
//! the `mealy_protocol::fs` interface: `handle` is `fs::serve`, and
//! `service/handlers.rs` holds one handler per request.
//!
//! `#![no_std]` with `alloc` (the service's tree), `#![forbid(unsafe_code)]`;
//! depends on `mealy-protocol` and `crc`. The parser needs no heap; the
//! builder (`format::build`) and the tree do.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod bench;
pub mod disk;
pub mod format;
mod service;
mod tree;

pub use service::{
    CREATE_CAPACITY, DISK_GRANT, DiskMountError, Fs, IMAGE_GRANT, LIMITS_GRANT, LIMITS_LEN,
    LIMITS_TAG, Limits, MAX_CAPACITY, Mount,
};
