//! The server's embedded SQLite store. Calls run on tokio's blocking pool so SQLite never blocks
//! the async runtime. One writer connection, behind a lock; reader connections (WAL lets them
//! read while the writer writes) for the expensive, read-only part of each sync: preparing its
//! pushes (parse, load, merge, policy) before the writer takes them, and its answer after.
//! Sync writes go through one group-commit thread that takes what waits in one transaction and
//! one fsync, so the writer lock is held only to append, and to answer the requests whose answer
//! is small right after the commit (a reader's page cache starts cold after every commit; the
//! writer's holds what it just wrote).
//!
//! The commit path never dies silently: a panic in a dependency fails only the request that
//! caused it (the batch is retried one request at a time), a thread that stops anyway is started
//! again by the next request, and `/readyz` asks the thread itself.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use fieldsync_core::sync::protocol::{self, SyncRequest, SyncResponse};
use rusqlite::Connection;

use crate::accounts::{Device, User};
use crate::customers::PushError;
use crate::doc_cache::DocCache;
use crate::error::AppError;
use crate::store::{Store, StoreError};
use crate::sync::Stats;

use super::readers::Lane;
use crate::store::StoreKey;

/// Prepared statements kept per connection. A sync's write runs some 60 distinct statements (the
/// log, documents, photos, accounts, the read models) and a page's reads as many: with rusqlite's
/// default of 16 they evicted each other, and every statement was parsed again on every use (a
/// 33-column upsert costs ~250,000 instructions to prepare).
const STATEMENT_CACHE: usize = 256;

/// Sync requests taken in one transaction at most (a batch's answers wait for its commit).
const MAX_BATCH: usize = 64;

/// Reads that run at once, per core, in each of two lanes: requests starting (authentication,
/// decoding and preparing pushes) and sync answers. More wait their turn: on two cores, hundreds
/// of reads at once would only take turns on the cores and starve the commit thread that every
/// writing request waits for. Answers have their own lane so a committed request is answered
/// without queueing behind every request that arrived after it. Each lane is that many reader
/// threads, each with its own connection (see `readers.rs`).
const READS_PER_CORE: usize = 2;

#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    path: Arc<std::path::PathBuf>,
    /// The key of an encrypted store (every connection is keyed with it).
    key: Option<Arc<StoreKey>>,
    /// The reader threads for requests starting and for answers (see [`READS_PER_CORE`]).
    reads: Arc<Lane>,
    answers: Arc<Lane>,
    /// The group-commit thread's queue; replaced when the thread has stopped.
    syncs: Arc<Mutex<Option<mpsc::Sender<Work>>>>,
    /// Documents as last committed, for the next push to them.
    docs: Arc<DocCache>,
}

type Answer = Result<(SyncResponse, Stats), PushError>;

/// What the commit thread sends back for a request it took: what was taken, for a reader to
/// answer, or the answer's frame already (a small answer, read by the commit thread right after
/// its commit: see [`answer_small_ones`]).
enum Taken {
    ToAnswer(Box<SyncResponse>, Stats),
    Answered(Vec<u8>, Stats),
}

/// Work for the group-commit thread.
enum Work {
    Sync(Box<SyncJob>),
    /// Answered at once: proof that the thread is alive and takes work.
    Ping(tokio::sync::oneshot::Sender<()>),
}

