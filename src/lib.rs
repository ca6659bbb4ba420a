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
//! # Templates and preview
//!
//! [`Template`] compiles a Handlebars message template once (plain text, strict about missing
//! variables, SMS helpers) and renders it for many recipients. [`PreviewConfig`] builds a
//! [`Previewer`] that renders it for every customer row and reports each message's encoding,
//! segments and cost, or why the customer is excluded, with the batch's totals; over a sample,
//! a whole list, or a stream with flat memory.
//!
//! ```
//! use serde_json::json;
//! use smsbatch::{PreviewConfig, Template};
//!
//! let template = Template::compile("Hi {{default first_name \"there\"}}, your order ships today")?;
//! let previewer = PreviewConfig::new().e164_only(true).build(&template)?;
//! let preview = previewer.preview([
//!     json!({"id": 1, "phone": "+447400123456", "first_name": "Zoë"}),
//!     json!({"id": 2, "phone": "+447400123457"}),
//!     json!({"id": 3, "phone": ""}),
//! ])?;
//! assert_eq!(preview.recipients[1].included().unwrap().text, "Hi there, your order ships today");
//! assert_eq!((preview.summary.recipients, preview.summary.excluded.no_phone), (2, 1));
//! assert_eq!(preview.summary.pushed_to_ucs2.ids, [json!(1)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//!
//! - `phone` (default): phone numbers parsed and validated with libphonenumber's metadata
//!   (crate `phonenumber`); without it the preview accepts only numbers already in E.164.
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
