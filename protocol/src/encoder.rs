//! [`Encoder`], the serde serializer behind [`encode`](crate::encode): it
//! writes postcard's wire format, byte for byte, straight into the
//! caller's buffer.
//!
//! Why not postcard's own serializer: it writes every varint (every
//! integer, length and enum tag) into a temporary array first and then
//! hands that to its output (`Flavor::try_extend`), which copies it again;
//! a flavor sees only finished bytes, so no flavor can avoid it. Writing
//! each varint byte where it belongs saves about 18 instructions on an
//! `echo::Reply` (two varints), on every message every service sends.
//!
//! The trade-off is a second implementation of the format to keep equal
//! to postcard's. It is small (postcard 1's format is stable: varints
//! for integers wider than a byte, zigzag for signed ones, little-endian
//! floats, a length before strings, bytes, sequences and maps, a varint
//! variant index before enum contents, nothing for structs and tuples), and
//! the tests encode the whole serde data model and every message type with
//! both and compare the bytes, including at every too-short buffer length.
//! Decoding stays postcard's.

use core::fmt::{self, Write};

use serde::{Serialize, ser};

use crate::codec::{CodecError, copy_bytes};

impl ser::Error for CodecError {
    /// A `Serialize` impl that gives up on its own (a sequence of unknown
    /// length, a failing `Display` in `collect_str`, a custom error).
    fn custom<T: fmt::Display>(_: T) -> Self {
        CodecError::Invalid
    }
}

/// Writes postcard into `buffer` from the start; `used` bytes are written.
pub(crate) struct Encoder<'b> {
    buffer: &'b mut [u8],
    used: usize,
}

impl<'b> Encoder<'b> {
    pub(crate) fn new(buffer: &'b mut [u8]) -> Self {
        Self { buffer, used: 0 }
    }

    /// The bytes written so far.
    pub(crate) fn finish(self) -> &'b [u8] {
        let buffer: &'b [u8] = self.buffer;
        // `used` never passes the end: every write checks it first.
        buffer.get(..self.used).unwrap_or_default()
    }

    #[inline(always)]
    fn push(&mut self, byte: u8) -> Result<(), CodecError> {
        let slot = self.buffer.get_mut(self.used).ok_or(CodecError::TooLarge)?;
        *slot = byte;
        self.used += 1;
        Ok(())
    }

    #[inline(always)]
    fn extend(&mut self, bytes: &[u8]) -> Result<(), CodecError> {
        let end = self.used + bytes.len();
        let to = self
            .buffer
            .get_mut(self.used..end)
            .ok_or(CodecError::TooLarge)?;
        copy_bytes(to, bytes);
        self.used = end;
        Ok(())
    }

    /// Seven bits a byte, low first, the top bit set on all but the last:
    /// postcard's varint (the same for every width, so `u16`, `u32` and
    /// `usize` widen to `u64` losslessly).
    #[inline(always)]
    fn varint(&mut self, mut value: u64) -> Result<(), CodecError> {
        // With room for the longest (ten bytes) there is no bound to check
        // per byte; only the last few bytes of a buffer take the slow loop.
        let room = self.buffer.get_mut(self.used..);
        if let Some(room) = room.and_then(|room| room.first_chunk_mut::<10>()) {
            for (at, slot) in room.iter_mut().enumerate() {
                if value < 0x80 {
                    *slot = value as u8;
                    self.used += at + 1;
                    return Ok(());
                }
                *slot = value as u8 | 0x80;
                value >>= 7;
            }
            // Not reached: ten groups of seven bits hold any `u64`.
            return Err(CodecError::Invalid);
        }
        while value >= 0x80 {
            self.push(value as u8 | 0x80)?;
            value >>= 7;
        }
        self.push(value as u8)
    }

    #[inline]
    fn varint_u128(&mut self, mut value: u128) -> Result<(), CodecError> {
        while value >= 0x80 {
            self.push(value as u8 | 0x80)?;
            value >>= 7;
        }
        self.push(value as u8)
    }

    #[inline(always)]
    fn len(&mut self, len: usize) -> Result<(), CodecError> {
        self.varint(len as u64)
    }
}

/// Zigzag: small magnitudes of either sign become small varints.
#[inline(always)]
fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

