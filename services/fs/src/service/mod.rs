//! The fs service: owns the file-system image (a Region the task list
//! grants as `image`) and serves the `mealy_protocol::fs` interface.
//!
//! At start it validates the whole image once ([`Image::parse`]) and
//! builds its mutable view of the namespace from it (`tree.rs`): the
//! image's layout is canonical and cannot change in place, so the image
//! stays exactly as booted and the tree is the truth while the fs runs. A
//! missing or corrupt image is one `error:` log line at mount, and every
//! request is then answered with `FsError::NotMounted`: nothing crashes.
//! A grant without WRITE mounts read-only: every change is `ReadOnly`.
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | the state ([`Fs`], [`Limits`], [`Mount`]), mounting, `handle` |
//! | `backing.rs` | where a file's bytes live (image pages or a private copy), copying, revoking, the memory and capability bounds |
//! | `handlers.rs` | one handler per request of the interface (`fs::Server`) |
//! | `tests.rs` | the service through `FakeContext`, request by request |
//!
//! `handle` is `fs::serve`: the interface decodes the request, runs its
//! handler and sends the answer; a payload that is no fs request is
//! `HandleError::Malformed`, which the kernel answers for the fs.

mod backing;
mod handlers;
#[cfg(test)]
mod tests;

use mealy_protocol::fs::{self, FsError, READ_CHUNK};
use mealy_protocol::{
    Context, Grants, HandleError, Incoming, MAX_PAYLOAD, Outbox, Outgoing, StateMachine,
};

use crate::format::{FormatError, Image, Layout};
use crate::tree::Tree;
use backing::Backing;

/// The name of the grant that holds the image.
pub const IMAGE_GRANT: &str = "image";

/// The room a `Create`d file gets: its private Region's length.
pub const CREATE_CAPACITY: u64 = 64 * 1024;

/// The most room one file may have (`Reserve` past it is `NoSpace`).
pub const MAX_CAPACITY: u64 = 16 * 1024 * 1024;

/// How much the fs may hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Limits {
    /// Entries in the tree, the root and the image's included. The image
    /// may hold more (it mounts anyway); then nothing can be created.
    pub entries: usize,
    /// Bytes of private copies, summed over their capacities.
    pub private_bytes: u64,
    /// Capabilities held for files (private Regions and image handles).
    pub held_caps: usize,
}

impl Limits {
    /// 4096 entries, 32 MiB of copies, 192 capabilities (the fs's CSpace
    /// has 256 slots by default).
    pub const DEFAULT: Limits = Limits {
        entries: 4096,
        private_bytes: 32 * 1024 * 1024,
        held_caps: 192,
    };
}

/// Whether the image mounted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mount {
    /// No `image` grant (no boot module).
    NoImage,
    /// The image failed validation.
    Corrupt(FormatError),
    Mounted(Layout),
}

/// The fs service's state.
#[derive(Debug)]
pub struct Fs {
    mount: Mount,
    writable: bool,
    tree: Tree,
    /// The most entries the tree may hold.
    max_entries: usize,
    backing: Backing,
    outbox: Outbox<MAX_PAYLOAD>,
    /// Bytes an answer borrows from the fs: a listing's entries or a
    /// read's data. They are put here before the answer is sent, since
    /// the answer goes through `cx`, which a Region's bytes borrow.
    staging: [u8; READ_CHUNK as usize],
}

impl Default for Fs {
    fn default() -> Self {
        Self::new()
    }
}

impl Fs {
    pub const fn new() -> Self {
        Self::with_limits(Limits::DEFAULT)
    }

    pub const fn with_limits(limits: Limits) -> Self {
        Self {
            mount: Mount::NoImage,
            writable: false,
            tree: Tree::new(),
            max_entries: limits.entries,
            backing: Backing::new(limits),
            outbox: Outbox::new(),
            staging: [0; READ_CHUNK as usize],
        }
    }

    pub fn mount(&self) -> Mount {
        self.mount
    }

    /// `NotMounted` unless the image mounted.
    fn mounted(&self) -> Result<(), FsError> {
        match self.mount {
            Mount::Mounted(_) if self.backing.has_image() => Ok(()),
            _ => Err(FsError::NotMounted),
        }
    }

    /// `NotMounted` or `ReadOnly` unless the fs may change.
    fn writable(&self) -> Result<(), FsError> {
        self.mounted()?;
        if self.writable {
            Ok(())
        } else {
            Err(FsError::ReadOnly)
        }
    }
}

impl Outgoing for Fs {
    fn outbox(&mut self) -> &mut [u8] {
        self.outbox.space()
    }
}

impl StateMachine for Fs {
    fn name(&self) -> &'static str {
        "fs"
    }

    fn start(&mut self, cx: &mut dyn Context, grants: Grants<'_>) -> Result<(), HandleError> {
        let Some(image) = grants.get(IMAGE_GRANT) else {
            cx.log(format_args!(
                "error: no file-system image (boot module `fs`); every request will fail"
            ));
            return Ok(());
        };
        let started = cx.now_ns();
        let parsed = match cx.region(image) {
            Ok(bytes) => Image::parse(bytes).map(|view| {
                let tree = Tree::from_image(&view);
                (view.layout(), bytes.len(), tree)
            }),
            Err(error) => {
                cx.log(format_args!("error: cannot read the image region: {error}"));
                return Ok(());
            }
        };
        let elapsed = cx.now_ns().saturating_sub(started);
        match parsed {
            Ok((layout, len, Some(tree))) => {
                self.mount = Mount::Mounted(layout);
                self.tree = tree;
                self.backing.set_image(image);
                self.writable = cx.region_mut(image).is_ok();
                cx.log(format_args!(
                    "mounted {len} bytes, {} inodes, {} extents, {} in {elapsed} ns",
                    layout.inode_count,
                    layout.extent_count,
                    if self.writable {
                        "read-write"
                    } else {
                        "read-only"
                    },
                ));
            }
            Ok((_, _, None)) => {
                cx.log(format_args!(
                    "error: the image's tree could not be read; every request will fail"
                ));
            }
            Err(error) => {
                self.mount = Mount::Corrupt(error);
                cx.log(format_args!(
                    "error: corrupt file-system image: {error}; every request will fail"
                ));
            }
        }
        Ok(())
    }

    fn handle(&mut self, cx: &mut dyn Context, msg: Incoming<'_>) -> Result<(), HandleError> {
        fs::serve(self, cx, &msg)
    }
}
