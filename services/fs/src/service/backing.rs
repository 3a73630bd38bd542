//! Where a file's bytes live, and what the fs holds for them: the write
//! policy, a private copy on the first change.
//!
//! A file nobody has changed is its extent of the image
//! ([`Pages::Image`]): a read-only `Open` is zero copy, a Region minted
//! from the fs's own read-only subregion over that extent (the *handle*,
//! derived on the first open, [`Backing::parent_cap`]). The first change —
//! a writable `Open`, `SetLen`, or a `Reserve` past its room — copies the
//! file into a Region the fs allocates (`cx.alloc_region`) and owns
//! ([`Pages::Private`]), as large as the file's capacity, and revokes every
//! Region handed out for the image pages ([`Backing::make_private`]), so
//! nobody keeps reading a stale version without noticing (their next
//! `cx.region` fails; they open again). From then on every `Open`,
//! read-only or not, is minted from the private Region. `Create` makes a
//! file private from the start ([`Backing::new_file`]). The image pages
//! themselves are never written.
//!
//! **Growth.** A private copy keeps the capacity the image gave the file
//! (size plus the builder's reserved pages); `Reserve` asks for more,
//! moving the file to a larger private Region (and revoking its Regions)
//! only when it must. `alloc_region` commits frames for the whole capacity
//! up front: there is no lazier way without a new kernel operation, which
//! is why capacity is asked for rather than reserved generously.
//!
//! **Release.** Removing a file revokes every Region derived for it and
//! drops the fs's own capability ([`Backing::release`]), which frees a
//! private copy's memory.
//!
//! **Bounds.** The bytes of private copies and the capabilities held for
//! files (one per private file or opened image file; the fs's CSpace is
//! finite) are counted against [`Limits`]: past either, `Full`. A kernel
//! refusal to allocate is `Full` too; one to derive or copy is `Kernel`.
//!
//! This module knows files only as [`File`] values: the handlers find
//! them in the tree and pass them in, and it changes them in place.

use alloc::vec::Vec;

use mealy_protocol::fs::FsError;
use mealy_protocol::{CapRef, Context, Rights};

use super::{Limits, MAX_CAPACITY};
use crate::format::PAGE;
use crate::tree::{File, Pages};

/// Bytes copied per step when a file moves (the source and the
/// destination cannot be borrowed from `cx` at once).
const COPY_STEP: usize = 16 * 1024;

/// The image capability and the accounting of what the fs holds for
/// files.
#[derive(Debug)]
pub(super) struct Backing {
    /// The whole image, once it mounted.
    image: Option<CapRef>,
    limits: Limits,
    /// Capacity of every private copy, summed.
    private_bytes: u64,
    /// Capabilities held in `Pages` (handles and private Regions).
    held_caps: usize,
}

impl Backing {
    pub(super) const fn new(limits: Limits) -> Self {
        Self {
            image: None,
            limits,
            private_bytes: 0,
            held_caps: 0,
        }
    }

    #[cfg(test)]
    pub(super) fn limits(&self) -> Limits {
        self.limits
    }

    pub(super) fn set_image(&mut self, image: CapRef) {
        self.image = Some(image);
    }

    pub(super) fn has_image(&self) -> bool {
        self.image.is_some()
    }

    fn image(&self) -> Result<CapRef, FsError> {
        self.image.ok_or(FsError::NotMounted)
    }

    /// The bytes of private copies and the capabilities held for files.
    #[cfg(test)]
    pub(super) fn held(&self) -> (u64, usize) {
        (self.private_bytes, self.held_caps)
    }

    /// The fs's capability every Region of `file` is minted from: the
    /// private Region, or the image handle (derived on first use and kept
    /// in `file`).
    pub(super) fn parent_cap(
        &mut self,
        cx: &mut dyn Context,
        file: &mut File,
    ) -> Result<CapRef, FsError> {
        match file.pages {
            Pages::Private { region } => Ok(region),
            Pages::Image {
                handle: Some(handle),
                ..
            } => Ok(handle),
            Pages::Image {
                extent: None,
                handle: None,
            } => Err(FsError::Fragmented),
            Pages::Image {
                extent: Some((offset, len)),
                handle: None,
            } => {
                if self.held_caps >= self.limits.held_caps {
                    return Err(FsError::Full);
                }
                let rights = Rights::READ | Rights::GRANT | Rights::DERIVE;
                let handle = cx
                    .subregion(self.image()?, offset, len, rights)
                    .map_err(|_| FsError::Kernel)?;
                self.held_caps += 1;
                file.pages = Pages::Image {
                    extent: Some((offset, len)),
                    handle: Some(handle),
                };
                Ok(handle)
            }
        }
    }

    /// Gives `file` a private Region of at least `capacity` bytes (its
    /// current one if that is large enough), copying its bytes and
    /// revoking every Region handed out for the old pages. Marks it dirty.
    /// On an error `file` is unchanged.
    pub(super) fn make_private(
        &mut self,
        cx: &mut dyn Context,
        file: &mut File,
        capacity: u64,
    ) -> Result<(), FsError> {
        if let Pages::Private { .. } = file.pages
            && capacity <= file.capacity
        {
            file.dirty = true;
            return Ok(());
        }
        if let Pages::Image { extent: None, .. } = file.pages {
            return Err(FsError::Fragmented);
        }
        let capacity = capacity
            .max(file.capacity)
            .max(PAGE)
            .checked_next_multiple_of(PAGE)
            .filter(|&c| c <= MAX_CAPACITY)
            .ok_or(FsError::NoSpace {
                capacity: MAX_CAPACITY,
            })?;
        let region = self.alloc_private(cx, capacity, Some(*file))?;
        if let Err(error) = self.copy_bytes(cx, *file, region) {
            self.free_private(cx, region, capacity);
            return Err(error);
        }
        self.release(cx, *file);
        *file = File {
            size: file.size,
            capacity,
            dirty: true,
            pages: Pages::Private { region },
        };
        Ok(())
    }

