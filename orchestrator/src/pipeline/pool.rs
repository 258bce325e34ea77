//! The blobs of one run and who still reads them. Each blob is claimed by its readers (tasks
//! of the graph and the output stream, [`Reader`]) when it comes in, and dropped, from memory
//! and from the store, once the last of them has let go. Blobs small enough to travel inline
//! stay in memory, ready for the next request; the others live in the [`BlobStore`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use edge_worker::wire::{InlinePolicy, encode_request};
use edge_worker::{BlobId, BlobRef, BlobSource, Task};

use super::graph::Reader;
use crate::blob_store::BlobStore;

/// One blob of the run.
#[derive(Debug)]
struct Entry {
    len: u64,
    /// The bytes, for a blob small enough to travel inline.
    bytes: Option<Bytes>,
    /// Whether the store holds it.
    stored: bool,
    readers: BTreeSet<Reader>,
}

/// How much the pool held at most at one time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolPeak {
    pub blobs: usize,
    pub bytes: u64,
}

/// A request ready to send, and what it weighs.
#[derive(Debug)]
pub struct Request {
    pub bytes: Bytes,
    /// Bytes of the blobs it names, which the worker fetches.
    pub named_bytes: u64,
}

/// The run's blobs, each with the readers that still need it.
#[derive(Debug)]
pub struct BlobPool {
    store: Arc<BlobStore>,
    policy: InlinePolicy,
    entries: HashMap<BlobId, Entry>,
    /// The blobs each reader claims.
    claims: HashMap<Reader, Vec<BlobId>>,
    held_bytes: u64,
    peak: PoolPeak,
}

impl BlobPool {
    /// An empty pool over `store`; blobs that `policy` sends inline stay in memory.
    pub fn new(store: Arc<BlobStore>, policy: InlinePolicy) -> BlobPool {
        BlobPool {
            store,
            policy,
            entries: HashMap::new(),
            claims: HashMap::new(),
            held_bytes: 0,
            peak: PoolPeak::default(),
        }
    }

    /// The store behind the pool.
    pub fn store(&self) -> &Arc<BlobStore> {
        &self.store
    }

    /// Blobs held now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The most blobs, and bytes, held at one time.
    pub fn peak(&self) -> PoolPeak {
        self.peak
    }

    /// Adds a blob whose bytes are here (a picture, an output that came inline), for
    /// `readers`. A blob no one reads is not kept.
    ///
    /// # Errors
    ///
    /// When a large blob cannot be put into the store.
    pub async fn add(&mut self, id: BlobId, bytes: Bytes, readers: &[Reader]) -> Result<()> {
        if readers.is_empty() || self.claim(id, readers) {
            return Ok(());
        }
        let len = bytes.len() as u64;
        let entry = if len <= self.policy.max_blob {
            Entry {
                len,
                bytes: Some(bytes),
                stored: false,
                readers: BTreeSet::new(),
            }
        } else {
            self.store.put(id, bytes).await?;
            Entry {
                len,
                bytes: None,
                stored: true,
                readers: BTreeSet::new(),
            }
        };
        self.insert(id, entry, readers);
        Ok(())
    }

    /// Adds a blob that a worker put into the store, for `readers`; one that no one reads is
    /// deleted from the store at once.
    ///
    /// # Errors
    ///
    /// When the store cannot delete it.
    pub async fn adopt(&mut self, blob: BlobRef, readers: &[Reader]) -> Result<()> {
        self.store.note_stored(blob);
        if let Some(entry) = self.entries.get_mut(&blob.id) {
            entry.stored = true;
        }
        if readers.is_empty() {
            if !self.entries.contains_key(&blob.id) {
                self.store.delete(&blob.id).await?;
            }
            return Ok(());
        }
        if !self.claim(blob.id, readers) {
            let entry = Entry {
                len: blob.len,
                bytes: None,
                stored: true,
                readers: BTreeSet::new(),
            };
            self.insert(blob.id, entry, readers);
        }
        Ok(())
    }