/// A sync request queued for the group-commit thread, with where to send its answer.
struct SyncJob {
    user: User,
    device: Device,
    request: Arc<SyncRequest>,
    prepared: crate::sync::PreparedRequest,
    now: i64,
    reply: tokio::sync::oneshot::Sender<Result<Taken, PushError>>,
    /// When it was handed to the commit thread (the wait for the writer is measured from here).
    submitted: std::time::Instant,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Db")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Schema(#[from] crate::store::schema::SchemaError),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("upgrading the store's data failed: {0}")]
    Upgrade(#[from] PushError),
    #[error("cannot start the store's reader threads: {0}")]
    Threads(#[from] std::io::Error),
}

impl Db {
    /// Opens (creating on first start) `server.db` in `data_dir`: WAL, synchronous=FULL, so an
    /// acknowledged write survives a crash; then migrates it to the current schema.
    pub fn open(data_dir: &Path) -> Result<Db, OpenError> {
        Db::open_keyed(data_dir, None)
    }

    /// [`Db::open`] for a store encrypted with `key` (a new store is created encrypted).
    pub fn open_keyed(data_dir: &Path, key: Option<&StoreKey>) -> Result<Db, OpenError> {
        let path = data_dir.join("server.db");
        let mut conn = open_connection(&path, key, false)?;
        copy_before_upgrade(&conn, data_dir)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000; PRAGMA mmap_size = 1073741824;",
        )?;
        crate::store::schema::migrate(&mut conn)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let db = Db {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::new(path),
            key: key.cloned().map(Arc::new),
            reads: Arc::new(Lane::start(max_reads(), "fieldsync-read")?),
            answers: Arc::new(Lane::start(max_reads(), "fieldsync-answer")?),
            syncs: Arc::new(Mutex::new(None)),
            docs: Arc::new(DocCache::default()),
        };
        // One-time upgrades that need the documents parsed, as the migrations asked.
        let adopted = db.write_blocking(|store| crate::photos::adopt_unowned(store, data_dir))?;
        if adopted > 0 {
            tracing::info!(photos = adopted, "photos stored before owners were recorded were given their owners");
        }
        let built = db.write_blocking(crate::read_model::build_if_pending)?;
        if built > 0 {
            tracing::info!(customers = built, "the supervisor pages' read models were built");
        }
        Ok(db)
    }

    /// Runs `f` on the store as a reader sees it: one read transaction (a consistent snapshot) on
    /// a read-only connection, on the blocking pool, without the writer lock. A panic inside
    /// fails this call only.
    pub async fn read<T: Send + 'static, E: Into<AppError> + From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, E> + Send + 'static,
    ) -> Result<T, AppError> {
        self.read_in(&self.reads, f).await
    }

    /// [`Db::read`] in `lane`.
    async fn read_in<T: Send + 'static, E: Into<AppError> + From<StoreError> + Send + 'static>(
        &self,
        lane: &Lane,
        f: impl FnOnce(&dyn Store) -> Result<T, E> + Send + 'static,
    ) -> Result<T, AppError> {
        let (path, key) = (self.path.clone(), self.key.clone());
        let open = move || open_reader(&path, key.as_deref());
        lane.run(open, move |conn| {
            let tx = conn.transaction().map_err(StoreError::from)?;
            let out = f(&*tx)?;
            tx.finish().map_err(StoreError::from)?;
            Ok::<T, E>(out)
        })
        .await
    }

