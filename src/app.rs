//! Wiring: builds every component from the config (in progress).
