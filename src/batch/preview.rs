//! The batch preview: every recipient's message, segments and cost, and the batch's summary.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use unicode_segmentation::UnicodeSegmentation;

use super::consent::{Consent, Purpose, consent};
use super::phone::PhoneNormalizer;
use super::price::{Amount, PriceIndex, PriceTable};
use super::recipient::{
    ExcludedRecipient, ExclusionReason, FailedRecipient, IncludedRecipient, PhoneField,
    RecipientPreview, phone_field,
};
use super::sample::{Sample, Sampler};
use crate::error::{Error, ErrorKind, Result};
use crate::random::mix;
use crate::segment::{Encoding, SegmentConfig, SegmentCount, Segmenter};
use crate::template::{Failure, Template, failure_error};

/// What a preview does when a recipient's data lacks a variable the template uses.
///
/// JSON: `"exclude"` or `"fail"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MissingVariablePolicy {
    /// Exclude the recipient with reason [`ExclusionReason::MissingVariable`] and go on.
    #[default]
    Exclude,
    /// Stop the preview with [`ErrorKind::MissingVariable`] at the first such recipient.
    Fail,
}

/// Options for a batch preview; [`PreviewConfig::build`] turns them into a [`Previewer`].
///
/// Deserialises from camelCase JSON (`{"purpose": "transactional", "segments": {...},
/// "region": "GB", "prices": {...}, "suppress": ["+44..."], "missing": "fail", "parts": true,
/// "listLimit": 100, "e164Only": true, "idField": "customer_id", "phoneField": "mobile",
/// "optedInField": "sms_consent", "optedOutField": "sms_stop"}`), every field optional.
///
/// ```
/// use serde_json::json;
/// use smsbatch::{MissingVariablePolicy, PreviewConfig, PriceTable, Purpose, Template};
///
/// let template = Template::compile("Hi {{first_name}}, your table is ready")?;
/// let previewer = PreviewConfig::new()
///     .purpose(Purpose::Transactional)
///     .prices(PriceTable::from_json(
///         r#"{"currency": "USD", "default": {"GSM-7": "0.0079", "UCS-2": "0.0079"}}"#,
///     )?)
///     .missing(MissingVariablePolicy::Exclude)
///     .e164_only(true)
///     .build(&template)?;
/// let rows = [
///     json!({"id": 1, "phone": "+447700900001", "first_name": "Ana"}),
///     json!({"id": 2, "phone": "+447700900002", "first_name": "Zoë 🎉"}),
///     json!({"id": 3, "phone": "+447700900001", "first_name": "Ana"}),
///     json!({"id": 4, "phone": "+447700900004"}),
/// ];
/// let preview = previewer.preview(&rows)?;
/// let s = &preview.summary;
/// assert_eq!((s.total, s.recipients, s.segments), (4, 2, 2));
/// assert_eq!(s.cost.to_string(), "0.0158");
/// assert_eq!(s.excluded.duplicate_phone, 1);
/// assert_eq!(s.excluded.missing_variable, 1);
/// assert_eq!(s.pushed_to_ucs2.ids, [json!(2)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PreviewConfig {
    purpose: Purpose,
    segments: SegmentConfig,
    region: Option<String>,
    e164_only: bool,
    prices: PriceTable,
    suppress: Vec<String>,
    missing: MissingVariablePolicy,
    parts: bool,
    list_limit: usize,
    id_field: String,
    phone_field: String,
    opted_in_field: String,
    opted_out_field: String,
}

impl Default for PreviewConfig {
    fn default() -> Self {
        Self {
            purpose: Purpose::Marketing,
            segments: SegmentConfig::default(),
            region: None,
            e164_only: false,
            prices: PriceTable::credits(),
            suppress: Vec::new(),
            missing: MissingVariablePolicy::Exclude,
            parts: false,
            list_limit: Self::DEFAULT_LIST_LIMIT,
            id_field: "id".to_owned(),
            phone_field: "phone".to_owned(),
            opted_in_field: "opted_in".to_owned(),
            opted_out_field: "opted_out".to_owned(),
        }
    }
}

impl PreviewConfig {
    /// How many ids the summary's lists of pushed recipients keep by default.
    pub const DEFAULT_LIST_LIMIT: usize = 100;

    /// The defaults: marketing messages, the default segmenter (at most 10 segments), no
    /// region, prices in credits, nothing suppressed, missing variables exclude the recipient,
    /// no parts, lists of 100 ids, and the fields `id`, `phone`, `opted_in` and `opted_out`.
    pub fn new() -> Self {
        Self::default()
    }

    /// What the messages are for, which decides whose consent they need (default:
    /// [`Purpose::Marketing`], which needs `opted_in` true).
    pub fn purpose(mut self, purpose: Purpose) -> Self {
        self.purpose = purpose;
        self
    }

