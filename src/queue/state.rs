//! Batch and message states, and which moves between them are allowed.
//!
//! Every name has two spellings: camelCase in JSON (`inDoubt`, `errorRate`), as everything the
//! crate serialises, and snake_case in the database (`in_doubt`, `error_rate`), as SQL columns and
//! check constraints are written. [`MessageStatus::as_sql`] and [`MessageStatus::from_sql`] convert.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// Where one message is on its way to the customer.
///
/// ```text
/// pending ──claim──► processing ──accepted──► sent ──► delivered | undelivered
///    ▲                 │   │                   
///    └── retry (run_at)┘   ├── permanent error ──► failed
///                          └── lease lost after the send started ──► inDoubt ──reconciled──► sent | pending | failed
/// pending ──cancel──► cancelled
/// ```
///
/// A message is persisted as `pending` before anything is sent; `sent` means the provider accepted
/// it, not that it arrived (that is `delivered`). Status only moves forward: see
/// [`MessageStatus::can_become`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum MessageStatus {
    /// Waiting to be claimed (at or after its `run_at`).
    Pending,
    /// Claimed by a worker under a lease and a claim token.
    Processing,
    /// Accepted by the provider (it has a provider id); delivery not yet confirmed.
    Sent,
    /// The provider confirmed delivery to the handset.
    Delivered,
    /// The provider accepted the message but the carrier could not deliver it.
    Undelivered,
    /// Refused for good (a permanent error, or out of attempts); never sent.
    Failed,
    /// A send may or may not have reached the provider (a timeout after sending, an HTTP 500, a
    /// worker that died mid-send); it is reconciled, never blindly resent.
    InDoubt,
    /// Cancelled before it was sent.
    Cancelled,
}

impl MessageStatus {
    /// Every status, in the order of the state machine.
    pub const ALL: [MessageStatus; 8] = [
        Self::Pending,
        Self::Processing,
        Self::Sent,
        Self::Delivered,
        Self::Undelivered,
        Self::Failed,
        Self::InDoubt,
        Self::Cancelled,
    ];

    /// The camelCase name used in JSON (`"inDoubt"`).
    pub const fn code(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
            Self::InDoubt => "inDoubt",
            Self::Cancelled => "cancelled",
        }
    }

    /// The snake_case name stored in the database (`"in_doubt"`).
    pub const fn as_sql(self) -> &'static str {
        match self {
            Self::InDoubt => "in_doubt",
            other => other.code(),
        }
    }

    /// Reads the database name back.
    pub fn from_sql(text: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_sql() == text)
            .ok_or_else(|| unknown("message status", text, Self::ALL.map(Self::as_sql)))
    }

    /// True when nothing more will happen to the message on its own: delivered, undelivered,
    /// failed or cancelled. (`sent` is not terminal: verification may still refine it.)
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Delivered | Self::Undelivered | Self::Failed | Self::Cancelled
        )
    }

    /// True when the provider accepted the message: sent, delivered or undelivered.
    pub const fn was_accepted(self) -> bool {
        matches!(self, Self::Sent | Self::Delivered | Self::Undelivered)
    }

    /// Whether a message in this status may move to `next`. This is the whole state machine;
    /// stores enforce it (and a claim token) on every update.
    ///
    /// ```
    /// use smsbatch::queue::MessageStatus::*;
    ///
    /// assert!(Pending.can_become(Processing));
    /// assert!(Processing.can_become(Pending)); // a retry, with a later run_at
    /// assert!(InDoubt.can_become(Sent)); // reconciled: the provider had it
    /// assert!(!Sent.can_become(Pending)); // never resent
    /// assert!(!Delivered.can_become(Sent)); // a late callback moves nothing back
    /// ```
    pub const fn can_become(self, next: MessageStatus) -> bool {
        use MessageStatus::*;
        matches!(
            (self, next),
            (Pending, Processing | Cancelled)
                | (
                    Processing,
                    Pending | Sent | Failed | InDoubt | Delivered | Undelivered
                )
                | (Sent, Delivered | Undelivered | Failed)
                | (InDoubt, Sent | Delivered | Undelivered | Pending | Failed)
        )
    }
}

/// Where a batch is in its life.
///
/// ```text
/// requested ─► preparing ─► scheduled ─► sending ⇄ paused
///                                          │
///                                          ▼
///                                      verifying ─► completed
/// cancelled and failed end a batch early
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum BatchState {
    /// A row was inserted (e.g. by a frontend through Supabase); a worker will prepare it.
    Requested,
    /// Its messages are being written; invisible to senders until complete.
    Preparing,
    /// Prepared, waiting for its `send_at`.
    Scheduled,
    /// Workers are sending its messages.
    Sending,
    /// Sending stopped for a [`PauseReason`]; resumable.
    Paused,
    /// Every message was tried; waiting to re-check `sent` messages with the provider.
    Verifying,
    /// Every message is terminal or verified.
    Completed,
    /// Stopped by an operator; pending messages were cancelled.
    Cancelled,
    /// Could not be prepared or sent at all (e.g. the provider refused the account).
    Failed,
}

impl BatchState {
    /// Every state, in the order of the state machine.
    pub const ALL: [BatchState; 9] = [
        Self::Requested,
        Self::Preparing,
        Self::Scheduled,
        Self::Sending,
        Self::Paused,
        Self::Verifying,
        Self::Completed,
        Self::Cancelled,
        Self::Failed,
    ];

