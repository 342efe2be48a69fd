//! Accounts over the real router (`app()` driven with `oneshot`, no socket): login, device-bound
//! tokens, rate limiting, revocation and bad input.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use fieldsync_server::accounts::{self, NewUser, Role};
use fieldsync_server::store::Db;
use fieldsync_server::{AppState, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Branch {
    _dir: tempfile::TempDir,
    state: AppState,
    other_supervisor: &'static str,
}

const PASSWORD: &str = "correct horse 马";

fn setup() -> Branch {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    db.with(|conn| {
        let b1 = accounts::create_branch(conn, "城关支行", 0, "test").unwrap();
        let b2 = accounts::create_branch(conn, "河口支行", 0, "test").unwrap();
        let outlet = accounts::create_outlet(conn, &b1, "韩桥网点", 0, "test").unwrap();
        for (branch, username, role) in
            [(&b1, "wang", Role::Manager), (&b1, "zhao", Role::Supervisor), (&b2, "sun", Role::Supervisor)]
        {
            let new = NewUser {
                branch_id: branch,
                outlet_id: Some(&outlet).filter(|_| branch == &b1).map(|s| s.as_str()),
                username,
                display_name: "用户",
                role,
                password: PASSWORD,
            };
            accounts::create_user(conn, &new, 0, "test").unwrap();
        }
    });
    let state = AppState::new(dir.path().to_path_buf(), db);
    Branch { _dir: dir, state, other_supervisor: "sun" }
}

async fn call(app: Router, req: Request<Body>) -> (StatusCode, Value) {
    let response = app.oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn login(b: &Branch, username: &str, password: &str, device: &str) -> (StatusCode, Value) {
    let body = json!({ "username": username, "password": password, "device_id": device }).to_string();
    let req = Request::post("/api/v1/login").header("content-type", "application/json").body(Body::from(body)).unwrap();
    call(app(b.state.clone()), req).await
}

async fn authed(b: &Branch, method: &str, uri: &str, token: &str, device: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("x-device-id", device)
        .body(Body::empty())
        .unwrap();
    call(app(b.state.clone()), req).await
}

#[tokio::test]
async fn login_gives_a_token_bound_to_the_device() {
    let b = setup();
    let (status, body) = login(&b, "wang", PASSWORD, "tablet-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(body["user"]["role"], "manager");
    let (status, me) = authed(&b, "GET", "/api/v1/whoami", &token, "tablet-1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], body["user"]["id"]);
    // The same token from another device is refused; so is no token and a forged one.
    assert_eq!(authed(&b, "GET", "/api/v1/whoami", &token, "tablet-2").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(authed(&b, "GET", "/api/v1/whoami", "forged", "tablet-1").await.0, StatusCode::UNAUTHORIZED);
    let bare = Request::get("/api/v1/whoami").body(Body::empty()).unwrap();
    let (status, body) = call(app(b.state.clone()), bare).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));
    // Logging in again replaces the device's token.
    let (_, again) = login(&b, "wang", PASSWORD, "tablet-1").await;
    assert_eq!(authed(&b, "GET", "/api/v1/whoami", &token, "tablet-1").await.0, StatusCode::UNAUTHORIZED);
    let fresh = again["token"].as_str().unwrap();
    assert_eq!(authed(&b, "GET", "/api/v1/whoami", fresh, "tablet-1").await.0, StatusCode::OK);
}

#[tokio::test]
async fn wrong_passwords_are_rate_limited_and_unknown_users_look_the_same() {
    let b = setup();
    let (status, wrong) = login(&b, "wang", "nope-nope", "t1").await;
    let (status2, unknown) = login(&b, "nobody", "nope-nope", "t1").await;
    assert_eq!((status, status2), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
    assert_eq!(wrong, unknown, "an unknown user must not be distinguishable");
    assert_eq!(wrong["code"], "wrong_credentials");
    assert!(wrong["message_zh"].as_str().unwrap().contains("密码"));
    for _ in 1..accounts::MAX_FAILURES {
        login(&b, "wang", "nope-nope", "t1").await;
    }
    let (status, body) = login(&b, "wang", PASSWORD, "t1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "rate_limited");
    // Other users are not affected.
    assert_eq!(login(&b, "zhao", PASSWORD, "t9").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_revoked_device_gets_a_distinct_answer() {
    let b = setup();
    let (_, manager) = login(&b, "wang", PASSWORD, "lost-tablet").await;
    let token = manager["token"].as_str().unwrap().to_string();
    let (_, supervisor) = login(&b, "zhao", PASSWORD, "branch-pc").await;
    let sup = supervisor["token"].as_str().unwrap().to_string();
    let (_, other) = login(&b, b.other_supervisor, PASSWORD, "other-pc").await;
    let other = other["token"].as_str().unwrap().to_string();

    let uri = "/api/v1/devices/lost-tablet/revoke";
    assert_eq!(authed(&b, "POST", uri, &token, "lost-tablet").await.0, StatusCode::FORBIDDEN);
    assert_eq!(authed(&b, "POST", uri, &other, "other-pc").await.0, StatusCode::NOT_FOUND);
    assert_eq!(authed(&b, "POST", "/api/v1/devices/ghost/revoke", &sup, "branch-pc").await.0, StatusCode::NOT_FOUND);
    assert_eq!(authed(&b, "POST", uri, &sup, "branch-pc").await.0, StatusCode::NO_CONTENT);

    let (status, body) = authed(&b, "GET", "/api/v1/whoami", &token, "lost-tablet").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::GONE, Some("device_revoked")));
    let (status, body) = login(&b, "wang", PASSWORD, "lost-tablet").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::GONE, Some("device_revoked")));
    // The manager signs in on a new tablet.
    assert_eq!(login(&b, "wang", PASSWORD, "new-tablet").await.0, StatusCode::OK);
    let audited: i64 =
        b.state.db.sqlite().expect("the SQLite store").with(|c| {
            c.query_row("SELECT count(*) FROM audit WHERE action = 'device.revoke'", [], |r| r.get(0)).unwrap()
        });
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn bad_login_requests_get_clear_errors_and_change_nothing() {
    let b = setup();
    let (status, body) = login(&b, "wang", PASSWORD, "../../etc").await;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid"), Some("device_id"))
    );
    let long = "x".repeat(10_000);
    assert_eq!(login(&b, &long, &long, "t1").await.0, StatusCode::UNAUTHORIZED);
    for raw in ["not json", "{\"username\": 1}", ""] {
        let req =
            Request::post("/api/v1/login").header("content-type", "application/json").body(Body::from(raw)).unwrap();
        let (status, _) = call(app(b.state.clone()), req).await;
        assert!(status.is_client_error(), "{raw}: {status}");
    }
    let devices: i64 = b
        .state
        .db
        .sqlite()
        .expect("the SQLite store")
        .with(|c| c.query_row("SELECT count(*) FROM devices", [], |r| r.get(0)).unwrap());
    assert_eq!(devices, 0);
}

#[test]
fn accounts_refuse_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    db.with(|conn| {
        assert!(matches!(
            accounts::create_branch(conn, " ", 0, "t"),
            Err(accounts::AccountError::Invalid { field: "name" })
        ));
        let b = accounts::create_branch(conn, "支行", 0, "t").unwrap();
        assert!(matches!(
            accounts::create_outlet(conn, "ghost", "网点", 0, "t"),
            Err(accounts::AccountError::NotFound { .. })
        ));
        let user = |username, password| NewUser {
            branch_id: &b,
            outlet_id: None,
            username,
            display_name: "王",
            role: Role::Manager,
            password,
        };
        assert!(matches!(
            accounts::create_user(conn, &user("a b", PASSWORD), 0, "t"),
            Err(accounts::AccountError::Invalid { field: "username" })
        ));
        assert!(matches!(
            accounts::create_user(conn, &user("wang", "short"), 0, "t"),
            Err(accounts::AccountError::Invalid { field: "password" })
        ));
        accounts::create_user(conn, &user("wang", PASSWORD), 0, "t").unwrap();
        assert!(matches!(
            accounts::create_user(conn, &user("wang", PASSWORD), 0, "t"),
            Err(accounts::AccountError::UsernameTaken)
        ));
        let hash: String = conn.query_row("SELECT password_hash FROM users", [], |r| r.get(0)).unwrap();
        assert!(hash.starts_with("$argon2id$") && !hash.contains(PASSWORD));
    });
}

#[tokio::test]
async fn readiness_reports_a_missing_data_folder_and_liveness_does_not() {
    let b = setup();
    for path in ["/healthz", "/readyz"] {
        let (status, body) = call(app(b.state.clone()), Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")), "{path}");
    }
    let gone = AppState::new(b.state.data_dir.join("removed"), b.state.db.clone());
    let (status, body) = call(app(gone.clone()), Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::INTERNAL_SERVER_ERROR, Some("internal")));
    // Alive all the same: a restart would not bring the folder back.
    let (status, _) = call(app(gone), Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(app(b.state.clone()), Request::get("/../etc/passwd").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
}
