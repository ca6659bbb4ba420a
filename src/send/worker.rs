//! The worker (feature `tokio`): prepares requested batches, starts scheduled ones, resumes
//! those whose kill switch was turned off or whose send window opened, rescues expired leases, and runs a
//! [`BatchRun`](super::runner::BatchRun) for every sending or verifying batch. Several workers,
//! in one process or many, share the work through the store's claims.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::clock::{Clock, Shutdown, SystemClock};
use super::prepare::{Preparer, batch_options};
use super::runner::{BatchRun, Ctx, EventSink, RunnerConfig, WorkerEvent};
use crate::analytics::observe;
use crate::error::Result;
use crate::queue::{BatchState, MessageStatus, PauseReason, Sender, TzdbZones, ZoneSource};
use crate::store::{Batch, BatchQuery, Store};
use crate::time::Timestamp;

/// What a worker did (JSON: `{"prepared", "batches"}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WorkerReport {
    /// Batches it prepared.
    pub prepared: u64,
    /// Batch runs it started (a batch paused and resumed counts twice).
    pub batches: u64,
}

/// Prepares and drains every due batch of a store through one [`Sender`].
///
/// ```
/// use std::sync::Arc;
/// use serde_json::json;
/// use smsbatch::{Purpose, Timestamp};
/// use smsbatch::queue::{BatchState, MessageStatus};
/// use smsbatch::send::{BatchRequest, BatchStatus, Preparer, TemplateChoice, TokioClock, Worker};
/// use smsbatch::store::{Actor, Backend, Customer, MemoryStore};
/// use smsbatch::testing::FakeSender;
///
/// # async fn demo() -> smsbatch::Result<()> {
/// let store = MemoryStore::new().store(Actor::Service)?;
/// let customers: Vec<Customer> = (1..=20)
///     .map(|i| {
///         let mut c = Customer::new(i);
///         c.phone = Some(format!("+4474001234{i:02}"));
///         c
///     })
///     .collect();
/// store.customers.upsert(&customers).await?;
/// let clock = Arc::new(TokioClock::new("2025-05-01T09:00:00Z".parse().unwrap()));
/// let request = BatchRequest::new(
///     TemplateChoice::Text("Your order has shipped".into()),
///     json!(null),
///     Purpose::Transactional,
/// );
/// let batch = Preparer::new().create(&store, &request, clock.now()).await?;
/// let fake = Arc::new(FakeSender::new());
/// Worker::new(store.clone(), fake.clone()).clock(clock).run_until_idle().await?;
/// let status = BatchStatus::load(&store, batch.id).await?;
/// assert_eq!(status.state, BatchState::Completed);
/// assert_eq!(status.progress.counts.delivered, 20, "the fake delivers, verification saw it");
/// assert_eq!(fake.calls(), 20);
/// # Ok(()) }
/// # use smsbatch::send::Clock;
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(demo()).unwrap();
/// ```
pub struct Worker {
    store: Store,
    sender: Arc<dyn Sender>,
    clock: Arc<dyn Clock>,
    config: RunnerConfig,
    zones: Arc<dyn ZoneSource>,
    preparer: Preparer,
    shutdown: Shutdown,
    events: Option<EventSink>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("sender", &self.sender.name())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker on the system clock with the default [`RunnerConfig`] and [`Preparer`], time
    /// zones from the bundled database.
    pub fn new(store: Store, sender: Arc<dyn Sender>) -> Self {
        Self {
            store,
            sender,
            clock: Arc::new(SystemClock),
            config: RunnerConfig::new(),
            zones: Arc::new(TzdbZones::new()),
            preparer: Preparer::new(),
            shutdown: Shutdown::new(),
            events: None,
        }
    }

    /// Reads the time from `clock` (a [`TokioClock`](super::TokioClock) in tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The runner configuration.
    pub fn config(mut self, config: RunnerConfig) -> Self {
        self.config = config;
        self
    }

    /// How batches are prepared.
    pub fn preparer(mut self, preparer: Preparer) -> Self {
        self.preparer = preparer;
        self
    }

    /// Where time zones come from.
    pub fn zones(mut self, zones: Arc<dyn ZoneSource>) -> Self {
        self.zones = zones;
        self
    }

    /// Stops when `shutdown` is triggered (keep a clone to trigger it).
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Calls `sink` with what the worker does (the CLI logs it to stderr).
    pub fn events(mut self, sink: EventSink) -> Self {
        self.events = Some(sink);
        self
    }

