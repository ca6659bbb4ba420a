//! Provider error codes as data: each code's category and what the queue does about it, with
//! fallbacks by HTTP status and by the code's class for codes the table does not list.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::category::ErrorCategory;
use super::sender::{SendFailure, SendOutcome};

/// What the queue does with a message that failed this way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Disposition {
    /// Try again later (with backoff, within the attempts and the retry budget).
    Retry,
    /// Fail this message for good.
    Permanent,
    /// The request may have been processed: reconcile, never resend blindly.
    InDoubt,
    /// Pause the batch: every other message would fail the same way.
    HaltBatch,
}

impl Disposition {
    /// The camelCase name (`"haltBatch"`).
    pub const fn code(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Permanent => "permanent",
            Self::InDoubt => "inDoubt",
            Self::HaltBatch => "haltBatch",
        }
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A failure's category and disposition, with the shortest sensible wait before a retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Classification {
    /// What kind of failure.
    pub category: ErrorCategory,
    /// What to do about it.
    pub disposition: Disposition,
    /// For retries: wait at least this long (a queue that is full for minutes, a destination
    /// blocked for half an hour).
    pub min_delay: Option<Duration>,
}

impl Classification {
    /// A classification without a minimum delay.
    pub const fn new(category: ErrorCategory, disposition: Disposition) -> Self {
        Self {
            category,
            disposition,
            min_delay: None,
        }
    }

    /// A network failure before the request reached the provider (connection refused, DNS,
    /// TLS): nothing was processed, so it is retried.
    pub const NETWORK_BEFORE_SEND: Classification =
        Classification::new(ErrorCategory::Transient, Disposition::Retry);

    /// A network failure after the request was sent (a read timeout, a reset while waiting for
    /// the answer): the provider may have processed it.
    pub const NETWORK_AFTER_SEND: Classification =
        Classification::new(ErrorCategory::InDoubt, Disposition::InDoubt);

    /// The outcome for a failure of this classification: [`SendOutcome::Retry`] (waiting at
    /// least the larger of `retry_after`, the provider's header, and [`Classification::min_delay`]),
    /// [`SendOutcome::Failed`], [`SendOutcome::InDoubt`] or [`SendOutcome::HaltBatch`].
    pub fn outcome(
        self,
        code: Option<&str>,
        http_status: Option<u16>,
        message: impl Into<String>,
        retry_after: Option<Duration>,
    ) -> SendOutcome {
        let mut failure = SendFailure::new(self.category, message);
        failure.code = code.map(str::to_owned);
        failure.http_status = http_status;
        match self.disposition {
            Disposition::Retry => SendOutcome::Retry {
                failure,
                retry_after: match (retry_after, self.min_delay) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                },
            },
            Disposition::Permanent => SendOutcome::Failed(failure),
            Disposition::InDoubt => SendOutcome::InDoubt(failure),
            Disposition::HaltBatch => SendOutcome::HaltBatch(failure),
        }
    }
}

/// One row of an [`ErrorTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CodeRule {
    /// The provider's numeric code.
    pub code: u32,
    /// Its category.
    pub category: ErrorCategory,
    /// What the queue does.
    pub disposition: Disposition,
    /// The least wait before a retry, for codes that call for one.
    pub min_delay: Option<Duration>,
    /// The provider's meaning, for people reading reports.
    pub meaning: &'static str,
}

impl CodeRule {
    /// A rule without a minimum delay.
    pub const fn new(
        code: u32,
        category: ErrorCategory,
        disposition: Disposition,
        meaning: &'static str,
    ) -> Self {
        Self {
            code,
            category,
            disposition,
            min_delay: None,
            meaning,
        }
    }

    /// The least wait before a retry.
    pub const fn min_delay(mut self, delay: Duration) -> Self {
        self.min_delay = Some(delay);
        self
    }

    /// The rule's category, disposition and delay.
    pub const fn classification(&self) -> Classification {
        Classification {
            category: self.category,
            disposition: self.disposition,
            min_delay: self.min_delay,
        }
    }
}

use Disposition::{HaltBatch, InDoubt, Permanent, Retry};
use ErrorCategory as C;

