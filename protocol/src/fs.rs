//! Messages of the `fs` service. Files are memory: [`Request::Open`] is
//! answered with [`Reply::Opened`] and one transferred Region capability
//! whose pages hold the file. The Region covers the file's whole capacity,
//! page-aligned; the file is its first `size` bytes. Reading a file is
//! reading that memory; writing is writing it, then [`Request::SetLen`]
//! records the new size (growth up to `capacity` keeps the address), and
//! [`Request::Sync`] marks everything clean (durable once a disk exists).
//!
//! A read-only open of a file nobody has written is zero copy (the image's
//! own pages); the first writable open, [`Request::Create`] or
//! [`Request::Reserve`] gives the file a private copy in memory the fs
//! owns, and revokes every Region handed out for the old pages, so nobody
//! keeps reading a stale version silently. [`Request::Remove`] revokes the
//! file's Regions; [`Request::Rename`] keeps them valid.
//!
//! [`Request::Read`] is the other way to read: bytes copied through
//! messages, at most [`READ_CHUNK`] per call ([`Reply::Data`]), for
//! clients that cannot or need not map the file.
//!
//! Every request is a `call`; every answer is a [`Reply`], failures as
//! [`Reply::Error`] with a typed [`FsError`]. Paths are `/`-separated from
//! the root; empty components are ignored. Fields borrow from the payload.
//! New variants go at the end of each enum, so existing encodings stay.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::{CodecError, decode_prefix};
use crate::envelope::MAX_PAYLOAD;

/// The most bytes one [`Reply::Data`] carries: a payload less the reply's
/// framing (variant tag and length, 3 bytes; 8 leave room).
pub const READ_CHUNK: u32 = MAX_PAYLOAD as u32 - 8;

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Request<'a> {
    /// A Region capability to the file's pages: READ, plus WRITE if
    /// `write` (refused with `ReadOnly` on a read-only image).
    Open {
        path: &'a str,
        write: bool,
    },
    /// The entries of a directory.
    List {
        path: &'a str,
    },
    Stat {
        path: &'a str,
    },
    /// Sets a file's size, at most its capacity (`NoSpace` beyond).
    SetLen {
        path: &'a str,
        len: u64,
    },
    /// Marks every file clean: what changed since the last sync would be
    /// written back here (in RAM only until the disk driver exists).
    Sync,
    /// A new empty file (its parent directory must exist; `Exists` if the
    /// name is taken).
    Create {
        path: &'a str,
    },
    /// Deletes a file, or an empty directory (`NotEmpty` otherwise), and
    /// revokes every Region handed out for it.
    Remove {
        path: &'a str,
    },
    /// Moves an entry within the tree; `to` must not exist (`Exists`).
    /// Open Regions stay valid.
    Rename {
        from: &'a str,
        to: &'a str,
    },
    /// Up to `len` bytes of a file from `offset`, copied into a
    /// [`Reply::Data`]: at most [`READ_CHUNK`], fewer (or none) at the end.
    Read {
        path: &'a str,
        offset: u64,
        len: u32,
    },
    /// A new empty directory (parent must exist; `Exists` if taken).
    Mkdir {
        path: &'a str,
    },
    /// Gives a file room for at least `capacity` bytes. If it must move to
    /// do so, its Regions handed out so far are revoked (open it again);
    /// within its capacity this changes nothing.
    Reserve {
        path: &'a str,
        capacity: u64,
    },
}

/// Whether an entry is a directory or a file.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Kind {
    Directory,
    File,
}

/// What `Stat` answers, and each entry of a listing.
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
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Reply<'a> {
    /// With one capability: the file's Region.
    Opened {
        size: u64,
        capacity: u64,
    },
    /// `entries` is `shown` postcard-encoded [`Entry`]s back to back (read
    /// them with [`entries`]); `total` counts them all, so `shown < total`
    /// means the listing did not fit one message.
    Listing {
        total: u32,
        shown: u32,
        #[serde(serialize_with = "crate::codec::as_bytes")]
        entries: &'a [u8],
    },
    Stat(Entry<'a>),
    Done,
    Error(FsError),
    /// The bytes a [`Request::Read`] asked for (empty past the end).
    Data {
        #[serde(serialize_with = "crate::codec::as_bytes")]
        bytes: &'a [u8],
    },
}

/// Why a request failed.
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
        }
    }
}

/// The entries of a [`Reply::Listing`], decoded one by one (borrowing).
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
    use super::*;
    use crate::{decode, encode};

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
            };
            used += encode(&entry, &mut area[used..]).unwrap().len();
        }
        let mut buffer = [0u8; 512];
        let bytes = encode(
            &Reply::Listing {
                total: 2,
                shown: 2,
                entries: &area[..used],
            },
            &mut buffer,
        )
        .unwrap();
        let Reply::Listing { entries: raw, .. } = decode::<Reply<'_>>(bytes).unwrap() else {
            panic!("not a listing");
        };
        let names: std::vec::Vec<_> = entries(raw).map(|e| e.unwrap().name).collect();
        assert_eq!(names, ["a", "bb"]);
        assert!(entries(&[0xff]).next().unwrap().is_err());
    }

    #[test]
    fn a_full_data_reply_fits_one_payload() {
        let chunk = [0xa5u8; READ_CHUNK as usize];
        let mut buffer = [0u8; MAX_PAYLOAD];
        let bytes = encode(&Reply::Data { bytes: &chunk }, &mut buffer).unwrap();
        assert!(bytes.len() <= MAX_PAYLOAD);
        assert_eq!(
            decode::<Reply<'_>>(bytes),
            Ok(Reply::Data { bytes: &chunk[..] })
        );
    }

    #[test]
    fn old_variants_keep_their_encodings() {
        let mut buffer = [0u8; 64];
        // `Sync` was the fifth request and stays tag 4; new ones follow.
        assert_eq!(encode(&Request::Sync, &mut buffer).unwrap(), [4]);
        assert_eq!(
            encode(&Request::Create { path: "a" }, &mut buffer).unwrap(),
            [5, 1, b'a']
        );
        assert_eq!(encode(&Reply::Done, &mut buffer).unwrap(), [3]);
    }

    #[test]
    fn requests_borrow_their_paths() {
        let mut buffer = [0u8; 64];
        let bytes = encode(
            &Request::Open {
                path: "etc/motd",
                write: true,
            },
            &mut buffer,
        )
        .unwrap();
        assert_eq!(
            decode::<Request<'_>>(bytes),
            Ok(Request::Open {
                path: "etc/motd",
                write: true
            })
        );
    }
}