    /// A new empty private file of `capacity` bytes, dirty.
    pub(super) fn new_file(
        &mut self,
        cx: &mut dyn Context,
        capacity: u64,
    ) -> Result<File, FsError> {
        let region = self.alloc_private(cx, capacity, None)?;
        Ok(File {
            size: 0,
            capacity,
            dirty: true,
            pages: Pages::Private { region },
        })
    }

    /// Revokes every Region handed out for `file`'s pages and drops the
    /// fs's own capability to them (freeing a private copy).
    pub(super) fn release(&mut self, cx: &mut dyn Context, file: File) {
        match file.pages {
            Pages::Private { region } => self.free_private(cx, region, file.capacity),
            Pages::Image {
                handle: Some(handle),
                ..
            } => {
                let _ = cx.revoke(handle);
                let _ = cx.drop_cap(handle);
                self.held_caps = self.held_caps.saturating_sub(1);
            }
            Pages::Image { handle: None, .. } => {}
        }
    }

    /// Zeroes a private `file`'s bytes from `len` to its size, so growing
    /// again shows zeros, not the cut-off bytes. Image pages are never
    /// written (a file is private before it shrinks).
    pub(super) fn cut(&self, cx: &mut dyn Context, file: File, len: u64) -> Result<(), FsError> {
        let Pages::Private { region } = file.pages else {
            return Ok(());
        };
        let bytes = cx.region_mut(region).map_err(|_| FsError::Kernel)?;
        let from = usize::try_from(len).unwrap_or(usize::MAX);
        let to = usize::try_from(file.size).unwrap_or(usize::MAX);
        if let Some(tail) = bytes.get_mut(from..to) {
            tail.fill(0);
        }
        Ok(())
    }

    /// `len` bytes of `file` from `offset` (the caller keeps them within
    /// the size).
    pub(super) fn bytes<'c>(
        &self,
        cx: &'c dyn Context,
        file: File,
        offset: u64,
        len: usize,
    ) -> Result<&'c [u8], FsError> {
        let (cap, base) = match file.pages {
            Pages::Private { region } => (region, 0),
            Pages::Image {
                extent: Some((at, _)),
                ..
            } => (self.image()?, at),
            Pages::Image { extent: None, .. } => return Err(FsError::Fragmented),
        };
        let bytes = cx.region(cap).map_err(|_| FsError::NotMounted)?;
        let start = base
            .checked_add(offset)
            .and_then(|start| usize::try_from(start).ok())
            .ok_or(FsError::NotMounted)?;
        bytes
            .get(start..start.saturating_add(len))
            .ok_or(FsError::NotMounted)
    }

    /// A fresh private Region of `capacity` bytes, within the limits
    /// (counting what the file's old `replacing` pages free).
    fn alloc_private(
        &mut self,
        cx: &mut dyn Context,
        capacity: u64,
        replacing: Option<File>,
    ) -> Result<CapRef, FsError> {
        let (freed_bytes, freed_caps) = match replacing.map(|file| (file.pages, file.capacity)) {
            Some((Pages::Private { .. }, capacity)) => (capacity, 1),
            Some((Pages::Image { handle, .. }, _)) => (0, usize::from(handle.is_some())),
            None => (0, 0),
        };
        let bytes = self.private_bytes.saturating_sub(freed_bytes);
        if bytes.saturating_add(capacity) > self.limits.private_bytes
            || self.held_caps.saturating_sub(freed_caps) >= self.limits.held_caps
        {
            return Err(FsError::Full);
        }
        let len = usize::try_from(capacity).map_err(|_| FsError::Full)?;
        let region = cx.alloc_region(len).map_err(|_| FsError::Full)?;
        self.private_bytes += capacity;
        self.held_caps += 1;
        Ok(region)
    }

    /// Drops a private Region the fs made, revoking what was minted from it.
    pub(super) fn free_private(&mut self, cx: &mut dyn Context, region: CapRef, capacity: u64) {
        let _ = cx.revoke(region);
        let _ = cx.drop_cap(region);
        self.private_bytes = self.private_bytes.saturating_sub(capacity);
        self.held_caps = self.held_caps.saturating_sub(1);
    }

    /// Copies `file`'s first `size` bytes into `to` (a fresh Region at
    /// least `file.capacity` long), [`COPY_STEP`] at a time.
    fn copy_bytes(&self, cx: &mut dyn Context, file: File, to: CapRef) -> Result<(), FsError> {
        let size = usize::try_from(file.size).map_err(|_| FsError::Full)?;
        let mut chunk: Vec<u8> = Vec::new();
        let mut done = 0;
        while done < size {
            let n = (size - done).min(COPY_STEP);
            chunk.clear();
            chunk.extend_from_slice(self.bytes(&*cx, file, done as u64, n)?);
            let target = cx.region_mut(to).map_err(|_| FsError::Kernel)?;
            target
                .get_mut(done..done + n)
                .ok_or(FsError::Kernel)?
                .copy_from_slice(&chunk);
            done += n;
        }
        Ok(())
    }
}
