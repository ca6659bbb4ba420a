//! The durable runner of one batch (feature `tokio`): claims as many messages as it has free
//! permits, paces them per sender, records the send start before each provider call, applies
//! the retry policy's decision with a fenced update, reconciles in-doubt messages, verifies sent
//! ones, pauses on the error rate, the kill switch or a halting provider answer, and completes
//! the batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::clock::{Clock, Shutdown};
use super::group::{Flushed, GroupCommit};
use super::prepare::batch_options;
use super::status::compute_progress;
use crate::analytics::observe::{self, BatchSpan};
use crate::error::{Error, ErrorKind, Result};
use crate::queue::{
    BatchOptions, BatchState, ErrorCategory, ErrorRateMonitor, ErrorStats, ErrorTable, FindQuery,
    Gcra, InDoubtPolicy, Lookup, LookupError, MessageId, MessageStatus, Next, OutboundMessage,
    PauseReason, ProgressThrottle, ProviderMessage, ProviderStatus, Rate, RateMeter, Resolution,
    RetryBudget, RetryPolicy, SampleLimits, SendFailure, SendOutcome, Sender, ZoneRules,
    ZoneSource,
};
use crate::random::mix;
use crate::store::{
    Batch, CheckClaim, CheckKind, CheckResult, Claim, Fence, LogLevel, Message, MessageStore,
    NewBatchLog, Store, Transition,
};
use crate::time::Timestamp;

/// How far ahead a batch's next pending message must be for the batch to pause for its send
/// window (shorter waits, such as retries, keep the runner polling).
const WINDOW_REST: Duration = Duration::from_secs(60);

/// How a worker runs batches; every batch's own options (concurrency, rate, window, budget,
/// retries, verification) come from the batch.
///
/// ```
/// use std::time::Duration;
/// use smsbatch::send::RunnerConfig;
///
/// let config = RunnerConfig::new().poll(Duration::from_millis(100)).seed(7);
/// assert_eq!(config.send_timeout, Duration::from_secs(30));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RunnerConfig {
    /// How often an idle worker looks for work, and a runner with nothing to do looks again.
    pub poll: Duration,
    /// The most often a runner writes its batch's progress.
    pub progress_every: Duration,
    /// How long a provider call may take; one that takes longer is in doubt (the request went
    /// out) and is reconciled, never resent blindly.
    pub send_timeout: Duration,
    /// How often a sending batch's in-doubt and sent messages are looked for checks.
    pub check_every: Duration,
    /// The seed of the backoff's jitter (and nothing else).
    pub seed: u64,
    /// Expired leases ended per rescue.
    pub rescue_limit: u32,
    /// The most often a worker looks for expired leases (leases last seconds: looking at every
    /// poll would only load the store).
    pub rescue_every: Duration,
    /// Error samples kept per category.
    pub samples: SampleLimits,
    /// Classifies the provider codes of delivery failures found by verification.
    pub error_table: ErrorTable,
    /// A status-callback URL given to the provider with each message, with `mid=<message id>`
    /// appended (a provider that calls back lets the status move without a look-up).
    pub status_callback: Option<String>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl RunnerConfig {
    /// Polls every 500 ms, progress at most once a second, a 30 s send timeout, checks every
    /// second, seed 0, rescues of up to 1000 leases at most once a second, Twilio's error
    /// table.
    pub fn new() -> Self {
        Self {
            poll: Duration::from_millis(500),
            progress_every: Duration::from_secs(1),
            send_timeout: Duration::from_secs(30),
            check_every: Duration::from_secs(1),
            seed: 0,
            rescue_limit: 1000,
            rescue_every: Duration::from_secs(1),
            samples: SampleLimits::new(),
            error_table: ErrorTable::twilio(),
            status_callback: None,
        }
    }

    /// The poll interval.
    pub fn poll(mut self, poll: Duration) -> Self {
        self.poll = poll.max(Duration::from_millis(1));
        self
    }

    /// The progress interval.
    pub fn progress_every(mut self, every: Duration) -> Self {
        self.progress_every = every;
        self
    }

    /// The send timeout.
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// The check interval of a sending batch.
    pub fn check_every(mut self, every: Duration) -> Self {
        self.check_every = every;
        self
    }

    /// Looks for expired leases at most once per `every` (zero: at every poll).
    pub fn rescue_every(mut self, every: Duration) -> Self {
        self.rescue_every = every;
        self
    }

    /// The jitter's seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The status-callback URL.
    pub fn status_callback(mut self, url: impl Into<String>) -> Self {
        self.status_callback = Some(url.into());
        self
    }
}

/// What a worker says about its work (the CLI prints these to stderr).
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkerEvent {
    /// A batch was prepared.
    Prepared {
        /// The batch.
        batch: Uuid,
        /// Its messages.
        messages: u64,
    },
    /// A batch changed state because of what the worker saw.
    State {
        /// The batch.
        batch: Uuid,
        /// Its new state.
        state: BatchState,
        /// Why it paused, when it did.
        reason: Option<PauseReason>,
        /// Why.
        message: String,
    },
    /// Expired leases were ended.
    Rescued {
        /// Back to pending.
        pending: u64,
        /// In doubt.
        in_doubt: u64,
    },
    /// Something failed; the worker goes on (a batch's runner starts again on the next poll).
    Error {
        /// The batch, if one.
        batch: Option<Uuid>,
        /// What.
        error: Error,
    },
}

/// A sink for [`WorkerEvent`]s.
pub type EventSink = Arc<dyn Fn(&WorkerEvent) + Send + Sync>;

/// The worker's pace per sender, shared by the runs of all its batches: two batches from one
/// sender together keep to the rate, not each to its own. Each reservation takes the time its
/// own batch's rate gives its segments on the sender's one timeline (a GCRA whose theoretical
/// arrival time is the sender's), so batches with different rates for one sender never
/// together exceed the faster of them.
#[derive(Debug)]
pub(crate) struct SenderPace {
    origin: tokio::time::Instant,
    senders: Mutex<HashMap<String, u64>>,
}

