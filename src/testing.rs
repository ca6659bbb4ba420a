//! Deterministic fakes for tests (feature `testing`): [`FakeSender`], a provider with
//! programmable latency, outcomes and failures, and an optional record file shared by processes;
//! and [`sample_customers`], a realistic audience from a seed.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::queue::{
    Accepted, Classification, ErrorCategory, ErrorTable, FindQuery, LookupError, MessageId,
    OutboundMessage, Price, ProviderMessage, ProviderStatus, SendFailure, SendOutcome, Sender,
};
use crate::random::mix;

mod sample;

pub use self::sample::sample_customers;

/// A failure the fake provider can answer with.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FakeFailure {
    /// HTTP 429 (code 20429), with an optional `Retry-After`; nothing is recorded.
    RateLimited {
        /// The `Retry-After` the fake sends.
        retry_after: Option<Duration>,
    },
    /// HTTP 503 (code 20503); nothing is recorded.
    Unavailable,
    /// The connection failed before the request reached the provider; nothing is recorded.
    ConnectFailed,
    /// HTTP 500 **after** the message was recorded (sent): the outcome is in doubt, and the
    /// record shows the provider has it.
    ServerErrorAfterSend,
    /// A read timeout after the request went out, the message recorded: in doubt.
    TimeoutAfterSend,
    /// A read timeout, but the request was lost on the way: in doubt, and not recorded (a
    /// reconciliation finds nothing).
    LostRequest,
    /// An answer with this Twilio error code (HTTP 400, or 401 for 20003), classified through
    /// [`ErrorTable::twilio`]: `"21610"` is an opt-out, `"30007"` filtered, `"20003"` halts the
    /// batch; nothing is recorded.
    Code(String),
}

/// One scripted answer for a recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FakeStep {
    /// Accept (and record) the message.
    Accept,
    /// Answer with a failure.
    Fail(FakeFailure),
}

/// One line of the record file: a message the fake provider accepted (JSON:
/// `{"messageId", "to", "body", "providerId"}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RecordLine {
    /// Our id of the message.
    pub message_id: MessageId,
    /// The recipient.
    pub to: String,
    /// The text.
    pub body: String,
    /// The id the fake gave it.
    pub provider_id: String,
}

/// How a [`FakeSender`] behaves; [`FakeConfig::build`] makes one.
///
/// Every choice (outcome, latency, delivery status) is a hash of the seed, the message id and
/// the attempt (how many times this sender was asked to send that message), never of the order
/// in which concurrent tasks happen to call it: the same seed gives the same answers however the
/// sends interleave.
#[derive(Clone, Debug, Default)]
pub struct FakeConfig {
    seed: u64,
    latency: (Duration, Duration),
    record: Option<PathBuf>,
    instance: Option<u64>,
    scripts: HashMap<String, Vec<FakeStep>>,
    always: HashMap<String, FakeFailure>,
    random: Vec<(u64, FakeFailure)>,
    undelivered_one_in: Option<u64>,
    lookup_failure_one_in: Option<u64>,
    prices: Option<crate::batch::PriceTable>,
}

impl FakeConfig {
    /// No latency, every message accepted and delivered, seed 0, records kept in memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// The seed of every choice.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Each send takes a time drawn uniformly from `min..=max` (on tokio's clock: pause it for
    /// deterministic tests). The message is recorded half way through, as a real provider
    /// processes a request before its answer travels back.
    pub fn latency(mut self, min: Duration, max: Duration) -> Self {
        self.latency = (min, max.max(min));
        self
    }

