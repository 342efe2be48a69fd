//! `migrate-store --from DIR --to postgres://…`: moves a branch from its embedded SQLite store to
//! a PostgreSQL database, nothing lost.
//!
//! The target must be empty (a new database: its schema is created here); the source is read in
//! one read transaction, so a server may keep serving it meanwhile (what it writes after the copy
//! began is not moved: stop the server for the move). Every table is copied row for row with
//! PostgreSQL's binary COPY in one transaction, the log with its sequence numbers, the server's
//! actor and the store's epoch with it, so tablets carry on with the cursors they have. Then
//! every document is compared: the same changes, the same snapshot, or the move is rolled back.
//! Photos stay in the data folder, which the PostgreSQL instances serve (`--data`).

use std::path::Path;

use rusqlite::types::Value;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

/// Tables in an order that respects their references.
const TABLES: &[&str] = &[
    "branches",
    "outlets",
    "users",
    "devices",
    "tokens",
    "device_actors",
    "login_failures",
    "audit",
    "server_meta",
    "documents",
    "log",
    "planned",
    "photos",
    "photo_uploads",
    "photo_refs",
    "rm_customers",
    "branch_evidence_rules",
    "web_sessions",
    "device_syncs",
    "rm_visits",
    "rm_visit_photos",
    "rm_leads",
    "rm_reminders",
    "visit_arrivals",
    "rm_visit_days",
    "branch_pool_rules",
    "owner_changes",
    "pool_state",
    "customer_keys",
    "branch_customer_rules",
    "asset_snapshots",
    "stage_state",
    "birthday_due",
    "catalog_products",
    "catalog_files",
    "territories",
    "targets",
    "campaigns",
    "campaign_members",
    "rm_complaints",
];

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("the SQLite store: {0}")]
    Source(String),
    #[error("the target database is not empty (table {0} holds rows): migrate into a new database")]
    NotEmpty(String),
    #[error("the stores' tables differ ({0}): this server's two schemas do not match")]
    Schema(String),
    #[error("the copy does not match its source ({0}); nothing was kept")]
    Mismatch(String),
    #[error(transparent)]
    Open(#[from] crate::store::postgres::db::PgOpenError),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Source(e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    pub rows: u64,
    pub documents: u64,
    pub changes: u64,
}

/// Moves the SQLite store in `from` into the empty PostgreSQL database at `url`.
pub async fn migrate_store(
    from: &Path,
    key: Option<&crate::store::StoreKey>,
    url: &str,
    ca: Option<&Path>,
) -> Result<MigrateReport, MigrateError> {
    // The source opened as the server opens it: migrated to this build's schema first.
    let source = crate::store::Db::open_keyed(from, key).map_err(|e| MigrateError::Source(e.to_string()))?;
    drop(source);
    let config: tokio_postgres::Config =
        url.parse().map_err(|e: tokio_postgres::Error| MigrateError::Source(format!("the database URL: {e}")))?;
    // Creates the schema (or checks it is this server's).
    drop(crate::store::postgres::db::PgDb::open_with(url, ca).await?);
    let tls = crate::store::postgres::tls::connector(ca).map_err(|e| MigrateError::Source(e.to_string()))?;
    let (mut client, connection) = config.connect(tls).await?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let result = copy_all(from, key, &mut client).await;
    drop(client);
    let _ = driver.await;
    result
}

async fn copy_all(
    from: &Path,
    key: Option<&crate::store::StoreKey>,
    client: &mut tokio_postgres::Client,
) -> Result<MigrateReport, MigrateError> {
    let mut sqlite = crate::store::sqlite::db::open_connection(&from.join("server.db"), key, true)?;
    let read = sqlite.transaction()?;
    let tx = client.transaction().await?;
    // No instance writes while the store arrives.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&crate::store::postgres::db::WRITE_LOCK]).await?;
    for table in TABLES {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {table})");
        let held: bool = tx.query_one(sql.as_str(), &[]).await?.get(0);
        // The schema's migration wrote the new store's own actor and epoch: replaced below.
        if held && *table != "server_meta" {
            return Err(MigrateError::NotEmpty(table.to_string()));
        }
    }
    tx.batch_execute("DELETE FROM server_meta").await?;
    let mut rows = 0u64;
    for table in TABLES {
        rows += copy_table(&read, &tx, table).await?;
    }
    // The sequences go on after what was copied.
    tx.batch_execute(
        "SELECT setval('log_seq', GREATEST((SELECT coalesce(max(seq), 0) FROM log), 1), (SELECT count(*) > 0 FROM log));
         SELECT setval(pg_get_serial_sequence('audit', 'seq'), GREATEST((SELECT coalesce(max(seq), 0) FROM audit), 1),
                       (SELECT count(*) > 0 FROM audit));",
    )
    .await?;
    let (documents, changes) = compare(&read, &tx).await?;
    tx.commit().await?;
    read.finish()?;
    Ok(MigrateReport { rows, documents, changes })
}

