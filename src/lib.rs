//! smsbatch: batch SMS campaigns, from audience to bill.
//!
//! ```
//! use smsbatch::ErrorKind;
//!
//! let kind = ErrorKind::EmptyMessage;
//! assert_eq!(kind.code(), "emptyMessage");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//!
//! - `tokio`: the async send-queue runner.
//! - `postgres`: the direct PostgreSQL store.
//! - `supabase`: the Supabase/PostgREST store.
//! - `twilio`: the Twilio provider adapter.
//! - `testing`: deterministic fakes for your own tests.
//! - `cli`: the `smsbatch` command line.

#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod batch;
mod error;
mod segment;
mod template;

pub use crate::batch::{
    Amount, ByEncoding, EncodingPrices, EncodingTotals, ExcludedRecipient, ExclusionCounts,
    ExclusionReason, FailedRecipient, IncludedRecipient, MissingVariable, PhoneNormalizer, Preview,
    PreviewConfig, PreviewRun, PreviewStream, PreviewSummary, Previewer, PriceTable, RecipientList,
    RecipientPreview, Sample, Sampler,
};
pub use crate::error::{Error, ErrorKind, Result};
pub use crate::segment::{
    Encoding, NationalLanguage, NationalShift, NonGsmChar, Replacement, SegmentConfig,
    SegmentCount, Segmentation, Segmenter, SplitPolicy, count, segment,
};
pub use crate::template::{Template, TemplateMetadata, TemplateRecord, search_templates};
