//! `--inject-faults P`: any backend, made to fail as function platforms fail. Each attempt
//! fails with probability `P`, in one of four ways: the worker errors before answering, the
//! response comes back damaged, the worker hangs past the task's deadline, or the connection
//! drops mid-response (the work was done, the answer is lost). Whether and how an attempt
//! fails is drawn from the seed (`--fault-seed`), the request's hash and the attempt's number,
//! so a run's faults are the same however its tasks are scheduled.
//!
//! The scheduler sees these faults as it sees real ones: transport errors, a response that does
//! not verify (every message ends with a checksum), and timeouts; it tries again, and the
//! output must be the bytes of a clean run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use edge_worker::BlobId;
use futures::future::BoxFuture;

use super::{Backend, TransportError};

/// The ways an attempt is made to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The worker fails before answering.
    WorkerError,
    /// The response comes back with a byte changed.
    Corrupt,
    /// The worker never answers: the task's deadline ends the attempt.
    Hang,
    /// The worker did the work, and the connection dropped before its answer came back.
    Dropped,
}

/// How often attempts fail, and the seed that decides which.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaultPlan {
    /// The probability that an attempt fails, in [0, 1).
    pub probability: f64,
    pub seed: u64,
}

/// A backend whose attempts fail as [`FaultPlan`] says.
pub struct FaultyBackend {
    inner: Arc<dyn Backend>,
    plan: FaultPlan,
    /// Attempts made so far of each request, by its hash.
    attempts: Mutex<HashMap<BlobId, u32>>,
}

impl FaultyBackend {
    pub fn new(inner: Arc<dyn Backend>, plan: FaultPlan) -> FaultyBackend {
        FaultyBackend {
            inner,
            plan,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this attempt of `request` fails, how, and a number to place damage with.
    fn draw(&self, request: &[u8]) -> Option<(Fault, u64)> {
        let id = BlobId::of(request);
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
            let attempt = attempts.entry(id).or_insert(0);
            *attempt += 1;
            *attempt
        };
        let mut drawn = b"flick-fault\n".to_vec();
        drawn.extend_from_slice(&self.plan.seed.to_le_bytes());
        drawn.extend_from_slice(id.as_bytes());
        drawn.extend_from_slice(&attempt.to_le_bytes());
        let digest = BlobId::of(&drawn).0;
        let word = |at: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&digest[at..at + 8]);
            u64::from_le_bytes(bytes)
        };
        // 53 random bits as a number in [0, 1).
        let uniform = (word(0) >> 11) as f64 / (1u64 << 53) as f64;
        if uniform >= self.plan.probability {
            return None;
        }
        let fault = match word(8) % 4 {
            0 => Fault::WorkerError,
            1 => Fault::Corrupt,
            2 => Fault::Hang,
            _ => Fault::Dropped,
        };
        Some((fault, word(16)))
    }

    async fn call_with_faults(&self, request: Bytes) -> Result<Bytes, TransportError> {
        let Some((fault, place)) = self.draw(&request) else {
            return self.inner.call(request).await;
        };
        match fault {
            Fault::WorkerError => Err(TransportError(
                "injected fault: the worker failed before answering".to_owned(),
            )),
            Fault::Hang => futures::future::pending().await,
            Fault::Dropped => {
                self.inner.call(request).await?;
                Err(TransportError(
                    "injected fault: the connection dropped mid-response".to_owned(),
                ))
            }
            Fault::Corrupt => {
                let mut response = self.inner.call(request).await?.to_vec();
                if !response.is_empty() {
                    let at = (place % response.len() as u64) as usize;
                    // Any change of one byte, never none.
                    response[at] ^= 1 << (place >> 61);
                }
                Ok(Bytes::from(response))
            }
        }
    }
}

impl Backend for FaultyBackend {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn reaches_store(&self) -> bool {
        self.inner.reaches_store()
    }

    fn workers_vary(&self) -> bool {
        self.inner.workers_vary()
    }

    fn call(&self, request: Bytes) -> BoxFuture<'_, Result<Bytes, TransportError>> {
        Box::pin(self.call_with_faults(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl Backend for Echo {
        fn name(&self) -> &'static str {
            "echo"
        }
        fn reaches_store(&self) -> bool {
            false
        }
        fn call(&self, request: Bytes) -> BoxFuture<'_, Result<Bytes, TransportError>> {
            Box::pin(async move { Ok(request) })
        }
    }

    fn faulty(probability: f64, seed: u64) -> FaultyBackend {
        FaultyBackend::new(Arc::new(Echo), FaultPlan { probability, seed })
    }

    #[test]
    fn faults_come_at_the_rate_asked_in_every_kind_and_the_same_for_a_seed() {
        let requests: Vec<Vec<u8>> = (0..4000u32).map(|n| n.to_le_bytes().to_vec()).collect();
        let draws = |backend: &FaultyBackend| -> Vec<Option<Fault>> {
            requests
                .iter()
                .map(|r| backend.draw(r).map(|(f, _)| f))
                .collect()
        };
        let first = draws(&faulty(0.2, 7));
        let failed = first.iter().flatten().count();
        assert!((700..900).contains(&failed), "{failed} of 4000 at 0.2");
        for kind in [
            Fault::WorkerError,
            Fault::Corrupt,
            Fault::Hang,
            Fault::Dropped,
        ] {
            let n = first.iter().filter(|f| **f == Some(kind)).count();
            assert!(n > 120, "{kind:?}: {n}");
        }
        assert_eq!(
            draws(&faulty(0.2, 7)),
            first,
            "the same seed, the same faults"
        );
        assert_ne!(draws(&faulty(0.2, 8)), first, "another seed, other faults");
        assert!(draws(&faulty(0.0, 7)).iter().all(Option::is_none));
        // A second attempt of the same request draws anew.
        let again = faulty(0.2, 7);
        let _ = draws(&again);
        assert_ne!(draws(&again), first);
    }

    #[tokio::test]
    async fn each_fault_fails_the_attempt_its_own_way() {
        // Find a request that draws each kind, and call it.
        let backend = faulty(0.999, 1);
        let mut seen = Vec::new();
        for n in 0..200u32 {
            let request = Bytes::from(n.to_le_bytes().repeat(8));
            let probe = faulty(0.999, 1);
            let Some((kind, _)) = probe.draw(&request) else {
                continue;
            };
            if seen.contains(&kind) {
                continue;
            }
            seen.push(kind);
            let call = backend.call(request.clone());
            let result = tokio::time::timeout(std::time::Duration::from_millis(50), call).await;
            match kind {
                Fault::Hang => assert!(result.is_err(), "a hang never answers"),
                Fault::Corrupt => {
                    let response = result.unwrap().unwrap();
                    assert_eq!(response.len(), request.len());
                    assert_ne!(response, request, "one byte changed");
                }
                Fault::WorkerError | Fault::Dropped => {
                    assert!(result.unwrap().unwrap_err().0.contains("injected fault"));
                }
            }
            if seen.len() == 4 {
                break;
            }
        }
        assert_eq!(seen.len(), 4, "every kind drawn");
    }
}
