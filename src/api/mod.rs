//! OpenAI wire types: chat request/response, stream chunks, usage, embeddings, error body.
//! Owns (de)serialisation and field validation only; no I/O. Uses `types`.

mod chat;
mod error;
mod stream;

pub use chat::{
    ChatChoice, ChatCompletion, ChatRequest, Content, Message, RawBody, ResponseFormat, Role,
    StreamOptions, ToolCall, ToolCallFunction, Usage, ValidationError,
};
pub use error::{ErrorBody, ErrorDetail};
pub use stream::{ChatChunk, ChunkChoice, Delta, DeltaToolCall, DeltaToolCallFunction};
