//! The digest of a run: SHA-256 over its results, fed in input order.
//!
//! The chapter's notes insist that the order in which concurrent work runs must not change the
//! final result. The digest is how we check it: every model hashes its results in the order of
//! the inputs, never in the order they finished, so serial, threads, processes and tasks must
//! print the same hex string for the same inputs.

use sha2::{Digest as _, Sha256};

/// Accumulates results in input order.
#[derive(Clone, Default)]
pub struct Digest {
    hasher: Sha256,
}

impl Digest {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the bytes of one result. Each call is length-prefixed, so ["ab", "c"] and
    /// ["a", "bc"] give different digests.
    pub fn update(&mut self, bytes: &[u8]) -> &mut Self {
        self.hasher.update((bytes.len() as u64).to_le_bytes());
        self.hasher.update(bytes);
        self
    }

    /// Feed one number as a result.
    pub fn update_u64(&mut self, value: u64) -> &mut Self {
        self.update(&value.to_le_bytes())
    }

    /// The lowercase hex string.
    pub fn finish(self) -> String {
        hex(&self.hasher.finalize())
    }
}

/// A SHA-256 as raw bytes.
pub type Sha = [u8; 32];

/// SHA-256 of a byte slice as raw bytes (one result among many, fed to a [`Digest`] later).
pub fn sha256(bytes: &[u8]) -> Sha {
    Sha256::digest(bytes).into()
}

/// SHA-256 of a byte slice as lowercase hex (file checksums, manifest entries).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of any bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Digest of a list of results given in input order.
pub fn of_all<I, B>(results: I) -> String
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let mut d = Digest::new();
    for r in results {
        d.update(r.as_ref());
    }
    d.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_matter() {
        assert_ne!(of_all(["ab", "c"]), of_all(["a", "bc"]));
    }

    #[test]
    fn order_matters_and_is_stable() {
        assert_ne!(of_all(["a", "b"]), of_all(["b", "a"]));
        assert_eq!(of_all(["a", "b"]), of_all(["a", "b"]));
    }

    #[test]
    fn sha256_known_value() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
