//! Content-addressed blobs: every task input and output is named by the SHA-256 of its bytes,
//! so a result can be checked by hash and a task run twice names the same outputs.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// The name of a blob: the SHA-256 of its content. Shown, parsed and (in human-readable
/// formats such as JSON) serialized as 64 lowercase hex digits; binary formats carry the 32
/// raw bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlobId(pub [u8; 32]);

impl BlobId {
    /// The id of `bytes`.
    pub fn of(bytes: &[u8]) -> BlobId {
        BlobId(Sha256::digest(bytes).into())
    }

    /// The raw 32 hash bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Where the blob lives in a blob store, for every side that reaches one (the orchestrator,
    /// a worker fetching by name): `blobs/<64 hex digits>`.
    pub fn store_key(&self) -> String {
        format!("blobs/{self}")
    }

    /// The first 12 hex digits, enough to tell blobs apart in messages and logs.
    pub fn short(&self) -> String {
        let mut hex = self.to_string();
        hex.truncate(12);
        hex
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({self})")
    }
}

/// Why a string is not a [`BlobId`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseBlobIdError(String);

impl fmt::Display for ParseBlobIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseBlobIdError {}

impl FromStr for BlobId {
    type Err = ParseBlobIdError;

    /// Parses 64 hex digits (either case).
    fn from_str(s: &str) -> Result<BlobId, ParseBlobIdError> {
        let digits = s.as_bytes();
        if digits.len() != 64 {
            return Err(ParseBlobIdError(format!(
                "a blob id is 64 hex digits, not {} characters",
                s.chars().count()
            )));
        }
        let mut id = [0u8; 32];
        let nibble = |at: usize| {
            char::from(digits[at]).to_digit(16).ok_or_else(|| {
                ParseBlobIdError(format!("blob id has a non-hex character at offset {at}"))
            })
        };
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = (nibble(2 * i)? * 16 + nibble(2 * i + 1)?) as u8;
        }
        Ok(BlobId(id))
    }
}

impl Serialize for BlobId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for BlobId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<BlobId, D::Error> {
        if deserializer.is_human_readable() {
            struct HexVisitor;
            impl Visitor<'_> for HexVisitor {
                type Value = BlobId;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a blob id as 64 hex digits")
                }
                fn visit_str<E: de::Error>(self, s: &str) -> Result<BlobId, E> {
                    s.parse().map_err(E::custom)
                }
            }
            deserializer.deserialize_str(HexVisitor)
        } else {
            <[u8; 32]>::deserialize(deserializer).map(BlobId)
        }
    }
}

/// A blob named rather than carried: its id and its length, so that whoever fetches it knows
/// how much to expect before reading, and can check what arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlobRef {
    pub id: BlobId,
    pub len: u64,
}

impl BlobRef {
    /// The reference to `bytes`.
    pub fn of(bytes: &[u8]) -> BlobRef {
        BlobRef {
            id: BlobId::of(bytes),
            len: bytes.len() as u64,
        }
    }
}

/// Anything a task can read its input blobs from.
pub trait BlobSource {
    /// The bytes of blob `id`, if this source holds it.
    fn blob(&self, id: &BlobId) -> Option<&[u8]>;
}

/// An in-memory set of blobs, keyed by their ids. Contents are shared, so cloning is cheap;
/// iteration is in id order, so it is deterministic.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Blobs {
    map: BTreeMap<BlobId, Arc<Vec<u8>>>,
}

impl Blobs {
    /// An empty set.
    pub fn new() -> Blobs {
        Blobs::default()
    }

    /// Stores `bytes` and returns their id (storing the same content twice keeps one copy).
    pub fn insert(&mut self, bytes: Vec<u8>) -> BlobId {
        self.insert_shared(Arc::new(bytes))
    }

    /// Stores already shared bytes without copying them and returns their id.
    pub fn insert_shared(&mut self, bytes: Arc<Vec<u8>>) -> BlobId {
        let id = BlobId::of(&bytes);
        self.map.entry(id).or_insert(bytes);
        id
    }

    /// Stores bytes whose id the caller has just computed, to spare hashing them twice.
    pub(crate) fn insert_hashed(&mut self, id: BlobId, bytes: Vec<u8>) {
        debug_assert_eq!(id, BlobId::of(&bytes));
        self.map.entry(id).or_insert_with(|| Arc::new(bytes));
    }

