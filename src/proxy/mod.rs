//! The HTTP surface (axum on hyper 1): OpenAI-compatible routes, health, metrics, admin; the
//! request pipeline; and the one error-to-response mapping. Uses every module to its left.

mod body;
mod cache_stage;
mod compress_stage;
mod ctx;
mod embeddings;
mod envelope;
mod error;
mod handlers;
mod pipeline;
mod sse;
mod stream;
mod tasks;

pub use error::{ErrorKind, ProxyError};
pub use handlers::router;
pub use pipeline::{Pipeline, PipelineParts};
