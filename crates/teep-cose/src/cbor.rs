//! Small decoding and encoding helpers over `minicbor` shared by the COSE structures.

use alloc::vec::Vec;
use minicbor::data::Type;
use minicbor::{Decoder, Encoder};

use crate::Error;

/// Limits for the strict pre-check of COSE structures. The length limit is not needed: the
/// decoders borrow from the input and never allocate from a declared length.
pub(crate) const LIMITS: teep_cbor::Limits =
    teep_cbor::Limits { max_depth: 16, max_len: usize::MAX, max_items: 4096 };

/// Runs the strict structural check on a complete COSE item.
pub(crate) fn check(bytes: &[u8]) -> Result<(), Error> {
    teep_cbor::check(bytes, &LIMITS).map_err(Error::Cbor)
}

/// Reads an optional tag; accepts only `expected` (RFC 9052 §2, Table 1).
/// Returns whether the item was tagged.
pub(crate) fn optional_tag(d: &mut Decoder<'_>, expected: u64) -> Result<bool, Error> {
    if d.datatype()? != Type::Tag {
        return Ok(false);
    }
    let tag = d.tag()?;
    if tag.as_u64() != expected {
        return Err(Error::Malformed("unexpected CBOR tag"));
    }
    Ok(true)
}

/// Reads a definite array header of exactly `len` elements.
pub(crate) fn array_of(d: &mut Decoder<'_>, len: u64, what: &'static str) -> Result<(), Error> {
    match d.array()? {
        Some(n) if n == len => Ok(()),
        _ => Err(Error::Malformed(what)),
    }
}

/// Reads a definite array header and returns its length.
pub(crate) fn array_len(d: &mut Decoder<'_>) -> Result<u64, Error> {
    d.array()?.ok_or(Error::Malformed("indefinite array"))
}

/// Reads a byte string or nil.
pub(crate) fn bytes_or_nil<'b>(d: &mut Decoder<'b>) -> Result<Option<&'b [u8]>, Error> {
    if d.datatype()? == Type::Null {
        d.null()?;
        return Ok(None);
    }
    Ok(Some(d.bytes()?))
}

/// Whether the decoder's next item is an integer.
pub(crate) fn is_int(t: Type) -> bool {
    matches!(
        t,
        Type::U8 | Type::U16 | Type::U32 | Type::U64 | Type::I8 | Type::I16 | Type::I32 | Type::I64
    )
}

/// Fresh encoder into a vector.
pub(crate) fn encoder() -> Encoder<Vec<u8>> {
    Encoder::new(Vec::new())
}

/// Discards the result of writing into a vector: `Vec<u8>` is an infallible writer and the
/// encoder methods used here (heads, integers, strings) fail only on write errors.
pub(crate) fn done<T, E>(r: Result<T, E>) {
    let _ = r;
}