const MINUTE: u64 = 60;

/// Twilio's Programmable Messaging codes (sources and reasoning in the design notes on the send
/// queue, §4). Kept sorted by code.
const TWILIO: &[CodeRule] = &[
    CodeRule::new(20003, C::Account, HaltBatch, "Authentication failed"),
    CodeRule::new(
        20429,
        C::RateLimited,
        Retry,
        "Too many requests (never processed; safe to retry)",
    ),
    CodeRule::new(
        20500,
        C::ProviderError,
        InDoubt,
        "Internal server error (the create may have been processed)",
    ),
    CodeRule::new(20503, C::ProviderError, Retry, "Service unavailable"),
    CodeRule::new(
        21211,
        C::InvalidRecipient,
        Permanent,
        "Invalid 'To' phone number",
    ),
    CodeRule::new(21212, C::Config, HaltBatch, "Invalid 'From' phone number"),
    CodeRule::new(
        21408,
        C::Config,
        HaltBatch,
        "Permission to send an SMS has not been enabled for the region",
    ),
    CodeRule::new(21602, C::Content, Permanent, "Message body is required"),
    CodeRule::new(
        21604,
        C::InvalidRecipient,
        Permanent,
        "'To' phone number is required",
    ),
    CodeRule::new(
        21606,
        C::Config,
        HaltBatch,
        "The 'From' phone number is not a valid message-capable number for this account",
    ),
    CodeRule::new(
        21608,
        C::Config,
        HaltBatch,
        "The 'To' number is not verified (trial account)",
    ),
    CodeRule::new(
        21610,
        C::OptedOut,
        Permanent,
        "The recipient unsubscribed (replied STOP)",
    ),
    CodeRule::new(
        21611,
        C::Backpressure,
        Retry,
        "The 'From' number's queue is full",
    )
    .min_delay(Duration::from_secs(5 * MINUTE)),
    CodeRule::new(
        21612,
        C::Config,
        Permanent,
        "The 'To' and 'From' combination cannot be routed",
    ),
    CodeRule::new(
        21614,
        C::InvalidRecipient,
        Permanent,
        "'To' is not a valid mobile number",
    ),
    CodeRule::new(
        21617,
        C::Content,
        Permanent,
        "The body exceeds 1,600 characters",
    ),
    CodeRule::new(21624, C::Config, HaltBatch, "Invalid validity period"),
    CodeRule::new(
        21635,
        C::InvalidRecipient,
        Permanent,
        "'To' cannot be a landline",
    ),
    CodeRule::new(30001, C::Backpressure, Retry, "Queue overflow")
        .min_delay(Duration::from_secs(5 * MINUTE)),
    CodeRule::new(30002, C::Account, HaltBatch, "Account suspended"),
    CodeRule::new(
        30003,
        C::Unreachable,
        Retry,
        "Unreachable destination handset",
    )
    .min_delay(Duration::from_secs(30 * MINUTE)),
    CodeRule::new(30004, C::Blocked, Permanent, "Message blocked"),
    CodeRule::new(
        30005,
        C::InvalidRecipient,
        Permanent,
        "Unknown destination handset",
    ),
    CodeRule::new(
        30006,
        C::InvalidRecipient,
        Permanent,
        "Landline or unreachable carrier",
    ),
    CodeRule::new(
        30007,
        C::Filtered,
        Permanent,
        "Message filtered (spam or fraud)",
    ),
    CodeRule::new(30008, C::Unknown, Retry, "Unknown error"),
    CodeRule::new(
        30010,
        C::Config,
        Permanent,
        "Message price exceeds max price",
    ),
    CodeRule::new(
        30021,
        C::ProviderError,
        Retry,
        "Messaging Service orchestrator failure",
    ),
    CodeRule::new(
        30022,
        C::RateLimited,
        Retry,
        "US A2P 10DLC rate limit exceeded",
    )
    .min_delay(Duration::from_secs(MINUTE)),
    CodeRule::new(
        30024,
        C::Config,
        HaltBatch,
        "Numeric sender id not provisioned on the carrier",
    ),
    CodeRule::new(
        30032,
        C::Compliance,
        HaltBatch,
        "Toll-free number not verified",
    ),
    CodeRule::new(
        30034,
        C::Compliance,
        HaltBatch,
        "US A2P 10DLC: message from an unregistered number",
    ),
    CodeRule::new(30036, C::Backpressure, Retry, "Validity period expired")
        .min_delay(Duration::from_secs(5 * MINUTE)),
    CodeRule::new(30045, C::Config, HaltBatch, "Invalid validity period"),
    CodeRule::new(
        30450,
        C::Blocked,
        Retry,
        "Destination temporarily blocked by SMS pumping protection",
    )
    .min_delay(Duration::from_secs(30 * MINUTE)),
    CodeRule::new(
        30500,
        C::ProviderError,
        Retry,
        "Internal error; try sending the message again",
    ),
    CodeRule::new(
        60728,
        C::Account,
        HaltBatch,
        "Account exceeded its hourly message limit",
    ),
    CodeRule::new(
        63017,
        C::RateLimited,
        Retry,
        "Account sending above 2,000 messages per second",
    )
    .min_delay(Duration::from_secs(1)),
    CodeRule::new(
        63038,
        C::Account,
        HaltBatch,
        "Account exceeded its daily message limit",
    ),
    CodeRule::new(90007, C::Config, HaltBatch, "Invalid validity period"),
];

