//! Strict structural checks on CBOR (RFC 8949) that `minicbor` does not perform.
//!
//! Every TEEP and SUIT decoder runs [`check`] (or [`item_end`] for CBOR sequences) once on the
//! bytes a peer sent, before any typed decoding. The walk enforces:
//!
//! - well-formedness (RFC 8949 §3 and Appendix F): no truncated heads or contents, no reserved
//!   additional information 28..30, no break code outside an indefinite-length item, no
//!   two-byte simple values below 32 (§3.3);
//! - definite lengths only (RFC 8949 §4.2.1, "Core Deterministic Encoding Requirements");
//! - preferred serialization (RFC 8949 §4.1): the shortest head for integers, lengths, tags,
//!   and the shortest floating-point width that preserves the value;
//! - no duplicate map keys (RFC 8949 §5.6), compared byte-wise on the encoded keys — with
//!   preferred serialization enforced this equals comparing the decoded values;
//! - valid UTF-8 in text strings (RFC 8949 §3.1, major type 3);
//! - the resource [`Limits`]: nesting depth, total length and items per array or map.
//!
//! The walker is iterative: it keeps an explicit stack whose height is bounded by
//! [`Limits::max_depth`], so hostile nesting cannot exhaust the call stack. It never allocates
//! from a declared length: every declared length or count is first compared with the bytes that
//! are actually present.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

use alloc::vec::Vec;
use core::fmt;

pub use minicbor;

/// Resource limits applied by [`check`] and [`item_end`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum nesting depth of arrays, maps and tags (the top-level item counts as depth 1 when
    /// it is a container).
    pub max_depth: usize,
    /// Maximum length of the item in bytes.
    pub max_len: usize,
    /// Maximum number of elements of one array, or of entries (pairs) of one map.
    pub max_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 16, max_len: 1 << 20, max_items: 4096 }
    }
}

/// Why a byte string is not acceptable CBOR. Every variant carries the byte offset of the item
/// (or head) at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The input ends inside an item, or a declared length exceeds the bytes present.
    Truncated {
        /// Offset of the item whose head or content is incomplete.
        offset: usize,
    },
    /// Bytes follow the single top-level item.
    TrailingBytes {
        /// Offset of the first extra byte.
        offset: usize,
    },
    /// Arrays, maps and tags nest deeper than [`Limits::max_depth`].
    TooDeep {
        /// Offset of the container that would exceed the limit.
        offset: usize,
    },
    /// The item, or a string inside it, is longer than [`Limits::max_len`].
    TooLong {
        /// Offset of the offending item (or the limit itself for the whole input).
        offset: usize,
    },
    /// An array or map declares more than [`Limits::max_items`] elements.
    TooManyItems {
        /// Offset of the array or map head.
        offset: usize,
    },
    /// A head is longer than needed (RFC 8949 §4.1 preferred serialization), including floats
    /// that fit a shorter width without loss.
    NotPreferred {
        /// Offset of the head.
        offset: usize,
    },
    /// An indefinite-length string, array or map (forbidden here, RFC 8949 §4.2.1).
    Indefinite {
        /// Offset of the head.
        offset: usize,
    },
    /// A map contains the same key twice (RFC 8949 §5.6).
    DuplicateKey {
        /// Offset of the second occurrence of the key.
        offset: usize,
    },
    /// A text string is not valid UTF-8.
    InvalidUtf8 {
        /// Offset of the text string head.
        offset: usize,
    },
    /// Reserved additional information 28, 29 or 30 (RFC 8949 §3).
    Reserved {
        /// Offset of the head.
        offset: usize,
    },
    /// A two-byte simple value below 32 (RFC 8949 §3.3), not well-formed.
    BadSimple {
        /// Offset of the head.
        offset: usize,
    },
    /// A break code (0xff) where no indefinite-length item is open, or additional information
    /// 31 on major types 0, 1 or 6.
    UnexpectedBreak {
        /// Offset of the byte.
        offset: usize,
    },
    /// A typed decoder found an item of the wrong CBOR type.
    TypeMismatch {
        /// Offset of the item, when known.
        offset: Option<usize>,
    },
    /// A typed decoder rejected the input for another reason.
    Invalid {
        /// Offset of the item, when known.
        offset: Option<usize>,
    },
}

