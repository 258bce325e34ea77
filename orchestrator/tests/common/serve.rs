//! The worker-http component under a real `wasmtime serve` on loopback, a raw HTTP/1.1
//! exchange with it, and a proxy in front of such workers that drops every request for one
//! task, or holds requests until many are in flight.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::built_component;

/// The secret the servers here are started with.
pub const SECRET: &str = "a secret for the tests, 32 bytes or more";

pub fn component() -> PathBuf {
    built_component("worker_http")
}

/// A free loopback address.
pub fn free_addr() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// `wasmtime serve` on a free loopback port, stopped when dropped.
pub struct Server {
    child: Child,
    pub addr: String,
}

impl Server {
    pub fn start() -> Server {
        let server = Server::spawn();
        server.wait_until_up();
        server
    }

    /// Starts the server without waiting for it (see [`Server::wait_until_up`]), so that
    /// many can come up at once.
    pub fn spawn() -> Server {
        let addr = free_addr();
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
        Server { child, addr }
    }

    pub fn wait_until_up(&self) {
        let started = Instant::now();
        while exchange(&self.addr, "GET", "/health", &[], b"").0 != 200 {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "wasmtime serve did not come up"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange; returns the status (0 when nothing answered) and the body.
pub fn exchange(
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

/// What a [`Proxy`] does with the requests it forwards.
#[derive(Clone, Copy, Debug)]
pub enum Rule {
    /// Drops, unanswered, every request for one task (its kind and chunk): a worker that dies
    /// on that task every time.
    Refuse(&'static str, u32),
    /// Holds every request until this many are held at once, then lets them all through:
    /// proof that the client had that many in flight.
    HoldUntil(usize),
}

/// How long a held request waits for the others before it goes through anyway.
const HOLD_AT_MOST: Duration = Duration::from_secs(120);

/// A proxy in front of workers (requests go to them in turn, one a connection), applying a
/// [`Rule`]. Stops taking connections when dropped.
pub struct Proxy {
    pub addr: String,
    /// Requests dropped so far (`Rule::Refuse`).
    pub refused: Arc<AtomicUsize>,
    /// The most requests held at once (`Rule::HoldUntil`).
    pub most_held: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// Requests held, and whether the gate has opened.
type Gate = (Mutex<(usize, bool)>, Condvar);

impl Proxy {
    pub fn start(upstreams: &[String], rule: Rule) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let refused = Arc::new(AtomicUsize::new(0));
        let most_held = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let gate: Arc<Gate> = Arc::new((Mutex::new((0, false)), Condvar::new()));
        let upstreams = upstreams.to_vec();
        let (counted, held, stopped) = (
            Arc::clone(&refused),
            Arc::clone(&most_held),
            Arc::clone(&stop),
        );
        thread::spawn(move || {
            let mut next = 0usize;
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let upstream = upstreams[next % upstreams.len()].clone();
                        next += 1;
                        let (counted, held, gate) =
                            (Arc::clone(&counted), Arc::clone(&held), Arc::clone(&gate));
                        thread::Builder::new()
                            .stack_size(128 << 10)
                            .spawn(move || {
                                let _ = relay(client, &upstream, rule, &counted, &held, &gate);
                            })
                            .unwrap();
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Proxy {
            addr,
            refused,
            most_held,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Waits at the gate until `until` requests are held at once (or [`HOLD_AT_MOST`] passed).
fn hold(gate: &Gate, until: usize, most_held: &AtomicUsize) {
    let (state, opened) = gate;
    let mut state = state.lock().unwrap();
    state.0 += 1;
    most_held.fetch_max(state.0, Ordering::SeqCst);
    if state.0 >= until {
        state.1 = true;
        opened.notify_all();
    }
    let started = Instant::now();
    while !state.1 && started.elapsed() < HOLD_AT_MOST {
        state = opened
            .wait_timeout(state, Duration::from_secs(1))
            .unwrap()
            .0;
    }
    state.0 -= 1;
}

/// Reads one request from `client` and forwards it to `upstream`, as `rule` says.
fn relay(
    client: TcpStream,
    upstream: &str,
    rule: Rule,
    refused: &AtomicUsize,
    most_held: &AtomicUsize,
    gate: &Gate,
) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    let mut reader = BufReader::new(client.try_clone()?);
    let (head, body) = read_message(&mut reader)?;
    match rule {
        Rule::Refuse(kind, chunk) => {
            if let Ok(request) = edge_worker::wire::decode_request(&body)
                && (request.task.kind(), request.task.chunk()) == (kind, chunk)
            {
                refused.fetch_add(1, Ordering::SeqCst);
                return client.shutdown(Shutdown::Both);
            }
        }
        Rule::HoldUntil(until) => hold(gate, until, most_held),
    }
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(&with_close(&head))?;
    server.write_all(&body)?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    let split = find(&response, b"\r\n\r\n").map_or(response.len(), |at| at + 4);
    let (response_head, response_body) = response.split_at(split);
    let mut client = client;
    client.write_all(&with_close(response_head))?;
    client.write_all(response_body)?;
    client.shutdown(Shutdown::Both)
}

/// An HTTP/1.1 message's head (through its blank line) and its body (by content-length).
fn read_message(reader: &mut impl BufRead) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(line.as_bytes());
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((head, body))
}

/// A message head with its connection header replaced by `connection: close`: one
/// exchange a connection on each side.
fn with_close(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.split("\r\n").filter(|line| !line.is_empty()) {
        let is_connection = line
            .split_once(':')
            .is_some_and(|(name, _)| name.eq_ignore_ascii_case("connection"));
        if !is_connection {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("connection: close\r\n\r\n");
    out.into_bytes()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
