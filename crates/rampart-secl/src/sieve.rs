//! A necessary condition for a string to be one of a set of keys: its length and first byte occur among the
//! keys' (or, for prefix and suffix keys, its first or last byte). Two bit tests reject most event values
//! before they are hashed (a path of 40 bytes is never one of 12 shell names).

/// Lengths from 255 up share the last bit.
const LONG: usize = 255;

#[derive(Default, Clone)]
pub(crate) struct Sieve {
    lens: [u64; 4],
    bytes: [u64; 4],
}

#[inline]
fn has(bits: &[u64; 4], i: usize) -> bool {
    bits[i / 64] & (1 << (i % 64)) != 0
}

fn put(bits: &mut [u64; 4], i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

impl Sieve {
    /// Admits `key` (non-empty).
    pub(crate) fn add(&mut self, key: &[u8]) {
        self.add_len(key.len());
        self.add_byte(key[0]);
    }

    /// Records a key length only (for lookups that check nothing else, such as path prefixes).
    pub(crate) fn add_len(&mut self, len: usize) {
        put(&mut self.lens, len.min(LONG));
    }

    /// Records a byte only (the first of a prefix key, the last of a suffix key: their length says nothing
    /// of the value's).
    pub(crate) fn add_byte(&mut self, b: u8) {
        put(&mut self.bytes, b as usize);
    }

    /// Whether some key has `len` bytes (lengths past the cap are not told apart).
    #[inline]
    pub(crate) fn may_have_len(&self, len: usize) -> bool {
        has(&self.lens, len.min(LONG))
    }

    /// Whether `b` was recorded.
    #[inline]
    pub(crate) fn may_have_byte(&self, b: u8) -> bool {
        has(&self.bytes, b as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_every_key_and_rejects_other_lengths_and_first_bytes() {
        let mut s = Sieve::default();
        for k in ["bash", "sh", "zsh", &"x".repeat(300)] {
            s.add(k.as_bytes());
        }
        let may_hold = |k: &[u8]| s.may_have_len(k.len()) && s.may_have_byte(k[0]);
        for k in ["bash", "sh", "zsh", &"x".repeat(300), &"x".repeat(256)] {
            assert!(may_hold(k.as_bytes()), "{k}");
        }
        // Wrong length, then right length but wrong first byte.
        assert!(!may_hold(b"bashx"));
        assert!(!may_hold(b"ls"));
        assert!(!may_hold(&[0xff, b'a', b'b']));
    }

    #[test]
    fn lengths_and_first_bytes_are_recorded_apart() {
        let mut s = Sieve::default();
        s.add_len(4);
        s.add_byte(b'n');
        assert!(s.may_have_len(4) && !s.may_have_len(5) && !s.may_have_len(0));
        assert!(s.may_have_byte(b'n') && !s.may_have_byte(b'N'));
    }
}