impl SenderPace {
    fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
            senders: Mutex::new(HashMap::new()),
        }
    }

    /// Reserves `segments` from `sender` at `rate` (none: no wait) and returns how long to
    /// wait; the reservation holds even if the caller then gives up.
    fn reserve(&self, sender: &str, rate: Option<Rate>, segments: u32) -> Duration {
        let Some(rate) = rate else {
            return Duration::ZERO;
        };
        let now = tokio::time::Instant::now().saturating_duration_since(self.origin);
        // Plain numbers: a panic elsewhere cannot leave them harmful.
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        let tat = senders.entry(sender.to_owned()).or_insert(0);
        let mut gcra = Gcra::resume(rate, *tat);
        let wait = gcra.reserve(now, segments);
        *tat = gcra.tat();
        wait
    }
}

/// What every runner of a worker shares.
pub(crate) struct Ctx {
    pub(crate) store: Store,
    pub(crate) sender: Arc<dyn Sender>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: RunnerConfig,
    pub(crate) zones: Arc<dyn ZoneSource>,
    pub(crate) shutdown: Shutdown,
    pub(crate) events: Option<EventSink>,
    pace: SenderPace,
    tokens: AtomicU64,
    token_base: u64,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Ctx {
    pub(crate) fn new(
        store: Store,
        sender: Arc<dyn Sender>,
        clock: Arc<dyn Clock>,
        config: RunnerConfig,
        zones: Arc<dyn ZoneSource>,
        shutdown: Shutdown,
        events: Option<EventSink>,
    ) -> Self {
        // Claim tokens must differ between processes and runs, not be unpredictable: the
        // process id, the wall clock and a counter, mixed.
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Self {
            store,
            sender,
            clock,
            zones,
            shutdown,
            events,
            pace: SenderPace::new(),
            tokens: AtomicU64::new(0),
            token_base: mix(wall ^ (u64::from(std::process::id()) << 32) ^ config.seed),
            config,
        }
    }

    pub(crate) fn emit(&self, event: WorkerEvent) {
        if let Some(sink) = &self.events {
            sink(&event);
        }
    }

    fn token(&self) -> Uuid {
        let n = self.tokens.fetch_add(1, Ordering::Relaxed);
        let hi = mix(self.token_base ^ n);
        let lo = mix(hi ^ self.token_base.rotate_left(17) ^ n);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&hi.to_le_bytes());
        bytes[8..].copy_from_slice(&lo.to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// How long a run's claims go on from where the last ended before one starts from the head of
/// the batch's queue again (where messages given back or rescued wait).
const HEAD_EVERY: Duration = Duration::from_secs(1);

/// The most often a run with nothing in flight counts what is left of its batch.
const IDLE_COUNT_EVERY: Duration = Duration::from_secs(1);

/// Where a run's claims have got to in its batch's queue ([`Claim::after`]).
#[derive(Clone, Copy, Debug)]
struct ClaimCursor {
    /// The last message claimed, as `(run_at, id)`.
    after: (Timestamp, i64),
    /// When the claims last started from the head.
    head_at: tokio::time::Instant,
}

/// What a runner keeps between sends.
struct Local {
    budget: RetryBudget,
    monitor: ErrorRateMonitor,
    /// Errors since the last progress write (merged into the batch's on write).
    errors: ErrorStats,
    meter: RateMeter,
    throttle: ProgressThrottle,
    settled: Option<u64>,
}

/// One batch being drained by this worker.
pub(crate) struct BatchRun {
    ctx: Arc<Ctx>,
    id: Uuid,
    sender_name: String,
    options: BatchOptions,
    policy: RetryPolicy,
    rate: Option<Rate>,
    sem: Arc<Semaphore>,
    /// Permits of the look-ups (reconciliation, verification): as many as the sends', apart from
    /// them, so verification keeps pace while the batch is still sending instead of waiting for
    /// sends to leave a permit free.
    check_sem: Arc<Semaphore>,
    window_zone: Option<Arc<dyn ZoneRules>>,
    /// Whether claims record the send start themselves ([`claims_start_sends`]): one write
    /// less per message.
    direct: bool,
    local: Mutex<Local>,
    /// Send starts, written in groups (one claim's token each).
    starts: GroupCommit<(i64, Uuid), Message>,
    /// Outcomes, written in groups.
    outcomes: GroupCommit<(i64, Fence, Transition), Message>,
    span: BatchSpan,
}

impl std::fmt::Debug for BatchRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchRun")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// When a progress document was written (its `updatedAt`).
fn written_at(progress: &serde_json::Value) -> Option<Timestamp> {
    progress
        .get("updatedAt")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// Whether a batch's claims record the send start themselves ([`Claim::start_sends`]): nothing
/// (a rate limit, a send window) holds a claimed message back from the provider, and a message
/// a crash leaves in doubt right after its claim is sent again once the provider is found not
/// to have it (the in-doubt policy resends, or reconciles through a sender that can find),
/// never marked failed.
fn claims_start_sends(options: &BatchOptions, sender_can_find: bool) -> bool {
    options.rate().is_none()
        && options.send_window.is_none()
        && match options.retry_policy().in_doubt {
            InDoubtPolicy::ResendAfter(_) => true,
            InDoubtPolicy::Reconcile => sender_can_find,
            InDoubtPolicy::MarkFailed => false,
        }
}

fn is_refused(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::InvalidTransition { .. })
}

/// Marks the sends of `requests` started, one call per claim token, results in request order.
async fn start_many(
    store: &dyn MessageStore,
    requests: &[(i64, Uuid)],
    now: Timestamp,
) -> Result<Vec<Result<Message>>> {
    let mut results: Vec<Option<Result<Message>>> = (0..requests.len()).map(|_| None).collect();
    let mut tokens: Vec<Uuid> = requests.iter().map(|r| r.1).collect();
    tokens.sort_unstable();
    tokens.dedup();
    for token in tokens {
        let (at, ids): (Vec<usize>, Vec<i64>) = requests
            .iter()
            .enumerate()
            .filter(|(_, r)| r.1 == token)
            .map(|(i, r)| (i, r.0))
            .unzip();
        let answers = store.mark_send_started_many(&ids, token, now).await?;
        for (i, answer) in at.into_iter().zip(answers) {
            results[i] = Some(answer);
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::invalid_input("the store skipped a send start"))))
        .collect())
}

/// A state change that another worker may have made first: refused is fine.
fn tolerate<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_refused(&e) || e.is_lease_lost() => Ok(None),
        Err(e) => Err(e),
    }
}

