//! The shared Redis tier: lazy connection, short timeouts, a circuit breaker, error count.
//!
//! Every operation is bounded by `redis_timeout`; any error or timeout counts in
//! `errors_total` and opens the breaker for `BREAKER_OPEN`, during which operations are
//! skipped (cache misses) without touching the network. Reconnects run in a background task,
//! never on a request.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Error;
use super::settings::RedisUrl;

/// How long the breaker stays open after a failure.
const BREAKER_OPEN: Duration = Duration::from_secs(1);
/// Floor of connection attempts (a TCP connect on a LAN can exceed a 50 ms op budget).
const MIN_CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
/// Keys per SCAN step and per UNLINK batch when purging.
const SCAN_COUNT: usize = 500;

/// Health of the Redis tier, for the admin route and a metrics gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisStatus {
    /// `mode` is not `redis`.
    Disabled,
    /// Connected and the last operation succeeded.
    Connected,
    /// Not connected, or a recent failure opened the breaker: lookups miss.
    Degraded,
}

struct Shared {
    client: redis::Client,
    conn: ArcSwapOption<ConnectionManager>,
    op_timeout: Duration,
    connect_timeout: Duration,
    errors: AtomicU64,
    connecting: AtomicBool,
    open_until: Mutex<Option<Instant>>,
}

/// The Redis tier. Dropping it stops its reconnect task.
pub(crate) struct RedisTier {
    shared: Arc<Shared>,
    reconnect: Mutex<Option<JoinHandle<()>>>,
}

// ---- RedisTier ----

impl RedisTier {
    /// Builds the tier and tries one connection (bounded); failure leaves it degraded, and
    /// later operations start background reconnects. Errors only on a malformed URL.
    pub(crate) async fn connect(url: &RedisUrl, op_timeout: Duration) -> Result<RedisTier, Error> {
        let client = redis::Client::open(url.expose()).map_err(|e| Error::Redis {
            kind: format!("{:?}", e.kind()),
        })?;
        let shared = Arc::new(Shared {
            client,
            conn: ArcSwapOption::empty(),
            op_timeout,
            connect_timeout: op_timeout.max(MIN_CONNECT_TIMEOUT),
            errors: AtomicU64::new(0),
            connecting: AtomicBool::new(false),
            open_until: Mutex::new(None),
        });
        shared.try_connect().await;
        Ok(RedisTier {
            shared,
            reconnect: Mutex::new(None),
        })
    }

    pub(crate) fn errors_total(&self) -> u64 {
        self.shared.errors.load(Ordering::Relaxed)
    }

    pub(crate) fn status(&self) -> RedisStatus {
        if self.shared.conn.load().is_some() && !self.shared.breaker_open() {
            RedisStatus::Connected
        } else {
            RedisStatus::Degraded
        }
    }

    /// GET and PTTL in one round trip: the value and its remaining TTL (`None` on a miss,
    /// an error or while degraded).
    pub(crate) async fn get(&self, key: &str) -> Option<(Vec<u8>, Duration)> {
        let mut conn = self.conn_for_op()?;
        let mut pipe = redis::pipe();
        pipe.get(key).cmd("PTTL").arg(key);
        let res: Option<(Option<Vec<u8>>, i64)> = self.run(pipe.query_async(&mut conn)).await;
        match res? {
            (Some(v), ttl_ms) if ttl_ms > 0 => {
                Some((v, Duration::from_millis(ttl_ms.unsigned_abs())))
            }
            _ => None,
        }
    }

    /// SET with PX; returns whether it was written.
    pub(crate) async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> bool {
        let Some(mut conn) = self.conn_for_op() else {
            return false;
        };
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value).arg("PX").arg(ms);
        let res: Option<()> = self.run(cmd.query_async(&mut conn)).await;
        res.is_some()
    }

    /// Deletes every key matching a glob pattern with SCAN + UNLINK; returns the count.
    /// Each step has its own timeout; an error stops the purge (`Err` with what was done).
    pub(crate) async fn purge(&self, pattern: &str) -> Result<u64, u64> {
        let Some(mut conn) = self.shared.conn.load_full().map(|c| (*c).clone()) else {
            return Err(0);
        };
        let step = self.shared.op_timeout.max(Duration::from_secs(1));
        let (mut cursor, mut removed) = (0u64, 0u64);
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT);
            let res =
                tokio::time::timeout(step, scan.query_async::<(u64, Vec<String>)>(&mut conn)).await;
            let Ok(Ok((next, keys))) = res else {
                self.shared.note_error();
                return Err(removed);
            };
            if !keys.is_empty() {
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(&keys);
                match tokio::time::timeout(step, unlink.query_async::<u64>(&mut conn)).await {
                    Ok(Ok(n)) => removed += n,
                    _ => {
                        self.shared.note_error();
                        return Err(removed);
                    }
                }
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    /// A connection handle for one operation, or `None` (miss) while degraded. Starts a
    /// background reconnect when there is no connection and the breaker is closed.
    fn conn_for_op(&self) -> Option<ConnectionManager> {
        if self.shared.breaker_open() {
            return None;
        }
        if let Some(c) = self.shared.conn.load_full() {
            return Some((*c).clone());
        }
        self.spawn_reconnect();
        None
    }

    fn spawn_reconnect(&self) {
        if self.shared.connecting.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let handle = tokio::spawn(async move { shared.try_connect().await });
        let mut slot = self.reconnect.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = slot.replace(handle) {
            old.abort();
        }
    }

    /// Runs one command future under the op timeout; errors count and open the breaker.
    async fn run<T>(&self, fut: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        match tokio::time::timeout(self.shared.op_timeout, fut).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(_)) | Err(_) => {
                self.shared.note_error();
                None
            }
        }
    }
}

impl Drop for RedisTier {
    fn drop(&mut self) {
        let mut slot = self.reconnect.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = slot.take() {
            h.abort();
        }
    }
}

// ---- Shared ----

impl Shared {
    async fn try_connect(&self) {
        self.connecting.store(true, Ordering::Release);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.connect_timeout)
            .set_response_timeout(self.op_timeout)
            .set_number_of_retries(1)
            .set_max_delay(100);
        let attempt = ConnectionManager::new_with_config(self.client.clone(), config);
        match tokio::time::timeout(self.connect_timeout * 2, attempt).await {
            Ok(Ok(cm)) => self.conn.store(Some(Arc::new(cm))),
            Ok(Err(_)) | Err(_) => self.note_error(),
        }
        self.connecting.store(false, Ordering::Release);
    }

    fn note_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut open = self.open_until.lock().unwrap_or_else(|p| p.into_inner());
        *open = Some(Instant::now() + BREAKER_OPEN);
    }

    fn breaker_open(&self) -> bool {
        let open = self.open_until.lock().unwrap_or_else(|p| p.into_inner());
        open.is_some_and(|until| Instant::now() < until)
    }
}