    /// Runs `f` on the store in one write transaction, committed when `f` succeeds and rolled back
    /// when it fails or panics, on the blocking pool. A panic inside fails this call only.
    pub async fn write<T: Send + 'static, E: Into<AppError> + From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, E> + Send + 'static,
    ) -> Result<T, AppError> {
        self.call(move |conn| write_in(conn, f)).await
    }

    /// [`Db::write`] from blocking code (admin commands, the demo seed, tests).
    pub fn write_blocking<T, E: From<StoreError>>(&self, f: impl FnOnce(&dyn Store) -> Result<T, E>) -> Result<T, E> {
        let mut conn = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        write_in(&mut conn, f)
    }

    /// Runs `f` with the connection on the blocking pool. A panic inside fails this call only.
    async fn call<T: Send + 'static, E: Into<AppError> + Send + 'static>(
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
    fn queue(&self) -> mpsc::Sender<Work> {
        let mut slot = self.syncs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(tx) = slot.as_ref() {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel();
        let (conn, docs) = (self.conn.clone(), self.docs.clone());
        // The thread holds the connection, not the queue: when the last `Db` goes, the queue
        // closes and the thread ends.
        let spawned = std::thread::Builder::new()
            .name("fieldsync-sync-commit".into())
            .spawn(move || group_commit(&conn, &docs, &rx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the sync commit thread");
        }
        *slot = Some(tx.clone());
        tx
    }

    /// Sends a job; a queue whose thread has gone is replaced once.
    fn submit(&self, job: Work) -> Result<(), AppError> {
        match self.queue().send(job) {
            Ok(()) => Ok(()),
            Err(mpsc::SendError(job)) => {
                tracing::error!("the sync commit thread had stopped; starting it again");
                *self.syncs.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
                self.queue().send(job).map_err(|_| AppError::Internal("the sync commit thread stopped".into()))
            }
        }
    }

    /// One sync round trip, from the request's body to the response's frame: decoded and its
    /// pushes prepared on a reader, then taken together with the other requests waiting at that
    /// moment in one transaction and one durable commit (group commit), then answered and encoded
    /// by the commit thread when the answer is small, else on a reader. A request with nothing to
    /// write never waits for the writer. Decoding and encoding run on the reader threads
    /// ([`READS_PER_CORE`]), like the rest.
    pub async fn sync(
        &self,
        user: User,
        device: Device,
        body: axum::body::Bytes,
        now: i64,
    ) -> Result<(Vec<u8>, Stats), AppError> {
        let (u, d, docs) = (user.clone(), device.clone(), self.docs.clone());
        let (request, prepared) =
            self.read(move |store| crate::sync::decode_and_prepare(store, &docs, &u, &d, &body, now)).await?;
        let (taken, stats) = match prepared {
            Some(prepared) => {
                let (reply, answer) = tokio::sync::oneshot::channel();
                let job = SyncJob {
                    user: user.clone(),
                    device: device.clone(),
                    request: request.clone(),
                    prepared,
                    now,
                    reply,
                    submitted: std::time::Instant::now(),
                };
                self.submit(Work::Sync(Box::new(job)))?;
                match answer.await.map_err(|_| AppError::Internal("the sync commit thread stopped".into()))?? {
                    Taken::Answered(frame, stats) => return Ok((frame, stats)),
                    Taken::ToAnswer(taken, stats) => (*taken, stats),
                }
            }
            None => (SyncResponse::default(), Stats::default()),
        };
        self.read_in(&self.answers, move |store| {
            crate::sync::answer_frame(store, &user, &device.id, &request, taken, stats)
        })
        .await
    }

    /// One sync round trip from blocking code (tests, tools, the fuzz harness), on the writer's
    /// connection: prepared, taken and committed as [`Db::sync`] does, then answered.
    pub fn sync_blocking(
        &self,
        user: &User,
        device: &Device,
        decoded: impl Into<crate::sync::Decoded>,
        now: i64,
    ) -> Result<(SyncResponse, Stats), PushError> {
        let mut conn = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        sync_on(&mut conn, user, device, decoded, now)
    }

    /// Whether the sync path takes work: the commit thread answers within `timeout`.
    pub async fn sync_path_alive(&self, timeout: Duration) -> bool {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.submit(Work::Ping(tx)).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(timeout, rx).await, Ok(Ok(())))
    }
}

/// A connection to the store at `path`, keyed when `key` is given; its first read checks the
/// key (a wrong key, or a key for a plain store, fails here as "file is not a database").
pub fn open_connection(path: &Path, key: Option<&StoreKey>, read_only: bool) -> rusqlite::Result<Connection> {
    use rusqlite::OpenFlags;
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    if let Some(key) = key {
        key.apply(&conn)?;
    }
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))?;
    Ok(conn)
}

