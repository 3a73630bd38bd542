//! The `fs` service's interface. Files are memory: [`Open`] is answered
//! with [`Opened`] and one transferred Region capability whose pages hold
//! the file. The Region covers the file's whole capacity, page-aligned;
//! the file is its first `size` bytes. Reading a file is reading that
//! memory; writing is writing it, then [`SetLen`] records the new size
//! (growth up to `capacity` keeps the address), and [`Sync`] makes every
//! change durable on the data disk (answered once it is; without a disk
//! it only marks everything clean, and says so). [`Usage`] tells how much
//! the fs and its disk hold.
//!
//! A read-only open of a file nobody has written is zero copy (the image's
//! own pages); the first writable open, [`Create`] or [`Reserve`] gives
//! the file a private copy in memory the fs owns, and revokes every Region
//! handed out for the old pages, so nobody keeps reading a stale version
//! silently. [`Remove`] revokes the file's Regions; [`Rename`] keeps them
//! valid.
//!
//! [`Read`] is the other way to read: bytes copied through messages, at
//! most [`READ_CHUNK`] per call ([`Data`]), for clients that cannot or
//! need not map the file.
//!
//! Declared with [`interface!`](crate::interface!): one request type per
//! operation, each answered with its own reply type or an [`FsError`]
//! (`Result<Reply, FsError>` on the wire). A client calls with
//! [`call`](crate::call) and reads the answer with
//! [`Pending::answer`](crate::Pending::answer); the fs implements
//! [`Server`] and hands each message to [`serve`]. Operation numbers are
//! the old `Request` enum's variant order, so the bytes on the wire are
//! what they were; new operations go at the end. `Open` (its answer moves
//! a capability), `List` and `Read` (their answers borrow the fs's own
//! buffers) are answered by their handlers; the rest return their answer.
//!
//! Every request is meant as a `call`. One that comes by `send` is carried
//! out but has no one to answer (an `Open` then hands out nothing). Paths
//! are `/`-separated from the root; empty components are ignored. Fields
//! borrow from the payload.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::block::BlockError;
use crate::codec::{CodecError, decode_prefix};
use crate::envelope::MAX_PAYLOAD;
use crate::interface::ServiceError;

/// The most bytes one [`Data`] carries: a payload less the answer's
/// framing (`Ok` tag and length, 3 bytes; 8 leave room).
pub const READ_CHUNK: u32 = MAX_PAYLOAD as u32 - 8;

crate::interface! {
    <'a> error FsError;
    /// A Region capability to the file's pages comes with the answer:
    /// READ and GRANT, plus WRITE if `write` (refused with `ReadOnly` on a
    /// read-only image).
    0 => fn open(Open<'a>, answer) -> Opened;
    /// The entries of a directory, as many as fit one answer.
    1 => fn list(List<'a>, answer) -> Listing<'a>;
    /// One entry; its `name` is the path's last component.
    2 => fn stat(Stat<'a>) -> Entry<'a>;
    /// Sets a file's size, at most its capacity (`NoSpace` beyond).
    3 => fn set_len(SetLen<'a>) -> Done;
    /// Makes every change durable (on the data disk, if the fs has one)
    /// and marks every file clean; answered when that is done.
    4 => fn sync(Sync, answer) -> Synced;
    /// A new empty file.
    5 => fn create(Create<'a>) -> Done;
    /// Deletes a file or an empty directory, revoking its Regions.
    6 => fn remove(Remove<'a>) -> Done;
    /// Moves an entry within the tree; open Regions stay valid.
    7 => fn rename(Rename<'a>) -> Done;
    /// Bytes of a file, copied into the answer.
    8 => fn read(Read<'a>, answer) -> Data<'a>;
    /// A new empty directory.
    9 => fn mkdir(Mkdir<'a>) -> Done;
    /// Room for at least `capacity` bytes.
    10 => fn reserve(Reserve<'a>) -> Done;
    /// How much the fs holds, and the disk's size, use and room.
    11 => fn usage(Usage) -> Space;
}

// ----- requests -----

/// A Region capability to the file's pages: READ, plus WRITE if `write`
/// (refused with `ReadOnly` on a read-only image). Answered with
/// [`Opened`] and the capability.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Open<'a> {
    pub path: &'a str,
    pub write: bool,
}

/// The entries of a directory: [`Listing`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct List<'a> {
    pub path: &'a str,
}

/// One entry, file or directory: [`Entry`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Stat<'a> {
    pub path: &'a str,
}

/// Sets a file's size, at most its capacity (`NoSpace` beyond); shrinking
/// zeroes the cut bytes. [`Done`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SetLen<'a> {
    pub path: &'a str,
    pub len: u64,
}

/// Marks every file clean: what changed since the last sync would be
/// written back here (in RAM only until the disk driver exists). [`Done`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Sync;

/// A new empty file (its parent directory must exist; `Exists` if the
/// name is taken). [`Done`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Create<'a> {
    pub path: &'a str,
}

/// Deletes a file, or an empty directory (`NotEmpty` otherwise), and
/// revokes every Region handed out for it. [`Done`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Remove<'a> {
    pub path: &'a str,
}

/// Moves an entry within the tree; `to` must not exist (`Exists`). Open
/// Regions stay valid. [`Done`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Rename<'a> {
    pub from: &'a str,
    pub to: &'a str,
}

/// Up to `len` bytes of a file from `offset`, copied into a [`Data`]: at
/// most [`READ_CHUNK`], fewer (or none) at the end.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Read<'a> {
    pub path: &'a str,
    pub offset: u64,
    pub len: u32,
}

/// A new empty directory (parent must exist; `Exists` if taken). [`Done`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Mkdir<'a> {
    pub path: &'a str,
}

/// Gives a file room for at least `capacity` bytes. If it must move to do
/// so, its Regions handed out so far are revoked (open it again); within
/// its capacity this changes nothing. [`Done`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Reserve<'a> {
    pub path: &'a str,
    pub capacity: u64,
}

