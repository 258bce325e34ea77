//! `flick encode --backend lambda`: the worker-lambda function served by a real `cargo lambda
//! watch` (the Lambda Invoke API on loopback), its blobs in a real S3-compatible server
//! (moto), gives the very bytes of the local backend; a task delivered twice is harmless; and
//! a missing function, a store that is not in S3, or a function that keeps its blobs
//! elsewhere is one clean error. Needs `cargo lambda` (`pip install cargo-lambda`) and
//! `moto_server` (scripts/setup-s3.sh); scripts/test.sh builds the function first, so the
//! watcher starts it at once.

#![cfg(feature = "lambda")]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use std::{fs, thread};

use common::moto::{Moto, aws_env, encode_with_aws as encode};
use common::{assert_clean_error, stderr};
use edge_worker::lambda::{Invocation, InvocationResult};
use edge_worker::wire::{InlinePolicy, decode_response, encode_request};
use edge_worker::{BlobRef, Blobs, EncodeSettings, Opening, PictureFormat, Task};
use flick_tests::{Source, make_y4m};
use tempfile::TempDir;

const BUCKET: &str = "flick-lambda";
/// The function's store, as its FLICK_STORE names it.
const STORE: &str = "s3://flick-lambda/worker";

/// `cargo lambda watch` serving the flick-worker function on a free loopback port, two
/// instances at most, its store in `moto`; stopped (with the function) when dropped.
struct Watch {
    child: Child,
    port: u16,
}