impl BatchRun {
    pub(crate) fn new(ctx: Arc<Ctx>, batch: &Batch) -> Result<Self> {
        let options = batch_options(batch)?;
        let window_zone = match &options.send_window {
            Some(w) => Some(ctx.zones.zone(w.time_zone())?),
            None => None,
        };
        let mut samples = ctx.config.samples;
        samples = samples.seed(mix(ctx.config.seed ^ batch.id.as_u128() as u64));
        // As many writes as sends can be in flight at once share a round trip.
        let group = options.concurrency.max(1) as usize;
        let store = ctx.store.messages.clone();
        let starts = GroupCommit::new(group, {
            let clock = Arc::clone(&ctx.clock);
            let store = store.clone();
            move |requests: Vec<(i64, Uuid)>| {
                let store = store.clone();
                let now = clock.now();
                Box::pin(async move { start_many(&*store, &requests, now).await }) as Flushed<_>
            }
        });
        let outcomes = GroupCommit::new(group, {
            let clock = Arc::clone(&ctx.clock);
            move |changes: Vec<(i64, Fence, Transition)>| {
                let store = store.clone();
                let now = clock.now();
                Box::pin(async move { store.transition_many(&changes, now).await }) as Flushed<_>
            }
        });
        Ok(Self {
            starts,
            outcomes,
            id: batch.id,
            span: BatchSpan::new(batch.id, ctx.sender.name()),
            sender_name: batch.sender.clone().unwrap_or_default(),
            policy: options.retry_policy(),
            rate: options.rate(),
            sem: Arc::new(Semaphore::new(options.concurrency as usize)),
            check_sem: Arc::new(Semaphore::new(options.concurrency as usize)),
            window_zone,
            direct: claims_start_sends(&options, ctx.sender.can_find()),
            local: Mutex::new(Local {
                budget: RetryBudget::default(),
                monitor: options.error_rate_monitor(),
                errors: ErrorStats::new(samples),
                meter: RateMeter::new(Duration::from_secs(60)),
                throttle: ProgressThrottle::new(ctx.config.progress_every),
                settled: None,
            }),
            options,
            ctx,
        })
    }

    fn local(&self) -> std::sync::MutexGuard<'_, Local> {
        // Plain counters: a panic elsewhere cannot leave them harmful.
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> Timestamp {
        self.ctx.clock.now()
    }

    async fn log(&self, level: LogLevel, event: &str, message: String) {
        let _ = self
            .ctx
            .store
            .logs
            .append(
                self.id,
                &[NewBatchLog::new(level, event, message)],
                self.now(),
            )
            .await;
    }

    /// Moves the batch (another worker may have moved it first: that is fine).
    async fn set_state(
        &self,
        to: BatchState,
        reason: Option<PauseReason>,
        message: String,
    ) -> Result<bool> {
        let now = self.now();
        let moved = tolerate(
            self.ctx
                .store
                .batches
                .transition(self.id, to, reason, now)
                .await,
        )?;
        if moved.is_some() {
            observe::batch_moved(self.id, to);
            let level = if to == BatchState::Paused {
                LogLevel::Warn
            } else {
                LogLevel::Info
            };
            let event = match (to, reason) {
                (BatchState::Paused, Some(r)) => format!("paused:{}", r.code()),
                (state, _) => state.code().to_owned(),
            };
            self.log(level, &event, message.clone()).await;
            self.ctx.emit(WorkerEvent::State {
                batch: self.id,
                state: to,
                reason,
                message,
            });
        }
        Ok(moved.is_some())
    }

    async fn kill_switch_on(&self) -> Result<bool> {
        match &self.options.kill_switch {
            Some(flag) => Ok(self
                .ctx
                .store
                .flags
                .get(flag)
                .await?
                .is_some_and(|f| f.enabled)),
            None => Ok(false),
        }
    }

    /// Drains the batch while it is sending or verifying; returns when it is neither (paused,
    /// ended), or on shutdown, after the sends under way have finished.
    pub(crate) async fn run(self: Arc<Self>) -> Result<()> {
        let span = self.span.clone();
        span.wrap(async move {
            let mut tasks: JoinSet<Result<()>> = JoinSet::new();
            let result = self.drive(&mut tasks).await;
            // Graceful: the sends under way finish (a claim not started is given back by its
            // task).
            while let Some(joined) = tasks.join_next().await {
                self.reap(joined);
            }
            let _ = self.write_progress(true).await;
            result
        })
        .await
    }

    /// Records a message move the store confirmed.
    fn moved(&self, m: &Message) {
        observe::messages_moved(Some(self.id), m.status, 1);
    }