/// How much the fs holds and where: [`Space`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Usage;

// ----- answers -----

/// The answer to [`Open`]; the file's Region comes with it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Opened {
    pub size: u64,
    pub capacity: u64,
}

/// The answer to [`List`]. `entries` is `shown` postcard-encoded
/// [`Entry`]s back to back (read them with [`entries`]); `total` counts
/// them all, so `shown < total` means the listing did not fit one message.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Listing<'a> {
    pub total: u32,
    pub shown: u32,
    #[serde(serialize_with = "crate::codec::as_bytes")]
    pub entries: &'a [u8],
}

/// The answer to a request that only succeeds or fails.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Done;

/// The answer to [`Read`]: the bytes asked for (empty past the end).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Data<'a> {
    #[serde(serialize_with = "crate::codec::as_bytes")]
    pub bytes: &'a [u8],
}

/// Whether an entry is a directory or a file.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Kind {
    Directory,
    File,
}

/// What [`Stat`] answers, and each entry of a [`Listing`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Entry<'a> {
    pub name: &'a str,
    pub kind: Kind,
    /// File: bytes; directory: entries.
    pub size: u64,
    /// File: bytes reserved for it (its Region's length); directory: 0.
    pub capacity: u64,
    /// File: possibly changed since the last `Sync` (it was created, opened
    /// writable, resized or moved to new memory); directory: false.
    pub dirty: bool,
    /// File: on the data disk as it is now (the fs mounted a disk and the
    /// file is unchanged since the last sync); directory, or an fs in RAM
    /// only: false.
    pub persisted: bool,
}

/// Why a request failed.
/// What a [`Sync`] made durable: the files whose bytes it wrote and how
/// many bytes those hold, and the disk generation that now holds every
/// change (`None`: the fs has no disk, so nothing outlives a reboot).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Synced {
    pub files: u32,
    pub bytes: u64,
    pub generation: Option<u64>,
}

/// The answer to [`Usage`]: the files the fs holds (their bytes summed),
/// and the data disk, if the fs serves one.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Space {
    pub files: u32,
    pub file_bytes: u64,
    pub disk: Option<DiskSpace>,
}

