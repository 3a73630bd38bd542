//! Postcard encoding and decoding with typed errors, and [`Outbox`], the
//! buffer a service encodes its outgoing messages into.
//!
//! Decoding borrows: a message type with `&str` or `&[u8]` fields points
//! into the payload, so nothing is copied. Encoding writes into a buffer the
//! service owns ([`Outbox`], kept in its state) rather than one on the
//! stack, so no handler zeroes a page per message; the kernel then copies
//! exactly the encoded bytes into the receiver's mailbox slot.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::envelope::MAX_PAYLOAD;

/// Why a payload did not encode or decode.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum CodecError {
    /// Decoding ran out of bytes.
    Truncated,
    /// Bytes were left over after the message (a decoder for another type,
    /// or garbage appended).
    TrailingBytes { extra: usize },
    /// The bytes are not a valid encoding of the expected type (bad tag,
    /// bad varint, invalid UTF-8, ...).
    Invalid,
    /// The encoding does not fit the buffer (at most `MAX_PAYLOAD`).
    TooLarge,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Truncated => f.write_str("payload ends early"),
            CodecError::TrailingBytes { extra } => {
                write!(f, "{extra} unexpected bytes after the message")
            }
            CodecError::Invalid => f.write_str("payload is not a valid encoding"),
            CodecError::TooLarge => f.write_str("message does not fit the payload limit"),
        }
    }
}

impl core::error::Error for CodecError {}

fn from_postcard(error: postcard::Error) -> CodecError {
    match error {
        postcard::Error::DeserializeUnexpectedEnd => CodecError::Truncated,
        postcard::Error::SerializeBufferFull => CodecError::TooLarge,
        _ => CodecError::Invalid,
    }
}

/// Serializes a byte slice as one byte string instead of a sequence of
/// `u8`s: the same postcard bytes (length, then the bytes), written with
/// one copy instead of one call per byte. Use it on every `&[u8]` field:
/// `#[serde(serialize_with = "mealy_protocol::as_bytes")]`.
pub fn as_bytes<S: serde::Serializer>(bytes: &&[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bytes(bytes)
}

/// Decodes a whole payload as a `T`, borrowing strings and byte slices
/// from it. Trailing bytes are an error, so a payload meant for another
/// message type is not silently accepted.
pub fn decode<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, CodecError> {
    let (value, rest) = postcard::take_from_bytes(payload).map_err(from_postcard)?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes { extra: rest.len() });
    }
    Ok(value)
}

/// Decodes a `T` from the front of `payload`, returning it and the bytes
/// after it (for payloads that carry several values back to back).
pub fn decode_prefix<'a, T: Deserialize<'a>>(
    payload: &'a [u8],
) -> Result<(T, &'a [u8]), CodecError> {
    postcard::take_from_bytes(payload).map_err(from_postcard)
}

/// Encodes `message` into `buffer`; returns the encoded prefix.
pub fn encode<'b, T: Serialize + ?Sized>(
    message: &T,
    buffer: &'b mut [u8],
) -> Result<&'b [u8], CodecError> {
    postcard::serialize_with_flavor(message, Writer { buffer, used: 0 }).map_err(from_postcard)
}

/// The postcard output [`encode`] uses: postcard's own slice writer, but
/// safe, and copying with [`copy_bytes`] instead of calling `memcpy` for
/// every varint and byte field (three calls per control message, each
/// dearer than the few bytes it moves).
struct Writer<'b> {
    buffer: &'b mut [u8],
    used: usize,
}

impl<'b> postcard::ser_flavors::Flavor for Writer<'b> {
    type Output = &'b [u8];

    #[inline(always)]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        let slot = self
            .buffer
            .get_mut(self.used)
            .ok_or(postcard::Error::SerializeBufferFull)?;
        *slot = byte;
        self.used += 1;
        Ok(())
    }

    #[inline(always)]
    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        let end = self.used + bytes.len();
        let to = self
            .buffer
            .get_mut(self.used..end)
            .ok_or(postcard::Error::SerializeBufferFull)?;
        copy_bytes(to, bytes);
        self.used = end;
        Ok(())
    }

    fn finalize(self) -> postcard::Result<&'b [u8]> {
        let buffer: &'b [u8] = self.buffer;
        buffer
            .get(..self.used)
            .ok_or(postcard::Error::SerializeBufferFull)
    }
}

