//! TLS to PostgreSQL: with `sslmode=require` in the URL the server connects over TLS only, checks
//! the database's certificate against the CA it is given (`database-ca`), and refuses one it
//! cannot check rather than falling back to clear text.

use fieldsync_server::store::postgres::cluster::Cluster;
use fieldsync_server::store::postgres::db::PgDb;
use fieldsync_tests::{Setup, TestCa, TestServer, device, sync};

#[test]
fn the_store_reaches_postgres_over_tls_and_refuses_a_certificate_it_cannot_check() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("某农商银行 数据库 CA");
    let files = ca.server_files(dir.path(), "postgres");
    let cluster = Cluster::start_tls(
        &std::fs::read_to_string(&files.cert).unwrap(),
        &std::fs::read_to_string(&files.key).unwrap(),
    )
    .unwrap();
    let url = format!("{}?sslmode=require", cluster.create_database("tls").unwrap());
    let ca_file = dir.path().join("bank-ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();

    // Without the bank's CA the certificate does not check: refused, never plain text.
    let err = rt.block_on(PgDb::open_with(&url, None)).unwrap_err().to_string();
    assert!(err.contains("certificate") || err.contains("UnknownIssuer"), "{err}");
    assert!(!err.contains("password"), "{err}");
    // A file that holds no certificate is a clear error.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let err = rt.block_on(PgDb::open_with(&url, Some(&junk))).unwrap_err().to_string();
    assert!(err.contains("no usable PEM certificate"), "{err}");

    // With it: connected, and the connection is encrypted.
    let tls = fieldsync_server::store::postgres::tls::connector(Some(&ca_file)).unwrap();
    let encrypted: bool = rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tls).await.unwrap();
        tokio::spawn(connection);
        client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap().get(0)
    });
    assert!(encrypted);
    drop(rt);

    // The whole server on it: a tablet signs in and syncs.
    let setup = Setup { database: Some(url), database_ca: Some(ca_file), ..Setup::default() };
    let (server, _branch) = TestServer::start_with(setup);
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let profile =
        fieldsync_core::domain::Profile::new(fieldsync_core::domain::CustomerKind::Individual, "加密", "韩桥村");
    m1.store().create_customer(profile, fieldsync_tests::now_ms()).unwrap();
    assert_eq!(sync(&mut m1).unwrap().changes_pushed, 1);
}
