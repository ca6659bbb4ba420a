//! Metrics (through the `metrics` facade, feature `metrics`) and spans and events (through
//! `tracing`, feature `tracing`) for services that embed the library. The library never installs
//! a recorder or a subscriber: a service installs its own exporter (Prometheus, StatsD,
//! OpenTelemetry...) and its own subscriber, and the figures appear there. Without the features
//! every hook here is an empty function.
//!
//! # Metrics
//!
//! | name | kind | labels | what |
//! |------|------|--------|------|
//! | `smsbatch_messages_total` | counter | `state` | messages that reached a state (`sent`, `delivered`, `failed`, `pending` for a retry...) |
//! | `smsbatch_batches_total` | counter | `state` | batches that reached a state |
//! | `smsbatch_sends_total` | counter | `sender`, `outcome` | provider calls by outcome: `accepted`, `retry`, `failed`, `inDoubt`, `haltBatch` |
//! | `smsbatch_send_errors_total` | counter | `sender`, `category` | provider calls that did not succeed, by [`ErrorCategory`](crate::queue::ErrorCategory) |
//! | `smsbatch_send_seconds` | histogram | `sender`, `outcome` | the duration of provider calls, in seconds |
//! | `smsbatch_segments_total` | counter | `sender` | segments the provider accepted (its own count where it gave one) |
//! | `smsbatch_lookups_total` | counter | `sender`, `result` | status look-ups: `found`, `notFound`, `unavailable`, `unsupported` |
//!
//! # Spans
//!
//! `smsbatch.batch` around everything a worker does for one batch run (fields `batch_id` and
//! `sender`, the provider's name): its claims, sends, checks and state changes, so every span
//! and event below it carries the batch. `smsbatch.send` around each provider call (fields
//! `sender`, `batch_id` when the message has one, `message_id`, `segments`, and `outcome` once
//! known), with a `debug` event for an acceptance (`provider_id`) and a `warn` event for a
//! failure (`category`, `code`). `smsbatch.lookup` around look-ups (`sender`, `provider_id`).
//! Message text and phone numbers are never recorded.
//!
//! Events: `trace` "messages moved" (`batch_id` when known, `state`, `count`) each time the
//! store confirms that messages reached a state, and `info` "batch state" (`batch_id`, `state`)
//! for a batch's move, the same moments the two counters below count.
//!
//! # Where the state counters count
//!
//! `smsbatch_messages_total{state}` counts each move the store confirmed: messages inserted by
//! the preparation (`pending`), claimed (`processing`), given back or deferred (`pending`),
//! settled after a provider call (`sent`, `pending` for a retry, `failed`, `inDoubt`),
//! reconciled or verified (`delivered`, `undelivered`...), rescued from an expired lease
//! (`pending`, `inDoubt`), cancelled or requeued by an operator, and moved by a status callback
//! (`twilio::Webhooks`, feature `twilio`). A move another worker made first is counted once, by
//! whoever made it.
//!
//! `smsbatch_batches_total{state}` counts a batch created by the
//! [`Preparer`](crate::send::Preparer) in the state it was created in (`preparing` or
//! `requested`), the preparation's and the worker's moves, and the operator's pause, resume and
//! cancel ([`send::pause`](crate::send::pause)...). "Retry the failed" counts its requeued
//! messages but not the batch's return to `sending`, which the store does not report as a move.

#[cfg(any(feature = "metrics", feature = "tracing"))]
pub use self::sender::ObservedSender;

/// Metric names, so a service can describe or filter them.
pub mod names {
    /// Messages that reached a state (label `state`).
    pub const MESSAGES_TOTAL: &str = "smsbatch_messages_total";
    /// Batches that reached a state (label `state`).
    pub const BATCHES_TOTAL: &str = "smsbatch_batches_total";
    /// Provider calls by outcome (labels `sender`, `outcome`).
    pub const SENDS_TOTAL: &str = "smsbatch_sends_total";
    /// Provider calls that did not succeed, by category (labels `sender`, `category`).
    pub const SEND_ERRORS_TOTAL: &str = "smsbatch_send_errors_total";
    /// Duration of provider calls in seconds (labels `sender`, `outcome`).
    pub const SEND_SECONDS: &str = "smsbatch_send_seconds";
    /// Segments the provider accepted (label `sender`).
    pub const SEGMENTS_TOTAL: &str = "smsbatch_segments_total";
    /// Status look-ups (labels `sender`, `result`).
    pub const LOOKUPS_TOTAL: &str = "smsbatch_lookups_total";
}

