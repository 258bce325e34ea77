//! moto's S3 server (`pip install "moto[server]"`, scripts/setup-s3.sh) on a free loopback
//! port, for the tests of the S3 store and of the lambda backend.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// moto's S3 server on a free loopback port, stopped when dropped.
pub struct Moto {
    child: Child,
    addr: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server runs (pip install \"moto[server]\")");
        let moto = Moto { child, addr };
        let started = Instant::now();
        while moto.request("GET", "/", b"").0 == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto_server did not come up"
            );
            thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One unsigned HTTP/1.1 exchange (moto does not check signatures); status and body.
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let Ok(mut stream) = TcpStream::connect(&self.addr) else {
            return (0, String::new());
        };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        if stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body))
            .is_err()
        {
            return (0, String::new());
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, answer)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Credentials for the loopback servers: SigV4 needs some, neither server checks them.
pub fn aws_env() -> [(&'static str, &'static str); 3] {
    [
        ("AWS_ACCESS_KEY_ID", "flick-test"),
        ("AWS_SECRET_ACCESS_KEY", "flick-test-secret"),
        ("AWS_REGION", "us-east-1"),
    ]
}

/// `flick encode Y4M -o OUT EXTRA...` with [`aws_env`] and no other AWS session or profile.
pub fn encode_with_aws(y4m: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flick"))
        .arg("encode")
        .arg(y4m)
        .arg("-o")
        .arg(out)
        .args(extra)
        .envs(aws_env())
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("flick runs")
}
