//! The HTTP surface (axum on hyper 1): OpenAI-compatible routes, health, metrics, admin; the
//! request pipeline; and the one error-to-response mapping. Uses every module to its left.

mod admin;
mod body;
mod cache_stage;
mod compress_stage;
mod ctx;
mod embeddings;
mod envelope;
mod error;
mod handlers;
mod pipeline;
mod reports;
mod route_stage;
mod sse;
mod stream;
mod tasks;

pub use admin::KillSwitches;
pub use error::{ErrorKind, ProxyError};
pub use handlers::router;
pub use pipeline::{Pipeline, PipelineParts};
