//! A minimal reader for JSON Web Keys (RFC 7517, RFC 7518 §6.2, RFC 8037): one flat JSON
//! object whose string members are collected; nested values are skipped. Base64 members are
//! accepted in the base64url alphabet (RFC 7515 §2) and, for interoperability with published
//! TEEP examples, in the standard alphabet with padding.

use alloc::string::String;
use alloc::vec::Vec;
use zeroize::Zeroizing;

use crate::Error;

const MAX_JSON: usize = 64 * 1024;
const MAX_NESTING: usize = 16;

/// The string members of a JSON object.
pub(crate) struct Jwk {
    members: Vec<(String, Zeroizing<String>)>,
}

impl Jwk {
    pub(crate) fn parse(json: &str) -> Result<Self, Error> {
        if json.len() > MAX_JSON {
            return Err(Error::InvalidKey("JWK too long"));
        }
        let mut p = Parser { s: json.as_bytes(), pos: 0 };
        let mut members = Vec::new();
        p.ws();
        p.expect(b'{')?;
        p.ws();
        if p.peek() == Some(b'}') {
            p.pos += 1;
        } else {
            loop {
                p.ws();
                let name = p.string()?;
                p.ws();
                p.expect(b':')?;
                p.ws();
                if p.peek() == Some(b'"') {
                    let value = Zeroizing::new(p.string()?);
                    if members.iter().any(|(n, _)| *n == name) {
                        return Err(Error::InvalidKey("JWK member repeated"));
                    }
                    members.push((name, value));
                } else {
                    p.skip_value()?;
                }
                p.ws();
                match p.next() {
                    Some(b',') => continue,
                    Some(b'}') => break,
                    _ => return Err(Error::InvalidKey("JWK is not a JSON object")),
                }
            }
        }
        p.ws();
        if p.pos != p.s.len() {
            return Err(Error::InvalidKey("trailing data after JWK"));
        }
        Ok(Jwk { members })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.members.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub(crate) fn require(&self, name: &'static str) -> Result<&str, Error> {
        self.get(name).ok_or(Error::InvalidKey("JWK member missing"))
    }

    /// A base64url member decoded to exactly `N` bytes.
    pub(crate) fn bytes<const N: usize>(
        &self,
        name: &'static str,
    ) -> Result<Zeroizing<[u8; N]>, Error> {
        let v = base64_any(self.require(name)?)?;
        let mut out = Zeroizing::new([0u8; N]);
        if v.len() != N {
            return Err(Error::InvalidKey("JWK member has the wrong length"));
        }
        out.copy_from_slice(&v);
        Ok(out)
    }
}

/// Decodes base64url (unpadded) or standard base64 (padded or not).
pub(crate) fn base64_any(s: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    use base64ct::Encoding;
    let normalized: Zeroizing<String> = Zeroizing::new(
        s.trim_end_matches('=')
            .chars()
            .map(|c| match c {
                '+' => '-',
                '/' => '_',
                c => c,
            })
            .collect(),
    );
    base64ct::Base64UrlUnpadded::decode_vec(&normalized)
        .map(Zeroizing::new)
        .map_err(|_| Error::InvalidKey("bad base64 in JWK"))
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), Error> {
        if self.next() == Some(c) { Ok(()) } else { Err(Error::InvalidKey("malformed JSON")) }
    }

    /// A JSON string; escapes other than `\uXXXX` are decoded, `\u` must be ASCII.
    fn string(&mut self) -> Result<String, Error> {
        let bad = Error::InvalidKey("malformed JSON string");
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.next().ok_or(bad.clone())? {
                b'"' => break,
                b'\\' => {
                    let c = match self.next().ok_or(bad.clone())? {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            let hex = self.s.get(self.pos..self.pos + 4).ok_or(bad.clone())?;
                            self.pos += 4;
                            let hex = core::str::from_utf8(hex).map_err(|_| bad.clone())?;
                            let v = u8::from_str_radix(hex, 16).map_err(|_| bad.clone())?;
                            if v >= 0x80 {
                                return Err(bad);
                            }
                            v
                        }
                        _ => return Err(bad),
                    };
                    out.push(c);
                }
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| bad)
    }

    /// Skips a non-string value (number, literal, array or object), bounded nesting.
    fn skip_value(&mut self) -> Result<(), Error> {
        let mut depth = 0usize;
        loop {
            match self.peek().ok_or(Error::InvalidKey("truncated JSON"))? {
                b'"' => {
                    self.string()?;
                }
                b'{' | b'[' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(Error::InvalidKey("JSON nested too deeply"));
                    }
                    self.pos += 1;
                }
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    self.pos += 1;
                }
                b',' | b'}' if depth == 0 => return Ok(()),
                _ => self.pos += 1,
            }
            if depth == 0 && matches!(self.peek(), Some(b',' | b'}') | None) {
                return Ok(());
            }
        }
    }
}
