//! The end-to-end harness: the real server (its own code, its own store, real HTTP on a loopback
//! port), devices with real stores on disk signed in over HTTP, and a userspace TCP proxy that
//! counts bytes and round trips and can cut connections.
//!
//! The store is the embedded SQLite one unless `FIELDSYNC_TEST_STORE=postgres`: then every test
//! server gets a new database of its own on a throwaway PostgreSQL cluster (one per test binary,
//! or the one `FIELDSYNC_TEST_PG` names), so the same end-to-end tests run against both stores.

pub mod attack;
pub mod proxy;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use fieldsync_core::sync::{SyncOptions, SyncProgress};
use fieldsync_ffi::{Device, DeviceError};
use fieldsync_server::accounts::{self, NewUser, Role};
use fieldsync_server::config::{Config, TlsFiles};
use fieldsync_server::store::{Database, Db, Store};

/// A test server's store opened beside it (see [`TestServer::store`]); PostgreSQL's connections
/// live on the runtime it holds.
pub struct StoreHandle {
    /// Declared first: dropped before the runtime its connections run on.
    db: Database,
    _rt: Option<tokio::runtime::Runtime>,
}

impl std::ops::Deref for StoreHandle {
    type Target = Database;
    fn deref(&self) -> &Database {
        &self.db
    }
}

/// Runs `f` on the store a test server with `setup` keeps under `data`, in one write transaction.
fn with_store<T>(data: &Path, setup: &Setup, f: impl FnOnce(&dyn Store) -> T) -> T {
    match &setup.database {
        Some(url) => {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
            let db = rt
                .block_on(fieldsync_server::store::postgres::db::PgDb::open_with(url, setup.database_ca.as_deref()))
                .unwrap();
            let out = db.write_blocking(|store| Ok::<_, fieldsync_server::store::StoreError>(f(store))).unwrap();
            drop(db);
            out
        }
        None => {
            let db = Db::open_keyed(data, setup.key().as_ref()).unwrap();
            db.write_blocking(|store| Ok::<_, fieldsync_server::store::StoreError>(f(store))).unwrap()
        }
    }
}

pub const PASSWORD: &str = "e2e-password-1";

/// A branch server running in this process on a loopback port; stopped gracefully on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub data: tempfile::TempDir,
    /// How it runs beyond the defaults: HTTPS, an encrypted store.
    pub setup: Setup,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The accounts a test branch starts with.
#[derive(Debug, Clone)]
pub struct Branch {
    pub id: String,
    pub m1: String,
    pub m2: String,
    pub supervisor: String,
    /// A supervisor of another branch, for scope tests.
    pub other_branch: String,
    pub other_supervisor: String,
}

/// A test server's settings beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// The certificate and key it serves HTTPS with.
    pub tls: Option<TlsFiles>,
    /// The key file of its encrypted store.
    pub key_file: Option<PathBuf>,
    /// The PostgreSQL database it keeps its store in (none: SQLite in its data folder).
    pub database: Option<String>,
    /// SQLite, even when the tests run on PostgreSQL (`FIELDSYNC_TEST_STORE`).
    pub sqlite: bool,
    /// The CA (PEM file) its PostgreSQL's certificate is checked against.
    pub database_ca: Option<PathBuf>,
}

/// Whether the tests run against PostgreSQL (`FIELDSYNC_TEST_STORE=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("FIELDSYNC_TEST_STORE").is_ok_and(|s| s == "postgres")
}

/// A new, empty database on the tests' PostgreSQL cluster; returns its URL.
pub fn new_pg_database() -> String {
    let admin = match std::env::var("FIELDSYNC_TEST_PG") {
        Ok(url) => url,
        Err(_) => fieldsync_server::store::postgres::cluster::shared()
            .unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}")),
    };
    let name = format!("e2e{}", uuid::Uuid::new_v4().simple());
    let create = format!("CREATE DATABASE {name}");
    pg_run(&admin, |client| async move {
        client.batch_execute(&create).await.unwrap();
    });
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

/// Runs `f` with a client of the database at `url`, on a runtime of its own.
pub fn pg_run<T, F: std::future::Future<Output = T>>(
    url: &str,
    f: impl FnOnce(std::sync::Arc<tokio_postgres::Client>) -> F,
) -> T {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
        let driver = tokio::spawn(connection);
        let out = f(std::sync::Arc::new(client)).await;
        driver.abort();
        out
    })
}

