//! HTTPS end to end: the real server serving a certificate from a throwaway CA made here, real
//! tablets that pin that CA at sign-in and sync over it; an unknown certificate is a distinct
//! error that sends nothing; a certificate reloaded in the middle of a sync drops nothing.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldsync_core::domain::{CustomerKind, Profile};
use fieldsync_core::sync::{SyncError, SyncOptions};
use fieldsync_ffi::transport::HttpError;
use fieldsync_ffi::{Device, DeviceError};
use fieldsync_tests::{PASSWORD, TestCa, TestServer, now_ms};

fn tablet(dir: &std::path::Path, name: &str) -> Device {
    Device::open(dir.join(format!("{name}.db")), None).unwrap()
}

fn is_certificate_error(e: &DeviceError) -> bool {
    match e {
        DeviceError::Http(h) => matches!(**h, HttpError::Certificate(_)),
        DeviceError::Sync(s) => matches!(**s, SyncError::Certificate(_)),
        _ => false,
    }
}

/// The certificate the server at `port` presents now (the end entity's, DER), read with a
/// client that trusts `ca`; `None` if it does not verify under `ca`.
fn served_certificate(port: u16, ca: &TestCa) -> Option<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from_pem_slice(ca.pem().as_bytes()).unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).ok()?;
    }
    Some(conn.peer_certificates()?.first()?.to_vec())
}

fn first_certificate(pem_file: &std::path::Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_file_iter(pem_file).unwrap().next().unwrap().unwrap().to_vec()
}

#[test]
fn a_tablet_pinning_the_branchs_ca_syncs_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("城关支行 CA");
    let (server, _branch) = TestServer::start_tls(ca.server_files(dir.path(), "server"));
    assert!(server.url().starts_with("https://"));
    let mut m1 = tablet(dir.path(), "m1");
    m1.login_trusting(&server.url(), Some(&ca.pem()), "m1", PASSWORD).unwrap();
    let customer =
        m1.store().create_customer(Profile::new(CustomerKind::Individual, "张三", "韩桥村"), now_ms()).unwrap();
    let report = fieldsync_tests::sync(&mut m1).unwrap();
    assert!(report.changes_pushed >= 1, "{report:?}");
    let held: i64 = server
        .db()
        .query_row("SELECT count(*) FROM documents WHERE customer_id = ?1", [&customer], |r| r.get(0))
        .unwrap();
    assert_eq!(held, 1);

    // Plain HTTP to the HTTPS port gets no answer a tablet could take for the server's.
    let plain = ureq::get(&format!("http://127.0.0.1:{}/healthz", server.addr.port())).call();
    assert!(plain.is_err() || plain.unwrap().status() != 200);
}

#[test]
fn an_untrusted_certificate_is_its_own_error_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("城关支行 CA");
    let files = ca.server_files(dir.path(), "server");
    let (server, _branch) = TestServer::start_tls(files.clone());

    // The public roots do not know the branch's CA; nor does a tablet pinning another CA.
    let mut m1 = tablet(dir.path(), "m1");
    let err = m1.login(&server.url(), "m1", PASSWORD).unwrap_err();
    assert!(is_certificate_error(&err), "{err:?}");
    let stranger = TestCa::new("冒充者 CA");
    let err = m1.login_trusting(&server.url(), Some(&stranger.pem()), "m1", PASSWORD).unwrap_err();
    assert!(is_certificate_error(&err), "{err:?}");
    assert!(m1.store().user().is_none(), "not signed in");
    // A CA that is not a certificate is refused before any connection.
    let err = m1.login_trusting(&server.url(), Some("-----BEGIN NONSENSE-----"), "m1", PASSWORD).unwrap_err();
    assert!(matches!(&err, DeviceError::Http(h) if matches!(**h, HttpError::BadCa)), "{err:?}");

    // Signed in with the right CA; then someone else's certificate is put in front of the
    // server: the sync stops with the certificate error, and nothing reaches the server.
    m1.login_trusting(&server.url(), Some(&ca.pem()), "m1", PASSWORD).unwrap();
    m1.store().create_customer(Profile::new(CustomerKind::Individual, "李四", "韩桥村"), now_ms()).unwrap();
    let before = server.documents_fingerprint();
    let impostor = stranger.server_files(dir.path(), "impostor");
    std::fs::copy(&impostor.cert, &files.cert).unwrap();
    std::fs::copy(&impostor.key, &files.key).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while served_certificate(server.addr.port(), &stranger).is_none() {
        assert!(Instant::now() < deadline, "the server reloads its files");
        std::thread::sleep(Duration::from_millis(50));
    }
    let err = fieldsync_tests::sync(&mut m1).unwrap_err();
    assert!(is_certificate_error(&err), "{err:?}");
    assert_eq!(server.documents_fingerprint(), before, "nothing was sent");
}

#[test]
fn a_certificate_reloaded_in_the_middle_of_a_sync_drops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("城关支行 CA");
    let files = ca.server_files(dir.path(), "server");
    let (server, _branch) = TestServer::start_tls(files.clone());
    let mut m1 = tablet(dir.path(), "m1");
    m1.login_trusting(&server.url(), Some(&ca.pem()), "m1", PASSWORD).unwrap();
    for i in 0..40 {
        let mut p = Profile::new(CustomerKind::Individual, format!("客户{i}"), "韩桥村");
        p.notes = "种植柑橘二十亩，计划扩建冷库。".repeat(20);
        m1.store().create_customer(p, now_ms()).unwrap();
    }
    fieldsync_tests::sync(&mut m1).unwrap();

    // A second tablet's first sync, in small pages; after the first page the certificate is
    // renewed (a new key under the same CA) and the server reloads it.
    let mut m2 = tablet(dir.path(), "m2");
    m2.login_trusting(&server.url(), Some(&ca.pem()), "m1", PASSWORD).unwrap();
    let renewed = ca.server_files(dir.path(), "renewed");
    let mut swapped = false;
    let options = SyncOptions { now: now_ms(), first_page_bytes: 4096, max_page_bytes: 8192, ..Default::default() };
    let report = m2
        .sync(
            options,
            &mut |_| {
                if !swapped {
                    swapped = true;
                    let mut cert = std::fs::File::create(&files.cert).unwrap();
                    cert.write_all(&std::fs::read(&renewed.cert).unwrap()).unwrap();
                    std::fs::copy(&renewed.key, &files.key).unwrap();
                    let deadline = Instant::now() + Duration::from_secs(20);
                    while served_certificate(server.addr.port(), &ca) != Some(first_certificate(&renewed.cert)) {
                        assert!(Instant::now() < deadline, "the server reloads its files");
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            },
            &|| false,
        )
        .unwrap();
    assert!(swapped && report.round_trips >= 3, "{report:?}");
    let filter = fieldsync_core::store::CustomerFilter { village: Some("韩桥村".into()), ..Default::default() };
    assert_eq!(m2.store().customers(&filter, 100, None).unwrap().items.len(), 40, "every customer arrived");
    // And a new connection gets the renewed certificate.
    assert_eq!(served_certificate(server.addr.port(), &ca), Some(first_certificate(&renewed.cert)));
}
