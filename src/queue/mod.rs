//! The send queue's rules without I/O: batch and message states and the moves between them.

mod category;
mod state;

pub use self::category::ErrorCategory;
pub use self::state::{BatchState, MessageStatus, PauseReason};
