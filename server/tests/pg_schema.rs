//! The PostgreSQL store's schema: a database of every earlier version migrates to what a new one
//! is, keeping its rows; instances starting at once migrate it once; a migration that fails
//! leaves the schema as it was (and a later start finishes it); a database of a newer server, or
//! holding someone else's tables, is refused.

mod common;

use fieldsync_server::store::postgres::schema::{self, LATEST, SchemaError};

fn fresh_database(rt: &tokio::runtime::Runtime) -> String {
    let admin = common::pg::admin_url();
    let name = format!("s{}", uuid::Uuid::new_v4().simple());
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    });
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

#[test]
fn instances_starting_at_once_migrate_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = fresh_database(&rt);
    rt.block_on(async {
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { schema::migrate(&mut client(&url).await).await })
            })
            .collect();
        let mut found = Vec::new();
        for start in starts {
            found.push(start.await.unwrap().unwrap());
        }
        // One of them found the empty database; the others found it migrated or waited for it.
        assert!(found.contains(&0), "{found:?}");
        let c = client(&url).await;
        assert_eq!(count(&c, "SELECT count(*) FROM fieldsync_schema").await, LATEST as i64);
        assert_eq!(count(&c, "SELECT count(*) FROM server_meta WHERE key = 'actor'").await, 1);
        // And again, later: nothing to do.
        assert_eq!(schema::migrate(&mut client(&url).await).await.unwrap(), LATEST);
    });
}

#[test]
fn a_failed_migration_leaves_the_schema_as_it_was() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = fresh_database(&rt);
    rt.block_on(async {
        let c = client(&url).await;
        // Takes the name of the last index version 1 creates: its first statements succeed, that
        // one fails.
        c.batch_execute("CREATE SEQUENCE rm_complaints_branch").await.unwrap();
        let err = schema::migrate(&mut client(&url).await).await.unwrap_err();
        assert!(matches!(err, SchemaError::Postgres(_)), "{err:?}");
        assert!(err.to_string().contains("migrating the database failed"), "{err}");
        let tables = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()";
        // Nothing of version 1 stayed (only the bookkeeping table, empty).
        assert_eq!(count(&c, tables).await, 1);
        assert_eq!(count(&c, "SELECT count(*) FROM fieldsync_schema").await, 0);
        c.batch_execute("DROP SEQUENCE rm_complaints_branch").await.unwrap();
        assert_eq!(schema::migrate(&mut client(&url).await).await.unwrap(), 0);
        assert!(count(&c, tables).await > 40);
    });
}

#[test]
fn a_newer_or_foreign_database_is_refused() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {});
    let newer = fresh_database(&rt);
    let foreign = fresh_database(&rt);
    rt.block_on(async {
        schema::migrate(&mut client(&newer).await).await.unwrap();
        let c = client(&newer).await;
        c.batch_execute("INSERT INTO fieldsync_schema (version, applied_at) VALUES (99, 0)").await.unwrap();
        let err = schema::migrate(&mut client(&newer).await).await.unwrap_err();
        assert!(matches!(err, SchemaError::Newer { found: 99, .. }), "{err:?}");

        let c = client(&foreign).await;
        c.batch_execute("CREATE TABLE invoices (id int)").await.unwrap();
        let err = schema::migrate(&mut client(&foreign).await).await.unwrap_err();
        assert!(matches!(&err, SchemaError::Foreign(t) if t == "invoices"), "{err:?}");
        // Nothing was created beside it.
        assert_eq!(count(&c, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'documents'").await, 0);
    });
}

/// Everything of the schema a migration may change: tables' columns (type, default, nullability,
/// collation) and storage options, indexes, constraints, sequences.
async fn schema_of(client: &tokio_postgres::Client) -> Vec<String> {
    let queries = [
        "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' '
                || coalesce(column_default, '') || ' ' || coalesce(collation_name, '')
         FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY 1",
        "SELECT c.relname || ' ' || coalesce(array_to_string(c.reloptions, ','), '')
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i', 'S') ORDER BY 1",
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1",
        "SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
         FROM pg_constraint WHERE connamespace = current_schema()::regnamespace ORDER BY 1",
    ];
    let mut out = Vec::new();
    for sql in queries {
        for row in client.query(sql, &[]).await.unwrap() {
            out.push(row.get::<_, String>(0));
        }
    }
    out
}

/// A database made by each earlier version, holding rows, migrated by this server: its schema is
/// exactly a new database's, and its rows are all there.
#[test]
fn a_database_of_each_earlier_version_migrates_to_what_a_new_one_is() {
    const { assert!(LATEST >= 2, "with one version there is no earlier one to migrate from") };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let new = fresh_database(&rt);
    let olds: Vec<(i32, String)> = (1..LATEST).map(|from| (from, fresh_database(&rt))).collect();
    rt.block_on(async {
        schema::migrate(&mut client(&new).await).await.unwrap();
        let expected = schema_of(&client(&new).await).await;
        assert!(expected.iter().any(|l| l.starts_with("device_syncs fillfactor=70")), "{expected:#?}");
        for (from, url) in olds {
            let mut c = client(&url).await;
            assert_eq!(schema::migrate_to(&mut c, from).await.unwrap(), 0);
            assert_eq!(count(&c, "SELECT max(version)::BIGINT FROM fieldsync_schema").await as i32, from);
            c.batch_execute(
                "INSERT INTO branches (id, name) VALUES ('b1', '东湖支行');
                 INSERT INTO users (id, branch_id, username, display_name, role, password_hash)
                     VALUES ('u1', 'b1', 'm1', '王经理', 'manager', 'x');
                 INSERT INTO devices (device_id, user_id, branch_id, registered_at) VALUES ('d1', 'u1', 'b1', 1);
                 INSERT INTO device_syncs (device_id, last_sync_at, app_version, refused_last, refused_total)
                     VALUES ('d1', 5, '1.0', 0, 2);",
            )
            .await
            .unwrap();
            let actor = count(&c, "SELECT length(value)::BIGINT FROM server_meta WHERE key = 'actor'").await;
            assert_eq!(schema::migrate(&mut c).await.unwrap(), from);
            assert_eq!(schema_of(&c).await, expected, "migrated from version {from}");
            assert_eq!(count(&c, "SELECT refused_total FROM device_syncs WHERE device_id = 'd1'").await, 2);
            assert_eq!(count(&c, "SELECT count(*) FROM users WHERE id = 'u1' AND branch_id = 'b1'").await, 1);
            // The store's identity is kept.
            let kept = count(&c, "SELECT length(value)::BIGINT FROM server_meta WHERE key = 'actor'").await;
            assert_eq!(kept, actor);
            assert_eq!(count(&c, "SELECT count(*) FROM fieldsync_schema").await, LATEST as i64);
        }
    });
}
