//! The blob store: content-addressed blobs kept under `blobs/<hex id>` in any store of the
//! `object_store` crate. Memory (the default) and a local directory (`--store DIR`) are one
//! constructor each, and so is object storage such as S3: the seam is `ObjectStore`.
//!
//! The store keeps the blobs that travel by name (DESIGN.md §3): raw pictures, decoder
//! states, anything over the inline limit. Keys are content hashes, so a blob put twice (a
//! task run twice, on a function platform that delivers at least once) is the same object,
//! and a duplicate put is harmless.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result};
use bytes::Bytes;
use edge_worker::s3::{S3Location, key as location};
use edge_worker::{BlobId, BlobRef};
use futures::{StreamExt, TryStreamExt, stream};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// Deletes in flight at once at the end of a run: object stores answer each in tens of
/// milliseconds, and a run leaves hundreds.
const CLEAR_AT_ONCE: usize = 16;

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
    #[error("the {store} store failed while clearing the run: {source}")]
    Clearing {
        store: String,
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
    /// Whether the store outlives the run (a directory, a bucket): it then keeps each task's
    /// result and every blob until the run ends well, so that a run stopped part-way resumes.
    resumable: bool,
    /// The task results this run wrote or read, deleted with its blobs at the end.
    results: Mutex<HashSet<BlobId>>,
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
            resumable: false,
            results: Mutex::new(HashSet::new()),
        }
    }

    /// The same store, kept for a resume: see [`BlobStore::keeps_results`].
    fn resumable(mut self) -> BlobStore {
        self.resumable = true;
        self
    }

    /// Whether the store outlives the run. Such a store keeps each task's result under
    /// `tasks/<task key>` ([`edge_worker::wire::task_key`]) and defers every delete to
    /// [`BlobStore::clear_run`] at the end of a run that succeeded, so that a run stopped
    /// part-way (killed, or failed for good) and started again finds what was done.
    pub fn keeps_results(&self) -> bool {
        self.resumable
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
        Ok(BlobStore::new(Arc::new(objects), dir.display().to_string()).resumable())
    }

    /// A store in an S3 bucket (or any server speaking the S3 REST API at `endpoint`): blobs
    /// are objects under `PREFIX/blobs/` ([`edge_worker::s3::open`] says where credentials and
    /// region come from).
    ///
    /// # Errors
    ///
    /// When the store cannot be set up (a bad endpoint, no region).
    pub fn s3(location: &S3Location, endpoint: Option<&str>) -> Result<BlobStore> {
        let objects = edge_worker::s3::open(location, endpoint)
            .with_context(|| format!("cannot open the blob store {location}"))?;
        Ok(BlobStore::new(objects, location.to_string()).resumable())
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

    /// Deletes blob `id`; one the store does not hold is already gone. A store that keeps
    /// results for a resume keeps the blob until [`BlobStore::clear_run`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Failed`] when the store refused.
    pub async fn delete(&self, id: &BlobId) -> Result<(), StoreError> {
        if self.resumable {
            return Ok(());
        }
        self.remove(id).await
    }

    async fn remove(&self, id: &BlobId) -> Result<(), StoreError> {
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

    /// Whether the store holds blob `id`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Failed`] when the store could not be asked.
    pub async fn contains(&self, id: &BlobId) -> Result<bool, StoreError> {
        match self.objects.head(&location(id)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(self.failed(*id, source)),
        }
    }

    /// Keeps `response` (a worker's response bytes) as the result of the task whose key is
    /// `key`; a no-op for a store that does not outlive the run.
    ///
    /// # Errors
    ///
    /// [`StoreError::Failed`] when the store refused the write.
    pub async fn put_result(&self, key: &BlobId, response: Bytes) -> Result<(), StoreError> {
        if !self.resumable {
            return Ok(());
        }
        self.objects
            .put(&result_location(key), PutPayload::from_bytes(response))
            .await
            .map_err(|source| self.failed(*key, source))?;
        self.results_lock().insert(*key);
        Ok(())
    }

    /// The response bytes kept for the task whose key is `key`, if an earlier attempt of this
    /// run or of an earlier one kept them.
    ///
    /// # Errors
    ///
    /// [`StoreError::Failed`] when the store could not be read.
    pub async fn result(&self, key: &BlobId) -> Result<Option<Bytes>, StoreError> {
        if !self.resumable {
            return Ok(None);
        }
        let read = async { self.objects.get(&result_location(key)).await?.bytes().await };
        match read.await {
            Ok(bytes) => {
                self.results_lock().insert(*key);
                Ok(Some(bytes))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.failed(*key, source)),
        }
    }

    /// At the end of a run that succeeded: deletes every blob and every task result in the
    /// store, those of this run and any an earlier, stopped run of the same encode left (a
    /// task in flight at a kill may have stored outputs no one heard of). A store holds one
    /// encode at a time.
    ///
    /// # Errors
    ///
    /// [`StoreError::Failed`] when the store refused a delete.
    pub async fn clear_run(&self) -> Result<(), StoreError> {
        let blobs: Vec<BlobId> = self.lock().0.keys().copied().collect();
        stream::iter(blobs)
            .map(|id| async move { self.remove(&id).await })
            .buffer_unordered(CLEAR_AT_ONCE)
            .try_collect::<()>()
            .await?;
        self.results_lock().clear();
        let mut left = Vec::new();
        for prefix in ["blobs", "tasks"] {
            let prefix = ObjectPath::from(prefix);
            let listed: Vec<_> = self
                .objects
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(|source| self.failed_listing(source))?;
            left.extend(listed.into_iter().map(|object| object.location));
        }
        stream::iter(left)
            .map(|path| async move {
                match self.objects.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(source) => Err(self.failed_listing(source)),
                }
            })
            .buffer_unordered(CLEAR_AT_ONCE)
            .try_collect::<()>()
            .await
    }

    /// What the store holds now, and held at most.
    pub fn stats(&self) -> StoreStats {
        self.lock().1
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<BlobId, u64>, StoreStats)> {
        // The counts stay consistent even if a holder panicked: each update is one step.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn results_lock(&self) -> std::sync::MutexGuard<'_, HashSet<BlobId>> {
        self.results.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn failed_listing(&self, source: object_store::Error) -> StoreError {
        StoreError::Clearing {
            store: self.describe.clone(),
            source,
        }
    }

    fn failed(&self, id: BlobId, source: object_store::Error) -> StoreError {
        StoreError::Failed {
            store: self.describe.clone(),
            id,
            source,
        }
    }
}

/// Where the result of the task with key `key` is kept: `tasks/<64 hex digits>`.
fn result_location(key: &BlobId) -> object_store::path::Path {
    object_store::path::Path::from(format!("tasks/{key}"))
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

    fn files_in(dir: &Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| entries.count())
    }

    /// A directory outlives the run: deletes wait for the run's end, where everything under
    /// `blobs/` and `tasks/` goes, what this run never heard of included.
    #[tokio::test]
    async fn a_directory_store_keeps_blobs_and_results_until_the_run_ends() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let store = BlobStore::directory(&root).unwrap();
        assert!(store.keeps_results());
        assert_eq!(store.describe(), root.display().to_string());
        let bytes = Bytes::from_static(b"a picture, say");
        let id = BlobId::of(&bytes);
        store.put(id, bytes.clone()).await.unwrap();
        store.delete(&id).await.unwrap();
        assert_eq!(store.get(&id).await.unwrap(), bytes, "kept for a resume");
        assert!(store.contains(&id).await.unwrap());

        let key = BlobId::of(b"a task");
        assert_eq!(store.result(&key).await.unwrap(), None);
        store
            .put_result(&key, Bytes::from_static(b"its response"))
            .await
            .unwrap();
        assert_eq!(
            store.result(&key).await.unwrap().as_deref(),
            Some(&b"its response"[..])
        );
        // A blob an earlier, killed run left, which this run never heard of.
        std::fs::write(root.join("blobs").join("orphan"), b"left").unwrap();
        assert_eq!(files_in(&root.join("blobs")), 2);
        store.clear_run().await.unwrap();
        assert_eq!(files_in(&root.join("blobs")), 0);
        assert_eq!(files_in(&root.join("tasks")), 0);
        assert!(!store.contains(&id).await.unwrap());
        assert_eq!(store.stats().blobs, 0);
    }

    #[tokio::test]
    async fn a_memory_store_keeps_no_results() {
        let store = BlobStore::in_memory();
        let key = BlobId::of(b"a task");
        store
            .put_result(&key, Bytes::from_static(b"x"))
            .await
            .unwrap();
        assert_eq!(store.result(&key).await.unwrap(), None);
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