impl Setup {
    fn key(&self) -> Option<fieldsync_server::store::StoreKey> {
        self.key_file.as_deref().map(|f| fieldsync_server::store::StoreKey::from_file(f).unwrap())
    }
}

impl TestServer {
    /// Starts a server with a branch `b1` (managers `m1`, `m2`, supervisor `sup`) and another
    /// branch (supervisor `sup2`); every password is [`PASSWORD`].
    pub fn start() -> (TestServer, Branch) {
        TestServer::start_with(Setup::default())
    }

    /// [`TestServer::start`] serving HTTPS with `tls`.
    pub fn start_tls(tls: TlsFiles) -> (TestServer, Branch) {
        TestServer::start_with(Setup { tls: Some(tls), ..Setup::default() })
    }

    /// [`TestServer::start`] with `setup`.
    pub fn start_with(mut setup: Setup) -> (TestServer, Branch) {
        let data = tempfile::tempdir().unwrap();
        if setup.database.is_none() && setup.key_file.is_none() && !setup.sqlite && on_postgres() {
            setup.database = Some(new_pg_database());
        }
        let branch = with_store(data.path(), &setup, |conn| {
            let b1 = accounts::create_branch(conn, "城关支行", 0, "test").unwrap();
            let b2 = accounts::create_branch(conn, "河口支行", 0, "test").unwrap();
            let user = |branch: &str, username: &str, name: &str, role: Role| {
                let new = NewUser {
                    branch_id: branch,
                    outlet_id: None,
                    username,
                    display_name: name,
                    role,
                    password: PASSWORD,
                };
                accounts::create_user(conn, &new, 0, "test").unwrap()
            };
            Branch {
                m1: user(&b1, "m1", "王建国", Role::Manager),
                m2: user(&b1, "m2", "李秀英", Role::Manager),
                supervisor: user(&b1, "sup", "张主任", Role::Supervisor),
                other_supervisor: user(&b2, "sup2", "赵主任", Role::Supervisor),
                id: b1,
                other_branch: b2,
            }
        });
        (TestServer::on_addr(data, false, "127.0.0.1:0".parse().unwrap(), setup), branch)
    }

    /// Starts a server on an existing data folder.
    pub fn on(data: tempfile::TempDir, demo: bool) -> TestServer {
        TestServer::on_addr(data, demo, "127.0.0.1:0".parse().unwrap(), Setup::default())
    }

    /// Stops the server and starts a new process's worth of it (nothing kept in memory) on the
    /// same data folder and address, as after an operator's restart or restore.
    pub fn restart(mut self) -> TestServer {
        let data = tempfile::tempdir().unwrap();
        let data = std::mem::replace(&mut self.data, data);
        let (addr, setup) = (self.addr, std::mem::take(&mut self.setup));
        drop(self);
        TestServer::on_addr(data, false, addr, setup)
    }

    /// Stops the server and starts it on another data folder (a restored backup) at the same
    /// address, so the tablets find it where they left it; the old folder is removed.
    pub fn replace_data(mut self, data: tempfile::TempDir) -> TestServer {
        let (addr, setup) = (self.addr, std::mem::take(&mut self.setup));
        drop(self);
        TestServer::on_addr(data, false, addr, setup)
    }

    /// Stops the server and hands back its data folder (a store to move, photos to keep).
    pub fn stop(mut self) -> (tempfile::TempDir, SocketAddr) {
        let data = std::mem::replace(&mut self.data, tempfile::tempdir().unwrap());
        let addr = self.addr;
        drop(self);
        (data, addr)
    }

    /// Starts a server with `setup` on `data`, at `listen` (where its tablets find it).
    pub fn start_on(data: tempfile::TempDir, listen: SocketAddr, setup: Setup) -> TestServer {
        TestServer::on_addr(data, false, listen, setup)
    }

    /// Another instance of this server: the same PostgreSQL database and the same data folder
    /// (its photos), its own port, its own process memory. Only for a server on PostgreSQL.
    pub fn instance(&self) -> TestServer {
        assert!(self.setup.database.is_some(), "instances share a PostgreSQL database");
        let own = tempfile::tempdir().unwrap();
        TestServer::on_addr_at(
            own,
            self.data.path().to_path_buf(),
            false,
            "127.0.0.1:0".parse().unwrap(),
            self.setup.clone(),
        )
    }