    /// Appends one JSON line per accepted message to `path` (created if missing), written
    /// before the fake answers, with `O_APPEND` and one `write` per line, so several processes
    /// can share the file; look-ups read it.
    pub fn record_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.record = Some(path.into());
        self
    }

    /// Pins the part of provider ids that keeps them unique between senders (by default the
    /// process id and a counter): with it, provider ids are the same in every run.
    pub fn instance(mut self, instance: u64) -> Self {
        self.instance = Some(instance);
        self
    }

    /// Answers for successive attempts to `to`; once they run out, the other rules apply.
    pub fn script(
        mut self,
        to: impl Into<String>,
        steps: impl IntoIterator<Item = FakeStep>,
    ) -> Self {
        self.scripts.insert(to.into(), steps.into_iter().collect());
        self
    }

    /// Every attempt to `to` fails this way.
    pub fn always(mut self, to: impl Into<String>, failure: FakeFailure) -> Self {
        self.always.insert(to.into(), failure);
        self
    }

    /// About one attempt in `n` (chosen by the seed) fails this way; rules are tried in the
    /// order given.
    pub fn fail_one_in(mut self, n: u64, failure: FakeFailure) -> Self {
        self.random.push((n.max(1), failure));
        self
    }

    /// About one accepted message in `n` is reported `undelivered` (code 30003) by look-ups;
    /// the others `delivered`.
    pub fn undelivered_one_in(mut self, n: u64) -> Self {
        self.undelivered_one_in = Some(n.max(1));
        self
    }

    /// About one look-up in `n` fails (unavailable, try later).
    pub fn lookup_failure_one_in(mut self, n: u64) -> Self {
        self.lookup_failure_one_in = Some(n.max(1));
        self
    }

    /// Look-ups report what each message cost, as a provider does once a message is final:
    /// the table's price for its number and encoding times the segments the fake counted
    /// (without it, no price is reported and a report's actual cost stays zero).
    pub fn prices(mut self, table: crate::batch::PriceTable) -> Self {
        self.prices = Some(table);
        self
    }

    /// The fake; fails when the record file cannot be opened for appending.
    pub fn build(self) -> Result<FakeSender> {
        let file = match &self.record {
            Some(path) => Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        io_error(format!("cannot open the record file {}", path.display()), e)
                    })?,
            ),
            None => None,
        };
        static INSTANCES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let instance = self.instance.unwrap_or_else(|| {
            let n = INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            mix(u64::from(std::process::id()) << 20 ^ n)
        });
        Ok(FakeSender {
            config: self,
            file,
            instance,
            state: Mutex::new(State::default()),
            cache: Mutex::new(RecordCache::default()),
        })
    }
}

fn io_error(message: String, source: std::io::Error) -> Error {
    Error::new(ErrorKind::Io {
        message: format!("{message}: {source}"),
    })
    .with_source(source)
}

#[derive(Debug, Default)]
struct State {
    calls: u64,
    attempts: HashMap<MessageId, u32>,
    script_position: HashMap<String, usize>,
    memory: Vec<RecordLine>,
    lookups: u64,
}

/// A fake SMS provider (feature `testing`): a [`Sender`] with programmable latency, outcomes and
/// failures, deterministic from a seed, that records what it accepted (in memory, or in a record
/// file shared by processes) and answers look-ups from that record.
///
/// ```
/// use std::time::Duration;
/// use smsbatch::queue::{OutboundMessage, SendOutcome, Sender};
/// use smsbatch::testing::{FakeConfig, FakeFailure, FakeStep};
///
/// # let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?;
/// # runtime.block_on(async {
/// let fake = FakeConfig::new()
///     .seed(7)
///     .latency(Duration::from_millis(40), Duration::from_millis(60))
///     .script("+447700900002", [
///         FakeStep::Fail(FakeFailure::RateLimited { retry_after: Some(Duration::from_secs(1)) }),
///         FakeStep::Accept,
///     ])
///     .always("+447700900003", FakeFailure::Code("21610".into()))
///     .build()?;
/// let hi = |id: i64, to: &str| OutboundMessage::new(id, to, "ACME", "Hi");
/// assert!(fake.send(&hi(1, "+447700900001")).await.is_accepted());
/// assert!(matches!(fake.send(&hi(2, "+447700900002")).await, SendOutcome::Retry { .. }));
/// assert!(fake.send(&hi(2, "+447700900002")).await.is_accepted());
/// assert!(matches!(fake.send(&hi(3, "+447700900003")).await, SendOutcome::Failed(_)));
/// assert_eq!(fake.records()?.len(), 2);
/// # Ok::<(), smsbatch::Error>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct FakeSender {
    config: FakeConfig,
    file: Option<File>,
    instance: u64,
    state: Mutex<State>,
    /// The record file as read so far: look-ups read only what was appended since, so a
    /// verification pass over n messages costs O(n), not O(n²).
    cache: Mutex<RecordCache>,
}

