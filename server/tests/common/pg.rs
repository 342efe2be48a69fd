//! PostgreSQL for the server's tests: one throwaway cluster per test binary (started on first
//! use; `FIELDSYNC_TEST_PG` may name a running one's admin URL instead), a fresh migrated database
//! per test, and the store's traits on it in one transaction.

use fieldsync_server::store::postgres::cluster;
use fieldsync_server::store::postgres::{Driver, PgStore};

/// The admin URL (database `postgres`) of the cluster the tests use.
pub fn admin_url() -> String {
    if let Ok(url) = std::env::var("FIELDSYNC_TEST_PG") {
        return url;
    }
    cluster::shared().unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}"))
}

/// A fresh, migrated database of its own.
pub struct PgTest {
    pub rt: tokio::runtime::Runtime,
    pub url: String,
    pool: deadpool_postgres::Pool,
}

impl PgTest {
    pub fn new() -> PgTest {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let admin = admin_url();
        let name = format!("t{}", uuid::Uuid::new_v4().simple());
        let url = rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
            let base = admin.rsplit_once('/').unwrap().0;
            format!("{base}/{name}")
        });
        let pool = rt.block_on(async {
            let config: tokio_postgres::Config = url.parse().unwrap();
            let (mut client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            fieldsync_server::store::postgres::schema::migrate(&mut client).await.unwrap();
            let manager = deadpool_postgres::Manager::new(config, tokio_postgres::NoTls);
            deadpool_postgres::Pool::builder(manager).max_size(4).build().unwrap()
        });
        PgTest { rt, url, pool }
    }

    /// Runs `f` in one transaction, committed when it returns (rolled back if it panics). Its
    /// writes are pipelined, as the sync path's are: what every call returns must not depend on it.
    pub fn write<T>(&self, f: impl FnOnce(&PgStore) -> T) -> T {
        let handle = self.rt.handle().clone();
        let mut client = self.rt.block_on(self.pool.get()).unwrap();
        let tx = self.rt.block_on(client.transaction()).unwrap();
        let store = PgStore::pipelined(&tx, Driver::Shared(&handle));
        let out = f(&store);
        store.finish().unwrap();
        drop(store);
        self.rt.block_on(tx.commit()).unwrap();
        out
    }
}
