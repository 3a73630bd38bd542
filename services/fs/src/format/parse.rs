//! The validating parser: [`Image::parse`] checks every rule of the format
//! (see the module above) before anything reads the image, in one pass and
//! without a heap, and returns the first violation as a [`FormatError`].
//! After that the accessors still bounds-check every read (returning
//! `None`), so even bytes that change after validation (the fs holds its
//! image writable) can give wrong answers but never a panic.

use super::{
    CHECKSUM_AT, EXTENT_LEN, FormatError, INODE_LEN, KIND_DIR, KIND_FILE, Kind, MAGIC, MAX_DEPTH,
    MAX_INODES, MAX_NAME, PAGE, SUPERBLOCK_LEN, VERSION, checksum, page_round,
};

/// Where the parts of a validated image are: what the fs keeps between
/// messages so it need not re-validate (a `Copy` value, no borrow).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Layout {
    pub image_len: u64,
    pub meta_len: u32,
    pub inode_count: u32,
    pub inode_offset: u32,
    pub extent_count: u32,
    pub extent_offset: u32,
    pub names_offset: u32,
    pub names_len: u32,
}

/// A validated image (or one trusted to be, see [`Image::trusted`]).
#[derive(Clone, Copy, Debug)]
pub struct Image<'a> {
    bytes: &'a [u8],
    layout: Layout,
}

/// One inode, decoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Inode<'a> {
    pub index: u32,
    pub kind: Kind,
    pub name: &'a str,
    pub parent: u32,
    /// Directory: first child; file: first extent.
    pub first: u32,
    /// Directory: children; file: extents.
    pub count: u32,
    pub size: u64,
}

/// A directory entry as a listing shows it.
pub type Entry<'a> = Inode<'a>;

/// Why a path did not resolve.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PathError {
    NotFound,
    /// A component before the last is a file.
    NotADirectory,
    /// Deeper than [`MAX_DEPTH`] or a component longer than a name may be.
    BadPath,
}

pub(crate) fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

pub(crate) fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Whether `name` may name a directory entry.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name != "."
        && name != ".."
        && !name.contains(['/', '\0'])
}

