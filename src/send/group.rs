//! Group commit: the sends of one batch run share round trips to the store.
//!
//! Every send writes twice (its start before the provider call, its outcome after), and a
//! round trip per write caps a worker at what the database answers one statement at a time.
//! Writes of one kind go through a queue instead: a flusher task takes whatever has queued up
//! (at most `max`) and writes it in one call, while the next writes queue behind it. An idle
//! queue adds no delay (the first write goes out at once, alone); under load each round trip
//! carries many. Each write still gets its own result, so fences and lost leases are judged per
//! message exactly as before, and a write is acknowledged only after the store has it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// What a flush returns: an outer error (nothing written) or one result per request, in order.
pub(crate) type Flushed<Resp> = Pin<Box<dyn Future<Output = Result<Vec<Result<Resp>>>> + Send>>;

type Flush<Req, Resp> = Arc<dyn Fn(Vec<Req>) -> Flushed<Resp> + Send + Sync>;

type Waiter<Req, Resp> = (Req, oneshot::Sender<Result<Resp>>);

/// A queue of writes of one kind, flushed in groups of at most `max` by a task started on the
/// first write (on the caller's runtime) and ended when the queue is dropped.
pub(crate) struct GroupCommit<Req, Resp> {
    max: usize,
    flush: Flush<Req, Resp>,
    queue: OnceLock<mpsc::UnboundedSender<Waiter<Req, Resp>>>,
}

impl<Req: Send + 'static, Resp: Send + 'static> GroupCommit<Req, Resp> {
    /// Groups of at most `max` (at least 1) go to `flush`.
    pub(crate) fn new(
        max: usize,
        flush: impl Fn(Vec<Req>) -> Flushed<Resp> + Send + Sync + 'static,
    ) -> Self {
        Self {
            max: max.max(1),
            flush: Arc::new(flush),
            queue: OnceLock::new(),
        }
    }

    /// Writes `request` with whatever else is queued; its own result.
    pub(crate) async fn submit(&self, request: Req) -> Result<Resp> {
        let (tx, rx) = oneshot::channel();
        let queue = self.queue.get_or_init(|| self.start());
        if queue.send((request, tx)).is_err() {
            return Err(Error::invalid_input(
                "the write queue of the batch run has stopped",
            ));
        }
        rx.await.map_err(|_| {
            Error::invalid_input("the write queue of the batch run stopped before answering")
        })?
    }

    fn start(&self) -> mpsc::UnboundedSender<Waiter<Req, Resp>> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Waiter<Req, Resp>>();
        let flush = Arc::clone(&self.flush);
        let max = self.max;
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut group = vec![first];
                while group.len() < max {
                    match rx.try_recv() {
                        Ok(next) => group.push(next),
                        Err(_) => break,
                    }
                }
                let (requests, waiters): (Vec<Req>, Vec<_>) = group.into_iter().unzip();
                match flush(requests).await {
                    Ok(results) if results.len() == waiters.len() => {
                        for (waiter, result) in waiters.into_iter().zip(results) {
                            let _ = waiter.send(result);
                        }
                    }
                    Ok(results) => {
                        let error = Error::invalid_input(format!(
                            "the store answered {} results for {} writes",
                            results.len(),
                            waiters.len()
                        ));
                        for waiter in waiters {
                            let _ = waiter.send(Err(Error::new(error.kind().clone())));
                        }
                    }
                    Err(error) => {
                        for waiter in waiters {
                            let _ = waiter.send(Err(Error::new(error.kind().clone())));
                        }
                    }
                }
            }
        });
        tx
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    fn seen_last(calls: &Mutex<Vec<Vec<u32>>>) -> Vec<u32> {
        calls.lock().unwrap().last().cloned().unwrap_or_default()
    }

    #[tokio::test(start_paused = true)]
    async fn writes_queued_behind_a_flush_share_the_next_round_trip() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let group_calls = Arc::clone(&calls);
        let seen = Arc::clone(&calls);
        let group = Arc::new(GroupCommit::new(3, move |requests: Vec<u32>| {
            seen.lock().unwrap().push(requests.clone());
            Box::pin(async move {
                // A round trip: writes submitted meanwhile queue up.
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(requests
                    .into_iter()
                    .map(|r| {
                        if r == 4 {
                            Err(Error::invalid_input("four is refused"))
                        } else {
                            Ok(r * 10)
                        }
                    })
                    .collect())
            }) as Flushed<u32>
        }));
        let tasks: Vec<_> = (1..=7)
            .map(|i| {
                let group = Arc::clone(&group);
                tokio::spawn(async move { group.submit(i).await })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap().map_err(|e| e.to_string()));
        }
        assert_eq!(results[0], Ok(10));
        assert!(results[3].as_ref().unwrap_err().contains("four is refused"));
        assert_eq!(results[6], Ok(70));
        // Every write went out once, at most three per round trip, in fewer round trips than
        // writes.
        let calls = calls.lock().unwrap().clone();
        let mut written: Vec<u32> = calls.iter().flatten().copied().collect();
        written.sort_unstable();
        assert_eq!(written, (1..=7).collect::<Vec<_>>());
        assert!(
            calls.iter().all(|c| !c.is_empty() && c.len() <= 3),
            "{calls:?}"
        );
        assert!(calls.len() < 7, "{calls:?}");
        // An idle queue sends a write at once, alone.
        assert_eq!(group.submit(8).await.unwrap(), 80);
        assert_eq!(seen_last(&group_calls), vec![8]);
    }

    #[tokio::test]
    async fn an_outer_error_reaches_every_write_of_its_group() {
        let group = GroupCommit::new(8, |_: Vec<u8>| {
            Box::pin(async { Err(Error::invalid_input("connection lost")) }) as Flushed<u8>
        });
        let err = group.submit(1).await.unwrap_err();
        assert!(err.to_string().contains("connection lost"));
    }
}
