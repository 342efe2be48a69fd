//! Group commit for the PostgreSQL store: one thread per instance takes the sync requests that
//! wait (their pushes already prepared on a read snapshot) and writes them in one transaction,
//! under one take of the store's write lock, each request behind its own savepoint (one request's
//! failure, or panic, leaves the others), with one commit.
//!
//! Every instance's writes are serialised by the write lock (docs/cursor.md): what a write costs
//! while it holds the lock bounds the whole bank's write throughput. Taken one request at a time,
//! each paid for the lock, its commit (a WAL flush) and the hand-over to the next writer; in a
//! batch they are paid once. The instances' batches still take turns, so each instance's thread
//! waits for the lock while the others write, and a batch grows with the requests that arrive
//! meanwhile.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use fieldsync_core::sync::protocol::{SyncRequest, SyncResponse};

use super::db::WRITE_LOCK;
use super::{Driver, PgStore};
use crate::accounts::{Device, User};
use crate::customers::PushError;
use crate::doc_cache::DocCache;
use crate::store::StoreError;
use crate::sync::{PreparedRequest, Stats};

/// Requests written in one transaction at most.
const MAX_BATCH: usize = 64;

type Answer = Result<(SyncResponse, Stats), PushError>;

/// A sync request waiting for the writer.
pub(super) struct Job {
    pub user: User,
    pub device: Device,
    pub request: Arc<SyncRequest>,
    pub prepared: PreparedRequest,
    pub now: i64,
    pub submitted: Instant,
}

/// A job and where its answer goes.
struct Queued {
    job: Job,
    reply: tokio::sync::oneshot::Sender<Answer>,
}

enum Work {
    Sync(Box<Queued>),
    /// Answered by the thread itself: it is alive and takes work (`/readyz`).
    Ping(tokio::sync::oneshot::Sender<()>),
}

/// The group-commit thread's queue; a thread that has stopped is started again by the next
/// request.
///
/// The thread has a connection of its own, driven by a single-threaded runtime of its own: each
/// of a request's statements costs the round trip to the database and nothing else (a connection
/// driven by the server's runtime would wake a worker thread, and the worker this thread, for
/// every statement), and the thread does not queue for the server's workers while it holds the
/// write lock that every instance waits for.
#[derive(Clone)]
pub(super) struct Committer {
    queue: Arc<Mutex<Option<mpsc::Sender<Work>>>>,
    /// A pool of one connection, driven by the thread's runtime.
    pool: deadpool_postgres::Pool,
    docs: Arc<DocCache>,
}

impl Committer {
    pub fn new(pool: deadpool_postgres::Pool, docs: Arc<DocCache>) -> Committer {
        Committer { queue: Arc::new(Mutex::new(None)), pool, docs }
    }