impl<'a> Image<'a> {
    /// Validates `bytes` as an image. Bytes past `image_len` are ignored
    /// (a boot module may be padded).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let len = bytes.len() as u64;
        let header = bytes.get(..SUPERBLOCK_LEN).ok_or(FormatError::Truncated {
            len,
            needed: SUPERBLOCK_LEN as u64,
        })?;
        let field32 = |at| u32_at(header, at).unwrap_or(0);
        if header.get(..8) != Some(&MAGIC[..]) {
            return Err(FormatError::BadMagic);
        }
        let version = field32(8);
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion(version));
        }
        if header
            .get(52..)
            .is_none_or(|rest| rest.iter().any(|&b| b != 0))
        {
            return Err(FormatError::Reserved);
        }
        let layout = Layout {
            image_len: u64_at(header, 16).unwrap_or(0),
            meta_len: field32(24),
            inode_count: field32(28),
            inode_offset: field32(32),
            extent_count: field32(36),
            extent_offset: field32(40),
            names_offset: field32(44),
            names_len: field32(48),
        };
        if !layout.image_len.is_multiple_of(PAGE) || layout.image_len == 0 {
            return Err(FormatError::Unaligned {
                image_len: layout.image_len,
            });
        }
        if layout.image_len > len {
            return Err(FormatError::Truncated {
                len,
                needed: layout.image_len,
            });
        }
        let meta_len = u64::from(layout.meta_len);
        if meta_len < SUPERBLOCK_LEN as u64 || meta_len > layout.image_len {
            return Err(FormatError::BadTable);
        }
        let meta = bytes
            .get(..layout.meta_len as usize)
            .ok_or(FormatError::BadTable)?;
        let stored = field32(CHECKSUM_AT);
        let computed = checksum(meta);
        if stored != computed {
            return Err(FormatError::Checksum { stored, computed });
        }
        let image = Image { bytes, layout };
        image.check_tables()?;
        image.check_extents()?;
        image.check_inodes()?;
        Ok(image)
    }

    /// An image already validated with this `layout` (the fs keeps the
    /// layout from mount and rebuilds the view for each message).
    pub fn trusted(bytes: &'a [u8], layout: Layout) -> Self {
        Image { bytes, layout }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    fn check_tables(&self) -> Result<(), FormatError> {
        let l = self.layout;
        if l.inode_count == 0 || l.inode_count > MAX_INODES || l.extent_count > MAX_INODES {
            return Err(FormatError::BadCount);
        }
        let tables = [
            (
                u64::from(l.inode_offset),
                u64::from(l.inode_count) * INODE_LEN as u64,
            ),
            (
                u64::from(l.extent_offset),
                u64::from(l.extent_count) * EXTENT_LEN as u64,
            ),
            (u64::from(l.names_offset), u64::from(l.names_len)),
        ];
        for (index, &(start, len)) in tables.iter().enumerate() {
            let end = start + len;
            if len > 0 && (start < SUPERBLOCK_LEN as u64 || end > u64::from(l.meta_len)) {
                return Err(FormatError::BadTable);
            }
            for &(other_start, other_len) in &tables[index + 1..] {
                let overlaps = start < other_start + other_len && other_start < end;
                if len > 0 && other_len > 0 && overlaps {
                    return Err(FormatError::BadTable);
                }
            }
        }
        Ok(())
    }

    fn check_extents(&self) -> Result<(), FormatError> {
        let data_start =
            page_round(u64::from(self.layout.meta_len)).ok_or(FormatError::BadTable)?;
        let mut previous_end = data_start;
        for extent in 0..self.layout.extent_count {
            let bad = FormatError::BadExtent { extent };
            let (offset, len) = self.extent(extent).ok_or(bad)?;
            let end = offset.checked_add(len).ok_or(bad)?;
            if !offset.is_multiple_of(PAGE)
                || !len.is_multiple_of(PAGE)
                || len == 0
                || offset < previous_end
                || end > self.layout.image_len
            {
                return Err(bad);
            }
            previous_end = end;
        }
        Ok(())
    }

    fn check_inodes(&self) -> Result<(), FormatError> {
        let count = self.layout.inode_count;
        let mut next_child: u32 = 1;
        let mut next_extent: u32 = 0;
        for index in 0..count {
            let inode = self.decode_inode(index)?;
            if index == 0 {
                if inode.kind != Kind::Directory || inode.parent != 0 || !inode.name.is_empty() {
                    return Err(FormatError::BadRoot);
                }
            } else {
                if index >= next_child {
                    // Not claimed by any earlier directory.
                    return Err(FormatError::BadTree { inode: index });
                }
                if !valid_name(inode.name) {
                    return Err(FormatError::BadName { inode: index });
                }
                self.check_depth(index)?;
            }
            match inode.kind {
                Kind::Directory => {
                    let bad = FormatError::BadTree { inode: index };
                    let end = inode.first.checked_add(inode.count).ok_or(bad)?;
                    if inode.size != 0 || inode.first != next_child || end > count {
                        return Err(bad);
                    }
                    if inode.first <= index && inode.count > 0 {
                        return Err(bad);
                    }
                    let mut previous: Option<&str> = None;
                    for child in inode.first..end {
                        let child = self.decode_inode(child)?;
                        if child.parent != index {
                            return Err(bad);
                        }
                        if !valid_name(child.name) {
                            return Err(FormatError::BadName { inode: child.index });
                        }
                        if previous.is_some_and(|name| name >= child.name) {
                            return Err(FormatError::Unsorted { inode: index });
                        }
                        previous = Some(child.name);
                    }
                    next_child = end;
                }
                Kind::File => {
                    let bad = FormatError::BadExtents { inode: index };
                    let end = inode.first.checked_add(inode.count).ok_or(bad)?;
                    if inode.first != next_extent || end > self.layout.extent_count {
                        return Err(bad);
                    }
                    let mut capacity: u64 = 0;
                    for extent in inode.first..end {
                        let (_, len) = self.extent(extent).ok_or(bad)?;
                        capacity = capacity.saturating_add(len);
                    }
                    if inode.size > capacity {
                        return Err(FormatError::SizeTooLarge { inode: index });
                    }
                    next_extent = end;
                }
            }
        }
        if next_child != count {
            return Err(FormatError::BadTree { inode: 0 });
        }
        if next_extent != self.layout.extent_count {
            return Err(FormatError::BadExtents { inode: 0 });
        }
        Ok(())
    }

    /// Walks up from `index`: parents are strictly smaller (checked as
    /// each directory claims its children), so this ends within the bound.
    fn check_depth(&self, index: u32) -> Result<(), FormatError> {
        let mut at = index;
        let mut depth = 0;
        while at != 0 {
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(FormatError::TooDeep { inode: index });
            }
            at = self
                .inode_field32(at, 8)
                .ok_or(FormatError::BadTree { inode: index })?;
        }
        Ok(())
    }

    fn inode_at(&self, index: u32) -> Option<usize> {
        if index >= self.layout.inode_count {
            return None;
        }
        Some(self.layout.inode_offset as usize + index as usize * INODE_LEN)
    }

    fn inode_field32(&self, index: u32, field: usize) -> Option<u32> {
        u32_at(self.bytes, self.inode_at(index)? + field)
    }

    /// Decodes inode `index` and checks its own fields (kind, reserved,
    /// name bounds and UTF-8).
    fn decode_inode(&self, index: u32) -> Result<Inode<'a>, FormatError> {
        let at = self
            .inode_at(index)
            .ok_or(FormatError::BadTree { inode: index })?;
        let raw = self
            .bytes
            .get(at..at + INODE_LEN)
            .ok_or(FormatError::BadTable)?;
        let kind = match raw[0] {
            KIND_DIR => Kind::Directory,
            KIND_FILE => Kind::File,
            _ => return Err(FormatError::BadKind { inode: index }),
        };
        if raw[1] != 0 || u32_at(raw, 20) != Some(0) {
            return Err(FormatError::Reserved);
        }
        let bad_name = FormatError::BadName { inode: index };
        let name_len = u16_at(raw, 2).ok_or(bad_name)? as u32;
        let name_offset = u32_at(raw, 4).ok_or(bad_name)?;
        let name_end = name_offset.checked_add(name_len).ok_or(bad_name)?;
        if name_end > self.layout.names_len {
            return Err(bad_name);
        }
        let start = self.layout.names_offset as usize + name_offset as usize;
        let name_bytes = self
            .bytes
            .get(start..start + name_len as usize)
            .ok_or(bad_name)?;
        let name = core::str::from_utf8(name_bytes).map_err(|_| bad_name)?;
        Ok(Inode {
            index,
            kind,
            name,
            parent: u32_at(raw, 8).ok_or(bad_name)?,
            first: u32_at(raw, 12).ok_or(bad_name)?,
            count: u32_at(raw, 16).ok_or(bad_name)?,
            size: u64_at(raw, 24).ok_or(bad_name)?,
        })
    }

    /// Inode `index`, if it exists and decodes.
    pub fn inode(&self, index: u32) -> Option<Inode<'a>> {
        self.decode_inode(index).ok()
    }

    /// The root directory.
    pub fn root(&self) -> Option<Inode<'a>> {
        self.inode(0)
    }

    /// Extent `index`: (offset in the image, length), both in bytes.
    pub fn extent(&self, index: u32) -> Option<(u64, u64)> {
        if index >= self.layout.extent_count {
            return None;
        }
        let at = self.layout.extent_offset as usize + index as usize * EXTENT_LEN;
        Some((u64_at(self.bytes, at)?, u64_at(self.bytes, at + 8)?))
    }

    /// Where inode `index`'s size field is in the image (for writing it).
    pub fn size_field(&self, index: u32) -> Option<usize> {
        Some(self.inode_at(index)? + 24)
    }

    /// The entries of directory `dir`, in name order.
    pub fn children(&self, dir: &Inode<'a>) -> DirEntries<'a> {
        let (next, end) = match dir.kind {
            Kind::Directory => (dir.first, dir.first.saturating_add(dir.count)),
            Kind::File => (0, 0),
        };
        DirEntries {
            image: *self,
            next,
            end,
        }
    }

    /// The entry named `name` in directory `dir` (binary search).
    pub fn child(&self, dir: &Inode<'a>, name: &str) -> Option<Inode<'a>> {
        if dir.kind != Kind::Directory {
            return None;
        }
        let (mut low, mut high) = (dir.first, dir.first.saturating_add(dir.count));
        while low < high {
            let middle = low + (high - low) / 2;
            let entry = self.inode(middle)?;
            match entry.name.cmp(name) {
                core::cmp::Ordering::Equal => return Some(entry),
                core::cmp::Ordering::Less => low = middle + 1,
                core::cmp::Ordering::Greater => high = middle,
            }
        }
        None
    }

    /// Resolves a `/`-separated path from the root; empty components (a
    /// leading, doubled or trailing `/`) are ignored, so `""` and `"/"`
    /// are the root.
    pub fn lookup(&self, path: &str) -> Result<Inode<'a>, PathError> {
        let components = || path.split('/').filter(|c| !c.is_empty());
        if components().count() > MAX_DEPTH as usize || components().any(|c| c.len() > MAX_NAME) {
            return Err(PathError::BadPath);
        }
        let mut at = self.root().ok_or(PathError::NotFound)?;
        for component in components() {
            if at.kind != Kind::Directory {
                return Err(PathError::NotADirectory);
            }
            at = self.child(&at, component).ok_or(PathError::NotFound)?;
        }
        Ok(at)
    }
}

/// Iterator over a directory's entries.
#[derive(Clone, Debug)]
pub struct DirEntries<'a> {
    image: Image<'a>,
    next: u32,
    end: u32,
}

impl<'a> Iterator for DirEntries<'a> {
    type Item = Inode<'a>;

    fn next(&mut self) -> Option<Inode<'a>> {
        if self.next >= self.end {
            return None;
        }
        let entry = self.image.inode(self.next);
        self.next += 1;
        entry
    }
}