/// Copies the first `min(to.len(), from.len())` bytes of `from` to the
/// start of `to`, with a few fixed-size moves instead of a call to
/// `memcpy` when that is 64 bytes or fewer: control-message payloads and
/// their byte fields are that short, and for them the call costs more than
/// the copy. Two possibly overlapping blocks of the largest power of two
/// that fits cover any length from that size to twice it (the buffers are
/// distinct, so the overlap writes the same bytes twice); below 4 bytes,
/// the first, middle and last byte do the same. The kernel copies payloads
/// into mailbox slots with it, and [`encode`] every varint and byte field.
#[inline(always)]
pub fn copy_bytes(to: &mut [u8], from: &[u8]) {
    let len = to.len().min(from.len());
    let (Some(to), Some(from)) = (to.get_mut(..len), from.get(..len)) else {
        return;
    };
    // Two levels, so a payload-sized copy (16 to 64 bytes) is two or three
    // comparisons from its moves rather than the end of a chain of five.
    match len {
        0..16 => match len {
            0 => {}
            1..4 => {
                // First, middle and last cover 1, 2 and 3 bytes, branch-free.
                for at in [0, len / 2, len - 1] {
                    if let (Some(to), Some(from)) = (to.get_mut(at), from.get(at)) {
                        *to = *from;
                    }
                }
            }
            4..8 => copy_ends::<4>(to, from),
            _ => copy_ends::<8>(to, from),
        },
        16..32 => copy_ends::<16>(to, from),
        32..=64 => copy_ends::<32>(to, from),
        _ => to.copy_from_slice(from),
    }
}

/// The first and the last `N` bytes of `from` to the same places in `to`.
#[inline(always)]
fn copy_ends<const N: usize>(to: &mut [u8], from: &[u8]) {
    if let (Some(to), Some(from)) = (to.first_chunk_mut::<N>(), from.first_chunk::<N>()) {
        *to = *from;
    }
    if let (Some(to), Some(from)) = (to.last_chunk_mut::<N>(), from.last_chunk::<N>()) {
        *to = *from;
    }
}

/// Whether `a` and `b` hold the same bytes: `a == b`, but with a few
/// fixed-size comparisons instead of a call to `memcmp` when they are 64
/// bytes or fewer, for the same reason and by the same trick as
/// [`copy_bytes`] (two possibly overlapping blocks compare every byte of a
/// length between the block size and twice it; bytes compared twice cost
/// nothing). The pinger checks every echoed payload with it.
#[inline(always)]
pub fn bytes_equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let len = a.len();
    // Two levels, as in `copy_bytes`.
    match len {
        0..16 => match len {
            0 => true,
            // First, middle and last cover 1, 2 and 3 bytes; `&` rather
            // than `&&` keeps it branch-free.
            1..4 => [0, len / 2, len - 1]
                .iter()
                .fold(true, |same, &at| same & (a.get(at) == b.get(at))),
            4..8 => ends_equal::<4>(a, b),
            _ => ends_equal::<8>(a, b),
        },
        16..32 => ends_equal::<16>(a, b),
        32..=64 => ends_equal::<32>(a, b),
        _ => a == b,
    }
}

/// Whether the first and the last `N` bytes of `a` and `b` are the same.
#[inline(always)]
fn ends_equal<const N: usize>(a: &[u8], b: &[u8]) -> bool {
    match (
        a.first_chunk::<N>(),
        b.first_chunk::<N>(),
        a.last_chunk::<N>(),
        b.last_chunk::<N>(),
    ) {
        (Some(a_first), Some(b_first), Some(a_last), Some(b_last)) => {
            blocks_equal(a_first, b_first) & blocks_equal(a_last, b_last)
        }
        _ => a == b,
    }
}

/// Whether two `N`-byte blocks hold the same bytes, compared a word at a
/// time (`u64`s, or `u32`s for a 4-byte block). Not `==` on the arrays: on
/// the kernel's target, which has no SSE, that is a call to `memcmp`, and
/// `compiler_builtins`' `memcmp` goes byte by byte (146 of the guest's
/// 1,121 instructions per IPC round trip were in it, the pinger checking
/// each echo).
#[inline(always)]
fn blocks_equal<const N: usize>(a: &[u8; N], b: &[u8; N]) -> bool {
    if N.is_multiple_of(8) {
        let (a_words, _) = a.as_chunks::<8>();
        let (b_words, _) = b.as_chunks::<8>();
        let diff = a_words.iter().zip(b_words).fold(0, |diff, (x, y)| {
            diff | (u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y))
        });
        return diff == 0;
    }
    let (a_words, a_rest) = a.as_chunks::<4>();
    let (b_words, b_rest) = b.as_chunks::<4>();
    let diff = a_words.iter().zip(b_words).fold(0, |diff, (x, y)| {
        diff | (u32::from_ne_bytes(*x) ^ u32::from_ne_bytes(*y))
    });
    diff == 0 && a_rest == b_rest
}

/// A service's outgoing-message buffer, `N` bytes (at most [`MAX_PAYLOAD`]
/// are ever sent). Keep one in the service's state and encode into it:
///
/// ```ignore
/// let bytes = self.outbox.encode(&echo::Request { seq, data })?;
/// cx.call(self.echo, bytes, &[])?;
/// ```
pub struct Outbox<const N: usize = MAX_PAYLOAD> {
    bytes: [u8; N],
}

