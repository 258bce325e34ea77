//! Signed task requests, for workers reached over a network (`--backend http`): every request
//! carries a timestamp and an HMAC-SHA256 over that timestamp and its body, keyed by a secret
//! both sides read from the environment ([`SECRET_ENV`]). A worker answers a request that is
//! unsigned, badly signed or stale without running it.
//!
//! What is signed is `"flick-task-v1\n" + timestamp + "\n" + body`: the prefix keeps the
//! signature from meaning anything in another protocol, and the timestamp (decimal seconds
//! since the Unix epoch) bounds how long a captured request can be replayed.

use core::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The environment variable that holds the shared secret.
pub const SECRET_ENV: &str = "FLICK_WORKER_SECRET";
/// The request header with the timestamp, in decimal seconds since the Unix epoch.
pub const TIMESTAMP_HEADER: &str = "x-flick-timestamp";
/// The request header with the signature, 64 lowercase hex digits.
pub const SIGNATURE_HEADER: &str = "x-flick-signature";
/// How far a request's timestamp may be from the worker's clock, either way, in seconds.
pub const MAX_SKEW_S: u64 = 300;
/// The shortest secret accepted, in bytes: HMAC-SHA256 wants a key of at least its output.
pub const MIN_SECRET_LEN: usize = 32;

const CONTEXT: &[u8] = b"flick-task-v1\n";

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// A header is missing.
    Missing(&'static str),
    /// A header is not what it should be (not a number, not 64 hex digits).
    Malformed(&'static str),
    /// The signature does not match the body and timestamp.
    BadSignature,
    /// The timestamp is further than [`MAX_SKEW_S`] from the worker's clock.
    Stale { timestamp: u64, now: u64 },
    /// The secret is shorter than [`MIN_SECRET_LEN`].
    WeakSecret(usize),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Missing(header) => write!(f, "unsigned request: no {header} header"),
            AuthError::Malformed(header) => write!(f, "malformed {header} header"),
            AuthError::BadSignature => {
                write!(
                    f,
                    "bad signature: the request was not signed with this worker's secret"
                )
            }
            AuthError::Stale { timestamp, now } => write!(
                f,
                "stale request: signed at {timestamp}, {} s from the worker's clock ({now}); \
                 at most {MAX_SKEW_S} s is allowed",
                timestamp.abs_diff(*now)
            ),
            AuthError::WeakSecret(len) => write!(
                f,
                "{SECRET_ENV} is {len} bytes long; it must have at least {MIN_SECRET_LEN}"
            ),
        }
    }
}

impl core::error::Error for AuthError {}

fn mac(secret: &[u8], timestamp: u64, body: &[u8]) -> Result<Hmac<Sha256>, AuthError> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(AuthError::WeakSecret(secret.len()));
    }
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).map_err(|_| AuthError::WeakSecret(secret.len()))?;
    mac.update(CONTEXT);
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(body);
    Ok(mac)
}

/// The signature header's value for `body` sent at `timestamp`.
///
/// # Errors
///
/// [`AuthError::WeakSecret`] for a secret shorter than [`MIN_SECRET_LEN`].
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> Result<String, AuthError> {
    let tag = mac(secret, timestamp, body)?.finalize().into_bytes();
    Ok(tag.iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks a request's headers (`None` when absent) against its body, at worker time `now`.
///
/// # Errors
///
/// The [`AuthError`] that says why the request must be refused.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: u64,
) -> Result<(), AuthError> {
    let timestamp = timestamp.ok_or(AuthError::Missing(TIMESTAMP_HEADER))?;
    let signature = signature.ok_or(AuthError::Missing(SIGNATURE_HEADER))?;
    let timestamp: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| AuthError::Malformed(TIMESTAMP_HEADER))?;
    let tag = parse_hex(signature.trim()).ok_or(AuthError::Malformed(SIGNATURE_HEADER))?;
    // The signature first, so that a forger learns nothing from the clock check.
    mac(secret, timestamp, body)?
        .verify_slice(&tag)
        .map_err(|_| AuthError::BadSignature)?;
    if timestamp.abs_diff(now) > MAX_SKEW_S {
        return Err(AuthError::Stale { timestamp, now });
    }
    Ok(())
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a test secret of thirty-two bytes";
    const NOW: u64 = 1_800_000_000;

    fn check(
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), AuthError> {
        verify(SECRET, timestamp, signature, body, NOW)
    }

    #[test]
    fn a_signed_request_passes() {
        let sig = sign(SECRET, NOW - 10, b"body").unwrap();
        assert_eq!(sig.len(), 64);
        assert_eq!(
            check(Some(&(NOW - 10).to_string()), Some(&sig), b"body"),
            Ok(())
        );
    }

    #[test]
    fn known_answer() {
        // HMAC-SHA256 of "flick-task-v1\n1\n" under 32 bytes of 0x0b, computed independently
        // (Python's hmac module).
        let sig = sign(&[0x0b; 32], 1, b"").unwrap();
        assert_eq!(
            sig,
            "00b772819f5f094249b30f998a96dbac056ffa194bbe774a698f7d5e27e443eb"
        );
    }

    #[test]
    fn every_defect_is_named() {
        let ts = NOW.to_string();
        let sig = sign(SECRET, NOW, b"body").unwrap();
        assert_eq!(
            check(None, Some(&sig), b"body"),
            Err(AuthError::Missing(TIMESTAMP_HEADER))
        );
        assert_eq!(
            check(Some(&ts), None, b"body"),
            Err(AuthError::Missing(SIGNATURE_HEADER))
        );
        assert_eq!(
            check(Some("soon"), Some(&sig), b"body"),
            Err(AuthError::Malformed(TIMESTAMP_HEADER))
        );
        assert_eq!(
            check(Some(&ts), Some("abc"), b"body"),
            Err(AuthError::Malformed(SIGNATURE_HEADER))
        );
        assert_eq!(
            check(Some(&ts), Some(&sig), b"other body"),
            Err(AuthError::BadSignature)
        );
        let other = sign(b"another secret, also thirty-two bytes", NOW, b"body").unwrap();
        assert_eq!(
            check(Some(&ts), Some(&other), b"body"),
            Err(AuthError::BadSignature)
        );
        let old = NOW - MAX_SKEW_S - 1;
        let old_sig = sign(SECRET, old, b"body").unwrap();
        assert_eq!(
            check(Some(&old.to_string()), Some(&old_sig), b"body"),
            Err(AuthError::Stale {
                timestamp: old,
                now: NOW
            })
        );
        assert_eq!(sign(b"short", NOW, b""), Err(AuthError::WeakSecret(5)));
    }
}