    /// Runs until the shutdown signal; then stops claiming, lets the sends under way finish,
    /// gives back the claims not started, and returns.
    pub async fn run(&self) -> Result<WorkerReport> {
        self.work(false).await
    }

    /// Runs until every due batch is completed, paused, cancelled or failed and nothing is in
    /// flight, a cancelled batch's in-doubt messages reconciled too (or until the shutdown
    /// signal). A batch scheduled for later is not due, nor one paused while all its pending
    /// messages wait for their send window (pause reason `sendWindow`).
    pub async fn run_until_idle(&self) -> Result<WorkerReport> {
        self.work(true).await
    }

    async fn work(&self, until_idle: bool) -> Result<WorkerReport> {
        let ctx = Arc::new(Ctx::new(
            self.store.clone(),
            Arc::clone(&self.sender),
            Arc::clone(&self.clock),
            self.config.clone(),
            Arc::clone(&self.zones),
            self.shutdown.clone(),
            self.events.clone(),
        ));
        let mut report = WorkerReport::default();
        let mut runners: HashMap<Uuid, JoinHandle<Result<()>>> = HashMap::new();
        // Cancelled batches seen with nothing left to settle: nothing can come back to them,
        // so they are not counted again.
        let mut settled: HashSet<Uuid> = HashSet::new();
        let mut last_rescue: Option<Timestamp> = None;
        let result = loop {
            if self.shutdown.is_triggered() {
                break Ok(());
            }
            match self
                .round(
                    &ctx,
                    &mut runners,
                    &mut settled,
                    &mut last_rescue,
                    &mut report,
                )
                .await
            {
                Ok(busy) => {
                    if until_idle && !busy && runners.is_empty() {
                        break Ok(());
                    }
                }
                Err(error) => {
                    // A store that is down for a moment: say so and try again.
                    ctx.emit(WorkerEvent::Error { batch: None, error });
                }
            }
            self.shutdown.sleep(self.config.poll).await;
        };
        for (batch, handle) in runners.drain() {
            reap(&ctx, batch, handle.await);
        }
        result.map(|()| report)
    }

