//! The PostgreSQL store's runtime: a pool of connections; reads in one `REPEATABLE READ, READ
//! ONLY` transaction (one snapshot for a whole request); writes in one transaction that first
//! takes the store's write lock, a transaction-scoped advisory lock shared by every instance.
//!
//! The write lock is what keeps the log's cursor from skipping (docs/cursor.md): sequence numbers
//! are taken under it and it is held until commit, so transactions commit in the order of their
//! numbers and a snapshot always sees a prefix of the log. The expensive part of a sync (parsing,
//! merging, the write policy) runs before, in a read transaction on any instance; the write
//! re-checks that each document is still as it was read, as the SQLite store's commit does.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use fieldsync_core::sync::protocol::SyncResponse;
use tokio_postgres::IsolationLevel;

use super::PgStore;
use super::commit::{Committer, Job};
use crate::accounts::{Device, User};
use crate::customers::PushError;
use crate::doc_cache::DocCache;
use crate::error::AppError;
use crate::store::{Store, StoreError};
use crate::sync::Stats;

/// The store's write lock ("FSWRITE!").
pub const WRITE_LOCK: i64 = 0x4653_5752_4954_4521;

/// Connections per instance at most.
const DEFAULT_POOL: usize = 16;
/// How long a request waits for a connection before it is told to retry.
const POOL_WAIT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct PgDb {
    pool: Pool,
    /// The runtime the pool's connections live on (blocking callers wait on it).
    rt: tokio::runtime::Handle,
    /// Documents as last committed by this instance, for its next push to them (checked against
    /// the stored version: another instance's write is never hidden by it).
    docs: Arc<DocCache>,
    /// The sync path's writes, in batches.
    committer: Committer,
    /// Sync requests starting (decoding, preparing their pushes), and sync answers being read,
    /// at once, each at most [`READS_PER_CORE`] per core; more wait their turn. On a few cores,
    /// hundreds at once would only take turns on them and starve the writer that every request
    /// waits for. Answers have their own limit so a committed request is answered without
    /// queueing behind every request that arrived after it.
    starting: Arc<tokio::sync::Semaphore>,
    answering: Arc<tokio::sync::Semaphore>,
}

/// Sync reads at once per core, in each of the two kinds (starting, answering). One: on this
/// 2-core machine, with the database's processes on the same cores, two per core (the SQLite
/// store's figure) cut the sync benchmark's write throughput by a third — the readers and their
/// database processes took the cores from the writer that every instance waits for.
const READS_PER_CORE: usize = 1;

