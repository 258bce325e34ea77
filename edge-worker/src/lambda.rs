//! What a Lambda invocation carries: JSON, since that is what the Invoke API takes and gives,
//! with the wire bytes ([`crate::wire`]) in base64. The orchestrator's lambda backend sends an
//! [`Invocation`]; the function (worker-lambda) answers an [`InvocationResult`]. A task that
//! fails is still a result: its error is inside the response bytes.
//!
//! The function keeps its blobs in the store that [`STORE_ENV`] names, and refuses a request
//! made for another store, so a misconfigured run fails at its first task with both names
//! rather than with a missing blob.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The function's blob store, `s3://BUCKET[/PREFIX]`.
pub const STORE_ENV: &str = "FLICK_STORE";
/// The S3 server, when it is not AWS's (a local one, for tests).
pub const S3_ENDPOINT_ENV: &str = "FLICK_S3_ENDPOINT";

/// One task for the function: the request bytes, and the store the orchestrator put the
/// named blobs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invocation {
    pub store: String,
    #[serde(with = "base64_bytes")]
    pub request: Vec<u8>,
}

/// The function's answer: the response bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvocationResult {
    #[serde(with = "base64_bytes")]
    pub response: Vec<u8>,
}

mod base64_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|error| serde::de::Error::custom(format!("not base64: {error}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_json() {
        let invocation = Invocation {
            store: "s3://bucket/run".into(),
            request: vec![0, 1, 2, 255],
        };
        let json = serde_json::to_string(&invocation).unwrap();
        assert_eq!(json, r#"{"store":"s3://bucket/run","request":"AAEC/w=="}"#);
        assert_eq!(
            serde_json::from_str::<Invocation>(&json).unwrap(),
            invocation
        );
        let bad = serde_json::from_str::<InvocationResult>(r#"{"response":"*"}"#);
        assert!(bad.unwrap_err().to_string().contains("not base64"));
    }
}
