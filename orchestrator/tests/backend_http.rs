//! `flick encode --backend http`: the worker-http component served by a real `wasmtime serve`
//! on loopback gives the very bytes of the local backend, and refuses, with the right status
//! and a one-line reason, requests that are unsigned, badly signed, stale, oversized or
//! malformed, serving the next request as well. Needs `wasmtime` (wasmtime-cli 48) and the
//! component (scripts/build-worker-wasm.sh; scripts/test.sh sees to both).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use std::{fs, thread};

use common::{assert_clean_error, built_component, flick_ok};
use edge_worker::auth;
use flick_tests::{Source, make_y4m};
use tempfile::TempDir;

const SECRET: &str = "a secret for the tests, 32 bytes or more";

fn component() -> PathBuf {
    built_component("worker_http")
}

/// `wasmtime serve` on a free loopback port, stopped when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start() -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new("wasmtime")
            .args([
                "serve",
                "-Scli",
                "--addr",
                &addr,
                "--env",
                "FLICK_WORKER_SECRET",
            ])
            .arg(component())
            .env("FLICK_WORKER_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("wasmtime runs (cargo install wasmtime-cli@48.0.8 --locked)");
        let server = Server { child, addr };
        let started = Instant::now();
        while exchange(&server.addr, "GET", "/health", &[], b"").0 != 200 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "wasmtime serve did not come up"
            );
            thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange; returns the status (0 when nothing answered) and the body.
fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    let declares_length = headers.iter().any(|(name, _)| *name == "content-length");
    if !declares_length {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    if stream.write_all(head.as_bytes()).is_err() || stream.write_all(body).is_err() {
        return (0, String::new());
    }
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    if reader.read_line(&mut status_line).is_err() {
        return (0, String::new());
    }
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    (status, String::from_utf8_lossy(&rest).into_owned())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn signed(body: &[u8], at: u64, secret: &str) -> Vec<(&'static str, String)> {
    vec![
        (auth::TIMESTAMP_HEADER, at.to_string()),
        (
            auth::SIGNATURE_HEADER,
            auth::sign(secret.as_bytes(), at, body).unwrap(),
        ),
    ]
}

fn encode(y4m: &Path, out: &Path, extra: &[&str], secret: &str) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flick"));
    command
        .arg("encode")
        .arg(y4m)
        .arg("-o")
        .arg(out)
        .args(extra);
    command.env("FLICK_WORKER_SECRET", secret);
    command.output().expect("flick runs")
}

#[test]
fn http_gives_the_bytes_of_local() {
    let server = Server::start();
    let dir = TempDir::new().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 96, 64, 14, &y4m);
    let local = dir.path().join("local.ivf");
    let remote = dir.path().join("http.ivf");
    let pipeline = ["--chunk-frames", "3", "--batch", "whole", "--workers", "3"];
    let mut args = vec!["encode".to_string(), y4m.display().to_string(), "-o".into()];
    args.push(local.display().to_string());
    args.extend(pipeline.iter().map(|s| s.to_string()));
    flick_ok(&args);
    let url = server.url();
    // The same endpoint twice: requests alternate between the two entries.
    let endpoints = format!("{url},{url}/");
    let mut extra = pipeline.to_vec();
    extra.extend(["--backend", "http", "--endpoint", &endpoints]);
    let output = encode(&y4m, &remote, &extra, SECRET);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        fs::read(&local).unwrap(),
        fs::read(&remote).unwrap(),
        "http and local differ"
    );
}

#[test]
fn faults_on_the_http_backend_lose_nothing() {
    use common::faults::{FAULTS, PIPELINE, assert_faults_lost_nothing};
    let server = Server::start();
    let dir = TempDir::new().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 96, 64, 14, &y4m);
    let (clean, faulty) = (dir.path().join("clean.ivf"), dir.path().join("faulty.ivf"));
    let timeline = dir.path().join("timeline.json");
    let output = encode(&y4m, &clean, &PIPELINE, SECRET);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let url = server.url();
    let mut extra = PIPELINE.to_vec();
    extra.extend(FAULTS);
    extra.extend(["--backend", "http", "--endpoint", &url]);
    extra.extend(["--timeline", timeline.to_str().unwrap()]);
    let output = encode(&y4m, &faulty, &extra, SECRET);
    assert!(output.status.success(), "{}", common::stderr(&output));
    assert_faults_lost_nothing(&clean, &faulty, &timeline, &common::stderr(&output));
}