    /// How messages are counted and the maximum number of segments.
    pub fn segments(mut self, config: SegmentConfig) -> Self {
        self.segments = config;
        self
    }

    /// The default region for phone numbers written without a calling code (needs the `phone`
    /// feature); see [`PhoneNormalizer::region`].
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Accept only phone numbers already in E.164 and skip libphonenumber; see
    /// [`PhoneNormalizer::e164_only`].
    pub fn e164_only(mut self, yes: bool) -> Self {
        self.e164_only = yes;
        self
    }

    /// Prices per segment (default: [`PriceTable::credits`]).
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.prices = prices;
        self
    }

    /// Phone numbers never to message (normalised like the recipients'); a recipient with one
    /// counts as opted out.
    pub fn suppress<S: Into<String>>(mut self, phones: impl IntoIterator<Item = S>) -> Self {
        self.suppress = phones.into_iter().map(Into::into).collect();
        self
    }

    /// What a missing variable does (default: exclude the recipient).
    pub fn missing(mut self, policy: MissingVariablePolicy) -> Self {
        self.missing = policy;
        self
    }

    /// Include the text of each part in every included recipient (costs a full
    /// [`Segmenter::segment`] per message; meant for samples).
    pub fn parts(mut self, yes: bool) -> Self {
        self.parts = yes;
        self
    }

    /// How many ids the summary keeps in each list of pushed recipients (their counts are
    /// always exact); bounded so a streaming preview's memory does not grow with the audience.
    pub fn list_limit(mut self, limit: usize) -> Self {
        self.list_limit = limit;
        self
    }

    /// The field that identifies a customer (default `id`): any JSON value, kept as it is in
    /// the results.
    pub fn id_field(mut self, name: impl Into<String>) -> Self {
        self.id_field = name.into();
        self
    }

    /// The field holding the phone number (default `phone`).
    pub fn phone_field(mut self, name: impl Into<String>) -> Self {
        self.phone_field = name.into();
        self
    }

    /// The field holding consent to marketing messages (default `opted_in`).
    pub fn opted_in_field(mut self, name: impl Into<String>) -> Self {
        self.opted_in_field = name.into();
        self
    }

    /// The field saying that the customer asked to stop (default `opted_out`).
    pub fn opted_out_field(mut self, name: impl Into<String>) -> Self {
        self.opted_out_field = name.into();
        self
    }

    /// Builds the previewer for `template`.
    ///
    /// Errors: [`ErrorKind::InvalidRegion`] (or `InvalidInput` without the `phone` feature) for
    /// the region, [`ErrorKind::InvalidPhone`] for a suppression-list entry that is not a valid
    /// number, [`ErrorKind::InvalidInput`] for an empty field name.
    pub fn build(self, template: &Template) -> Result<Previewer> {
        for (option, name) in [
            ("idField", &self.id_field),
            ("phoneField", &self.phone_field),
            ("optedInField", &self.opted_in_field),
            ("optedOutField", &self.opted_out_field),
        ] {
            if name.is_empty() {
                return Err(Error::new(ErrorKind::InvalidInput {
                    message: format!("the preview option `{option}` names no field"),
                }));
            }
        }
        let mut phones = PhoneNormalizer::new().e164_only(self.e164_only);
        if let Some(region) = &self.region {
            phones = phones.region(region)?;
        }
        let mut suppressed = PhoneSet::default();
        for (i, raw) in self.suppress.iter().enumerate() {
            let phone = phones.parse(raw.trim()).map_err(|reason| {
                Error::new(ErrorKind::InvalidPhone {
                    phone: raw.clone(),
                    reason: format!("suppression list entry {}: {reason}", i + 1),
                })
            })?;
            suppressed.insert(phone.key);
        }
        let segmenter = self.segments.clone().build();
        let baseline = segmenter.count(template.static_text());
        Ok(Previewer {
            template: template.clone(),
            segmenter,
            phones,
            suppressed,
            baseline,
            prices: PriceIndex::new(&self.prices),
            config: self,
        })
    }
}

/// A set of phone keys with a fixed, fast hash (splitmix64's finaliser): no per-process random
/// seed in the core, and the keys are the user's own audience.
type PhoneSet = HashSet<u64, BuildHasherDefault<PhoneHasher>>;

#[derive(Default)]
struct PhoneHasher(u64);

