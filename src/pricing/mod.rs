//! Price tables: USD per 1M input, cached-input and output tokens per provider and model, each
//! entry with its source and date; and the cost of a usage record in integer micro-dollars.
//! Must not do I/O beyond reading its own TOML files. Uses `types`, `tokenizer`.

mod table;

pub use table::{ModelPrice, PriceTable, PricingError, TokenUsage, UsageSource};
