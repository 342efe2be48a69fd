//! The real binary: it starts on a free loopback port, creates its data folder, answers
//! `/healthz` over HTTP, and exits cleanly on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Kills the server if the test fails before stopping it.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve` with `args` on a free port; returns the process, its address and what it printed
/// before listening.
fn start(
    args: &[&str],
    data: &std::path::Path,
    stderr: Stdio,
) -> (Running, String, String, Option<std::process::ChildStderr>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start the server");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let stderr = child.stderr.take();
    let running = Running(child);
    let mut printed = String::new();
    loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "server exited early: {printed}");
        printed.push_str(&line);
        if let Some(addr) = line.trim().strip_prefix("fieldsync-server listening on http://") {
            return (running, addr.to_string(), printed, stderr);
        }
    }
}

fn post_json(addr: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serves_health_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("branch-data");
    let (mut child, addr, _, stderr) = start(&[], &data, Stdio::piped());
    assert!(data.is_dir(), "first start creates the data folder");

    let response = http_get(&addr, "/healthz");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""status":"ok""#), "{response}");
    assert!(http_get(&addr, "/nope").starts_with("HTTP/1.1 404"));

    let killed = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.0.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status:?}");
    let mut logs = String::new();
    stderr.unwrap().read_to_string(&mut logs).unwrap();
    assert!(logs.contains("shutting down") && logs.contains("stopped"), "{logs}");
}

/// Logs are JSON lines when standard error is not a terminal (journald, log collectors).
#[test]
fn logs_are_json_lines_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _, _, stderr) = start(&[], &dir.path().join("data"), Stdio::piped());
    let killed = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let mut logs = String::new();
    stderr.unwrap().read_to_string(&mut logs).unwrap();
    drop(child);
    let lines: Vec<serde_json::Value> = logs.lines().map(|l| serde_json::from_str(l).expect(l)).collect();
    assert!(lines.iter().any(|l| l["message"] == "listening over plain HTTP, on loopback only"), "{logs}");
    assert!(lines.iter().all(|l| l["level"].is_string() && l["timestamp"].is_string()), "{logs}");
}

#[test]
fn a_second_server_on_the_same_data_folder_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (first, addr, _, _) = start(&[], &data, Stdio::null());
    let second = Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("already serving") && err.contains(&first.0.id().to_string()), "{err}");
    // The first is untouched and serves on.
    assert!(http_get(&addr, "/healthz").starts_with("HTTP/1.1 200"));
    // Once it stops (even killed), the folder can be served again.
    drop(first);
    drop(start(&[], &data, Stdio::null()));
}