impl Hasher for PhoneHasher {
    fn finish(&self) -> u64 {
        mix(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Previews a template for customer rows: compiled once, run over any number of batches.
///
/// A row is a JSON object with an id (any JSON type, kept as is), a phone number and the
/// consent fields `opted_in` and `opted_out` (the names are options of [`PreviewConfig`]); the
/// whole row is the template's data. Each row goes through these steps, and the first that
/// fails excludes it:
///
/// 1. `noPhone`: the phone is absent, null or empty;
/// 2. `invalidPhone`: it is not a valid number;
/// 3. `duplicatePhone`: an earlier *included* recipient has the same number;
/// 4. `optedOut`: `opted_out` is true (or neither true nor false), or the number is on the
///    suppression list;
/// 5. `noConsent`: the [`Purpose`] needs consent the row does not give (a marketing message
///    needs `opted_in` true);
/// 6. `missingVariable`, 7. `emptyBody`, 8. `tooManySegments`: the message itself.
///
/// A row that is not an object or has no id, or whose data a helper rejects (a malformed date),
/// is reported as failed and the batch goes on.
///
/// Build one with [`PreviewConfig::build`]. Previews hold no I/O, clock or global randomness;
/// the same rows give the same preview everywhere.
#[derive(Clone, Debug)]
pub struct Previewer {
    template: Template,
    segmenter: Segmenter,
    phones: PhoneNormalizer,
    suppressed: PhoneSet,
    baseline: SegmentCount,
    prices: PriceIndex,
    config: PreviewConfig,
}

/// A finished preview: every row's result in input order, and the summary.
///
/// Every result type of the preview serialises to the JSON the command line prints and
/// deserialises from it, so a store can keep it (in a JSONB column, say) and read it back.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// One entry per row previewed, in input order.
    pub recipients: Vec<RecipientPreview>,
    /// The batch's totals.
    pub summary: PreviewSummary,
}

/// Counts per exclusion reason (camelCase JSON, in order of precedence; a count absent from
/// the JSON reads as 0).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExclusionCounts {
    /// Rows without a phone number.
    pub no_phone: u64,
    /// Rows whose phone number cannot be normalised to a valid E.164 number.
    pub invalid_phone: u64,
    /// Rows whose number an earlier included recipient already has.
    pub duplicate_phone: u64,
    /// Rows that opted out, or whose number is suppressed.
    pub opted_out: u64,
    /// Rows without the consent the batch's purpose needs.
    pub no_consent: u64,
    /// Rows that lack a variable the template uses.
    pub missing_variable: u64,
    /// Rows whose message renders empty.
    pub empty_body: u64,
    /// Rows whose message needs more segments than the maximum.
    pub too_many_segments: u64,
}

impl ExclusionCounts {
    /// The count for `reason`.
    pub fn get(&self, reason: ExclusionReason) -> u64 {
        let mut counts = *self;
        *counts.slot(reason)
    }

    /// All excluded recipients.
    pub fn total(&self) -> u64 {
        ExclusionReason::ALL.iter().map(|&r| self.get(r)).sum()
    }

    fn add(&mut self, reason: ExclusionReason) {
        *self.slot(reason) += 1;
    }

    fn slot(&mut self, reason: ExclusionReason) -> &mut u64 {
        match reason {
            ExclusionReason::NoPhone => &mut self.no_phone,
            ExclusionReason::InvalidPhone => &mut self.invalid_phone,
            ExclusionReason::DuplicatePhone => &mut self.duplicate_phone,
            ExclusionReason::OptedOut => &mut self.opted_out,
            ExclusionReason::NoConsent => &mut self.no_consent,
            ExclusionReason::MissingVariable => &mut self.missing_variable,
            ExclusionReason::EmptyBody => &mut self.empty_body,
            ExclusionReason::TooManySegments => &mut self.too_many_segments,
        }
    }
}

/// Included recipients, segments and cost of one encoding.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncodingTotals {
    /// Included recipients whose message has this encoding.
    pub recipients: u64,
    /// Their segments.
    pub segments: u64,
    /// Their cost.
    pub cost: Amount,
}

/// Totals per encoding (`{"GSM-7": {...}, "UCS-2": {...}}`).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByEncoding {
    /// GSM-7 messages.
    #[serde(rename = "GSM-7")]
    pub gsm7: EncodingTotals,
    /// UCS-2 messages.
    #[serde(rename = "UCS-2")]
    pub ucs2: EncodingTotals,
}

/// How many recipients are in a list, and the ids of the first of them (up to the configured
/// [`list_limit`](PreviewConfig::list_limit)).
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientList {
    /// Recipients in the list.
    pub count: u64,
    /// The ids of the first ones, in input order.
    pub ids: Vec<Value>,
}

impl RecipientList {
    fn add(&mut self, id: &Value, limit: usize) {
        self.count += 1;
        if self.ids.len() < limit {
            self.ids.push(id.clone());
        }
    }
}

