//! The framebuffer's geometry as configuration bytes: what the task list
//! puts in fbcon's [`GRANT_GEOMETRY`](crate::GRANT_GEOMETRY) grant (a
//! READ-only Region, `grant(..).bytes(..)`) and what fbcon reads at start,
//! in ring 0 and ring 3 alike, since a program gets nothing but its grants.
//!
//! A fixed layout rather than postcard, so the kernel and any other
//! producer can write it without sharing a serde type, and so a Region
//! longer than the bytes (a Region is whole pages) reads the same:
//!
//! | bytes | field |
//! | --- | --- |
//! | 0..4 | magic `b"FBG1"` |
//! | 4..8 | width in pixels, `u32` little-endian |
//! | 8..12 | height in lines, `u32` LE |
//! | 12..16 | pitch in bytes, `u32` LE |
//! | 16..18 | bits per pixel, `u16` LE |
//! | 18..20 | zero (reserved) |
//!
//! Anything after byte 20 is ignored. Whether fbcon can draw on the
//! geometry is a separate check (`Screen::new`).

use core::fmt;

use crate::screen::Geometry;

/// The first four bytes of an encoded geometry.
pub const GEOMETRY_MAGIC: [u8; 4] = *b"FBG1";
/// How many bytes an encoded geometry takes.
pub const GEOMETRY_LEN: usize = 20;

/// Why configuration bytes are not a geometry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConfigError {
    /// Fewer than [`GEOMETRY_LEN`] bytes.
    TooShort { len: usize },
    /// The first four bytes are not [`GEOMETRY_MAGIC`].
    BadMagic,
    /// The reserved bytes are not zero.
    Reserved,
    /// A field does not fit this machine's `usize`.
    TooLarge,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::TooShort { len } => {
                write!(f, "{len} bytes, a geometry takes {GEOMETRY_LEN}")
            }
            ConfigError::BadMagic => f.write_str("it does not start with \"FBG1\""),
            ConfigError::Reserved => f.write_str("its reserved bytes are not zero"),
            ConfigError::TooLarge => f.write_str("a field does not fit in usize"),
        }
    }
}

impl core::error::Error for ConfigError {}

impl Geometry {
    /// The geometry in the layout above; `None` if a field does not fit
    /// its `u32`.
    pub fn encode(&self) -> Option<[u8; GEOMETRY_LEN]> {
        let mut bytes = [0u8; GEOMETRY_LEN];
        bytes[0..4].copy_from_slice(&GEOMETRY_MAGIC);
        for (at, value) in [(4, self.width), (8, self.height), (12, self.pitch)] {
            let value = u32::try_from(value).ok()?;
            bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        bytes[16..18].copy_from_slice(&self.bpp.to_le_bytes());
        Some(bytes)
    }

    /// Reads a geometry from the start of `bytes` (the layout above).
    pub fn decode(bytes: &[u8]) -> Result<Geometry, ConfigError> {
        let Some(bytes) = bytes.get(..GEOMETRY_LEN) else {
            return Err(ConfigError::TooShort { len: bytes.len() });
        };
        if bytes[0..4] != GEOMETRY_MAGIC {
            return Err(ConfigError::BadMagic);
        }
        if bytes[18..20] != [0, 0] {
            return Err(ConfigError::Reserved);
        }
        let word = |at: usize| -> Result<usize, ConfigError> {
            let mut raw = [0u8; 4];
            raw.copy_from_slice(&bytes[at..at + 4]);
            usize::try_from(u32::from_le_bytes(raw)).map_err(|_| ConfigError::TooLarge)
        };
        Ok(Geometry {
            width: word(4)?,
            height: word(8)?,
            pitch: word(12)?,
            bpp: u16::from_le_bytes([bytes[16], bytes[17]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GEOMETRY: Geometry = Geometry {
        width: 1280,
        height: 800,
        pitch: 5120,
        bpp: 32,
    };

    #[test]
    fn a_geometry_reads_back_and_trailing_bytes_are_ignored() {
        let bytes = GEOMETRY.encode().unwrap();
        assert_eq!(&bytes[..4], b"FBG1");
        assert_eq!(Geometry::decode(&bytes), Ok(GEOMETRY));
        let mut page = [0u8; 4096];
        page[..GEOMETRY_LEN].copy_from_slice(&bytes);
        assert_eq!(Geometry::decode(&page), Ok(GEOMETRY));
    }

    #[test]
    fn malformed_bytes_are_errors() {
        let bytes = GEOMETRY.encode().unwrap();
        assert_eq!(
            Geometry::decode(&bytes[..19]),
            Err(ConfigError::TooShort { len: 19 })
        );
        assert_eq!(Geometry::decode(&[0; 4096]), Err(ConfigError::BadMagic));
        let mut reserved = bytes;
        reserved[19] = 1;
        assert_eq!(Geometry::decode(&reserved), Err(ConfigError::Reserved));
        let wide = Geometry {
            width: usize::MAX,
            ..GEOMETRY
        };
        if usize::BITS > 32 {
            assert_eq!(wide.encode(), None);
        }
    }

    proptest! {
        #[test]
        fn any_bytes_decode_to_a_value_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Geometry::decode(&bytes);
        }

        #[test]
        fn every_u32_geometry_round_trips(width: u32, height: u32, pitch: u32, bpp: u16) {
            let geometry = Geometry { width: width as usize, height: height as usize, pitch: pitch as usize, bpp };
            prop_assert_eq!(Geometry::decode(&geometry.encode().unwrap()), Ok(geometry));
        }
    }
}
