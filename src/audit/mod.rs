//! The audit core, in pipeline order: records and where they came from
//! (`origin`); the front that frames, classifies (`event`), filters and
//! counts them (`shard`); the ledger that counts each secret request once
//! and feeds consumers (`ledger`); the rollup's consumer (`group`) and the
//! rows built from it (`rollup`); the stream's consumer (`tap`).

pub mod compact;
pub mod event;
pub mod group;
pub mod key;
pub mod ledger;
pub mod origin;
pub mod rollup;
pub mod scan;
pub mod shard;
pub mod tap;