/// Counts `n` messages that reached `status` (what the runner calls after the store confirmed a
/// move), with a trace event carrying the batch id when there is one batch (a rescue ends leases
/// across batches).
// The batch goes to the trace event only; without `tracing` only the counter needs the rest.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn messages_moved(
    batch: Option<uuid::Uuid>,
    status: crate::queue::MessageStatus,
    n: u64,
) {
    // Nothing moved (an empty claim, a rescue that found nothing): no event either.
    #[cfg(any(feature = "metrics", feature = "tracing"))]
    if n == 0 {
        return;
    }
    #[cfg(feature = "metrics")]
    metrics::counter!(names::MESSAGES_TOTAL, "state" => status.code()).increment(n);
    #[cfg(feature = "tracing")]
    tracing::trace!(
        batch_id = batch.map(tracing::field::display),
        state = status.code(),
        count = n,
        "messages moved"
    );
}

/// Counts a batch that reached `state`, with an info event carrying the batch id.
// The batch goes to the trace event only; without `tracing` only the counter needs the rest.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn batch_moved(batch: uuid::Uuid, state: crate::queue::BatchState) {
    #[cfg(feature = "metrics")]
    metrics::counter!(names::BATCHES_TOTAL, "state" => state.code()).increment(1);
    #[cfg(feature = "tracing")]
    tracing::info!(batch_id = %batch, state = state.code(), "batch state");
}

/// The `smsbatch.batch` span of one batch run (an empty value without feature `tracing`): the
/// runner wraps its own work and every task it spawns in it, since a spawned task does not
/// inherit the spawner's span.
#[derive(Clone, Debug)]
#[cfg(feature = "tokio")]
pub(crate) struct BatchSpan {
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

#[cfg(feature = "tokio")]
impl BatchSpan {
    /// The span of a run of `batch` through the provider named `sender`.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn new(batch: uuid::Uuid, sender: &str) -> Self {
        Self {
            #[cfg(feature = "tracing")]
            span: tracing::info_span!("smsbatch.batch", batch_id = %batch, sender = sender),
        }
    }

    /// `future`, run inside the span.
    #[cfg(feature = "tracing")]
    pub(crate) fn wrap<F: std::future::Future>(
        &self,
        future: F,
    ) -> tracing::instrument::Instrumented<F> {
        tracing::Instrument::instrument(future, self.span.clone())
    }

    /// `future` as it is (no `tracing`).
    #[cfg(not(feature = "tracing"))]
    pub(crate) fn wrap<F: std::future::Future>(&self, future: F) -> F {
        future
    }
}

#[cfg(any(feature = "metrics", feature = "tracing"))]
mod sender {
    use async_trait::async_trait;

    use crate::queue::{
        FindQuery, LookupError, OutboundMessage, ProviderMessage, SendOutcome, Sender,
    };

    /// A [`Sender`] that reports every call: metrics (feature `metrics`) and a span with events
    /// (feature `tracing`), as listed in the [module docs](super). It changes nothing of the
    /// calls themselves; wrap any provider in it.
    ///
    /// ```
    /// # #[cfg(feature = "testing")] {
    /// use std::sync::Arc;
    /// use smsbatch::analytics::ObservedSender;
    /// use smsbatch::queue::Sender;
    /// use smsbatch::testing::FakeSender;
    ///
    /// let sender: Arc<dyn Sender> = Arc::new(ObservedSender::new(FakeSender::new()));
    /// assert_eq!(sender.name(), "fake");
    /// # }
    /// ```
    #[derive(Debug, Clone)]
    pub struct ObservedSender<S> {
        inner: S,
    }

    impl<S> ObservedSender<S> {
        /// Reports the calls to `inner`.
        pub fn new(inner: S) -> Self {
            Self { inner }
        }

        /// The wrapped sender.
        pub fn inner(&self) -> &S {
            &self.inner
        }
    }

