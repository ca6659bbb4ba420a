//! smsbatch: batch SMS campaigns, from audience to bill.
//!
//! ```
//! use smsbatch::{Encoding, Segmenter};
//!
//! let segmenter = Segmenter::default();
//! let count = segmenter.count("Hi Chloé, your order is ready 🎉");
//! assert_eq!((count.encoding, count.segments), (Encoding::Ucs2, 1));
//!
//! // What a preview shows: each part as it will arrive, and why the message is UCS-2.
//! let full = segmenter.segment("Hi Chloé, your order is ready 🎉");
//! assert_eq!(full.non_gsm[0].ch, '🎉');
//! segmenter.validate("Hi Chloé")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Overview
//!
//! A business sends text messages to selected customers. This crate is the core that every part
//! of such a product shares, so that the numbers a person sees while typing are the numbers the
//! provider bills:
//!
//! - **Segments** ([`Segmenter`]): exact GSM-7 / UCS-2 encoding and segment counting (3GPP TS
//!   23.038 alphabets and TS 23.040 concatenation), greedy packing that never splits an escape
//!   pair, a surrogate pair or (by default) a grapheme cluster, national language shift tables and
//!   smart encoding as options. The count-only path is the hot one.
//! - **Templates and preview** ([`Template`], [`PreviewConfig`]): Handlebars templates compiled
//!   once (plain text, strict about missing variables, SMS helpers) and a per-recipient preview of
//!   every message's text, encoding, segments and exact cost, with the exclusions (no phone,
//!   invalid or duplicate phone, opted out, no consent for the batch's [`Purpose`], missing
//!   variable, empty body, too many segments) and the batch totals; over a sample, a whole list,
//!   or a stream with flat memory. Money is an exact decimal ([`Amount`]), a string in JSON.
//! - **Audience** ([`filter`]): typed customer filters with exact NULL/empty rules, one wire form
//!   compiled to PostgREST query parameters, to parameterised PostgreSQL SQL and to an in-memory
//!   evaluator that select the same rows; search, sort, pagination, saved filters and presets.
//! - **Rollout** ([`flags`]): feature flags with the Unleash client specification's semantics,
//!   loaded from an Unleash client-API state, compiled once and evaluated with OpenFeature-style
//!   details; a user lands in the same rollout bucket and variant as in any Unleash SDK.
//! - **Send queue** ([`queue`]): the core of a durable send queue, without I/O: the states of
//!   batches and messages and the moves between them; the [`queue::Sender`] provider trait with
//!   classified outcomes; Twilio's error codes as data ([`queue::ErrorTable`]) and per-category
//!   error samples; capped exponential backoff with full jitter, a retry budget, the in-doubt
//!   policy and the error-rate pause ([`queue::RetryPolicy`]); the budget guard in exact amounts;
//!   per-sender pacing counted in segments; send windows across midnight and daylight-saving
//!   changes; A/B templates by flag variant; batch options and progress.
//! - **Stores** ([`store`]): one async repository trait per table (customers, templates, saved
//!   filters, batches, messages, exclusions, batch logs, flags, suppressions), the in-memory store,
//!   with `postgres` the PostgreSQL store and its migrations: the Supabase schema, row-level
//!   security, and the queue's claim, fence and rescue functions; with `supabase` the same
//!   operations over Supabase's REST API (PostgREST), the queue functions as RPC calls.
//! - **Analytics** ([`analytics`]): per-batch and per-period reports (throughput, exact latency
//!   percentiles, success and delivery rates, error trends per category, cost estimated vs
//!   actual, credits by encoding, country and variant), SLA objectives with alerts fired once
//!   per violation and once per recovery, spreadsheet-safe CSV and JSON-lines export streamed
//!   from a store, and metrics and spans for services.
//! - **Time** ([`Timestamp`], [`Date`]): the instants and dates the filters, flags and templates
//!   use, in UTC with microseconds like PostgreSQL's `timestamptz`, written as RFC 3339.
//!
//! The core does no I/O, reads no clock and no global random source, and compiles to
//! `wasm32-unknown-unknown` (the in-memory store included); the browser package in
//! `bindings/wasm` is the same code.
//!
//! # Examples
//!
//! Options go through a builder; the result serialises to the JSON the command line prints.
//!
//! ```
//! use smsbatch::{NationalLanguage, SegmentConfig, SplitPolicy};
//!
//! let segmenter = SegmentConfig::new()
//!     .split(SplitPolicy::Graphemes)
//!     .national_languages([NationalLanguage::Turkish])
//!     .smart_encoding(true)
//!     .max_segments(3)
//!     .build();
//! let result = segmenter.segment("“Şişli” branch opens Monday");
//! assert_eq!(result.text(), "\"Şişli\" branch opens Monday");
//! assert_eq!(result.encoding.as_str(), "GSM-7");
//! ```
//!
//! A preview renders a template for each customer and prices the batch. A message about an
//! order is transactional: it reaches every customer who did not opt out (a marketing one would
//! also need `opted_in` true).
//!
//! ```
//! use serde_json::json;
//! use smsbatch::{PreviewConfig, Purpose, Template};
//!
//! let template = Template::compile("Hi {{default first_name \"there\"}}, your order ships today")?;
//! let previewer = PreviewConfig::new()
//!     .purpose(Purpose::Transactional)
//!     .e164_only(true)
//!     .build(&template)?;
//! let preview = previewer.preview([
//!     json!({"id": 1, "phone": "+447400123456", "first_name": "Zoë"}),
//!     json!({"id": 2, "phone": "+447400123457"}),
//!     json!({"id": 3, "phone": ""}),
//!     json!({"id": 4, "phone": "+447400123458", "opted_out": true}),
//! ])?;
//! assert_eq!(preview.recipients[1].included().unwrap().text, "Hi there, your order ships today");
//! let summary = &preview.summary;
//! assert_eq!((summary.recipients, summary.excluded.no_phone, summary.excluded.opted_out), (2, 1, 1));
//! assert_eq!(summary.pushed_to_ucs2.ids, [json!(1)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//!
//! Only `phone` is on by default.
//!
//! - `phone` (default): phone numbers parsed and validated with libphonenumber's metadata
//!   (crate `phonenumber`); without it the preview accepts only numbers already in E.164 (the
//!   WebAssembly package leaves the metadata out).
//! - `cli`: the `smsbatch` command line (`src/bin/smsbatch`), a thin layer whose JSON lines are a
//!   stable contract; it turns on `postgres`, `supabase`, `twilio` and `web`.
//! - `tokio`: the send queue's runtime parts: `queue::Pacer`, which waits on the per-sender rate
//!   limit on tokio's clock (so `tokio::time::pause` drives it), and `queue::TzdbZones`, IANA
//!   time zones from jiff's bundled database for send windows.
//! - `postgres`: the PostgreSQL store ([`store::postgres`]): tokio-postgres with a deadpool
//!   pool, the versioned migrations (the Supabase schema) and the queue functions; brings in
//!   tokio.
//! - `supabase`: the Supabase store ([`store::supabase`]): every repository over the project's
//!   REST API (PostgREST) with the `postgrest` crate, filters from the PostgREST back end, the
//!   queue functions as RPC calls, row-level security from the user's JWT; brings in tokio.
//! - `twilio` (turns on `tokio`): [`twilio::TwilioSender`], the provider adapter over Twilio's
//!   Messages API (reqwest with rustls, no OpenSSL), and [`twilio::Webhooks`], the status
//!   callback and inbound-message handlers with `X-Twilio-Signature` verification.
//! - `export`: `analytics::export`, CSV (crate `csv`) and JSON-lines export of a batch's
//!   messages, log, excluded recipients and report, streamed from a store.
//! - `metrics`: counters and histograms through the `metrics` facade
//!   (`analytics::ObservedSender`); the library installs no recorder. Turns on `tokio` (calls are
//!   timed on its clock).
//! - `tracing`: spans and events through `tracing`, with batch and message ids as fields; the
//!   library installs no subscriber.
//! - `web` (turns on `tokio`): the web app ([`web`]): an axum server with the JSON API under
//!   `/api/` over any store, the batch workspace and the monitoring dashboard (`smsbatch
//!   serve`), HS256 JWT verification for database stores, CSV downloads.
//! - `testing` (turns on `tokio`): `testing::FakeSender`, a provider with programmable latency,
//!   outcomes and failures, deterministic from a seed, with an append-only record file several
//!   processes can share.
//!
//! # Untrusted input
//!
//! Every function that takes text or JSON from outside returns an [`Error`] for bad input and
//! never panics; counting is linear in the length of the text. A flag state compiles even when
//! some of its rules make no sense: each such rule is off, with a [`flags::Warning`], and flag
//! regexes have a compiled-size limit.