impl ser::Serializer for &mut Encoder<'_> {
    type Ok = ();
    type Error = CodecError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn is_human_readable(&self) -> bool {
        false
    }

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<(), CodecError> {
        self.push(u8::from(v))
    }

    #[inline]
    fn serialize_i8(self, v: i8) -> Result<(), CodecError> {
        // One byte, two's complement: postcard does not zigzag `i8`.
        self.push(v as u8)
    }

    #[inline]
    fn serialize_i16(self, v: i16) -> Result<(), CodecError> {
        self.varint(zigzag(i64::from(v)))
    }

    #[inline]
    fn serialize_i32(self, v: i32) -> Result<(), CodecError> {
        self.varint(zigzag(i64::from(v)))
    }

    #[inline]
    fn serialize_i64(self, v: i64) -> Result<(), CodecError> {
        self.varint(zigzag(v))
    }

    #[inline]
    fn serialize_i128(self, v: i128) -> Result<(), CodecError> {
        self.varint_u128(((v << 1) ^ (v >> 127)) as u128)
    }

    #[inline]
    fn serialize_u8(self, v: u8) -> Result<(), CodecError> {
        self.push(v)
    }

    #[inline]
    fn serialize_u16(self, v: u16) -> Result<(), CodecError> {
        self.varint(u64::from(v))
    }

    #[inline]
    fn serialize_u32(self, v: u32) -> Result<(), CodecError> {
        self.varint(u64::from(v))
    }

    #[inline]
    fn serialize_u64(self, v: u64) -> Result<(), CodecError> {
        self.varint(v)
    }

    #[inline]
    fn serialize_u128(self, v: u128) -> Result<(), CodecError> {
        self.varint_u128(v)
    }

    #[inline]
    fn serialize_f32(self, v: f32) -> Result<(), CodecError> {
        self.extend(&v.to_bits().to_le_bytes())
    }

    #[inline]
    fn serialize_f64(self, v: f64) -> Result<(), CodecError> {
        self.extend(&v.to_bits().to_le_bytes())
    }

    #[inline]
    fn serialize_char(self, v: char) -> Result<(), CodecError> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), CodecError> {
        self.serialize_bytes(v.as_bytes())
    }

    #[inline]
    fn serialize_bytes(self, v: &[u8]) -> Result<(), CodecError> {
        self.len(v.len())?;
        self.extend(v)
    }

    #[inline]
    fn serialize_none(self) -> Result<(), CodecError> {
        self.push(0)
    }

    #[inline]
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), CodecError> {
        self.push(1)?;
        value.serialize(self)
    }

    #[inline]
    fn serialize_unit(self) -> Result<(), CodecError> {
        Ok(())
    }

    #[inline]
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), CodecError> {
        Ok(())
    }

    #[inline]
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        variant_index: u32,
        _variant: &'static str,
    ) -> Result<(), CodecError> {
        self.varint(u64::from(variant_index))
    }

    #[inline]
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        value.serialize(self)
    }

    #[inline]
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        variant_index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        self.varint(u64::from(variant_index))?;
        value.serialize(self)
    }

    #[inline]
    fn serialize_seq(self, len: Option<usize>) -> Result<Self, CodecError> {
        // The length comes first, so it must be known (as in postcard).
        self.len(len.ok_or(CodecError::Invalid)?)?;
        Ok(self)
    }

    #[inline]
    fn serialize_tuple(self, _len: usize) -> Result<Self, CodecError> {
        Ok(self)
    }

    #[inline]
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, CodecError> {
        Ok(self)
    }

    #[inline]
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        variant_index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, CodecError> {
        self.varint(u64::from(variant_index))?;
        Ok(self)
    }

    #[inline]
    fn serialize_map(self, len: Option<usize>) -> Result<Self, CodecError> {
        self.len(len.ok_or(CodecError::Invalid)?)?;
        Ok(self)
    }

    #[inline]
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, CodecError> {
        Ok(self)
    }

    #[inline]
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        variant_index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, CodecError> {
        self.varint(u64::from(variant_index))?;
        Ok(self)
    }

    /// As postcard does it: format once to count the bytes (the length
    /// goes first), then again into the buffer.
    fn collect_str<T: ?Sized + fmt::Display>(self, value: &T) -> Result<(), CodecError> {
        struct Count(usize);
        impl Write for Count {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0 += s.len();
                Ok(())
            }
        }
        struct Into<'e, 'b>(&'e mut Encoder<'b>, Option<CodecError>);
        impl Write for Into<'_, '_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0.extend(s.as_bytes()).map_err(|error| {
                    self.1 = Some(error);
                    fmt::Error
                })
            }
        }
        let mut count = Count(0);
        write!(count, "{value}").map_err(|_| CodecError::Invalid)?;
        self.len(count.0)?;
        let mut into = Into(self, None);
        match write!(into, "{value}") {
            Ok(()) => Ok(()),
            // The buffer filled up, or `value` failed this time.
            Err(fmt::Error) => Err(into.1.unwrap_or(CodecError::Invalid)),
        }
    }
}

