//! The send queue: states, the provider interface, error categories, policies, pacing, windows, variants, options and progress (the core, without I/O), plus the runtime helpers of the `tokio` feature.

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