/// The batch's totals (camelCase JSON).
///
/// `cost` sums `segments × price` exactly (see [`Amount`]): in JSON a decimal string, never a
/// float accumulated over recipients.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewSummary {
    /// Rows previewed.
    pub total: u64,
    /// Recipients included (who get a message).
    pub recipients: u64,
    /// Recipients excluded, per reason.
    pub excluded: ExclusionCounts,
    /// Rows that could not be previewed.
    pub errors: u64,
    /// Segments of all included messages: the credits the batch uses.
    pub segments: u64,
    /// Estimated cost of the included messages.
    pub cost: Amount,
    /// The price table's currency (`"credits"` without a price table).
    pub currency: String,
    /// Totals per encoding.
    pub by_encoding: ByEncoding,
    /// Included messages per number of segments (`{"1": 950, "2": 50}`).
    pub histogram: BTreeMap<u32, u64>,
    /// Recipients whose own data made the message UCS-2 where the template's static text is
    /// GSM-7.
    pub pushed_to_ucs2: RecipientList,
    /// Recipients whose own data made the message take more segments than the static text.
    pub pushed_to_extra_segment: RecipientList,
    /// Encoding, units and segments of the template's static text: the baseline of the two
    /// lists above.
    pub static_text: SegmentCount,
}

impl Previewer {
    /// The template being previewed.
    pub fn template(&self) -> &Template {
        &self.template
    }

    /// The segmenter messages are counted with.
    pub fn segmenter(&self) -> &Segmenter {
        &self.segmenter
    }

    /// Starts a preview fed one row at a time with [`PreviewRun::push`].
    pub fn start(&self) -> PreviewRun<'_> {
        PreviewRun {
            previewer: self,
            claimed: PhoneSet::default(),
            summary: PreviewSummary {
                total: 0,
                recipients: 0,
                excluded: ExclusionCounts::default(),
                errors: 0,
                segments: 0,
                cost: Amount::ZERO,
                currency: self.config.prices.currency().to_owned(),
                by_encoding: ByEncoding::default(),
                histogram: BTreeMap::new(),
                pushed_to_ucs2: RecipientList::default(),
                pushed_to_extra_segment: RecipientList::default(),
                static_text: self.baseline,
            },
            next_index: 0,
            buf: String::new(),
        }
    }

    /// Previews every row and keeps every result.
    ///
    /// Errors under [`MissingVariablePolicy::Fail`], with the first missing variable and the
    /// recipient's id, and with [`ErrorKind::AmountOverflow`] when a cost or a total passes
    /// [`Amount::MAX`].
    pub fn preview<R: Borrow<Value>>(&self, rows: impl IntoIterator<Item = R>) -> Result<Preview> {
        let mut run = self.start();
        let mut recipients = Vec::new();
        for row in rows {
            recipients.push(run.push(row.borrow())?);
        }
        Ok(Preview {
            recipients,
            summary: run.finish(),
        })
    }

    /// Previews the rows lazily: an iterator of results in input order whose memory does not
    /// grow with the audience (beyond 8 bytes per included phone number for the duplicate
    /// check), with the summary so far at [`PreviewStream::summary`].
    ///
    /// The first error [`PreviewRun::push`] would return (a missing variable under
    /// [`MissingVariablePolicy::Fail`], an amount overflow) is yielded and the stream ends.
    pub fn stream<I>(&self, rows: I) -> PreviewStream<'_, I::IntoIter>
    where
        I: IntoIterator,
        I::Item: Borrow<Value>,
    {
        PreviewStream {
            run: self.start(),
            rows: rows.into_iter(),
            failed: false,
        }
    }

    /// Previews a sample of the rows, for keystroke-speed updates: the first `n`, or `size` rows
    /// chosen by a seed (reservoir sampling: one pass, memory for `size` results). Each picked
    /// row previews exactly as in the full run, with its `index` its position in `rows`: a row
    /// whose number an earlier row (picked or not) already claimed is
    /// [`ExclusionReason::DuplicatePhone`], as in [`Previewer::preview`]. So every row read is
    /// previewed (the first `n` only for [`Sample::First`]); the summary counts the picked rows.
    ///
    /// Errors like [`Previewer::preview`], for a picked row only: under
    /// [`MissingVariablePolicy::Fail`] a row left out of the sample that lacks a variable is
    /// not an error (and claims no number, like every row that is not included).
    pub fn sample<R: Borrow<Value>>(
        &self,
        rows: impl IntoIterator<Item = R>,
        sample: Sample,
    ) -> Result<Preview> {
        self.sample_results(rows.into_iter().map(Ok::<R, Error>), sample)
    }

    /// Like [`Previewer::sample`], over rows that may not have been readable (the lines of a
    /// file): an `Err` the sample picks is a failed row in its place (see
    /// [`PreviewRun::push_error`]), so a bad line is sampled and counted like any other row.
    ///
    /// ```
    /// use serde_json::json;
    /// use smsbatch::{Error, PreviewConfig, Purpose, RecipientPreview, Sample, Template};
    ///
    /// let previewer = PreviewConfig::new()
    ///     .purpose(Purpose::Transactional)
    ///     .e164_only(true)
    ///     .build(&Template::compile("Your code is {{code}}")?)?;
    /// let lines = [
    ///     Ok(json!({"id": 1, "phone": "+447400123456", "code": 42})),
    ///     Err(Error::invalid_input("line 2 is not JSON")),
    ///     Ok(json!({"id": 3, "phone": "+447400123457", "code": 7})),
    /// ];
    /// let preview = previewer.sample_results(lines, Sample::First(2))?;
    /// assert!(matches!(preview.recipients[1], RecipientPreview::Failed(_)));
    /// assert_eq!((preview.summary.total, preview.summary.errors), (2, 1));
    /// # Ok::<(), smsbatch::Error>(())
    /// ```
    pub fn sample_results<R: Borrow<Value>>(
        &self,
        rows: impl IntoIterator<Item = Result<R>>,
        sample: Sample,
    ) -> Result<Preview> {
        // The full run's duplicate check needs every earlier row's outcome, picked or not: each
        // row is previewed as it is read (claiming its number when included), and the sampler
        // keeps results, not rows.
        let mut sampler = Sampler::new(sample);
        if !matches!(sample, Sample::First(0) | Sample::Seeded { size: 0, .. }) {
            let mut full = self.start();
            for row in rows {
                let index = full.next_index;
                full.next_index += 1;
                let result = match row {
                    Ok(row) => full.preview_row(index, row.borrow()),
                    Err(error) => Ok(RecipientPreview::Failed(FailedRecipient {
                        index,
                        id: None,
                        error: error.into_kind(),
                    })),
                };
                if !sampler.push(result) {
                    break;
                }
            }
        }
        let mut run = self.start();
        let mut recipients = Vec::new();
        for (_, result) in sampler.into_sorted() {
            let result = result?;
            run.record(&result)?;
            recipients.push(result);
        }
        Ok(Preview {
            recipients,
            summary: run.finish(),
        })
    }
}

