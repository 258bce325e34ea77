//! The wasi:http shell around [`crate::reply`].

use std::time::{SystemTime, UNIX_EPOCH};

use edge_worker::auth;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use wstd::http::{Body as HttpBody, Error, Request, Response};

use crate::{Body, Incoming, MAX_REQUEST_BYTES, Reply, reply};

#[wstd::http_server]
async fn main(request: Request<HttpBody>) -> Result<Response<HttpBody>, Error> {
    let (parts, body) = request.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let declared_too_large = body
        .content_length()
        .is_some_and(|len| len > MAX_REQUEST_BYTES as u64);
    let bytes = if declared_too_large {
        None
    } else {
        match Limited::new(body.into_boxed_body(), MAX_REQUEST_BYTES)
            .collect()
            .await
        {
            Ok(collected) => Some(collected.to_bytes()),
            Err(e) if e.is::<LengthLimitError>() => None,
            Err(e) => {
                return answer(Reply::text(
                    400,
                    format!("cannot read the request body: {e}"),
                ));
            }
        }
    };
    let secret = std::env::var(auth::SECRET_ENV).ok();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let incoming = Incoming {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        timestamp: header(auth::TIMESTAMP_HEADER),
        signature: header(auth::SIGNATURE_HEADER),
        body: match &bytes {
            Some(bytes) => Body::Complete(bytes),
            None => Body::TooLarge,
        },
        secret: secret.as_deref().map(str::as_bytes),
        now,
    };
    answer(reply(&incoming))
}

fn answer(reply: Reply) -> Result<Response<HttpBody>, Error> {
    Ok(Response::builder()
        .status(reply.status)
        .header("content-type", reply.content_type)
        .body(HttpBody::from(reply.body))?)
}