/// The data disk as the last committed generation uses it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DiskSpace {
    pub block_size: u32,
    pub blocks: u64,
    /// Blocks the committed generation references (superblocks, catalog,
    /// file data); the rest are free.
    pub used: u64,
    pub generation: u64,
    pub read_only: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum FsError {
    NotFound,
    /// A path component before the last is a file, or `List` of a file.
    NotADirectory,
    /// `Open` or `SetLen` of a directory.
    IsADirectory,
    /// Writing was asked of a read-only image.
    ReadOnly,
    /// `SetLen` past the file's capacity.
    NoSpace {
        capacity: u64,
    },
    /// Too deep, or a component too long.
    BadPath,
    /// The file is in several extents and cannot be one Region.
    Fragmented,
    /// The image did not mount (the fs logged why at boot).
    NotMounted,
    /// The kernel refused an operation (deriving or sending the Region).
    Kernel,
    /// `Create`, `Mkdir` or `Rename` onto a name that is taken.
    Exists,
    /// `Remove` of a directory that still has entries.
    NotEmpty,
    /// `Rename` of a directory into itself or one of its descendants.
    IntoItself,
    /// The fs holds as many entries as it allows.
    TooManyEntries,
    /// The memory the fs may spend on file copies is used up (or the
    /// kernel had no more).
    Full,
    /// The block driver refused or failed a request of a sync's commit.
    Disk(BlockError),
    /// The block driver is gone (the call failed): nothing more reaches
    /// the disk.
    DiskGone,
    /// The disk has not `needed` free blocks for the commit (a contiguous
    /// run, for the catalog); `free` are.
    DiskFull {
        needed: u64,
        free: u64,
    },
    /// The fs could not plan a commit of its tree (a bug, not the disk's).
    Unplannable,
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsError::NotFound => f.write_str("no such file or directory"),
            FsError::NotADirectory => f.write_str("not a directory"),
            FsError::IsADirectory => f.write_str("is a directory"),
            FsError::ReadOnly => f.write_str("read-only file system"),
            FsError::NoSpace { capacity } => {
                write!(f, "no space: the file can hold {capacity} bytes")
            }
            FsError::BadPath => f.write_str("bad path"),
            FsError::Fragmented => f.write_str("file is fragmented"),
            FsError::NotMounted => f.write_str("no file system mounted (see the boot log)"),
            FsError::Kernel => f.write_str("the kernel refused the operation"),
            FsError::Exists => f.write_str("file exists"),
            FsError::NotEmpty => f.write_str("directory not empty"),
            FsError::IntoItself => f.write_str("cannot move a directory into itself"),
            FsError::TooManyEntries => f.write_str("too many files"),
            FsError::Full => f.write_str("file system full: no memory left for file data"),
            FsError::Disk(error) => write!(f, "the disk failed: {error}"),
            FsError::DiskGone => f.write_str("the disk's driver is gone"),
            FsError::DiskFull { needed, free } => {
                write!(f, "disk full: {needed} blocks needed, {free} free")
            }
            FsError::Unplannable => f.write_str("the fs could not plan the commit"),
        }
    }
}

impl ServiceError for FsError {}

