//! Error categories: what kind of failure a provider reported, which decides what the queue does.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// What kind of failure a send met. Providers' codes map onto these (Twilio's table is in the
/// queue's policy); reports count and sample failures per category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ErrorCategory {
    /// The provider asked us to slow down (HTTP 429); the request was not processed.
    RateLimited,
    /// The provider's queue is full or a message waited too long in it.
    Backpressure,
    /// A network failure before the request reached the provider.
    Transient,
    /// The provider failed on its side (HTTP 5xx, internal errors).
    ProviderError,
    /// The outcome of a send is unknown: it may have been processed.
    InDoubt,
    /// The number is not a valid mobile number, or cannot receive SMS.
    InvalidRecipient,
    /// The recipient replied STOP (or the provider's equivalent).
    OptedOut,
    /// The handset could not be reached (switched off, no signal); it may be reachable later.
    Unreachable,
    /// A carrier or the provider blocked the message.
    Blocked,
    /// A carrier filtered the message as spam.
    Filtered,
    /// The body was refused (too long, empty, forbidden content).
    Content,
    /// The sender, the account's permissions or a parameter is misconfigured.
    Config,
    /// The account cannot send (authentication, suspension, funds).
    Account,
    /// A registration the destination requires is missing (A2P 10DLC, toll-free verification).
    Compliance,
    /// A failure no rule recognises.
    Unknown,
}

impl ErrorCategory {
    /// Every category.
    pub const ALL: [ErrorCategory; 15] = [
        Self::RateLimited,
        Self::Backpressure,
        Self::Transient,
        Self::ProviderError,
        Self::InDoubt,
        Self::InvalidRecipient,
        Self::OptedOut,
        Self::Unreachable,
        Self::Blocked,
        Self::Filtered,
        Self::Content,
        Self::Config,
        Self::Account,
        Self::Compliance,
        Self::Unknown,
    ];

    /// The camelCase name used in JSON (`"rateLimited"`).
    pub const fn code(self) -> &'static str {
        match self {
            Self::RateLimited => "rateLimited",
            Self::Backpressure => "backpressure",
            Self::Transient => "transient",
            Self::ProviderError => "providerError",
            Self::InDoubt => "inDoubt",
            Self::InvalidRecipient => "invalidRecipient",
            Self::OptedOut => "optedOut",
            Self::Unreachable => "unreachable",
            Self::Blocked => "blocked",
            Self::Filtered => "filtered",
            Self::Content => "content",
            Self::Config => "config",
            Self::Account => "account",
            Self::Compliance => "compliance",
            Self::Unknown => "unknown",
        }
    }

    /// The snake_case name stored in the database (`"rate_limited"`).
    pub const fn as_sql(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::ProviderError => "provider_error",
            Self::InDoubt => "in_doubt",
            Self::InvalidRecipient => "invalid_recipient",
            Self::OptedOut => "opted_out",
            other => other.code(),
        }
    }

    /// Reads the database name back.
    pub fn from_sql(text: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_sql() == text)
            .ok_or_else(|| {
                Error::new(ErrorKind::InvalidInput {
                    message: format!(
                        "unknown error category {text:?}; expected one of {}",
                        Self::ALL.map(Self::as_sql).join(", ")
                    ),
                })
            })
    }

    /// Whether a message that failed this way may be tried again later (what "retry the
    /// failed" requeues): rate limits, backpressure, transient and provider errors, unreachable
    /// handsets and unknown failures. Invalid numbers, opt-outs, blocks, content, configuration,
    /// account and compliance problems do not go away by trying again, and an in-doubt message
    /// that was marked failed may have been delivered.
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited
                | Self::Backpressure
                | Self::Transient
                | Self::ProviderError
                | Self::Unreachable
                | Self::Unknown
        )
    }

    /// Whether a failure of this kind adds the recipient to the suppression list (an opt-out:
    /// the provider will refuse every later message to them, and the law asks us not to try).
    pub const fn suppresses_recipient(self) -> bool {
        matches!(self, Self::OptedOut)
    }

    /// Whether a failure of this kind counts towards the error rate that pauses a batch. Rate
    /// limits and backpressure do not: they ask us to slow down, which pacing and backoff do;
    /// everything else that is not an acceptance does.
    pub const fn counts_as_error(self) -> bool {
        !matches!(self, Self::RateLimited | Self::Backpressure)
    }
}

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in ErrorCategory::ALL {
            assert_eq!(ErrorCategory::from_sql(c.as_sql()).unwrap(), c);
            let json = serde_json::to_value(c).unwrap();
            assert_eq!(json, serde_json::json!(c.code()));
            assert_eq!(serde_json::from_value::<ErrorCategory>(json).unwrap(), c);
        }
        assert!(ErrorCategory::from_sql("nope").is_err());
    }
}