    fn reap(&self, joined: std::result::Result<Result<()>, tokio::task::JoinError>) {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(error)) => self.ctx.emit(WorkerEvent::Error {
                batch: Some(self.id),
                error,
            }),
            Err(e) => self.ctx.emit(WorkerEvent::Error {
                batch: Some(self.id),
                error: Error::invalid_input(format!("a send task stopped: {e}")),
            }),
        }
    }

    async fn drive(self: &Arc<Self>, tasks: &mut JoinSet<Result<()>>) -> Result<()> {
        let mut last_checks: Option<tokio::time::Instant> = None;
        let mut last_kill_check: Option<tokio::time::Instant> = None;
        // Checks (reconciliation, verification) outstanding at the last look.
        let mut outstanding: Option<u64> = None;
        // When a claim last found messages: a claim takes only a sending batch's messages, so
        // the batch was sending then, and its row need not be read again before the next poll
        // interval (a pause or cancel makes the next claim find none, and the row is read).
        let mut claimed_at: Option<tokio::time::Instant> = None;
        let mut cursor: Option<ClaimCursor> = None;
        // When this run, with nothing in flight, last counted what is left of the batch. A run
        // whose own sends or checks just finished counts at once (it may have finished the
        // batch); an idle one at most every IDLE_COUNT_EVERY, since a count reads the queue
        // indexes, which keep an entry for every message until vacuum.
        let mut idle_counted: Option<tokio::time::Instant> = None;
        loop {
            while let Some(joined) = tasks.try_join_next() {
                self.reap(joined);
            }
            if self.ctx.shutdown.is_triggered() {
                return Ok(());
            }
            let recent = claimed_at.is_some_and(|t| t.elapsed() < self.ctx.config.poll);
            let state = if recent {
                BatchState::Sending
            } else {
                match self.ctx.store.batches.get(self.id).await? {
                    Some(batch) => batch.state,
                    None => return Ok(()),
                }
            };
            let now = self.now();
            let mut claimed = 0usize;
            match state {
                BatchState::Sending => {
                    let due_kill = last_kill_check.is_none_or(|t| {
                        t.elapsed() >= self.ctx.config.poll.min(Duration::from_millis(250))
                    });
                    if due_kill {
                        last_kill_check = Some(tokio::time::Instant::now());
                        if self.kill_switch_on().await? {
                            let flag = self.options.kill_switch.clone().unwrap_or_default();
                            self.set_state(
                                BatchState::Paused,
                                Some(PauseReason::KillSwitch),
                                format!("the kill-switch flag {flag:?} is enabled"),
                            )
                            .await?;
                            claimed_at = None;
                            continue;
                        }
                    }
                    claimed = self.claim(tasks, now, &mut cursor).await?;
                    claimed_at = (claimed > 0).then(tokio::time::Instant::now);
                    let checks_due =
                        last_checks.is_none_or(|t| t.elapsed() >= self.ctx.config.check_every);
                    if checks_due {
                        last_checks = Some(tokio::time::Instant::now());
                        outstanding = self.checks(tasks, now).await?;
                    }
                    let count_due = idle_counted.is_none_or(|t| t.elapsed() >= IDLE_COUNT_EVERY);
                    if claimed == 0 && tasks.is_empty() && count_due {
                        idle_counted = Some(tokio::time::Instant::now());
                        let counts = self.ctx.store.messages.count_unfinished(self.id).await?;
                        if counts.pending == 0 && counts.processing == 0 {
                            self.set_state(
                                BatchState::Verifying,
                                None,
                                "every message was sent or settled; verifying".into(),
                            )
                            .await?;
                            continue;
                        }
                        let idle = counts.processing == 0 && outstanding == Some(0);
                        if idle && self.wait_for_window(now).await? {
                            continue;
                        }
                    }
                }
                BatchState::Verifying => {
                    let outstanding = self.checks(tasks, now).await?;
                    let count_due = idle_counted.is_none_or(|t| t.elapsed() >= IDLE_COUNT_EVERY);
                    if tasks.is_empty() && count_due {
                        idle_counted = Some(tokio::time::Instant::now());
                        let counts = self.ctx.store.messages.count_unfinished(self.id).await?;
                        if counts.pending > 0 {
                            // Reconciliation sent some back to be resent.
                            self.set_state(
                                BatchState::Sending,
                                None,
                                format!("{} messages to send again", counts.pending),
                            )
                            .await?;
                            continue;
                        }
                        if counts.processing == 0 && counts.in_doubt == 0 && outstanding == Some(0)
                        {
                            self.write_progress(true).await?;
                            self.set_state(
                                BatchState::Completed,
                                None,
                                "every message is settled or verified".into(),
                            )
                            .await?;
                            return Ok(());
                        }
                    }
                }
                BatchState::Cancelled => {
                    if self.settle_cancelled(tasks, now).await? {
                        return Ok(());
                    }
                }
                _ => return Ok(()),
            }
            if claimed > 0 || !tasks.is_empty() {
                idle_counted = None;
            }
            self.write_progress(false).await?;
            self.wait(tasks, claimed).await;
        }
    }

    /// Waits for something to do: a send finishing (a permit free), the poll interval, or
    /// the shutdown signal.
    async fn wait(&self, tasks: &mut JoinSet<Result<()>>, claimed: usize) {
        let poll = self.ctx.config.poll;
        if tasks.is_empty() {
            self.ctx.shutdown.sleep(poll).await;
            return;
        }
        // Claimed a full set: claim again as soon as one is done. Otherwise nothing more was
        // due: wake on a finished send (its retry may be due) or the poll.
        let _ = claimed;
        tokio::select! {
            joined = tasks.join_next() => {
                if let Some(joined) = joined {
                    self.reap(joined);
                }
            }
            () = tokio::time::sleep(poll) => {}
            () = self.ctx.shutdown.triggered() => {}
        }
    }

    /// Claims as many messages as there are free permits and starts their sends; `cursor` is
    /// where the run's claims have got to in the batch's queue.
    async fn claim(
        self: &Arc<Self>,
        tasks: &mut JoinSet<Result<()>>,
        now: Timestamp,
        cursor: &mut Option<ClaimCursor>,
    ) -> Result<usize> {
        let free = self.sem.available_permits();
        // The signal may have come since the loop looked: nothing more is claimed after it.
        if free == 0 || self.ctx.shutdown.is_triggered() {
            return Ok(0);
        }
        let token = self.ctx.token();
        let direct = self.direct;
        let claim = |limit: usize, after: Option<(Timestamp, i64)>| {
            let mut c = Claim::new(limit as u32, token, self.options.lease(), now).batch(self.id);
            if let Some((run_at, id)) = after {
                c = c.after(run_at, id);
            }
            if direct {
                c = c.start_sends();
            }
            c
        };
        let head_due = cursor.is_none_or(|c| c.head_at.elapsed() >= HEAD_EVERY);
        let mut messages = if head_due {
            *cursor = None;
            self.ctx.store.messages.claim(&claim(free, None)).await?
        } else {
            let after = cursor.map(|c| c.after);
            let mut found = self.ctx.store.messages.claim(&claim(free, after)).await?;
            // The cursor ran past the due messages: the rest come from the head (given back
            // or rescued messages wait behind the cursor).
            if found.len() < free {
                *cursor = None;
                let more = self
                    .ctx
                    .store
                    .messages
                    .claim(&claim(free - found.len(), None))
                    .await?;
                found.extend(more);
            }
            found
        };
        messages.sort_by_key(|m| (m.run_at, m.id));
        // A full claim leaves the cursor at its last message; a short one found the end of
        // what is due, so the next starts from the head.
        *cursor = match messages.last() {
            Some(last) if messages.len() == free => Some(ClaimCursor {
                after: (last.run_at, last.id),
                head_at: cursor.map_or_else(tokio::time::Instant::now, |c| c.head_at),
            }),
            _ => None,
        };
        let n = messages.len();
        observe::messages_moved(Some(self.id), MessageStatus::Processing, n as u64);
        for m in messages {
            // OK to fail only if someone else took permits, which nothing does: claims and
            // checks are made by this loop alone, each after counting the free permits.
            let Ok(permit) = self.sem.clone().try_acquire_owned() else {
                if let Ok(back) = self.ctx.store.messages.release(m.id, token, now).await {
                    self.moved(&back);
                }
                continue;
            };
            let run = Arc::clone(self);
            tasks.spawn(
                self.span
                    .wrap(async move { run.send_one(m, token, permit, direct).await }),
            );
        }
        Ok(n)
    }

    fn outbound(&self, m: &Message) -> OutboundMessage {
        let from = m.sender.clone().unwrap_or_else(|| self.sender_name.clone());
        let mut out = OutboundMessage::new(m.id, m.phone.clone(), from, m.body.clone())
            .segments(m.segments)
            .batch(self.id);
        if let Some(base) = &self.ctx.config.status_callback {
            let sep = if base.contains('?') { '&' } else { '?' };
            out = out.status_callback(format!("{base}{sep}mid={}", m.id));
        }
        out
    }

    /// The zone a message's send window is judged in: the customer's own, else the batch's.
    fn zone_of(&self, m: &Message) -> Option<Arc<dyn ZoneRules>> {
        if let Some(name) = &m.time_zone
            && let Ok(zone) = self.ctx.zones.zone(name)
        {
            return Some(zone);
        }
        self.window_zone.clone()
    }

    /// Sends one claimed message and records what became of it.
    async fn send_one(
        self: Arc<Self>,
        m: Message,
        token: Uuid,
        permit: OwnedSemaphorePermit,
        started: bool,
    ) -> Result<()> {
        let _permit = permit;
        // A claim that recorded the start already (nothing may hold the message back) goes
        // straight to the provider, even on shutdown: it is a send under way.
        if !started && !self.start(&m, token).await? {
            return Ok(());
        }
        let out = self.outbound(&m);
        let outcome =
            match tokio::time::timeout(self.ctx.config.send_timeout, self.ctx.sender.send(&out))
                .await
            {
                Ok(outcome) => outcome,
                Err(_) => SendOutcome::InDoubt(SendFailure::new(
                    ErrorCategory::InDoubt,
                    format!(
                        "no answer within {:?} after the request went out",
                        self.ctx.config.send_timeout
                    ),
                )),
            };
        self.settle(&m, token, outcome).await
    }

    /// Everything between the claim and the provider call of a message whose claim did not
    /// record its start: the send window, the shutdown signal, the pacer, then the start
    /// itself. False when the message is not to be sent now (deferred, given back, lease lost).
    async fn start(&self, m: &Message, token: Uuid) -> Result<bool> {
        let store = &self.ctx.store;
        let now = self.now();
        if self.deferred(m, token, now).await? {
            return Ok(false);
        }
        if self.ctx.shutdown.is_triggered() {
            if let Some(back) = tolerate(store.messages.release(m.id, token, now).await)? {
                self.moved(&back);
            }
            return Ok(false);
        }
        // Pacing: segments per second per sender, over every batch this worker sends from the
        // sender. A long wait extends the lease first.
        let wait = self
            .ctx
            .pace
            .reserve(&self.outbound_sender(m), self.rate, m.segments);
        if !wait.is_zero() {
            let lease = self.options.lease();
            if wait >= lease / 3 {
                tolerate(
                    store
                        .messages
                        .extend_lease(m.id, token, wait + lease, now)
                        .await,
                )?;
            }
            let stopped = self.ctx.shutdown.sleep(wait).await;
            if stopped {
                if let Some(back) = tolerate(store.messages.release(m.id, token, self.now()).await)?
                {
                    self.moved(&back);
                }
                return Ok(false);
            }
            // The window may have closed while the message waited for its slot.
            if self.deferred(m, token, self.now()).await? {
                return Ok(false);
            }
        }
        // Written before the provider is called: a crash from here on makes the message in
        // doubt (reconciled), never pending (resent blindly).
        match self.starts.submit((m.id, token)).await {
            Ok(_) => {}
            Err(e) if e.is_lease_lost() => return Ok(false),
            Err(e) => return Err(e),
        }
        Ok(true)
    }

    /// Defers the message to its window's next opening when the window (in the customer's
    /// zone when known) is closed at `now`; true when it did.
    async fn deferred(&self, m: &Message, token: Uuid, now: Timestamp) -> Result<bool> {
        let Some(w) = &self.options.send_window else {
            return Ok(false);
        };
        let Some(zone) = self.zone_of(m) else {
            return Ok(false);
        };
        if w.window().contains(now, &*zone) {
            return Ok(false);
        }
        let open = w
            .window()
            .next_open(now, &*zone)
            .unwrap_or(now.saturating_add(Duration::from_secs(3600)));
        if let Some(back) = tolerate(self.ctx.store.messages.defer(m.id, token, open, now).await)? {
            self.moved(&back);
        }
        Ok(true)
    }

    fn outbound_sender(&self, m: &Message) -> String {
        m.sender.clone().unwrap_or_else(|| self.sender_name.clone())
    }

    /// Applies the retry policy's decision about an outcome, fenced by the claim.
    async fn settle(&self, m: &Message, token: Uuid, outcome: SendOutcome) -> Result<()> {
        let store = &self.ctx.store;
        let now = self.now();
        let draw = mix(self.ctx.config.seed ^ (m.id as u64) ^ (u64::from(m.attempts) << 48));
        let mut policy = self.policy;
        if let Some(max) = m.max_attempts {
            policy = policy.max_attempts(max);
        }
        let (next, pause_for_errors) = {
            let mut local = self.local();
            local.budget.deposit(now);
            local.monitor.record_outcome(now, &outcome);
            if let Some(failure) = outcome.failure() {
                local.errors.record(MessageId::from(m.id), failure, now);
            }
            let next = policy.next(outcome, m.attempts, now, draw, &mut local.budget);
            let pause = local.monitor.should_pause(now);
            (next, pause)
        };
        let with_failure = |t: Transition, f: &SendFailure| {
            let mut t = t.category(f.category).error_message(f.message.clone());
            if let Some(code) = &f.code {
                t = t.error_code(code.clone());
            }
            t
        };
        let mut halt = None;
        let mut suppress = None;
        let change = match &next {
            Next::Sent(accepted) => {
                let mut t = Transition::sent(accepted.provider_id.clone())
                    .provider_status(accepted.status.as_str());
                if let Some(n) = accepted.segments {
                    t = t.provider_segments(n);
                }
                if let Some(price) = &accepted.price {
                    t = t.price(price.amount, price.currency.clone());
                }
                t
            }
            Next::Retry {
                run_at, failure, ..
            } => with_failure(Transition::retry(*run_at), failure),
            Next::Fail {
                failure,
                suppress: s,
            } => {
                if *s {
                    suppress = Some(failure.clone());
                }
                with_failure(Transition::failed(failure.category), failure)
            }
            Next::InDoubt { failure, .. } => with_failure(Transition::in_doubt(), failure),
            Next::HaltBatch(failure) => {
                halt = Some(failure.clone());
                // The provider refused the account, not the message: it waits for the batch to
                // resume.
                with_failure(Transition::retry(now), failure)
            }
        };
        match self
            .outcomes
            .submit((m.id, Fence::Claim(token), change))
            .await
        {
            Ok(moved) => self.moved(&moved),
            Err(e) if e.is_lease_lost() => {
                self.log(
                    LogLevel::Warn,
                    "leaseLost",
                    format!(
                        "message {} was rescued by another worker while its send was under way; it will be reconciled",
                        m.id
                    ),
                )
                .await;
            }
            Err(e) => return Err(e),
        }
        if let Some(failure) = suppress {
            store
                .suppressions
                .add(
                    &[(
                        m.phone.clone(),
                        Some(format!(
                            "provider {}: {}",
                            failure.code.as_deref().unwrap_or("opt-out"),
                            failure.message
                        )),
                    )],
                    now,
                )
                .await?;
        }
        if let Some(failure) = halt {
            self.set_state(
                BatchState::Paused,
                Some(PauseReason::Provider),
                format!("the provider refused the account or its configuration: {failure}"),
            )
            .await?;
        } else if pause_for_errors {
            self.set_state(
                BatchState::Paused,
                Some(PauseReason::ErrorRate),
                format!(
                    "more than {} of the last minute's sends failed",
                    self.options.error_rate_pause
                ),
            )
            .await?;
        }
        Ok(())
    }

    /// With a send window, a sending batch with nothing in flight, nothing to check, and every
    /// pending message deferred more than [`WINDOW_REST`] ahead pauses with reason
    /// `sendWindow` until its first pending message is due (the worker resumes it then), so
    /// its status says why it waits and `worker --until-idle` does not wait through the night.
    /// True when it paused.
    async fn wait_for_window(&self, now: Timestamp) -> Result<bool> {
        if self.options.send_window.is_none() {
            return Ok(false);
        }
        let Some(next) = self.ctx.store.messages.next_pending_at(self.id).await? else {
            return Ok(false);
        };
        if next <= now.saturating_add(WINDOW_REST) {
            return Ok(false);
        }
        self.set_state(
            BatchState::Paused,
            Some(PauseReason::SendWindow),
            format!("waiting for the send window: the next message is due at {next}"),
        )
        .await
    }

    /// A cancelled batch still owes its in-doubt messages a reconciliation: one the provider
    /// has is recorded as sent (it was: the count must say so), one it does not have is
    /// cancelled, never sent. Messages that came back to pending after the cancel (a retry
    /// decided by a send under way, a rescued claim) are cancelled too, and sends under way in
    /// other workers are waited for. True when nothing is left to settle.
    async fn settle_cancelled(
        self: &Arc<Self>,
        tasks: &mut JoinSet<Result<()>>,
        now: Timestamp,
    ) -> Result<bool> {
        let store = &self.ctx.store;
        store.messages.cancel_pending(self.id, now).await?;
        if !tasks.is_empty() {
            return Ok(false);
        }
        let counts = store.messages.count_unfinished(self.id).await?;
        if counts.in_doubt == 0 && counts.processing == 0 && counts.pending == 0 {
            return Ok(true);
        }
        let kinds = [(CheckKind::Reconcile, self.options.verify_after())];
        self.start_checks(tasks, now, &kinds).await?;
        Ok(false)
    }

    /// Starts the checks that are due (reconciliation, then each verification pass) with the
    /// free look-up permits; returns the verification checks outstanding over every pass (`None`
    /// when it could not be told: no permit was free), with in-doubt ones counted too.
    async fn checks(
        self: &Arc<Self>,
        tasks: &mut JoinSet<Result<()>>,
        now: Timestamp,
    ) -> Result<Option<u64>> {
        let verify_after = self.options.verify_after();
        let mut kinds = vec![(CheckKind::Reconcile, verify_after)];
        kinds.push((CheckKind::Verify { pass: 1 }, verify_after));
        if let Some(second) = self.options.second_verify_after() {
            kinds.push((CheckKind::Verify { pass: 2 }, second));
        }
        self.start_checks(tasks, now, &kinds).await
    }

    /// Starts the due checks of these kinds (each with its delay) with the free look-up permits; see
    /// [`BatchRun::checks`].
    async fn start_checks(
        self: &Arc<Self>,
        tasks: &mut JoinSet<Result<()>>,
        now: Timestamp,
        kinds: &[(CheckKind, Duration)],
    ) -> Result<Option<u64>> {
        let mut outstanding = 0u64;
        for &(kind, after) in kinds {
            let free = self.check_sem.available_permits();
            if free == 0 {
                return Ok(None);
            }
            let due = now.saturating_sub(after);
            let claim = CheckClaim::new(self.id, kind, due, free as u32, self.options.lease(), now);
            let checks = self.ctx.store.messages.claim_checks(&claim).await?;
            outstanding += checks.outstanding;
            for m in checks.messages {
                let Ok(permit) = self.check_sem.clone().try_acquire_owned() else {
                    break;
                };
                let run = Arc::clone(self);
                tasks.spawn(self.span.wrap(async move {
                    let _permit = permit;
                    match kind {
                        CheckKind::Reconcile => run.reconcile(m).await,
                        CheckKind::Verify { pass } => run.verify(m, pass).await,
                    }
                }));
            }
        }
        Ok(Some(outstanding))
    }

    /// An in-doubt message: ask the provider whether it has it, and decide by the policy.
    async fn reconcile(&self, m: Message) -> Result<()> {
        let store = &self.ctx.store;
        let started = m.send_started_at.unwrap_or(m.updated_at);
        let out = self.outbound(&m);
        let query = FindQuery::around(&out, started, self.ctx.config.send_timeout);
        let answer = self.ctx.sender.find(&query).await;
        let lookup = Lookup::from_find(&query, &answer);
        let now = self.now();
        let fence = Fence::Status(MessageStatus::InDoubt);
        let resolution = self
            .policy
            .in_doubt
            .resolve(started, now, lookup, self.policy.timing);
        // Set when the provider does not have it and the batch was cancelled meanwhile.
        let mut cancelled = false;
        let (change, note) = match resolution {
            Resolution::Found { message, status } => (
                self.found_change(&message, status),
                format!(
                    "message {} was in doubt; the provider has it as {}",
                    m.id, message.provider_id
                ),
            ),
            Resolution::Resend => {
                cancelled = store
                    .batches
                    .get(self.id)
                    .await?
                    .is_some_and(|b| b.state == BatchState::Cancelled);
                let then = if cancelled {
                    "the batch is cancelled, so it is not sent"
                } else {
                    "so it is sent again"
                };
                (
                    Transition::retry(now),
                    format!(
                        "message {} was in doubt; the provider does not have it; {then}",
                        m.id
                    ),
                )
            }
            Resolution::Fail(failure) => (
                Transition::failed(failure.category).error_message(failure.message.clone()),
                format!(
                    "message {} was in doubt and is marked failed: {failure}",
                    m.id
                ),
            ),
            Resolution::CheckAt(at) => {
                tolerate(
                    store
                        .messages
                        .record_check(
                            m.id,
                            MessageStatus::InDoubt,
                            &CheckResult::new().check_after(Some(at)),
                            now,
                        )
                        .await,
                )?;
                return Ok(());
            }
        };
        match store.messages.transition(m.id, fence, &change, now).await {
            Ok(back) => {
                self.moved(&back);
                // Pending again in a cancelled batch: cancelled at once (no claim takes a
                // cancelled batch's messages meanwhile).
                if cancelled && back.status == MessageStatus::Pending {
                    store.messages.cancel_pending(self.id, now).await?;
                }
                self.log(LogLevel::Info, "reconciled", note).await;
            }
            Err(e) if e.is_lease_lost() => {}
            Err(e) if matches!(e.kind(), ErrorKind::UniqueViolation { .. }) => {
                // The provider's id is another message's: not this one's send after all.
                self.log(
                    LogLevel::Error,
                    "reconcileConflict",
                    format!("message {}: {e}", m.id),
                )
                .await;
                tolerate(
                    store
                        .messages
                        .record_check(
                            m.id,
                            MessageStatus::InDoubt,
                            &CheckResult::new()
                                .check_after(Some(now.saturating_add(self.options.verify_after()))),
                            now,
                        )
                        .await,
                )?;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// The transition for a message the provider reports in `status`.
    fn found_change(&self, found: &ProviderMessage, status: MessageStatus) -> Transition {
        let mut t = Transition::to(status)
            .provider_id(found.provider_id.clone())
            .provider_status(found.status.as_str());
        if let Some(n) = found.segments {
            t = t.provider_segments(n);
        }
        if let Some(price) = &found.price {
            t = t.price(price.amount, price.currency.clone());
        }
        if matches!(status, MessageStatus::Failed | MessageStatus::Undelivered) {
            let c = self
                .ctx
                .config
                .error_table
                .classify(found.error_code.as_deref(), None);
            t = t.category(c.category);
            if let Some(code) = &found.error_code {
                t = t.error_code(code.clone());
            }
            if let Some(text) = &found.error_message {
                t = t.error_message(text.clone());
            }
        }
        t
    }

    /// A sent message: look it up and record what the provider says now.
    async fn verify(&self, m: Message, pass: u32) -> Result<()> {
        let store = &self.ctx.store;
        let Some(provider_id) = m.provider_id.clone() else {
            let check = CheckResult::new().verified(pass).check_after(None);
            tolerate(
                store
                    .messages
                    .record_check(m.id, MessageStatus::Sent, &check, self.now())
                    .await,
            )?;
            return Ok(());
        };
        let answer = self.ctx.sender.lookup(&provider_id).await;
        let now = self.now();
        let check = match answer {
            Ok(found) => {
                let status = found.status.message_status();
                if status != MessageStatus::Sent {
                    let change = self.found_change(&found, status);
                    if let Some(moved) = tolerate(
                        store
                            .messages
                            .transition(m.id, Fence::Status(MessageStatus::Sent), &change, now)
                            .await,
                    )? {
                        self.moved(&moved);
                    }
                    return Ok(());
                }
                let mut check = CheckResult::new()
                    .verified(pass)
                    .provider_status(found.status.as_str())
                    .check_after(None);
                if let Some(n) = found.segments {
                    check = check.provider_segments(n);
                }
                if let Some(price) = found.price {
                    check = check.price(price);
                }
                check
            }
            Err(LookupError::Unavailable { retry_after, .. }) => {
                CheckResult::new().check_after(Some(
                    now.saturating_add(
                        retry_after
                            .unwrap_or(self.options.verify_after())
                            .max(Duration::from_secs(1)),
                    ),
                ))
            }
            Err(LookupError::NotFound) => {
                self.log(
                    LogLevel::Warn,
                    "verifyNotFound",
                    format!(
                        "the provider has no message {provider_id} (message {})",
                        m.id
                    ),
                )
                .await;
                CheckResult::new()
                    .verified(pass)
                    .provider_status(ProviderStatus::Unknown.as_str())
                    .check_after(None)
            }
            // A sender that cannot look up: nothing more can be learnt.
            Err(_) => CheckResult::new().verified(pass).check_after(None),
        };
        tolerate(
            store
                .messages
                .record_check(m.id, MessageStatus::Sent, &check, now)
                .await,
        )?;
        Ok(())
    }

    /// Writes the batch's progress (at most once per interval unless `force`).
    async fn write_progress(&self, force: bool) -> Result<()> {
        let now = self.now();
        if !force && !self.local().throttle.ready(now) {
            return Ok(());
        }
        let store = &self.ctx.store;
        let Some(batch) = store.batches.get(self.id).await? else {
            return Ok(());
        };
        // Several workers drain one batch, and progress counts every message of it: the first
        // to find the batch's progress an interval old writes it, and the others wait for the
        // next interval after that write, so a batch is counted once an interval however many
        // workers send it. (A worker's error samples wait for a write of its own: at the
        // latest, the forced one when its run ends.)
        if !force
            && let Some(at) = written_at(&batch.progress)
            && at <= now
            && now.duration_since(at) < self.ctx.config.progress_every
        {
            self.local().throttle.wrote(at);
            return Ok(());
        }
        let counts = store.messages.count_by_status(self.id).await?;
        let settled = counts.total() - counts.unfinished();
        let (delta, mps) = {
            let mut local = self.local();
            if let Some(before) = local.settled {
                let moved = settled.saturating_sub(before);
                local.meter.record(now, moved);
            }
            local.settled = Some(settled);
            let delta =
                std::mem::replace(&mut local.errors, ErrorStats::new(self.ctx.config.samples));
            (delta, local.meter.per_second(now))
        };
        // The batch's error samples are shared by its workers: merge this one's since its last
        // write into what the row holds. (Two workers writing in the same instant can lose one
        // worker's new samples; the counts per category, like those per state, come from the
        // store in `compute_progress`, so they lose nothing.)
        let mut errors: ErrorStats = batch
            .progress
            .get("errors")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_else(|| ErrorStats::new(self.ctx.config.samples));
        errors.merge(&delta);
        let progress =
            compute_progress(store, &batch, &errors, mps, Some(&*self.ctx.zones), now).await?;
        let json = serde_json::to_value(&progress)
            .map_err(|e| Error::invalid_input(format!("the progress cannot be written: {e}")))?;
        store.batches.set_progress(self.id, &json, now).await?;
        self.local().throttle.wrote(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(json: &str) -> BatchOptions {
        BatchOptions::from_json(json).unwrap()
    }

    #[test]
    fn claims_start_sends_only_when_nothing_holds_them_and_a_lost_one_is_resent() {
        // Nothing in between; reconciled through a sender that can find, or resent anyway.
        assert!(claims_start_sends(&options("{}"), true));
        assert!(claims_start_sends(
            &options(r#"{"inDoubt": {"resendAfterSeconds": 600}}"#),
            false
        ));
        // A sender that cannot find: reconciliation would mark the message failed.
        assert!(!claims_start_sends(&options("{}"), false));
        assert!(!claims_start_sends(
            &options(r#"{"inDoubt": "markFailed"}"#),
            true
        ));
        // The pacer or the window may hold a claimed message back.
        assert!(!claims_start_sends(
            &options(r#"{"rate": {"segmentsPerSecond": 5}}"#),
            true
        ));
        assert!(!claims_start_sends(
            &options(
                r#"{"sendWindow": {"start": "09:00", "end": "20:00", "timeZone": "Europe/London"}}"#
            ),
            true
        ));
    }
}
