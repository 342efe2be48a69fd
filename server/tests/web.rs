//! The supervisor web app over the real router (`app()` driven with `oneshot`, a cookie jar kept
//! here): sign-in and sessions, the visit log and a visit's page, decisions, and hostile input.
//! The same flows in a real browser are in `tests/tests/browser.rs`.

mod common;

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use common::*;
use fieldsync_server::accounts::{self, NewUser, Role};
use fieldsync_server::store::Db;
use fieldsync_server::{AppState, app};
use http_body_util::BodyExt;
use tower::ServiceExt;

const PASSWORD: &str = "branch-pass-1";

/// A branch with an outlet, two managers, a supervisor, a second branch with its own supervisor,
/// and the visits of manager 1's tablet (one far from its customer).
struct Fixture {
    _dir: tempfile::TempDir,
    state: AppState,
    visits: Vec<String>,
    far: String,
    other_branch_visit: String,
    customer: String,
    other_branch_customer: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let (b1, b2) = db
        .write_blocking(|s| {
            let b1 = accounts::create_branch(s, "城关支行", NOW, "test")?;
            let b2 = accounts::create_branch(s, "河口支行", NOW, "test")?;
            let outlet = accounts::create_outlet(s, &b1, "韩桥网点", NOW, "test")?;
            for (branch, username, name, role) in [
                (&b1, "m1", "王建国", Role::Manager),
                (&b1, "zhao", "赵主任", Role::Supervisor),
                (&b1, "qian", "钱管理员", Role::Admin),
                (&b2, "m9", "孙经理", Role::Manager),
                (&b2, "sun", "孙主任", Role::Supervisor),
            ] {
                let new = NewUser {
                    branch_id: branch,
                    outlet_id: Some(outlet.as_str()).filter(|_| branch == &b1),
                    username,
                    display_name: name,
                    role,
                    password: PASSWORD,
                };
                accounts::create_user(s, &new, NOW, "test")?;
            }
            Ok::<_, accounts::AccountError>((b1, b2))
        })
        .unwrap();
    let id_of = |username: &str| db.write_blocking(|s| s.user_by_username(username)).unwrap().map(|r| r.id).unwrap();
    let mut m1 = Manager::new(&dir, &id_of("m1"), &b1);
    let a = m1.customer("张三", Some(HOME));
    let b = m1.customer("李四", Some(HOME));
    // Visits of today (the overview counts the last 30 days by the real clock).
    let t0 = fieldsync_server::routes::now_ms() - 300 * MIN;
    let mut visits = Vec::new();
    visits.push(m1.visit(&a, HOME, t0, t0 + 30 * MIN, t0 + 30 * MIN, &[]));
    let far = m1.visit(&b, (HOME.0 + 0.02, HOME.1), t0 + 60 * MIN, t0 + 90 * MIN, t0 + 90 * MIN, &[]);
    visits.push(far.clone());
    visits.push(m1.visit(&a, HOME, t0 + 120 * MIN, t0 + 150 * MIN, t0 + 150 * MIN, &[]));
    m1.sync(&db, &[&a, &b]);
    let mut m9 = Manager::new(&dir, &id_of("m9"), &b2);
    let c = m9.customer("周五", Some(HOME));
    let other_branch_visit = m9.visit(&c, HOME, t0, t0 + 30 * MIN, t0 + 30 * MIN, &[]);
    m9.sync(&db, &[&c]);
    let state = AppState::new(dir.path().to_path_buf(), db);
    Fixture { _dir: dir, state, visits, far, other_branch_visit, customer: a, other_branch_customer: c }
}

/// A browser: a cookie jar over the router.
struct Browser {
    state: AppState,
    cookies: HashMap<String, String>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The value of the first hidden input named `name`.
    fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker).unwrap_or_else(|| panic!("no {name} in {}", self.body)) + marker.len();
        self.body[start..].split('"').next().unwrap().to_string()
    }
}

impl Browser {
    fn new(state: &AppState) -> Browser {
        Browser { state: state.clone(), cookies: HashMap::new() }
    }

