//! Sending (SPEC §5): batch creation and preparation, a batch's status and the operator's
//! actions on it, and with the `tokio` feature the durable runner and the worker that drains
//! every due batch through a [`Sender`](crate::queue::Sender).

#[cfg(feature = "tokio")]
mod clock;
#[cfg(feature = "tokio")]
mod group;
mod prepare;
#[cfg(feature = "tokio")]
mod runner;
mod status;
#[cfg(feature = "tokio")]
mod worker;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use self::clock::{Clock, Shutdown, SystemClock, TokioClock};
pub use self::prepare::{BatchRequest, BatchSummary, Preparer, TemplateChoice};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use self::runner::{EventSink, RunnerConfig, WorkerEvent};
pub use self::status::{BatchStatus, cancel, pause, resume, retry_failed};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use self::worker::{Worker, WorkerReport};
