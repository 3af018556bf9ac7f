//! Per-upstream circuit breaker: closed → open after N consecutive failures → half-open after
//! the cooldown, letting exactly one probe through. Uses Tokio's clock so tests can pause time.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::upstream::{BreakerSettings, FailureKind};

/// A circuit breaker shared by all calls to one upstream.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<Inner>,
}

/// The breaker's state as seen now (for metrics and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused until the cooldown ends.
    Open,
    /// The cooldown ended: the next call is the probe.
    HalfOpen,
}

/// Permission to make one call; report its outcome with `record`. Dropping it unrecorded
/// (cancelled call) frees the probe slot without changing the state.
#[derive(Debug)]
pub struct BreakerPermit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    recorded: bool,
}

#[derive(Debug, Clone, Copy)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

// ---- CircuitBreaker
impl CircuitBreaker {
    /// A closed breaker that opens after `threshold` consecutive failures (at least 1) and
    /// stays open for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    /// A breaker from settings.
    pub fn from_settings(s: BreakerSettings) -> Self {
        Self::new(s.failure_threshold, s.cooldown)
    }

    /// Whether a failure of this kind says the upstream is unhealthy. A client error means the
    /// upstream answered sanely, so it counts as a success.
    pub fn is_health_failure(kind: FailureKind) -> bool {
        !matches!(kind, FailureKind::ClientError | FailureKind::CircuitOpen)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update of a Copy enum;
        // the value is still a valid state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current state (an expired open state reads as half-open).
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if Instant::now() < until => BreakerState::Open,
            Inner::Open { .. } | Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Asks to make a call. `None` while open, or while half-open with the probe in flight.
    pub fn try_acquire(&self) -> Option<BreakerPermit<'_>> {
        let mut st = self.lock();
        let probe = match *st {
            Inner::Closed { .. } => false,
            Inner::Open { until } if Instant::now() < until => return None,
            Inner::Open { .. } | Inner::HalfOpen { probing: false } => {
                *st = Inner::HalfOpen { probing: true };
                true
            }
            Inner::HalfOpen { probing: true } => return None,
        };
        Some(BreakerPermit {
            breaker: self,
            probe,
            recorded: false,
        })
    }

    /// Records a success outside a permit (e.g. a stream that finished): closes the breaker.
    pub fn record_success(&self) {
        *self.lock() = Inner::Closed { failures: 0 };
    }

    /// Records a health failure outside a permit (e.g. a stream cut after its first chunk).
    pub fn record_failure(&self) {
        let mut st = self.lock();
        let open = Inner::Open {
            until: Instant::now() + self.cooldown,
        };
        *st = match *st {
            Inner::Closed { failures } if failures + 1 < self.threshold => Inner::Closed {
                failures: failures + 1,
            },
            Inner::Closed { .. } | Inner::HalfOpen { .. } => open,
            // Already open: keep the original deadline.
            s @ Inner::Open { .. } => s,
        };
    }
}

// ---- BreakerPermit
impl BreakerPermit<'_> {
    /// Whether this call is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// Reports the call's outcome: `Err(kind)` counts only health failures.
    pub fn record(mut self, outcome: Result<(), FailureKind>) {
        self.recorded = true;
        match outcome {
            Err(kind) if CircuitBreaker::is_health_failure(kind) => self.breaker.record_failure(),
            _ => self.breaker.record_success(),
        }
    }
}

impl Drop for BreakerPermit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.recorded {
            let mut st = self.breaker.lock();
            if let Inner::HalfOpen { probing: true } = *st {
                *st = Inner::HalfOpen { probing: false };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(b: &CircuitBreaker) {
        b.try_acquire()
            .unwrap()
            .record(Err(FailureKind::ServerError));
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_and_probes_after_cooldown() {
        let b = CircuitBreaker::new(3, Duration::from_secs(30));
        fail(&b);
        fail(&b);
        assert_eq!(b.state(), BreakerState::Closed);
        fail(&b);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.try_acquire().is_none());

        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(b.try_acquire().is_none());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let probe = b.try_acquire().unwrap();
        assert!(probe.is_probe());
        // Only one probe at a time.
        assert!(b.try_acquire().is_none());
        probe.record(Ok(()));
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(!b.try_acquire().unwrap().is_probe());
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probe_reopens_for_a_full_cooldown() {
        let b = CircuitBreaker::new(1, Duration::from_secs(10));
        fail(&b);
        tokio::time::advance(Duration::from_secs(10)).await;
        fail(&b);
        assert_eq!(b.state(), BreakerState::Open);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(b.state(), BreakerState::Open);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    #[tokio::test(start_paused = true)]
    async fn success_resets_the_failure_count_and_client_errors_do_not_count() {
        let b = CircuitBreaker::new(2, Duration::from_secs(10));
        fail(&b);
        b.try_acquire().unwrap().record(Ok(()));
        fail(&b);
        for _ in 0..5 {
            b.try_acquire()
                .unwrap()
                .record(Err(FailureKind::ClientError));
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_probe_frees_the_slot() {
        let b = CircuitBreaker::new(1, Duration::from_secs(1));
        fail(&b);
        tokio::time::advance(Duration::from_secs(1)).await;
        drop(b.try_acquire().unwrap());
        assert!(b.try_acquire().unwrap().is_probe());
    }
}
