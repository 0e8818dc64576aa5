//! The transfer queue shared by both engines: uploads and downloads as jobs with bounded
//! concurrency, pause / resume / cancel / retry, progress with speed and ETA, and a SQLite
//! journal so unfinished transfers survive the app being killed.
//!
//! The queue decides *when* a job runs; a [`Transport`] (one per engine) decides *how* bytes
//! move and how a half-done job continues — a partial temporary file on disk, a tus offset on a
//! storage proxy — so resuming never trusts the journal's byte count, only the destination.

pub mod checkpoint;
pub mod journal;
pub mod names;
pub mod plan;
pub mod positional;
pub mod progress;
pub mod queue;

pub use checkpoint::Checkpoint;
pub use journal::{JobId, Journal};
pub use plan::{
    PlanTransfers, SourceTree, host_error, host_read_error, upload_specs, walk_sources,
};
pub use queue::{
    ConflictPolicy, Direction, Job, JobState, Queue, QueueEvent, StopSignal, TransferError,
    TransferSpec, Transport,
};