/// Before a store written by an older server is migrated, a copy of it is kept in
/// `upgrade-backups/server-v{schema}-{ms}.db` (keyed like the store): an upgrade that goes wrong
/// can be undone by putting it back and starting the older server. Photos are not copied: no
/// migration touches them.
fn copy_before_upgrade(conn: &Connection, data_dir: &Path) -> Result<(), OpenError> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current == 0 || current >= crate::store::schema::LATEST {
        return Ok(());
    }
    let dir = data_dir.join("upgrade-backups");
    std::fs::create_dir_all(&dir)?;
    let copy = dir.join(format!("server-v{current}-{}.db", crate::routes::now_ms()));
    conn.execute("VACUUM INTO ?1", [copy.to_string_lossy()])?;
    tracing::info!(
        from = current,
        to = crate::store::schema::LATEST,
        copy = %copy.display(),
        "the store was copied before its upgrade"
    );
    Ok(())
}

/// A read-only connection for a reader thread (read-only, so nothing a read does can write).
fn open_reader(path: &Path, key: Option<&StoreKey>) -> Result<Connection, AppError> {
    open_connection(path, key, true)
        .and_then(|c| {
            c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            c.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON; PRAGMA mmap_size = 1073741824;")
                .map(|()| c)
        })
        .map_err(|e| AppError::Internal(format!("cannot open a reader: {e}")))
}

/// Reads that may run at once: [`READS_PER_CORE`] per core the process may use (asked once: the
/// answer reads the cgroup's files).
fn max_reads() -> usize {
    static MAX: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get) * READS_PER_CORE)
}

/// One IMMEDIATE transaction around `f` (the writer's lock is taken at once, so a transaction
/// never has to upgrade from reading to writing).
fn write_in<T, E: From<StoreError>>(conn: &mut Connection, f: impl FnOnce(&dyn Store) -> Result<T, E>) -> Result<T, E> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(StoreError::from)?;
    let out = f(&*tx)?;
    tx.commit().map_err(StoreError::from)?;
    Ok(out)
}

fn group_commit(conn: &Mutex<Connection>, docs: &DocCache, queue: &mpsc::Receiver<Work>) {
    while let Ok(first) = queue.recv() {
        let mut jobs = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Work::Ping(reply) => {
                    let _ = reply.send(());
                }
                Work::Sync(job) => jobs.push(*job),
            }
            if jobs.len() < MAX_BATCH {
                next = queue.try_recv().ok();
            }
        }
        if jobs.is_empty() {
            continue;
        }
        for job in &jobs {
            metrics::histogram!(crate::metrics::LOCK_WAIT_SECONDS).record(job.submitted.elapsed().as_secs_f64());
        }
        let held = std::time::Instant::now();
        let answers = answer_small_ones(conn, &jobs, run_batch(conn, &jobs));
        metrics::histogram!(crate::metrics::LOCK_HELD_SECONDS).record(held.elapsed().as_secs_f64());
        for (job, answer) in jobs.into_iter().zip(answers) {
            let SyncJob { prepared, reply, submitted, .. } = job;
            metrics::histogram!(crate::metrics::APPLY_SECONDS).record(submitted.elapsed().as_secs_f64());
            if let Ok(Taken::ToAnswer(_, stats) | Taken::Answered(_, stats)) = &answer {
                for (id, version, doc) in prepared.into_documents(&stats.committed) {
                    docs.put(id, version, doc);
                }
            }
            // A device that hung up no longer waits; what it sent is committed all the same.
            let _ = reply.send(answer);
        }
    }
}