#[test]
fn the_configuration_file_is_checked_and_the_flags_win_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let check = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
            .args(["serve", "--check-config"])
            .args(args)
            .env_remove("FIELDSYNC_DATA")
            .env_remove("FIELDSYNC_LISTEN")
            .output()
            .unwrap()
    };
    let file = dir.path().join("fieldsync.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &file,
        format!("data = {:?}\nlisten = \"127.0.0.1:9443\"\npool-sweep-s = 60\n", data.to_str().unwrap()),
    )
    .unwrap();
    let out = check(&["--config", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("http://127.0.0.1:9443") && said.contains(data.to_str().unwrap()), "{said}");
    assert!(!data.exists(), "checking creates nothing");
    // A flag wins over the file.
    let out = check(&["--config", file.to_str().unwrap(), "--listen", "127.0.0.1:9444"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("127.0.0.1:9444"));

    // An unknown key: named, with its line; the exit status says the settings are wrong.
    std::fs::write(&file, "data = \"/srv/fieldsync\"\n\nlisten-adress = \"0.0.0.0:443\"\n").unwrap();
    let out = check(&["--config", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("listen-adress") && err.contains("line 3"), "{err}");

    // Plain HTTP beyond loopback only when allowed; TLS files that are not PEM are named.
    let out = check(&["--listen", "0.0.0.0:8080"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("refusing plain HTTP on 0.0.0.0:8080"), "{err}");
    assert!(check(&["--listen", "0.0.0.0:8080", "--allow-plain-http"]).status.success());
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let out = check(&["--tls-cert", junk.to_str().unwrap(), "--tls-key", junk.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("junk.pem holds no certificate"), "{err}");
    let out = check(&["--tls-cert", junk.to_str().unwrap()]);
    assert!(!out.status.success(), "the key goes with the certificate");
}

/// Under systemd (`Type=notify`), the server says it is ready once it listens.
#[test]
fn it_tells_systemd_when_it_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .env("NOTIFY_SOCKET", &socket_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first_line).unwrap();
    let running = Running(child);
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).expect("a notification");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    let addr = first_line.trim().strip_prefix("fieldsync-server listening on http://").unwrap().to_string();
    assert!(http_get(&addr, "/healthz").starts_with("HTTP/1.1 200"), "listening when ready");
    drop(running);
}

/// The systemd unit in `deploy/` passes `systemd-analyze verify` (with no warning) where systemd
/// is installed.
#[test]
fn the_systemd_unit_verifies() {
    let unit =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/fieldsync-server.service")).unwrap();
    assert!(unit.contains("Type=notify") && unit.contains("User=fieldsync") && unit.contains("Restart=on-failure"));
    let Ok(status) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: the unit is not verified here");
        return;
    };
    assert!(status.status.success());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fieldsync-server.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/fieldsync-server", env!("CARGO_BIN_EXE_fieldsync-server")))
        .unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

#[test]
fn a_bad_listen_address_is_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
        .args(["serve", "--listen", "not-an-address"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--listen"), "{stderr}");
}

/// A database URL that is malformed, or names a server that is not there, or refuses the login,
/// stops the server at start with a message naming what failed (host, port, user, database),
/// never the password; the process exits without serving.
#[test]
fn a_bad_database_url_stops_the_server_and_never_shows_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let admin = common::pg::admin_url();
    let (base, _) = admin.rsplit_once('/').unwrap();
    let port = base.rsplit_once(':').unwrap().1;
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cases = [
        ("postgres://fieldsync:S3cretPw@127.0.0.1:notaport/x".to_string(), "not valid"),
        ("mysql://fieldsync:S3cretPw@127.0.0.1/x".to_string(), "postgres://"),
        (
            format!("postgres://fieldsync:S3cretPw@127.0.0.1:{closed}/x"),
            "cannot connect to PostgreSQL at fieldsync@127.0.0.1",
        ),
        (
            format!("postgres://nobody:S3cretPw@127.0.0.1:{port}/nosuchdb"),
            "cannot connect to PostgreSQL at nobody@127.0.0.1",
        ),
    ];
    for (url, expected) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path().join("d"))
            .env("FIELDSYNC_DATABASE_URL", &url)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{url}");
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(all.contains(expected), "{url}: {all}");
        assert!(!all.contains("S3cretPw"), "the password shown: {all}");
        assert!(!all.contains("listening on"), "{all}");
    }
}

fn admin(data: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
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
    child.wait_with_output().unwrap()
}

#[test]
fn admin_commands_create_accounts_that_can_log_in_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let out = admin(&data, &["create-branch", "--name", "城关支行"], "");
    assert!(out.status.success(), "{out:?}");
    let branch = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let out = admin(
        &data,
        &["create-user", "--branch", &branch, "--username", "wang", "--name", "王经理", "--role", "manager"],
        "s3cret-pass\n",
    );
    assert!(out.status.success(), "{out:?}");
    // Bad input: unknown branch, bad role; a clear message and a failing exit code.
    let out = admin(&data, &["create-outlet", "--branch", "ghost", "--name", "网点"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("branch not found"));
    let out =
        admin(&data, &["create-user", "--branch", &branch, "--username", "x1", "--name", "x", "--role", "king"], "");
    assert!(!out.status.success());

    let (_server, addr, _, _) = start(&[], &data, Stdio::null());
    let login = r#"{"username":"wang","password":"s3cret-pass","device_id":"tablet-7"}"#;
    let response = post_json(&addr, "/api/v1/login", login);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"token\""), "{response}");
    // Revoking from the command line: the next login from that tablet is refused as revoked.
    let out = admin(&data, &["revoke-device", "--device", "tablet-7"], "");
    assert!(out.status.success(), "{out:?}");
    let response = post_json(&addr, "/api/v1/login", login);
    assert!(response.starts_with("HTTP/1.1 410") && response.contains("device_revoked"), "{response}");
}

