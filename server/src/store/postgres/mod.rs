//! The PostgreSQL store: several server instances share one database, any of them serving any
//! device at any moment (nothing a second request needs lives in one process's memory).
//!
//! - [`db`]: the connection pool, transactions (reads on one snapshot, writes under the store's
//!   write lock) and the sync path;
//! - `commit`: group commit, the sync path's writes (one transaction for the requests that wait);
//! - [`schema`]: versioned, forward-only migrations, applied at start by whichever instance comes
//!   first;
//! - [`cluster`]: a throwaway cluster for tests and benchmarks;
//! - `documents`, `accounts`, …: the store traits implemented on [`PgStore`] (one transaction).
//!
//! The client is tokio-postgres (rust-postgres: pure Rust, the most used PostgreSQL client of the
//! Rust ecosystem, pipelining, prepared statements, binary values) with deadpool-postgres for the
//! pool (each connection keeps its prepared statements). The store's traits are synchronous, as
//! the SQLite store's are: their calls run on tokio's blocking pool, which waits on the async
//! client; the async runtime's workers never do.

pub mod cluster;
mod commit;
pub mod db;
pub mod schema;
pub mod tls;

mod accounts;
mod campaigns;
mod catalog;
mod documents;
mod duplicates;
mod pages;
mod photos;
mod pool;
mod read_models;
mod reminders;
mod sessions;
mod stages;
mod targets;
mod territories;

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::store::{StoreError, StoreResult};

/// Where a connection configuration points, without its password (for messages and logs).
pub fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect::<Vec<_>>()
        .join(",");
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("(default user)");
    let db = config.get_dbname().unwrap_or("(default database)");
    format!("{user}@{host}:{port}/{db}")
}

/// One transaction of the PostgreSQL store, on which the store's traits are implemented.
pub struct PgStore<'a> {
    tx: &'a deadpool_postgres::Transaction<'a>,
    rt: Driver<'a>,
    /// Reads a transaction repeats (a sync asks the branch's rules or the server's actor several
    /// times), remembered until a statement of the transaction writes to their table. Each
    /// statement is a round trip to the database; this saves a quarter of a sync's.
    memo: RefCell<Vec<Remembered>>,
    /// Writes whose outcome nobody reads, held until the next statement and sent with it in one
    /// pipeline (one round trip for all of them), when `pipelined`; see [`PgStore::write`].
    pending: RefCell<Vec<(tokio_postgres::Statement, Vec<Encoded>)>>,
    pipelined: bool,
}

struct Remembered {
    /// The table the value was read from: a write to it forgets the value.
    table: &'static str,
    what: &'static str,
    key: String,
    value: Rc<dyn Any>,
}

/// What runs a statement's future to its end for the synchronous store calls: the server's
/// runtime (from a blocking thread: its connection is driven by the runtime's workers), or a
/// thread's own single-threaded runtime whose connection that thread drives itself, so a statement
/// costs no hand-over between threads (the group-commit thread).
#[derive(Clone, Copy)]
pub enum Driver<'a> {
    Shared(&'a tokio::runtime::Handle),
    Own(&'a tokio::runtime::Runtime),
}

impl Driver<'_> {
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        match self {
            Driver::Shared(handle) => handle.block_on(future),
            Driver::Own(runtime) => runtime.block_on(future),
        }
    }

    /// [`Driver::block_on`] for a future that makes one round trip to the database, counted
    /// when it is a group-commit thread's (see [`writer_round_trips`]).
    pub fn round_trip<F: std::future::Future>(&self, future: F) -> F::Output {
        if let Driver::Own(_) = self {
            WRITER_ROUND_TRIPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.block_on(future)
    }
}

/// Round trips to the database made by the group-commit threads of this process (a statement's
/// first preparation on a connection is one more, not counted), for the benchmark's scaling model:
/// the time a batch holds the write lock is about these times the database's round-trip time,
/// plus its work.
static WRITER_ROUND_TRIPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// See [`WRITER_ROUND_TRIPS`].
pub fn writer_round_trips() -> u64 {
    WRITER_ROUND_TRIPS.load(std::sync::atomic::Ordering::Relaxed)
}

/// A parameter already encoded in its statement's type (a held write outlives its caller's
/// borrowed values).
#[derive(Debug)]
struct Encoded(Option<Vec<u8>>);

