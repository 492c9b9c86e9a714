//! Content digests: sha256 over a canonical, length-prefixed encoding, so the same
//! inputs give the same digest on any machine and no two encodings collide.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A sha256 digest, shown as `sha256:<hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of raw bytes.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// The lowercase hex form, without the `sha256:` prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A short form for display: the first 12 hex digits.
    pub fn short(&self) -> String {
        self.hex()[..12].to_string()
    }

    pub(crate) fn from_raw(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.short())
    }
}

/// The error for a string that is not `sha256:<64 hex digits>`.
#[derive(Debug, thiserror::Error)]
#[error("not a sha256 digest: {0:?}")]
pub struct ParseDigestError(String);

impl FromStr for Digest {
    type Err = ParseDigestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let hex_part = text.strip_prefix("sha256:").unwrap_or(text);
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| ParseDigestError(text.to_string()))?;
        Ok(Self(bytes))
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Builds a digest from typed fields. Every field is tagged and length-prefixed, so
/// `("ab", "c")` and `("a", "bc")` differ, and a node kind can never be confused with
/// another's arguments.
pub struct Hasher(Sha256);

impl Hasher {
    /// Starts a digest for a node of `kind`.
    pub fn new(kind: &str) -> Self {
        let mut hasher = Self(Sha256::new());
        hasher.str(kind);
        hasher
    }

    fn raw(&mut self, tag: u8, bytes: &[u8]) -> &mut Self {
        self.0.update([tag]);
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub fn str(&mut self, value: &str) -> &mut Self {
        self.raw(b's', value.as_bytes())
    }

    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.raw(b'b', value)
    }

    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.raw(b'u', &value.to_le_bytes())
    }

    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.raw(b'?', &[value as u8])
    }

    pub fn digest(&mut self, value: &Digest) -> &mut Self {
        self.raw(b'd', &value.0)
    }

    pub fn opt_str(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            None => self.raw(b'n', &[]),
            Some(value) => self.str(value),
        }
    }

    pub fn opt_u32(&mut self, value: Option<u32>) -> &mut Self {
        match value {
            None => self.raw(b'n', &[]),
            Some(value) => self.u64(u64::from(value)),
        }
    }

    pub fn strs<S: AsRef<str>>(&mut self, values: &[S]) -> &mut Self {
        self.u64(values.len() as u64);
        for value in values {
            self.str(value.as_ref());
        }
        self
    }

    pub fn finish(self) -> Digest {
        Digest(self.0.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_length_prefixed() {
        let mut first = Hasher::new("k");
        first.str("ab").str("c");
        let mut second = Hasher::new("k");
        second.str("a").str("bc");
        assert_ne!(first.finish(), second.finish());
    }

    #[test]
    fn display_round_trips() {
        let digest = Digest::of_bytes(b"tanto");
        let parsed: Digest = digest.to_string().parse().unwrap();
        assert_eq!(parsed, digest);
        assert!(digest.to_string().starts_with("sha256:"));
        assert!("sha256:zz".parse::<Digest>().is_err());
    }
}
