//! The blob store in S3, or in any server that speaks the S3 REST API: where it is
//! ([`S3Location`]), how to open it ([`open`]), and the whole worker over it ([`serve`]) for a
//! worker that reaches the store itself, such as the Lambda function. Blobs are objects under
//! `PREFIX/blobs/<hex id>` ([`BlobId::store_key`]), so a task delivered twice writes the same
//! objects with the same bytes.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::future::try_join_all;
pub use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStoreExt, PutPayload};
use serde::Serialize;

use crate::blob::{BlobId, BlobRef, BlobSource};
use crate::error::TaskError;
use crate::wire::{check_fetched, decode_request, encode_response};

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

/// The object store at `location`. Credentials and region come from the standard environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, or a
/// function's role); an `endpoint` (a server that is not AWS's) is addressed path-style, may
/// be plain HTTP, and defaults the region to us-east-1.
///
/// # Errors
///
/// When the store cannot be set up (a bad endpoint, no region).
pub fn open(
    location: &S3Location,
    endpoint: Option<&str>,
) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
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
    let s3 = builder.build()?;
    Ok(if location.prefix.is_empty() {
        Arc::new(s3)
    } else {
        Arc::new(PrefixStore::new(s3, location.prefix.as_str()))
    })
}

/// Where blob `id` lives in a store: the key every side uses.
pub fn key(id: &BlobId) -> ObjectPath {
    ObjectPath::from(id.store_key())
}

/// What serving one request moved, and where its time went: the function logs it, one line
/// per task, so that transfer can be weighed against compute.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Served {
    /// The task's kind and chunk; empty for a request that did not decode.
    pub kind: &'static str,
    pub chunk: u32,
    /// Bytes of the request (its inline blobs included), and of the blobs fetched by name.
    pub request_bytes: u64,
    pub fetched_bytes: u64,
    /// Bytes of the response (its inline blobs included), and of the blobs put by name.
    pub response_bytes: u64,
    pub stored_bytes: u64,
    /// Seconds fetching, computing and putting.
    pub fetch_s: f64,
    pub compute_s: f64,
    pub put_s: f64,
}

/// One request against `objects`: fetch the blobs it names (at once, each checked against its
/// id), run the task, put the outputs too large to travel back inline, and answer. Every
/// failure, the store's included, is in the response; a store that fails is a transport
/// error ([`TaskError::is_transport`]), worth a retry. Returns the response and what it took.
pub async fn serve(objects: &dyn ObjectStore, request: &[u8]) -> (Vec<u8>, Served) {
    let mut served = Served {
        request_bytes: request.len() as u64,
        ..Served::default()
    };
    let answered = answer(objects, request, &mut served).await;
    let response = answered.unwrap_or_else(|error| encode_response(&Err(error)));
    served.response_bytes = response.len() as u64;
    (response, served)
}

async fn answer(
    objects: &dyn ObjectStore,
    request: &[u8],
    served: &mut Served,
) -> Result<Vec<u8>, TaskError> {
    let request = decode_request(request)?;
    served.kind = request.task.kind();
    served.chunk = request.task.chunk();
    let started = Instant::now();
    let fetched = fetch(objects, request.named()).await?;
    served.fetched_bytes = fetched.0.values().map(|bytes| bytes.len() as u64).sum();
    let computing = Instant::now();
    served.fetch_s = (computing - started).as_secs_f64();
    let reply = request.answer(&fetched);
    drop(fetched);
    let putting = Instant::now();
    served.compute_s = (putting - computing).as_secs_f64();
    served.stored_bytes = reply.keep.iter().map(|(_, bytes)| bytes.len() as u64).sum();
    let puts = reply.keep.into_iter().map(|(id, bytes)| async move {
        objects
            .put(&key(&id), PutPayload::from(bytes))
            .await
            .map_err(|error| TaskError::Store(format!("cannot put blob {id}: {error}")))
    });
    try_join_all(puts).await?;
    served.put_s = putting.elapsed().as_secs_f64();
    Ok(reply.response)
}

/// Blobs fetched by name.
struct Fetched(HashMap<BlobId, Bytes>);

impl BlobSource for Fetched {
    fn blob(&self, id: &BlobId) -> Option<&[u8]> {
        self.0.get(id).map(|bytes| bytes.as_ref())
    }
}

async fn fetch(objects: &dyn ObjectStore, named: &[BlobRef]) -> Result<Fetched, TaskError> {
    let reads = named.iter().map(|blob| async move {
        let got = async { objects.get(&key(&blob.id)).await?.bytes().await };
        let bytes = got.await.map_err(|error| match error {
            object_store::Error::NotFound { .. } => TaskError::MissingBlob {
                input: "a named blob (the store does not hold it)".to_owned(),
                id: blob.id,
            },
            error => TaskError::Store(format!("cannot get blob {}: {error}", blob.id)),
        })?;
        check_fetched(blob, &bytes)?;
        Ok::<_, TaskError>((blob.id, bytes))
    });
    Ok(Fetched(try_join_all(reads).await?.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{InlinePolicy, decode_response, encode_request};
    use crate::{Blobs, EncodeSettings, Opening, PictureFormat, Task};
    use futures::TryStreamExt;
    use object_store::memory::InMemory;

    #[test]
    fn parses_locations() {
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

    /// The same request served twice (a platform that delivers at least once) answers the
    /// same bytes and leaves the same objects: keys are content hashes.
    #[test]
    fn serving_twice_is_harmless_and_a_missing_blob_is_named() {
        let objects = InMemory::new();
        let format = PictureFormat {
            width: 32,
            height: 32,
        };
        let mut blobs = Blobs::new();
        let frames: Vec<BlobId> = (0..2)
            .map(|f| blobs.insert(vec![40 + 90 * f; format.i420_len()]))
            .collect();
        let task = Task::EncodeChunk {
            chunk: 0,
            format,
            settings: EncodeSettings::default(),
            opening: Opening::Keyframe,
            frames: frames.clone(),
            long_term: Vec::new(),
        };
        let named: Vec<BlobRef> = frames
            .iter()
            .map(|id| BlobRef::of(blobs.get(id).unwrap()))
            .collect();
        let request = encode_request(&task, &Blobs::new(), &named, InlinePolicy::up_to(0));
        let request = request.unwrap();
        let serve_once = || futures::executor::block_on(serve(&objects, &request)).0;
        let missing = decode_response(&serve_once()).unwrap_err();
        assert!(
            matches!(missing, TaskError::MissingBlob { .. }),
            "{missing}"
        );

        for (id, bytes) in blobs.iter() {
            let at = key(id);
            let put = objects.put(&at, PutPayload::from(bytes.to_vec()));
            futures::executor::block_on(put).unwrap();
        }
        let first = serve_once();
        let answer = decode_response(&first).unwrap();
        assert_eq!(answer.stored.len(), 2, "the stream and the state, by name");
        let listed = || {
            let all = objects.list(None).try_collect::<Vec<_>>();
            let mut keys: Vec<_> = futures::executor::block_on(all)
                .unwrap()
                .into_iter()
                .map(|object| (object.location.to_string(), object.size))
                .collect();
            keys.sort();
            keys
        };
        let after_first = listed();
        assert_eq!(serve_once(), first, "the same response");
        assert_eq!(listed(), after_first, "the same objects");
        assert_eq!(
            after_first.len(),
            4,
            "two pictures, the stream and the state"
        );
    }
}