/// Every compound type is its parts in order, with nothing after them.
macro_rules! compound {
    ($trait:ident, $method:ident $(, $key:ident)?) => {
        impl ser::$trait for &mut Encoder<'_> {
            type Ok = ();
            type Error = CodecError;

            #[inline]
            fn $method<T: ?Sized + Serialize>(
                &mut self,
                $($key: &'static str,)?
                value: &T,
            ) -> Result<(), CodecError> {
                value.serialize(&mut **self)
            }

            #[inline]
            fn end(self) -> Result<(), CodecError> {
                Ok(())
            }
        }
    };
}

compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);
compound!(SerializeStruct, serialize_field, _key);
compound!(SerializeStructVariant, serialize_field, _key);

impl ser::SerializeMap for &mut Encoder<'_> {
    type Ok = ();
    type Error = CodecError;

    #[inline]
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), CodecError> {
        key.serialize(&mut **self)
    }

    #[inline]
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), CodecError> {
        value.serialize(&mut **self)
    }

    #[inline]
    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::string::String;
    use std::vec::Vec;

    use proptest::prelude::*;
    use serde::{Serialize, Serializer};

    use crate::codec::{CodecError, encode};
    use crate::{
        CallFailure, CallToken, CapRef, Envelope, IpcError, MessageKind, echo, fs, ping, pinger,
        terminal, text,
    };

    /// What `encode` must answer for `value` in a buffer of `room` bytes:
    /// postcard's bytes, or postcard's error in our terms.
    fn postcard_says<T: Serialize + ?Sized>(value: &T, room: usize) -> Result<Vec<u8>, CodecError> {
        let mut buffer = std::vec![0u8; room];
        match postcard::to_slice(value, &mut buffer) {
            Ok(bytes) => Ok(bytes.to_vec()),
            Err(postcard::Error::SerializeBufferFull) => Err(CodecError::TooLarge),
            Err(_) => Err(CodecError::Invalid),
        }
    }

    /// `encode` agrees with postcard for `value` in a roomy buffer and in
    /// every buffer too short for it (each must fail, not write a prefix).
    fn same_as_postcard<T: Serialize + ?Sized>(value: &T) -> Result<(), TestCaseError> {
        let mut buffer = [0u8; 4096];
        let ours = encode(value, &mut buffer).map(<[u8]>::to_vec);
        let theirs = postcard_says(value, 4096);
        prop_assert_eq!(&ours, &theirs);
        if let Ok(bytes) = theirs {
            for room in 0..bytes.len() {
                let mut short = std::vec![0u8; room];
                prop_assert_eq!(encode(value, &mut short), Err(CodecError::TooLarge));
            }
        }
        Ok(())
    }

    #[derive(Serialize, Debug, Clone)]
    struct UnitStruct;

    #[derive(Serialize, Debug, Clone)]
    struct NewtypeStruct(u32);

    #[derive(Serialize, Debug, Clone)]
    struct TupleStruct(i8, f32);

    #[derive(Serialize, Debug, Clone)]
    enum Shape {
        Unit,
        Newtype(i16),
        Tuple(u8, i64),
        Struct { wide: u128, signed: i128 },
    }

    /// A unit variant with any index, past what derive makes.
    #[derive(Debug, Clone)]
    struct Variant(u32);

    impl Serialize for Variant {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_unit_variant("Variant", self.0, "v")
        }
    }

    /// Goes through `collect_str`.
    #[derive(Debug, Clone)]
    struct Shown(i64, String);

    impl Serialize for Shown {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_str(&format_args!("{}:{}", self.0, self.1))
        }
    }

    /// Byte fields the way message types write them.
    #[derive(Debug, Clone)]
    struct Bytes(Vec<u8>);

    impl Serialize for Bytes {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(&self.0)
        }
    }

    /// A sequence that does not say its length: both refuse it.
    struct Unsized;

    impl Serialize for Unsized {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeSeq;
            let mut seq = serializer.serialize_seq(None)?;
            seq.serialize_element(&1u8)?;
            seq.end()
        }
    }

    fn shape() -> impl Strategy<Value = Shape> {
        prop_oneof![
            Just(Shape::Unit),
            any::<i16>().prop_map(Shape::Newtype),
            any::<(u8, i64)>().prop_map(|(a, b)| Shape::Tuple(a, b)),
            any::<(u128, i128)>().prop_map(|(wide, signed)| Shape::Struct { wide, signed }),
        ]
    }

    /// Integers near the varint byte boundaries as well as anywhere.
    fn edgy_u64() -> impl Strategy<Value = u64> {
        prop_oneof![
            any::<u64>(),
            (0u32..64, -2i64..=2)
                .prop_map(|(bits, delta)| (1u64 << bits).wrapping_add_signed(delta)),
        ]
    }

    #[test]
    fn refuses_what_postcard_refuses() {
        assert_eq!(encode(&Unsized, &mut [0u8; 16]), Err(CodecError::Invalid));
        assert_eq!(postcard_says(&Unsized, 16), Err(CodecError::Invalid));
    }

    #[test]
    fn message_types_encode_as_postcard() {
        let checks: [&dyn Fn() -> Result<(), TestCaseError>; 14] = [
            &|| {
                same_as_postcard(&echo::Request {
                    seq: 300,
                    data: &[7; 29],
                })
            },
            &|| {
                same_as_postcard(&echo::Reply {
                    seq: u32::MAX,
                    data: &[],
                })
            },
            &|| {
                same_as_postcard(&pinger::Command::Run {
                    rounds: 100_000,
                    payload_len: 1024,
                })
            },
            &|| same_as_postcard(&pinger::Command::Report),
            &|| {
                same_as_postcard(&pinger::Summary {
                    completed: 5,
                    mismatches: 1,
                    elapsed_ns: 1 << 40,
                })
            },
            &|| {
                same_as_postcard(&ping::Pong {
                    seq: 128,
                    name: "echo",
                })
            },
            &|| same_as_postcard(&text::TextCommand { line: "ls /ünï" }),
            &|| same_as_postcard(&terminal::Input { bytes: b"\x1b[A" }),
            &|| {
                same_as_postcard(&fs::Request::SetLen {
                    path: "/a",
                    len: u64::MAX,
                })
            },
            &|| {
                same_as_postcard(&fs::Reply::Listing {
                    total: 9,
                    shown: 2,
                    entries: &[1; 200],
                })
            },
            &|| same_as_postcard(&fs::Reply::Error(fs::FsError::NoSpace { capacity: 4096 })),
            &|| {
                same_as_postcard(&IpcError::PayloadTooLarge {
                    len: 5000,
                    max: 4096,
                })
            },
            &|| {
                same_as_postcard(&(
                    CallFailure::PeerDied,
                    MessageKind::Reply {
                        token: CallToken(1 << 33),
                    },
                ))
            },
            &|| {
                same_as_postcard(&Envelope {
                    badge: None,
                    reply: Some(CapRef::from_raw(77)),
                    ..Envelope::default()
                })
            },
        ];
        for check in checks {
            check().unwrap();
        }
    }

    proptest! {
        #[test]
        fn integers_encode_as_postcard(
            unsigned in (any::<u8>(), any::<u16>(), any::<u32>(), edgy_u64(), any::<u128>(), any::<usize>()),
            signed in (any::<i8>(), any::<i16>(), any::<i32>(), any::<i64>(), any::<i128>(), any::<isize>()),
            edge in edgy_u64(),
        ) {
            same_as_postcard(&unsigned)?;
            same_as_postcard(&signed)?;
            same_as_postcard(&edge)?;
            same_as_postcard(&(edge as i64))?;
            same_as_postcard(&(edge as u32, edge as i32, edge as u16, edge as i16))?;
            same_as_postcard(&(u128::from(edge) << 64 | u128::from(edge), -(i128::from(edge))))?;
        }

        #[test]
        fn the_data_model_encodes_as_postcard(
            scalars in (any::<bool>(), any::<f32>(), any::<f64>(), any::<char>(), any::<Option<u32>>()),
            text in ".{0,40}",
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            shapes in proptest::collection::vec(shape(), 0..5),
            map in proptest::collection::btree_map(any::<u16>(), ".{0,5}", 0..4),
            structs in (any::<u32>(), any::<(i8, f32)>(), any::<[u8; 3]>()),
            variant in any::<u32>(),
            shown in (any::<i64>(), ".{0,8}"),
        ) {
            same_as_postcard(&scalars)?;
            same_as_postcard(&text)?;
            same_as_postcard(text.as_str())?;
            same_as_postcard(&Bytes(bytes.clone()))?;
            same_as_postcard(&bytes)?;
            same_as_postcard(&shapes)?;
            same_as_postcard(&map)?;
            let map: BTreeMap<u16, String> = map;
            same_as_postcard(&Some(map))?;
            let (newtype, (small, float), array) = structs;
            same_as_postcard(&((), UnitStruct, NewtypeStruct(newtype), TupleStruct(small, float), array))?;
            same_as_postcard(&Variant(variant))?;
            same_as_postcard(&Shown(shown.0, shown.1))?;
            same_as_postcard(&echo::Request { seq: newtype, data: &bytes })?;
        }
    }
}
