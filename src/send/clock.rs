//! Time and shutdown for the runner (feature `tokio`): a clock the tests can pause, and a
//! signal that stops workers gracefully.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::time::Timestamp;

/// Where the runner reads the time. The store's SQL functions take it as a parameter (`p_now`),
/// so a test on tokio's paused clock drives the whole queue deterministically.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp::saturating_from_unix_micros(micros)
    }
}

/// Tokio's clock from a starting time: `start` plus the time tokio says has passed since the
/// clock was made. Under `tokio::time::pause` it moves only when the test advances it (or every
/// task sleeps), so runs are deterministic.
///
/// ```
/// use std::time::Duration;
/// use smsbatch::Timestamp;
/// use smsbatch::send::{Clock, TokioClock};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?.block_on(async {
/// let clock = TokioClock::new("2025-05-01T09:00:00Z".parse().unwrap());
/// tokio::time::sleep(Duration::from_secs(90)).await;
/// assert_eq!(clock.now().to_string(), "2025-05-01T09:01:30Z");
/// # });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    start: Timestamp,
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `start` now.
    pub fn new(start: Timestamp) -> Self {
        Self {
            start,
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.start.saturating_add(self.origin.elapsed())
    }
}

/// A graceful-shutdown signal shared by a worker and whoever stops it (a SIGTERM handler, a
/// test): once triggered, workers claim nothing more, finish the sends under way, give back
/// the claims they had not started, and return.
#[derive(Clone, Debug)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal not yet triggered.
    pub fn new() -> Self {
        Self {
            tx: Arc::new(watch::channel(false).0),
        }
    }

    /// Triggers it (again is harmless).
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Whether it was triggered.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Waits until it is triggered.
    pub async fn triggered(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so the channel never closes while we wait.
        let _ = rx.wait_for(|v| *v).await;
    }

    /// Sleeps for `duration`, or less if the signal comes first; true when it came.
    pub async fn sleep(&self, duration: Duration) -> bool {
        tokio::select! {
            () = self.triggered() => true,
            () = tokio::time::sleep(duration) => false,
        }
    }
}