impl std::fmt::Debug for PgDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgDb")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PgOpenError {
    /// The URL, with its password never shown.
    #[error("the database URL is not valid: {0}")]
    Url(String),
    #[error("cannot connect to PostgreSQL at {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("the database at {0} is a read-only replica (in recovery): give the server the primary's address")]
    Replica(String),
    #[error(transparent)]
    Schema(#[from] super::schema::SchemaError),
    #[error(transparent)]
    Tls(#[from] super::tls::PgTlsError),
}

use super::describe;

impl PgDb {
    /// Connects to the database at `url`, migrates its schema (whichever instance comes first
    /// does it; the others wait on the migration lock) and returns the pool.
    pub async fn open(url: &str) -> Result<PgDb, PgOpenError> {
        PgDb::open_with(url, None).await
    }

    /// [`PgDb::open`], trusting `ca` (PEM) beside the public roots for TLS (`sslmode`).
    pub async fn open_with(url: &str, ca: Option<&std::path::Path>) -> Result<PgDb, PgOpenError> {
        let tls = super::tls::connector(ca)?;
        // The parser's messages never echo the URL (nor its password).
        let config: tokio_postgres::Config =
            url.parse().map_err(|e: tokio_postgres::Error| PgOpenError::Url(e.to_string()))?;
        let target = describe(&config);
        let connect_error =
            |e: &dyn std::fmt::Display| PgOpenError::Connect { target: target.clone(), reason: e.to_string() };
        let (mut client, connection) =
            config.connect(tls.clone()).await.map_err(|e| connect_error(&with_causes(&e)))?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        // A replica takes no writes: the server must be given the primary.
        let in_recovery = client
            .query_one("SELECT pg_is_in_recovery()", &[])
            .await
            .map_err(|e| connect_error(&with_causes(&e)))?
            .get::<_, bool>(0);
        if in_recovery {
            drop(client);
            let _ = driver.await;
            return Err(PgOpenError::Replica(target));
        }
        let migrated = super::schema::migrate(&mut client).await;
        drop(client);
        let _ = driver.await;
        migrated?;
        let pool = new_pool(&config, &tls, DEFAULT_POOL).map_err(|e| connect_error(&e))?;
        // The writer's own connection: a pool of one, remade if the connection is lost.
        let writer_pool = new_pool(&config, &tls, 1).map_err(|e| connect_error(&e))?;
        let (rt, docs) = (tokio::runtime::Handle::current(), Arc::new(DocCache::default()));
        let reads = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get) * READS_PER_CORE;
        Ok(PgDb {
            committer: Committer::new(writer_pool, docs.clone()),
            pool,
            rt,
            docs,
            starting: Arc::new(tokio::sync::Semaphore::new(reads)),
            answering: Arc::new(tokio::sync::Semaphore::new(reads)),
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, AppError> {
        self.pool.get().await.map_err(|e| {
            tracing::warn!(error = %e, "no PostgreSQL connection");
            AppError::Unavailable
        })
    }

    /// Runs `f` on one snapshot of the store (a read-only transaction) on the blocking pool. A
    /// panic inside fails this call only.
    pub async fn read<T: Send + 'static, E: Into<AppError> + From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, E> + Send + 'static,
    ) -> Result<T, AppError> {
        let client = self.client().await?;
        run_blocking(client, Mode::Read, f).await
    }

    /// Runs `f` in one write transaction (under the write lock), committed when `f` succeeds and
    /// rolled back when it fails or panics.
    pub async fn write<T: Send + 'static, E: Into<AppError> + From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, E> + Send + 'static,
    ) -> Result<T, AppError> {
        let client = self.client().await?;
        run_blocking(client, Mode::Write, f).await
    }

    /// [`PgDb::write`] from blocking code (admin commands, the demo seed, sweeps, tests); on a
    /// runtime's worker it moves off it first (`block_in_place`).
    pub fn write_blocking<T, E: From<StoreError>>(&self, f: impl FnOnce(&dyn Store) -> Result<T, E>) -> Result<T, E> {
        self.blocking(|client, rt| in_transaction(client, rt, Mode::Write, f))
    }

    /// One sync round trip from blocking code, as [`PgDb::sync`] runs it.
    pub fn sync_blocking(
        &self,
        user: &User,
        device: &Device,
        decoded: impl Into<crate::sync::Decoded>,
        now: i64,
    ) -> Result<(SyncResponse, Stats), PushError> {
        let crate::sync::Decoded { request, changes } = decoded.into();
        self.blocking(|client, rt| {
            let prepared = in_transaction(client, rt, Mode::Read, |store| {
                crate::sync::prepare(store, None, user, device, &request, changes, now)
            })?;
            let (taken, stats) = in_transaction(client, rt, Mode::Write, |store| {
                crate::sync::take(store, user, device, &request, Some(&prepared), now)
            })?;
            in_transaction(client, rt, Mode::Read, |store| {
                crate::sync::answer(store, user, &device.id, &request, taken, stats)
            })
        })
    }

    /// Runs `f` with a pooled connection from blocking code.
    fn blocking<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut deadpool_postgres::Object, &tokio::runtime::Handle) -> Result<T, E>,
    ) -> Result<T, E> {
        let run = || {
            let mut client = self.rt.block_on(self.pool.get()).map_err(|e| StoreError::Unavailable(e.to_string()))?;
            f(&mut client, &self.rt)
        };
        match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::block_in_place(run),
            Err(_) => run(),
        }
    }

    /// The database's size on disk, bytes.
    pub async fn size(&self) -> Option<u64> {
        let client = self.pool.get().await.ok()?;
        let row = client.query_one("SELECT pg_database_size(current_database())", &[]).await.ok()?;
        row.try_get::<_, i64>(0).ok().map(|n| n.max(0) as u64)
    }

    /// One sync round trip: decoded and prepared in a read transaction, taken by the group-commit
    /// thread with the requests that wait beside it, answered in a read transaction after the
    /// commit.
    pub async fn sync(
        &self,
        user: User,
        device: Device,
        body: axum::body::Bytes,
        now: i64,
    ) -> Result<(Vec<u8>, Stats), AppError> {
        let (u, d, docs) = (user.clone(), device.clone(), self.docs.clone());
        let (request, prepared) = {
            let _turn = self.starting.acquire().await.map_err(|_| AppError::Unavailable)?;
            self.read(move |store| crate::sync::decode_and_prepare(store, &docs, &u, &d, &body, now)).await?
        };
        let (taken, stats) = match prepared {
            Some(prepared) => {
                let job = Job {
                    user: user.clone(),
                    device: device.clone(),
                    request: request.clone(),
                    prepared,
                    now,
                    submitted: Instant::now(),
                };
                self.committer.write(job).await??
            }
            None => (SyncResponse::default(), Stats::default()),
        };
        let _turn = self.answering.acquire().await.map_err(|_| AppError::Unavailable)?;
        self.read(move |store| crate::sync::answer_frame(store, &user, &device.id, &request, taken, stats)).await
    }

    /// Whether the store takes writes within `timeout`: a connection, to a primary (a database
    /// that became a read-only replica, after a failover, takes none).
    pub async fn alive(&self, timeout: Duration) -> bool {
        let check = async {
            let client = self.pool.get().await.ok()?;
            client.query_one("SELECT NOT pg_is_in_recovery()", &[]).await.ok()?.try_get::<_, bool>(0).ok()
        };
        matches!(tokio::time::timeout(timeout, check).await, Ok(Some(true))) && self.committer.alive(timeout).await
    }

    /// The pool and the database's streaming replicas, for `/readyz` and `/metrics`.
    pub async fn status(&self) -> DatabaseStatus {
        let pool = self.pool.status();
        let mut status = DatabaseStatus { connections: pool.size, idle: pool.available, replicas: Vec::new() };
        let Ok(client) = self.pool.get().await else { return status };
        // The lag columns are NULL unless the role may read every statistic (pg_monitor).
        let rows = client
            .query(
                "SELECT application_name::text, coalesce(state::text, ''),
                        EXTRACT(EPOCH FROM replay_lag)::float8,
                        pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8
                 FROM pg_stat_replication ORDER BY application_name, pid",
                &[],
            )
            .await
            .unwrap_or_default();
        status.replicas = rows
            .iter()
            .map(|row| Replica {
                name: row.try_get(0).unwrap_or_default(),
                state: row.try_get(1).unwrap_or_default(),
                // NULL also once a replica has caught up and nothing new was written: it then
                // has nothing to replay.
                lag_seconds: row.try_get::<_, Option<f64>>(2).ok().flatten(),
                lag_bytes: row.try_get::<_, Option<f64>>(3).ok().flatten().map(|b| b.max(0.0) as u64),
            })
            .collect();
        status
    }
}