impl Encoded {
    fn new(param: &(dyn ToSql + Sync), ty: &tokio_postgres::types::Type) -> Result<Encoded, BoxError> {
        let mut out = bytes::BytesMut::new();
        Ok(match param.to_sql_checked(ty, &mut out)? {
            tokio_postgres::types::IsNull::Yes => Encoded(None),
            tokio_postgres::types::IsNull::No => Encoded(Some(out.to_vec())),
        })
    }
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Encoded {
    fn to_sql(
        &self,
        _: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, BoxError> {
        Ok(match &self.0 {
            None => tokio_postgres::types::IsNull::Yes,
            Some(bytes) => {
                out.extend_from_slice(bytes);
                tokio_postgres::types::IsNull::No
            }
        })
    }

    /// Checked for its type when it was encoded.
    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Parameters of a statement.
pub type Params<'p> = [&'p (dyn ToSql + Sync)];

impl<'a> PgStore<'a> {
    #[doc(hidden)]
    pub fn new(tx: &'a deadpool_postgres::Transaction<'a>, rt: &'a tokio::runtime::Handle) -> PgStore<'a> {
        PgStore { tx, rt: Driver::Shared(rt), memo: RefCell::default(), pending: RefCell::default(), pipelined: false }
    }

    /// A transaction whose connection is driven by `driver`, its writes pipelined: the caller
    /// must call [`PgStore::finish`] before it commits.
    pub fn pipelined(tx: &'a deadpool_postgres::Transaction<'a>, driver: Driver<'a>) -> PgStore<'a> {
        PgStore { tx, rt: driver, memo: RefCell::default(), pending: RefCell::default(), pipelined: true }
    }

    /// Sends the writes still held and returns the first error among them. A transaction that
    /// commits without it would lose them.
    pub fn finish(&self) -> StoreResult<()> {
        if self.pending.borrow().is_empty() {
            return Ok(());
        }
        self.rt.round_trip(self.send_pending()).map_err(StoreError::from)
    }

    /// A write whose outcome (the rows it changed) nobody needs: in a pipelined transaction it is
    /// held and sent with the next statement, in the same round trip; its error, if any, is that
    /// statement's (the transaction is lost either way). Its parameters are encoded now, in the
    /// types the prepared statement takes.
    pub fn write(&self, sql: &str, params: &Params) -> StoreResult<()> {
        if !self.pipelined {
            return self.execute(sql, params).map(|_| ());
        }
        self.written(sql);
        let statement = self.rt.block_on(self.tx.prepare_cached(sql))?;
        if statement.params().len() != params.len() {
            return Err(StoreError::Encode(
                format!("the statement takes {} parameters, {} given", statement.params().len(), params.len()).into(),
            ));
        }
        let encoded = statement
            .params()
            .iter()
            .zip(params)
            .map(|(ty, param)| Encoded::new(*param, ty))
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::Encode)?;
        self.pending.borrow_mut().push((statement, encoded));
        Ok(())
    }

    /// Sends the held writes, in order, pipelined; the first error among them.
    pub(super) async fn send_pending(&self) -> Result<(), tokio_postgres::Error> {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        if pending.is_empty() {
            return Ok(());
        }
        let writes = pending.iter().map(|(statement, params)| self.tx.execute_raw(statement, params.iter()));
        futures_util::future::try_join_all(writes).await.map(|_| ())
    }

    /// Runs `statement` after the held writes, all in one round trip.
    async fn after_pending<T>(
        &self,
        statement: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, tokio_postgres::Error> {
        let (written, out) = futures_util::future::join(self.send_pending(), statement).await;
        written?;
        out
    }

    /// `read()`'s value (`what` of `key`, read from `table`), read once per transaction until a
    /// statement of the transaction writes to `table`.
    pub fn remembered<T: Clone + 'static>(
        &self,
        table: &'static str,
        what: &'static str,
        key: &str,
        read: impl FnOnce() -> StoreResult<T>,
    ) -> StoreResult<T> {
        let known = self
            .memo
            .borrow()
            .iter()
            .find(|r| r.what == what && r.key == key)
            .and_then(|r| r.value.downcast_ref::<T>().cloned());
        if let Some(value) = known {
            return Ok(value);
        }
        let value = read()?;
        self.memo.borrow_mut().push(Remembered { table, what, key: key.to_string(), value: Rc::new(value.clone()) });
        Ok(value)
    }

    /// Forgets what was read from the tables `sql` may write to (any statement but a `SELECT`
    /// that names them).
    fn written(&self, sql: &str) {
        let mut memo = self.memo.borrow_mut();
        if memo.is_empty() || sql.trim_start().get(..6).is_some_and(|w| w.eq_ignore_ascii_case("select")) {
            return;
        }
        memo.retain(|r| !sql.contains(r.table));
    }

    /// Runs `statement` on `sql` prepared (once per connection), after the held writes, in one
    /// round trip.
    fn run<T>(
        &self,
        sql: &str,
        statement: impl AsyncFnOnce(&tokio_postgres::Statement) -> Result<T, tokio_postgres::Error>,
    ) -> StoreResult<T> {
        self.written(sql);
        self.rt
            .round_trip(async {
                let prepared = self.tx.prepare_cached(sql).await?;
                self.after_pending(statement(&prepared)).await
            })
            .map_err(StoreError::from)
    }

    /// Runs a statement (prepared once per connection) and returns its rows.
    pub fn query(&self, sql: &str, params: &Params) -> StoreResult<Vec<Row>> {
        self.run(sql, async |statement| self.tx.query(statement, params).await)
    }

    /// The statement's one row, or `None`; more than one row is an error.
    pub fn query_opt(&self, sql: &str, params: &Params) -> StoreResult<Option<Row>> {
        self.run(sql, async |statement| self.tx.query_opt(statement, params).await)
    }

    /// The statement's one row; none, or more than one, is an error.
    pub fn query_one(&self, sql: &str, params: &Params) -> StoreResult<Row> {
        self.run(sql, async |statement| self.tx.query_one(statement, params).await)
    }

    /// Runs a statement; returns the rows it changed.
    pub fn execute(&self, sql: &str, params: &Params) -> StoreResult<u64> {
        self.run(sql, async |statement| self.tx.execute(statement, params).await)
    }

    /// Runs statements without parameters, separated by semicolons.
    pub fn batch(&self, sql: &str) -> StoreResult<()> {
        self.written(sql);
        self.rt.round_trip(self.after_pending(self.tx.batch_execute(sql))).map_err(StoreError::from)
    }
}