/// The lines of a record file read so far, and where reading stopped (after the last complete
/// line).
#[derive(Debug, Default)]
struct RecordCache {
    offset: u64,
    lines: Vec<RecordLine>,
    by_provider: HashMap<String, usize>,
}

/// What one attempt does.
enum Plan {
    Accept,
    Fail(FakeFailure),
}

impl FakeSender {
    /// A fake with the defaults of [`FakeConfig::new`].
    pub fn new() -> Self {
        Self {
            config: FakeConfig::new(),
            file: None,
            instance: 0,
            state: Mutex::new(State::default()),
            cache: Mutex::new(RecordCache::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain counters and lines: usable even if a panicking test thread poisoned the lock.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every send call so far (all outcomes).
    pub fn calls(&self) -> u64 {
        self.state().calls
    }

    /// How many times this sender was asked to send `id`.
    pub fn attempts(&self, id: &MessageId) -> u32 {
        self.state().attempts.get(id).copied().unwrap_or(0)
    }

    /// The record: every message accepted, by this sender (in memory) or by every sender sharing
    /// the record file (read from it), in the order written. A line still being written by
    /// another process (no newline yet) is left out.
    pub fn records(&self) -> Result<Vec<RecordLine>> {
        match &self.config.record {
            Some(path) => read_record(path),
            None => Ok(self.state().memory.clone()),
        }
    }

    fn hash(&self, salt: u64, id: &MessageId, attempt: u32) -> u64 {
        let mut h = mix(self.config.seed ^ salt);
        for b in id.as_str().bytes() {
            h = mix(h ^ u64::from(b));
        }
        mix(h ^ u64::from(attempt))
    }

    fn plan(&self, message: &OutboundMessage, attempt: u32) -> Plan {
        let mut state = self.state();
        if let Some(steps) = self.config.scripts.get(&message.to) {
            let position = state.script_position.entry(message.to.clone()).or_insert(0);
            if let Some(step) = steps.get(*position) {
                *position += 1;
                return match step {
                    FakeStep::Accept => Plan::Accept,
                    FakeStep::Fail(f) => Plan::Fail(f.clone()),
                };
            }
        }
        drop(state);
        if let Some(failure) = self.config.always.get(&message.to) {
            return Plan::Fail(failure.clone());
        }
        for (i, (n, failure)) in self.config.random.iter().enumerate() {
            if self
                .hash(0x5eed + i as u64, &message.id, attempt)
                .is_multiple_of(*n)
            {
                return Plan::Fail(failure.clone());
            }
        }
        Plan::Accept
    }

    fn latency(&self, id: &MessageId, attempt: u32) -> Duration {
        let (min, max) = self.config.latency;
        let span = max.saturating_sub(min).as_nanos();
        if span == 0 {
            return min;
        }
        let draw = self.hash(0x1a7e, id, attempt);
        let extra = (u128::from(draw) * (span + 1)) >> 64;
        min + Duration::from_nanos(u64::try_from(extra).unwrap_or(u64::MAX))
    }

    /// Writes the record line (to the file, flushed, or to memory) before answering.
    fn record(&self, message: &OutboundMessage, attempt: u32) -> Result<String> {
        let provider_id = format!(
            "SM{:016x}{:08x}{:08x}",
            self.hash(0x1d, &message.id, attempt),
            attempt,
            self.instance as u32
        );
        let line = RecordLine {
            message_id: message.id.clone(),
            to: message.to.clone(),
            body: message.body.clone(),
            provider_id: provider_id.clone(),
        };
        match self.file.as_ref() {
            Some(mut file) => {
                let mut text = serde_json::to_string(&line).map_err(|e| {
                    Error::new(ErrorKind::Io {
                        message: format!("cannot write the record line: {e}"),
                    })
                })?;
                text.push('\n');
                // One write of the whole line: with O_APPEND, lines of several processes never
                // interleave. (`write_all` loops only on a short write, which regular files do
                // not do for a few hundred bytes.)
                file.write_all(text.as_bytes())
                    .and_then(|()| file.flush())
                    .map_err(|e| io_error("cannot append to the record file".into(), e))?;
            }
            None => self.state().memory.push(line),
        }
        Ok(provider_id)
    }

    fn status_of(&self, line: &RecordLine) -> ProviderMessage {
        let undelivered = self
            .config
            .undelivered_one_in
            .is_some_and(|n| self.hash(0xde1, &line.message_id, 0).is_multiple_of(n));
        let count = crate::segment::count(&line.body);
        let mut message = ProviderMessage::new(
            &line.provider_id,
            if undelivered {
                ProviderStatus::Undelivered
            } else {
                ProviderStatus::Delivered
            },
        )
        .segments(count.segments);
        if let Some(table) = &self.config.prices {
            let each = table.price(&line.to, count.encoding);
            if let Some(amount) = each.checked_mul(u64::from(count.segments)) {
                message = message.price(Price::new(amount, table.currency()));
            }
        }
        let mut message = if undelivered {
            message.error("30003", "Unreachable destination handset")
        } else {
            message
        };
        message.to = Some(line.to.clone());
        message.body = Some(line.body.clone());
        message
    }

    /// Runs `f` over every record line (the file's, read incrementally, or the memory's).
    fn with_records<T>(
        &self,
        f: impl FnOnce(&[RecordLine], &HashMap<String, usize>) -> T,
    ) -> Result<T> {
        let Some(path) = &self.config.record else {
            let state = self.state();
            let by_provider = state
                .memory
                .iter()
                .enumerate()
                .map(|(i, l)| (l.provider_id.clone(), i))
                .collect();
            return Ok(f(&state.memory, &by_provider));
        };
        // Plain data: a panic elsewhere cannot leave it half-updated in a harmful way.
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (lines, end) = read_record_from(path, cache.offset)?;
        cache.offset = end;
        for line in lines {
            let i = cache.lines.len();
            cache.by_provider.insert(line.provider_id.clone(), i);
            cache.lines.push(line);
        }
        Ok(f(&cache.lines, &cache.by_provider))
    }

    fn lookup_fails(&self) -> bool {
        let mut state = self.state();
        state.lookups += 1;
        let n = state.lookups;
        drop(state);
        self.config
            .lookup_failure_one_in
            .is_some_and(|k| mix(self.config.seed ^ 0x100c ^ n).is_multiple_of(k))
    }

    fn unavailable(e: &Error) -> LookupError {
        LookupError::Unavailable {
            message: e.to_string(),
            retry_after: None,
        }
    }
}

impl Default for FakeSender {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads a record file: one [`RecordLine`] per line. A last line without its newline (another
/// process is writing it) is left out; any other malformed line is an error naming its number.
pub fn read_record(path: &Path) -> Result<Vec<RecordLine>> {
    read_record_from(path, 0).map(|(lines, _)| lines)
}

/// The complete lines of a record file from byte `offset` on, and the offset after the last.
fn read_record_from(path: &Path, offset: u64) -> Result<(Vec<RecordLine>, u64)> {
    use std::io::{Seek, SeekFrom};
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), offset)),
        Err(e) => {
            return Err(io_error(
                format!("cannot read the record file {}", path.display()),
                e,
            ));
        }
    };
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| io_error(format!("cannot read the record file {}", path.display()), e))?;
    let mut reader = BufReader::new(file);
    let mut lines = Vec::new();
    let mut text = String::new();
    let mut end = offset;
    for number in 1.. {
        text.clear();
        let n = reader
            .read_line(&mut text)
            .map_err(|e| io_error(format!("cannot read the record file {}", path.display()), e))?;
        if n == 0 || !text.ends_with('\n') {
            break;
        }
        end += n as u64;
        let line = serde_json::from_str(text.trim_end()).map_err(|e| {
            Error::new(ErrorKind::Io {
                message: format!(
                    "the record file {} has a malformed line {number}: {e}",
                    path.display()
                ),
            })
        })?;
        lines.push(line);
    }
    Ok((lines, end))
}