impl Error {
    /// The byte offset the error refers to, when known.
    pub fn offset(&self) -> Option<usize> {
        match *self {
            Error::Truncated { offset }
            | Error::TrailingBytes { offset }
            | Error::TooDeep { offset }
            | Error::TooLong { offset }
            | Error::TooManyItems { offset }
            | Error::NotPreferred { offset }
            | Error::Indefinite { offset }
            | Error::DuplicateKey { offset }
            | Error::InvalidUtf8 { offset }
            | Error::Reserved { offset }
            | Error::BadSimple { offset }
            | Error::UnexpectedBreak { offset } => Some(offset),
            Error::TypeMismatch { offset } | Error::Invalid { offset } => offset,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Error::Truncated { .. } => "truncated CBOR item",
            Error::TrailingBytes { .. } => "trailing bytes after the CBOR item",
            Error::TooDeep { .. } => "CBOR nesting too deep",
            Error::TooLong { .. } => "CBOR item too long",
            Error::TooManyItems { .. } => "too many items in a CBOR array or map",
            Error::NotPreferred { .. } => "CBOR head not in preferred serialization",
            Error::Indefinite { .. } => "indefinite-length CBOR item",
            Error::DuplicateKey { .. } => "duplicate CBOR map key",
            Error::InvalidUtf8 { .. } => "CBOR text string is not valid UTF-8",
            Error::Reserved { .. } => "reserved CBOR additional information",
            Error::BadSimple { .. } => "two-byte CBOR simple value below 32",
            Error::UnexpectedBreak { .. } => "unexpected CBOR break or additional information 31",
            Error::TypeMismatch { .. } => "unexpected CBOR type",
            Error::Invalid { .. } => "invalid CBOR content",
        };
        match self.offset() {
            Some(offset) => write!(f, "{what} at offset {offset}"),
            None => f.write_str(what),
        }
    }
}

impl core::error::Error for Error {}

/// Maps a `minicbor` decoding error to an [`Error`], keeping its position.
pub fn decode_error_at(e: minicbor::decode::Error) -> Error {
    let offset = e.position();
    if e.is_end_of_input() {
        Error::Truncated { offset: offset.unwrap_or(0) }
    } else if e.is_type_mismatch() || e.is_tag_mismatch() {
        Error::TypeMismatch { offset }
    } else {
        Error::Invalid { offset }
    }
}

/// Checks that `bytes` holds exactly one acceptable CBOR item (see the crate documentation).
pub fn check(bytes: &[u8], limits: &Limits) -> Result<(), Error> {
    if bytes.len() > limits.max_len {
        return Err(Error::TooLong { offset: limits.max_len });
    }
    let end = walk(bytes, limits)?;
    if end != bytes.len() {
        return Err(Error::TrailingBytes { offset: end });
    }
    Ok(())
}

/// Checks the first CBOR item of `bytes` (a CBOR sequence, RFC 8742) and returns the offset
/// just past it. Bytes after the item are not examined.
pub fn item_end(bytes: &[u8], limits: &Limits) -> Result<usize, Error> {
    let window = bytes.get(..limits.max_len).unwrap_or(bytes);
    match walk(window, limits) {
        Err(Error::Truncated { .. }) if window.len() < bytes.len() => {
            Err(Error::TooLong { offset: limits.max_len })
        }
        other => other,
    }
}

/// One open array, map or tag on the explicit stack.
struct Frame {
    /// Items still expected (maps count keys and values separately).
    remaining: u64,
    is_map: bool,
    /// Start offset of the key being read, while a key is in progress.
    pending_key: Option<usize>,
    /// Encoded key spans seen so far (maps only).
    keys: Vec<(usize, usize)>,
}

/// A decoded initial byte and argument.
struct Head {
    major: u8,
    /// Additional information (low five bits).
    info: u8,
    arg: u64,
    /// Offset just past the head.
    next: usize,
}

