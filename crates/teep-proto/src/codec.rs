//! The reader and writer every message module uses.
//!
//! Reading: [`teep_cbor::check`] has already proved the input is one well-formed item in
//! preferred serialization, with definite lengths, no duplicate map keys, valid UTF-8 and within
//! the limits. The [`Reader`] then decodes with `minicbor` and turns every failure into a
//! [`DecodeError`] that names the field. Nothing allocates from a declared count: arrays grow
//! one decoded element at a time.
//!
//! Writing: [`Writer`] emits shortest-form heads (RFC 8949 §4.1, preferred serialization).

use alloc::vec::Vec;

use minicbor::Decoder;

use crate::error::DecodeError;

/// CBOR major types (RFC 8949 §3.1).
pub(crate) mod major {
    pub const UNSIGNED: u8 = 0;
    pub const NEGATIVE: u8 = 1;
    pub const BYTES: u8 = 2;
    pub const TEXT: u8 = 3;
    pub const ARRAY: u8 = 4;
    pub const MAP: u8 = 5;
    pub const SIMPLE: u8 = 7;
}

/// A field-aware view over a `minicbor` decoder.
pub(crate) struct Reader<'b> {
    dec: Decoder<'b>,
}

impl<'b> Reader<'b> {
    pub(crate) fn new(bytes: &'b [u8]) -> Self {
        Reader { dec: Decoder::new(bytes) }
    }

    /// Whether the whole input has been consumed.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        let offset = self.dec.position();
        if offset == self.dec.input().len() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes { offset })
        }
    }

    fn malformed(&self, field: &'static str) -> DecodeError {
        DecodeError::Malformed { field, offset: Some(self.dec.position()) }
    }

    /// The major type of the next item.
    pub(crate) fn peek_major(&self, field: &'static str) -> Result<u8, DecodeError> {
        match self.dec.input().get(self.dec.position()) {
            Some(b) => Ok(b >> 5),
            None => Err(DecodeError::Missing { field }),
        }
    }

    fn expect_major(
        &self,
        field: &'static str,
        want: u8,
        expected: &'static str,
    ) -> Result<(), DecodeError> {
        if self.peek_major(field)? == want {
            Ok(())
        } else {
            Err(DecodeError::WrongType { field, expected })
        }
    }

    /// A definite-length array header; returns the element count.
    pub(crate) fn array(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.expect_major(field, major::ARRAY, "array")?;
        match self.dec.array() {
            Ok(Some(n)) => Ok(n),
            Ok(None) => Err(DecodeError::WrongType { field, expected: "definite-length array" }),
            Err(_) => Err(self.malformed(field)),
        }
    }

    /// A definite-length array header with at least one element (CDDL `[ + x ]`).
    pub(crate) fn nonempty_array(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let n = self.array(field)?;
        if n == 0 {
            return Err(DecodeError::Length { field, len: 0, min: 1, max: u64::MAX });
        }
        Ok(n)
    }

    /// A definite-length map header; returns the entry count.
    pub(crate) fn map(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.expect_major(field, major::MAP, "map")?;
        match self.dec.map() {
            Ok(Some(n)) => Ok(n),
            Ok(None) => Err(DecodeError::WrongType { field, expected: "definite-length map" }),
            Err(_) => Err(self.malformed(field)),
        }
    }

    pub(crate) fn uint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.expect_major(field, major::UNSIGNED, "unsigned integer")?;
        self.dec.u64().map_err(|_| self.malformed(field))
    }

    /// `uint .size 4` (versions, ext-info).
    pub(crate) fn uint32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let v = self.uint(field)?;
        u32::try_from(v).map_err(|_| DecodeError::OutOfRange { field, expected: "uint .size 4" })
    }

    /// A CBOR `int` that fits `i64`.
    pub(crate) fn int(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        match self.peek_major(field)? {
            major::UNSIGNED | major::NEGATIVE => {}
            _ => return Err(DecodeError::WrongType { field, expected: "integer" }),
        }
        self.dec
            .i64()
            .map_err(|_| DecodeError::OutOfRange { field, expected: "integer within i64" })
    }

    pub(crate) fn bytes(&mut self, field: &'static str) -> Result<&'b [u8], DecodeError> {
        self.expect_major(field, major::BYTES, "byte string")?;
        self.dec.bytes().map_err(|_| self.malformed(field))
    }

    /// A byte string whose length lies in `min..=max`.
    pub(crate) fn bytes_sized(
        &mut self,
        field: &'static str,
        min: usize,
        max: usize,
    ) -> Result<&'b [u8], DecodeError> {
        let b = self.bytes(field)?;
        check_len(field, b.len(), min, max)?;
        Ok(b)
    }

    pub(crate) fn text(&mut self, field: &'static str) -> Result<&'b str, DecodeError> {
        self.expect_major(field, major::TEXT, "text string")?;
        self.dec.str().map_err(|_| self.malformed(field))
    }

    /// A text string whose UTF-8 length in bytes lies in `min..=max`.
    pub(crate) fn text_sized(
        &mut self,
        field: &'static str,
        min: usize,
        max: usize,
    ) -> Result<&'b str, DecodeError> {
        let s = self.text(field)?;
        check_len(field, s.len(), min, max)?;
        Ok(s)
    }

    pub(crate) fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        if self.peek_major(field)? != major::SIMPLE {
            return Err(DecodeError::WrongType { field, expected: "bool" });
        }
        self.dec.bool().map_err(|_| DecodeError::WrongType { field, expected: "bool" })
    }

    /// Skips one item and returns its encoded bytes (an unknown option's value).
    pub(crate) fn raw(&mut self, field: &'static str) -> Result<&'b [u8], DecodeError> {
        let start = self.dec.position();
        self.dec.skip().map_err(|_| self.malformed(field))?;
        let end = self.dec.position();
        self.dec
            .input()
            .get(start..end)
            .ok_or(DecodeError::Malformed { field, offset: Some(start) })
    }

    /// A byte string whose content must itself be one well-formed CBOR item
    /// (CDDL `bstr .cbor T`); returns the content.
    pub(crate) fn bstr_cbor(
        &mut self,
        field: &'static str,
        limits: &teep_cbor::Limits,
    ) -> Result<&'b [u8], DecodeError> {
        let content = self.bytes(field)?;
        teep_cbor::check(content, limits)?;
        Ok(content)
    }
}

