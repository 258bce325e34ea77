//! The blob store: content-addressed blobs kept under `blobs/<hex id>` in any store of the
//! `object_store` crate. Memory (the default) and a local directory (`--store DIR`) are one
//! constructor each, and so is object storage such as S3: the seam is `ObjectStore`.
//!
//! The store keeps the blobs that travel by name (DESIGN.md §3): raw pictures, decoder
//! states, anything over the inline limit. Keys are content hashes, so a blob put twice (a
//! task run twice, on a function platform that delivers at least once) is the same object,
//! and a duplicate put is harmless.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result};
use bytes::Bytes;
use edge_worker::{BlobId, BlobRef};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("blob {id} is not in the {store} store")]
    NotFound { store: String, id: BlobId },
    #[error("the {store} store failed on blob {id}: {source}")]
    Failed {
        store: String,
        id: BlobId,
        #[source]
        source: object_store::Error,
    },
}

/// How much the store held: now, and at most at any one time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub blobs: usize,
    pub bytes: u64,
    pub peak_blobs: usize,
    pub peak_bytes: u64,
}

impl StoreStats {
    fn add(&mut self, len: u64) {
        self.blobs += 1;
        self.bytes += len;
        self.peak_blobs = self.peak_blobs.max(self.blobs);
        self.peak_bytes = self.peak_bytes.max(self.bytes);
    }

    fn remove(&mut self, len: u64) {
        self.blobs -= 1;
        self.bytes -= len;
    }
}

/// Blobs by content hash over an `ObjectStore`. Shared (`Arc`) between the scheduler and the
/// backends whose workers reach the store directly.
pub struct BlobStore {
    objects: Arc<dyn ObjectStore>,
    describe: String,
    /// The blobs put (or reported stored by a worker) and not yet deleted, with their sizes.
    held: Mutex<(HashMap<BlobId, u64>, StoreStats)>,
}

impl fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobStore({})", self.describe)
    }
}

impl BlobStore {
    /// A store over `objects`, called `describe` in messages ("memory", a directory).
    pub fn new(objects: Arc<dyn ObjectStore>, describe: impl Into<String>) -> BlobStore {
        BlobStore {
            objects,
            describe: describe.into(),
            held: Mutex::new((HashMap::new(), StoreStats::default())),
        }
    }

    /// A store in this process's memory.
    pub fn in_memory() -> BlobStore {
        BlobStore::new(Arc::new(InMemory::new()), "memory")
    }

    /// A store in directory `dir`, created if missing: blobs are files under `dir/blobs/`,
    /// each written under a temporary name and renamed, so a file there is always whole.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created or opened.
    pub fn directory(dir: &Path) -> Result<BlobStore> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the blob store {}", dir.display()))?;
        let objects = LocalFileSystem::new_with_prefix(dir)
            .with_context(|| format!("cannot open the blob store {}", dir.display()))?
            .with_automatic_cleanup(true);
        Ok(BlobStore::new(Arc::new(objects), dir.display().to_string()))
    }

    /// A store in an S3 bucket (or any server speaking the S3 REST API at `endpoint`): blobs
    /// are objects under `PREFIX/blobs/`. Credentials and region come from the standard
    /// environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
    /// `AWS_REGION`, ...); an `endpoint` is addressed path-style, and may be plain HTTP.
    ///
    /// # Errors
    ///
    /// When the store cannot be set up (a bad endpoint, no region).
    pub fn s3(location: &S3Location, endpoint: Option<&str>) -> Result<BlobStore> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&location.bucket);
        if let Some(endpoint) = endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
            if std::env::var_os("AWS_REGION").is_none()
                && std::env::var_os("AWS_DEFAULT_REGION").is_none()
            {
                builder = builder.with_region("us-east-1");
            }
        }
        let s3 = builder
            .build()
            .with_context(|| format!("cannot open the blob store {location}"))?;
        let objects: Arc<dyn ObjectStore> = if location.prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, location.prefix.as_str()))
        };
        Ok(BlobStore::new(objects, location.to_string()))
    }

    /// What the store is, for messages: "memory", the directory or the bucket.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Puts `bytes`, whose id is `id`; a blob already held is not written again.
    ///
    /// # Errors
    ///
    /// [`StoreError::Failed`] when the store refused the write.
    pub async fn put(&self, id: BlobId, bytes: Bytes) -> Result<(), StoreError> {
        debug_assert_eq!(id, BlobId::of(&bytes));
        if self.lock().0.contains_key(&id) {
            return Ok(());
        }
        let len = bytes.len() as u64;
        self.objects
            .put(&location(&id), PutPayload::from_bytes(bytes))
            .await
            .map_err(|source| self.failed(id, source))?;
        self.note_stored(BlobRef { id, len });
        Ok(())
    }

    /// Counts a blob that a worker put into the store itself.
    pub fn note_stored(&self, blob: BlobRef) {
        let mut held = self.lock();
        let (sizes, stats) = &mut *held;
        if sizes.insert(blob.id, blob.len).is_none() {
            stats.add(blob.len);
        }
    }

    /// The bytes of blob `id`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when the store does not hold it, [`StoreError::Failed`] when
    /// the store could not be read.
    pub async fn get(&self, id: &BlobId) -> Result<Bytes, StoreError> {
        let read = async { self.objects.get(&location(id)).await?.bytes().await };
        read.await.map_err(|source| match source {
            object_store::Error::NotFound { .. } => StoreError::NotFound {
                store: self.describe.clone(),
                id: *id,
            },
            source => self.failed(*id, source),
        })
    }

    /// Deletes blob `id`; one the store does not hold is already gone.
    ///
    /// # Errors
    ///
    /// [`StoreError::Failed`] when the store refused.
    pub async fn delete(&self, id: &BlobId) -> Result<(), StoreError> {
        match self.objects.delete(&location(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(source) => return Err(self.failed(*id, source)),
        }
        let mut held = self.lock();
        let (sizes, stats) = &mut *held;
        if let Some(len) = sizes.remove(id) {
            stats.remove(len);
        }
        Ok(())
    }

    /// What the store holds now, and held at most.
    pub fn stats(&self) -> StoreStats {
        self.lock().1
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<BlobId, u64>, StoreStats)> {
        // The counts stay consistent even if a holder panicked: each update is one step.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn failed(&self, id: BlobId, source: object_store::Error) -> StoreError {
        StoreError::Failed {
            store: self.describe.clone(),
            id,
            source,
        }
    }
}