fn read_head(bytes: &[u8], pos: usize) -> Result<Head, Error> {
    let truncated = Error::Truncated { offset: pos };
    let first = *bytes.get(pos).ok_or(truncated)?;
    let major = first >> 5;
    let info = first & 0x1f;
    let body = pos.checked_add(1).ok_or(truncated)?;
    let width = match info {
        0..=23 => return Ok(Head { major, info, arg: u64::from(info), next: body }),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        28..=30 => return Err(Error::Reserved { offset: pos }),
        _ => return Ok(Head { major, info, arg: 0, next: body }),
    };
    let next = body.checked_add(width).ok_or(truncated)?;
    let arg_bytes = bytes.get(body..next).ok_or(truncated)?;
    let arg = arg_bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    Ok(Head { major, info, arg, next })
}

/// Whether the argument of a non-float head uses the shortest encoding (RFC 8949 §4.1).
fn head_is_preferred(head: &Head) -> bool {
    match head.info {
        24 => head.arg >= 24,
        25 => head.arg > 0xff,
        26 => head.arg > 0xffff,
        27 => head.arg > 0xffff_ffff,
        _ => true,
    }
}

/// Whether a binary32 value could be written as binary16 without loss.
fn f32_fits_f16(bits: u32) -> bool {
    let exp = (bits >> 23) & 0xff;
    let mant = bits & 0x7f_ffff;
    if exp == 0xff {
        // Infinity or NaN: the payload must survive truncation to 10 bits.
        return mant & 0x1fff == 0;
    }
    if exp == 0 {
        return mant == 0;
    }
    let e = i64::from(exp) - 127;
    if (-14..=15).contains(&e) {
        return mant & 0x1fff == 0;
    }
    if (-24..=-15).contains(&e) {
        // binary16 subnormal: value = (2^23 + m) * 2^(e - 23) must be a multiple of 2^-24.
        let shift = u32::try_from(-e - 1).unwrap_or(32);
        let significand = (1u64 << 23) | u64::from(mant);
        return shift < 64 && significand.trailing_zeros() >= shift;
    }
    false
}

/// Whether a binary64 value could be written as binary32 without loss.
fn f64_fits_f32(bits: u64) -> bool {
    let exp = (bits >> 52) & 0x7ff;
    let mant = bits & 0x000f_ffff_ffff_ffff;
    let low29 = (1u64 << 29) - 1;
    if exp == 0x7ff {
        return mant & low29 == 0;
    }
    if exp == 0 {
        return mant == 0;
    }
    let e = i64::try_from(exp).unwrap_or(0) - 1023;
    if (-126..=127).contains(&e) {
        return mant & low29 == 0;
    }
    if (-149..=-127).contains(&e) {
        let shift = u32::try_from(-e - 97).unwrap_or(64);
        let significand = (1u64 << 52) | mant;
        return shift < 64 && significand.trailing_zeros() >= shift;
    }
    false
}

/// Records the end of a completed item in its parent frame (closing a key span if needed).
fn item_done(stack: &mut [Frame], end: usize) {
    if let Some(top) = stack.last_mut()
        && let Some(start) = top.pending_key.take()
    {
        top.keys.push((start, end));
    }
}

/// Finds a duplicate among the encoded keys of a map; returns the offset of the later copy.
fn duplicate_key(bytes: &[u8], keys: &mut [(usize, usize)]) -> Option<usize> {
    let key = |span: &(usize, usize)| bytes.get(span.0..span.1).unwrap_or(&[]);
    keys.sort_unstable_by(|a, b| key(a).cmp(key(b)).then(a.0.cmp(&b.0)));
    keys.windows(2).find_map(|pair| match pair {
        [a, b] if key(a) == key(b) => Some(b.0),
        _ => None,
    })
}

