//! Purser: an OpenAI-compatible LLM gateway that routes each request to the cheapest good-enough
//! model, compresses context, caches safe repeats, enforces per-workflow cost envelopes and writes
//! an append-only, hash-chained ledger of every decision.
//!
//! Module dependencies point one way (see `tests/architecture.rs`):
//! {`types`, `runtime`} → `api` → `tokenizer` → `pii` → `metrics` → {`pricing`, `ledger`, `cache`, `compress`, `upstream`}
//! → {`budget`, `router`} → {`report`, `alert`} → `config` → `proxy` → `app` → `main`.

pub mod alert;
pub mod api;
pub mod app;
pub mod budget;
pub mod cache;
pub mod compress;
pub mod config;
pub mod ledger;
pub mod metrics;
pub mod pii;
pub mod pricing;
pub mod proxy;
pub mod report;
pub mod router;
pub mod runtime;
pub mod tokenizer;
pub mod types;
pub mod upstream;