/// Where blob `id` lives in the object store: the key every side uses.
fn location(id: &BlobId) -> ObjectPath {
    ObjectPath::from(id.store_key())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn round_trip(store: &BlobStore) {
        let bytes = Bytes::from_static(b"a picture, say");
        let id = BlobId::of(&bytes);
        store.put(id, bytes.clone()).await.unwrap();
        store.put(id, bytes.clone()).await.unwrap();
        assert_eq!(store.get(&id).await.unwrap(), bytes);
        let other = Bytes::from_static(b"a state");
        store.put(BlobId::of(&other), other.clone()).await.unwrap();
        assert_eq!(
            store.stats(),
            StoreStats {
                blobs: 2,
                bytes: 21,
                peak_blobs: 2,
                peak_bytes: 21
            }
        );
        store.delete(&id).await.unwrap();
        store.delete(&id).await.unwrap();
        let error = store.get(&id).await.unwrap_err();
        assert!(matches!(error, StoreError::NotFound { .. }), "{error}");
        assert!(error.to_string().contains(&id.to_string()), "{error}");
        let stats = store.stats();
        assert_eq!((stats.blobs, stats.bytes, stats.peak_blobs), (1, 7, 2));
    }

    #[tokio::test]
    async fn memory_store_round_trip() {
        round_trip(&BlobStore::in_memory()).await;
    }

    #[tokio::test]
    async fn directory_store_round_trip_keeps_files_under_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let store = BlobStore::directory(&root).unwrap();
        round_trip(&store).await;
        let files: Vec<_> = std::fs::read_dir(root.join("blobs")).unwrap().collect();
        assert_eq!(files.len(), 1, "the deleted blob's file is gone");
        assert_eq!(store.describe(), root.display().to_string());
    }

    #[tokio::test]
    async fn a_blob_stored_by_a_worker_is_counted_once() {
        let store = BlobStore::in_memory();
        let blob = BlobRef::of(b"kept by a worker");
        store.note_stored(blob);
        store.note_stored(blob);
        assert_eq!(store.stats().blobs, 1);
        store.delete(&blob.id).await.unwrap();
        assert_eq!(store.stats().blobs, 0);
    }
}

/// Where in S3 a store is: `s3://BUCKET[/PREFIX]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Without leading or trailing slashes; empty for the bucket's root.
    pub prefix: String,
}

impl S3Location {
    /// `text` as an S3 location, or `None` when it does not start with `s3://`.
    ///
    /// # Errors
    ///
    /// An `s3://` URL without a bucket.
    pub fn parse(text: &str) -> Option<Result<S3Location, String>> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Some(Err(format!("{text}: no bucket (s3://BUCKET[/PREFIX])")));
        }
        Some(Ok(S3Location {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        }))
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

#[cfg(test)]
mod s3_location_tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(S3Location::parse("dir/blobs"), None);
        let at = |bucket: &str, prefix: &str| S3Location {
            bucket: bucket.into(),
            prefix: prefix.into(),
        };
        assert_eq!(S3Location::parse("s3://b"), Some(Ok(at("b", ""))));
        assert_eq!(S3Location::parse("s3://b/"), Some(Ok(at("b", ""))));
        assert_eq!(
            S3Location::parse("s3://b/run/7/"),
            Some(Ok(at("b", "run/7")))
        );
        assert!(matches!(S3Location::parse("s3:///x"), Some(Err(_))));
        assert_eq!(at("b", "p").to_string(), "s3://b/p");
    }
}
