//! A batch's options (`--options FILE`): prices, pacing, window, budget, retries, verification
//! and A/B variants, with their defaults and validation.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::budget::SpendGuard;
use super::policy::{Backoff, ErrorRateMonitor, InDoubtPolicy, ReconcileTiming, RetryPolicy};
use super::rate::Rate;
use super::variants::Variants;
use super::window::{LocalTime, SendWindow, ZoneSource};
use crate::batch::{Amount, MissingVariablePolicy, PreviewConfig, PriceTable};
use crate::error::{Error, ErrorKind, Result};
use crate::segment::SegmentConfig;

/// A rate limit per sender: `{"segmentsPerSecond": 3, "burst": 3}` (`burst` defaults to the
/// rate rounded up, at least 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateOptions {
    segments_per_second: f64,
    rate: Rate,
}

impl RateOptions {
    /// The validated rate.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// The rate as written.
    pub fn segments_per_second(&self) -> f64 {
        self.segments_per_second
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRate {
    segments_per_second: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    burst: Option<u32>,
}

impl Serialize for RateOptions {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        RawRate {
            segments_per_second: self.segments_per_second,
            burst: Some(self.rate.burst()),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for RateOptions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = RawRate::deserialize(d)?;
        let burst = raw
            .burst
            .unwrap_or_else(|| raw.segments_per_second.ceil().clamp(1.0, 1e6) as u32);
        let rate = Rate::per_second(raw.segments_per_second, burst)
            .map_err(|e| serde::de::Error::custom(reason(&e)))?;
        Ok(Self {
            segments_per_second: raw.segments_per_second,
            rate,
        })
    }
}

/// The send window option: `{"start": "09:00", "end": "20:00", "timeZone": "Europe/London"}`
/// (`timeZone` defaults to `UTC`; a customer's own `time_zone` field, when present, replaces it
/// for their message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendWindowOptions {
    window: SendWindow,
    time_zone: String,
}

impl SendWindowOptions {
    /// The window.
    pub fn window(&self) -> SendWindow {
        self.window
    }