/// The PostgreSQL store's connections and replicas.
#[derive(Debug, Clone, Default)]
pub struct DatabaseStatus {
    /// Connections this instance's pool holds, and how many are idle.
    pub connections: usize,
    pub idle: usize,
    /// The primary's streaming replicas (`pg_stat_replication`).
    pub replicas: Vec<Replica>,
}

#[derive(Debug, Clone)]
pub struct Replica {
    /// Its `application_name`.
    pub name: String,
    /// `streaming`, `catchup`, `backup`, …
    pub state: String,
    /// How long ago the WAL it has replayed last was written on the primary (`replay_lag`).
    pub lag_seconds: Option<f64>,
    /// WAL written on the primary and not replayed on it yet.
    pub lag_bytes: Option<u64>,
}

/// A pool of at most `size` connections to `config`'s database. Its connections are driven by
/// the runtime the pool is first asked for a connection on.
fn new_pool(
    config: &tokio_postgres::Config,
    tls: &tokio_postgres_rustls::MakeRustlsConnect,
    size: usize,
) -> Result<Pool, deadpool_postgres::BuildError> {
    let manager =
        Manager::from_config(config.clone(), tls.clone(), ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(POOL_WAIT))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
}

/// An error with what caused it ("error performing TLS handshake: invalid peer certificate:
/// UnknownIssuer"): the causes name what failed, never a password.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Read,
    Write,
}

/// Runs `f` in a transaction on the blocking pool, containing its panics.
async fn run_blocking<T: Send + 'static, E: Into<AppError> + From<StoreError> + Send + 'static>(
    mut client: deadpool_postgres::Object,
    mode: Mode,
    f: impl FnOnce(&dyn Store) -> Result<T, E> + Send + 'static,
) -> Result<T, AppError> {
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        match catch_unwind(AssertUnwindSafe(|| in_transaction(&mut client, &rt, mode, f))) {
            Ok(result) => result.map_err(Into::into),
            Err(_) => {
                // The transaction was dropped as it unwound: PostgreSQL rolls it back.
                Err(AppError::Internal("a request failed inside the store".into()))
            }
        }
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
}

fn in_transaction<T, E: From<StoreError>>(
    client: &mut deadpool_postgres::Object,
    rt: &tokio::runtime::Handle,
    mode: Mode,
    f: impl FnOnce(&dyn Store) -> Result<T, E>,
) -> Result<T, E> {
    let tx = rt
        .block_on(async {
            let builder = client.build_transaction();
            match mode {
                Mode::Read => builder.isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await,
                Mode::Write => {
                    let tx = builder.start().await?;
                    let waited = Instant::now();
                    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]).await?;
                    metrics::histogram!(crate::metrics::LOCK_WAIT_SECONDS).record(waited.elapsed().as_secs_f64());
                    Ok(tx)
                }
            }
        })
        .map_err(StoreError::from)?;
    let out = f(&PgStore::new(&tx, rt))?;
    rt.block_on(tx.commit()).map_err(StoreError::from)?;
    Ok(out)
}