    /// The name, the same in JSON and in the database (`"sending"`).
    pub const fn code(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Preparing => "preparing",
            Self::Scheduled => "scheduled",
            Self::Sending => "sending",
            Self::Paused => "paused",
            Self::Verifying => "verifying",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }

    /// Reads the database name back.
    pub fn from_sql(text: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.code() == text)
            .ok_or_else(|| unknown("batch state", text, Self::ALL.map(Self::code)))
    }

    /// True for completed, cancelled and failed.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled | Self::Failed)
    }

    /// Whether a batch in this state may move to `next`.
    ///
    /// ```
    /// use smsbatch::queue::BatchState::*;
    ///
    /// assert!(Sending.can_become(Paused) && Paused.can_become(Sending));
    /// assert!(Paused.can_become(Cancelled));
    /// assert!(!Completed.can_become(Sending));
    /// ```
    pub const fn can_become(self, next: BatchState) -> bool {
        use BatchState::*;
        matches!(
            (self, next),
            (Requested, Preparing | Cancelled | Failed)
                | (Preparing, Scheduled | Sending | Cancelled | Failed)
                | (Scheduled, Sending | Paused | Cancelled | Failed)
                | (Sending, Paused | Verifying | Cancelled | Failed)
                | (Paused, Sending | Scheduled | Cancelled | Failed)
                | (Verifying, Completed | Sending | Paused | Cancelled | Failed)
        )
    }
}

/// Why a batch is paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum PauseReason {
    /// A person paused it.
    Operator,
    /// Failures passed the batch's error-rate threshold.
    ErrorRate,
    /// The next messages would spend more than the batch's budget.
    Budget,
    /// The batch's kill-switch flag is enabled.
    KillSwitch,
    /// Outside the batch's send window; it resumes when the window opens.
    SendWindow,
    /// The provider refused the account or its configuration (a "halt batch" outcome).
    Provider,
}

impl PauseReason {
    /// Every reason.
    pub const ALL: [PauseReason; 6] = [
        Self::Operator,
        Self::ErrorRate,
        Self::Budget,
        Self::KillSwitch,
        Self::SendWindow,
        Self::Provider,
    ];

    /// The camelCase name used in JSON (`"killSwitch"`).
    pub const fn code(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::ErrorRate => "errorRate",
            Self::Budget => "budget",
            Self::KillSwitch => "killSwitch",
            Self::SendWindow => "sendWindow",
            Self::Provider => "provider",
        }
    }

    /// The snake_case name stored in the database (`"kill_switch"`).
    pub const fn as_sql(self) -> &'static str {
        match self {
            Self::ErrorRate => "error_rate",
            Self::KillSwitch => "kill_switch",
            Self::SendWindow => "send_window",
            other => other.code(),
        }
    }

    /// Reads the database name back.
    pub fn from_sql(text: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_sql() == text)
            .ok_or_else(|| unknown("pause reason", text, Self::ALL.map(Self::as_sql)))
    }
}

fn unknown<const N: usize>(what: &str, text: &str, known: [&str; N]) -> Error {
    Error::new(ErrorKind::InvalidInput {
        message: format!(
            "unknown {what} {text:?}; expected one of {}",
            known.join(", ")
        ),
    })
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for BatchState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for PauseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in MessageStatus::ALL {
            assert_eq!(MessageStatus::from_sql(s.as_sql()).unwrap(), s);
            let json = serde_json::to_value(s).unwrap();
            assert_eq!(json, serde_json::json!(s.code()));
            assert_eq!(serde_json::from_value::<MessageStatus>(json).unwrap(), s);
        }
        for s in BatchState::ALL {
            assert_eq!(BatchState::from_sql(s.code()).unwrap(), s);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.code())
            );
        }
        for r in PauseReason::ALL {
            assert_eq!(PauseReason::from_sql(r.as_sql()).unwrap(), r);
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::json!(r.code())
            );
        }
        assert_eq!(MessageStatus::InDoubt.as_sql(), "in_doubt");
        let err = MessageStatus::from_sql("inDoubt").unwrap_err();
        assert!(err.to_string().contains("in_doubt"), "{err}");
    }

    #[test]
    fn terminal_states_have_no_way_out() {
        for s in MessageStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            for next in MessageStatus::ALL {
                assert!(!s.can_become(next), "{s} -> {next}");
            }
        }
        for s in BatchState::ALL.into_iter().filter(|s| s.is_terminal()) {
            for next in BatchState::ALL {
                assert!(!s.can_become(next), "{s} -> {next}");
            }
        }
    }

    #[test]
    fn accepted_messages_are_never_resent() {
        for s in MessageStatus::ALL.into_iter().filter(|s| s.was_accepted()) {
            assert!(!s.can_become(MessageStatus::Pending), "{s}");
            assert!(!s.can_become(MessageStatus::Processing), "{s}");
        }
    }

    #[test]
    fn every_status_is_reachable_from_pending() {
        let mut seen = vec![MessageStatus::Pending];
        let mut i = 0;
        while i < seen.len() {
            for next in MessageStatus::ALL {
                if seen[i].can_become(next) && !seen.contains(&next) {
                    seen.push(next);
                }
            }
            i += 1;
        }
        assert_eq!(seen.len(), MessageStatus::ALL.len());
    }
}
