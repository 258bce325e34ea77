//! `--backend lambda --function NAME`: every task one synchronous invocation of the worker as
//! an AWS Lambda function (worker-lambda, deploy/lambda/), through the AWS SDK: SigV4, with
//! credentials and region from the standard chain (environment, profile, SSO, instance role),
//! and `--lambda-endpoint URL` for a server that is not AWS's (`cargo lambda watch` in tests).
//!
//! An invocation carries at most 6 MB each way, so the function reaches the run's S3 store
//! itself: the request names pictures and states there, and large outputs come back by name.
//! The SDK retries a throttled or failed call on its own, and may so deliver a task twice;
//! the worker writes content-addressed keys, so the second delivery writes the same objects.
//!
//! A function error (the function crashed, ran out of memory or past its timeout) or an
//! answer that is not an [`InvocationResult`] is a transport error: worth another attempt.

use std::time::Duration;

use anyhow::{Result, bail};
use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use bytes::Bytes;
use edge_worker::lambda::{Invocation, InvocationResult};
use edge_worker::s3::S3Location;
use futures::future::BoxFuture;

use super::{Backend, TransportError};

/// How long to wait for the Invoke API to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct LambdaBackend {
    client: Client,
    function: String,
    /// The run's store, `s3://BUCKET/PREFIX`, which the function must be using too.
    store: String,
}

impl LambdaBackend {
    /// A backend that invokes `function` (a name or an ARN), at `endpoint` when given, for a
    /// run whose blobs are in `store`.
    ///
    /// # Errors
    ///
    /// No function, or a store that is not in S3.
    pub async fn new(
        function: Option<&str>,
        endpoint: Option<&str>,
        store: &str,
    ) -> Result<LambdaBackend> {
        let Some(function) = function else {
            bail!("--backend lambda needs --function NAME: the worker function to invoke");
        };
        if !matches!(S3Location::parse(store), Some(Ok(_))) {
            bail!(
                "--backend lambda: the function reads pictures and states from S3 and the \
                 store is {store}; give --store s3://BUCKET/PREFIX (the function's FLICK_STORE)"
            );
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        );
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let config = loader.load().await;
        if config.region().is_none() {
            bail!(
                "--backend lambda: no AWS region (set AWS_REGION, or a region in the AWS \
                 profile)"
            );
        }
        Ok(LambdaBackend {
            client: Client::new(&config),
            function: function.to_owned(),
            store: store.to_owned(),
        })
    }

    async fn invoke(&self, request: Bytes) -> Result<Bytes, TransportError> {
        let invocation = Invocation {
            store: self.store.clone(),
            request: request.to_vec(),
        };
        let payload = serde_json::to_vec(&invocation)
            .map_err(|error| TransportError(format!("cannot write the invocation: {error}")))?;
        let output = self
            .client
            .invoke()
            .function_name(&self.function)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|error| {
                TransportError(format!(
                    "cannot invoke {}: {}",
                    self.function,
                    DisplayErrorContext(&error)
                ))
            })?;
        let payload = output.payload().map(Blob::as_ref).unwrap_or_default();
        if let Some(kind) = output.function_error() {
            return Err(TransportError(format!(
                "{} failed ({kind}): {}",
                self.function,
                one_line(payload)
            )));
        }
        let result: InvocationResult = serde_json::from_slice(payload).map_err(|error| {
            TransportError(format!(
                "{} answered something that is not a task result ({error}): {}",
                self.function,
                one_line(payload)
            ))
        })?;
        Ok(Bytes::from(result.response))
    }
}

impl Backend for LambdaBackend {
    fn name(&self) -> &'static str {
        "lambda"
    }

    fn reaches_store(&self) -> bool {
        true
    }

    fn workers_vary(&self) -> bool {
        true
    }

    fn call(&self, request: Bytes) -> BoxFuture<'_, Result<Bytes, TransportError>> {
        Box::pin(self.invoke(request))
    }
}

/// The start of a payload, as one line of text for a message.
fn one_line(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    let mut line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() > 300 {
        let mut end = 300;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push_str("...");
    }
    line
}
