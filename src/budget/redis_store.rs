//! placeholder
/// placeholder
#[derive(Debug)]
pub struct RedisStore;