#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod analytics;
mod batch;
mod error;
pub mod filter;
pub mod flags;
mod json;
pub mod queue;
mod random;
mod segment;
pub mod send;
mod sort;
pub mod store;
mod template;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod time;
#[cfg(feature = "twilio")]
#[cfg_attr(docsrs, doc(cfg(feature = "twilio")))]
pub mod twilio;
#[cfg(feature = "web")]
#[cfg_attr(docsrs, doc(cfg(feature = "web")))]
pub mod web;

pub use crate::batch::{
    Amount, ByEncoding, EncodingPrices, EncodingTotals, ExcludedRecipient, ExclusionCounts,
    ExclusionReason, FailedRecipient, IncludedRecipient, MissingVariablePolicy, PhoneNormalizer,
    Preview, PreviewConfig, PreviewRun, PreviewStream, PreviewSummary, Previewer, PriceTable,
    Purpose, RecipientList, RecipientPreview, Sample,
};
pub use crate::error::{Error, ErrorKind, Result};
pub use crate::segment::{
    Encoding, NationalLanguage, NationalShift, NonGsmChar, Replacement, SegmentConfig,
    SegmentCount, Segmentation, Segmenter, SplitPolicy, count, segment,
};
pub use crate::template::{Template, TemplateMetadata, TemplateRecord, search_templates};
pub use crate::time::{Date, Timestamp};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