#[test]
fn demo_branch_is_seeded_once_and_its_logins_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    for round in 0..2 {
        let (_server, addr, printed, _) = start(&["--demo", "--demo-customers", "3"], &data, Stdio::null());
        assert!(printed.contains("manager1 / demo-manager-1 / manager"), "{printed}");
        assert!(printed.contains(&format!("supervisor pages / 主管页面: http://{addr}/")), "{printed}");
        let login = r#"{"username":"manager1","password":"demo-manager-1","device_id":"demo-tablet"}"#;
        let response = post_json(&addr, "/api/v1/login", login);
        assert!(response.starts_with("HTTP/1.1 200"), "round {round}: {response}");
    }
    // Seeded once: two managers' customers, not four.
    let db = fieldsync_server::store::Db::open(&data).unwrap();
    let (branches, customers): (i64, i64) = db.with(|c| {
        (
            c.query_row("SELECT count(*) FROM branches", [], |r| r.get(0)).unwrap(),
            c.query_row("SELECT count(*) FROM documents", [], |r| r.get(0)).unwrap(),
        )
    });
    assert_eq!((branches, customers), (1, 6));

    // The read models were written with the demo's documents; the admin command rebuilds them
    // to the same rows.
    let rows = |db: &fieldsync_server::store::Db| -> (i64, i64, i64) {
        db.with(|c| {
            c.query_row(
                "SELECT (SELECT count(*) FROM rm_customers), (SELECT count(*) FROM rm_visits),
                        (SELECT total(flags) + total(coalesce(travel_kmh, 0)) FROM rm_visits)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, f64>(2)? as i64)),
            )
            .unwrap()
        })
    };
    let before = rows(&db);
    assert_eq!(before.0, 6);
    assert!(before.1 > 0, "the demo's visits have rows");
    drop(db);
    let out = admin(&data, &["rebuild-read-models"], "");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "rebuilt the read models of 6 customers");
    assert_eq!(rows(&fieldsync_server::store::Db::open(&data).unwrap()), before);

    // Thresholds per branch: out of range refused with the flag named, a branch that does not
    // exist refused, a good one set.
    let branch: String = fieldsync_server::store::Db::open(&data)
        .unwrap()
        .with(|c| c.query_row("SELECT id FROM branches", [], |r| r.get(0)).unwrap());
    let out = admin(&data, &["set-evidence-rules", "--branch", &branch, "--far-m", "5"], "");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--far-m is out of range"));
    let out = admin(&data, &["set-evidence-rules", "--branch", "ghost", "--far-m", "800"], "");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("branch not found"));
    let out = admin(&data, &["set-evidence-rules", "--branch", &branch, "--far-m", "800"], "");
    assert!(out.status.success(), "{out:?}");
    let db = fieldsync_server::store::Db::open(&data).unwrap();
    assert_eq!(db.write_blocking(|s| s.evidence_rules(&branch)).unwrap().far_m, 800);
}

