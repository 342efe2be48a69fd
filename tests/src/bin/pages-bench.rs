//! The supervisor pages on a real branch: 20 managers' books from the reference workload
//! (`../shared/workload`, or `$FIELDSYNC_WORKLOAD`): 40,000 customers and 400,000 visits, brought
//! to the present and made each book's manager's. The real server runs in this process on
//! loopback; a supervisor signs in over HTTP and asks for the visit list's first page, a filtered
//! page and the overview, and exports 100,000 rows as CSV. Each figure is printed beside its
//! target (p95 over the runs, measured by the client on loopback: the server's time plus a
//! loopback round trip).
//!
//! The branch is built once (a few minutes) and kept in `target/pages-bench/` for later runs.
//!
//! ```text
//! cargo run --release -p fieldsync-tests --bin pages-bench             # the full run
//! cargo run --release -p fieldsync-tests --bin pages-bench -- --quick  # 1 book of 200: a smoke run
//! ```

use std::time::{Duration, Instant};

use fieldsync_core::domain::Owner;
use fieldsync_core::workload::{self, Book};
use fieldsync_server::accounts::{self, NewUser, Role};
use fieldsync_server::store::Db;
use fieldsync_tests::TestServer;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SUPERVISOR: &str = "bench-supervisor";
const PASSWORD: &str = "bench-password-1";
const DAY: i64 = 86_400_000;
/// Bumped whenever the kept branch's shape changes.
const FIXTURE: &str = "v4";

struct Args {
    books: usize,
    customers: Option<usize>,
    runs: usize,
}

fn args() -> Args {
    let quick = std::env::args().any(|a| a == "--quick");
    if quick { Args { books: 1, customers: Some(200), runs: 5 } } else { Args { books: 20, customers: None, runs: 30 } }
}

/// The branch's data folder: built here, or kept from an earlier run.
fn branch(args: &Args) -> std::path::PathBuf {
    let name = format!("{FIXTURE}-{}x{}", args.books, args.customers.map_or("ref".into(), |n| n.to_string()));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/pages-bench").join(name);
    if root.join("ready").exists() {
        eprintln!("pages-bench: using the branch kept in {}", root.display());
        return root;
    }
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let records = match args.customers {
        Some(n) => workload::generate_branch(n, 7),
        None => match workload::workload_dir().and_then(|dir| workload::load_branch(&dir)) {
            Ok(records) => records,
            Err(e) => {
                eprintln!("pages-bench: the reference workload is needed: {e}");
                std::process::exit(2);
            }
        },
    };
    let started = Instant::now();
    let db = Db::open(&root).unwrap();
    let now = fieldsync_tests::now_ms();
    let branch_id = db.with(|conn| {
        let b = accounts::create_branch(conn, "基准支行", 0, "bench").unwrap();
        let outlet = accounts::create_outlet(conn, &b, "基准网点", 0, "bench").unwrap();
        let new = NewUser {
            branch_id: &b,
            outlet_id: Some(&outlet),
            username: SUPERVISOR,
            display_name: "主任",
            role: Role::Supervisor,
            password: PASSWORD,
        };
        accounts::create_user(conn, &new, 0, "bench").unwrap();
        b
    });
    // The workload's visits end mid-2025: every time moves so that the last ends yesterday.
    let last = records.iter().flat_map(|r| r.visits.iter().map(|v| v.ended_at)).max().unwrap_or(now);
    let shift = (now - DAY) - last;
    for k in 0..args.books {
        let username = format!("bench-m{k:02}");
        let manager = db.with(|conn| {
            let new = NewUser {
                branch_id: &branch_id,
                outlet_id: None,
                username: &username,
                display_name: &format!("客户经理{:02}", k + 1),
                role: Role::Manager,
                password: PASSWORD,
            };
            accounts::create_user(conn, &new, 0, "bench").unwrap()
        });
        let book =
            Book {
                manager_id: manager.clone(), manager_name: format!("客户经理{:02}", k + 1), namespace: k as u64
            };
        let actor = book.server_actor();
        // One transaction per 500 customers: one fsync each.
        for chunk in records.chunks(500) {
            db.write_blocking(|store| {
                for record in chunk {
                    let mut file = workload::to_file(record, &book).unwrap();
                    file.created_at += shift;
                    file.server.owner =
                        Owner { manager_id: Some(manager.clone()), manager_name: Some(book.manager_name.clone()) };
                    for visit in file.visits.values_mut() {
                        visit.manager_id = manager.clone();
                        visit.manager_name = book.manager_name.clone();
                        visit.created_at += shift;
                        for c in [visit.check_in.as_mut(), visit.check_out.as_mut()].into_iter().flatten() {
                            c.at += shift;
                        }
                        visit.next_contact_at = visit.next_contact_at.map(|t| t + shift);
                    }
                    for lead in file.leads.values_mut() {
                        lead.created_at += shift;
                        lead.stage_history.iter_mut().for_each(|s| s.at += shift);
                    }
                    let prepared = workload::file_changes(&file, &actor).unwrap();
                    fieldsync_server::customers::store_server_changes(
                        store,
                        &branch_id,
                        &prepared.customer_id,
                        &prepared.bytes,
                    )?;
                }
                Ok::<_, fieldsync_server::customers::PushError>(())
            })
            .unwrap();
        }
        eprintln!("pages-bench: book {} of {} stored ({:.0} s)", k + 1, args.books, started.elapsed().as_secs_f64());
    }
    drop(db);
    std::fs::write(root.join("ready"), b"").unwrap();
    root
}

