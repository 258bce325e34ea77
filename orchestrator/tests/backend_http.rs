//! `flick encode --backend http`: the worker-http component served by a real `wasmtime serve`
//! on loopback gives the very bytes of the local backend, and refuses, with the right status
//! and a one-line reason, requests that are unsigned, badly signed, stale, oversized or
//! malformed, serving the next request as well; faults and a task that fails on every
//! attempt lose nothing. Needs `wasmtime` (wasmtime-cli 48) and the component
//! (scripts/build-worker-wasm.sh; scripts/test.sh sees to both).

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use common::serve::{Proxy, Rule, SECRET, Server, component, exchange};
use common::{assert_clean_error, flick_ok};
use edge_worker::auth;
use flick_tests::{Source, make_y4m};
use tempfile::TempDir;

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

/// A worker that dies on one task every time: the encode ends with one error naming the
/// task, its chunk and the last cause, leaves no output, and keeps in its store everything
/// done so far, so that the same command, once the worker is well, resumes and gives the
/// bytes of a clean run.
#[test]
fn a_task_that_fails_every_attempt_ends_cleanly_and_resumes() {
    let server = Server::start();
    let proxy = Proxy::start(
        std::slice::from_ref(&server.addr),
        Rule::Refuse("rebase", 4),
    );
    let dir = TempDir::new().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 96, 64, 14, &y4m);
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    let (clean, out) = (dir.path().join("clean.ivf"), out_dir.join("out.ivf"));
    let store = dir.path().join("store");
    let pipeline = ["--chunk-frames", "2", "--batch", "whole", "--workers", "2"];
    let output = encode(&y4m, &clean, &pipeline, SECRET);
    assert!(output.status.success(), "{}", common::stderr(&output));

    let mut extra = pipeline.to_vec();
    extra.extend(["--backend", "http", "--retries", "2"]);
    extra.extend(["--store", store.to_str().unwrap()]);
    let proxied = proxy.url();
    let mut through_proxy = extra.clone();
    through_proxy.extend(["--endpoint", &proxied]);
    let output = encode(&y4m, &out, &through_proxy, SECRET);
    assert_clean_error(
        &output,
        &["task rebase of chunk 4 failed (3 attempts)", "no response"],
    );
    assert_eq!(proxy.refused.load(Ordering::SeqCst), 3);
    let left: Vec<_> = fs::read_dir(&out_dir).unwrap().collect();
    assert!(left.is_empty(), "no output, whole or partial: {left:?}");
    let kept = fs::read_dir(store.join("tasks")).unwrap().count();
    // Chunk 4's rebase needs chunks 0 to 4 encoded, chunks 1 to 4 given their states and
    // chunks 1 to 3 rebased; at most all 7 encodes and 6 given-state encodes ran too.
    assert!(
        (12..=16).contains(&kept),
        "{kept} results kept for a resume"
    );

    let direct = server.url();
    extra.extend(["--endpoint", &direct]);
    let output = encode(&y4m, &out, &extra, SECRET);
    let summary = common::stderr(&output);
    assert!(output.status.success(), "{summary}");
    assert!(summary.contains("more resumed from the store"), "{summary}");
    assert_eq!(fs::read(&clean).unwrap(), fs::read(&out).unwrap());
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

/// What a process held at most, sampled while it ran.
#[derive(Debug, Default)]
struct Peaks {
    threads: usize,
    descriptors: usize,
    resident_mb: f64,
}

/// Samples `pid` every 20 ms until it exits.
fn watch(pid: u32, until: impl Fn() -> bool) -> Peaks {
    let mut peaks = Peaks::default();
    while !until() {
        if let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) {
            let field = |name: &str| -> Option<f64> {
                let line = status.lines().find(|l| l.starts_with(name))?;
                line[name.len()..].split_whitespace().next()?.parse().ok()
            };
            peaks.threads = peaks.threads.max(field("Threads:").unwrap_or(0.0) as usize);
            let rss = field("VmRSS:").unwrap_or(0.0) / 1024.0;
            peaks.resident_mb = peaks.resident_mb.max(rss);
        }
        if let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) {
            peaks.descriptors = peaks.descriptors.max(fds.count());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    peaks
}

