//! `--backend http --endpoint URL[,URL...]`: every task as a signed `POST URL/task` to a worker
//! that speaks HTTP (the worker-http component under `wasmtime serve` or Spin). Requests go to
//! the endpoints in turn; the workers have no blob store, so every blob travels inline.
//!
//! Each request carries a timestamp and an HMAC-SHA256 signature over it and the body
//! ([`edge_worker::auth`]), keyed by `FLICK_WORKER_SECRET`. A worker's refusal (401, 413, 400)
//! or any other answer that is not a 200 comes back as a transport error naming the endpoint,
//! the status and the worker's one-line reason.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use edge_worker::auth;
use futures::future::BoxFuture;
use reqwest::{Client, Url};

use super::{Backend, TransportError};

/// How long to wait for a worker to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct HttpBackend {
    client: Client,
    /// Each endpoint's task URL.
    tasks: Vec<Url>,
    next: AtomicUsize,
    secret: Vec<u8>,
}

impl HttpBackend {
    /// A backend for `endpoints` (base URLs), signing with the secret in the environment.
    ///
    /// # Errors
    ///
    /// No endpoint, one that is not an http(s) URL, or no usable `FLICK_WORKER_SECRET`.
    pub fn new(endpoints: &[String]) -> Result<HttpBackend> {
        if endpoints.is_empty() {
            bail!("--backend http needs --endpoint URL[,URL...]: where the workers listen");
        }
        let tasks = endpoints
            .iter()
            .map(|endpoint| task_url(endpoint))
            .collect::<Result<Vec<_>>>()?;
        let secret = std::env::var(auth::SECRET_ENV).map_err(|_| {
            anyhow::anyhow!(
                "--backend http signs every request with the secret in {}, which is not set \
                 (give it and the workers the same value, at least {} bytes)",
                auth::SECRET_ENV,
                auth::MIN_SECRET_LEN
            )
        })?;
        if secret.len() < auth::MIN_SECRET_LEN {
            bail!("{}", auth::AuthError::WeakSecret(secret.len()));
        }
        let client = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(HttpBackend {
            client,
            tasks,
            next: AtomicUsize::new(0),
            secret: secret.into_bytes(),
        })
    }

    async fn send(&self, request: Bytes) -> Result<Bytes, TransportError> {
        let url = &self.tasks[self.next.fetch_add(1, Ordering::Relaxed) % self.tasks.len()];
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let signature = auth::sign(&self.secret, timestamp, &request)
            .map_err(|e| TransportError(e.to_string()))?;
        let response = self
            .client
            .post(url.clone())
            .header(auth::TIMESTAMP_HEADER, timestamp.to_string())
            .header(auth::SIGNATURE_HEADER, signature)
            .header("content-type", "application/octet-stream")
            .body(request)
            .send()
            .await
            .map_err(|e| TransportError(format!("{url}: {:#}", anyhow::Error::new(e))))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            TransportError(format!(
                "{url}: reading the answer: {:#}",
                anyhow::Error::new(e)
            ))
        })?;
        if !status.is_success() {
            let reason = String::from_utf8_lossy(&body);
            let reason = reason.lines().next().unwrap_or("").trim();
            return Err(TransportError(format!("{url} answered {status}: {reason}")));
        }
        Ok(body)
    }
}

impl Backend for HttpBackend {
    fn name(&self) -> &'static str {
        "http"
    }

    fn reaches_store(&self) -> bool {
        false
    }

    fn workers_vary(&self) -> bool {
        true
    }

    fn call(&self, request: Bytes) -> BoxFuture<'_, Result<Bytes, TransportError>> {
        Box::pin(self.send(request))
    }
}

/// `endpoint`'s task URL: the base with `task` after it.
fn task_url(endpoint: &str) -> Result<Url> {
    let mut base = Url::parse(endpoint.trim())
        .with_context(|| format!("--endpoint {endpoint:?} is not a URL"))?;
    if !matches!(base.scheme(), "http" | "https") {
        bail!("--endpoint {endpoint}: not an http:// or https:// URL");
    }
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.join("task")
        .with_context(|| format!("--endpoint {endpoint}: cannot add /task to it"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_urls() {
        for (endpoint, want) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/task"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/task"),
            ("https://w.example/flick", "https://w.example/flick/task"),
            ("https://w.example/flick/", "https://w.example/flick/task"),
        ] {
            assert_eq!(task_url(endpoint).unwrap().as_str(), want);
        }
        assert!(task_url("ftp://w.example").is_err());
        assert!(task_url("not a url").is_err());
    }
}