/// A provider's error codes mapped to categories and dispositions, with fallbacks for what it
/// does not list.
///
/// [`ErrorTable::classify`] looks a failure up in this order:
/// 1. the code, when the table lists it;
/// 2. the HTTP status of a synchronous answer: 429 retry (rate limited); 401 and 403 halt the
///    batch (account); 500, 502, 504 and other 5xx are in doubt (the create may have been
///    processed); 503 retry (Twilio documents it as unprocessed); other 4xx fail the message;
/// 3. the code's class: unknown `3xxxx` delivery codes retry (category unknown, and
///    [`RetryPolicy`](super::RetryPolicy) allows unknown failures one retry only); any other
///    unknown code fails the message;
/// 4. nothing to go on: the message fails, category unknown (never resent on a guess).
///
/// Twilio changes its codes now and then (and asks users not to depend on them), which is why the
/// table is data: [`ErrorTable::with_rule`] overrides or adds a row.
///
/// ```
/// use std::time::Duration;
/// use smsbatch::queue::{Disposition, ErrorCategory, ErrorTable, SendOutcome};
///
/// let table = ErrorTable::twilio();
/// let c = table.classify(Some("21610"), Some(400));
/// assert_eq!((c.category, c.disposition), (ErrorCategory::OptedOut, Disposition::Permanent));
/// let c = table.classify(None, Some(500));
/// assert_eq!(c.disposition, Disposition::InDoubt);
/// let c = table.classify(Some("30999"), None);
/// assert_eq!((c.category, c.disposition), (ErrorCategory::Unknown, Disposition::Retry));
///
/// // What an adapter returns for a 429 with `Retry-After: 2`:
/// let outcome = table.outcome(Some("20429"), Some(429), "Too Many Requests", Some(Duration::from_secs(2)));
/// assert!(matches!(outcome, SendOutcome::Retry { retry_after: Some(d), .. } if d == Duration::from_secs(2)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorTable {
    rules: Cow<'static, [CodeRule]>,
}

impl ErrorTable {
    /// Twilio's table: every code of the design notes' §4 (listed by [`ErrorTable::rules`] and in
    /// the README).
    pub const fn twilio() -> Self {
        Self {
            rules: Cow::Borrowed(TWILIO),
        }
    }

    /// A table of your own rules (for another provider), with the same fallbacks.
    pub fn new(rules: impl IntoIterator<Item = CodeRule>) -> Self {
        let mut table = Self {
            rules: Cow::Owned(Vec::new()),
        };
        for rule in rules {
            table = table.with_rule(rule);
        }
        table
    }

    /// This table with `rule` added, replacing any rule for the same code.
    pub fn with_rule(mut self, rule: CodeRule) -> Self {
        let rules = self.rules.to_mut();
        match rules.binary_search_by_key(&rule.code, |r| r.code) {
            Ok(i) => rules[i] = rule,
            Err(i) => rules.insert(i, rule),
        }
        self
    }

