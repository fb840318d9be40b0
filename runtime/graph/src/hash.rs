//! Blob names: blake3 hashes.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The blake3 hash of a blob, shown and stored as 64 hex digits.
///
/// ```
/// use mfw_graph::BlobHash;
/// let hash = BlobHash::of(b"hello");
/// let parsed: BlobHash = hash.to_hex().parse().unwrap();
/// assert_eq!(parsed, hash);
/// assert_eq!(hash.to_hex().len(), 64);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash([u8; 32]);

/// A string that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a blob hash (64 hex digits)")]
pub struct HashParseError(pub String);

impl BlobHash {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// Wraps raw hash bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw hash bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// The first 12 hex digits, for display.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }
}

impl std::str::FromStr for BlobHash {
    type Err = HashParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        blake3::Hash::from_hex(s)
            .map(|h| Self(*h.as_bytes()))
            .map_err(|_| HashParseError(s.to_string()))
    }
}

impl std::fmt::Display for BlobHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(blake3::Hash::from_bytes(self.0).to_hex().as_str())
    }
}

impl std::fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobHash({})", self.short())
    }
}

// Both ways without a `String` per hash (written through `Display`): a
// task record holds several, and a cached foreach reads and writes
// thousands of records.
impl Serialize for BlobHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BlobHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(HexVisitor)
    }
}

/// Reads a hash from its hex digits, borrowed where the format allows.
struct HexVisitor;

impl serde::de::Visitor<'_> for HexVisitor {
    type Value = BlobHash;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a blake3 hash as 64 hex digits")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<BlobHash, E> {
        text.parse().map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_reads_back_as_written_as_a_value_and_as_a_map_key() {
        let hash = BlobHash::of(b"x");
        let map = std::collections::BTreeMap::from([(hash, vec![hash])]);
        let text = serde_json::to_string(&map).unwrap();
        assert_eq!(text, format!("{{\"{hash}\":[\"{hash}\"]}}"));
        let back: std::collections::BTreeMap<BlobHash, Vec<BlobHash>> =
            serde_json::from_str(&text).unwrap();
        assert_eq!(back, map);
        // An escaped string is read too (serde_json hands it over unborrowed).
        let escaped = format!("\"\\u0030{}\"", &hash.to_hex()[1..]);
        let zero_first: BlobHash = serde_json::from_str(&escaped).unwrap();
        assert_eq!(zero_first.to_hex(), format!("0{}", &hash.to_hex()[1..]));
    }

    #[test]
    fn what_is_not_a_hash_is_refused_naming_it() {
        let error = serde_json::from_str::<BlobHash>("\"abc\"").unwrap_err();
        assert!(error.to_string().contains("abc"), "{error}");
        assert!(serde_json::from_str::<BlobHash>("17").is_err());
    }
}