/// The bank's rules from the command line: bad flags are refused with the flag named, a large
/// import goes in parts with every refused line numbered in the whole file and no value printed,
/// and the sweeps run.
#[test]
fn the_bank_rules_commands_take_good_input_and_refuse_bad() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    drop(start(&["--demo", "--demo-customers", "3"], &data, Stdio::null()));
    let db = fieldsync_server::store::Db::open(&data).unwrap();
    let branch: String = db.with(|c| c.query_row("SELECT id FROM branches", [], |r| r.get(0)).unwrap());
    let customer: String = db.with(|c| {
        c.query_row("SELECT customer_id FROM documents WHERE scope LIKE 'm:%' LIMIT 1", [], |r| r.get(0)).unwrap()
    });
    let id_number = db
        .with(|c| fieldsync_server::customers::load(c, &customer, &automerge::ActorId::random()))
        .unwrap()
        .unwrap()
        .file()
        .profile
        .id_number
        .clone()
        .expect("demo customers have ID numbers");
    drop(db);
    let ok = |args: &[&str]| {
        let out = admin(&data, args, "");
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let refused = |args: &[&str], says: &str| {
        let out = admin(&data, args, "");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success() && err.contains(says), "{args:?}: {err}");
    };
    refused(&["set-pool-rules", "--branch", &branch, "--warn-days", "400"], "--warn-days is out of range");
    refused(&["set-pool-rules", "--branch", &branch, "--exempt-lead-stage", "won"], "--exempt-lead-stage");
    ok(&["set-pool-rules", "--branch", &branch, "--recycle-after-days", "30", "--warn-days", "5"]);
    refused(&["set-customer-rules", "--branch", &branch, "--medium-yuan", "0"], "--medium-yuan is out of range");
    ok(&["set-customer-rules", "--branch", &branch, "--high-yuan", "200000"]);
    refused(&["catalog-put", "--branch", &branch, "--id", "x", "--kind", "bitcoin", "--name", "币"], "--kind");
    refused(&["set-territory", "--branch", &branch, "--village", "韩桥村", "--managers", "nobody"], "");

    // 5,003 lines: one good, the rest for nobody of the branch; the refused ones past the first
    // part keep their numbers in the whole file.
    let mut csv = String::from("id_number,as_of,assets_yuan\n");
    csv.push_str(&format!("{id_number},2025-06-30,2000000\n"));
    for _ in 0..5_002 {
        csv.push_str("11010519491231002X,2025-06-30,100\n");
    }
    let file = dir.path().join("assets.csv");
    std::fs::write(&file, &csv).unwrap();
    let out = ok(&["import-assets", "--branch", &branch, "--file", file.to_str().unwrap()]);
    assert!(out.starts_with("imported 1 lines, 0 unchanged, 5002 refused"), "{out}");
    assert!(out.contains("line 5004: "), "numbered in the whole file");
    assert!(!out.contains("1101051949") && !out.contains(&id_number[..10]), "no ID number is printed");
    for sweep in ["sweep-pool", "sweep-stages", "sweep-reminders"] {
        ok(&[sweep, "--at", "2027-01-01T09:00:00+08:00"]);
    }
    refused(&["sweep-pool", "--at", "tomorrow"], "--at is not an RFC 3339 time");
}