    /// The rules, sorted by code.
    pub fn rules(&self) -> &[CodeRule] {
        &self.rules
    }

    /// The rule for `code`, if the table lists it.
    pub fn rule(&self, code: u32) -> Option<&CodeRule> {
        self.rules
            .binary_search_by_key(&code, |r| r.code)
            .ok()
            .and_then(|i| self.rules.get(i))
    }

    /// The classification of a failure with this provider code (as text; Twilio's are numbers)
    /// and HTTP status; see the type's docs for the order of the fallbacks.
    pub fn classify(&self, code: Option<&str>, http_status: Option<u16>) -> Classification {
        let numeric = code.and_then(|c| c.trim().parse::<u32>().ok());
        if let Some(rule) = numeric.and_then(|n| self.rule(n)) {
            return rule.classification();
        }
        if let Some(status) = http_status
            && let Some(by_status) = classify_http_status(status)
        {
            return by_status;
        }
        match numeric {
            Some(30_000..=30_999) => Classification::new(C::Unknown, Retry),
            _ => Classification::new(C::Unknown, Permanent),
        }
    }

    /// The outcome an adapter returns for a failed answer: [`ErrorTable::classify`], then
    /// [`Classification::outcome`].
    pub fn outcome(
        &self,
        code: Option<&str>,
        http_status: Option<u16>,
        message: impl Into<String>,
        retry_after: Option<Duration>,
    ) -> SendOutcome {
        self.classify(code, http_status)
            .outcome(code, http_status, message, retry_after)
    }
}

impl Default for ErrorTable {
    /// Twilio's table.
    fn default() -> Self {
        Self::twilio()
    }
}