/// Answers the requests of a committed batch whose answer is small ([`crate::sync::answer_small`])
/// on the writer's connection, in one read transaction: the pages the batch just wrote are in
/// its cache, where a reader would start cold. The rest are left for a reader, as is a request
/// whose small answer failed or panicked (the reader's answer is the one it gets).
fn answer_small_ones(
    conn: &Mutex<Connection>,
    jobs: &[SyncJob],
    answers: Vec<Answer>,
) -> Vec<Result<Taken, PushError>> {
    let to_answer = |answer: Answer| answer.map(|(taken, stats)| Taken::ToAnswer(Box::new(taken), stats));
    let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let Ok(tx) = conn.transaction() else { return answers.into_iter().map(to_answer).collect() };
    let replies = jobs
        .iter()
        .zip(answers)
        .map(|(job, answer)| {
            let (taken, stats) = answer?;
            let small = catch_unwind(AssertUnwindSafe(|| {
                let (user, device, request) = (&job.user, &job.device.id, &job.request);
                let small = crate::sync::answer_small(&*tx, user, device, request, taken.clone(), stats.clone());
                small
                    .map(|s| s.map(|(response, stats)| (protocol::encode_at(&response, protocol::SERVER_LEVEL), stats)))
            }));
            Ok(match small {
                Ok(Ok(Some((frame, stats)))) => Taken::Answered(frame, stats),
                _ => Taken::ToAnswer(Box::new(taken), stats),
            })
        })
        .collect();
    let _ = tx.finish();
    replies
}

/// Runs a batch in one transaction. Should a dependency panic, the transaction rolls back as it
/// unwinds and the requests run again one at a time, so only the one that panics fails.
fn run_batch(conn: &Mutex<Connection>, jobs: &[SyncJob]) -> Vec<Answer> {
    let batch = |jobs: &[SyncJob]| {
        let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let batch: Vec<Job> = jobs
            .iter()
            .map(|j| Job {
                user: &j.user,
                device: &j.device,
                request: &j.request,
                prepared: Some(&j.prepared),
                now: j.now,
            })
            .collect();
        catch_unwind(AssertUnwindSafe(|| handle_batch(&mut conn, &batch)))
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

/// One round trip on one connection: prepared and taken in one batch, then answered.
pub fn sync_on(
    conn: &mut Connection,
    user: &User,
    device: &Device,
    decoded: impl Into<crate::sync::Decoded>,
    now: i64,
) -> Result<(SyncResponse, Stats), PushError> {
    let crate::sync::Decoded { request, changes } = decoded.into();
    let request = &request;
    let prepared = crate::sync::prepare(&*conn, None, user, device, request, changes, now)?;
    let job = Job { user, device, request, prepared: Some(&prepared), now };
    let (taken, stats) = handle_batch(conn, &[job]).pop().unwrap_or(Err(PushError::Internal))?;
    let tx = conn.transaction().map_err(StoreError::from)?;
    let answer = crate::sync::answer(&*tx, user, &device.id, request, taken, stats)?;
    tx.finish().map_err(StoreError::from)?;
    Ok(answer)
}

/// One sync request waiting in a batch, with its pushes prepared (or `None`: prepared under the
/// lock).
#[derive(Clone, Copy)]
pub struct Job<'a> {
    pub user: &'a User,
    pub device: &'a Device,
    pub request: &'a SyncRequest,
    pub prepared: Option<&'a crate::sync::PreparedRequest>,
    pub now: i64,
}

/// Group commit: what several devices sent is taken in one transaction, each request behind its
/// own savepoint (so one request's failure leaves the others), and made durable with one commit:
/// one fsync serves the whole batch. Returns each request's push, claim and reconciliation
/// results; the rest of the answer is read afterwards ([`crate::sync::answer`]), on a reader.
pub fn handle_batch(conn: &mut Connection, jobs: &[Job]) -> Vec<Answer> {
    let all_failed = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "a sync batch failed in the store");
        jobs.iter().map(|_| Err(PushError::Internal)).collect()
    };
    let mut tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return all_failed(&e),
    };
    let mut taken = Vec::with_capacity(jobs.len());
    for job in jobs {
        let sp = match tx.savepoint() {
            Ok(sp) => sp,
            Err(e) => return all_failed(&e),
        };
        let result = crate::sync::take(&*sp, job.user, job.device, job.request, job.prepared, job.now);
        // A savepoint dropped without commit rolls back: a failed request leaves nothing.
        if result.is_ok()
            && let Err(e) = sp.commit()
        {
            return all_failed(&e);
        }
        taken.push(result);
    }
    if let Err(e) = tx.commit() {
        return all_failed(&e);
    }
    taken
}