/// A signed-in browser: the session cookie, over plain HTTP/1.1 on loopback.
struct Browser {
    agent: ureq::Agent,
    base: String,
    cookie: String,
}

fn cookie_of(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

impl Browser {
    fn sign_in(base: &str) -> Browser {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let mut form = agent.get(format!("{base}/login")).call().unwrap();
        let login_cookie = cookie_of(&form, "fs_login").expect("the sign-in form's cookie");
        let html = form.body_mut().read_to_string().unwrap();
        let marker = "name=\"csrf\" value=\"";
        let start = html.find(marker).unwrap() + marker.len();
        let csrf = &html[start..start + html[start..].find('"').unwrap()];
        let response = agent
            .post(format!("{base}/login"))
            .header("cookie", &login_cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .send(format!("username={SUPERVISOR}&password={PASSWORD}&csrf={csrf}&next=/visits"))
            .unwrap();
        let cookie = cookie_of(&response, "fs_session").expect("signed in");
        Browser { agent, base: base.to_string(), cookie }
    }

    /// GETs `path`; returns the time to the last byte, the body's size and its lines.
    fn get(&self, path: &str) -> (Duration, usize, usize) {
        let started = Instant::now();
        let mut response =
            self.agent.get(format!("{}{path}", self.base)).header("cookie", &self.cookie).call().unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let body = response.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap();
        (started.elapsed(), body.len(), body.iter().filter(|&&b| b == b'\n').count())
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// p50 and p95 of `runs` GETs of `path`, after one to warm up.
fn timed(browser: &Browser, path: &str, runs: usize) -> (f64, f64) {
    let _ = browser.get(path);
    let mut times: Vec<f64> = (0..runs).map(|_| ms(browser.get(path).0)).collect();
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95))
}

fn main() {
    let args = args();
    let data = branch(&args);
    // The server runs on a copy, so the kept branch stays as built.
    let work = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(data.join("server.db")).unwrap();
    conn.execute("VACUUM INTO ?1", [work.path().join("server.db").to_str().unwrap()]).unwrap();
    let (customers, visits, manager): (i64, i64, String) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM rm_customers), (SELECT count(*) FROM rm_visits),
                    (SELECT id FROM users WHERE role = 'manager' ORDER BY username LIMIT 1)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    // The `from` date that leaves 100,000 visits (or all) in the export.
    let export_rows = 100_000.min(visits);
    let from_ms: i64 = conn
        .query_row(
            "SELECT at FROM rm_visits WHERE status <> 'planned' ORDER BY at DESC LIMIT 1 OFFSET ?1",
            [export_rows - 1],
            |r| r.get(0),
        )
        .unwrap_or(0);
    drop(conn);
    let server = TestServer::on(work, false);
    let browser = Browser::sign_in(&server.url());
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let day =
        |ms: i64| jiff::Timestamp::from_millisecond(ms).unwrap().to_zoned(tz.clone()).strftime("%Y-%m-%d").to_string();
    let last_month = day(fieldsync_tests::now_ms() - 30 * DAY);

    println!("pages-bench: {customers} customers, {visits} visits, {} books; {} runs each", args.books, args.runs);
    println!("| figure | measured | target |");
    println!("|---|---|---|");
    let (p50, p95) = timed(&browser, "/visits", args.runs);
    println!("| visit list, first page (50 of {visits}) | p50 {p50:.0} ms, **p95 {p95:.0} ms** | p95 ≤ 200 ms |");
    let filtered = format!("/visits?manager={manager}&flag=any&review=pending&from={last_month}");
    let (p50, p95) = timed(&browser, &filtered, args.runs);
    println!(
        "| visit list, filtered page (one manager, flagged, pending, last 30 days) | p50 {p50:.0} ms, **p95 {p95:.0} ms** | p95 ≤ 200 ms |"
    );
    let (p50, p95) = timed(&browser, "/overview", args.runs);
    println!(
        "| overview (five charts, the route, the devices) | p50 {p50:.0} ms, **p95 {p95:.0} ms** | p95 ≤ 200 ms |"
    );
    let (took, bytes, lines) = browser.get(&format!("/visits.csv?from={}", day(from_ms)));
    println!(
        "| CSV export of {} rows ({:.1} MB; asked for {export_rows}), streamed | **{:.2} s** | ≤ 5 s |",
        lines.saturating_sub(1),
        bytes as f64 / 1e6,
        took.as_secs_f64()
    );
}
