//! The server's embedded SQLite store. Calls run on tokio's blocking pool so SQLite never blocks
//! the async runtime; sync requests go through one group-commit thread that takes what waits in
//! one transaction and one fsync.
//!
//! The commit path never dies silently: a panic in a dependency fails only the request that
//! caused it (the batch is retried one request at a time), a thread that stops anyway is started
//! again by the next request, and `/healthz` asks the thread itself.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use fieldsync_core::sync::protocol::{SyncRequest, SyncResponse};
use rusqlite::Connection;

use crate::accounts::{Device, User};
use crate::customers::PushError;
use crate::error::AppError;
use crate::sync::Stats;

/// Sync requests taken in one transaction at most (a batch's answers wait for its commit).
const MAX_BATCH: usize = 64;

#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    /// The group-commit thread's queue; replaced when the thread has stopped.
    syncs: Arc<Mutex<Option<mpsc::Sender<Job>>>>,
}

type Answer = Result<(SyncResponse, Stats), PushError>;

/// Work for the group-commit thread.
enum Job {
    Sync(Box<SyncJob>),
    /// Answered at once: proof that the thread is alive and takes work.
    Ping(tokio::sync::oneshot::Sender<()>),
}

/// A sync request queued for the group-commit thread, with where to send its answer.
struct SyncJob {
    user: User,
    device: Device,
    request: SyncRequest,
    now: i64,
    reply: tokio::sync::oneshot::Sender<Answer>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Db")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Schema(#[from] crate::schema::SchemaError),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl Db {
    /// Opens (creating on first start) `server.db` in `data_dir`: WAL, synchronous=FULL, so an
    /// acknowledged write survives a crash; then migrates it to the current schema.
    pub fn open(data_dir: &Path) -> Result<Db, OpenError> {
        let mut conn = Connection::open(data_dir.join("server.db"))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )?;
        crate::schema::migrate(&mut conn)?;
        Ok(Db { conn: Arc::new(Mutex::new(conn)), syncs: Arc::new(Mutex::new(None)) })
    }

    /// Runs `f` with the connection on the blocking pool. A panic inside fails this call only.
    pub async fn call<T: Send + 'static, E: Into<AppError> + Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, AppError> {
        let db = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match catch_unwind(AssertUnwindSafe(|| f(&mut conn))) {
                Ok(result) => result.map_err(Into::into),
                Err(_) => {
                    // A transaction open at the panic was rolled back as it unwound.
                    Err(AppError::Internal("a request failed inside the store".into()))
                }
            }
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
    }

    /// Direct access for admin commands and tests (not from async code).
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let mut conn = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut conn)
    }

    /// The queue of a running commit thread, starting one if there is none or it stopped.
    fn queue(&self) -> mpsc::Sender<Job> {
        let mut slot = self.syncs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(tx) = slot.as_ref() {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel();
        let conn = self.conn.clone();
        // The thread holds the connection, not the queue: when the last `Db` goes, the queue
        // closes and the thread ends.
        let spawned =
            std::thread::Builder::new().name("fieldsync-sync-commit".into()).spawn(move || group_commit(&conn, &rx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the sync commit thread");
        }
        *slot = Some(tx.clone());
        tx
    }

    /// Sends a job; a queue whose thread has gone is replaced once.
    fn submit(&self, job: Job) -> Result<(), AppError> {
        match self.queue().send(job) {
            Ok(()) => Ok(()),
            Err(mpsc::SendError(job)) => {
                tracing::error!("the sync commit thread had stopped; starting it again");
                *self.syncs.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
                self.queue().send(job).map_err(|_| AppError::Internal("the sync commit thread stopped".into()))
            }
        }
    }

    /// One sync round trip, taken together with the other requests waiting at that moment in one
    /// transaction and one durable commit (group commit), then answered.
    pub async fn sync(
        &self,
        user: User,
        device: Device,
        request: SyncRequest,
        now: i64,
    ) -> Result<(SyncResponse, Stats), AppError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.submit(Job::Sync(Box::new(SyncJob { user, device, request, now, reply })))?;
        let answer = answer.await.map_err(|_| AppError::Internal("the sync commit thread stopped".into()))?;
        Ok(answer?)
    }

    /// Whether the sync path takes work: the commit thread answers within `timeout`.
    pub async fn sync_path_alive(&self, timeout: Duration) -> bool {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.submit(Job::Ping(tx)).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(timeout, rx).await, Ok(Ok(())))
    }
}

fn group_commit(conn: &Mutex<Connection>, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut jobs = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Ping(reply) => {
                    let _ = reply.send(());
                }
                Job::Sync(job) => jobs.push(*job),
            }
            if jobs.len() < MAX_BATCH {
                next = queue.try_recv().ok();
            }
        }
        if jobs.is_empty() {
            continue;
        }
        let answers = run_batch(conn, &jobs);
        for (job, answer) in jobs.into_iter().zip(answers) {
            // A device that hung up no longer waits; what it sent is committed all the same.
            let _ = job.reply.send(answer);
        }
    }
}

/// Runs a batch in one transaction. Should a dependency panic, the transaction rolls back as it
/// unwinds and the requests run again one at a time, so only the one that panics fails.
fn run_batch(conn: &Mutex<Connection>, jobs: &[SyncJob]) -> Vec<Answer> {
    let batch = |jobs: &[SyncJob]| {
        let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let batch: Vec<crate::sync::Job> = jobs
            .iter()
            .map(|j| crate::sync::Job { user: &j.user, device: &j.device, request: &j.request, now: j.now })
            .collect();
        catch_unwind(AssertUnwindSafe(|| crate::sync::handle_batch(&mut conn, &batch)))
    };
    if let Ok(answers) = batch(jobs) {
        return answers;
    }
    tracing::error!(requests = jobs.len(), "a sync batch panicked; retrying its requests one at a time");
    jobs.iter()
        .map(|job| match batch(std::slice::from_ref(job)) {
            Ok(mut answers) => answers.pop().unwrap_or(Err(PushError::Internal)),
            Err(_) => {
                tracing::error!(user = %job.user.id, device = %job.device.id, "a sync request panicked");
                Err(PushError::Internal)
            }
        })
        .collect()
}
