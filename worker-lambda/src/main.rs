//! flick's worker as a native AWS Lambda function (`provided.al2023`, deploy/lambda/). Each
//! invocation is one task: an [`Invocation`] whose request names large blobs in the
//! function's S3 store (`FLICK_STORE`, `s3://BUCKET/PREFIX`), answered with an
//! [`InvocationResult`] whose small outputs are inline and whose large ones the function has
//! put into the same store, under content-addressed keys. Lambda may deliver an invocation
//! twice; the second writes the same objects with the same bytes.
//!
//! Each task logs one `flick-task {JSON}` line to standard error ([`s3::Served`]): its kind and
//! chunk, the bytes it moved inline and through S3, and its seconds fetching, computing and
//! putting.
//!
//! Every task failure is inside the response bytes, so the function itself fails only when it
//! cannot start (no store configured, or one that cannot be opened).

use std::sync::Arc;

use edge_worker::TaskError;
use edge_worker::lambda::{Invocation, InvocationResult, S3_ENDPOINT_ENV, STORE_ENV};
use edge_worker::s3::{self, ObjectStore, S3Location};
use edge_worker::wire::encode_response;
use lambda_runtime::{Error, LambdaEvent, service_fn};

/// The function's store: where it is, for checking requests, and the open object store.
struct Store {
    location: String,
    objects: Arc<dyn ObjectStore>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let store = open_store()?;
    let store = &store;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Invocation>| async move {
            Ok::<_, Error>(invoke(store, event.payload).await)
        },
    ))
    .await
}

fn open_store() -> Result<Store, Error> {
    let location = std::env::var(STORE_ENV).map_err(|_| {
        format!("{STORE_ENV} is not set: the function's blob store, s3://BUCKET/PREFIX")
    })?;
    let parsed = S3Location::parse(&location)
        .ok_or_else(|| format!("{STORE_ENV}={location} is not s3://BUCKET[/PREFIX]"))??;
    let endpoint = std::env::var(S3_ENDPOINT_ENV).ok();
    let objects = s3::open(&parsed, endpoint.as_deref())
        .map_err(|error| format!("cannot open the blob store {location}: {error}"))?;
    Ok(Store {
        location: parsed.to_string(),
        objects,
    })
}

async fn invoke(store: &Store, invocation: Invocation) -> InvocationResult {
    let same_store = S3Location::parse(&invocation.store)
        .and_then(Result::ok)
        .is_some_and(|asked| asked.to_string() == store.location);
    let response = if same_store {
        let (response, served) = s3::serve(store.objects.as_ref(), &invocation.request).await;
        // One line per task in the function's log (CloudWatch on AWS): what it moved, and
        // its time in transfer against compute.
        if let Ok(line) = serde_json::to_string(&served) {
            eprintln!("flick-task {line}");
        }
        response
    } else {
        encode_response(&Err(TaskError::BadTask(format!(
            "this function keeps its blobs in {}, the request's are in {} \
             (give flick the function's store, or set the function's {STORE_ENV})",
            store.location, invocation.store
        ))))
    };
    InvocationResult { response }
}
