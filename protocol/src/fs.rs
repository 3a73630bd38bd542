//! Messages of the `fs` service. Files are memory: [`Request::Open`] is
//! answered with [`Reply::Opened`] and one transferred Region capability
//! whose pages hold the file (zero copy: the pages of the image itself).
//! The Region covers the file's whole capacity, page-aligned; the file is
//! its first `size` bytes. Reading a file is reading that memory; writing
//! is writing it, then [`Request::SetLen`] records the new size (growth up
//! to `capacity` keeps the address), and [`Request::Sync`] makes the
//! image's metadata consistent again.
//!
//! Every request is a `call`; every answer is a [`Reply`], failures as
//! [`Reply::Error`] with a typed [`FsError`]. Paths are `/`-separated from
//! the root; empty components are ignored. Fields borrow from the payload.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::{CodecError, decode_prefix};

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
    /// Writes the metadata back (checksum over the new sizes).
    Sync,
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