    /// The bytes of blob `id`.
    pub fn get(&self, id: &BlobId) -> Option<&[u8]> {
        self.map.get(id).map(|bytes| bytes.as_slice())
    }

    /// The shared bytes of blob `id`, to keep them without copying.
    pub fn get_shared(&self, id: &BlobId) -> Option<Arc<Vec<u8>>> {
        self.map.get(id).cloned()
    }

    /// Whether blob `id` is held.
    pub fn contains(&self, id: &BlobId) -> bool {
        self.map.contains_key(id)
    }

    /// Removes blob `id`, returning its bytes.
    pub fn remove(&mut self, id: &BlobId) -> Option<Arc<Vec<u8>>> {
        self.map.remove(id)
    }

    /// Every blob, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&BlobId, &[u8])> {
        self.map.iter().map(|(id, bytes)| (id, bytes.as_slice()))
    }

    /// The ids held, in order.
    pub fn ids(&self) -> impl Iterator<Item = &BlobId> {
        self.map.keys()
    }

    /// Moves every blob of `other` into this set.
    pub fn extend(&mut self, other: Blobs) {
        for (id, bytes) in other.map {
            self.map.entry(id).or_insert(bytes);
        }
    }

    /// Number of blobs.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no blobs.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Total size of all blobs in bytes.
    pub fn total_len(&self) -> usize {
        self.map.values().map(|bytes| bytes.len()).sum()
    }
}

impl IntoIterator for Blobs {
    type Item = (BlobId, Arc<Vec<u8>>);
    type IntoIter = std::collections::btree_map::IntoIter<BlobId, Arc<Vec<u8>>>;

    /// Every blob, in id order, with its shared bytes.
    fn into_iter(self) -> Self::IntoIter {
        self.map.into_iter()
    }
}

impl fmt::Debug for Blobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.map.iter().map(|(id, b)| (id.short(), b.len())))
            .finish()
    }
}

impl BlobSource for Blobs {
    fn blob(&self, id: &BlobId) -> Option<&[u8]> {
        self.get(id)
    }
}

impl<T: BlobSource + ?Sized> BlobSource for &T {
    fn blob(&self, id: &BlobId) -> Option<&[u8]> {
        (**self).blob(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = BlobId::of(b"abc");
        let hex = id.to_string();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hex.parse::<BlobId>().unwrap(), id);
        assert_eq!(hex.to_uppercase().parse::<BlobId>().unwrap(), id);
        assert_eq!(format!("{id:?}"), format!("BlobId({hex})"));
        assert_eq!(id.short(), "ba7816bf8f01");
        assert_eq!(id.store_key(), format!("blobs/{hex}"));
    }

    #[test]
    fn bad_hex_is_rejected() {
        assert!("abc".parse::<BlobId>().is_err());
        let mut hex = BlobId::of(b"x").to_string();
        hex.replace_range(10..11, "g");
        let err = hex.parse::<BlobId>().unwrap_err();
        assert!(err.to_string().contains("offset 10"), "{err}");
        // 64 bytes but not 64 characters: a multi-byte character must not slip through.
        let wide = format!("é{}", &BlobId::of(b"y").to_string()[2..]);
        assert!(wide.parse::<BlobId>().is_err());
    }

    #[test]
    fn binary_serde_is_32_raw_bytes() {
        let id = BlobId::of(b"payload");
        let bytes = bincode::serde::encode_to_vec(id, bincode::config::standard()).unwrap();
        assert_eq!(bytes, id.0);
        let (back, _): (BlobId, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        assert_eq!(back, id);
    }

    #[test]
    fn blobs_dedupe_and_count() {
        let mut blobs = Blobs::new();
        let a = blobs.insert(vec![1, 2, 3]);
        let b = blobs.insert(vec![4, 5]);
        assert_eq!(blobs.insert(vec![1, 2, 3]), a);
        assert_eq!(blobs.len(), 2);
        assert_eq!(blobs.total_len(), 5);
        assert_eq!(blobs.get(&b), Some(&[4u8, 5][..]));
        assert!(blobs.contains(&a));
        assert!(!blobs.contains(&BlobId::of(b"")));
        assert_eq!(blobs.iter().count(), 2);
        // Through a reference, as `execute` takes any source.
        fn len_via<S: BlobSource>(source: S, id: &BlobId) -> Option<usize> {
            source.blob(id).map(<[u8]>::len)
        }
        assert_eq!(len_via(&blobs, &a), Some(3));
    }
}
