//! Analytics (SPEC §7): per-batch and per-period reports (throughput, latency percentiles, success and delivery rates, the error trend, cost and credits), SLA objectives with alerts, spreadsheet-safe export, and metrics and traces for services.
//!
//! ```
//! use smsbatch::analytics::{SlaObjectives, spreadsheet_safe};
//!
//! let sla = SlaObjectives::from_json(r#"{"doneWithinSeconds": 3600, "minDeliveryRate": 0.95}"#)?;
//! assert_eq!(sla.min_delivery_rate, Some(0.95));
//! // A CSV cell that a spreadsheet would run as a formula is kept as text.
//! assert_eq!(spreadsheet_safe("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
//! # Ok::<(), smsbatch::Error>(())
//! ```

mod analyzer;
#[cfg(feature = "export")]
#[cfg_attr(docsrs, doc(cfg(feature = "export")))]
mod export;
pub mod observe;
mod percentile;
mod period;
mod report;
mod safe;
mod sla;
mod trend;

pub use self::analyzer::{BatchAnalyzer, DEFAULT_CURRENCY, delivery_rate};
#[cfg(feature = "export")]
#[cfg_attr(docsrs, doc(cfg(feature = "export")))]
pub use self::export::{
    EXCLUDED_COLUMNS, ExportFormat, ExportKind, Exporter, LOG_COLUMNS, MESSAGE_COLUMNS,
    REPORT_COLUMNS, export, flatten,
};
#[cfg(any(feature = "metrics", feature = "tracing"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "metrics", feature = "tracing"))))]
pub use self::observe::ObservedSender;
pub use self::percentile::{LatencyStats, nearest_rank};
pub use self::period::{PeriodAnalyzer, period_length};
pub use self::report::{
    BatchAnalysis, BatchReport, CategoryRate, CostSummary, CreditLine, Credits, ErrorTrend,
    Latency, LogSummary, PeriodReport, Series, SeriesWindow, Throughput, TrendWindow,
    VariantReport,
};
pub use self::safe::{spreadsheet_safe, spreadsheet_unsafe};
pub use self::sla::{
    Alert, AlertHook, AlertKind, ErrorRateObjective, Objective, ObjectiveResult, ObjectiveStatus,
    SlaMonitor, SlaObjectives, SlaReport, Violation,
};

#[cfg(test)]
mod tests;
