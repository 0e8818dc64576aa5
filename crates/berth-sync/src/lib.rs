//! Files on this computer kept in step with files of a folder, on any engine: a copy the user
//! opened in their own editor, uploaded each time it is saved ([`EditCopies`]), and a local
//! directory synced with a folder — pushed ([`push`] plans a pass, [`send`] carries it out),
//! or pulled and two-way against a [`journal`] ([`reconcile`] plans, [`exchange`] carries out
//! with [`receive`] and [`send`]); [`live`] keeps a sync going, [`runner`] runs the syncs of
//! [`book`].

pub mod book;
pub mod edit_copy;
pub mod exchange;
pub mod journal;
pub mod live;
pub mod push;
pub mod receive;
pub mod reconcile;
pub mod runner;
pub mod send;

pub(crate) use berth_core::clock::now_ms;
pub use edit_copy::{EditCopies, EditCopyStatus, EditCopyView, Resolution};