    fn on_addr(data: tempfile::TempDir, demo: bool, listen: SocketAddr, setup: Setup) -> TestServer {
        let path = data.path().to_path_buf();
        TestServer::on_addr_at(data, path, demo, listen, setup)
    }

    fn on_addr_at(data: tempfile::TempDir, path: PathBuf, demo: bool, listen: SocketAddr, setup: Setup) -> TestServer {
        // No background sweeps: tests and benchmarks sweep when they choose (a sweep at start would race them).
        let config = Config {
            data: path,
            listen,
            demo,
            demo_customers: 20,
            pool_sweep_s: 0,
            tls: setup.tls.clone(),
            key_file: setup.key_file.clone(),
            database: setup.database.as_deref().map(|u| fieldsync_server::config::DatabaseUrl::parse(u).unwrap()),
            database_ca: setup.database_ca.clone(),
            tls_watch: std::time::Duration::from_millis(100),
            ..Config::default()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime
                .block_on(fieldsync_server::serve::run(
                    config,
                    async {
                        let _ = stopped.await;
                    },
                    move |addr| bound_tx.send(addr).unwrap(),
                ))
                .unwrap();
        });
        let addr = bound_rx.recv().expect("the server binds");
        TestServer { addr, data, setup, stop: Some(stop), thread: Some(thread) }
    }

    pub fn url(&self) -> String {
        match self.setup.tls {
            // The name its certificate is for (see [`TestCa`]).
            Some(_) => format!("https://localhost:{}", self.addr.port()),
            None => format!("http://{}", self.addr),
        }
    }

    /// Runs `f` on the server's store (SQLite or PostgreSQL) in one write transaction, beside the
    /// running server.
    pub fn write<T>(&self, f: impl FnOnce(&dyn Store) -> T) -> T {
        with_store(self.data.path(), &self.setup, f)
    }

    /// The server's store (SQLite or PostgreSQL), opened beside the running server, for tests that
    /// act as an administrator or look at what it holds through the store's interface.
    pub fn store(&self) -> StoreHandle {
        match &self.setup.database {
            Some(url) => {
                let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
                let db = rt
                    .block_on(fieldsync_server::store::postgres::db::PgDb::open_with(
                        url,
                        self.setup.database_ca.as_deref(),
                    ))
                    .unwrap();
                StoreHandle { db: Database::Postgres(db), _rt: Some(rt) }
            }
            None => StoreHandle {
                db: Database::Sqlite(Db::open_keyed(self.data.path(), self.setup.key().as_ref()).unwrap()),
                _rt: None,
            },
        }
    }

    /// Runs SQL (no parameters) on the server's store behind its back, for tests that set up a
    /// state no request can (SQL both databases take: literals, standard syntax).
    pub fn exec(&self, sql: &str) {
        match &self.setup.database {
            Some(url) => {
                let sql = sql.to_string();
                pg_run(url, |c| async move { c.batch_execute(&sql).await.unwrap() })
            }
            None => self.db().execute_batch(sql).unwrap(),
        }
    }

    /// (changes in the log, distinct changes in the log): equal when no change is stored twice.
    pub fn change_counts(&self) -> (i64, i64) {
        match &self.setup.database {
            Some(url) => pg_run(url, |c| async move {
                let row = c
                    .query_one(
                        "SELECT count(*), count(DISTINCT customer_id || encode(hash, 'hex')) FROM log WHERE hash IS NOT NULL",
                        &[],
                    )
                    .await
                    .unwrap();
                (row.get(0), row.get(1))
            }),
            None => self
                .db()
                .query_row(
                    "SELECT count(*), count(DISTINCT customer_id || hex(hash)) FROM log WHERE hash IS NOT NULL",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap(),
        }
    }

    /// A second connection to the server's SQLite store, for checking what it holds (the tests
    /// that look behind the store this way run on SQLite only).
    pub fn db(&self) -> rusqlite::Connection {
        assert!(self.setup.database.is_none(), "db() is the SQLite store's; this test runs on PostgreSQL");
        let conn = rusqlite::Connection::open(self.data.path().join("server.db")).unwrap();
        if let Some(key) = self.setup.key() {
            key.apply(&conn).unwrap();
        }
        conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        conn
    }

    /// Everything the server stores about documents, for "nothing changed" checks.
    pub fn documents_fingerprint(&self) -> Vec<String> {
        if let Some(url) = &self.setup.database {
            return pg_run(url, |c| async move {
                let mut out = Vec::new();
                for sql in [
                    "SELECT seq || ':' || customer_id || ':' || coalesce(upper(encode(hash, 'hex')), '') || ':' || coalesce(from_scope, '') || '>' || coalesce(to_scope, '') FROM log ORDER BY seq",
                    "SELECT customer_id || ':' || branch_id || ':' || scope || ':' || updated_seq FROM documents ORDER BY customer_id",
                ] {
                    out.extend(c.query(sql, &[]).await.unwrap().iter().map(|r| r.get::<_, String>(0)));
                }
                out
            });
        }
        let conn = self.db();
        let mut out = Vec::new();
        for sql in [
            "SELECT seq || ':' || customer_id || ':' || coalesce(hex(hash), '') || ':' || coalesce(from_scope, '') || '>' || coalesce(to_scope, '') FROM log ORDER BY seq",
            "SELECT customer_id || ':' || branch_id || ':' || scope || ':' || updated_seq FROM documents ORDER BY customer_id",
        ] {
            let mut stmt = conn.prepare(sql).unwrap();
            out.extend(stmt.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap));
        }
        out
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A device signed in as `username`, with its store in `dir`.
pub fn device(dir: &Path, name: &str, server: &str, username: &str) -> Device {
    let mut device = Device::open(dir.join(format!("{name}.db")), None).unwrap();
    device.login(server, username, PASSWORD).unwrap();
    device
}

pub fn store_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.db"))
}