    /// Adds `readers` to a blob already held; returns whether it was.
    pub fn claim(&mut self, id: BlobId, readers: &[Reader]) -> bool {
        let Some(entry) = self.entries.get_mut(&id) else {
            return false;
        };
        for &reader in readers {
            if entry.readers.insert(reader) {
                self.claims.entry(reader).or_default().push(id);
            }
        }
        true
    }

    fn insert(&mut self, id: BlobId, mut entry: Entry, readers: &[Reader]) {
        for &reader in readers {
            if entry.readers.insert(reader) {
                self.claims.entry(reader).or_default().push(id);
            }
        }
        self.held_bytes += entry.len;
        self.entries.insert(id, entry);
        self.peak.blobs = self.peak.blobs.max(self.entries.len());
        self.peak.bytes = self.peak.bytes.max(self.held_bytes);
    }

    /// `reader` is done: its claims go, and so does every blob that no one claims any more.
    ///
    /// # Errors
    ///
    /// When the store cannot delete a blob.
    pub async fn release(&mut self, reader: Reader) -> Result<()> {
        for id in self.claims.remove(&reader).unwrap_or_default() {
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            entry.readers.remove(&reader);
            if !entry.readers.is_empty() {
                continue;
            }
            let entry = self.entries.remove(&id).expect("the entry was just found");
            self.held_bytes -= entry.len;
            if entry.stored {
                self.store.delete(&id).await?;
            }
        }
        Ok(())
    }

    /// The bytes of blob `id`, from memory or from the store.
    ///
    /// # Errors
    ///
    /// When the pool does not hold it, or the store cannot read it.
    pub async fn bytes(&self, id: &BlobId) -> Result<Bytes> {
        let entry = self
            .entries
            .get(id)
            .ok_or_else(|| anyhow!("blob {id} is not held (no reader claimed it)"))?;
        match &entry.bytes {
            Some(bytes) => Ok(bytes.clone()),
            None => Ok(self.store.get(id).await?),
        }
    }

    /// The request for `task`: the inputs the policy lets travel inline are carried, the
    /// others named (and put into the store first if they were only in memory).
    ///
    /// # Errors
    ///
    /// When an input is not held, or the store fails.
    pub async fn request(&mut self, task: &Task) -> Result<Request> {
        let inputs = task.inputs();
        let mut lens = Vec::with_capacity(inputs.len());
        for id in &inputs {
            let entry = self.entries.get(id).ok_or_else(|| {
                anyhow!(
                    "input {id} of {} of chunk {} is not held",
                    task.kind(),
                    task.chunk()
                )
            })?;
            lens.push(entry.len);
        }
        let mut inline = Carried::default();
        let mut named = Vec::new();
        for ((id, len), fits) in inputs
            .iter()
            .zip(&lens)
            .zip(self.policy.split(lens.clone()))
        {
            if fits {
                inline.0.insert(*id, self.bytes(id).await?);
                continue;
            }
            let entry = self.entries.get_mut(id).expect("checked above");
            if !entry.stored {
                let bytes = entry.bytes.clone().expect("a blob not stored is in memory");
                self.store.put(*id, bytes).await?;
                entry.stored = true;
            }
            named.push(BlobRef { id: *id, len: *len });
        }
        let bytes = encode_request(task, &inline, &named, self.policy).with_context(|| {
            format!(
                "cannot build the request for {} of chunk {}",
                task.kind(),
                task.chunk()
            )
        })?;
        Ok(Request {
            bytes: Bytes::from(bytes),
            named_bytes: named.iter().map(|blob| blob.len).sum(),
        })
    }
}

/// The blobs a request carries.
#[derive(Default)]
struct Carried(HashMap<BlobId, Bytes>);