/// The classification an HTTP status alone implies, for answers without a known code; `None`
/// for statuses that are not errors.
///
/// ```
/// use smsbatch::queue::{Disposition, classify_http_status};
///
/// assert_eq!(classify_http_status(429).unwrap().disposition, Disposition::Retry);
/// assert_eq!(classify_http_status(504).unwrap().disposition, Disposition::InDoubt);
/// assert_eq!(classify_http_status(401).unwrap().disposition, Disposition::HaltBatch);
/// assert_eq!(classify_http_status(404).unwrap().disposition, Disposition::Permanent);
/// assert!(classify_http_status(201).is_none());
/// ```
pub const fn classify_http_status(status: u16) -> Option<Classification> {
    Some(match status {
        429 => Classification::new(C::RateLimited, Retry),
        401 | 403 => Classification::new(C::Account, HaltBatch),
        503 => Classification::new(C::ProviderError, Retry),
        500..=599 => Classification::new(C::ProviderError, InDoubt),
        400..=499 => Classification::new(C::Unknown, Permanent),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_table_is_sorted_and_unique() {
        assert!(TWILIO.windows(2).all(|w| w[0].code < w[1].code));
    }

    #[test]
    fn every_row_of_the_notes() {
        let table = ErrorTable::twilio();
        let expect = |code: &str, category, disposition| {
            let c = table.classify(Some(code), None);
            assert_eq!(
                (c.category, c.disposition),
                (category, disposition),
                "{code}"
            );
        };
        expect("20429", C::RateLimited, Retry);
        expect("20500", C::ProviderError, InDoubt);
        expect("20503", C::ProviderError, Retry);
        expect("20003", C::Account, HaltBatch);
        expect("21211", C::InvalidRecipient, Permanent);
        expect("21614", C::InvalidRecipient, Permanent);
        expect("21635", C::InvalidRecipient, Permanent);
        expect("21612", C::Config, Permanent);
        expect("21408", C::Config, HaltBatch);
        expect("21606", C::Config, HaltBatch);
        expect("21608", C::Config, HaltBatch);
        expect("21610", C::OptedOut, Permanent);
        expect("21611", C::Backpressure, Retry);
        expect("21617", C::Content, Permanent);
        expect("21624", C::Config, HaltBatch);
        expect("90007", C::Config, HaltBatch);
        expect("30045", C::Config, HaltBatch);
        expect("63017", C::RateLimited, Retry);
        expect("63038", C::Account, HaltBatch);
        expect("60728", C::Account, HaltBatch);
        expect("30001", C::Backpressure, Retry);
        expect("30002", C::Account, HaltBatch);
        expect("30003", C::Unreachable, Retry);
        expect("30004", C::Blocked, Permanent);
        expect("30005", C::InvalidRecipient, Permanent);
        expect("30006", C::InvalidRecipient, Permanent);
        expect("30007", C::Filtered, Permanent);
        expect("30008", C::Unknown, Retry);
        expect("30010", C::Config, Permanent);
        expect("30022", C::RateLimited, Retry);
        expect("30024", C::Config, HaltBatch);
        expect("30032", C::Compliance, HaltBatch);
        expect("30034", C::Compliance, HaltBatch);
        expect("30036", C::Backpressure, Retry);
        expect("30450", C::Blocked, Retry);
        expect("30500", C::ProviderError, Retry);
        expect("30021", C::ProviderError, Retry);
    }

    #[test]
    fn unknown_codes_fall_back_by_status_then_class() {
        let table = ErrorTable::twilio();
        let c = |code: Option<&str>, status| {
            let c = table.classify(code, status);
            (c.category, c.disposition)
        };
        assert_eq!(c(Some("29999"), Some(429)), (C::RateLimited, Retry));
        assert_eq!(c(Some("29999"), Some(502)), (C::ProviderError, InDoubt));
        assert_eq!(c(Some("29999"), Some(503)), (C::ProviderError, Retry));
        assert_eq!(c(Some("21999"), Some(400)), (C::Unknown, Permanent));
        assert_eq!(c(Some("21999"), None), (C::Unknown, Permanent));
        assert_eq!(c(Some("30999"), None), (C::Unknown, Retry));
        assert_eq!(c(Some("not a number"), Some(403)), (C::Account, HaltBatch));
        assert_eq!(c(None, None), (C::Unknown, Permanent));
        // A known code wins over its status.
        assert_eq!(c(Some("21610"), Some(500)), (C::OptedOut, Permanent));
    }

    #[test]
    fn outcomes_carry_the_floor_and_the_details() {
        let table = ErrorTable::twilio();
        let SendOutcome::Retry {
            failure,
            retry_after,
        } = table.outcome(
            Some("21611"),
            Some(400),
            "queue full",
            Some(Duration::from_secs(1)),
        )
        else {
            panic!("21611 retries")
        };
        assert_eq!(
            retry_after,
            Some(Duration::from_secs(300)),
            "the rule's floor wins"
        );
        assert_eq!(failure.code.as_deref(), Some("21611"));
        assert_eq!(failure.http_status, Some(400));
        let SendOutcome::Retry { retry_after, .. } = table.outcome(
            Some("20429"),
            Some(429),
            "slow down",
            Some(Duration::from_secs(9)),
        ) else {
            panic!()
        };
        assert_eq!(retry_after, Some(Duration::from_secs(9)), "the header wins");
        assert!(matches!(
            table.outcome(Some("20003"), Some(401), "auth", None),
            SendOutcome::HaltBatch(_)
        ));
        assert!(matches!(
            Classification::NETWORK_AFTER_SEND.outcome(None, None, "read timeout", None),
            SendOutcome::InDoubt(f) if f.category == C::InDoubt
        ));
    }

    #[test]
    fn custom_rules_override() {
        let table = ErrorTable::twilio().with_rule(CodeRule::new(
            30007,
            C::Filtered,
            HaltBatch,
            "filtered: stop and look",
        ));
        assert_eq!(table.classify(Some("30007"), None).disposition, HaltBatch);
        assert_eq!(table.rules().len(), TWILIO.len());
        let own = ErrorTable::new([
            CodeRule::new(2, C::Content, Permanent, "b"),
            CodeRule::new(1, C::Account, HaltBatch, "a"),
        ]);
        assert_eq!(own.rules()[0].code, 1);
        assert_eq!(own.rule(2).unwrap().meaning, "b");
    }
}