/// Syncs until done; returns the session's progress.
pub fn sync(device: &mut Device) -> Result<SyncProgress, DeviceError> {
    device.sync(SyncOptions { now: now_ms(), ..Default::default() }, &mut |_| {}, &|| false)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// JSON `POST` with a device's credentials; returns the status.
pub fn post_json(device: &mut Device, path: &str, body: serde_json::Value) -> u16 {
    device.transport().unwrap().post_json(path, &body).unwrap().0
}

/// A GPS check point in 韩桥村 at `at`.
pub fn checkpoint(at: i64) -> fieldsync_core::domain::CheckPoint {
    use fieldsync_core::domain::{CheckPoint, GeoPoint, LocationProvider};
    CheckPoint {
        at,
        position: GeoPoint { lat: 30.59, lng: 114.30, accuracy_m: 12.0 },
        provider: LocationProvider::Gps,
        mock_location: false,
    }
}

/// Records a completed visit on `customer` as a tablet does (start, then check out with
/// `details`); returns the visit's ID.
pub fn record_visit(device: &mut Device, customer: &str, details: fieldsync_core::domain::VisitDetails) -> String {
    record_visit_in(device.store(), customer, details)
}

/// [`record_visit`] on a tablet's store.
pub fn record_visit_in(
    store: &mut fieldsync_core::store::Store,
    customer: &str,
    details: fieldsync_core::domain::VisitDetails,
) -> String {
    use fieldsync_core::domain::{Action, Channel, VisitPurpose};
    let id = fieldsync_core::ids::new_id();
    let now = now_ms();
    let start = Action::StartVisit {
        visit_id: id.clone(),
        purpose: VisitPurpose::FollowUp,
        channel: Channel::InPerson,
        check_in: checkpoint(now - 60_000),
    };
    store.apply(customer, &start, now - 60_000).unwrap();
    store
        .apply(customer, &Action::CheckOut { visit_id: id.clone(), check_out: checkpoint(now), details }, now)
        .unwrap();
    id
}

/// A throwaway certificate authority, as a branch's IT runs one: it issues the server's
/// certificates for `localhost` and 127.0.0.1.
pub struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let key = rcgen::KeyPair::generate().unwrap();
        TestCa { issuer: rcgen::CertifiedIssuer::self_signed(params, key).unwrap() }
    }

    /// The CA's certificate (PEM), as a tablet pins it.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A new server certificate and key under this CA, written as `name.crt` (the chain: the
    /// server's certificate, then the CA's) and `name.key` in `dir`.
    pub fn server_files(&self, dir: &Path, name: &str) -> TlsFiles {
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let files = TlsFiles { cert: dir.join(format!("{name}.crt")), key: dir.join(format!("{name}.key")) };
        std::fs::write(&files.cert, format!("{}{}", cert.pem(), self.pem())).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        files
    }
}