impl BlobSource for Carried {
    fn blob(&self, id: &BlobId) -> Option<&[u8]> {
        self.0.get(id).map(|bytes| bytes.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use edge_worker::wire::decode_request;
    use edge_worker::{EncodeSettings, Opening, PictureFormat};

    use super::super::graph::Step;
    use super::*;

    fn blob(text: &str) -> (BlobId, Bytes) {
        let bytes = Bytes::copy_from_slice(text.as_bytes());
        (BlobId::of(&bytes), bytes)
    }

    const E0: Reader = Reader::Task(Step::Encode(0));
    const E1: Reader = Reader::Task(Step::Encode(1));

    #[tokio::test]
    async fn a_blob_goes_when_its_last_reader_does() {
        let store = Arc::new(BlobStore::in_memory());
        let mut pool = BlobPool::new(Arc::clone(&store), InlinePolicy::up_to(5));
        let (small, small_bytes) = blob("tiny");
        let (large, large_bytes) = blob("rather large");
        pool.add(small, small_bytes.clone(), &[E0, E1])
            .await
            .unwrap();
        pool.add(large, large_bytes, &[E0]).await.unwrap();
        pool.add(large, blob("rather large").1, &[Reader::Output(0)])
            .await
            .unwrap();
        assert_eq!(pool.len(), 2);
        assert_eq!(store.stats().blobs, 1, "only the large blob is stored");
        pool.release(E0).await.unwrap();
        assert_eq!(
            pool.len(),
            2,
            "E1 reads the small one, the output the large one"
        );
        pool.release(Reader::Output(0)).await.unwrap();
        assert_eq!(pool.len(), 1);
        assert_eq!(store.stats().blobs, 0, "deleted from the store too");
        assert_eq!(pool.bytes(&small).await.unwrap(), small_bytes);
        pool.release(E1).await.unwrap();
        pool.release(E1).await.unwrap();
        assert_eq!(pool.len(), 0);
        assert_eq!(
            pool.peak(),
            PoolPeak {
                blobs: 2,
                bytes: 16
            }
        );
        assert!(pool.bytes(&small).await.is_err());

        // No reader, nothing kept; a blob a worker stored for no one is deleted.
        let (unread, bytes) = blob("nobody reads this");
        pool.add(unread, bytes.clone(), &[]).await.unwrap();
        pool.adopt(BlobRef::of(&bytes), &[]).await.unwrap();
        assert_eq!((pool.len(), store.stats().blobs), (0, 0));
    }

    #[tokio::test]
    async fn requests_carry_small_inputs_and_name_large_ones() {
        let store = Arc::new(BlobStore::in_memory());
        let format = PictureFormat {
            width: 16,
            height: 16,
        };
        let mut pool = BlobPool::new(
            Arc::clone(&store),
            InlinePolicy::up_to(format.i420_len() as u64),
        );
        let small = Bytes::from(vec![7u8; format.i420_len()]);
        let id = BlobId::of(&small);
        pool.add(id, small, &[E0]).await.unwrap();
        let task = Task::EncodeChunk {
            chunk: 0,
            format,
            settings: EncodeSettings::default(),
            opening: Opening::Keyframe,
            frames: vec![id],
            long_term: Vec::new(),
        };
        let request = pool.request(&task).await.unwrap();
        let decoded = decode_request(&request.bytes).unwrap();
        assert_eq!((decoded.inline.len(), request.named_bytes), (1, 0));

        // Under a policy that carries nothing, the input is put into the store and named.
        pool.policy = InlinePolicy::up_to(0);
        let request = pool.request(&task).await.unwrap();
        let decoded = decode_request(&request.bytes).unwrap();
        assert_eq!(decoded.named(), [BlobRef { id, len: 384 }]);
        assert_eq!(store.get(&id).await.unwrap().len(), 384);
        pool.release(E0).await.unwrap();
        assert_eq!(store.stats().blobs, 0);
    }
}