#[async_trait]
impl Sender for FakeSender {
    fn name(&self) -> &str {
        "fake"
    }

    async fn send(&self, message: &OutboundMessage) -> SendOutcome {
        let attempt = {
            let mut state = self.state();
            state.calls += 1;
            let a = state.attempts.entry(message.id.clone()).or_insert(0);
            *a += 1;
            *a
        };
        let plan = self.plan(message, attempt);
        let latency = self.latency(&message.id, attempt);
        // Deadlines from one start, so the timer's rounding (a millisecond a sleep) is paid once,
        // not once for each half: the call takes the latency it was given.
        let start = tokio::time::Instant::now();
        let first_half = latency / 2;
        if !first_half.is_zero() {
            tokio::time::sleep_until(start + first_half).await;
        }
        // The provider processes the request here.
        let recorded = match &plan {
            Plan::Accept
            | Plan::Fail(FakeFailure::ServerErrorAfterSend | FakeFailure::TimeoutAfterSend) => {
                match self.record(message, attempt) {
                    Ok(id) => Some(id),
                    Err(e) => {
                        // The fake cannot keep its promise of a record: stop the batch loudly.
                        return SendOutcome::HaltBatch(SendFailure::new(
                            ErrorCategory::Config,
                            format!("fake provider: {e}"),
                        ));
                    }
                }
            }
            Plan::Fail(_) => None,
        };
        if latency > first_half {
            tokio::time::sleep_until(start + latency).await;
        }
        let table = ErrorTable::twilio();
        match plan {
            Plan::Accept => match recorded {
                Some(id) => SendOutcome::Accepted(
                    Accepted::new(id)
                        .status(ProviderStatus::Queued)
                        .segments(message.segments),
                ),
                None => SendOutcome::HaltBatch(SendFailure::new(
                    ErrorCategory::Config,
                    "fake provider: no record",
                )),
            },
            Plan::Fail(FakeFailure::RateLimited { retry_after }) => {
                table.outcome(Some("20429"), Some(429), "Too Many Requests", retry_after)
            }
            Plan::Fail(FakeFailure::Unavailable) => {
                table.outcome(Some("20503"), Some(503), "Service Unavailable", None)
            }
            Plan::Fail(FakeFailure::ConnectFailed) => {
                Classification::NETWORK_BEFORE_SEND.outcome(None, None, "connection refused", None)
            }
            Plan::Fail(FakeFailure::ServerErrorAfterSend) => {
                table.outcome(Some("20500"), Some(500), "Internal Server Error", None)
            }
            Plan::Fail(FakeFailure::TimeoutAfterSend | FakeFailure::LostRequest) => {
                Classification::NETWORK_AFTER_SEND.outcome(None, None, "read timed out", None)
            }
            Plan::Fail(FakeFailure::Code(code)) => {
                let status = if code == "20003" { 401 } else { 400 };
                let meaning = table
                    .rule(code.parse().unwrap_or(0))
                    .map_or("error", |r| r.meaning);
                table.outcome(Some(&code), Some(status), meaning, None)
            }
        }
    }