#[test]
fn refusals_are_statuses_with_a_reason_and_the_worker_stays_up() {
    let server = Server::start();
    let addr = &server.addr;
    let body = b"not a request, but signed".to_vec();
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("unsigned", vec![], body.clone(), 401, "unsigned"),
        (
            "another secret",
            signed(&body, now(), "another secret of at least 32 bytes!"),
            body.clone(),
            401,
            "bad signature",
        ),
        (
            "stale",
            signed(&body, now() - auth::MAX_SKEW_S - 30, SECRET),
            body.clone(),
            401,
            "stale",
        ),
        (
            "tampered",
            signed(b"the body it was signed for", now(), SECRET),
            body.clone(),
            401,
            "bad signature",
        ),
        (
            "malformed",
            signed(&body, now(), SECRET),
            body.clone(),
            400,
            "malformed request",
        ),
        (
            "oversized",
            vec![("content-length", (200u64 << 20).to_string())],
            Vec::new(),
            413,
            "limit",
        ),
    ];
    for (what, headers, body, status, reason) in cases {
        let (got, text) = exchange(addr, "POST", "/task", &headers, &body);
        assert_eq!(got, status, "{what}: {text}");
        assert!(text.contains(reason), "{what}: {text:?} lacks {reason:?}");
        // Still serving after each refusal.
        assert_eq!(
            exchange(addr, "GET", "/health", &[], b"").0,
            200,
            "after {what}"
        );
    }
}

#[test]
fn a_wrong_secret_or_none_is_one_clean_error() {
    let server = Server::start();
    let dir = TempDir::new().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 32, 32, 2, &y4m);
    let out = dir.path().join("out.ivf");
    let url = server.url();
    let extra = [
        "--chunk-frames",
        "1",
        "--retries",
        "0",
        "--backend",
        "http",
        "--endpoint",
        &url,
    ];
    let output = encode(&y4m, &out, &extra, "the wrong secret, also 32 bytes long");
    assert_clean_error(&output, &["401", "bad signature"]);
    assert!(!out.exists(), "no stream is left behind");
    let output = encode(&y4m, &out, &extra, "short");
    assert_clean_error(&output, &["FLICK_WORKER_SECRET"]);
    let mut no_secret = Command::new(env!("CARGO_BIN_EXE_flick"));
    no_secret
        .arg("encode")
        .arg(&y4m)
        .arg("-o")
        .arg(&out)
        .args(extra);
    no_secret.env_remove("FLICK_WORKER_SECRET");
    assert_clean_error(
        &no_secret.output().unwrap(),
        &["FLICK_WORKER_SECRET", "not set"],
    );
    let output = encode(
        &y4m,
        &out,
        &["--chunk-frames", "1", "--backend", "http"],
        SECRET,
    );
    assert_clean_error(&output, &["--endpoint"]);
}

/// The same clip on every backend: one stream.
#[cfg(feature = "wasmtime")]
#[test]
fn local_wasmtime_and_http_give_one_stream() {
    let server = Server::start();
    let dir = TempDir::new().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 80, 48, 10, &y4m);
    let url = server.url();
    let pipeline = ["--chunk-frames", "2", "--batch", "4", "--workers", "2"];
    let mut streams = Vec::new();
    for backend in [
        &["--backend", "local"][..],
        &["--backend", "wasmtime"],
        &["--backend", "http", "--endpoint", &url],
    ] {
        let out = dir.path().join(format!("{}.ivf", backend[1]));
        let mut extra = pipeline.to_vec();
        extra.extend_from_slice(backend);
        let output = encode(&y4m, &out, &extra, SECRET);
        assert!(
            output.status.success(),
            "{}: {}",
            backend[1],
            String::from_utf8_lossy(&output.stderr)
        );
        streams.push((backend[1], fs::read(&out).unwrap()));
    }
    for (name, stream) in &streams[1..] {
        assert!(stream == &streams[0].1, "{name} and local differ");
    }
}

/// deploy/spin/spin.toml is a Spin manifest (version 2) whose component is the one built here,
/// with no outbound hosts and a build command for it.
#[test]
fn the_spin_manifest_names_the_built_component() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let manifest_path = root.join("deploy/spin/spin.toml");
    let manifest: toml::Table = fs::read_to_string(&manifest_path).unwrap().parse().unwrap();
    assert_eq!(manifest["spin_manifest_version"].as_integer(), Some(2));
    let trigger = &manifest["trigger"]["http"].as_array().unwrap()[0];
    assert_eq!(trigger["route"].as_str(), Some("/..."));
    let name = trigger["component"].as_str().unwrap();
    let entry = &manifest["component"][name];
    let source = manifest_path
        .parent()
        .unwrap()
        .join(entry["source"].as_str().unwrap());
    assert_eq!(
        fs::canonicalize(&source).unwrap(),
        fs::canonicalize(component()).unwrap()
    );
    assert!(
        entry["allowed_outbound_hosts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let build = entry["build"]["command"].as_str().unwrap();
    assert!(
        build.contains("-p worker-http") && build.contains("wasm32-wasip2"),
        "{build}"
    );
}
