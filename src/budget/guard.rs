//! `ReservationGuard`: owns a reservation for the life of a request so that a client disconnect
//! (the handler future is dropped) or an early return never leaks reserved money, and cost
//! already incurred on a cut stream is still recorded.

use std::sync::Arc;

use super::reservation::{Reservation, ThresholdCrossed};
use super::{BudgetStore, StoreError};
use crate::types::MicroUsd;

/// Settles or releases its reservation exactly once. Dropped without either, it settles with
/// the cost recorded by `set_incurred` (releases when that is zero): inline for `MemoryStore`,
/// on a spawned Tokio task for `RedisStore`. If no Tokio runtime is running at drop, the Redis
/// reservation's lease (`reservation_ttl`) frees the money instead (and the incurred cost is
/// lost from the budget; it is logged).
pub struct ReservationGuard {
    store: Arc<dyn BudgetStore>,
    reservation: Option<Reservation>,
    incurred: MicroUsd,
}

impl ReservationGuard {
    /// Guards `reservation`, which must come from `store`.
    pub fn new(store: Arc<dyn BudgetStore>, reservation: Reservation) -> Self {
        Self {
            store,
            reservation: Some(reservation),
            incurred: MicroUsd::ZERO,
        }
    }

    /// The guarded reservation (always `Some` until settle/release consume the guard).
    pub fn reservation(&self) -> Option<&Reservation> {
        self.reservation.as_ref()
    }

    /// Mutable access, e.g. to take the thresholds crossed at reserve time.
    pub fn reservation_mut(&mut self) -> Option<&mut Reservation> {
        self.reservation.as_mut()
    }

    /// Records the cost incurred so far (e.g. input plus output tokens streamed before a cut);
    /// a drop settles with it. Call as chunks pass; the last value wins.
    pub fn set_incurred(&mut self, cost: MicroUsd) {
        self.incurred = MicroUsd(cost.0.max(0));
    }

    /// Settles with the actual cost; returns newly crossed thresholds.
    ///
    /// # Errors
    /// `StoreError` from the store (Redis then frees the reservation when its lease ends).
    pub async fn settle(mut self, actual: MicroUsd) -> Result<Vec<ThresholdCrossed>, StoreError> {
        match self.reservation.take() {
            Some(r) => self.store.settle(r, actual).await,
            None => Ok(Vec::new()),
        }
    }

    /// Releases the reservation unspent.
    ///
    /// # Errors
    /// `StoreError` from the store.
    pub async fn release(mut self) -> Result<(), StoreError> {
        match self.reservation.take() {
            Some(r) => self.store.release(r).await,
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for ReservationGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReservationGuard")
            .field("reservation", &self.reservation)
            .field("incurred", &self.incurred)
            .finish_non_exhaustive()
    }
}

impl Drop for ReservationGuard {
    fn drop(&mut self) {
        let Some(r) = self.reservation.take() else {
            return;
        };
        let incurred = self.incurred;
        let Some(r) = self.store.finish_now(r, incurred) else {
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(reservation = %r.id(), incurred = incurred.0,
                "no runtime at drop; reservation lease will expire it");
            return;
        };
        let store = Arc::clone(&self.store);
        // Short-lived (bounded by the store's timeout); nothing to join at shutdown because an
        // unfinished release is covered by the reservation lease.
        handle.spawn(async move {
            let id = r.id().to_owned();
            let done = if incurred.0 > 0 {
                store.settle(r, incurred).await.map(|_| ())
            } else {
                store.release(r).await
            };
            if let Err(e) = done {
                tracing::warn!(reservation = %id, error = %e, "finishing on drop failed; lease will expire it");
            }
        });
    }
}
