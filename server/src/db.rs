//! The server's embedded SQLite store. Calls run on tokio's blocking pool so SQLite never blocks
//! the async runtime.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use fieldsync_core::sync::protocol::{SyncRequest, SyncResponse};
use rusqlite::Connection;

use crate::accounts::User;
use crate::docs::PushError;
use crate::error::AppError;
use crate::sync::Stats;

/// Sync requests taken in one transaction at most (a batch's answers wait for its commit).
const MAX_BATCH: usize = 64;

#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    /// The group-commit thread's queue, started on the first sync request.
    syncs: Arc<OnceLock<mpsc::Sender<SyncJob>>>,
}

/// A sync request queued for the group-commit thread, with where to send its answer.
struct SyncJob {
    user: User,
    device_id: String,
    request: SyncRequest,
    now: i64,
    reply: tokio::sync::oneshot::Sender<Result<(SyncResponse, Stats), PushError>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Db")
    }
}

impl Db {
    /// Opens (creating on first start) `server.db` in `data_dir`: WAL, synchronous=FULL, so an
    /// acknowledged write survives a crash.
    pub fn open(data_dir: &Path) -> rusqlite::Result<Db> {
        let conn = Connection::open(data_dir.join("server.db"))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )?;
        conn.execute_batch(crate::accounts::SCHEMA)?;
        drop_prerelease_documents(&conn)?;
        conn.execute_batch(crate::docs::SCHEMA)?;
        conn.execute_batch(crate::photos::SCHEMA)?;
        Ok(Db { conn: Arc::new(Mutex::new(conn)), syncs: Arc::new(OnceLock::new()) })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<T: Send + 'static, E: Into<AppError> + Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, AppError> {
        let db = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut conn).map_err(Into::into)
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
    }

    /// Direct access for admin commands and tests (not from async code).
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let mut conn = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut conn)
    }

    /// One sync round trip, taken together with the other requests waiting at that moment in one
    /// transaction and one durable commit (group commit), then answered.
    pub async fn sync(
        &self,
        user: User,
        device_id: String,
        request: SyncRequest,
        now: i64,
    ) -> Result<(SyncResponse, Stats), AppError> {
        let queue = self.syncs.get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            let conn = self.conn.clone();
            // The thread holds the connection, not the queue: when the last `Db` goes, the queue
            // closes and the thread ends.
            std::thread::Builder::new()
                .name("fieldsync-sync-commit".into())
                .spawn(move || group_commit(&conn, &rx))
                .expect("start the sync commit thread");
            tx
        });
        let (reply, answer) = tokio::sync::oneshot::channel();
        queue
            .send(SyncJob { user, device_id, request, now, reply })
            .map_err(|_| AppError::Internal("the sync commit thread stopped".into()))?;
        let answer = answer.await.map_err(|_| AppError::Internal("the sync commit thread stopped".into()))?;
        Ok(answer?)
    }
}

fn group_commit(conn: &Mutex<Connection>, queue: &mpsc::Receiver<SyncJob>) {
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let answers = {
            let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let batch: Vec<crate::sync::Job> = jobs
                .iter()
                .map(|j| crate::sync::Job { user: &j.user, device_id: &j.device_id, request: &j.request, now: j.now })
                .collect();
            crate::sync::handle_batch(&mut conn, &batch)
        };
        for (job, answer) in jobs.into_iter().zip(answers) {
            // A device that hung up no longer waits; what it sent is committed all the same.
            let _ = job.reply.send(answer);
        }
    }
}

/// Development builds before the sync protocol kept documents in a `changes` table, in a shape no
/// release ever had; such documents are dropped (delete the data folder to re-seed the demo).
fn drop_prerelease_documents(conn: &Connection) -> rusqlite::Result<()> {
    let old: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'changes')
             OR (EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'log')
                 AND NOT EXISTS (SELECT 1 FROM pragma_table_info('log') WHERE name = 'branch_id'))",
        [],
        |r| r.get(0),
    )?;
    if old {
        tracing::warn!("dropping documents from a pre-release development build");
        conn.execute_batch(
            "DROP TABLE IF EXISTS changes; DROP TABLE IF EXISTS log; DROP TABLE IF EXISTS documents;
             DROP TABLE IF EXISTS planned;",
        )?;
    }
    Ok(())
}
