//! The send queue: states, the provider interface, error categories, policies, pacing, windows, variants, options and progress (the core, without I/O), plus the runtime helpers of the `tokio` feature.
//!
//! ```
//! use smsbatch::queue::{BatchOptions, Disposition, ErrorCategory, ErrorTable};
//!
//! // Twilio's 30007: a carrier filtered the message as spam; trying again will not help.
//! let c = ErrorTable::twilio().classify(Some("30007"), None);
//! assert_eq!((c.category, c.disposition), (ErrorCategory::Filtered, Disposition::Permanent));
//! // An unknown code falls back on the HTTP status: a 503 is retried.
//! let c = ErrorTable::twilio().classify(Some("29999"), Some(503));
//! assert_eq!(c.disposition, Disposition::Retry);
//!
//! // A batch's options, as `smsbatch batch create --options FILE` reads them.
//! let options = BatchOptions::from_json(r#"{"rate": {"segmentsPerSecond": 10}, "budget": "25.00"}"#)?;
//! assert_eq!((options.concurrency, options.max_attempts, options.lease_seconds), (5, 5, 120));
//! # Ok::<(), smsbatch::Error>(())
//! ```

mod budget;
mod category;
mod codes;
mod options;
#[cfg(feature = "tokio")]
mod pacer;
mod policy;
mod progress;
mod rate;
mod sender;
mod state;
mod stats;
mod variants;
mod window;
#[cfg(feature = "tokio")]
mod zone;

pub use self::budget::{Admission, SpendGuard};
pub use self::category::ErrorCategory;
pub use self::codes::{Classification, CodeRule, Disposition, ErrorTable, classify_http_status};
pub use self::options::{BatchOptions, RateOptions, SendWindowOptions};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use self::pacer::Pacer;
pub use self::policy::{
    Backoff, ErrorRateMonitor, InDoubtPolicy, Lookup, Next, ReconcileTiming, Resolution,
    RetryBudget, RetryPolicy, backoff_ceiling, can_retry_failed, full_jitter,
};
pub use self::progress::{
    Cost, Credits, Pace, Progress, ProgressThrottle, RateMeter, StatusCounts, VariantProgress, eta,
};
pub use self::rate::{Gcra, Rate, RateLimiter};
pub use self::sender::{
    Accepted, FindQuery, LookupError, MessageId, OutboundMessage, Price, ProviderMessage,
    ProviderStatus, SendFailure, SendOutcome, Sender,
};
pub use self::state::{BatchState, MessageStatus, PauseReason};
pub use self::stats::{CategoryStats, ErrorSample, ErrorStats, SampleLimits};
pub use self::variants::{Assignment, TemplateSource, VariantAssigner, Variants};
pub use self::window::{FixedOffset, LocalTime, SendWindow, ZoneRules, ZoneSource};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use self::zone::{TzdbZone, TzdbZones};