/// Walks one item starting at offset 0 and returns the offset just past it.
fn walk(bytes: &[u8], limits: &Limits) -> Result<usize, Error> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut pos = 0usize;
    let mut started = false;

    loop {
        // Close every container whose items are all present.
        while stack.last().is_some_and(|top| top.remaining == 0) {
            if let Some(mut frame) = stack.pop()
                && frame.is_map
                && let Some(offset) = duplicate_key(bytes, &mut frame.keys)
            {
                return Err(Error::DuplicateKey { offset });
            }
            item_done(&mut stack, pos);
        }
        if started && stack.is_empty() {
            return Ok(pos);
        }
        started = true;

        // Account for the item about to be read in its parent.
        if let Some(top) = stack.last_mut() {
            if top.is_map && top.remaining % 2 == 0 {
                top.pending_key = Some(pos);
            }
            top.remaining -= 1;
        }

        let head = read_head(bytes, pos)?;
        let offset = pos;
        if head.info == 31 {
            return Err(match head.major {
                2..=5 => Error::Indefinite { offset },
                _ => Error::UnexpectedBreak { offset },
            });
        }
        let left = bytes.len().saturating_sub(head.next);
        match head.major {
            0 | 1 => {
                if !head_is_preferred(&head) {
                    return Err(Error::NotPreferred { offset });
                }
                pos = head.next;
                item_done(&mut stack, pos);
            }
            2 | 3 => {
                if !head_is_preferred(&head) {
                    return Err(Error::NotPreferred { offset });
                }
                let len = usize::try_from(head.arg).map_err(|_| Error::Truncated { offset })?;
                if len > left {
                    return Err(Error::Truncated { offset });
                }
                if len > limits.max_len {
                    return Err(Error::TooLong { offset });
                }
                let end = head.next + len;
                if head.major == 3 {
                    let text = bytes.get(head.next..end).ok_or(Error::Truncated { offset })?;
                    if core::str::from_utf8(text).is_err() {
                        return Err(Error::InvalidUtf8 { offset });
                    }
                }
                pos = end;
                item_done(&mut stack, pos);
            }
            4 | 5 => {
                if !head_is_preferred(&head) {
                    return Err(Error::NotPreferred { offset });
                }
                let count = usize::try_from(head.arg).map_err(|_| Error::Truncated { offset })?;
                if count > limits.max_items {
                    return Err(Error::TooManyItems { offset });
                }
                let is_map = head.major == 5;
                // Each element needs at least one byte.
                let elements = if is_map { count.saturating_mul(2) } else { count };
                if elements > left {
                    return Err(Error::Truncated { offset });
                }
                pos = head.next;
                if elements == 0 {
                    item_done(&mut stack, pos);
                } else {
                    if stack.len() >= limits.max_depth {
                        return Err(Error::TooDeep { offset });
                    }
                    stack.push(Frame {
                        remaining: elements as u64,
                        is_map,
                        pending_key: None,
                        keys: Vec::new(),
                    });
                }
            }
            6 => {
                if !head_is_preferred(&head) {
                    return Err(Error::NotPreferred { offset });
                }
                if stack.len() >= limits.max_depth {
                    return Err(Error::TooDeep { offset });
                }
                pos = head.next;
                stack.push(Frame {
                    remaining: 1,
                    is_map: false,
                    pending_key: None,
                    keys: Vec::new(),
                });
            }
            _ => {
                match head.info {
                    24 if head.arg < 32 => return Err(Error::BadSimple { offset }),
                    26 if f32_fits_f16(head.arg as u32) => {
                        return Err(Error::NotPreferred { offset });
                    }
                    27 if f64_fits_f32(head.arg) => return Err(Error::NotPreferred { offset }),
                    _ => {}
                }
                pos = head.next;
                item_done(&mut stack, pos);
            }
        }
    }
}

/// A fresh encoder writing into a vector. `minicbor` always writes the shortest head for
/// integers, lengths and tags, so definite-length output from it is in preferred serialization
/// as long as callers avoid indefinite-length `begin_*` calls and non-shortest floats.
pub fn encoder() -> minicbor::Encoder<Vec<u8>> {
    minicbor::Encoder::new(Vec::new())
}

