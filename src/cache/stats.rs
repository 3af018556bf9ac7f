//! Hit/miss/saving counters and the statistics snapshot served at the admin route.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde::Serialize;

use super::key::Namespace;
use super::redis_tier::RedisStatus;
use crate::types::{MicroUsd, WorkflowId};

/// Statistics of one workflow's chat answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WorkflowStats {
    /// Live entries in the in-process tier (all namespaces).
    pub entries: u64,
    /// Their weight in bytes.
    pub bytes: u64,
    /// Lookups answered from either tier.
    pub hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// `hits / (hits + misses)`, 0 when there were no lookups.
    pub hit_ratio: f64,
    /// Answers stored.
    pub stores: u64,
    /// Sum of the original cost of every hit: what the cache saved.
    pub saved_micro_usd: MicroUsd,
}

/// Lookups of one intermediate-result namespace (embeddings, summaries, retrieval).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NamespaceStats {
    /// Lookups answered.
    pub hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// Values stored.
    pub stores: u64,
}

/// A snapshot of the whole cache, for the admin route and metrics export.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheStats {
    /// Live entries in the in-process tier.
    pub entries: u64,
    /// Their total weight in bytes (bounded by `max_bytes`).
    pub bytes: u64,
    /// Chat lookups answered, all workflows.
    pub hits: u64,
    /// Chat lookups that found nothing, all workflows.
    pub misses: u64,
    /// Overall chat hit ratio.
    pub hit_ratio: f64,
    /// Overall saving.
    pub saved_micro_usd: MicroUsd,
    /// Health of the Redis tier.
    pub redis_status: RedisStatus,
    /// Redis operations that failed or timed out since start.
    pub redis_errors_total: u64,
    /// Per workflow.
    pub workflows: BTreeMap<WorkflowId, WorkflowStats>,
    /// Per intermediate-result namespace (`emb`, `sum`, `ret`).
    pub namespaces: BTreeMap<&'static str, NamespaceStats>,
}

/// Thread-safe counters. Locks are held for a few increments and never across `.await`.
#[derive(Default)]
pub(crate) struct Counters {
    workflows: Mutex<HashMap<WorkflowId, WorkflowStats>>,
    namespaces: Mutex<HashMap<Namespace, NamespaceStats>>,
}

/// One counted event.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event {
    Hit(MicroUsd),
    Miss,
    Store,
}

// ---- Counters ----

impl Counters {
    pub(crate) fn record(&self, workflow: &WorkflowId, namespace: Namespace, event: Event) {
        if namespace != Namespace::Chat {
            let mut map = self.namespaces.lock().unwrap_or_else(|p| p.into_inner());
            let s = map.entry(namespace).or_default();
            match event {
                Event::Hit(_) => s.hits += 1,
                Event::Miss => s.misses += 1,
                Event::Store => s.stores += 1,
            }
            return;
        }
        let mut map = self.workflows.lock().unwrap_or_else(|p| p.into_inner());
        let s = match map.get_mut(workflow) {
            Some(s) => s,
            None => map.entry(workflow.clone()).or_default(),
        };
        match event {
            Event::Hit(saved) => {
                s.hits += 1;
                s.saved_micro_usd = s.saved_micro_usd.saturating_add(saved);
            }
            Event::Miss => s.misses += 1,
            Event::Store => s.stores += 1,
        }
    }

    /// Counter snapshot per workflow and namespace (entries/bytes left at 0 for the caller).
    pub(crate) fn snapshot(
        &self,
    ) -> (
        BTreeMap<WorkflowId, WorkflowStats>,
        BTreeMap<&'static str, NamespaceStats>,
    ) {
        let wf = self.workflows.lock().unwrap_or_else(|p| p.into_inner());
        let workflows = wf.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        drop(wf);
        let ns = self.namespaces.lock().unwrap_or_else(|p| p.into_inner());
        let namespaces = ns.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        (workflows, namespaces)
    }
}

/// `hits / (hits + misses)`, 0 without lookups.
pub(crate) fn ratio(hits: u64, misses: u64) -> f64 {
    let total = hits.saturating_add(misses);
    if total == 0 {
        0.0
    } else {
        hits as f64 / total as f64
    }
}
