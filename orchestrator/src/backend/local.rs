//! `--backend local`: the worker library in this process. The request bytes are read exactly
//! as a remote worker reads them; named blobs come straight from the [`BlobStore`], the task
//! runs on tokio's blocking pool, and outputs too large to travel back inline go into the
//! store before the response is returned.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use edge_worker::wire::{Reply, check_fetched, decode_request, encode_response};
use edge_worker::{BlobId, BlobRef, BlobSource, TaskError};
use futures::future::{BoxFuture, try_join_all};
use tokio::sync::Semaphore;

use super::{Backend, TransportError, compute, thread};
use crate::blob_store::{BlobStore, StoreError};

/// The worker on threads of this process, at most `threads` tasks computing at once.
#[derive(Debug)]
pub struct LocalBackend {
    store: Arc<BlobStore>,
    /// One permit per thread a task may compute on. A permit goes with its task onto the
    /// blocking pool and comes back only when the computation ends: a call the scheduler gave
    /// up on (past its deadline) still holds its thread, so a retry cannot add one more.
    threads: Arc<Semaphore>,
}

impl LocalBackend {
    pub fn new(store: Arc<BlobStore>, threads: usize) -> LocalBackend {
        LocalBackend {
            store,
            threads: Arc::new(Semaphore::new(threads.max(1))),
        }
    }

    async fn serve(&self, request: Bytes) -> Result<Bytes, TransportError> {
        let permit = thread(&self.threads, "local").await?;
        let request = match decode_request(&request) {
            Ok(request) => request,
            Err(error) => return Ok(error_response(error)),
        };
        let fetched = match fetch(&self.store, request.named()).await {
            Ok(fetched) => fetched,
            Err(error) => return Ok(error_response(error)),
        };
        let reply = compute(permit, "local", move || {
            match fetched.check(request.named()) {
                Ok(()) => request.answer(&fetched),
                Err(error) => Reply {
                    response: encode_response(&Err(error)),
                    keep: Vec::new(),
                },
            }
        })
        .await?;
        for (id, bytes) in reply.keep {
            if let Err(error) = self.store.put(id, Bytes::from(bytes)).await {
                return Ok(error_response(store_error(error)));
            }
        }
        Ok(Bytes::from(reply.response))
    }
}

impl Backend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    fn reaches_store(&self) -> bool {
        true
    }

    fn call(&self, request: Bytes) -> BoxFuture<'_, Result<Bytes, TransportError>> {
        Box::pin(self.serve(request))
    }
}

/// Blobs fetched by name, shared with the store (no copy).
struct Fetched(HashMap<BlobId, Bytes>);

impl Fetched {
    /// Each blob must be what the request named; checked on the worker's thread, since
    /// hashing megabytes is work.
    fn check(&self, named: &[BlobRef]) -> Result<(), TaskError> {
        named
            .iter()
            .try_for_each(|blob| match self.0.get(&blob.id) {
                Some(bytes) => check_fetched(blob, bytes),
                None => Err(TaskError::Store(format!(
                    "blob {} was not fetched",
                    blob.id
                ))),
            })
    }
}

impl BlobSource for Fetched {
    fn blob(&self, id: &BlobId) -> Option<&[u8]> {
        self.0.get(id).map(|bytes| bytes.as_ref())
    }
}

async fn fetch(store: &BlobStore, named: &[BlobRef]) -> Result<Fetched, TaskError> {
    let reads = named.iter().map(|blob| async move {
        let bytes = store.get(&blob.id).await.map_err(store_error)?;
        Ok::<_, TaskError>((blob.id, bytes))
    });
    Ok(Fetched(try_join_all(reads).await?.into_iter().collect()))
}

/// A store error as a worker reports it: a missing blob is the task's inputs' fault, anything
/// else the store's.
fn store_error(error: StoreError) -> TaskError {
    match error {
        StoreError::NotFound { id, store } => TaskError::MissingBlob {
            input: format!("a named blob (the {store} store does not hold it)"),
            id,
        },
        failed @ (StoreError::Failed { .. } | StoreError::Clearing { .. }) => {
            TaskError::Store(format!("{failed}"))
        }
    }
}

