//! Reads structured choices out of fuzz bytes, so that one input drives a parser that asks
//! for several values in turn.

/// The bytes [`Tape::optional_chunk`] reads back as `value` (at most 65,535 bytes of it).
pub fn chunk(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        None => vec![0],
        Some(v) => {
            let v = &v[..v.len().min(usize::from(u16::MAX))];
            let mut out = vec![1];
            out.extend_from_slice(&(v.len() as u16).to_le_bytes());
            out.extend_from_slice(v);
            out
        }
    }
}

/// The unread part of a fuzz input.
#[derive(Debug)]
pub(crate) struct Tape<'a> {
    rest: &'a [u8],
}

impl<'a> Tape<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    /// One byte (0 once the input is used up).
    pub(crate) fn byte(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((b, rest)) => {
                self.rest = rest;
                *b
            }
            None => 0,
        }
    }

    /// A little-endian u16 (missing bytes read as 0).
    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// Up to `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = rest;
        head
    }

    /// A length-prefixed chunk (u16 length), or `None` for a zero tag; `None` too once the
    /// input is used up.
    pub(crate) fn optional_chunk(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() || self.byte() == 0 {
            return None;
        }
        let n = usize::from(self.u16());
        Some(self.take(n))
    }

    /// All that is left.
    pub(crate) fn rest(self) -> &'a [u8] {
        self.rest
    }
}