/// A preview in progress, fed one row at a time: what [`Previewer::stream`] runs on, and what a
/// caller reading rows from a file or a database cursor can drive directly.
///
/// ```
/// use serde_json::json;
/// use smsbatch::{PreviewConfig, Purpose, Template};
///
/// let template = Template::compile("Your code is {{code}}")?;
/// let previewer = PreviewConfig::new()
///     .purpose(Purpose::Transactional)
///     .e164_only(true)
///     .build(&template)?;
/// let mut run = previewer.start();
/// let r = run.push(&json!({"id": "a", "phone": "+447700900123", "code": 1234}))?;
/// assert_eq!(r.included().unwrap().text, "Your code is 1234");
/// assert_eq!(run.finish().segments, 1);
/// # Ok::<(), smsbatch::Error>(())
/// ```
#[derive(Debug)]
pub struct PreviewRun<'p> {
    previewer: &'p Previewer,
    claimed: PhoneSet,
    summary: PreviewSummary,
    next_index: u64,
    /// Reused for rendering, so a message costs one allocation (its own text).
    buf: String,
}

impl PreviewRun<'_> {
    /// Previews the next row.
    ///
    /// Errors, and the summary then does not count the row: [`ErrorKind::MissingVariable`] with
    /// the recipient's id under [`MissingVariablePolicy::Fail`]; [`ErrorKind::AmountOverflow`]
    /// when the recipient's cost or a total of the summary would pass [`Amount::MAX`].
    pub fn push(&mut self, row: &Value) -> Result<RecipientPreview> {
        let index = self.next_index;
        self.next_index += 1;
        let result = self.preview_row(index, row)?;
        self.record(&result)?;
        Ok(result)
    }

    /// Counts a result in the summary, its cost included (all or nothing).
    fn record(&mut self, result: &RecipientPreview) -> Result<()> {
        if let RecipientPreview::Included(r) = result {
            self.add_cost(r)?;
        }
        self.count(result);
        Ok(())
    }

    /// Records a row that could not even be read (a malformed line of a file...) as failed,
    /// so that results stay aligned with the input and the summary counts it.
    pub fn push_error(&mut self, error: Error) -> RecipientPreview {
        let index = self.next_index;
        self.next_index += 1;
        let result = RecipientPreview::Failed(FailedRecipient {
            index,
            id: None,
            error: error.into_kind(),
        });
        self.count(&result);
        result
    }

    /// The summary of the rows pushed so far.
    pub fn summary(&self) -> &PreviewSummary {
        &self.summary
    }

    /// Ends the run and returns its summary.
    pub fn finish(self) -> PreviewSummary {
        self.summary
    }

    fn preview_row(&mut self, index: u64, row: &Value) -> Result<RecipientPreview> {
        let p = self.previewer;
        let failed = |id: Option<&Value>, error: ErrorKind| {
            RecipientPreview::Failed(FailedRecipient {
                index,
                id: id.cloned(),
                error,
            })
        };
        let Some(fields) = row.as_object() else {
            return Ok(failed(
                None,
                ErrorKind::InvalidInput {
                    message: format!("row {} is not a JSON object", index + 1),
                },
            ));
        };
        let config = &p.config;
        let id = match fields.get(&config.id_field) {
            None | Some(Value::Null) => {
                return Ok(failed(
                    None,
                    ErrorKind::InvalidInput {
                        message: format!("row {} has no {}", index + 1, config.id_field),
                    },
                ));
            }
            Some(id) => id,
        };
        let exclude = |reason: ExclusionReason, detail: String| {
            Ok(RecipientPreview::Excluded(ExcludedRecipient {
                index,
                id: id.clone(),
                reason,
                detail,
            }))
        };

        let raw_phone = match phone_field(fields, &config.phone_field) {
            PhoneField::Text(text) => text,
            PhoneField::Missing(why) => return exclude(ExclusionReason::NoPhone, why),
            PhoneField::Invalid(why) => return exclude(ExclusionReason::InvalidPhone, why),
        };
        let phone = match p.phones.parse(&raw_phone) {
            Ok(phone) => phone,
            Err(why) => {
                return exclude(
                    ExclusionReason::InvalidPhone,
                    format!("{}: {why}", crate::json::quote(&raw_phone)),
                );
            }
        };
        if self.claimed.contains(&phone.key) {
            return exclude(
                ExclusionReason::DuplicatePhone,
                format!("{} is already in the batch", phone.e164),
            );
        }
        let consent = consent(
            fields,
            config.purpose,
            &config.opted_in_field,
            &config.opted_out_field,
        );
        if let Consent::OptedOut(why) = consent {
            return exclude(ExclusionReason::OptedOut, why);
        }
        // The suppression list is an opt-out too, so it comes before the purpose's consent.
        if p.suppressed.contains(&phone.key) {
            return exclude(
                ExclusionReason::OptedOut,
                format!("{} is on the suppression list", phone.e164),
            );
        }
        if let Consent::Missing(why) = consent {
            return exclude(ExclusionReason::NoConsent, why);
        }

        self.buf.clear();
        match p.template.render_failure(row, &mut self.buf) {
            Ok(()) => {}
            Err(Failure::Missing(variable)) => match p.config.missing {
                MissingVariablePolicy::Exclude => {
                    return exclude(
                        ExclusionReason::MissingVariable,
                        format!("missing variable {}", crate::json::quote(&variable)),
                    );
                }
                MissingVariablePolicy::Fail => {
                    return Err(failure_error(Failure::Missing(variable), Some(id)));
                }
            },
            Err(Failure::Limit(limit)) => {
                // Far past any sendable message: what the recipient would cost is unknowable
                // and unbounded, so it is excluded like any message over the maximum.
                let why = failure_error(Failure::Limit(limit), None).to_string();
                return exclude(ExclusionReason::TooManySegments, why);
            }
            Err(failure @ Failure::Invalid(_)) => {
                return Ok(failed(
                    Some(id),
                    failure_error(failure, Some(id)).into_kind(),
                ));
            }
        }

        // With smart encoding the text sent is the replaced one, so take the full path.
        let full = (p.config.parts || p.segmenter.config().smart_encoding)
            .then(|| p.segmenter.segment(&self.buf));
        let text = full.as_ref().map_or_else(|| self.buf.clone(), |s| s.text());
        let count = match &full {
            Some(s) => s.count(),
            None => p.segmenter.count(&text),
        };
        if text.trim().is_empty() {
            return exclude(
                ExclusionReason::EmptyBody,
                "the rendered message is empty".to_owned(),
            );
        }
        let max = p.segmenter.config().max_segments;
        if count.segments > max {
            return exclude(
                ExclusionReason::TooManySegments,
                format!(
                    "the message needs {} segments, more than the maximum of {max}",
                    count.segments
                ),
            );
        }

        self.claimed.insert(phone.key);
        let pushed_to_ucs2 =
            p.baseline.encoding == Encoding::Gsm7 && count.encoding == Encoding::Ucs2;
        let non_gsm = if pushed_to_ucs2 {
            match &full {
                Some(s) => s.non_gsm.clone(),
                None => p.segmenter.non_gsm(&text),
            }
        } else {
            Vec::new()
        };
        let graphemes = match &full {
            Some(s) => s.graphemes,
            None => graphemes(&text),
        };
        let price = p.prices.price(&phone.e164, count.encoding);
        let cost = price
            .checked_mul(u64::from(count.segments))
            .ok_or_else(|| {
                overflow(format!(
                    "recipient {id}: {} segments at {price} each",
                    count.segments
                ))
            })?;
        Ok(RecipientPreview::Included(IncludedRecipient {
            index,
            id: id.clone(),
            phone: phone.e164,
            text,
            encoding: count.encoding,
            segments: count.segments,
            units: count.units,
            graphemes,
            cost,
            pushed_to_ucs2,
            extra_segments: count.segments.saturating_sub(p.baseline.segments),
            non_gsm,
            parts: full.filter(|_| p.config.parts).map(|s| s.parts),
        }))
    }

    /// Adds an included recipient's cost to the totals, all or nothing.
    fn add_cost(&mut self, r: &IncludedRecipient) -> Result<()> {
        let s = &mut self.summary;
        let by = match r.encoding {
            Encoding::Gsm7 => &mut s.by_encoding.gsm7,
            Encoding::Ucs2 => &mut s.by_encoding.ucs2,
        };
        let total = s.cost.checked_add(r.cost);
        let by_encoding = by.cost.checked_add(r.cost);
        let (Some(total), Some(by_encoding)) = (total, by_encoding) else {
            return Err(overflow(format!(
                "the batch's cost, {} plus {} for recipient {}",
                s.cost, r.cost, r.id
            )));
        };
        s.cost = total;
        by.cost = by_encoding;
        Ok(())
    }

    /// Counts a result in the summary (its cost is [`add_cost`](Self::add_cost)'s).
    fn count(&mut self, result: &RecipientPreview) {
        let s = &mut self.summary;
        let limit = self.previewer.config.list_limit;
        s.total += 1;
        match result {
            RecipientPreview::Included(r) => {
                s.recipients += 1;
                let segments = u64::from(r.segments);
                s.segments += segments;
                let by = match r.encoding {
                    Encoding::Gsm7 => &mut s.by_encoding.gsm7,
                    Encoding::Ucs2 => &mut s.by_encoding.ucs2,
                };
                by.recipients += 1;
                by.segments += segments;
                *s.histogram.entry(r.segments).or_insert(0) += 1;
                if r.pushed_to_ucs2 {
                    s.pushed_to_ucs2.add(&r.id, limit);
                }
                if r.extra_segments > 0 {
                    s.pushed_to_extra_segment.add(&r.id, limit);
                }
            }
            RecipientPreview::Excluded(r) => s.excluded.add(r.reason),
            RecipientPreview::Failed(_) => s.errors += 1,
        }
    }
}

