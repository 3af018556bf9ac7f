//! Serving threads: one single-threaded Tokio runtime per worker, each with its own listener
//! (`SO_REUSEPORT`) and its own upstream connection pools, so a request is read, forwarded,
//! answered and logged on one thread with no hand-off between threads. A work-stealing runtime
//! spent about a third more CPU per request here, mostly waking and synchronising threads.
//!
//! A worker that just handled an event keeps polling for the next one for a short, bounded
//! window (`spin`) before it sleeps: waking a sleeping thread costs tens of microseconds on a
//! virtual machine, more than the gateway's own work on a request.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
// The spin window is real CPU time on a runtime this module builds (never a paused test clock).
use std::time::Duration;
#[allow(clippy::disallowed_types)]
use std::time::Instant;

use tokio::sync::Notify;

thread_local! {
    /// Index of the serving worker that owns this thread (0 on any other thread).
    static WORKER: Cell<usize> = const { Cell::new(0) };
    /// Bumped on every request start and end, and whenever the worker wakes from sleep.
    static ACTIVITY: Cell<u64> = const { Cell::new(0) };
}

/// Number of serving workers; per-worker resources are sized by it.
static SLOTS: AtomicUsize = AtomicUsize::new(0);

/// How many per-worker slots resources should have: the configured worker count once the
/// server set it, else one per CPU.
pub fn slots() -> usize {
    match SLOTS.load(Ordering::Relaxed) {
        0 => default_workers(),
        n => n,
    }
}

/// Sets how many serving workers there will be, before per-worker resources are built.
pub fn set_slots(count: usize) {
    SLOTS.store(count.max(1), Ordering::Relaxed);
}

/// One worker per CPU.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Index of the current thread's worker (0 outside the serving workers).
pub fn worker_index() -> usize {
    WORKER.with(Cell::get)
}

/// Tells this worker's spinner that something happened, so it keeps polling a little longer.
pub fn touch() {
    ACTIVITY.with(|a| a.set(a.get().wrapping_add(1)));
}

fn activity() -> u64 {
    ACTIVITY.with(Cell::get)
}

/// A running worker thread; `join` waits for its future to finish.
pub struct Worker {
    done: tokio::sync::oneshot::Receiver<()>,
    index: usize,
}

impl Worker {
    /// Waits until the worker's future has finished and its runtime is gone.
    ///
    /// # Errors
    /// When the worker thread panicked.
    pub async fn join(self) -> Result<(), String> {
        self.done
            .await
            .map_err(|_| format!("serving worker {} stopped abnormally", self.index))
    }
}

/// Starts `count` worker threads, each running `make(index)` on its own current-thread runtime
/// with the spinner set to `spin` (zero: sleep at once). Sets `slots()` to `count`.
///
/// # Errors
/// When a thread or a runtime cannot be created.
pub fn start_workers<F, Fut>(count: usize, spin: Duration, make: F) -> std::io::Result<Vec<Worker>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    set_slots(count);
    let make = Arc::new(make);
    let mut workers = Vec::with_capacity(count);
    for index in 0..count.max(1) {
        let (tx, done) = tokio::sync::oneshot::channel();
        let make = Arc::clone(&make);
        let wake = Arc::new(Notify::new());
        let on_wake = Arc::clone(&wake);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .on_thread_unpark(move || {
                touch();
                on_wake.notify_one();
            })
            .build()?;
        std::thread::Builder::new()
            .name(format!("purser-worker-{index}"))
            .spawn(move || {
                WORKER.with(|w| w.set(index));
                rt.block_on(async move {
                    if !spin.is_zero() {
                        tokio::spawn(spinner(spin, wake));
                    }
                    tokio::spawn(early_timer());
                    make(index).await;
                });
                // Dropping the runtime here cancels what is left (the spinner).
                drop(rt);
                let _ = tx.send(());
            })?;
        workers.push(Worker { done, index });
    }
    Ok(workers)
}

/// Keeps a timer due within half a second registered at all times. Tokio's timer wakes its
/// driver (an eventfd write, then an extra poll) whenever a new timer is due sooner than every
/// registered one, which, with no such timer, is every request's first timeout.
async fn early_timer() {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Polls the runtime (each `yield_now` makes it check sockets and timers without sleeping)
/// until `window` has passed with no activity, then waits for the next wake-up.
#[allow(clippy::disallowed_types)] // see the `Instant` import
async fn spinner(window: Duration, wake: Arc<Notify>) {
    loop {
        let mut seen = activity();
        let mut last = Instant::now();
        loop {
            tokio::task::yield_now().await;
            // Give the CPU to any other runnable thread first: the peer this worker waits
            // for (a client, the upstream) is often woken on this same CPU, and a spinner
            // that keeps it off the CPU adds the very delay the spin is meant to remove
            // (seen with `perf sched`: a mock runnable for 90 µs behind a spinning worker).
            // With nothing else runnable, `sched_yield` returns at once.
            std::thread::yield_now();
            let now_seen = activity();
            if now_seen != seen {
                seen = now_seen;
                last = Instant::now();
            } else if last.elapsed() >= window {
                break;
            }
        }
        wake.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn workers_run_on_their_own_threads_with_their_index() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let workers = start_workers(3, Duration::from_micros(20), move |i| {
            let tx = tx.clone();
            async move {
                // Let the spinner run too: the future must still complete.
                tokio::time::sleep(Duration::from_millis(2)).await;
                let _ = tx.send((
                    i,
                    worker_index(),
                    std::thread::current().name().map(str::to_owned),
                ));
            }
        })
        .unwrap_or_else(|e| panic!("{e}"));
        for w in workers {
            assert_eq!(w.join().await, Ok(()));
        }
        let mut seen = Vec::new();
        while let Ok(x) = rx.try_recv() {
            seen.push(x);
        }
        seen.sort();
        assert_eq!(
            seen,
            (0..3)
                .map(|i| (i, i, Some(format!("purser-worker-{i}"))))
                .collect::<Vec<_>>()
        );
        assert_eq!(slots(), 3);
    }
}