impl Watch {
    fn start(moto: &Moto) -> Watch {
        let port = free_port();
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let child = Command::new("cargo")
            .args(["lambda", "watch", "--quiet", "--ignore-changes"])
            .args([
                "-p",
                "worker-lambda",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .args(["--concurrency", "2"])
            .args(["--env-var", &format!("FLICK_STORE={STORE}")])
            .args(["--env-var", &format!("FLICK_S3_ENDPOINT={}", moto.url())])
            .current_dir(workspace)
            .envs(aws_env())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that dropping it stops the function it started too.
            .process_group(0)
            .spawn()
            .expect("cargo lambda runs (pip install cargo-lambda)");
        let watch = Watch { child, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "cargo lambda watch did not come up"
            );
            thread::sleep(Duration::from_millis(100));
        }
        watch
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One invocation straight through the Invoke API (the watcher does not check
    /// signatures): the function's result.
    fn invoke(&self, invocation: &Invocation) -> InvocationResult {
        let body = serde_json::to_vec(invocation).unwrap();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let head = format!(
            "POST /2015-03-31/functions/flick-worker/invocations HTTP/1.1\r\nhost: \
             127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let (head, body) = (
            String::from_utf8_lossy(&answer[..split]),
            &answer[split + 4..],
        );
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_vec()
        };
        serde_json::from_slice(&body).unwrap()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let group = self.child.id().to_string();
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{group}")])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[line + 2..line + 2 + size]);
        body = &body[line + 4 + size..];
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn bucket_keys(moto: &Moto) -> Vec<String> {
    let (status, listing) = moto.request("GET", &format!("/{BUCKET}?list-type=2"), b"");
    assert_eq!(status, 200, "{listing}");
    let mut keys: Vec<String> = listing
        .split("<Key>")
        .skip(1)
        .map(|rest| rest.split("</Key>").next().unwrap().to_owned())
        .collect();
    keys.sort();
    keys
}

#[test]
fn lambda_gives_the_bytes_of_local_and_a_task_delivered_twice_is_harmless() {
    let moto = Moto::start();
    assert_eq!(moto.request("PUT", &format!("/{BUCKET}"), b"").0, 200);
    let watch = Watch::start(&moto);

    let dir = TempDir::new().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 96, 64, 12, &y4m);
    // Inline nothing: every picture, state and large output goes through the bucket, which
    // both the orchestrator and the function reach.
    let pipeline = [
        "--chunk-frames",
        "3",
        "--batch",
        "whole",
        "--workers",
        "2",
        "--inline-limit",
        "0",
    ];
    let local = dir.path().join("local.ivf");
    let output = encode(&y4m, &local, &pipeline);
    assert!(output.status.success(), "{}", stderr(&output));

    let lambda = dir.path().join("lambda.ivf");
    let (moto_url, watch_url) = (moto.url(), watch.url());
    let mut extra = pipeline.to_vec();
    extra.extend(["--backend", "lambda", "--function", "flick-worker"]);
    extra.extend(["--lambda-endpoint", &watch_url]);
    extra.extend(["--store", STORE, "--s3-endpoint", &moto_url]);
    let output = encode(&y4m, &lambda, &extra);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("lambda"), "{}", stderr(&output));
    assert_eq!(
        fs::read(&local).unwrap(),
        fs::read(&lambda).unwrap(),
        "lambda and local differ"
    );
    assert_eq!(
        bucket_keys(&moto),
        Vec::<String>::new(),
        "the run cleans up"
    );

    // One task, delivered twice as Lambda's retries may: the same response, and the same
    // objects in the bucket, since every key is the hash of its content.
    let format = PictureFormat {
        width: 64,
        height: 48,
    };
    let mut blobs = Blobs::new();
    let frames: Vec<_> = (0..3)
        .map(|f| blobs.insert(vec![50 + 60 * f; format.i420_len()]))
        .collect();
    let mut named = Vec::new();
    for id in &frames {
        let bytes = blobs.get(id).unwrap();
        let key = format!("/{BUCKET}/worker/{}", id.store_key());
        assert_eq!(moto.request("PUT", &key, bytes).0, 200);
        named.push(BlobRef::of(bytes));
    }
    let task = Task::EncodeChunk {
        chunk: 0,
        format,
        settings: EncodeSettings::default(),
        opening: Opening::Keyframe,
        frames,
        long_term: Vec::new(),
    };
    let request = encode_request(&task, &Blobs::new(), &named, InlinePolicy::up_to(0)).unwrap();
    let invocation = Invocation {
        store: STORE.to_owned(),
        request,
    };
    let first = watch.invoke(&invocation);
    let answer = decode_response(&first.response).expect("the task succeeds");
    assert_eq!(answer.stored.len(), 2, "the stream and the state, by name");
    let after_first = bucket_keys(&moto);
    assert_eq!(after_first.len(), 3 + 2, "{after_first:?}");
    let second = watch.invoke(&invocation);
    assert_eq!(second, first, "a second delivery answers the same bytes");
    assert_eq!(
        bucket_keys(&moto),
        after_first,
        "and writes the same objects"
    );
}

#[test]
fn faults_on_the_lambda_backend_lose_nothing() {
    use common::faults::{FAULTS, PIPELINE, assert_faults_lost_nothing};
    let moto = Moto::start();
    assert_eq!(moto.request("PUT", &format!("/{BUCKET}"), b"").0, 200);
    let watch = Watch::start(&moto);
    let dir = TempDir::new().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 96, 64, 14, &y4m);
    let (clean, faulty) = (dir.path().join("clean.ivf"), dir.path().join("faulty.ivf"));
    let timeline = dir.path().join("timeline.json");
    let output = encode(&y4m, &clean, &PIPELINE);
    assert!(output.status.success(), "{}", stderr(&output));
    let (moto_url, watch_url) = (moto.url(), watch.url());
    let mut extra = PIPELINE.to_vec();
    // A function's first invocation starts it (a cold start, as on Lambda): a longer
    // deadline than the other backends' tests give.
    extra.extend(&FAULTS[..FAULTS.len() - 2]);
    extra.extend(["--task-timeout", "15"]);
    extra.extend(["--backend", "lambda", "--function", "flick-worker"]);
    extra.extend(["--lambda-endpoint", &watch_url, "--inline-limit", "0"]);
    extra.extend(["--store", STORE, "--s3-endpoint", &moto_url]);
    extra.extend(["--timeline", timeline.to_str().unwrap()]);
    let output = encode(&y4m, &faulty, &extra);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_faults_lost_nothing(&clean, &faulty, &timeline, &stderr(&output));
}

#[test]
fn a_missing_function_or_the_wrong_store_is_one_clean_error() {
    let moto = Moto::start();
    assert_eq!(moto.request("PUT", &format!("/{BUCKET}"), b"").0, 200);
    let watch = Watch::start(&moto);
    let dir = TempDir::new().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 32, 32, 4, &y4m);
    let out = dir.path().join("out.ivf");
    let (moto_url, watch_url) = (moto.url(), watch.url());

    let no_function = ["--chunk-frames", "2", "--backend", "lambda"];
    assert_clean_error(&encode(&y4m, &out, &no_function), &["--function"]);
    let memory = [
        "--chunk-frames",
        "2",
        "--backend",
        "lambda",
        "--function",
        "f",
    ];
    assert_clean_error(&encode(&y4m, &out, &memory), &["s3://"]);

    // The function keeps its blobs in STORE; a run whose store is elsewhere fails at its
    // first task, naming both, and is not retried.
    let elsewhere = [
        "--chunk-frames",
        "2",
        "--inline-limit",
        "0",
        "--backend",
        "lambda",
        "--function",
        "flick-worker",
        "--lambda-endpoint",
        &watch_url,
        "--store",
        "s3://flick-lambda/elsewhere",
        "--s3-endpoint",
        &moto_url,
    ];
    let output = encode(&y4m, &out, &elsewhere);
    assert_clean_error(
        &output,
        &[STORE, "s3://flick-lambda/elsewhere", "not retried"],
    );
    assert!(!out.exists(), "no stream is left behind");
}
