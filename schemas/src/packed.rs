//! The primitives of the platform's packed binary layouts (snapshots): LEB128 varints,
//! length-prefixed bytes, 16-byte UUIDs. Writing cannot fail; reading answers `None` for
//! any value it cannot take whole (truncated, overlong, not UTF-8), never panics. Pure.

use uuid::Uuid;

/// Appends `value` as an unsigned LEB128 varint (7 bits a byte, low bits first).
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends `bytes` after their length as a varint.
pub fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends a string as [`put_bytes`] does.
pub fn put_str(out: &mut Vec<u8>, text: &str) {
    put_bytes(out, text.as_bytes());
}

/// The unread rest of a value.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*first)
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        (self.0.len() >= n).then_some(())?;
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(taken)
    }

    /// A varint of at most ten bytes whose value fits in 64 bits.
    pub fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            // The tenth byte holds one bit; more would not fit.
            (bits.checked_shl(shift)? >> shift == bits).then_some(())?;
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        self.take(len)
    }

    pub fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }

    pub fn uuid(&mut self) -> Option<Uuid> {
        Uuid::from_slice(self.take(16)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_every_width() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            let mut input = Reader(&out);
            assert_eq!(input.varint(), Some(value), "{value}");
            assert!(input.is_empty());
        }
    }

    #[test]
    fn varints_that_do_not_fit_are_refused() {
        let eleven = [0xff; 10]
            .iter()
            .chain(&[0x01])
            .copied()
            .collect::<Vec<_>>();
        assert_eq!(Reader(&eleven).varint(), None);
        let tenth_too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(Reader(&tenth_too_big).varint(), None);
        assert_eq!(Reader(&[0x80]).varint(), None, "truncated");
    }

    #[test]
    fn strings_are_length_prefixed_and_must_be_utf8() {
        let mut out = Vec::new();
        put_str(&mut out, "Grüße");
        assert_eq!(Reader(&out).str(), Some("Grüße"));
        assert_eq!(Reader(&[2, 0xff, 0xfe]).str(), None);
        assert_eq!(Reader(&[5, b'a']).str(), None, "shorter than its length");
    }
}