    /// The batch's IANA time zone.
    pub fn time_zone(&self) -> &str {
        &self.time_zone
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawWindow {
    start: LocalTime,
    end: LocalTime,
    #[serde(default = "utc")]
    time_zone: String,
}

fn utc() -> String {
    "UTC".to_owned()
}

impl Serialize for SendWindowOptions {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        RawWindow {
            start: self.window.start(),
            end: self.window.end(),
            time_zone: self.time_zone.clone(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SendWindowOptions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = RawWindow::deserialize(d)?;
        let window = SendWindow::new(raw.start, raw.end)
            .map_err(|e| serde::de::Error::custom(reason(&e)))?;
        let zone = raw.time_zone.trim();
        if zone.is_empty()
            || zone.len() > 64
            || !zone
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b))
        {
            return Err(serde::de::Error::custom(format!(
                "timeZone {:?} is not an IANA time zone name such as \"Europe/London\"",
                raw.time_zone
            )));
        }
        Ok(Self {
            window,
            time_zone: zone.to_owned(),
        })
    }
}

/// The message of an options error, without the field (the caller adds it).
fn reason(e: &Error) -> String {
    match e.kind() {
        ErrorKind::InvalidOptions { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn budget_from_string<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Amount>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    text.map(|t| {
        t.parse::<Amount>()
            .map_err(|e| serde::de::Error::custom(format!("{t:?} is not a decimal amount: {e}")))
    })
    .transpose()
}

fn budget_to_string<S: Serializer>(
    budget: &Option<Amount>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match budget {
        Some(amount) => s.collect_str(amount),
        None => s.serialize_none(),
    }
}

/// A batch's options, as `smsbatch batch create --options FILE` reads them: camelCase JSON,
/// every field optional, unknown fields refused.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `price` | 1 credit per segment | the price table ([`PriceTable`]) |
/// | `maxSegments` | 10 | longer messages are excluded (`tooManySegments`) |
/// | `missing` | `"exclude"` | a missing variable excludes the recipient, or `"fail"`s the batch |
/// | `region` | none | default region for phones without a calling code (`"GB"`) |
/// | `concurrency` | 5 | sends in flight per worker process (1–1000) |
/// | `rate` | none (no pacing) | per sender and per worker: `{"segmentsPerSecond", "burst"}` |
/// | `sendWindow` | none (any hour) | `{"start": "09:00", "end": "20:00", "timeZone": "Europe/London"}` |
/// | `budget` | none | a decimal string in the price table's currency; the batch pauses (`budget`) before its estimated spend would pass it |
/// | `killSwitch` | none | a flag name; sending stops while it is enabled |
/// | `maxAttempts` | 5 | attempts per message, the first included (1–100) |
/// | `leaseSeconds` | 120 | how long a claim lasts before another worker may rescue it (10–86400) |
/// | `verifyAfterSeconds` | 30 | when `sent` messages are re-checked with the provider |
/// | `secondVerifyAfterSeconds` | none | an optional second check, later than the first |
/// | `errorRatePause` | 0.25 | the batch pauses (`errorRate`) when this share of the sends of the last minute failed (at least 20 sends) |
/// | `inDoubt` | `"reconcile"` | [`InDoubtPolicy`]: `"reconcile"`, `"markFailed"`, `{"resendAfterSeconds": N}` |
/// | `variants` | none | `{"flag", "templates": {variant: template id or {"text": ...}}}` ([`Variants`]) |
///
/// ```
/// use smsbatch::queue::BatchOptions;
///
/// let options = BatchOptions::from_json(r#"{
///     "rate": {"segmentsPerSecond": 3},
///     "sendWindow": {"start": "09:00", "end": "20:00", "timeZone": "Europe/London"},
///     "budget": "25.00",
///     "maxAttempts": 3
/// }"#)?;
/// assert_eq!(options.concurrency, 5);
/// assert_eq!(options.rate.unwrap().rate().burst(), 3);
/// assert_eq!(options.retry_policy().max_attempts, 3);
/// assert_eq!(options.spend_guard().unwrap().budget().to_string(), "25");
///
/// let err = BatchOptions::from_json(r#"{"rate": {"segmentsPerSecond": 3, "burst": "x"}}"#).unwrap_err();
/// assert_eq!(err.kind().code(), "invalidOptions");
/// assert!(err.to_string().starts_with("invalid batch options at `rate.burst`"), "{err}");
/// # Ok::<(), smsbatch::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[non_exhaustive]
pub struct BatchOptions {
    /// Prices per segment.
    pub price: PriceTable,
    /// The most segments a message may have.
    pub max_segments: u32,
    /// What a missing template variable does.
    pub missing: MissingVariablePolicy,
    /// Default region for phone numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Sends in flight per worker.
    pub concurrency: u32,
    /// Per-sender rate limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateOptions>,
    /// Local hours for sending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_window: Option<SendWindowOptions>,
    /// Spending limit.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "budget_from_string",
        serialize_with = "budget_to_string"
    )]
    pub budget: Option<Amount>,
    /// Kill-switch flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kill_switch: Option<String>,
    /// Attempts per message.
    pub max_attempts: u32,
    /// Claim lease.
    pub lease_seconds: u64,
    /// First verification delay.
    pub verify_after_seconds: u64,
    /// Second verification delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second_verify_after_seconds: Option<u64>,
    /// Error-rate threshold.
    pub error_rate_pause: f64,
    /// In-doubt policy.
    pub in_doubt: InDoubtPolicy,
    /// A/B templates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variants: Option<Variants>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            price: PriceTable::credits(),
            max_segments: SegmentConfig::DEFAULT_MAX_SEGMENTS,
            missing: MissingVariablePolicy::Exclude,
            region: None,
            concurrency: Self::DEFAULT_CONCURRENCY,
            rate: None,
            send_window: None,
            budget: None,
            kill_switch: None,
            max_attempts: RetryPolicy::DEFAULT_MAX_ATTEMPTS,
            lease_seconds: Self::DEFAULT_LEASE_SECONDS,
            verify_after_seconds: Self::DEFAULT_VERIFY_AFTER_SECONDS,
            second_verify_after_seconds: None,
            error_rate_pause: Self::DEFAULT_ERROR_RATE_PAUSE,
            in_doubt: InDoubtPolicy::Reconcile,
            variants: None,
        }
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOptions {
        field: field.into(),
        message: message.into(),
    })
}