impl<const N: usize> Outbox<N> {
    pub const fn new() -> Self {
        Self { bytes: [0; N] }
    }

    /// The buffer to encode into, at most [`MAX_PAYLOAD`] bytes: what
    /// [`Outgoing::outbox`](crate::Outgoing::outbox) returns.
    #[inline]
    pub fn space(&mut self) -> &mut [u8] {
        let limit = N.min(MAX_PAYLOAD);
        &mut self.bytes[..limit]
    }

    /// Encodes `message`; the returned slice borrows the outbox until sent.
    pub fn encode<T: Serialize + ?Sized>(&mut self, message: &T) -> Result<&[u8], CodecError> {
        let limit = N.min(MAX_PAYLOAD);
        encode(message, &mut self.bytes[..limit])
    }
}

impl<const N: usize> Default for Outbox<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for Outbox<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Outbox<{N}>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::echo;
    use proptest::prelude::*;

    #[test]
    fn round_trip_borrows() {
        let mut outbox = Outbox::<64>::new();
        let bytes = outbox
            .encode(&echo::Request {
                seq: 7,
                data: b"hello",
            })
            .unwrap();
        let decoded: echo::Request<'_> = decode(bytes).unwrap();
        assert_eq!(decoded.seq, 7);
        assert_eq!(decoded.data, b"hello");
    }

    #[test]
    fn typed_errors() {
        assert_eq!(decode::<u32>(&[]), Err(CodecError::Truncated));
        assert_eq!(
            decode::<u8>(&[1, 2, 3]),
            Err(CodecError::TrailingBytes { extra: 2 })
        );
        assert_eq!(decode::<&str>(&[2, 0xff, 0xfe]), Err(CodecError::Invalid));
        let mut small = Outbox::<2>::new();
        assert_eq!(small.encode(&[1u8; 8][..]), Err(CodecError::TooLarge));
    }

    #[test]
    fn byte_fields_encode_like_a_sequence() {
        let data = [1u8, 2, 3];
        let mut fast = [0u8; 16];
        let mut slow = [0u8; 16];
        let fast = encode(
            &echo::Request {
                seq: 1,
                data: &data,
            },
            &mut fast,
        )
        .unwrap();
        let slow = encode(&(1u32, &data[..]), &mut slow).unwrap();
        assert_eq!(fast, slow);
    }

    #[test]
    fn copy_bytes_copies_every_length_exactly() {
        let from: std::vec::Vec<u8> = (1..=130).collect();
        for len in 0..=130 {
            let mut to = [0u8; 140];
            copy_bytes(&mut to[..len], &from[..len]);
            assert_eq!(&to[..len], &from[..len], "length {len}");
            assert!(to[len..].iter().all(|&byte| byte == 0), "length {len}");
        }
        // Unequal lengths copy the shorter.
        let mut short = [0u8; 3];
        copy_bytes(&mut short, &from[..10]);
        assert_eq!(short, [1, 2, 3]);
    }

    #[test]
    fn bytes_equal_agrees_with_eq_at_every_length() {
        let base: std::vec::Vec<u8> = (1..=131).collect();
        for len in 0..=130 {
            let a = &base[..len];
            assert!(bytes_equal(a, a), "length {len}");
            assert!(bytes_equal(a, &base.clone()[..len]), "length {len}");
            // One differing byte at every position is seen.
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 0x40;
                assert!(!bytes_equal(a, &b), "length {len}, byte {at}");
            }
            // Different lengths are never equal, even as prefixes.
            assert!(!bytes_equal(a, &base[..len + 1]), "length {len}");
        }
    }

    proptest! {
        /// Any bytes at all decode to a value or a typed error, never a panic.
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode::<echo::Request<'_>>(&bytes);
            let _ = decode::<crate::pinger::Run>(&bytes);
            let _ = decode::<crate::terminal::Output<'_>>(&bytes);
        }

        /// `bytes_equal` is `==`, for any lengths, contents and offsets
        /// (mostly equal slices, so the differing byte lands anywhere).
        #[test]
        fn bytes_equal_is_eq(
            a in proptest::collection::vec(0u8..4, 0..=130),
            b in proptest::collection::vec(0u8..4, 0..=130),
            flip in any::<proptest::sample::Index>(),
            offset in 0usize..8,
        ) {
            prop_assert_eq!(bytes_equal(&a, &b), a == b);
            let mut same = a.clone();
            if !same.is_empty() {
                let at = flip.index(same.len());
                same[at] = same[at].wrapping_add(1);
            }
            prop_assert_eq!(bytes_equal(&a, &same), a == same);
            let from = offset.min(a.len());
            prop_assert_eq!(bytes_equal(&a[from..], &same[from..]), a[from..] == same[from..]);
            prop_assert!(bytes_equal(&a[from..], &a.clone()[from..]));
        }
    }
}
