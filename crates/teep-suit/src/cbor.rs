//! Decoding helpers shared by the SUIT structures.
//!
//! Every peer-supplied CBOR item (the envelope, and each bstr-wrapped member before it is
//! opened) goes through [`precheck`] first, so the typed decoding below can rely on definite
//! lengths that are bounded by the bytes present (teep-cbor).

use alloc::vec::Vec;

use minicbor::data::Type;
use minicbor::{Decoder, Encoder};

use crate::error::SuitError;

/// Largest number of entries accepted in one array or map of a manifest.
pub(crate) const MAX_ITEMS: usize = 1024;

/// Limits for a CBOR item of `len` bytes: depth 16, items [`MAX_ITEMS`]. The envelope may be
/// large because of integrated payloads, so the length limit is the input itself; the caller
/// bounds input size.
fn limits(len: usize) -> teep_cbor::Limits {
    teep_cbor::Limits { max_depth: 16, max_len: len, max_items: MAX_ITEMS }
}

/// Strict structural check of exactly one CBOR item.
pub(crate) fn precheck(bytes: &[u8]) -> Result<(), SuitError> {
    teep_cbor::check(bytes, &limits(bytes.len())).map_err(SuitError::Cbor)
}

/// Result of a write into a `Vec`: cannot fail.
pub(crate) fn infallible<T, E>(r: Result<T, E>) {
    // Writing into a Vec<u8> has no failure mode (`Infallible` writer error).
    let _ = r;
}

/// A fresh encoder into a vector.
pub(crate) fn encoder() -> Encoder<Vec<u8>> {
    Encoder::new(Vec::new())
}

/// Reads a definite array header; returns its length.
pub(crate) fn array_len(d: &mut Decoder<'_>, what: &'static str) -> Result<u64, SuitError> {
    match d.array() {
        Ok(Some(n)) => Ok(n),
        _ => Err(SuitError::Malformed(what)),
    }
}

/// Reads a definite map header; returns the number of pairs.
pub(crate) fn map_len(d: &mut Decoder<'_>, what: &'static str) -> Result<u64, SuitError> {
    match d.map() {
        Ok(Some(n)) => Ok(n),
        _ => Err(SuitError::Malformed(what)),
    }
}

/// Reads an unsigned integer.
pub(crate) fn uint(d: &mut Decoder<'_>, what: &'static str) -> Result<u64, SuitError> {
    match d.datatype() {
        Ok(Type::U8 | Type::U16 | Type::U32 | Type::U64) => {
            d.u64().map_err(|_| SuitError::Malformed(what))
        }
        _ => Err(SuitError::Malformed(what)),
    }
}

/// Reads an integer that fits in `i64`.
pub(crate) fn int(d: &mut Decoder<'_>, what: &'static str) -> Result<i64, SuitError> {
    match d.datatype() {
        Ok(
            Type::U8
            | Type::U16
            | Type::U32
            | Type::U64
            | Type::I8
            | Type::I16
            | Type::I32
            | Type::I64
            | Type::Int,
        ) => d.i64().map_err(|_| SuitError::Malformed(what)),
        _ => Err(SuitError::Malformed(what)),
    }
}

/// Reads a byte string.
pub(crate) fn bytes<'b>(d: &mut Decoder<'b>, what: &'static str) -> Result<&'b [u8], SuitError> {
    match d.datatype() {
        Ok(Type::Bytes) => d.bytes().map_err(|_| SuitError::Malformed(what)),
        _ => Err(SuitError::Malformed(what)),
    }
}

/// Reads a text string.
pub(crate) fn text<'b>(d: &mut Decoder<'b>, what: &'static str) -> Result<&'b str, SuitError> {
    match d.datatype() {
        Ok(Type::String) => d.str().map_err(|_| SuitError::Malformed(what)),
        _ => Err(SuitError::Malformed(what)),
    }
}

/// Reads a byte string and returns the whole encoded item (head included) and its content.
pub(crate) fn wrapped<'b>(
    d: &mut Decoder<'b>,
    what: &'static str,
) -> Result<(&'b [u8], &'b [u8]), SuitError> {
    let start = d.position();
    let content = bytes(d, what)?;
    let end = d.position();
    let whole = d.input().get(start..end).ok_or(SuitError::Malformed(what))?;
    Ok((whole, content))
}

/// Skips one item.
pub(crate) fn skip(d: &mut Decoder<'_>, what: &'static str) -> Result<(), SuitError> {
    d.skip().map_err(|_| SuitError::Malformed(what))
}

/// The encoded bytes of the next item, consumed.
pub(crate) fn raw<'b>(d: &mut Decoder<'b>, what: &'static str) -> Result<&'b [u8], SuitError> {
    let start = d.position();
    skip(d, what)?;
    let end = d.position();
    d.input().get(start..end).ok_or(SuitError::Malformed(what))
}
