//! Files on this computer kept in step with files of a folder, on any engine: a copy the user
//! opened in their own editor, uploaded each time it is saved ([`EditCopies`]), and a local
//! directory pushed to a folder ([`push`] plans a pass, [`send`] carries it out, [`live`] keeps
//! it going, [`runner`] runs the syncs of [`book`]).

pub mod book;
pub mod edit_copy;
pub mod live;
pub mod push;
pub mod runner;
pub mod send;

pub use edit_copy::{EditCopies, EditCopyStatus, EditCopyView, Resolution};

/// Milliseconds since the Unix epoch, as the rest of Berth keeps times.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
