//! `--store s3://BUCKET/PREFIX --s3-endpoint URL`: the pipeline's blobs in a real S3-compatible
//! server on loopback (moto's server mode, speaking the S3 REST API over HTTP with SigV4), the
//! same bytes as the memory store, and the prefix left empty. Needs `moto_server`
//! (`pip install "moto[server]"`; scripts/setup-s3.sh).

mod common;

use std::fs;

use common::assert_clean_error;
use common::moto::{Moto, encode_with_aws as encode};
use flick_tests::{Source, make_y4m};
use tempfile::TempDir;

#[test]
fn an_s3_store_gives_the_bytes_of_memory_and_ends_empty() {
    let moto = Moto::start();
    assert_eq!(
        moto.request("PUT", "/flick-blobs", b"").0,
        200,
        "bucket created"
    );
    let dir = TempDir::new().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 96, 64, 12, &y4m);
    let memory = dir.path().join("memory.ivf");
    let s3 = dir.path().join("s3.ivf");
    // Inline nothing, so every picture, state and stream goes through the bucket.
    let pipeline = [
        "--chunk-frames",
        "3",
        "--batch",
        "whole",
        "--workers",
        "3",
        "--inline-limit",
        "0",
    ];
    let output = encode(&y4m, &memory, &pipeline);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let url = moto.url();
    let mut extra = pipeline.to_vec();
    extra.extend([
        "--store",
        "s3://flick-blobs/runs/one",
        "--s3-endpoint",
        &url,
    ]);
    let output = encode(&y4m, &s3, &extra);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        fs::read(&memory).unwrap(),
        fs::read(&s3).unwrap(),
        "S3 and memory differ"
    );
    let (status, listing) = moto.request("GET", "/flick-blobs?list-type=2", b"");
    assert_eq!(status, 200, "{listing}");
    assert!(
        !listing.contains("<Key>"),
        "the bucket still holds blobs: {listing}"
    );
}

#[test]
fn a_missing_bucket_or_a_bad_location_is_one_clean_error() {
    let moto = Moto::start();
    let dir = TempDir::new().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 32, 32, 2, &y4m);
    let out = dir.path().join("out.ivf");
    let url = moto.url();
    let base = [
        "--chunk-frames",
        "1",
        "--retries",
        "0",
        "--inline-limit",
        "0",
        "--s3-endpoint",
        &url,
    ];
    let mut missing = base.to_vec();
    missing.extend(["--store", "s3://no-such-bucket/x"]);
    assert_clean_error(&encode(&y4m, &out, &missing), &["no-such-bucket"]);
    assert!(!out.exists(), "no stream is left behind");
    let mut no_bucket = base.to_vec();
    no_bucket.extend(["--store", "s3:///x"]);
    assert_clean_error(&encode(&y4m, &out, &no_bucket), &["no bucket"]);
}
