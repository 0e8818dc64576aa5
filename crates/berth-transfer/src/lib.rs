//! The transfer queue shared by both engines. This first piece is what every progress line in
//! the transfer panel shows: bytes done, speed and time left.

pub mod progress;