fn overflow(what: String) -> Error {
    Error::new(ErrorKind::AmountOverflow {
        message: format!("{what} would pass the largest amount ({})", Amount::MAX),
    })
}

/// User-visible characters (extended grapheme clusters) of `text`, without running Unicode
/// segmentation over ASCII.
///
/// Between two ASCII characters there is always a cluster boundary, except inside CR LF (UAX #29:
/// no ASCII character is Extend, ZWJ, SpacingMark, Prepend, a regional indicator or
/// Extended_Pictographic, so no rule joins them, and no rule looks back across them). So a run of
/// ASCII counts one per character (CR LF one together), except its last character, which a
/// combining mark after it may join; each stretch from there to the next such boundary goes
/// through segmentation. A property test compares it with `unicode-segmentation` on the whole
/// text.
fn graphemes(text: &str) -> u32 {
    let ascii_run = |run: &str| {
        // `contains` on bytes is a memchr; CR is rare in messages.
        if run.as_bytes().contains(&b'\r') {
            run.len() - run.matches("\r\n").count()
        } else {
            run.len()
        }
    };
    let bytes = text.as_bytes();
    let mut count = 0;
    let mut i = 0;
    while i < bytes.len() {
        let Some(q) = bytes[i..].iter().position(|&b| b >= 0x80).map(|q| i + q) else {
            count += ascii_run(&text[i..]);
            break;
        };
        // The stretch for segmentation starts at the ASCII character before `q` (or CR LF).
        let mut start = if q > i { q - 1 } else { q };
        if start > i && bytes[start] == b'\n' && bytes[start - 1] == b'\r' {
            start -= 1;
        }
        count += ascii_run(&text[i..start]);
        // It ends at the first boundary between two ASCII characters after `q`.
        let mut end = q + 1;
        while end < bytes.len()
            && !(bytes[end - 1] < 0x80
                && bytes[end] < 0x80
                && !(bytes[end - 1] == b'\r' && bytes[end] == b'\n'))
        {
            end += 1;
        }
        // `start` is an ASCII byte or `q` (a lead byte), `end` an ASCII byte or the end: both
        // char boundaries.
        count += text[start..end].graphemes(true).count();
        i = end;
    }
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// A lazy preview over an iterator of rows; see [`Previewer::stream`].
#[derive(Debug)]
pub struct PreviewStream<'p, I> {
    run: PreviewRun<'p>,
    rows: I,
    failed: bool,
}

