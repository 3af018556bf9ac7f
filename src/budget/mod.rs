//! budget (in progress).