fn error_response(error: TaskError) -> Bytes {
    Bytes::from(encode_response(&Err(error)))
}

/// The text a panic was raised with, when it is text.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use edge_worker::wire::{InlinePolicy, decode_response, encode_request};
    use edge_worker::{Blobs, EncodeSettings, Opening, PictureFormat, Task};

    use super::*;

    const FORMAT: PictureFormat = PictureFormat {
        width: 16,
        height: 16,
    };

    fn chunk_task(blobs: &mut Blobs) -> Task {
        let frames = (0..2)
            .map(|f| blobs.insert(vec![60 + 50 * f; FORMAT.i420_len()]))
            .collect();
        Task::EncodeChunk {
            chunk: 0,
            format: FORMAT,
            settings: EncodeSettings::default(),
            opening: Opening::Keyframe,
            frames,
            long_term: Vec::new(),
        }
    }

    #[tokio::test]
    async fn named_inputs_come_from_the_store_and_large_outputs_go_there() {
        let store = Arc::new(BlobStore::in_memory());
        let backend = LocalBackend::new(Arc::clone(&store), 1);
        let mut blobs = Blobs::new();
        let task = chunk_task(&mut blobs);
        let mut named = Vec::new();
        for (id, bytes) in blobs.iter() {
            store.put(*id, Bytes::copy_from_slice(bytes)).await.unwrap();
            named.push(BlobRef::of(bytes));
        }
        let request = encode_request(&task, &Blobs::new(), &named, InlinePolicy::up_to(0));
        let response = backend.call(request.unwrap().into()).await.unwrap();
        let answer = decode_response(&response).unwrap();
        assert_eq!(answer.stored.len(), 2, "stream and state, both by name");
        for blob in &answer.stored {
            let bytes = store.get(&blob.id).await.unwrap();
            check_fetched(blob, &bytes).unwrap();
        }
        assert_eq!(store.stats().blobs, 4);

        // A named input the store lacks is the task's failure, not the transport's.
        let missing = [BlobRef::of(b"never stored")];
        let mut task = task;
        if let Task::EncodeChunk { frames, .. } = &mut task {
            frames[0] = missing[0].id;
        }
        let request = encode_request(&task, &blobs, &missing, InlinePolicy::DEFAULT).unwrap();
        let response = backend.call(request.into()).await.unwrap();
        let error = decode_response(&response).unwrap_err();
        assert!(matches!(error, TaskError::MissingBlob { .. }), "{error}");
        assert!(!error.is_transport());
    }

    /// A call given up on (its future dropped, as past a deadline) keeps its thread until
    /// the computation ends, so a retry cannot put one more task on the CPUs.
    #[tokio::test]
    async fn a_call_given_up_on_keeps_its_thread_until_it_ends() {
        let backend = LocalBackend::new(Arc::new(BlobStore::in_memory()), 1);
        let format = PictureFormat {
            width: 320,
            height: 240,
        };
        let mut blobs = Blobs::new();
        let frames = (0..6)
            .map(|f| blobs.insert(vec![30 + 30 * f; format.i420_len()]))
            .collect();
        let task = Task::EncodeChunk {
            chunk: 0,
            format,
            settings: EncodeSettings::default(),
            opening: Opening::Keyframe,
            frames,
            long_term: Vec::new(),
        };
        let request = encode_request(&task, &blobs, &[], InlinePolicy::EVERYTHING).unwrap();
        let call = backend.call(request.into());
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(1), call).await;
        assert!(
            gave_up.is_err(),
            "a 6-frame encode takes more than a millisecond"
        );
        assert_eq!(backend.threads.available_permits(), 0, "still computing");
        let _permit = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            backend.threads.acquire(),
        )
        .await
        .expect("the thread comes back when the computation ends");
    }

    #[tokio::test]
    async fn bad_requests_get_error_responses() {
        let backend = LocalBackend::new(Arc::new(BlobStore::in_memory()), 1);
        let response = backend.call(Bytes::from_static(b"garbage")).await.unwrap();
        assert!(decode_response(&response).unwrap_err().is_transport());
    }
}
