use edge_worker::wire::{InlinePolicy, decode_response, encode_request};
use edge_worker::{Blobs, EncodeSettings, Opening, PictureFormat, Task};

use super::*;

const SECRET: &[u8] = b"the worker's secret, 32 bytes ok";
const NOW: u64 = 1_800_000_000;

fn task_request() -> Vec<u8> {
    let mut blobs = Blobs::new();
    let frame = blobs.insert(vec![100; 16 * 16 * 3 / 2]);
    let task = Task::EncodeChunk {
        chunk: 0,
        format: PictureFormat {
            width: 16,
            height: 16,
        },
        settings: EncodeSettings::default(),
        opening: Opening::Keyframe,
        frames: vec![frame],
        long_term: Vec::new(),
    };
    encode_request(&task, &blobs, &[], InlinePolicy::EVERYTHING).unwrap()
}

fn post<'a>(
    body: Body<'a>,
    timestamp: Option<&'a str>,
    signature: Option<&'a str>,
) -> Incoming<'a> {
    Incoming {
        method: "POST",
        path: "/task",
        timestamp,
        signature,
        body,
        secret: Some(SECRET),
        now: NOW,
    }
}

fn line(reply: &Reply) -> String {
    String::from_utf8(reply.body.clone()).unwrap()
}

#[test]
fn a_signed_task_runs() {
    let body = task_request();
    let ts = NOW.to_string();
    let sig = auth::sign(SECRET, NOW, &body).unwrap();
    let reply = reply(&post(Body::Complete(&body), Some(&ts), Some(&sig)));
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.body, edge_worker::wire::handle(&body));
    assert!(decode_response(&reply.body).is_ok());
}

#[test]
fn unsigned_badly_signed_and_stale_requests_are_401_with_a_reason() {
    let body = task_request();
    let ts = NOW.to_string();
    let sig = auth::sign(SECRET, NOW, &body).unwrap();
    let wrong = auth::sign(b"some other secret of 32+ bytes!!", NOW, &body).unwrap();
    let old = NOW - auth::MAX_SKEW_S - 60;
    let old_ts = old.to_string();
    let old_sig = auth::sign(SECRET, old, &body).unwrap();
    for (incoming, reason) in [
        (post(Body::Complete(&body), None, None), "unsigned"),
        (post(Body::Complete(&body), Some(&ts), None), "unsigned"),
        (
            post(Body::Complete(&body), Some(&ts), Some(&wrong)),
            "bad signature",
        ),
        (
            post(Body::Complete(&body[1..]), Some(&ts), Some(&sig)),
            "bad signature",
        ),
        (
            post(Body::Complete(&body), Some(&old_ts), Some(&old_sig)),
            "stale",
        ),
        (
            post(Body::Complete(&body), Some("yesterday"), Some(&sig)),
            "malformed",
        ),
    ] {
        let reply = reply(&incoming);
        assert_eq!(reply.status, 401, "{reason}: {}", line(&reply));
        let text = line(&reply);
        assert!(text.contains(reason), "{text:?} lacks {reason:?}");
        assert_eq!(text.lines().count(), 1, "one line: {text:?}");
    }
}

#[test]
fn an_oversized_body_is_413_before_anything_else() {
    let reply = reply(&post(Body::TooLarge, None, None));
    assert_eq!(reply.status, 413);
    assert!(line(&reply).contains("limit"));
}

#[test]
fn a_signed_body_that_is_not_a_request_is_400() {
    let ts = NOW.to_string();
    let mut truncated = edge_worker::wire::REQUEST_MAGIC.to_vec();
    truncated.extend_from_slice(b"\xff\xff\xff");
    for body in [&b""[..], b"hello", &truncated] {
        let sig = auth::sign(SECRET, NOW, body).unwrap();
        let reply = reply(&post(Body::Complete(body), Some(&ts), Some(&sig)));
        assert_eq!(reply.status, 400, "{body:?}: {}", line(&reply));
        assert!(line(&reply).starts_with("malformed request: "));
    }
}

#[test]
fn without_a_secret_nothing_runs() {
    let body = task_request();
    let mut incoming = post(Body::Complete(&body), None, None);
    incoming.secret = None;
    let reply = reply(&incoming);
    assert_eq!(reply.status, 500);
    assert!(line(&reply).contains(auth::SECRET_ENV));
    incoming.secret = Some(b"short");
    assert_eq!(super::reply(&incoming).status, 500);
}

#[test]
fn routes() {
    let mut incoming = post(Body::Complete(b""), None, None);
    incoming.method = "GET";
    incoming.path = "/health";
    assert_eq!(reply(&incoming).status, 200);
    incoming.path = "/task";
    assert_eq!(reply(&incoming).status, 405);
    incoming.path = "/elsewhere";
    assert_eq!(reply(&incoming).status, 404);
}