/// Copies one table with binary COPY; returns its rows.
async fn copy_table(
    read: &rusqlite::Transaction<'_>,
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
) -> Result<u64, MigrateError> {
    let columns = tx
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )
        .await?;
    let names: Vec<String> = columns.iter().map(|r| r.get(0)).collect();
    let types: Vec<Type> = columns
        .iter()
        .map(|r| match r.get::<_, String>(1).as_str() {
            "bigint" => Ok(Type::INT8),
            "double precision" => Ok(Type::FLOAT8),
            "text" => Ok(Type::TEXT),
            "bytea" => Ok(Type::BYTEA),
            other => Err(MigrateError::Schema(format!("{table} has a column of type {other}"))),
        })
        .collect::<Result<_, _>>()?;
    let list = names.join(", ");
    let mut select = read
        .prepare(&format!("SELECT {list} FROM {table}"))
        .map_err(|e| MigrateError::Schema(format!("{table}: {e}")))?;
    // COPY writes identity columns (`audit.seq`) as given.
    let sink = tx.copy_in(&format!("COPY {table} ({list}) FROM STDIN BINARY")).await?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    futures_util::pin_mut!(writer);
    let mut source = select.query([])?;
    let mut count = 0u64;
    while let Some(row) = source.next()? {
        let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::with_capacity(types.len());
        for (i, ty) in types.iter().enumerate() {
            values.push(convert(row.get::<_, Value>(i)?, ty, table, &names[i])?);
        }
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
        writer.as_mut().write(&refs).await?;
        count += 1;
    }
    writer.finish().await?;
    Ok(count)
}

/// A SQLite value as the PostgreSQL column's type takes it.
fn convert(value: Value, ty: &Type, table: &str, column: &str) -> Result<Box<dyn ToSql + Sync + Send>, MigrateError> {
    let bad = || MigrateError::Schema(format!("{table}.{column} holds a value of another type"));
    Ok(match (value, ty) {
        (Value::Null, t) if *t == Type::INT8 => Box::new(None::<i64>),
        (Value::Null, t) if *t == Type::FLOAT8 => Box::new(None::<f64>),
        (Value::Null, t) if *t == Type::TEXT => Box::new(None::<String>),
        (Value::Null, _) => Box::new(None::<Vec<u8>>),
        (Value::Integer(i), t) if *t == Type::INT8 => Box::new(i),
        (Value::Integer(i), t) if *t == Type::FLOAT8 => Box::new(i as f64),
        (Value::Real(f), t) if *t == Type::FLOAT8 => Box::new(f),
        (Value::Text(s), t) if *t == Type::TEXT => Box::new(s),
        (Value::Blob(b), t) if *t == Type::BYTEA => Box::new(b),
        (Value::Text(s), t) if *t == Type::BYTEA => Box::new(s.into_bytes()),
        _ => return Err(bad()),
    })
}

/// Checks the copy against its source: the same rows in every table (counted), and per document
/// the same changes (hashes) and the same stored snapshot. Returns (documents, changes).
async fn compare(
    read: &rusqlite::Transaction<'_>,
    tx: &tokio_postgres::Transaction<'_>,
) -> Result<(u64, u64), MigrateError> {
    for table in TABLES {
        let sql = format!("SELECT count(*) FROM {table}");
        let here: i64 = read.query_row(&sql, [], |r| r.get(0))?;
        let there: i64 = tx.query_one(sql.as_str(), &[]).await?.get(0);
        if here != there {
            return Err(MigrateError::Mismatch(format!("{table}: {here} rows, {there} copied")));
        }
    }
    let mut stmt =
        read.prepare("SELECT customer_id, count(hash) FROM log GROUP BY customer_id ORDER BY customer_id")?;
    let source: Vec<(String, i64)> = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    let target: Vec<(String, i64)> = tx
        .query("SELECT customer_id::text, count(hash) FROM log GROUP BY customer_id ORDER BY customer_id", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    if source != target {
        return Err(MigrateError::Mismatch("the log's changes per customer".into()));
    }
    // Every change and snapshot, byte for byte, by digest.
    let mut changes = 0u64;
    let mut stmt = read.prepare("SELECT customer_id, hash FROM log WHERE hash IS NOT NULL ORDER BY seq")?;
    let mut here = stmt.query([])?;
    let there = tx.query("SELECT customer_id::text, hash FROM log WHERE hash IS NOT NULL ORDER BY seq", &[]).await?;
    let mut there = there.iter();
    while let Some(row) = here.next()? {
        let (id, hash): (String, Vec<u8>) = (row.get(0)?, row.get(1)?);
        let Some(copied) = there.next() else { return Err(MigrateError::Mismatch("the log".into())) };
        if copied.get::<_, String>(0) != id || copied.get::<_, Vec<u8>>(1) != hash {
            return Err(MigrateError::Mismatch(format!("the log of {id}")));
        }
        changes += 1;
    }
    let snapshots = "SELECT customer_id, snapshot, snapshot_seq, updated_seq FROM documents ORDER BY customer_id";
    let mut stmt = read.prepare(snapshots)?;
    let mut here = stmt.query([])?;
    let there = tx.query(snapshots, &[]).await?;
    let mut there = there.iter();
    let mut documents = 0u64;
    while let Some(row) = here.next()? {
        let (id, snapshot, at, version): (String, Vec<u8>, i64, i64) =
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        let Some(copied) = there.next() else { return Err(MigrateError::Mismatch("the documents".into())) };
        if copied.get::<_, String>(0) != id
            || copied.get::<_, Vec<u8>>(1) != snapshot
            || copied.get::<_, i64>(2) != at
            || copied.get::<_, i64>(3) != version
        {
            return Err(MigrateError::Mismatch(format!("the document {id}")));
        }
        documents += 1;
    }
    Ok((documents, changes))
}