/// An import or a sweep killed at any moment leaves a store that opens, passes SQLite's integrity
/// check and holds every line of a part either applied with its document or not at all; running
/// the import again finishes the work.
#[test]
fn an_import_killed_midway_loses_nothing_and_runs_again() {
    use fieldsync_core::domain::ValueTier;
    const AS_OF: i64 = 1_751_212_800_000;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    drop(start(&["--demo", "--demo-customers", "150"], &data, Stdio::null()));
    let db = fieldsync_server::store::Db::open(&data).unwrap();
    let branch: String = db.with(|c| c.query_row("SELECT id FROM branches", [], |r| r.get(0)).unwrap());
    let actor = automerge::ActorId::random();
    let files = |db: &fieldsync_server::store::Db| {
        let ids: Vec<String> = db.with(|c| {
            let mut stmt = c.prepare("SELECT customer_id FROM documents WHERE scope != 'deleted'").unwrap();
            stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        });
        ids.iter()
            .filter_map(|id| db.with(|c| fieldsync_server::customers::load(c, id, &actor)).unwrap())
            .map(|doc| doc.file().clone())
            .collect::<Vec<_>>()
    };
    let with_ids: Vec<String> = files(&db).iter().filter_map(|f| f.profile.id_number.clone()).collect();
    assert!(with_ids.len() > 100, "{} customers with an ID number", with_ids.len());
    drop(db);
    // Half the customers in the first part of 5,000 lines (each part is one transaction), half
    // in the second, with lines for nobody of the branch between.
    let mut csv = String::from("id_number,as_of,assets_yuan\n");
    let (first, second) = with_ids.split_at(with_ids.len() / 2);
    for id in first {
        csv.push_str(&format!("{id},2025-06-30,2000000\n"));
    }
    for _ in first.len()..5_000 {
        csv.push_str("11010519491231002X,2025-06-30,100\n");
    }
    for id in second {
        csv.push_str(&format!("{id},2025-06-30,2000000\n"));
    }
    let file = dir.path().join("assets.csv");
    std::fs::write(&file, &csv).unwrap();
    let import = ["import-assets", "--branch", &branch, "--file", file.to_str().unwrap()];

    let snapshots = |db: &fieldsync_server::store::Db| -> Vec<String> {
        db.with(|c| {
            let mut stmt = c.prepare("SELECT customer_id FROM asset_snapshots WHERE as_of = ?1 ORDER BY 1").unwrap();
            stmt.query_map([AS_OF], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        })
    };
    // Killed at once, then killed as soon as the first part is committed (watched from another
    // connection), then left to finish.
    for first_part in [false, true] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
            .arg("admin")
            .arg("--data")
            .arg(&data)
            .args(import)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if first_part {
            let watch = fieldsync_server::store::Db::open(&data).unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while snapshots(&watch).is_empty() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
        } else {
            std::thread::sleep(Duration::from_millis(30));
        }
        let _ = child.kill();
        child.wait().unwrap();
        let db = fieldsync_server::store::Db::open(&data).unwrap();
        let check: String = db.with(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap());
        assert_eq!(check, "ok");
        // A snapshot is recorded exactly when its customer's tier was written with it (dated
        // 2025-06-30 in the branch's zone, Asia/Shanghai), a part at a time.
        let recorded = snapshots(&db);
        let mut tiered: Vec<String> =
            files(&db).into_iter().filter(|f| f.server.tier_as_of == Some(AS_OF)).map(|f| f.id).collect();
        tiered.sort();
        assert_eq!(recorded, tiered);
        assert!([0, first.len(), with_ids.len()].contains(&recorded.len()), "{} recorded", recorded.len());
    }
    let out = admin(&data, &import, "");
    assert!(out.status.success(), "{out:?}");
    let db = fieldsync_server::store::Db::open(&data).unwrap();
    let all = files(&db);
    let tiers: Vec<_> = all
        .iter()
        .filter(|f| f.profile.id_number.is_some())
        .map(|f| (f.server.value_tier, f.server.tier_as_of))
        .collect();
    assert!(tiers.iter().all(|t| *t == (Some(ValueTier::HighNetWorth), Some(AS_OF))), "{tiers:?}");
    drop(db);

    // A stage sweep killed midway, then run again, leaves the same store a whole run gives.
    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
        .args(["admin", "--data"])
        .arg(&data)
        .args(["sweep-stages", "--at", "2027-06-01T09:00:00+08:00"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let _ = child.kill();
    child.wait().unwrap();
    let out = admin(&data, &["sweep-stages", "--at", "2027-06-01T09:00:00+08:00"], "");
    assert!(out.status.success(), "{out:?}");
    let db = fieldsync_server::store::Db::open(&data).unwrap();
    let check: String = db.with(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap());
    assert_eq!(check, "ok");
    // Nothing is left due at that time: the second run finished what the first began.
    let due: i64 = db.with(|c| {
        c.query_row("SELECT count(*) FROM stage_state WHERE refresh_at <= 1811811600000", [], |r| r.get(0)).unwrap()
    });
    assert_eq!(due, 0);
}

#[test]
fn backup_and_restore_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let (running, addr, _, _) = start(&["--demo", "--demo-customers", "5"], &data, Stdio::null());
    let file = dir.path().join("demo.fsbackup");
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_fieldsync-server")).args(args).output().unwrap();
    // While it serves.
    let out = run(&["backup", "--data", data.to_str().unwrap(), "--to", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("backup written to"));
    assert!(http_get(&addr, "/healthz").starts_with("HTTP/1.1 200"));
    drop(running);
    // Into a folder that holds something: refused, nothing touched.
    let out = run(&["restore", "--from", file.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    // A file that is not a backup: refused, nothing left.
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"not a backup").unwrap();
    let out = run(&["restore", "--from", junk.to_str().unwrap(), "--data", dir.path().join("x").to_str().unwrap()]);
    assert!(!out.status.success() && !dir.path().join("x").exists());
    // Into a new folder: the server starts on it and its demo logins work.
    let restored = dir.path().join("restored");
    let out = run(&["restore", "--from", file.to_str().unwrap(), "--data", restored.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let (_running, addr, _, _) = start(&[], &restored, Stdio::null());
    let login = post_json(
        &addr,
        "/api/v1/login",
        r#"{"username":"manager1","password":"demo-manager-1","device_id":"d1","actor":"0a0b0c0d"}"#,
    );
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
}

/// A backup or a restore killed at any moment leaves nothing that looks whole: the backup file
/// either does not exist or restores, the data folder either does not exist or opens as a whole
/// store; and running the command again succeeds.
#[test]
fn a_backup_or_restore_killed_midway_leaves_nothing_half_done() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let (running, _addr, _, _) = start(&["--demo", "--demo-customers", "60"], &data, Stdio::null());
    let bin = env!("CARGO_BIN_EXE_fieldsync-server");
    let file = dir.path().join("b.fsbackup");
    let backup = || Command::new(bin).args(["backup", "--data"]).arg(&data).arg("--to").arg(&file).spawn().unwrap();
    let restore = |from: &std::path::Path, to: &std::path::Path| {
        Command::new(bin)
            .args(["restore", "--from"])
            .arg(from)
            .arg("--data")
            .arg(to)
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    // How long a whole one takes, to kill the others across that span.
    let started = std::time::Instant::now();
    assert!(backup().wait().unwrap().success());
    let whole = started.elapsed();
    let good = dir.path().join("good.fsbackup");
    std::fs::rename(&file, &good).unwrap();
    let opens = |folder: &std::path::Path| {
        let db = fieldsync_server::store::Db::open(folder).expect("a restored folder opens");
        drop(db);
        let conn = rusqlite::Connection::open(folder.join("server.db")).unwrap();
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
    };
    for step in 0..8u32 {
        let after = whole * step / 8;
        let mut child = backup();
        std::thread::sleep(after);
        let _ = child.kill();
        let _ = child.wait();
        if file.exists() {
            let target = dir.path().join(format!("check{step}"));
            let out =
                Command::new(bin).args(["restore", "--from"]).arg(&file).arg("--data").arg(&target).output().unwrap();
            assert!(out.status.success(), "a backup file killed at {after:?} exists but does not restore: {out:?}");
            opens(&target);
            std::fs::remove_file(&file).unwrap();
        }

        let target = dir.path().join(format!("restored{step}"));
        let mut child = restore(&good, &target);
        std::thread::sleep(after);
        let _ = child.kill();
        let _ = child.wait();
        if target.exists() {
            opens(&target);
        } else {
            // Killed before it finished: running it again does.
            assert!(restore(&good, &target).wait().unwrap().success());
            opens(&target);
        }
    }
    // And a backup run to its end after all that is whole.
    assert!(backup().wait().unwrap().success());
    let out = Command::new(bin)
        .args(["restore", "--from"])
        .arg(&file)
        .arg("--data")
        .arg(dir.path().join("last"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    drop(running);
}

fn get_with(addr: &str, path: &str, token: Option<&str>) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn metrics_answer_a_token_bearer_from_an_allowed_network_only() {
    const TOKEN: &str = "0123456789abcdef-metrics";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (running, addr, _, _) = start(&["--metrics-token", TOKEN], &data, Stdio::null());
    assert!(http_get(&addr, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(http_get(&addr, "/readyz").starts_with("HTTP/1.1 200"));
    let refused =
        post_json(&addr, "/api/v1/login", r#"{"username":"nobody","password":"x","device_id":"d1","actor":"0a"}"#);
    assert!(!refused.starts_with("HTTP/1.1 200"));
    // Without the token, or with another: as if there were no such page.
    assert!(get_with(&addr, "/metrics", None).starts_with("HTTP/1.1 404"));
    assert!(get_with(&addr, "/metrics", Some("0123456789abcdef-wrong!!")).starts_with("HTTP/1.1 404"));
    let page = get_with(&addr, "/metrics", Some(TOKEN));
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    for name in [
        "fieldsync_http_requests_total{kind=\"ops\",status=\"200\"}",
        "fieldsync_http_requests_total{kind=\"api\"",
        "fieldsync_store_bytes",
        "fieldsync_last_backup_timestamp_seconds 0",
        "fieldsync_open_connections",
    ] {
        assert!(page.contains(name), "{name} in {page}");
    }
    // A backup shows on the next scrape.
    let out = Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
        .args(["backup", "--data", data.to_str().unwrap(), "--to", dir.path().join("b").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let page = get_with(&addr, "/metrics", Some(TOKEN));
    assert!(!page.contains("fieldsync_last_backup_timestamp_seconds 0\n"), "{page}");
    drop(running);

    // From outside the configured networks, even with the token: nothing.
    let (_running, addr, _, _) = start(
        &["--metrics-token", TOKEN, "--metrics-networks", "10.0.0.0/8"],
        &dir.path().join("other"),
        Stdio::null(),
    );
    assert!(get_with(&addr, "/metrics", Some(TOKEN)).starts_with("HTTP/1.1 404"));
}

/// A store the previous release wrote (schema 10, the demo branch, kept as a fixture) upgrades at
/// start, with a copy of it kept first; its logins and documents serve on; a tablet speaking an
/// older sync protocol is told to update (426). A store newer than the binary refuses to start.
#[test]
fn a_store_of_the_previous_release_upgrades_and_an_old_tablet_is_told_to_update() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store-v10/server.db"), data.join("server.db"))
        .unwrap();
    let (running, addr, _, _) = start(&[], &data, Stdio::null());
    let copies: Vec<_> = std::fs::read_dir(data.join("upgrade-backups")).unwrap().flatten().collect();
    assert_eq!(copies.len(), 1, "one copy before the upgrade");
    assert!(copies[0].file_name().to_string_lossy().starts_with("server-v10-"));
    let login = post_json(
        &addr,
        "/api/v1/login",
        r#"{"username":"manager1","password":"demo-manager-1","device_id":"old-tablet","actor":"0a0b0c0d"}"#,
    );
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    let start = login.find("\"token\":\"").expect("a token") + 9;
    let token = &login[start..start + login[start..].find('"').unwrap()];
    // A frame of protocol version 1 (the version byte is the frame's fourth).
    let mut frame = fieldsync_core::sync::protocol::encode(&fieldsync_core::sync::protocol::SyncRequest::default());
    frame[3] = fieldsync_core::sync::protocol::VERSION - 1;
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /api/v1/sync HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nX-Device-Id: old-tablet\r\nContent-Type: application/x-fieldsync\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        frame.len()
    )
    .unwrap();
    stream.write_all(&frame).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 426"), "{answer}");
    assert!(answer.contains("upgrade_required"), "{answer}");
    drop(running);

    // The upgraded store is schema 11; a binary that knows less refuses it with a clear message
    // (here: the store marked newer than this binary).
    let conn = rusqlite::Connection::open(data.join("server.db")).unwrap();
    let latest: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(latest, fieldsync_server::store::schema::LATEST);
    conn.pragma_update(None, "user_version", latest + 1).unwrap();
    drop(conn);
    let out = Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("written by a newer server"), "{err}");
}

/// The README's install section: its configuration file, with its paths pointed at a folder of
/// this test, passes `--check-config` (a throwaway certificate from `openssl`).
#[test]
fn the_readmes_configuration_checks() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    const MARK: &str = "cat > /etc/fieldsync/fieldsync.toml <<'TOML'\n";
    let start = readme.find(MARK).expect("the README's settings") + MARK.len();
    let toml = &readme[start..start + readme[start..].find("\nTOML\n").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().to_str().unwrap();
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=localhost", "-keyout", &format!("{etc}/branch.key"), "-out", &format!("{etc}/branch.crt")])
        .output();
    if !made.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("openssl is not installed: the README's settings are not checked here");
        return;
    }
    std::fs::write(format!("{etc}/store.key"), "ab".repeat(32)).unwrap();
    let file = dir.path().join("fieldsync.toml");
    std::fs::write(&file, toml.replace("/etc/fieldsync", etc)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
        .args(["serve", "--check-config", "--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("https://0.0.0.0:443"));
}

/// On PostgreSQL, `/metrics` and `/readyz` report the pool and each streaming replica's lag; a
/// server pointed at a replica (which takes no writes) stops at start and says so.
#[test]
fn postgres_metrics_and_readiness_report_the_replicas_and_a_replica_is_refused_as_the_store() {
    use fieldsync_server::store::postgres::cluster::Cluster;
    const TOKEN: &str = "0123456789abcdef-metrics";
    let primary = Cluster::start().unwrap();
    let url = primary.create_database("branch").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (running, addr, _, _) =
        start(&["--metrics-token", TOKEN, "--database", &url, "--pool-sweep-s", "0"], &data, Stdio::null());
    let page = get_with(&addr, "/metrics", Some(TOKEN));
    assert!(page.contains("fieldsync_db_replicas 0"), "{page}");
    assert!(page.contains("fieldsync_db_pool_connections"), "{page}");
    assert!(http_get(&addr, "/readyz").contains(r#""replicas":0"#));

    let replica = primary.replica("branch-dr").unwrap();
    // The replica shows once it streams, with its lag (the server's role may read it here).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let page = loop {
        let page = get_with(&addr, "/metrics", Some(TOKEN));
        if page.contains("fieldsync_db_replicas 1")
            && page.contains(r#"fieldsync_db_replica_lag_bytes{replica="branch-dr"}"#)
        {
            break page;
        }
        assert!(std::time::Instant::now() < deadline, "the replica never showed: {page}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let lag_bytes = page
        .lines()
        .find_map(|l| l.strip_prefix(r#"fieldsync_db_replica_lag_bytes{replica="branch-dr"} "#))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(lag_bytes.is_some_and(|b| b >= 0.0), "{page}");
    let ready = http_get(&addr, "/readyz");
    assert!(ready.starts_with("HTTP/1.1 200") && ready.contains(r#""replicas":1"#), "{ready}");

    // The replica holds the store (replayed), but a server cannot write to it.
    let out = Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("other"))
        .env("FIELDSYNC_DATABASE_URL", replica.url("branch"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("read-only replica"), "{all}");
    assert!(!all.contains("listening on"), "{all}");
    drop(replica);
    drop(running);
}