/// The most attempts of a timeline that overlapped.
fn most_in_flight(timeline: &Path) -> usize {
    let records: Vec<serde_json::Value> =
        serde_json::from_slice(&fs::read(timeline).unwrap()).unwrap();
    let mut edges: Vec<(f64, i32)> = records
        .iter()
        .flat_map(|r| {
            [
                (r["start_s"].as_f64().unwrap(), 1),
                (r["end_s"].as_f64().unwrap(), -1),
            ]
        })
        .collect();
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut most) = (0, 0);
    for (_, change) in edges {
        now += change;
        most = most.max(now);
    }
    most as usize
}

/// A thousand requests in flight against a pool of four `wasmtime serve` instances, behind a
/// proxy that holds every request until a thousand are held at once: the runtime does not
/// take a thread a request, the descriptors are one a connection (the limit raised to make
/// room), the memory stays bounded, and the stream is the local backend's.
#[test]
fn a_thousand_requests_in_flight_on_a_pool_of_workers() {
    // This test's own end holds a thread and two connections a request.
    rlimit::increase_nofile_limit(4096).unwrap();
    let servers: Vec<Server> = (0..4).map(|_| Server::spawn()).collect();
    for server in &servers {
        server.wait_until_up();
    }
    let upstreams: Vec<String> = servers.iter().map(|s| s.addr.clone()).collect();
    let proxy = Proxy::start(&upstreams, Rule::HoldUntil(1000));
    let endpoint = proxy.url();
    let dir = TempDir::new().unwrap();
    let y4m = dir.path().join("clip.y4m");
    // Each chunk its own batch: a thousand chunk encodes, all ready once their pictures are in.
    make_y4m(Source::Synthetic("testsrc2"), 96, 64, 1000, &y4m);
    let (local, remote) = (dir.path().join("local.ivf"), dir.path().join("http.ivf"));
    let timeline = dir.path().join("timeline.json");
    let pipeline = ["--chunk-frames", "1", "--batch", "1"];
    let mut extra = pipeline.to_vec();
    extra.extend(["--workers", "2"]);
    let output = encode(&y4m, &local, &extra, SECRET);
    assert!(output.status.success(), "{}", common::stderr(&output));

    let mut flick = Command::new(env!("CARGO_BIN_EXE_flick"));
    flick.arg("encode").arg(&y4m).arg("-o").arg(&remote);
    flick.args(pipeline);
    flick.args([
        "--workers",
        "1000",
        "--backend",
        "http",
        "--endpoint",
        &endpoint,
    ]);
    flick.arg("--timeline").arg(&timeline);
    flick.env("FLICK_WORKER_SECRET", SECRET);
    flick.stdout(std::process::Stdio::null());
    flick.stderr(std::process::Stdio::piped());
    let mut child = flick.spawn().unwrap();
    let pid = child.id();
    let exited = std::sync::atomic::AtomicBool::new(false);
    let (peaks, output) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| watch(pid, || exited.load(Ordering::SeqCst)));
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        let status = child.wait().unwrap();
        exited.store(true, Ordering::SeqCst);
        (watcher.join().unwrap(), (status, stderr))
    });
    let (status, summary) = output;
    assert!(status.success(), "{summary}");
    assert_eq!(fs::read(&local).unwrap(), fs::read(&remote).unwrap());
    let held = proxy.most_held.load(Ordering::SeqCst);
    eprintln!(
        "1000 workers through a holding proxy to 4 wasmtime serve: {held} requests held at \
         once, {} in flight at most in the timeline, {peaks:?}; {}",
        most_in_flight(&timeline),
        summary.lines().last().unwrap_or("")
    );
    assert_eq!(held, 1000, "a thousand requests were in flight at once");
    assert!(peaks.threads <= 64, "{peaks:?}");
    assert!(peaks.descriptors <= 1000 + 256, "{peaks:?}");
    assert!(peaks.resident_mb <= 512.0, "{peaks:?}");
    assert!(summary.contains("peak memory"), "{summary}");
}
