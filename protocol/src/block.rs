//! The `block` interface: a disk of fixed-size blocks, served by a block
//! driver (`services/virtio-blk`).
//!
//! Requests are asynchronous calls: the driver starts the transfer and
//! answers when the device says it is done, so a client keeps handling
//! other messages meanwhile. Data never travels in a message: [`Read`]
//! and [`Write`] carry one Region capability (the first of the message's
//! capabilities) whose first [`BLOCK_SIZE`] bytes are the block. The
//! driver copies between that Region and its own DMA memory, so the
//! device never touches the client's pages, and drops the capability
//! once it has answered: send a copy (`cx.copy`) or a minted child, and
//! keep your own. A Region revoked while its request is in flight is no
//! harm: the answer is then [`BlockError::BufferGone`].
//!
//! Declared with [`interface!`](crate::interface!): each operation is
//! answered with its reply or a [`BlockError`].

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::interface::ServiceError;

/// The size of one block, in bytes: a page, so a block is one page of a
/// Region.
pub const BLOCK_SIZE: usize = 4096;

/// Asks for the disk's size.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Info;

/// The disk: how many blocks it has, and whether it takes writes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Geometry {
    pub blocks: u64,
    pub block_size: u32,
    pub read_only: bool,
}

/// Reads block `block` into the Region sent with it (needs WRITE on it).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Read {
    pub block: u64,
}

/// Writes the first [`BLOCK_SIZE`] bytes of the Region sent with it
/// (needs READ on it) to block `block`. Durable after a [`Flush`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Write {
    pub block: u64,
}

/// Makes every write answered so far durable.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Flush;

/// The answer to a transfer or a flush: it is done.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Done;

/// Why a block request failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum BlockError {
    /// The request came without a Region capability, or with one that is
    /// no Region or lacks the right the transfer needs.
    NoBuffer,
    /// The Region is smaller than a block.
    BufferTooSmall { len: u64 },
    /// The block is past the end of the disk.
    OutOfRange { block: u64, blocks: u64 },
    /// Every request slot is in use: retry when an answer comes.
    Busy,
    /// The disk is read-only.
    ReadOnly,
    /// The device reported an error for this request.
    Device,
    /// The driver has no working device (not found, or it failed to start).
    NotReady,
    /// The Region was revoked before the read's data could be copied in.
    BufferGone,
}

impl ServiceError for BlockError {}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockError::NoBuffer => f.write_str("no usable Region capability with the request"),
            BlockError::BufferTooSmall { len } => {
                write!(f, "the Region has {len} bytes, less than a block")
            }
            BlockError::OutOfRange { block, blocks } => {
                write!(
                    f,
                    "block {block} is past the end of the disk ({blocks} blocks)"
                )
            }
            BlockError::Busy => f.write_str("the driver is busy; retry"),
            BlockError::ReadOnly => f.write_str("the disk is read-only"),
            BlockError::Device => f.write_str("the device reported an error"),
            BlockError::NotReady => f.write_str("no working block device"),
            BlockError::BufferGone => f.write_str("the Region was revoked in flight"),
        }
    }
}

crate::interface! {
    <'a> error BlockError;
    /// The disk's size.
    0 => fn info(Info) -> Geometry;
    /// Reads a block into the Region sent with the request; answered
    /// when the device has delivered it.
    1 => fn read(Read, answer) -> Done;
    /// Writes a block from the Region sent with the request; answered
    /// when the device has taken it.
    2 => fn write(Write, answer) -> Done;
    /// Answered when every write answered before is durable.
    3 => fn flush(Flush, answer) -> Done;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interface::{decode_answer, encode_request};

    #[test]
    fn requests_are_tagged_by_operation() {
        let mut buffer = [0u8; 32];
        assert_eq!(encode_request(&Info, &mut buffer).unwrap(), &[0]);
        assert_eq!(
            encode_request(&Read { block: 3 }, &mut buffer).unwrap(),
            &[1, 3]
        );
        assert_eq!(
            encode_request(&Write { block: 300 }, &mut buffer).unwrap(),
            &[2, 172, 2]
        );
        assert_eq!(encode_request(&Flush, &mut buffer).unwrap(), &[3]);
    }

    #[test]
    fn an_error_answer_decodes() {
        let mut buffer = [0u8; 32];
        let bytes = crate::interface::encode_answer::<Done, BlockError>(
            &Err(BlockError::OutOfRange {
                block: 9,
                blocks: 4,
            }),
            &mut buffer,
        )
        .unwrap();
        assert_eq!(
            decode_answer::<Read>(bytes).unwrap(),
            Err(BlockError::OutOfRange {
                block: 9,
                blocks: 4
            })
        );
    }
}