/// The entries of a [`Listing`], decoded one by one (borrowing).
pub fn entries(bytes: &[u8]) -> impl Iterator<Item = Result<Entry<'_>, CodecError>> {
    let mut rest = bytes;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match decode_prefix::<Entry<'_>>(rest) {
            Ok((entry, tail)) => {
                rest = tail;
                Some(Ok(entry))
            }
            Err(error) => {
                rest = &[];
                Some(Err(error))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;
    use crate::encode;
    use crate::interface::{decode_answer, encode_answer, encode_request};

    #[test]
    fn a_listing_round_trips_through_postcard() {
        let mut area = [0u8; 256];
        let mut used = 0;
        for (name, size) in [("a", 1u64), ("bb", 4096)] {
            let entry = Entry {
                name,
                kind: Kind::File,
                size,
                capacity: 8192,
                dirty: false,
                persisted: true,
            };
            used += encode(&entry, &mut area[used..]).unwrap().len();
        }
        let mut buffer = [0u8; 512];
        let listing = Listing {
            total: 2,
            shown: 2,
            entries: &area[..used],
        };
        let bytes = encode_answer::<_, FsError>(&Ok(listing), &mut buffer).unwrap();
        let raw = decode_answer::<List<'static>>(bytes)
            .unwrap()
            .unwrap()
            .entries;
        let names: std::vec::Vec<_> = entries(raw).map(|e| e.unwrap().name).collect();
        assert_eq!(names, ["a", "bb"]);
        assert!(entries(&[0xff]).next().unwrap().is_err());
    }

    #[test]
    fn a_full_data_answer_fits_one_payload() {
        let chunk = [0xa5u8; READ_CHUNK as usize];
        let mut buffer = [0u8; MAX_PAYLOAD];
        let data = Data { bytes: &chunk };
        let bytes = encode_answer::<_, FsError>(&Ok(data), &mut buffer).unwrap();
        assert!(bytes.len() <= MAX_PAYLOAD);
        assert_eq!(decode_answer::<Read<'static>>(bytes), Ok(Ok(data)));
    }

    #[test]
    fn operations_keep_the_old_request_encodings() {
        let mut buffer = [0u8; 64];
        // `Sync` was the fifth request and stays tag 4; new ones follow.
        assert_eq!(encode_request(&Sync, &mut buffer).unwrap(), [4]);
        assert_eq!(
            encode_request(&Create { path: "a" }, &mut buffer).unwrap(),
            [5, 1, b'a']
        );
        assert_eq!(
            encode_request(
                &Reserve {
                    path: "a",
                    capacity: 1
                },
                &mut buffer
            )
            .unwrap(),
            [10, 1, b'a', 1]
        );
        // An answer is a `Result`: `Ok` then the reply, `Err` then the error.
        assert_eq!(
            encode_answer::<_, FsError>(&Ok(Done), &mut buffer).unwrap(),
            [0]
        );
        assert_eq!(
            encode_answer::<Done, _>(&Err(FsError::Exists), &mut buffer).unwrap(),
            [1, 9]
        );
    }

    #[test]
    fn usage_is_the_twelfth_operation_and_its_answer_round_trips() {
        let mut buffer = [0u8; 64];
        assert_eq!(encode_request(&Usage, &mut buffer).unwrap(), [11]);
        let space = Space {
            files: 3,
            file_bytes: 5000,
            disk: Some(DiskSpace {
                block_size: 4096,
                blocks: 4096,
                used: 12,
                generation: 7,
                read_only: false,
            }),
        };
        let bytes = encode_answer::<_, FsError>(&Ok(space), &mut buffer).unwrap();
        assert_eq!(decode_answer::<Usage>(bytes), Ok(Ok(space)));
        let ram = Space {
            disk: None,
            ..space
        };
        let bytes = encode_answer::<_, FsError>(&Ok(ram), &mut buffer).unwrap();
        assert_eq!(decode_answer::<Usage>(bytes), Ok(Ok(ram)));
    }

    #[test]
    fn a_sync_answers_what_it_wrote_or_a_disk_error() {
        let mut buffer = [0u8; 64];
        let synced = Synced {
            files: 2,
            bytes: 9000,
            generation: Some(4),
        };
        let bytes = encode_answer::<_, FsError>(&Ok(synced), &mut buffer).unwrap();
        assert_eq!(decode_answer::<Sync>(bytes), Ok(Ok(synced)));
        for error in [
            FsError::Disk(BlockError::Device),
            FsError::DiskGone,
            FsError::DiskFull { needed: 9, free: 2 },
            FsError::Unplannable,
        ] {
            let bytes = encode_answer::<Synced, _>(&Err(error), &mut buffer).unwrap();
            assert_eq!(decode_answer::<Sync>(bytes), Ok(Err(error)));
        }
        // The old errors keep their tags; the new ones follow them.
        let bytes = encode_answer::<Synced, _>(&Err(FsError::DiskGone), &mut buffer).unwrap();
        assert_eq!(bytes, [1, 15]);
        assert_eq!(
            FsError::Disk(BlockError::Device).to_string(),
            "the disk failed: the device reported an error"
        );
        assert_eq!(
            FsError::DiskFull { needed: 9, free: 2 }.to_string(),
            "disk full: 9 blocks needed, 2 free"
        );
        // Truncated or unknown bytes are an error value, never a panic.
        assert!(decode_answer::<Sync>(&[0, 1]).is_err());
        assert!(decode_answer::<Sync>(&[1, 200]).is_err());
    }

    #[test]
    fn requests_borrow_their_paths() {
        let mut buffer = [0u8; 64];
        let open = Open {
            path: "etc/motd",
            write: true,
        };
        let bytes = encode_request(&open, &mut buffer).unwrap();
        let (op, body) = crate::interface::split_op(bytes).unwrap();
        assert_eq!(op, 0);
        let decoded: Open<'_> = crate::decode(body).unwrap();
        assert_eq!(decoded, open);
        assert_eq!(decoded.path.as_ptr(), body[1..].as_ptr(), "not copied");
    }

    #[test]
    fn an_error_answer_decodes_as_the_service_error() {
        let mut buffer = [0u8; 16];
        let capacity = 4096;
        let bytes =
            encode_answer::<Done, _>(&Err(FsError::NoSpace { capacity }), &mut buffer).unwrap();
        assert_eq!(
            decode_answer::<SetLen<'static>>(bytes),
            Ok(Err(FsError::NoSpace { capacity }))
        );
        assert_eq!(
            FsError::NoSpace { capacity }.to_string(),
            "no space: the file can hold 4096 bytes"
        );
    }
}
