//! The audit core: the event model and its classification (`event`), the
//! accumulator that counts records and deduplicates secret requests
//! (`shard`), and the rollup built from it (`rollup`).

pub mod event;
pub mod group;
pub mod key;
pub mod rollup;
pub mod scan;
pub mod shard;