    /// Queues `job` and waits for its answer (after the commit of its batch).
    pub async fn write(&self, job: Job) -> Result<Answer, crate::error::AppError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.submit(Work::Sync(Box::new(Queued { job, reply })))?;
        answer.await.map_err(|_| crate::error::AppError::Internal("the store's writer stopped".into()))
    }

    /// Whether the thread takes work within `timeout`.
    pub async fn alive(&self, timeout: Duration) -> bool {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if self.submit(Work::Ping(reply)).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(timeout, answer).await, Ok(Ok(())))
    }

    fn submit(&self, work: Work) -> Result<(), crate::error::AppError> {
        let mut queue = self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let work = match queue.as_ref() {
            Some(q) => match q.send(work) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(work)) => {
                    tracing::error!("the PostgreSQL store's writer had stopped; starting it again");
                    work
                }
            },
            None => work,
        };
        let (tx, rx) = mpsc::channel();
        let this = self.clone();
        std::thread::Builder::new()
            .name("fieldsync-pg-writer".into())
            .spawn(move || this.run(&rx))
            .map_err(|e| crate::error::AppError::Internal(format!("cannot start the store's writer: {e}")))?;
        tx.send(work).map_err(|_| crate::error::AppError::Internal("the store's writer stopped".into()))?;
        *queue = Some(tx);
        Ok(())
    }

    fn run(&self, queue: &mpsc::Receiver<Work>) {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                // The queue is dropped with this thread: the next request starts another.
                tracing::error!(error = %e, "the PostgreSQL store's writer cannot start its runtime");
                return;
            }
        };
        while let Ok(first) = queue.recv() {
            let mut jobs = Vec::new();
            let mut next = Some(first);
            while let Some(work) = next.take() {
                match work {
                    Work::Ping(reply) => {
                        let _ = reply.send(());
                    }
                    // A device that hung up while its request waited costs nothing more.
                    Work::Sync(queued) if queued.reply.is_closed() => {}
                    Work::Sync(queued) => jobs.push(*queued),
                }
                if jobs.len() < MAX_BATCH {
                    next = queue.try_recv().ok();
                }
            }
            if jobs.is_empty() {
                continue;
            }
            let answers = self.batch(&rt, &jobs);
            for (Queued { job, reply }, answer) in jobs.into_iter().zip(answers) {
                metrics::histogram!(crate::metrics::APPLY_SECONDS).record(job.submitted.elapsed().as_secs_f64());
                let answer = answer.map(|(response, stats)| {
                    for (id, version, doc) in job.prepared.into_documents(&stats.committed) {
                        self.docs.put(id, version, doc);
                    }
                    (response, stats)
                });
                let _ = reply.send(answer);
            }
        }
    }

    /// One transaction for the batch; a request that fails or panics is rolled back to its
    /// savepoint and the others go on. Should the transaction itself fail (the connection lost,
    /// the commit refused), every request of the batch gets that error and nothing of it is kept.
    fn batch(&self, runtime: &tokio::runtime::Runtime, jobs: &[Queued]) -> Vec<Answer> {
        let rt = Driver::Own(runtime);
        let result = (|| {
            let mut client = rt.block_on(self.pool.get()).map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let mut tx = rt.round_trip(client.transaction())?;
            let waited = Instant::now();
            rt.round_trip(tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]))?;
            let held = Instant::now();
            let waited = waited.elapsed().as_secs_f64();
            let mut answers = Vec::with_capacity(jobs.len());
            for Queued { job, .. } in jobs {
                metrics::histogram!(crate::metrics::LOCK_WAIT_SECONDS).record(waited);
                let savepoint = rt.round_trip(tx.savepoint("request"))?;
                let taken = catch_unwind(AssertUnwindSafe(|| {
                    let store = PgStore::pipelined(&savepoint, rt);
                    let taken =
                        crate::sync::take(&store, &job.user, &job.device, &job.request, Some(&job.prepared), job.now)?;
                    store.finish()?;
                    Ok(taken)
                }));
                let answer = taken.unwrap_or_else(|_| {
                    tracing::error!(user = %job.user.id, device = %job.device.id, "a sync request panicked");
                    Err(PushError::Internal)
                });
                if answer.is_ok() {
                    rt.round_trip(savepoint.commit())?;
                } else {
                    // A request that failed leaves nothing; the batch goes on.
                    rt.round_trip(savepoint.rollback())?;
                }
                answers.push(answer);
            }
            rt.round_trip(tx.commit())?;
            metrics::histogram!(crate::metrics::LOCK_HELD_SECONDS).record(held.elapsed().as_secs_f64());
            Ok::<_, StoreError>(answers)
        })();
        match result {
            Ok(answers) => answers,
            Err(e) => {
                tracing::error!(error = %e, requests = jobs.len(), "a sync batch failed in the store");
                let unavailable = e.is_unavailable();
                jobs.iter()
                    .map(|_| {
                        Err(if unavailable {
                            PushError::Store(StoreError::Unavailable("the database went away".into()))
                        } else {
                            PushError::Internal
                        })
                    })
                    .collect()
            }
        }
    }
}