    /// One look at every batch; true when some batch is due (being prepared, sending,
    /// verifying, or about to).
    async fn round(
        &self,
        ctx: &Arc<Ctx>,
        runners: &mut HashMap<Uuid, JoinHandle<Result<()>>>,
        settled: &mut HashSet<Uuid>,
        last_rescue: &mut Option<Timestamp>,
        report: &mut WorkerReport,
    ) -> Result<bool> {
        // Runs that ended (paused, completed, an error) make room for a new one.
        let done: Vec<Uuid> = runners
            .iter()
            .filter(|(_, h)| h.is_finished())
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            if let Some(handle) = runners.remove(&id) {
                reap(ctx, id, handle.await);
            }
        }
        let now = self.clock.now();
        // Leases last seconds: looking for expired ones at every poll would only load the
        // store. A clock that went back counts as due.
        let rescue_due = last_rescue
            .is_none_or(|at| now < at || now.duration_since(at) >= self.config.rescue_every);
        if rescue_due {
            let rescued = self
                .store
                .messages
                .rescue(now, self.config.rescue_limit)
                .await?;
            *last_rescue = Some(now);
            observe::messages_moved(None, MessageStatus::Pending, rescued.pending);
            observe::messages_moved(None, MessageStatus::InDoubt, rescued.in_doubt);
            if rescued.pending + rescued.in_doubt > 0 {
                ctx.emit(WorkerEvent::Rescued {
                    pending: rescued.pending,
                    in_doubt: rescued.in_doubt,
                });
            }
        }
        let batches = self
            .store
            .batches
            .list(&BatchQuery::new().states([
                BatchState::Requested,
                BatchState::Preparing,
                BatchState::Scheduled,
                BatchState::Sending,
                BatchState::Paused,
                BatchState::Verifying,
                BatchState::Cancelled,
            ]))
            .await?;
        let mut busy = false;
        for batch in batches {
            if self.shutdown.is_triggered() {
                break;
            }
            let now = self.clock.now();
            match batch.state {
                BatchState::Requested | BatchState::Preparing => {
                    busy = true;
                    match self.preparer.prepare_due(&self.store, &batch, now).await {
                        Ok(Some(summary)) => {
                            report.prepared += 1;
                            ctx.emit(WorkerEvent::Prepared {
                                batch: batch.id,
                                messages: summary.messages,
                            });
                        }
                        Ok(None) => {}
                        Err(error) => ctx.emit(WorkerEvent::Error {
                            batch: Some(batch.id),
                            error,
                        }),
                    }
                }
                BatchState::Scheduled if batch.send_at.is_none_or(|at| at <= now) => {
                    busy = true;
                    self.start(ctx, batch.id, BatchState::Sending, "send_at reached")
                        .await?;
                }
                // A kill switch turned off again resumes the batch; other pauses (but the send
                // window's, below) wait for an operator.
                BatchState::Paused if batch.pause_reason == Some(PauseReason::KillSwitch) => {
                    let flag = batch_options(&batch).ok().and_then(|o| o.kill_switch);
                    let on = match &flag {
                        Some(name) => self.store.flags.get(name).await?.is_some_and(|f| f.enabled),
                        None => false,
                    };
                    if !on {
                        busy = true;
                        self.start(ctx, batch.id, BatchState::Sending, "the kill switch is off")
                            .await?;
                    }
                }
                // A cancelled batch may still have in-doubt messages to reconcile (and sends
                // under way elsewhere that may leave more): its runner settles them.
                BatchState::Cancelled if !settled.contains(&batch.id) => {
                    if runners.contains_key(&batch.id) {
                        busy = true;
                        continue;
                    }
                    let counts = self.store.messages.count_unfinished(batch.id).await?;
                    if counts.in_doubt + counts.processing + counts.pending == 0 {
                        settled.insert(batch.id);
                        continue;
                    }
                    busy = true;
                    self.spawn_run(ctx, &batch, runners, report);
                }
                // Paused while every pending message waited for its send window: sending again
                // once the first is due.
                BatchState::Paused if batch.pause_reason == Some(PauseReason::SendWindow) => {
                    let next = self.store.messages.next_pending_at(batch.id).await?;
                    if next.is_none_or(|at| at <= now) {
                        busy = true;
                        self.start(
                            ctx,
                            batch.id,
                            BatchState::Sending,
                            "the send window is open",
                        )
                        .await?;
                    }
                }
                BatchState::Sending | BatchState::Verifying => {
                    busy = true;
                    if !runners.contains_key(&batch.id) && !self.shutdown.is_triggered() {
                        self.spawn_run(ctx, &batch, runners, report);
                    }
                }
                _ => {}
            }
        }
        Ok(busy)
    }

    /// Starts a [`BatchRun`] of `batch`.
    fn spawn_run(
        &self,
        ctx: &Arc<Ctx>,
        batch: &Batch,
        runners: &mut HashMap<Uuid, JoinHandle<Result<()>>>,
        report: &mut WorkerReport,
    ) {
        if self.shutdown.is_triggered() {
            return;
        }
        match BatchRun::new(Arc::clone(ctx), batch) {
            Ok(run) => {
                report.batches += 1;
                let run = Arc::new(run);
                runners.insert(batch.id, tokio::spawn(run.run()));
            }
            Err(error) => ctx.emit(WorkerEvent::Error {
                batch: Some(batch.id),
                error,
            }),
        }
    }

    async fn start(&self, ctx: &Arc<Ctx>, batch: Uuid, to: BatchState, why: &str) -> Result<()> {
        let now = self.clock.now();
        match self.store.batches.transition(batch, to, None, now).await {
            Ok(moved) => {
                observe::batch_moved(batch, moved.state);
                let _ = self
                    .store
                    .logs
                    .append(
                        batch,
                        &[crate::store::NewBatchLog::new(
                            crate::store::LogLevel::Info,
                            to.code(),
                            why,
                        )],
                        now,
                    )
                    .await;
                ctx.emit(WorkerEvent::State {
                    batch,
                    state: to,
                    reason: None,
                    message: why.to_owned(),
                });
                Ok(())
            }
            // Another worker did it first.
            Err(e) if e.kind().code() == "invalidTransition" => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn reap(ctx: &Ctx, batch: Uuid, joined: std::result::Result<Result<()>, tokio::task::JoinError>) {
    match joined {
        Ok(Ok(())) => {}
        Ok(Err(error)) => ctx.emit(WorkerEvent::Error {
            batch: Some(batch),
            error,
        }),
        Err(e) => ctx.emit(WorkerEvent::Error {
            batch: Some(batch),
            error: crate::Error::invalid_input(format!("a batch run stopped: {e}")),
        }),
    }
}