/// Rejects a length outside `min..=max`.
pub(crate) fn check_len(
    field: &'static str,
    len: usize,
    min: usize,
    max: usize,
) -> Result<(), DecodeError> {
    if (min..=max).contains(&len) {
        Ok(())
    } else {
        Err(DecodeError::Length { field, len: len as u64, min: min as u64, max: max as u64 })
    }
}

/// Appends CBOR items in preferred serialization to a byte vector.
#[derive(Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Writer { buf: Vec::new() }
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.buf
    }

    /// A head with the shortest argument encoding (RFC 8949 §4.1).
    fn head(&mut self, major: u8, arg: u64) {
        let mt = major << 5;
        if arg < 24 {
            // arg < 24, so the cast keeps the value.
            self.buf.push(mt | arg as u8);
        } else if let Ok(v) = u8::try_from(arg) {
            self.buf.extend_from_slice(&[mt | 24, v]);
        } else if let Ok(v) = u16::try_from(arg) {
            self.buf.push(mt | 25);
            self.buf.extend_from_slice(&v.to_be_bytes());
        } else if let Ok(v) = u32::try_from(arg) {
            self.buf.push(mt | 26);
            self.buf.extend_from_slice(&v.to_be_bytes());
        } else {
            self.buf.push(mt | 27);
            self.buf.extend_from_slice(&arg.to_be_bytes());
        }
    }

    pub(crate) fn uint(&mut self, v: u64) {
        self.head(major::UNSIGNED, v);
    }

    pub(crate) fn int(&mut self, v: i64) {
        if v >= 0 {
            self.head(major::UNSIGNED, v.unsigned_abs());
        } else {
            // -1 - v for negative v, computed without overflow: !v == -1 - v.
            self.head(major::NEGATIVE, (!v).unsigned_abs());
        }
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.head(major::BYTES, b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    pub(crate) fn text(&mut self, s: &str) {
        self.head(major::TEXT, s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn array(&mut self, len: usize) {
        self.head(major::ARRAY, len as u64);
    }

    pub(crate) fn map(&mut self, len: usize) {
        self.head(major::MAP, len as u64);
    }

    pub(crate) fn bool(&mut self, b: bool) {
        self.buf.push(if b { 0xf5 } else { 0xf4 });
    }

    /// Appends an already encoded item.
    pub(crate) fn raw(&mut self, item: &[u8]) {
        self.buf.extend_from_slice(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_uses_shortest_heads() {
        let mut w = Writer::new();
        w.uint(23);
        w.uint(24);
        w.uint(256);
        w.int(-1);
        w.int(-65534);
        w.int(i64::MIN);
        assert_eq!(
            w.into_vec(),
            [
                0x17, 0x18, 0x18, 0x19, 0x01, 0x00, 0x20, 0x39, 0xff, 0xfd, 0x3b, 0x7f, 0xff, 0xff,
                0xff, 0xff, 0xff, 0xff, 0xff
            ]
        );
    }
}