impl BatchOptions {
    /// Sends in flight per worker by default.
    pub const DEFAULT_CONCURRENCY: u32 = 5;
    /// The default lease: longer than a provider's own request timeout (Twilio waits up to about
    /// 26 s) plus the database write.
    pub const DEFAULT_LEASE_SECONDS: u64 = 120;
    /// The default delay of the verification pass.
    pub const DEFAULT_VERIFY_AFTER_SECONDS: u64 = 30;
    /// The default error-rate threshold.
    pub const DEFAULT_ERROR_RATE_PAUSE: f64 = 0.25;
    /// The window of the error rate.
    pub const ERROR_RATE_WINDOW: Duration = Duration::from_secs(60);
    /// The sends the error-rate window must hold before it can pause a batch.
    pub const ERROR_RATE_MIN_SENDS: u64 = 20;

    /// The defaults (see the type's table).
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads and validates options from JSON; an error names the field (`rate.burst`).
    pub fn from_json(json: &str) -> Result<Self> {
        let mut de = serde_json::Deserializer::from_str(json);
        let options: Self = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let message = e.inner().to_string();
            // serde_path_to_error's path already ends with an unknown field's name.
            let field = path;
            invalid(field, message)
        })?;
        de.end().map_err(|e| invalid("", e.to_string()))?;
        options.validate()?;
        Ok(options)
    }

    /// Checks the ranges the types cannot: what [`BatchOptions::from_json`] runs after reading.
    pub fn validate(&self) -> Result<()> {
        if !(1..=1000).contains(&self.concurrency) {
            return Err(invalid(
                "concurrency",
                format!("must be from 1 to 1000, not {}", self.concurrency),
            ));
        }
        if !(1..=255).contains(&self.max_segments) {
            return Err(invalid(
                "maxSegments",
                format!("must be from 1 to 255, not {}", self.max_segments),
            ));
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(invalid(
                "maxAttempts",
                format!("must be from 1 to 100, not {}", self.max_attempts),
            ));
        }
        if !(10..=86_400).contains(&self.lease_seconds) {
            return Err(invalid(
                "leaseSeconds",
                format!("must be from 10 to 86400, not {}", self.lease_seconds),
            ));
        }
        if self.verify_after_seconds > 7 * 86_400 {
            return Err(invalid(
                "verifyAfterSeconds",
                "must be at most 604800 (a week)",
            ));
        }
        if let Some(second) = self.second_verify_after_seconds
            && (second <= self.verify_after_seconds || second > 7 * 86_400)
        {
            return Err(invalid(
                "secondVerifyAfterSeconds",
                format!(
                    "must be later than verifyAfterSeconds ({}) and at most 604800, not {second}",
                    self.verify_after_seconds
                ),
            ));
        }
        if !(self.error_rate_pause > 0.0 && self.error_rate_pause <= 1.0) {
            return Err(invalid(
                "errorRatePause",
                format!(
                    "must be a fraction above 0 and at most 1, not {}",
                    self.error_rate_pause
                ),
            ));
        }
        if let Some(region) = &self.region
            && !(region.len() == 2 && region.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            return Err(invalid(
                "region",
                format!("{region:?} is not a two-letter region code such as \"GB\""),
            ));
        }
        if self.budget == Some(Amount::ZERO) {
            return Err(invalid(
                "budget",
                "must be more than 0 (leave it out for no budget)",
            ));
        }
        if self
            .kill_switch
            .as_deref()
            .is_some_and(|k| k.trim().is_empty())
        {
            return Err(invalid("killSwitch", "must name a flag"));
        }
        if let InDoubtPolicy::ResendAfter(d) = self.in_doubt
            && d < Duration::from_secs(self.lease_seconds)
        {
            return Err(invalid(
                "inDoubt.resendAfterSeconds",
                format!(
                    "must be at least leaseSeconds ({}): a send may still be under way until the lease ends",
                    self.lease_seconds
                ),
            ));
        }
        if let Some(v) = &self.variants {
            if v.flag.trim().is_empty() {
                return Err(invalid("variants.flag", "must name a flag"));
            }
            if v.templates.is_empty() {
                return Err(invalid(
                    "variants.templates",
                    "must give at least one variant's template",
                ));
            }
            for (name, source) in &v.templates {
                let (super::variants::TemplateSource::Id(text)
                | super::variants::TemplateSource::Text(text)) = source;
                if text.trim().is_empty() {
                    return Err(invalid(format!("variants.templates.{name}"), "is empty"));
                }
            }
        }
        Ok(())
    }

    /// Checks that the send window's zone exists in `zones`.
    pub fn validate_zones(&self, zones: &dyn ZoneSource) -> Result<()> {
        if let Some(window) = &self.send_window {
            zones
                .zone(window.time_zone())
                .map_err(|e| invalid("sendWindow.timeZone", reason(&e)))?;
        }
        Ok(())
    }

    /// The retry policy: default backoff, `maxAttempts`, `inDoubt`, and in-doubt look-ups after
    /// the verification delays.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::new()
            .backoff(Backoff::default())
            .max_attempts(self.max_attempts)
            .in_doubt(self.in_doubt)
            .timing(ReconcileTiming::new(
                self.verify_after(),
                self.second_verify_after(),
            ))
    }

    /// The per-sender rate, if any.
    pub fn rate(&self) -> Option<Rate> {
        self.rate.map(|r| r.rate())
    }

    /// The spend guard, when there is a budget.
    pub fn spend_guard(&self) -> Option<SpendGuard> {
        self.budget.map(SpendGuard::new)
    }

    /// The error-rate monitor for `errorRatePause` (last minute, at least 20 sends).
    pub fn error_rate_monitor(&self) -> ErrorRateMonitor {
        ErrorRateMonitor::new(
            self.error_rate_pause,
            Self::ERROR_RATE_WINDOW,
            Self::ERROR_RATE_MIN_SENDS,
        )
    }

    /// The lease.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }

    /// The verification delay.
    pub fn verify_after(&self) -> Duration {
        Duration::from_secs(self.verify_after_seconds)
    }

    /// The second verification delay.
    pub fn second_verify_after(&self) -> Option<Duration> {
        self.second_verify_after_seconds.map(Duration::from_secs)
    }

    /// The preview configuration batch preparation uses: prices, maximum segments, the
    /// missing-variable policy and the region.
    pub fn preview_config(&self) -> PreviewConfig {
        let config = PreviewConfig::new()
            .prices(self.price.clone())
            .missing(self.missing)
            .segments(SegmentConfig::new().max_segments(self.max_segments));
        match &self.region {
            Some(region) => config.region(region.clone()),
            None => config,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::TemplateSource;

    fn field_of(json: &str) -> String {
        match BatchOptions::from_json(json).unwrap_err().into_kind() {
            ErrorKind::InvalidOptions { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_field() {
        let o = BatchOptions::from_json(
            r#"{"price": {"currency": "USD", "default": {"GSM-7": "0.0079", "UCS-2": "0.0079"}},
                "maxSegments": 3, "missing": "fail", "region": "GB", "concurrency": 8,
                "rate": {"segmentsPerSecond": 0.5, "burst": 2},
                "sendWindow": {"start": "22:00", "end": "06:00", "timeZone": "America/New_York"},
                "budget": "100.50", "killSwitch": "stop-sms", "maxAttempts": 4,
                "leaseSeconds": 60, "verifyAfterSeconds": 10, "secondVerifyAfterSeconds": 300,
                "errorRatePause": 0.1, "inDoubt": {"resendAfterSeconds": 900},
                "variants": {"flag": "ab", "templates": {"a": "tpl-1", "b": {"text": "Hi"}}}}"#,
        )
        .unwrap();
        assert_eq!(o.price.currency(), "USD");
        assert_eq!((o.max_segments, o.concurrency, o.max_attempts), (3, 8, 4));
        assert_eq!(o.missing, MissingVariablePolicy::Fail);
        assert_eq!(o.rate().unwrap().interval(), Duration::from_secs(2));
        let w = o.send_window.as_ref().unwrap();
        assert_eq!(
            (w.window().start().to_string(), w.time_zone()),
            ("22:00".into(), "America/New_York")
        );
        assert_eq!(o.budget.unwrap().to_string(), "100.5");
        assert_eq!(o.kill_switch.as_deref(), Some("stop-sms"));
        assert_eq!(o.lease(), Duration::from_secs(60));
        let policy = o.retry_policy();
        assert_eq!(policy.timing.settle, Duration::from_secs(300));
        assert_eq!(
            policy.in_doubt,
            InDoubtPolicy::ResendAfter(Duration::from_secs(900))
        );
        let v = o.variants.as_ref().unwrap();
        assert_eq!(v.templates["b"], TemplateSource::Text("Hi".into()));
        // Round trip through JSON.
        let json = serde_json::to_string(&o).unwrap();
        assert_eq!(BatchOptions::from_json(&json).unwrap(), o);
    }

    #[test]
    fn defaults() {
        let o = BatchOptions::from_json("{}").unwrap();
        assert_eq!(o, BatchOptions::default());
        assert_eq!(o.concurrency, 5);
        assert_eq!(o.verify_after(), Duration::from_secs(30));
        assert!(o.rate().is_none() && o.spend_guard().is_none() && o.send_window.is_none());
        assert_eq!(o.retry_policy().timing.settle, Duration::from_secs(60));
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(field_of(r#"{"colour": 1}"#), "colour");
        assert_eq!(
            field_of(r#"{"rate": {"segmentsPerSecond": 1, "brust": 2}}"#),
            "rate.brust"
        );
        assert_eq!(field_of(r#"{"rate": {"segmentsPerSecond": 0}}"#), "rate");
        assert_eq!(field_of(r#"{"concurrency": "five"}"#), "concurrency");
        assert_eq!(field_of(r#"{"concurrency": 0}"#), "concurrency");
        assert_eq!(field_of(r#"{"budget": 12.5}"#), "budget");
        assert_eq!(field_of(r#"{"budget": "twelve"}"#), "budget");
        assert_eq!(field_of(r#"{"budget": "0"}"#), "budget");
        assert_eq!(
            field_of(r#"{"sendWindow": {"start": "9", "end": "17:00"}}"#),
            "sendWindow.start"
        );
        assert_eq!(
            field_of(r#"{"sendWindow": {"start": "09:00", "end": "09:00"}}"#),
            "sendWindow"
        );
        assert_eq!(
            field_of(
                r#"{"sendWindow": {"start": "09:00", "end": "17:00", "timeZone": "not a zone"}}"#
            ),
            "sendWindow"
        );
        assert_eq!(field_of(r#"{"errorRatePause": 1.5}"#), "errorRatePause");
        assert_eq!(
            field_of(r#"{"verifyAfterSeconds": 60, "secondVerifyAfterSeconds": 30}"#),
            "secondVerifyAfterSeconds"
        );
        assert_eq!(
            field_of(r#"{"inDoubt": {"resendAfterSeconds": 5}}"#),
            "inDoubt.resendAfterSeconds"
        );
        assert_eq!(field_of(r#"{"inDoubt": "sometimes"}"#), "inDoubt");
        assert_eq!(
            field_of(r#"{"variants": {"flag": "ab", "templates": {}}}"#),
            "variants.templates"
        );
        assert_eq!(
            field_of(r#"{"variants": {"flag": "ab", "templates": {"a": 7}}}"#),
            "variants.templates.a"
        );
        assert_eq!(field_of(r#"{"region": "Britain"}"#), "region");
        assert_eq!(field_of(r#"{"maxAttempts": 0}"#), "maxAttempts");
        assert_eq!(field_of(r#"{} {}"#), "");
        let err = BatchOptions::from_json(r#"{"colour": 1}"#).unwrap_err();
        assert_eq!(
            serde_json::to_value(&err).unwrap()["field"],
            serde_json::json!("colour")
        );
    }
}