/// Encodes a value into a new vector.
pub fn to_vec<T: minicbor::Encode<()>>(value: &T) -> Vec<u8> {
    let mut e = encoder();
    // Writing to a Vec cannot fail; an encoder error here could only come from a buggy
    // `Encode` impl, which then yields whatever was written so far.
    let _ = e.encode(value);
    e.into_writer()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(hex: &str) -> Result<(), Error> {
        check(&hex_bytes(hex), &Limits::default())
    }

    fn hex_bytes(s: &str) -> Vec<u8> {
        let s: alloc::string::String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn scalars_and_preferred_heads() {
        assert_eq!(ok("00"), Ok(()));
        assert_eq!(ok("1805"), Err(Error::NotPreferred { offset: 0 }));
        assert_eq!(ok("190005"), Err(Error::NotPreferred { offset: 0 }));
        assert_eq!(ok("8119 0005"), Err(Error::NotPreferred { offset: 1 }));
        assert_eq!(ok("5801 00"), Err(Error::NotPreferred { offset: 0 }));
        assert_eq!(ok("d81700"), Err(Error::NotPreferred { offset: 0 }));
        assert_eq!(ok("0000"), Err(Error::TrailingBytes { offset: 1 }));
    }

    #[test]
    fn floats() {
        assert_eq!(ok("f93c00"), Ok(()));
        assert_eq!(ok("fa3f800000"), Err(Error::NotPreferred { offset: 0 })); // 1.0
        assert_eq!(ok("fa47c35000"), Ok(())); // 100000.0
        assert_eq!(ok("fb3ff199999999999a"), Ok(())); // 1.1
        assert_eq!(ok("fb3ff0000000000000"), Err(Error::NotPreferred { offset: 0 }));
        assert_eq!(ok("fa33800000"), Err(Error::NotPreferred { offset: 0 })); // 2^-24
        assert_eq!(ok("fa33000000"), Ok(())); // 2^-25 is below binary16
    }

    #[test]
    fn maps() {
        assert_eq!(ok("a2 01 02 03 04"), Ok(()));
        assert_eq!(ok("a2 01 02 01 04"), Err(Error::DuplicateKey { offset: 3 }));
        assert_eq!(ok("a2 8101 02 8101 04"), Err(Error::DuplicateKey { offset: 4 }));
        assert_eq!(ok("a2 8101 02 8102 04"), Ok(()));
        // Same key in different maps is fine.
        assert_eq!(ok("82 a1 01 02 a1 01 02"), Ok(()));
        assert_eq!(ok("a1 a1 01 02 a1 01 02"), Ok(()));
    }

    #[test]
    fn utf8_and_lengths() {
        assert_eq!(ok("62 c328"), Err(Error::InvalidUtf8 { offset: 0 }));
        assert_eq!(ok("5b ffffffffffffffff 00"), Err(Error::Truncated { offset: 0 }));
        assert_eq!(ok("9b 7fffffffffffffff 00"), Err(Error::TooManyItems { offset: 0 }));
        let limits = Limits { max_items: 2, ..Limits::default() };
        assert_eq!(check(&hex_bytes("83010203"), &limits), Err(Error::TooManyItems { offset: 0 }));
        let limits = Limits { max_len: 3, ..Limits::default() };
        assert_eq!(check(&hex_bytes("83010203"), &limits), Err(Error::TooLong { offset: 3 }));
        assert_eq!(item_end(&hex_bytes("83010203"), &limits), Err(Error::TooLong { offset: 3 }));
    }

    #[test]
    fn sequences() {
        assert_eq!(item_end(&hex_bytes("8201 02 ff"), &Limits::default()), Ok(3));
        assert_eq!(
            item_end(&hex_bytes("d817 00"), &Limits::default()),
            Err(Error::NotPreferred { offset: 0 })
        );
    }

    #[test]
    fn depth() {
        let mut deep = alloc::vec![0x81u8; 10_000];
        deep.push(0);
        assert_eq!(check(&deep, &Limits::default()), Err(Error::TooDeep { offset: 16 }));
        let mut tags = alloc::vec![0xc1u8; 10_000];
        tags.push(0);
        assert_eq!(check(&tags, &Limits::default()), Err(Error::TooDeep { offset: 16 }));
        let mut fine = alloc::vec![0x81u8; 16];
        fine.push(0);
        assert_eq!(check(&fine, &Limits::default()), Ok(()));
    }
}