    /// The `outcome` label of a send.
    pub(crate) fn outcome_label(outcome: &SendOutcome) -> &'static str {
        match outcome {
            SendOutcome::Accepted(_) => "accepted",
            SendOutcome::Retry { .. } => "retry",
            SendOutcome::Failed(_) => "failed",
            SendOutcome::InDoubt(_) => "inDoubt",
            SendOutcome::HaltBatch(_) => "haltBatch",
        }
    }

    #[cfg(feature = "metrics")]
    fn record(sender: &str, message: &OutboundMessage, outcome: &SendOutcome, seconds: f64) {
        let sender = sender.to_owned();
        let label = outcome_label(outcome);
        metrics::counter!(super::names::SENDS_TOTAL, "sender" => sender.clone(), "outcome" => label)
            .increment(1);
        metrics::histogram!(super::names::SEND_SECONDS, "sender" => sender.clone(), "outcome" => label)
            .record(seconds);
        match outcome {
            SendOutcome::Accepted(a) => {
                metrics::counter!(super::names::SEGMENTS_TOTAL, "sender" => sender)
                    .increment(u64::from(a.segments.unwrap_or(message.segments)));
            }
            other => {
                if let Some(f) = other.failure() {
                    metrics::counter!(
                        super::names::SEND_ERRORS_TOTAL,
                        "sender" => sender,
                        "category" => f.category.code()
                    )
                    .increment(1);
                }
            }
        }
    }

    #[async_trait]
    impl<S: Sender> Sender for ObservedSender<S> {
        fn name(&self) -> &str {
            self.inner.name()
        }

        async fn send(&self, message: &OutboundMessage) -> SendOutcome {
            #[cfg(feature = "tracing")]
            let span = tracing::info_span!(
                "smsbatch.send",
                sender = self.inner.name(),
                batch_id = message.batch_id.map(tracing::field::display),
                message_id = message.id.as_str(),
                segments = message.segments,
                outcome = tracing::field::Empty,
            );
            #[cfg(feature = "metrics")]
            let started = tokio::time::Instant::now();
            let call = self.inner.send(message);
            #[cfg(feature = "tracing")]
            let call = tracing::Instrument::instrument(call, span.clone());
            let outcome = call.await;
            #[cfg(feature = "metrics")]
            record(
                self.inner.name(),
                message,
                &outcome,
                started.elapsed().as_secs_f64(),
            );
            #[cfg(feature = "tracing")]
            {
                span.record("outcome", outcome_label(&outcome));
                let _entered = span.enter();
                match &outcome {
                    SendOutcome::Accepted(a) => {
                        tracing::debug!(provider_id = a.provider_id.as_str(), "accepted");
                    }
                    other => {
                        if let Some(f) = other.failure() {
                            tracing::warn!(
                                category = f.category.code(),
                                code = f.code.as_deref().unwrap_or(""),
                                http_status = f.http_status.unwrap_or(0),
                                "send failed: {}",
                                f.message
                            );
                        }
                    }
                }
            }
            outcome
        }

        async fn lookup(&self, provider_id: &str) -> Result<ProviderMessage, LookupError> {
            let call = self.inner.lookup(provider_id);
            #[cfg(feature = "tracing")]
            let call = tracing::Instrument::instrument(
                call,
                tracing::debug_span!(
                    "smsbatch.lookup",
                    sender = self.inner.name(),
                    provider_id = provider_id
                ),
            );
            let result = call.await;
            #[cfg(feature = "metrics")]
            {
                let label = match &result {
                    Ok(_) => "found",
                    Err(LookupError::NotFound) => "notFound",
                    Err(LookupError::Unsupported) => "unsupported",
                    Err(_) => "unavailable",
                };
                metrics::counter!(
                    super::names::LOOKUPS_TOTAL,
                    "sender" => self.inner.name().to_owned(),
                    "result" => label
                )
                .increment(1);
            }
            result
        }

        async fn find(&self, query: &FindQuery) -> Result<Vec<ProviderMessage>, LookupError> {
            let call = self.inner.find(query);
            #[cfg(feature = "tracing")]
            let call = tracing::Instrument::instrument(
                call,
                tracing::debug_span!(
                    "smsbatch.find",
                    sender = self.inner.name(),
                    message_id = query.message_id.as_str()
                ),
            );
            call.await
        }
    }
}