impl<I> PreviewStream<'_, I> {
    /// The summary of the rows yielded so far.
    pub fn summary(&self) -> &PreviewSummary {
        self.run.summary()
    }

    /// Ends the stream (previewing nothing more) and returns the summary so far.
    pub fn into_summary(self) -> PreviewSummary {
        self.run.finish()
    }
}

impl<I> Iterator for PreviewStream<'_, I>
where
    I: Iterator,
    I::Item: Borrow<Value>,
{
    type Item = Result<RecipientPreview>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let row = self.rows.next()?;
        let result = self.run.push(row.borrow());
        self.failed = result.is_err();
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn graphemes_fast_path() {
        assert_eq!(graphemes(""), 0);
        assert_eq!(graphemes("abc"), 3);
        assert_eq!(graphemes("a\r\nb"), 3);
        assert_eq!(graphemes("\r\n\r\n"), 2);
        assert_eq!(graphemes("a\n\rb"), 4);
        assert_eq!(graphemes("é👨‍👩‍👧"), 2);
        assert_eq!(
            graphemes("e\u{301}x"),
            2,
            "a combining mark joins the ASCII letter before it"
        );
        assert_eq!(
            graphemes("\u{600}1"),
            1,
            "a prepended mark joins the ASCII digit after it"
        );
        assert_eq!(graphemes("🇬🇧🇫🇷a🇬🇧"), 4);
    }

    proptest::proptest! {
        #[test]
        fn graphemes_equal_unicode_segmentation(
            s in "[a-z\r\n #*0-9\u{300}-\u{302}\u{600}\u{1F1E6}-\u{1F1E8}\u{200D}\u{1F468}\u{1F3FD}é😀\u{1100}\u{1161}\u{AC00}]{0,30}"
        ) {
            proptest::prop_assert_eq!(graphemes(&s) as usize, s.graphemes(true).count());
        }
    }

    #[test]
    fn phone_hasher_spreads_consecutive_numbers() {
        use std::hash::BuildHasher;
        // Consecutive numbers (a block of mobiles) must not share low bits, which a hash table
        // uses to pick buckets: the 256 low-byte values should nearly all appear.
        let build = BuildHasherDefault::<PhoneHasher>::default();
        let low_bytes: HashSet<u8> = (447_700_900_000u64..447_700_901_000)
            .map(|k| build.hash_one(k) as u8)
            .collect();
        assert!(
            low_bytes.len() > 240,
            "{} distinct low bytes",
            low_bytes.len()
        );
        let mut set = PhoneSet::default();
        assert!(set.insert(447_700_900_500) && !set.insert(447_700_900_500));
    }

    #[test]
    fn config_from_json() {
        let config: PreviewConfig = serde_json::from_value(json!({
            "purpose": "transactional",
            "missing": "fail",
            "prices": {"currency": "USD", "default": {"GSM-7": 0.01, "UCS-2": "0.02"}},
            "segments": {"maxSegments": 3},
            "e164Only": true,
            "listLimit": 5,
            "idField": "customer_id",
            "phoneField": "mobile",
            "optedInField": "sms_ok",
            "optedOutField": "stop",
        }))
        .unwrap();
        assert_eq!(
            config,
            PreviewConfig::new()
                .purpose(Purpose::Transactional)
                .missing(MissingVariablePolicy::Fail)
                .prices(
                    PriceTable::from_json(
                        r#"{"currency": "USD", "default": {"GSM-7": "0.01", "UCS-2": 0.02}}"#
                    )
                    .unwrap()
                )
                .segments(SegmentConfig::new().max_segments(3))
                .e164_only(true)
                .list_limit(5)
                .id_field("customer_id")
                .phone_field("mobile")
                .opted_in_field("sms_ok")
                .opted_out_field("stop")
        );
        assert!(serde_json::from_value::<PreviewConfig>(json!({"missng": "fail"})).is_err());
        let round: PreviewConfig =
            serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
        assert_eq!(round, config);
        let err = PreviewConfig::new()
            .phone_field("")
            .build(&Template::compile("x").unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("phoneField"), "{err}");
    }
}