    async fn send(&mut self, req: Request<Body>) -> Page {
        let response = app(self.state.clone()).oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        for set in headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, _) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Page { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn get(&mut self, uri: &str) -> Page {
        let req = Request::get(uri).header(header::COOKIE, self.cookie_header()).body(Body::empty()).unwrap();
        self.send(req).await
    }

    async fn post(&mut self, uri: &str, form: &[(&str, &str)]) -> Page {
        let body = form.iter().map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v))).collect::<Vec<_>>().join("&");
        let req = Request::post(uri)
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(req).await
    }

    /// Signs in through the form; the answer to the form's post.
    async fn sign_in(&mut self, username: &str, password: &str) -> Page {
        let form = self.get("/login?next=/visits").await;
        let csrf = form.hidden("csrf");
        self.post("/login", &[("username", username), ("password", password), ("csrf", &csrf), ("next", "/visits")])
            .await
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The customer whose document holds the visit (the tests' visit IDs are unique).
fn customer_of(state: &AppState, visit_id: &str) -> String {
    state.db.sqlite().expect("the SQLite store").with(|c| {
        c.query_row("SELECT customer_id FROM rm_visits WHERE visit_id = ?1", [visit_id], |r| r.get(0)).unwrap()
    })
}

/// A visit's page.
fn page_of(state: &AppState, visit_id: &str) -> String {
    format!("/visits/{}/{visit_id}", customer_of(state, visit_id))
}

/// A visit as the list's checkbox names it.
fn pick(state: &AppState, visit_id: &str) -> String {
    format!("{}.{visit_id}", customer_of(state, visit_id))
}

fn review_of(state: &AppState, visit_id: &str) -> (String, Option<String>) {
    let customer = customer_of(state, visit_id);
    let row = state.db.write_blocking(|s| s.rm_visit(&customer, visit_id)).unwrap().unwrap();
    (row.review, row.review_comment)
}

#[tokio::test]
async fn a_supervisor_signs_in_reviews_visits_and_signs_out() {
    let f = fixture();
    let mut browser = Browser::new(&f.state);
    // Signed out: to the sign-in page, and back afterwards.
    let page = browser.get("/visits?flag=far").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login?next=/visits%3Fflag%3Dfar");

    let signed = browser.sign_in("zhao", PASSWORD).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    assert_eq!(signed.location(), "/visits");
    let session_cookie = signed
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("fs_session="))
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session_cookie.contains(attribute), "{session_cookie}");
    }
    assert!(!session_cookie.contains("Secure"), "plain HTTP on loopback: not Secure");

    let list = browser.get("/visits").await;
    assert_eq!(list.status, StatusCode::OK);
    let csp = list.headers.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"));
    assert_eq!(list.headers.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
    assert_eq!(list.headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
    assert!(!list.body.contains("<script>") && !list.body.contains(" style="), "no inline script or style");
    for visit in &f.visits {
        assert!(list.body.contains(visit.as_str()), "{visit} listed");
    }
    assert!(!list.body.contains(f.other_branch_visit.as_str()), "another branch's visit is not listed");
    assert!(list.body.contains("签到位置远离客户"), "the far visit's flag is shown");

    // Filtered by the far flag: the far visit alone.
    let flagged = browser.get("/visits?flag=far").await;
    assert!(flagged.body.contains(f.far.as_str()));
    assert_eq!(flagged.body.matches("data-visit=").count(), 1, "{}", flagged.body);

    // The visit's page explains the flag with its measure.
    let visit = browser.get(&page_of(&f.state, &f.far)).await;
    assert_eq!(visit.status, StatusCode::OK);
    assert!(visit.body.contains("签到位置距客户登记位置 2.2 km"), "{}", visit.body);
    assert!(visit.body.contains("<svg"), "the plot is drawn");
    let csrf = visit.hidden("csrf");

    // Returning needs a comment; without one nothing changes.
    let refused = browser
        .post(&format!("{}/review", page_of(&f.state, &f.far)), &[("csrf", &csrf), ("decision", "returned")])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("退回或存疑时请填写意见"));
    assert_eq!(review_of(&f.state, &f.far).0, "pending");

    let returned = browser
        .post(
            &format!("{}/review", page_of(&f.state, &f.far)),
            &[("csrf", &csrf), ("decision", "returned"), ("comment", "请补拍门牌照片")],
        )
        .await;
    assert_eq!(returned.status, StatusCode::SEE_OTHER);
    assert_eq!(review_of(&f.state, &f.far), ("returned".into(), Some("请补拍门牌照片".into())));
    let after = browser.get(returned.location()).await;
    assert!(after.body.contains("请补拍门牌照片") && after.body.contains("id=\"decided\""));

    // A selection approved at once.
    let list = browser.get("/visits").await;
    let csrf = list.hidden("csrf");
    let (v0, v2) = (f.visits[0].as_str(), f.visits[2].as_str());
    let (p0, p2) = (pick(&f.state, v0), pick(&f.state, v2));
    let approved = browser
        .post(
            "/visits/review",
            &[
                ("csrf", &csrf),
                ("decision", "approved"),
                ("visit", &p0),
                ("visit", &p2),
                ("back", "/visits?review=pending"),
            ],
        )
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER);
    assert_eq!(approved.location(), "/visits?review=pending&decided=2");
    assert_eq!(review_of(&f.state, v0).0, "approved");
    assert_eq!(review_of(&f.state, v2).0, "approved");
    let pending = browser.get("/visits?review=pending").await;
    assert!(pending.body.contains("id=\"no-visits\""), "nothing left to review");

    // English on request.
    let switched = browser.get("/lang/en?next=/visits").await;
    assert_eq!(switched.location(), "/visits");
    assert!(browser.get("/visits").await.body.contains("check-in far from the customer"));

    // Signing out ends the session on the server: the old cookie no longer opens a page.
    let old = browser.cookies.get("fs_session").cloned().unwrap();
    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), "/login");
    browser.cookies.insert("fs_session".into(), old);
    assert_eq!(browser.get("/visits").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn managers_are_refused_and_failures_count_with_the_api() {
    let f = fixture();
    let mut browser = Browser::new(&f.state);
    let refused = browser.sign_in("m1", PASSWORD).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("客户经理请使用平板应用"));
    assert!(!browser.cookies.contains_key("fs_session"));

    let wrong = browser.sign_in("zhao", "not-the-password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("用户名或密码错误") && !wrong.body.contains("not-the-password"));
    for _ in 0..20 {
        browser.sign_in("zhao", "still-wrong").await;
    }
    // The username is locked for the tablets' API too, and the right password waits as well.
    let api = Request::post("/api/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!(r#"{{"username":"zhao","password":"{PASSWORD}","device_id":"tablet-1"}}"#)))
        .unwrap();
    assert_eq!(app(f.state.clone()).oneshot(api).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    let limited = browser.sign_in("zhao", PASSWORD).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.body.contains("登录失败次数过多"));
}

#[tokio::test]
async fn forged_foreign_and_oversized_input_changes_nothing() {
    let f = fixture();
    let mut browser = Browser::new(&f.state);

    // A sign-in form posted without the form's token (from another site).
    let page = browser
        .post("/login", &[("username", "zhao"), ("password", PASSWORD), ("csrf", "forged"), ("next", "/visits")])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(!browser.cookies.contains_key("fs_session"));

    assert_eq!(browser.sign_in("zhao", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let visit = browser.get(&page_of(&f.state, &f.visits[0])).await;
    let csrf = visit.hidden("csrf");
    let review = format!("{}/review", page_of(&f.state, &f.visits[0]));

    // Forged, missing and another session's token.
    for token in ["forged", "", &csrf[..csrf.len() - 1]] {
        let page = browser.post(&review, &[("csrf", token), ("decision", "approved")]).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "token {token:?}");
        assert!(page.body.contains("表单已过期或来源无效"));
    }
    // Another branch's visit: not found, on its page and for a decision.
    assert_eq!(browser.get(&page_of(&f.state, &f.other_branch_visit)).await.status, StatusCode::NOT_FOUND);
    let foreign = browser
        .post(
            &format!("{}/review", page_of(&f.state, &f.other_branch_visit)),
            &[("csrf", &csrf), ("decision", "approved")],
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(review_of(&f.state, &f.other_branch_visit).0, "pending");
    // A selection with another branch's visit in it: none is decided.
    let mixed = browser
        .post(
            "/visits/review",
            &[
                ("csrf", &csrf),
                ("decision", "approved"),
                ("visit", &pick(&f.state, &f.visits[0])),
                ("visit", &pick(&f.state, &f.other_branch_visit)),
            ],
        )
        .await;
    assert_eq!(mixed.status, StatusCode::NOT_FOUND);
    assert_eq!(review_of(&f.state, &f.visits[0]).0, "pending");
    // A comment too long, a form larger than any page sends, an unknown decision, an empty
    // selection.
    let long = "很".repeat(501);
    let page = browser.post(&review, &[("csrf", &csrf), ("decision", "flagged"), ("comment", &long)]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("输入过长") && !page.body.contains(&long));
    let huge = "很".repeat(100_000);
    let page = browser.post(&review, &[("csrf", &csrf), ("decision", "flagged"), ("comment", &huge)]).await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(page.body.contains("输入过长") && !page.body.contains(&huge[..300]));
    let page = browser.post(&review, &[("csrf", &csrf), ("decision", "deleted")]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let page = browser.post("/visits/review", &[("csrf", &csrf), ("decision", "approved")]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(review_of(&f.state, &f.visits[0]).0, "pending");
    // Junk in the list's filters shows the list, not an error.
    let page = browser.get("/visits?page=-3&from=yesterday&flag=%00&sort=drop%20table&manager=").await;
    assert_eq!(page.status, StatusCode::OK);
    // A tampered session cookie is a signed-out browser.
    browser.cookies.insert("fs_session".into(), "0".repeat(64));
    assert_eq!(browser.get("/visits").await.status, StatusCode::SEE_OTHER);
    browser.cookies.insert("fs_session".into(), "x".repeat(10_000));
    assert_eq!(browser.get("/visits").await.status, StatusCode::SEE_OTHER);
    // The sign-in page never sends a browser elsewhere.
    let mut fresh = Browser::new(&f.state);
    let form = fresh.get("/login?next=//evil.example/").await;
    assert!(form.body.contains("name=\"next\" value=\"/visits\""));
}

#[tokio::test]
async fn the_filtered_log_exports_as_csv_that_excel_reads() {
    let f = fixture();
    let mut browser = Browser::new(&f.state);
    assert_eq!(browser.sign_in("zhao", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let csv = browser.get("/visits.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers.get(header::CONTENT_TYPE).unwrap(), "text/csv; charset=utf-8");
    assert!(csv.headers.get(header::CONTENT_DISPOSITION).unwrap().to_str().unwrap().starts_with("attachment"));
    assert!(csv.body.starts_with('\u{FEFF}'), "a byte-order mark for Excel");
    let lines: Vec<&str> = csv.body.trim_start_matches('\u{FEFF}').lines().collect();
    assert!(lines[0].starts_with("走访编号,时间,客户,村/网格,客户经理"), "{}", lines[0]);
    assert_eq!(lines.len(), 1 + f.visits.len());
    for visit in &f.visits {
        assert!(csv.body.contains(visit.as_str()));
    }
    assert!(!csv.body.contains(f.other_branch_visit.as_str()));
    // Newest first, as the list.
    assert!(lines[1].starts_with(f.visits[2].as_str()) && lines[3].starts_with(f.visits[0].as_str()));
    // The list's filters apply.
    let far = browser.get("/visits.csv?flag=far").await;
    let lines: Vec<&str> = far.body.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[1].contains(f.far.as_str()) && lines[1].contains("签到位置远离客户"));
    // Signed out: no export.
    let mut stranger = Browser::new(&f.state);
    assert_eq!(stranger.get("/visits.csv").await.status, StatusCode::SEE_OTHER);
}

/// The export reads the log in batches after the last visit of the previous one: walking it one
/// visit at a time gives the list's order, each visit once.
#[test]
fn batches_after_a_visit_walk_the_log_once_in_order() {
    use fieldsync_server::store::pages::{VisitFilter, VisitSort};
    let f = fixture();
    let customer = customer_of(&f.state, &f.visits[0]);
    let branch = f.state.db.write_blocking(|s| s.rm_visit(&customer, &f.visits[0])).unwrap().unwrap().branch_id;
    let filter = VisitFilter { branch_id: branch, ..VisitFilter::default() };
    let page: Vec<String> = f
        .state
        .db
        .write_blocking(|s| s.visit_page(&filter, VisitSort::Newest, 0, 100))
        .unwrap()
        .into_iter()
        .map(|r| r.visit_id)
        .collect();
    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let batch = f.state.db.write_blocking(|s| s.visits_after(&filter, after.as_ref(), 1)).unwrap();
        let Some(last) = batch.last() else { break };
        after = Some((last.at, last.customer_id.clone(), last.visit_id.clone()));
        walked.push(last.visit_id.clone());
    }
    assert_eq!(walked, page);
    assert_eq!(walked.len(), 3);
}

fn audit_count(state: &AppState, action: &str) -> i64 {
    state
        .db
        .sqlite()
        .expect("the SQLite store")
        .with(|c| c.query_row("SELECT count(*) FROM audit WHERE action = ?1", [action], |r| r.get(0)).unwrap())
}

#[tokio::test]
async fn personal_data_is_masked_and_revealing_it_is_audited() {
    let f = fixture();
    let mut browser = Browser::new(&f.state);
    assert_eq!(browser.sign_in("zhao", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let page = browser.get(&format!("/customers/{}", f.customer)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("138****5678"), "{}", page.body);
    assert!(!page.body.contains(PHONE) && !page.body.contains(ID_NUMBER), "masked by default");
    for listing in ["/visits", "/visits.csv", &page_of(&f.state, &f.visits[0])] {
        let body = browser.get(listing).await.body;
        assert!(!body.contains(PHONE) && !body.contains(ID_NUMBER), "{listing} holds no whole phone or ID");
    }
    let csrf = page.hidden("csrf");
    let reveal = format!("/customers/{}/reveal", f.customer);

    // Forged token, unknown field, another branch's customer: nothing shown, nothing audited.
    assert_eq!(browser.post(&reveal, &[("csrf", "forged"), ("field", "phone")]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(browser.post(&reveal, &[("csrf", &csrf), ("field", "password")]).await.status, StatusCode::BAD_REQUEST);
    let foreign = format!("/customers/{}/reveal", f.other_branch_customer);
    assert_eq!(browser.post(&foreign, &[("csrf", &csrf), ("field", "phone")]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(browser.get(&format!("/customers/{}", f.other_branch_customer)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(audit_count(&f.state, "customer.reveal_phone"), 0);

    let shown = browser.post(&reveal, &[("csrf", &csrf), ("field", "phone")]).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.contains(PHONE) && !shown.body.contains(ID_NUMBER));
    assert_eq!(audit_count(&f.state, "customer.reveal_phone"), 1);
    let shown = browser.post(&reveal, &[("csrf", &csrf), ("field", "id_number")]).await;
    assert!(shown.body.contains(ID_NUMBER));
    assert_eq!(audit_count(&f.state, "customer.reveal_id_number"), 1);
    // Once: the next view is masked again.
    assert!(!browser.get(&format!("/customers/{}", f.customer)).await.body.contains(PHONE));

    // The audit trail is for admins: the supervisor is refused, the admin finds the entry.
    assert_eq!(browser.get("/audit").await.status, StatusCode::FORBIDDEN);
    let mut admin = Browser::new(&f.state);
    assert_eq!(admin.sign_in("qian", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let audit = admin.get("/audit").await;
    assert_eq!(audit.status, StatusCode::OK);
    assert!(audit.body.contains("customer.reveal_phone") && audit.body.contains("赵主任"));
    assert!(audit.body.contains(f.customer.as_str()) && !audit.body.contains(PHONE), "the subject, never the value");
}

#[tokio::test]
async fn the_overview_draws_the_branch_from_its_read_models() {
    let f = fixture();
    // A tablet signs in and syncs through the API: the overview lists it with its app version.
    let login = Request::post("/api/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!(r#"{{"username":"m1","password":"{PASSWORD}","device_id":"tablet-7"}}"#)))
        .unwrap();
    let response = app(f.state.clone()).oneshot(login).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let token = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["token"].as_str().unwrap().to_string();
    let frame = fieldsync_core::sync::protocol::encode(&fieldsync_core::sync::protocol::SyncRequest::default());
    let sync = Request::post("/api/v1/sync")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("x-device-id", "tablet-7")
        .header("x-app-version", "1.4.2")
        .header(header::CONTENT_TYPE, fieldsync_core::sync::protocol::CONTENT_TYPE)
        .body(Body::from(frame))
        .unwrap();
    let answer = app(f.state.clone()).oneshot(sync).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    // A sync frame carries nosniff and none of the pages' headers (a no-op sync stays small).
    assert_eq!(answer.headers().get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
    assert!(answer.headers().get(header::CONTENT_SECURITY_POLICY).is_none());

    let mut browser = Browser::new(&f.state);
    assert_eq!(browser.sign_in("zhao", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let page = browser.get("/overview").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("src=\"/static/vendor-echarts.js\""));
    // The charts' data: the fixture's three visits in the last 30 days, by the manager.
    let start = page.body.find("id=\"overview-data\">").unwrap() + "id=\"overview-data\">".len();
    let json = &page.body[start..start + page.body[start..].find("</script>").unwrap()];
    let data: serde_json::Value = serde_json::from_str(json).unwrap();
    let daily: f64 = data["daily"]["series"][0]["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).sum();
    assert_eq!(daily, 3.0);
    assert_eq!(data["daily"]["series"].as_array().unwrap().len(), 1, "one manager visited");
    assert_eq!(data["daily"]["categories"].as_array().unwrap().len(), 30);
    assert_eq!(data["weekly"]["categories"].as_array().unwrap().len(), 12);
    assert_eq!(data["coverage"]["categories"][0], "韩桥村");
    // The sync status: the tablet, its manager, its version.
    assert!(page.body.contains("tablet-7") && page.body.contains("1.4.2"), "{}", page.body);
    // This month against its target (none set: the visits done, no target beside them).
    assert!(page.body.contains("本月目标完成情况") && page.body.contains("id=\"targets\""));
    // A village with a responsible manager is named with them.
    let branch = f
        .state
        .db
        .write_blocking(|s| Ok::<_, fieldsync_server::store::StoreError>(s.user_by_username("m1")?.unwrap()))
        .unwrap();
    let territory = fieldsync_core::domain::Territory {
        village: "韩桥村".into(),
        outlet_id: None,
        manager_ids: vec![branch.id.clone()],
    };
    f.state.db.write_blocking(|s| fieldsync_server::territories::set(s, &branch.branch_id, territory, NOW)).unwrap();
    let page = browser.get("/overview").await;
    assert!(page.body.contains("韩桥村（王建国）"), "the coverage names the village's manager");
    // The vendored library and its licence are served.
    let js = browser.get("/static/vendor-echarts.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.body.len() > 500_000);
    assert!(browser.get("/static/vendor-echarts-LICENSE.txt").await.body.contains("Apache License"));
}

/// The demo branch a newcomer looks at: recent visits of its own managers near one town, most
/// older ones reviewed, three planned today, and some visits tripping each evidence flag.
#[test]
fn the_demo_branch_shows_every_flag() {
    use fieldsync_server::read_model::evidence::Flag;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let now = fieldsync_server::routes::now_ms();
    assert_eq!(fieldsync_server::demo::seed(&db, 40, now).unwrap(), 80);
    let (managers, latest, reviewed, planned_today, far_from_town): (i64, i64, i64, i64, i64) = db.with(|c| {
        c.query_row(
            "SELECT (SELECT count(DISTINCT manager_id) FROM rm_visits),
                    (SELECT max(check_in_at) FROM rm_visits),
                    (SELECT count(*) FROM rm_visits WHERE review <> 'pending'),
                    (SELECT count(*) FROM rm_visits WHERE status = 'planned' AND planned_at > ?1 - 86400000),
                    (SELECT count(*) FROM rm_customers WHERE abs(lat - 30.5928) > 0.2 OR abs(lng - 114.3055) > 0.2)",
            [now],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap()
    });
    let mut seen = 0;
    db.with(|c| {
        let mut stmt = c.prepare("SELECT DISTINCT flags FROM rm_visits").unwrap();
        for bits in stmt.query_map([], |r| r.get::<_, i64>(0)).unwrap() {
            seen |= bits.unwrap();
        }
    });
    for flag in Flag::ALL {
        assert!(seen & flag.bit() != 0, "no demo visit shows {flag:?}");
    }
    assert_eq!(managers, 2, "the demo's own two managers visit");
    assert!(now - latest < 5 * 86_400_000, "visits up to the last working day");
    assert!(reviewed > 400, "most older visits are reviewed: {reviewed}");
    assert_eq!(planned_today, 6);
    assert_eq!(far_from_town, 0);
    // Flagged visits are a few, not the rule.
    let flagged: i64 =
        db.with(|c| c.query_row("SELECT count(*) FROM rm_visits WHERE flags <> 0", [], |r| r.get(0)).unwrap());
    assert!((7..=30).contains(&flagged), "{flagged} flagged visits");
}

#[tokio::test]
async fn duplicates_are_listed_masked_and_merged_keeping_both_histories() {
    let f = fixture();
    let mut browser = Browser::new(&f.state);
    assert_eq!(browser.sign_in("zhao", PASSWORD).await.status, StatusCode::SEE_OTHER);
    // 张三 and 李四 were entered with the same ID number and phone.
    let page = browser.get("/duplicates").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("张三") && page.body.contains("李四"), "{}", page.body);
    assert!(page.body.contains("138****5678") && !page.body.contains(PHONE) && !page.body.contains(ID_NUMBER));
    let csrf = page.hidden("csrf");
    let a = f.customer.clone();
    let b = customer_of(&f.state, &f.far);
    // A forged token, another branch's file, one file twice: nothing merged.
    let merge = |kept: &str, merged: &str, csrf: &str| {
        [("csrf", csrf.to_string()), ("kept", kept.to_string()), ("merged", merged.to_string())]
    };
    for (form, want) in [
        (merge(&a, &b, "forged"), StatusCode::FORBIDDEN),
        (merge(&a, &f.other_branch_customer, &csrf), StatusCode::NOT_FOUND),
        (merge(&a, &a, &csrf), StatusCode::NOT_FOUND),
    ] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(browser.post("/duplicates/merge", &form).await.status, want);
    }
    assert_eq!(browser.get(&format!("/customers/{b}")).await.status, StatusCode::OK);

    let form = merge(&a, &b, &csrf);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = browser.post("/duplicates/merge", &form).await;
    assert_eq!((done.status, done.location()), (StatusCode::SEE_OTHER, "/duplicates?merged=1"));
    let after = browser.get("/duplicates?merged=1").await;
    assert!(after.body.contains("id=\"merged\"") && after.body.contains("id=\"no-duplicates\""), "{}", after.body);
    assert_eq!(browser.get(&format!("/customers/{b}")).await.status, StatusCode::NOT_FOUND);
    // The kept file shows every visit of both.
    let kept = browser.get(&format!("/customers/{a}")).await;
    for v in &f.visits {
        assert!(kept.body.contains(v.as_str()), "visit {v} kept");
    }
    assert_eq!(audit_count(&f.state, "customer.merge"), 1);
}

#[tokio::test]
async fn a_supervisor_reassigns_and_locks_from_the_customer_page_and_sees_the_history() {
    let f = fixture();
    let mut browser = Browser::new(&f.state);
    assert_eq!(browser.sign_in("zhao", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let path = format!("/customers/{}", f.customer);
    let page = browser.get(&path).await;
    assert!(page.body.contains("id=\"due-back\""), "an owned customer shows when it returns to the pool");
    let csrf = page.hidden("csrf");
    // Forged token, unknown owner, a bad lock value: nothing changes.
    let owner = format!("{path}/owner");
    assert_eq!(browser.post(&owner, &[("csrf", "forged"), ("owner", "pool")]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        browser.post(&owner, &[("csrf", &csrf), ("owner", "nobody")]).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let lock = format!("{path}/lock");
    assert_eq!(browser.post(&lock, &[("csrf", &csrf), ("locked", "yes")]).await.status, StatusCode::BAD_REQUEST);
    assert!(!browser.get(&path).await.body.contains("owner-history"));

    assert_eq!(browser.post(&owner, &[("csrf", &csrf), ("owner", "pool")]).await.status, StatusCode::SEE_OTHER);
    let page = browser.get(&path).await;
    assert!(page.body.contains("owner-history") && page.body.contains("主管分配") && page.body.contains("赵主任"));
    assert!(!page.body.contains("id=\"due-back\""), "a pool customer is not due anywhere");
    assert_eq!(browser.post(&lock, &[("csrf", &csrf), ("locked", "1")]).await.status, StatusCode::SEE_OTHER);
    assert!(browser.get(&path).await.body.contains("id=\"unlock\""));
}

#[tokio::test]
async fn the_scorecard_compares_managers_and_exports() {
    let f = fixture();
    let mut browser = Browser::new(&f.state);
    assert_eq!(browser.sign_in("zhao", PASSWORD).await.status, StatusCode::SEE_OTHER);
    // A target for this month, and 王建国's villages.
    let m1 = f
        .state
        .db
        .write_blocking(|s| Ok::<_, fieldsync_server::store::StoreError>(s.user_by_username("m1")?.unwrap()))
        .unwrap();
    let (month, _) = fieldsync_core::domain::targets::china_month(fieldsync_server::routes::now_ms());
    let target = fieldsync_core::domain::Measures { visits: 20, new_customers: 2, leads_won: 1, amount_won_fen: 0 };
    f.state
        .db
        .write_blocking(|s| fieldsync_server::targets::set_manager_target(s, &m1.branch_id, &month, &m1.id, &target))
        .unwrap();
    let territory = fieldsync_core::domain::Territory {
        village: "韩桥村".into(),
        outlet_id: None,
        manager_ids: vec![m1.id.clone()],
    };
    f.state.db.write_blocking(|s| fieldsync_server::territories::set(s, &m1.branch_id, territory, NOW)).unwrap();

    let page = browser.get("/scorecard").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("王建国") && page.body.contains("3 / 20"), "{}", page.body);
    assert!(page.body.contains("100% (2/2)"), "both customers of 韩桥村 visited this month: {}", page.body);
    // Another month's, the CSV, and bad months.
    assert_eq!(browser.get("/scorecard?month=2020-01").await.status, StatusCode::OK);
    for bad in ["2026-13", "2026-1", "x%27%3B", "20260101"] {
        assert_eq!(browser.get(&format!("/scorecard?month={bad}")).await.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let csv = browser.get(&format!("/scorecard.csv?month={month}")).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.body.starts_with('\u{feff}') && csv.body.contains("王建国") && csv.body.contains("3 / 20"),
        "{}",
        csv.body
    );
    assert!(!csv.body.contains("孙经理"), "another branch's manager is not on it");
}

#[tokio::test]
async fn a_campaign_chooses_its_members_gives_them_tasks_and_counts_progress() {
    let f = fixture();
    let mut browser = Browser::new(&f.state);
    assert_eq!(browser.sign_in("zhao", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let page = browser.get("/campaigns").await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.hidden("csrf");
    let tz = jiff::tz::TimeZone::fixed(jiff::tz::offset(8));
    let today = jiff::Timestamp::from_millisecond(fieldsync_server::routes::now_ms()).unwrap().to_zoned(tz).date();
    let (start, end) =
        (today.yesterday().unwrap().to_string(), today.checked_add(jiff::Span::new().days(30)).unwrap().to_string());
    let form = |csrf: &str, product: &str, starts: &str, ends: &str| {
        vec![
            ("csrf", csrf.to_string()),
            ("name", "春季存款".to_string()),
            ("product", product.to_string()),
            ("starts", starts.to_string()),
            ("ends", ends.to_string()),
            ("village", "韩桥村".to_string()),
            ("tier", String::new()),
            ("lifecycle", String::new()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| fields;
    for (fields, want) in [
        (post(form("forged", "deposit", &start, &end)), StatusCode::FORBIDDEN),
        (post(form(&csrf, "bitcoin", &start, &end)), StatusCode::BAD_REQUEST),
        (post(form(&csrf, "deposit", "yesterday", &end)), StatusCode::BAD_REQUEST),
        (post(form(&csrf, "deposit", &end, &start)), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(browser.post("/campaigns", &fields).await.status, want);
    }
    assert!(!browser.get("/campaigns").await.body.contains("春季存款"), "nothing was started");

    let fields = form(&csrf, "deposit", &start, &end);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = browser.post("/campaigns", &fields).await;
    assert_eq!((done.status, done.location()), (StatusCode::SEE_OTHER, "/campaigns?created=1"));
    let page = browser.get("/campaigns?created=1").await;
    // Both of 韩桥村's customers, both visited today (contacted), neither with a deposit lead.
    let row = page.body.split("<tr>").find(|r| r.contains("春季存款")).unwrap().to_string();
    let numbers: Vec<&str> = row.split("class=\"num\">").skip(1).map(|c| c.split('<').next().unwrap()).collect();
    assert_eq!(numbers, ["2", "2", "0", "0"], "{row}");
    // Each member has its task.
    let doc = f
        .state
        .db
        .write_blocking(|s| fieldsync_server::customers::load(s, &f.customer, &automerge::ActorId::random()))
        .unwrap()
        .unwrap();
    assert!(doc.file().reminders.values().any(|r| r.kind == fieldsync_core::domain::ReminderKind::Campaign));
    assert_eq!(audit_count(&f.state, "campaign.create"), 1);
}

#[tokio::test]
async fn the_branchs_rules_and_target_are_set_from_the_rules_page() {
    let f = fixture();
    let mut browser = Browser::new(&f.state);
    assert_eq!(browser.sign_in("zhao", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let page = browser.get("/rules").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("name=\"recycle_after_days\" value=\"90\""), "the defaults are shown: {}", page.body);
    assert!(page.body.contains("name=\"complaint_days\" value=\"15\""));
    let csrf = page.hidden("csrf");
    let send = |fields: &[(&'static str, &str)]| fields.iter().map(|(k, v)| (*k, v.to_string())).collect::<Vec<_>>();
    let branch = f
        .state
        .db
        .write_blocking(|s| {
            Ok::<_, fieldsync_server::store::StoreError>(s.user_by_username("zhao")?.unwrap().branch_id)
        })
        .unwrap();
    let rules = |state: &AppState| {
        state
            .db
            .write_blocking(|s| {
                Ok::<_, fieldsync_server::store::StoreError>((
                    fieldsync_server::pool::rules(s, &branch)?.0,
                    fieldsync_server::stages::rules(s, &branch)?,
                ))
            })
            .unwrap()
    };
    let before = rules(&f.state);

    // Forged, malformed and out-of-range input changes nothing.
    let pool = |csrf: &str, warn: &str, stage: &str| {
        send(&[
            ("csrf", csrf),
            ("recycle_after_days", "60"),
            ("recycle_without_lead_progress_days", "0"),
            ("warn_days", warn),
            ("exempt_lead_stage", stage),
            ("daily_claim_cap", "3"),
            ("max_owned", ""),
            ("claim_cooldown_days", "15"),
        ])
    };
    let customers = |csrf: &str, medium: &str, complaint: &str| {
        send(&[
            ("csrf", csrf),
            ("high_yuan", "200000"),
            ("medium_yuan", medium),
            ("dormant_after_days", "120"),
            ("complaint_days", complaint),
        ])
    };
    for (path, fields, want) in [
        ("/rules/pool", pool("forged", "5", "proposal"), StatusCode::FORBIDDEN),
        ("/rules/pool", pool(&csrf, "-1", "proposal"), StatusCode::BAD_REQUEST),
        ("/rules/pool", pool(&csrf, "400", "proposal"), StatusCode::BAD_REQUEST),
        ("/rules/pool", pool(&csrf, "5", "won"), StatusCode::BAD_REQUEST),
        ("/rules/pool", pool(&csrf, "5", "<script>"), StatusCode::BAD_REQUEST),
        ("/rules/customers", customers(&csrf, "300000", "15"), StatusCode::BAD_REQUEST),
        ("/rules/customers", customers(&csrf, "50000", "31"), StatusCode::BAD_REQUEST),
        ("/rules/customers", customers(&csrf, "99999999999999999999", "15"), StatusCode::BAD_REQUEST),
    ] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(browser.post(path, &fields).await.status, want, "{path} {fields:?}");
    }
    assert_eq!(rules(&f.state), before, "nothing changed");

    for (path, fields) in
        [("/rules/pool", pool(&csrf, "5", "proposal")), ("/rules/customers", customers(&csrf, "50000", "7"))]
    {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let done = browser.post(path, &fields).await;
        assert_eq!((done.status, done.location()), (StatusCode::SEE_OTHER, "/rules?saved=1"), "{path}");
    }
    let (pool_rules, customer_rules) = rules(&f.state);
    assert_eq!(
        (pool_rules.recycle_after_days, pool_rules.recycle_without_lead_progress_days, pool_rules.max_owned),
        (Some(60), None, None)
    );
    assert_eq!((pool_rules.warn_days, pool_rules.daily_claim_cap), (5, Some(3)));
    assert_eq!((customer_rules.high_fen, customer_rules.complaint_days), (200_000 * 100, 7));
    assert_eq!((audit_count(&f.state, "branch.pool_rules"), audit_count(&f.state, "branch.customer_rules")), (1, 1));

    // The month's target, split among the branch's managers, shows on the overview.
    let (month, _) = fieldsync_core::domain::targets::china_month(fieldsync_server::routes::now_ms());
    let target = |csrf: &str, month: &str, visits: &str| {
        send(&[
            ("csrf", csrf),
            ("month", month),
            ("visits", visits),
            ("new_customers", "4"),
            ("leads_won", "2"),
            ("amount_won_yuan", "100000"),
        ])
    };
    for (fields, want) in [
        (target(&csrf, "2026-13", "40"), StatusCode::BAD_REQUEST),
        (target(&csrf, &month, "-40"), StatusCode::BAD_REQUEST),
        (target(&csrf, &month, "forty"), StatusCode::BAD_REQUEST),
    ] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(browser.post("/rules/target", &fields).await.status, want, "{fields:?}");
    }
    let fields = target(&csrf, &month, "40");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(browser.post("/rules/target", &fields).await.status, StatusCode::SEE_OTHER);
    let page = browser.get("/rules?saved=1").await;
    assert!(page.body.contains("id=\"saved\"") && page.body.contains("name=\"visits\" value=\"40\""), "{}", page.body);
    let overview = browser.get("/overview").await;
    assert!(overview.body.contains("/ 40"), "the branch's line: {}", overview.body);
    assert_eq!(audit_count(&f.state, "branch.target"), 1);
}
