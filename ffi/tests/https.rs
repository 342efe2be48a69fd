//! The `fieldsync-device` binary against the real `fieldsync-server` binary over HTTPS, with a
//! throwaway CA made here (as a branch's IT runs one): it signs in pinning the CA and syncs; a
//! tablet that does not trust the certificate stops with its own exit code and message; the
//! server reloads a renewed certificate on SIGHUP and the next sync goes on.
//!
//! The server binary is `FIELDSYNC_SERVER`, or the workspace's own beside this test's binary
//! (`cargo test --workspace` builds it).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const PASSWORD: &str = "correct horse 3";

fn server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("FIELDSYNC_SERVER") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().and_then(Path::parent).unwrap().join("fieldsync-server");
    assert!(path.exists(), "{} is missing: cargo build -p fieldsync-server (or set FIELDSYNC_SERVER)", path.display());
    path
}

struct Ca {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        Ca { issuer: rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap() }
    }

    /// Writes a certificate chain for localhost and its key to `cert` and `key`; returns the
    /// certificate (PEM).
    fn issue(&self, cert: &Path, key: &Path) -> String {
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let pair = rcgen::KeyPair::generate().unwrap();
        let issued = params.signed_by(&pair, &self.issuer).unwrap();
        std::fs::write(cert, format!("{}{}", issued.pem(), self.issuer.pem())).unwrap();
        std::fs::write(key, pair.serialize_pem()).unwrap();
        issued.pem()
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn admin(data: &Path, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(server_binary())
        .arg("admin")
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn device(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fieldsync-device"))
        .arg("--store")
        .arg(store)
        .arg("--json")
        .args(args)
        .env_remove("FIELDSYNC_STORE")
        .env_remove("FIELDSYNC_KEY")
        .env("FIELDSYNC_PASSWORD", PASSWORD)
        .output()
        .unwrap()
}

fn ok(store: &Path, args: &[&str]) -> Value {
    let out = device(store, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_device_cli_syncs_over_https_refuses_an_unknown_certificate_and_follows_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let branch = admin(&data, &["create-branch", "--name", "城关支行"], "");
    admin(
        &data,
        &["create-user", "--branch", &branch, "--username", "m1", "--name", "王建国", "--role", "manager"],
        &format!("{PASSWORD}\n"),
    );
    let ca = Ca::new("城关支行 CA");
    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    ca.issue(&cert, &key);
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.issuer.pem()).unwrap();

    let mut child = Command::new(server_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let server = Server(child);
    let port = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the server exited");
        if let Some(addr) = line.trim().strip_prefix("fieldsync-server listening on https://") {
            break addr.rsplit(':').next().unwrap().to_string();
        }
    };
    let url = format!("https://localhost:{port}");

    // Trusting the branch's CA: signed in, a customer synced.
    let store = dir.path().join("tablet.db");
    ok(&store, &["login", "--server", &url, "--username", "m1", "--ca", ca_file.to_str().unwrap()]);
    ok(&store, &["add-customer", "--name", "张三", "--village", "韩桥村"]);
    let synced = ok(&store, &["sync"]);
    assert!(synced["changes_pushed"].as_u64().unwrap() >= 1, "{synced}");

    // Without the CA (the public roots only) or with another CA: the certificate error, its own
    // exit code, nothing signed in.
    let stranger = dir.path().join("stranger.db");
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, Ca::new("冒充者 CA").issuer.pem()).unwrap();
    for extra in [&[][..], &["--ca", other_ca.to_str().unwrap()][..]] {
        let mut args = vec!["login", "--server", &url, "--username", "m1"];
        args.extend_from_slice(extra);
        let out = device(&stranger, &args);
        let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert_eq!(out.status.code(), Some(7), "{extra:?}: {}", String::from_utf8_lossy(&out.stdout));
        assert_eq!(json["error"]["code"], "certificate", "{json}");
    }
    let out = device(&stranger, &["login", "--server", &url, "--username", "m1", "--ca", "/nonexistent/ca.pem"]);
    assert_eq!(out.status.code(), Some(2));

    // A renewed certificate, reloaded on SIGHUP: the server stays up and the next sync goes on.
    let renewed = ca.issue(&dir.path().join("renewed.crt"), &dir.path().join("renewed.key"));
    std::fs::copy(dir.path().join("renewed.crt"), &cert).unwrap();
    std::fs::copy(dir.path().join("renewed.key"), &key).unwrap();
    let hup = Command::new("kill").args(["-HUP", &server.0.id().to_string()]).status().unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let renewed: String = renewed.split_whitespace().collect();
    while served(&port) != Some(renewed.clone()) {
        assert!(Instant::now() < deadline, "the renewed certificate is served");
        std::thread::sleep(Duration::from_millis(50));
    }
    ok(&store, &["add-customer", "--name", "李四", "--village", "韩桥村"]);
    let synced = ok(&store, &["sync"]);
    assert!(synced["changes_pushed"].as_u64().unwrap() >= 1, "{synced}");
    drop(server);
}

/// The certificate the server presents (PEM without its whitespace), as `openssl s_client` shows
/// it; `None` while it cannot tell.
fn served(port: &str) -> Option<String> {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "localhost"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text.find("-----BEGIN CERTIFICATE-----")?;
    let end = text[start..].find("-----END CERTIFICATE-----")? + start + "-----END CERTIFICATE-----".len();
    Some(text[start..end].split_whitespace().collect())
}