    async fn lookup(&self, provider_id: &str) -> Result<ProviderMessage, LookupError> {
        if self.lookup_fails() {
            return Err(LookupError::Unavailable {
                message: "fake provider: 503 on look-up".into(),
                retry_after: Some(Duration::from_secs(1)),
            });
        }
        self.with_records(|lines, by_provider| {
            by_provider
                .get(provider_id)
                .and_then(|&i| lines.get(i))
                .map(|l| self.status_of(l))
                .ok_or(LookupError::NotFound)
        })
        .map_err(|e| Self::unavailable(&e))?
    }

    fn can_find(&self) -> bool {
        true
    }

    async fn find(&self, query: &FindQuery) -> Result<Vec<ProviderMessage>, LookupError> {
        if self.lookup_fails() {
            return Err(LookupError::Unavailable {
                message: "fake provider: 503 on list".into(),
                retry_after: Some(Duration::from_secs(1)),
            });
        }
        // Like Twilio's list: by recipient (the fake keeps no sender or time), then the text.
        self.with_records(|lines, _| {
            lines
                .iter()
                .filter(|l| l.to == query.to && l.body == query.body)
                .map(|l| self.status_of(l))
                .collect()
        })
        .map_err(|e| Self::unavailable(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: i64, to: &str) -> OutboundMessage {
        OutboundMessage::new(id, to, "ACME", format!("Hello {id}"))
    }

    #[tokio::test(start_paused = true)]
    async fn latency_on_the_paused_clock() {
        let fake = FakeConfig::new()
            .seed(3)
            .latency(Duration::from_millis(50), Duration::from_millis(150))
            .build()
            .unwrap();
        let start = tokio::time::Instant::now();
        let mut took = Vec::new();
        for id in 0..20 {
            let before = tokio::time::Instant::now();
            assert!(fake.send(&msg(id, "+447700900001")).await.is_accepted());
            took.push(before.elapsed());
        }
        assert!(
            took.iter()
                .all(|d| (Duration::from_millis(50)..=Duration::from_millis(150)).contains(d))
        );
        assert!(took.iter().any(|d| *d != took[0]), "drawn, not constant");
        // The same seed gives the same latencies.
        let again = FakeConfig::new()
            .seed(3)
            .latency(Duration::from_millis(50), Duration::from_millis(150))
            .build()
            .unwrap();
        for (id, expected) in took.iter().enumerate() {
            let before = tokio::time::Instant::now();
            again.send(&msg(id as i64, "+447700900001")).await;
            assert_eq!(before.elapsed(), *expected);
        }
        assert_eq!(start.elapsed(), took.iter().sum::<Duration>() * 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_sends_overlap() {
        let fake = std::sync::Arc::new(
            FakeConfig::new()
                .latency(Duration::from_millis(100), Duration::from_millis(100))
                .build()
                .unwrap(),
        );
        let start = tokio::time::Instant::now();
        let tasks: Vec<_> = (0..5)
            .map(|id| {
                let fake = fake.clone();
                tokio::spawn(async move { fake.send(&msg(id, "+1")).await })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().is_accepted());
        }
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        assert_eq!(fake.calls(), 5);
    }

    #[tokio::test]
    async fn outcomes_and_what_is_recorded() {
        let fake = FakeConfig::new()
            .always("+2", FakeFailure::ServerErrorAfterSend)
            .always("+3", FakeFailure::LostRequest)
            .always("+4", FakeFailure::Code("20003".into()))
            .always("+5", FakeFailure::Unavailable)
            .always("+6", FakeFailure::ConnectFailed)
            .always("+7", FakeFailure::TimeoutAfterSend)
            .always("+8", FakeFailure::Code("30007".into()))
            .build()
            .unwrap();
        assert!(fake.send(&msg(1, "+1")).await.is_accepted());
        assert!(
            matches!(fake.send(&msg(2, "+2")).await, SendOutcome::InDoubt(f) if f.http_status == Some(500))
        );
        assert!(matches!(
            fake.send(&msg(3, "+3")).await,
            SendOutcome::InDoubt(_)
        ));
        assert!(
            matches!(fake.send(&msg(4, "+4")).await, SendOutcome::HaltBatch(f) if f.category == ErrorCategory::Account)
        );
        assert!(matches!(
            fake.send(&msg(5, "+5")).await,
            SendOutcome::Retry { .. }
        ));
        assert!(
            matches!(fake.send(&msg(6, "+6")).await, SendOutcome::Retry { failure, .. } if failure.category == ErrorCategory::Transient)
        );
        assert!(matches!(
            fake.send(&msg(7, "+7")).await,
            SendOutcome::InDoubt(_)
        ));
        assert!(
            matches!(fake.send(&msg(8, "+8")).await, SendOutcome::Failed(f) if f.category == ErrorCategory::Filtered)
        );
        let recorded: Vec<String> = fake
            .records()
            .unwrap()
            .into_iter()
            .map(|l| l.message_id.to_string())
            .collect();
        assert_eq!(recorded, ["1", "2", "7"]);
        // In-doubt reconciliation: the 500 was sent, the lost request was not.
        let started = crate::Timestamp::UNIX_EPOCH;
        let q2 = FindQuery::around(&msg(2, "+2"), started, Duration::from_secs(60));
        assert_eq!(fake.find(&q2).await.unwrap().len(), 1);
        let q3 = FindQuery::around(&msg(3, "+3"), started, Duration::from_secs(60));
        assert!(fake.find(&q3).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn look_ups_report_the_price_of_the_table() {
        let table = crate::batch::PriceTable::from_json(
            r#"{"currency": "EUR", "default": {"GSM-7": "0.01", "UCS-2": "0.02"},
                "byCountry": {"44": {"GSM-7": "0.04", "UCS-2": "0.05"}}}"#,
        )
        .unwrap();
        let fake = FakeConfig::new().prices(table).build().unwrap();
        let long = OutboundMessage::new(1, "+447700900001", "ACME", "x".repeat(200));
        let unicode = OutboundMessage::new(2, "+33612345678", "ACME", "Zoë 👋");
        let mut ids = Vec::new();
        for m in [&long, &unicode] {
            match fake.send(m).await {
                SendOutcome::Accepted(a) => ids.push(a.provider_id),
                other => panic!("{other:?}"),
            }
        }
        // 200 GSM-7 characters are 2 segments at 0.04 in the UK; one UCS-2 segment in France.
        let found = fake.lookup(&ids[0]).await.unwrap();
        assert_eq!(
            found.price.unwrap(),
            Price::new("0.08".parse().unwrap(), "EUR")
        );
        let found = fake.lookup(&ids[1]).await.unwrap();
        assert_eq!(
            found.price.unwrap(),
            Price::new("0.02".parse().unwrap(), "EUR")
        );
        // Without a table, no price.
        let plain = FakeConfig::new().build().unwrap();
        let SendOutcome::Accepted(a) = plain.send(&long).await else {
            panic!("accepted")
        };
        assert_eq!(plain.lookup(&a.provider_id).await.unwrap().price, None);
    }

    #[tokio::test]
    async fn random_failures_are_seeded_by_message_not_by_order() {
        let config = FakeConfig::new()
            .seed(11)
            .fail_one_in(4, FakeFailure::Unavailable);
        let a = config.clone().build().unwrap();
        let b = config.build().unwrap();
        let mut failed_a = Vec::new();
        for id in 0..200 {
            if !a.send(&msg(id, "+1")).await.is_accepted() {
                failed_a.push(id);
            }
        }
        let mut failed_b = Vec::new();
        for id in (0..200).rev() {
            if !b.send(&msg(id, "+1")).await.is_accepted() {
                failed_b.push(id);
            }
        }
        failed_b.reverse();
        assert_eq!(failed_a, failed_b);
        assert!((30..70).contains(&failed_a.len()), "{}", failed_a.len());
        assert_eq!(a.attempts(&MessageId::from(failed_a[0])), 1);
    }

    #[tokio::test]
    async fn lookups_answer_from_the_record() {
        let fake = FakeConfig::new()
            .seed(5)
            .undelivered_one_in(3)
            .instance(1)
            .build()
            .unwrap();
        let mut statuses = Vec::new();
        for id in 0..30 {
            let SendOutcome::Accepted(a) = fake.send(&msg(id, "+1")).await else {
                panic!()
            };
            let found = fake.lookup(&a.provider_id).await.unwrap();
            assert_eq!(found.provider_id, a.provider_id);
            assert_eq!(found.body.as_deref(), Some(format!("Hello {id}").as_str()));
            statuses.push(found.status);
        }
        assert!(statuses.contains(&ProviderStatus::Undelivered));
        assert!(statuses.contains(&ProviderStatus::Delivered));
        assert_eq!(fake.lookup("SMnope").await, Err(LookupError::NotFound));
        let flaky = FakeConfig::new().lookup_failure_one_in(1).build().unwrap();
        assert!(matches!(
            flaky.lookup("x").await,
            Err(LookupError::Unavailable { .. })
        ));
    }

    #[test]
    fn unwritable_record_file_is_an_error() {
        let err = FakeConfig::new()
            .record_file("/nonexistent-dir/record.jsonl")
            .build()
            .unwrap_err();
        assert_eq!(err.kind().code(), "io");
        assert!(
            err.to_string().contains("/nonexistent-dir/record.jsonl"),
            "{err}"
        );
    }
}
