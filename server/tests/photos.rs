//! Photo blobs over the real router (`app()` driven with `oneshot`, no socket): chunked and
//! resumed uploads, deduplication, verification, limits, malformed names, who may read a photo
//! (only through its uploader's own visits, within the branch: a known hash grants nothing),
//! expiry of abandoned partial uploads and the per-user quotas.

use std::io::Write;
use std::path::PathBuf;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use fieldsync_server::accounts::{self, NewUser, Role};
use fieldsync_server::photos::{self, MAX_CHUNK_BYTES, MAX_PHOTO_BYTES};
use fieldsync_server::store::Db;
use fieldsync_server::{AppState, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const PASSWORD: &str = "correct horse 马";
const MIB: usize = 1024 * 1024;

struct Fixture {
    dir: tempfile::TempDir,
    state: AppState,
    branches: [String; 2],
}

/// Two branches and the given users (branch index, username, role). Each user costs an argon2
/// hash, so tests create only the ones they sign in.
fn setup(users: &[(usize, &str, Role)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let branches = db.with(|conn| {
        let b1 = accounts::create_branch(conn, "城关支行", 0, "test").unwrap();
        let b2 = accounts::create_branch(conn, "河口支行", 0, "test").unwrap();
        [b1, b2]
    });
    db.with(|conn| {
        for &(branch, username, role) in users {
            let new = NewUser {
                branch_id: &branches[branch],
                outlet_id: None,
                username,
                display_name: "用户",
                role,
                password: PASSWORD,
            };
            accounts::create_user(conn, &new, 0, "test").unwrap();
        }
    });
    let state = AppState::new(dir.path().to_path_buf(), db);
    Fixture { dir, state, branches }
}

struct Session {
    token: String,
    device: String,
    user_id: String,
}

async fn send(fx: &Fixture, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let response = app(fx.state.clone()).oneshot(req).await.unwrap();
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes())
}

async fn login(fx: &Fixture, username: &str) -> Session {
    let device = format!("tablet-{username}");
    let body = json!({ "username": username, "password": PASSWORD, "device_id": device }).to_string();
    let req = Request::post("/api/v1/login").header("content-type", "application/json").body(Body::from(body)).unwrap();
    let (status, _, bytes) = send(fx, req).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    Session {
        token: v["token"].as_str().unwrap().to_string(),
        device,
        user_id: v["user"]["id"].as_str().unwrap().to_string(),
    }
}

async fn authed(fx: &Fixture, s: &Session, method: &str, uri: &str, body: Vec<u8>) -> (StatusCode, HeaderMap, Bytes) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {}", s.token))
        .header("x-device-id", &s.device)
        .header("content-type", "application/octet-stream")
        .body(Body::from(body))
        .unwrap();
    send(fx, req).await
}

fn json_of(bytes: &Bytes) -> Value {
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

async fn upload_status(fx: &Fixture, s: &Session, hash: &str) -> (StatusCode, Value) {
    let (status, _, body) = authed(fx, s, "GET", &format!("/api/v1/photos/{hash}/upload"), Vec::new()).await;
    (status, json_of(&body))
}

async fn put(fx: &Fixture, s: &Session, hash: &str, offset: usize, total: usize, chunk: &[u8]) -> (StatusCode, Value) {
    let uri = format!("/api/v1/photos/{hash}/upload?offset={offset}&total={total}");
    let (status, _, body) = authed(fx, s, "PUT", &uri, chunk.to_vec()).await;
    (status, json_of(&body))
}

async fn get_photo(fx: &Fixture, s: &Session, hash: &str) -> (StatusCode, HeaderMap, Bytes) {
    authed(fx, s, "GET", &format!("/api/v1/photos/{hash}"), Vec::new()).await
}

/// Uploads `content` in chunks of `chunk` bytes; every answer must be 200.
async fn upload(fx: &Fixture, s: &Session, content: &[u8], chunk: usize) -> String {
    let hash = photos::hash_of(content);
    for (i, part) in content.chunks(chunk).enumerate() {
        let (status, body) = put(fx, s, &hash, i * chunk, content.len(), part).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    hash
}

/// Deterministic bytes that do not repeat with a short period.
fn photo_bytes(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn blob_path(fx: &Fixture, hash: &str) -> PathBuf {
    fx.dir.path().join("photos").join(&hash[..2]).join(hash)
}

fn partial_files(fx: &Fixture) -> Vec<PathBuf> {
    match std::fs::read_dir(fx.dir.path().join("photos").join("partial")) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// A customer document row with the three columns photo visibility relies on. The real table
/// (docs.rs) has more columns; any required one without a default gets a neutral value, so this
/// test depends only on `customer_id`, `branch_id` and `scope`.
fn put_document(fx: &Fixture, customer_id: &str, branch_id: &str, scope: &str) {
    fx.state.db.sqlite().expect("the SQLite store").with(|conn| {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS documents (customer_id TEXT PRIMARY KEY, branch_id TEXT NOT NULL, scope TEXT NOT NULL)",
        )
        .unwrap();
        let mut stmt = conn.prepare("SELECT name, type, \"notnull\", dflt_value FROM pragma_table_info('documents')").unwrap();
        let required: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get_ref(3)?.as_str_or_null()?.map(str::to_string))))
            .unwrap()
            .map(Result::unwrap)
            .filter(|(name, _, notnull, default)| {
                *notnull == 1 && default.is_none() && !["customer_id", "branch_id", "scope"].contains(&name.as_str())
            })
            .map(|(name, ty, _, _)| (name, ty))
            .collect();
        let mut columns = String::from("customer_id, branch_id, scope");
        let mut values = String::from("?1, ?2, ?3");
        for (name, ty) in required {
            columns.push_str(&format!(", \"{name}\""));
            values.push_str(match ty.to_ascii_uppercase().as_str() {
                "INTEGER" | "REAL" | "NUMERIC" => ", 0",
                "BLOB" => ", x''",
                _ => ", ''",
            });
        }
        conn.execute(
            &format!("INSERT OR REPLACE INTO documents ({columns}) VALUES ({values})"),
            [customer_id, branch_id, scope],
        )
        .unwrap();
    });
}

/// Records what a customer's document references: (photo hash, manager of the visit) pairs.
fn record_refs(fx: &Fixture, customer_id: &str, refs: &[(&str, &str)]) {
    fx.state
        .db
        .sqlite()
        .expect("the SQLite store")
        .with(|conn| photos::record_refs(conn, customer_id, refs.iter().copied()))
        .unwrap();
}

#[tokio::test]
async fn a_photo_uploaded_in_three_chunks_reads_back_whole() {
    let fx = setup(&[(0, "wang", Role::Manager)]);
    let wang = login(&fx, "wang").await;
    let content = photo_bytes(2 * MIB + MIB / 2, 1);
    let hash = photos::hash_of(&content);

    let (status, body) = upload_status(&fx, &wang, &hash).await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({ "received": 0, "complete": false })));
    let (status, body) = put(&fx, &wang, &hash, 0, content.len(), &content[..MIB]).await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({ "received": MIB, "complete": false })));
    let (status, body) = put(&fx, &wang, &hash, MIB, content.len(), &content[MIB..2 * MIB]).await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({ "received": 2 * MIB, "complete": false })));
    assert!(!blob_path(&fx, &hash).exists(), "nothing is published before the whole content is in");
    let (status, body) = put(&fx, &wang, &hash, 2 * MIB, content.len(), &content[2 * MIB..]).await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({ "received": content.len(), "complete": true })));

    assert_eq!(std::fs::read(blob_path(&fx, &hash)).unwrap(), content);
    assert!(partial_files(&fx).is_empty(), "the partial file became the blob");
    let (status, body) = upload_status(&fx, &wang, &hash).await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({ "received": content.len(), "complete": true })));

    put_document(&fx, "c1", &fx.branches[0], &format!("m:{}", wang.user_id));
    record_refs(&fx, "c1", &[(&hash, &wang.user_id)]);
    let (status, headers, bytes) = get_photo(&fx, &wang, &hash).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(bytes.as_ref(), content.as_slice());
}

#[tokio::test]
async fn a_cut_upload_resumes_from_what_the_server_holds() {
    let fx = setup(&[(0, "wang", Role::Manager)]);
    let wang = login(&fx, "wang").await;
    let content = photo_bytes(MIB + 1000, 2);
    let hash = photos::hash_of(&content);
    let total = content.len();
    let first = &content[..700_000];
    assert_eq!(put(&fx, &wang, &hash, 0, total, first).await.0, StatusCode::OK);

    // The connection dropped before the answer: the device asks where to resume.
    let (status, body) = upload_status(&fx, &wang, &hash).await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({ "received": 700_000, "complete": false })));

    // Resending the middle, or skipping ahead, is refused with the resume point and changes nothing.
    for offset in [500_000, 800_000] {
        let (status, body) = put(&fx, &wang, &hash, offset, total, &content[offset..offset + 1000]).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["code"], "offset_mismatch");
        assert_eq!(body["received"], 700_000);
        assert!(body["message_zh"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(body["message_en"].as_str().unwrap().contains("700000"));
    }
    let (_, body) = upload_status(&fx, &wang, &hash).await;
    assert_eq!(body, json!({ "received": 700_000, "complete": false }));

    let (status, body) = put(&fx, &wang, &hash, 700_000, total, &content[700_000..]).await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({ "received": total, "complete": true })));
    assert_eq!(std::fs::read(blob_path(&fx, &hash)).unwrap(), content);
}

#[tokio::test]
async fn a_partial_that_cannot_be_the_photo_never_blocks_it() {
    let fx = setup(&[(0, "wang", Role::Manager)]);
    let wang = login(&fx, "wang").await;
    let content = photo_bytes(1000, 4);
    let hash = photos::hash_of(&content);
    // Someone who knows the hash leaves a partial longer than the real photo.
    assert_eq!(put(&fx, &wang, &hash, 0, 5000, &[7u8; 2000]).await.0, StatusCode::OK);
    let (_, body) = upload_status(&fx, &wang, &hash).await;
    assert_eq!(body, json!({ "received": 2000, "complete": false }));
    // The owner starts over at offset 0 and the photo goes in.
    let (status, body) = put(&fx, &wang, &hash, 0, content.len(), &content).await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({ "received": 1000, "complete": true })));
    assert_eq!(std::fs::read(blob_path(&fx, &hash)).unwrap(), content);
}

#[tokio::test]
async fn concurrent_uploads_of_one_photo_never_interleave() {
    let fx = setup(&[(0, "wang", Role::Manager)]);
    let wang = login(&fx, "wang").await;
    let content = photo_bytes(MIB + 10, 3);
    let hash = photos::hash_of(&content);
    let (first, total) = (&content[..MIB], content.len());
    let answers = futures_join((0..8).map(|_| {
        let (fx, wang, hash) = (&fx, &wang, &hash);
        async move { put(fx, wang, hash, 0, total, first).await }
    }))
    .await;
    // Uploads at offset 0 start over, so several may succeed one after another; none interleave.
    let accepted = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert!(accepted >= 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(*status, StatusCode::CONFLICT);
        assert!(["upload_busy", "offset_mismatch"].contains(&body["code"].as_str().unwrap()), "{body}");
    }
    let (_, body) = upload_status(&fx, &wang, &hash).await;
    assert_eq!(body, json!({ "received": MIB, "complete": false }));
    assert_eq!(put(&fx, &wang, &hash, MIB, content.len(), &content[MIB..]).await.0, StatusCode::OK);
    assert_eq!(std::fs::read(blob_path(&fx, &hash)).unwrap(), content);
}

/// Runs the futures concurrently on the test's runtime (no extra dependency for a join).
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *output = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn a_photo_already_stored_is_complete_at_once() {
    let fx = setup(&[(0, "wang", Role::Manager)]);
    let wang = login(&fx, "wang").await;
    let content = photo_bytes(300_000, 4);
    let hash = upload(&fx, &wang, &content, MIB).await;
    let stored = std::fs::metadata(blob_path(&fx, &hash)).unwrap().modified().unwrap();

    let (status, body) = upload_status(&fx, &wang, &hash).await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({ "received": content.len(), "complete": true })));
    // A second upload (another tablet, or a retry after a lost answer) writes nothing, even
    // with a body that is not the photo.
    for chunk in [&content[..], b"not the photo".as_slice()] {
        let (status, body) = put(&fx, &wang, &hash, 0, content.len(), chunk).await;
        assert_eq!((status, &body), (StatusCode::OK, &json!({ "received": content.len(), "complete": true })));
    }
    assert!(partial_files(&fx).is_empty());
    assert_eq!(std::fs::read(blob_path(&fx, &hash)).unwrap(), content);
    assert_eq!(std::fs::metadata(blob_path(&fx, &hash)).unwrap().modified().unwrap(), stored);
}

#[tokio::test]
async fn content_that_does_not_match_its_hash_is_refused_and_dropped() {
    let fx = setup(&[(0, "wang", Role::Manager)]);
    let wang = login(&fx, "wang").await;
    let claimed = photo_bytes(200_000, 5);
    let hash = photos::hash_of(&claimed);
    let sent = photo_bytes(200_000, 6);
    assert_eq!(put(&fx, &wang, &hash, 0, sent.len(), &sent[..150_000]).await.0, StatusCode::OK);
    let (status, body) = put(&fx, &wang, &hash, 150_000, sent.len(), &sent[150_000..]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "hash_mismatch");
    assert!(body["message_zh"].as_str().is_some_and(|m| !m.is_empty()));

    assert!(!blob_path(&fx, &hash).exists());
    assert!(partial_files(&fx).is_empty(), "the bad partial upload is deleted");
    let (_, body) = upload_status(&fx, &wang, &hash).await;
    assert_eq!(body, json!({ "received": 0, "complete": false }));
    // The right content can then be uploaded from the start.
    upload(&fx, &wang, &claimed, MIB).await;
    assert_eq!(std::fs::read(blob_path(&fx, &hash)).unwrap(), claimed);
}

#[tokio::test]
async fn oversized_photos_and_chunks_are_refused() {
    let fx = setup(&[(0, "wang", Role::Manager)]);
    let wang = login(&fx, "wang").await;
    let hash = photos::hash_of(b"whatever");
    let too_big = MAX_PHOTO_BYTES as usize + 1;
    let (status, body) = put(&fx, &wang, &hash, 0, too_big, &[1, 2, 3]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "too_large");

    let chunk = vec![7u8; MAX_CHUNK_BYTES + 1];
    let (status, body) = put(&fx, &wang, &hash, 0, MAX_PHOTO_BYTES as usize, &chunk).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "too_large");

    // A chunk of exactly the limit is fine.
    let (status, body) = put(&fx, &wang, &hash, 0, MAX_PHOTO_BYTES as usize, &chunk[..MAX_CHUNK_BYTES]).await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({ "received": MAX_CHUNK_BYTES, "complete": false })));

    // A chunk that runs past the announced total, a zero total and a missing offset are bad requests.
    let (status, body) = put(&fx, &wang, &hash, MAX_CHUNK_BYTES, MAX_CHUNK_BYTES + 2, &[1, 2, 3]).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid")));
    assert_eq!(put(&fx, &wang, &hash, 0, 0, &[]).await.0, StatusCode::BAD_REQUEST);
    let uri = format!("/api/v1/photos/{hash}/upload?total=10");
    let (status, _, body) = authed(&fx, &wang, "PUT", &uri, vec![1]).await;
    let body = json_of(&body);
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid"), Some("offset"))
    );
    let uri = format!("/api/v1/photos/{hash}/upload?offset=0&total=-1");
    let (status, _, body) = authed(&fx, &wang, "PUT", &uri, vec![1]).await;
    assert_eq!((status, json_of(&body)["field"].as_str()), (StatusCode::BAD_REQUEST, Some("total")));
    let (_, body) = upload_status(&fx, &wang, &hash).await;
    assert_eq!(body, json!({ "received": MAX_CHUNK_BYTES, "complete": false }), "refused requests changed nothing");
}

#[tokio::test]
async fn malformed_hashes_are_not_found_and_touch_nothing() {
    let fx = setup(&[(0, "wang", Role::Manager)]);
    let wang = login(&fx, "wang").await;
    let good = photos::hash_of(b"x");
    let bad = [
        good.to_uppercase(),
        good[..63].to_string(),
        format!("{good}0"),
        format!("..%2F..%2F{}", &good[10..]),
        format!("{}g", &good[..63]),
        "%00".to_string(),
    ];
    for hash in &bad {
        let (status, body) = upload_status(&fx, &wang, hash).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{hash}");
        let (status, _) = put(&fx, &wang, hash, 0, 1, b"x").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{hash}");
        assert_eq!(get_photo(&fx, &wang, hash).await.0, StatusCode::NOT_FOUND, "{hash}");
    }
    assert!(!fx.dir.path().join("photos").exists(), "no request created anything");
    // And nothing without a signed-in user.
    let req = Request::get(format!("/api/v1/photos/{good}/upload")).body(Body::empty()).unwrap();
    assert_eq!(send(&fx, req).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn only_users_who_see_a_referencing_customer_read_a_photo() {
    let fx = setup(&[
        (0, "wang", Role::Manager),
        (0, "li", Role::Manager),
        (0, "zhao", Role::Supervisor),
        (1, "sun", Role::Supervisor),
    ]);
    let wang = login(&fx, "wang").await;
    let li = login(&fx, "li").await;
    let zhao = login(&fx, "zhao").await;
    let sun = login(&fx, "sun").await;
    let content = photo_bytes(50_000, 7);
    // Any signed-in user may upload; a photo is uploaded before the visit that references it.
    let hash = upload(&fx, &wang, &content, 20_000).await;
    let missing = photos::hash_of(b"never uploaded");
    let (status, _, not_there) = get_photo(&fx, &wang, &missing).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for s in [&wang, &li, &zhao, &sun] {
        let (status, _, body) = get_photo(&fx, s, &hash).await;
        assert_eq!((status, &body), (StatusCode::NOT_FOUND, &not_there), "not referenced yet");
    }

    put_document(&fx, "c1", &fx.branches[0], &format!("m:{}", wang.user_id));
    record_refs(&fx, "c1", &[(&hash, &wang.user_id)]);
    for s in [&wang, &zhao] {
        let (status, _, body) = get_photo(&fx, s, &hash).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.as_ref(), content.as_slice());
    }
    for s in [&li, &sun] {
        let (status, _, body) = get_photo(&fx, s, &hash).await;
        assert_eq!((status, &body), (StatusCode::NOT_FOUND, &not_there), "exactly like a missing photo");
    }

    // The customer goes to the pool: the branch's supervisor still sees it, its former owner no longer.
    put_document(&fx, "c1", &fx.branches[0], "pool");
    assert_eq!(get_photo(&fx, &zhao, &hash).await.0, StatusCode::OK);
    assert_eq!(get_photo(&fx, &wang, &hash).await.0, StatusCode::NOT_FOUND);
    // Deleted: nobody.
    put_document(&fx, "c1", &fx.branches[0], "deleted");
    assert_eq!(get_photo(&fx, &zhao, &hash).await.0, StatusCode::NOT_FOUND);

    // The refs of a customer are replaced: a photo the document no longer references is gone.
    put_document(&fx, "c1", &fx.branches[0], &format!("m:{}", wang.user_id));
    assert_eq!(get_photo(&fx, &wang, &hash).await.0, StatusCode::OK);
    record_refs(&fx, "c1", &[(&missing, &wang.user_id)]);
    assert_eq!(get_photo(&fx, &wang, &hash).await.0, StatusCode::NOT_FOUND);
    // Referenced and visible but never uploaded: the same 404.
    let (status, _, body) = get_photo(&fx, &wang, &missing).await;
    assert_eq!((status, &body), (StatusCode::NOT_FOUND, &not_there));
}

#[test]
fn record_refs_replaces_and_skips_malformed_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let (a, b) = (photos::hash_of(b"a"), photos::hash_of(b"b"));
    let refs = |customer: &str| -> Vec<String> {
        db.with(|c| {
            let mut stmt = c
                .prepare("SELECT hash || ' ' || manager_id FROM photo_refs WHERE customer_id = ?1 ORDER BY 1")
                .unwrap();
            stmt.query_map([customer], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        })
    };
    let upper = a.to_uppercase();
    let first = [(a.as_str(), "m1"), (a.as_str(), "m1"), ("../etc", "m1"), (upper.as_str(), "m1"), (a.as_str(), "m2")];
    db.with(|c| photos::record_refs(c, "c1", first)).unwrap();
    db.with(|c| photos::record_refs(c, "c2", [(a.as_str(), "m1")])).unwrap();
    assert_eq!(refs("c1"), vec![format!("{a} m1"), format!("{a} m2")], "one row per photo and visit manager");
    db.with(|c| photos::record_refs(c, "c1", [(b.as_str(), "m1")])).unwrap();
    assert_eq!(refs("c1"), vec![format!("{b} m1")]);
    assert_eq!(refs("c2"), vec![format!("{a} m1")], "other customers' refs are untouched");
    // Inside a caller's transaction it is part of that transaction.
    db.with(|c| {
        let tx = c.transaction().unwrap();
        photos::record_refs(&*tx, "c1", []).unwrap();
        drop(tx);
    });
    assert_eq!(refs("c1"), vec![format!("{b} m1")]);
}

/// The store's own record of a photo's owner: (uploader, branch).
fn owner_of(fx: &Fixture, hash: &str) -> Option<(String, String)> {
    fx.state.db.sqlite().expect("the SQLite store").with(|conn| photos::owner(conn, hash)).unwrap()
}

/// Rows of uploads in flight: (hash, received).
fn uploads_in_flight(fx: &Fixture, user_id: &str) -> Vec<(String, i64)> {
    fx.state.db.sqlite().expect("the SQLite store").with(|conn| {
        let mut stmt =
            conn.prepare("SELECT hash, received FROM photo_uploads WHERE user_id = ?1 ORDER BY hash").unwrap();
        stmt.query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    })
}

/// The partial files of one photo (any user's).
fn partials_of(fx: &Fixture, hash: &str) -> Vec<PathBuf> {
    partial_files(fx)
        .into_iter()
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(hash)))
        .collect()
}

const HOUR_MS: i64 = 3600 * 1000;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Moves an upload of `hash` back in time by `by_ms`, as if it had been left untouched that long:
/// its partial files' modification time and its rows in the store.
fn age_upload(fx: &Fixture, hash: &str, by_ms: i64) {
    for path in partials_of(fx, hash) {
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        let modified = file.metadata().unwrap().modified().unwrap();
        file.set_modified(modified - std::time::Duration::from_millis(by_ms as u64)).unwrap();
    }
    fx.state.db.sqlite().expect("the SQLite store").with(|conn| {
        conn.execute(
            "UPDATE photo_uploads SET started_at = started_at - ?2, updated_at = updated_at - ?2 WHERE hash = ?1",
            rusqlite::params![hash, by_ms],
        )
        .unwrap();
    });
}

/// Two managers and a supervisor of branch 0, a manager and a supervisor of branch 1: wang
/// uploads a photo and references it from his visit on his customer. Everyone else who knows the
/// hash and references it from a visit on their own customer (same branch or not) gets the 404
/// of a missing photo; wang and his branch's supervisor read it.
#[tokio::test]
async fn a_known_hash_referenced_from_anothers_visit_grants_nothing() {
    let fx = setup(&[
        (0, "wang", Role::Manager),
        (0, "li", Role::Manager),
        (0, "zhao", Role::Supervisor),
        (1, "qian", Role::Manager),
        (1, "sun", Role::Supervisor),
    ]);
    let (wang, li, zhao) = (login(&fx, "wang").await, login(&fx, "li").await, login(&fx, "zhao").await);
    let (qian, sun) = (login(&fx, "qian").await, login(&fx, "sun").await);
    let content = photo_bytes(40_000, 11);
    let hash = upload(&fx, &wang, &content, 16_000).await;
    assert_eq!(owner_of(&fx, &hash), Some((wang.user_id.clone(), fx.branches[0].clone())));
    let (_, _, not_there) = get_photo(&fx, &wang, &photos::hash_of(b"nothing")).await;

    put_document(&fx, "c-wang", &fx.branches[0], &format!("m:{}", wang.user_id));
    record_refs(&fx, "c-wang", &[(&hash, &wang.user_id)]);
    // Each attacker references the hash from a visit of their own on a customer they see in full.
    put_document(&fx, "c-li", &fx.branches[0], &format!("m:{}", li.user_id));
    record_refs(&fx, "c-li", &[(&hash, &li.user_id)]);
    put_document(&fx, "c-qian", &fx.branches[1], &format!("m:{}", qian.user_id));
    record_refs(&fx, "c-qian", &[(&hash, &qian.user_id)]);
    put_document(&fx, "c-sun", &fx.branches[1], "pool");
    record_refs(&fx, "c-sun", &[(&hash, &sun.user_id)]);
    // Even a reference under the uploader's name does not cross branches.
    put_document(&fx, "c-other", &fx.branches[1], &format!("m:{}", qian.user_id));
    record_refs(&fx, "c-other", &[(&hash, &wang.user_id)]);

    for s in [&li, &qian, &sun] {
        let (status, _, body) = get_photo(&fx, s, &hash).await;
        assert_eq!((status, &body), (StatusCode::NOT_FOUND, &not_there), "exactly like a missing photo");
    }
    for s in [&wang, &zhao] {
        let (status, _, body) = get_photo(&fx, s, &hash).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.as_ref(), content.as_slice());
    }

    // Without the uploader's own visit, the same customers grant nothing to anyone.
    record_refs(&fx, "c-wang", &[]);
    for s in [&wang, &li, &zhao, &qian, &sun] {
        assert_eq!(get_photo(&fx, s, &hash).await.0, StatusCode::NOT_FOUND);
    }
}

/// Access follows the customer the uploader's visit is on: reassigned, its new manager reads
/// the photo and the uploader no longer does; in the pool only supervisors; deleted, nobody.
#[tokio::test]
async fn access_follows_the_customer_of_the_uploaders_visit() {
    let fx = setup(&[(0, "wang", Role::Manager), (0, "li", Role::Manager), (0, "zhao", Role::Supervisor)]);
    let (wang, li, zhao) = (login(&fx, "wang").await, login(&fx, "li").await, login(&fx, "zhao").await);
    let hash = upload(&fx, &wang, &photo_bytes(30_000, 12), MIB).await;
    put_document(&fx, "c1", &fx.branches[0], &format!("m:{}", wang.user_id));
    record_refs(&fx, "c1", &[(&hash, &wang.user_id)]);
    let readers = async |fx: &Fixture| {
        let mut out = Vec::new();
        for s in [&wang, &li, &zhao] {
            out.push(get_photo(fx, s, &hash).await.0 == StatusCode::OK);
        }
        out
    };
    assert_eq!(readers(&fx).await, [true, false, true]);
    put_document(&fx, "c1", &fx.branches[0], &format!("m:{}", li.user_id));
    assert_eq!(readers(&fx).await, [false, true, true], "reassigned to li");
    put_document(&fx, "c1", &fx.branches[0], "pool");
    assert_eq!(readers(&fx).await, [false, false, true], "in the pool");
    put_document(&fx, "c1", &fx.branches[0], "closed");
    assert_eq!(readers(&fx).await, [false, false, true], "closed");
    put_document(&fx, "c1", &fx.branches[0], "deleted");
    assert_eq!(readers(&fx).await, [false, false, false], "deleted");
}

/// A second upload of a stored photo (a retry, a copy, or someone who holds the bytes) answers
/// "complete" without taking them, writes nothing, and does not make the sender an owner: their
/// own visits referencing it grant nothing. Their own unfinished upload of it is dropped.
#[tokio::test]
async fn a_dedup_upload_by_another_user_grants_nothing() {
    let fx = setup(&[(0, "wang", Role::Manager), (0, "li", Role::Manager)]);
    let (wang, li) = (login(&fx, "wang").await, login(&fx, "li").await);
    let content = photo_bytes(300_000, 13);
    let hash = photos::hash_of(&content);
    // li starts the same photo first but does not finish.
    assert_eq!(put(&fx, &li, &hash, 0, content.len(), &content[..100_000]).await.0, StatusCode::OK);
    assert_eq!(uploads_in_flight(&fx, &li.user_id), vec![(hash.clone(), 100_000)]);
    // wang's upload is his own (li's partial does not disturb it) and completes first.
    upload(&fx, &wang, &content, 120_000).await;
    assert_eq!(owner_of(&fx, &hash), Some((wang.user_id.clone(), fx.branches[0].clone())));
    let stored = std::fs::metadata(blob_path(&fx, &hash)).unwrap().modified().unwrap();

    // li goes on, or starts over with the whole photo: complete, nothing taken.
    for (offset, chunk) in [(100_000, &content[100_000..]), (0, &content[..])] {
        let (status, body) = put(&fx, &li, &hash, offset, content.len(), chunk).await;
        assert_eq!((status, &body), (StatusCode::OK, &json!({ "received": content.len(), "complete": true })));
    }
    assert!(partial_files(&fx).is_empty(), "li's partial of a stored photo is dropped");
    assert!(uploads_in_flight(&fx, &li.user_id).is_empty(), "and no longer counts against li's quota");
    assert_eq!(std::fs::metadata(blob_path(&fx, &hash)).unwrap().modified().unwrap(), stored, "not rewritten");
    assert_eq!(owner_of(&fx, &hash), Some((wang.user_id.clone(), fx.branches[0].clone())), "still wang's");

    put_document(&fx, "c-li", &fx.branches[0], &format!("m:{}", li.user_id));
    record_refs(&fx, "c-li", &[(&hash, &li.user_id)]);
    assert_eq!(get_photo(&fx, &li, &hash).await.0, StatusCode::NOT_FOUND);
}

/// A partial untouched for 24 hours is deleted by the sweep (any user's, with the time injected),
/// and by the next upload anyone starts; a younger one is kept, and the owner can resume it.
#[tokio::test]
async fn abandoned_partial_uploads_expire() {
    let fx = setup(&[(0, "wang", Role::Manager), (0, "li", Role::Manager)]);
    let (wang, li) = (login(&fx, "wang").await, login(&fx, "li").await);
    let old = photo_bytes(200_000, 14);
    let old_hash = photos::hash_of(&old);
    assert_eq!(put(&fx, &wang, &old_hash, 0, old.len(), &old[..50_000]).await.0, StatusCode::OK);
    let young = photo_bytes(200_000, 15);
    let young_hash = photos::hash_of(&young);
    assert_eq!(put(&fx, &li, &young_hash, 0, young.len(), &young[..70_000]).await.0, StatusCode::OK);
    // A partial of the layout before per-user partials, left by an older server.
    let legacy = fx.dir.path().join("photos").join("partial").join(format!("{}.part", photos::hash_of(b"legacy")));
    std::fs::write(&legacy, b"half a photo").unwrap();

    let now = now_ms();
    assert_eq!(photos::sweep_partials(fx.dir.path(), now).unwrap(), 0);
    assert_eq!(photos::sweep_partials(fx.dir.path(), now + photos::PARTIAL_TTL_MS - HOUR_MS).unwrap(), 0);
    assert_eq!(partial_files(&fx).len(), 3, "nothing is deleted before 24 hours");
    let later = now + photos::PARTIAL_TTL_MS + HOUR_MS;
    assert_eq!(photos::sweep_partials(fx.dir.path(), later).unwrap(), 3);
    assert!(partial_files(&fx).is_empty());
    assert_eq!(photos::sweep_partials(fx.dir.path(), later).unwrap(), 0, "nothing left to sweep");
    // Rows of the same age stop counting at the same time.
    let expired =
        fx.state.db.sqlite().expect("the SQLite store").with(|conn| photos::expire_uploads(conn, later)).unwrap();
    assert_eq!(expired, 2);
    assert!(uploads_in_flight(&fx, &wang.user_id).is_empty() && uploads_in_flight(&fx, &li.user_id).is_empty());

    // Through the server's own clock: wang's partial is left for a day, li's for an hour.
    assert_eq!(put(&fx, &wang, &old_hash, 0, old.len(), &old[..50_000]).await.0, StatusCode::OK);
    assert_eq!(put(&fx, &li, &young_hash, 0, young.len(), &young[..70_000]).await.0, StatusCode::OK);
    age_upload(&fx, &old_hash, photos::PARTIAL_TTL_MS + HOUR_MS);
    age_upload(&fx, &young_hash, HOUR_MS);
    // The next upload anyone starts clears the abandoned one.
    let other = photo_bytes(10_000, 16);
    upload(&fx, &li, &other, MIB).await;
    assert!(partials_of(&fx, &old_hash).is_empty(), "wang's abandoned partial is gone");
    assert!(uploads_in_flight(&fx, &wang.user_id).is_empty());
    assert_eq!(upload_status(&fx, &wang, &old_hash).await.1, json!({ "received": 0, "complete": false }));
    // li's is kept and resumes where it stopped.
    assert_eq!(upload_status(&fx, &li, &young_hash).await.1, json!({ "received": 70_000, "complete": false }));
    let (status, body) = put(&fx, &li, &young_hash, 70_000, young.len(), &young[70_000..]).await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({ "received": young.len(), "complete": true })));
    assert_eq!(std::fs::read(blob_path(&fx, &young_hash)).unwrap(), young);
}

/// The bytes of unfinished uploads one user holds are capped: the chunk that would pass the cap
/// is refused with 507 `photo_quota` and nothing is written; other users are not affected; an
/// upload abandoned for a day stops counting (and its file goes at the next upload started).
#[tokio::test]
async fn the_in_flight_quota_refuses_with_507_and_writes_nothing() {
    let fx = setup(&[(0, "wang", Role::Manager), (0, "li", Role::Manager)]);
    let (wang, li) = (login(&fx, "wang").await, login(&fx, "li").await);
    let total = photos::MAX_PHOTO_BYTES as usize;
    let chunk = vec![0x5au8; MIB];
    let cap = photos::MAX_PARTIAL_BYTES_PER_USER as usize;
    // Seven photos cut after 9 MiB: 63 MiB in flight.
    let cut: Vec<String> = (0..7u8).map(|i| photos::hash_of(&[i])).collect();
    for hash in &cut {
        for i in 0..9 {
            assert_eq!(put(&fx, &wang, hash, i * MIB, total, &chunk).await.0, StatusCode::OK);
        }
    }
    // The eighth photo may take exactly the last MiB, not one byte more.
    let last = photos::hash_of(b"eighth");
    assert_eq!(put(&fx, &wang, &last, 0, total, &chunk).await.0, StatusCode::OK);
    let in_flight: i64 = uploads_in_flight(&fx, &wang.user_id).iter().map(|(_, n)| n).sum();
    assert_eq!(in_flight as usize, cap);
    let before = (partial_files(&fx).len(), std::fs::metadata(&partials_of(&fx, &last)[0]).unwrap().len());
    let (status, body) = put(&fx, &wang, &last, MIB, total, b"x").await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert_eq!(body["code"], "photo_quota");
    assert!(body["message_zh"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(body["message_en"].as_str().is_some_and(|m| m.contains("quota")));
    // A new photo is refused the same way, before anything reaches the disk.
    let fresh = photos::hash_of(b"ninth");
    assert_eq!(put(&fx, &wang, &fresh, 0, 10, b"0123456789").await.0, StatusCode::INSUFFICIENT_STORAGE);
    assert!(!blob_path(&fx, &fresh).exists());
    assert_eq!((partial_files(&fx).len(), std::fs::metadata(&partials_of(&fx, &last)[0]).unwrap().len()), before);
    assert_eq!(upload_status(&fx, &wang, &last).await.1, json!({ "received": MIB, "complete": false }));
    let in_flight: i64 = uploads_in_flight(&fx, &wang.user_id).iter().map(|(_, n)| n).sum();
    assert_eq!(in_flight as usize, cap, "the refused chunks reserved nothing");

    // The quota is per user: li uploads freely.
    upload(&fx, &li, &photo_bytes(50_000, 17), MIB).await;

    // One of wang's uploads is left for a day: it stops counting, so the refused chunk now fits.
    age_upload(&fx, &cut[1], photos::PARTIAL_TTL_MS + HOUR_MS);
    assert_eq!(put(&fx, &wang, &last, MIB, total, b"x").await.0, StatusCode::OK);
    assert!(uploads_in_flight(&fx, &wang.user_id).iter().all(|(h, _)| *h != cut[1]));
    // Its file goes at the next upload anyone starts.
    let small = photo_bytes(MIB, 18);
    upload(&fx, &li, &small, MIB).await;
    assert!(partials_of(&fx, &cut[1]).is_empty());
    assert_eq!(partials_of(&fx, &cut[2]).len(), 1, "the others are kept");
}

#[tokio::test]
async fn the_number_of_unfinished_uploads_per_user_is_capped() {
    let fx = setup(&[(0, "wang", Role::Manager)]);
    let wang = login(&fx, "wang").await;
    let cap = photos::MAX_PARTIALS_PER_USER as u8;
    for i in 0..cap {
        assert_eq!(put(&fx, &wang, &photos::hash_of(&[i]), 0, 100, b"x").await.0, StatusCode::OK);
    }
    let one_more = photos::hash_of(&[cap]);
    let (status, body) = put(&fx, &wang, &one_more, 0, 100, b"x").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::INSUFFICIENT_STORAGE, Some("photo_quota")));
    assert!(partials_of(&fx, &one_more).is_empty());
    assert_eq!(partial_files(&fx).len(), usize::from(cap));
    // Those already started go on.
    assert_eq!(put(&fx, &wang, &photos::hash_of(&[0]), 1, 100, b"y").await.0, StatusCode::OK);
}

/// Completed photo bytes per user in any 24 hours are capped (the store's ledger of completed
/// photos, here filled as if earlier uploads had happened): a photo that would pass the cap is
/// refused with 507 at its first chunk and nothing is written; one that fits exactly goes in and
/// is charged; older completions and other users do not count.
#[tokio::test]
async fn the_daily_quota_refuses_with_507_and_writes_nothing() {
    let fx = setup(&[(0, "wang", Role::Manager), (0, "li", Role::Manager)]);
    let (wang, li) = (login(&fx, "wang").await, login(&fx, "li").await);
    let daily = photos::MAX_DAILY_BYTES_PER_USER as i64;
    let now = now_ms();
    fx.state.db.sqlite().expect("the SQLite store").with(|conn| {
        let mut insert = conn
            .prepare(
                "INSERT INTO photos (hash, uploader_id, branch_id, bytes, completed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .unwrap();
        let rows = [
            // Earlier today: all but 1,000 bytes of wang's quota.
            ("a", &wang.user_id, daily - 1_000, now - 3 * HOUR_MS),
            // Yesterday's: no longer counts.
            ("b", &wang.user_id, daily, now - 25 * HOUR_MS),
            // Another user's: not wang's.
            ("c", &li.user_id, 5 * daily, now - HOUR_MS),
        ];
        for (seed, user, bytes, at) in rows {
            insert
                .execute(rusqlite::params![photos::hash_of(seed.as_bytes()), user, fx.branches[0], bytes, at])
                .unwrap();
        }
    });
    let used = fx
        .state
        .db
        .sqlite()
        .expect("the SQLite store")
        .with(|conn| photos::completed_recently(conn, &wang.user_id, "", now))
        .unwrap();
    assert_eq!(used as i64, daily - 1_000);

    let too_big = photo_bytes(1_001, 19);
    let hash = photos::hash_of(&too_big);
    let (status, body) = put(&fx, &wang, &hash, 0, too_big.len(), &too_big).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::INSUFFICIENT_STORAGE, Some("photo_quota")), "{body}");
    assert!(!blob_path(&fx, &hash).exists() && partial_files(&fx).is_empty(), "nothing written");
    assert!(owner_of(&fx, &hash).is_none() && uploads_in_flight(&fx, &wang.user_id).is_empty());

    let fits = photo_bytes(1_000, 20);
    let fits_hash = upload(&fx, &wang, &fits, 400).await;
    assert_eq!(owner_of(&fx, &fits_hash), Some((wang.user_id.clone(), fx.branches[0].clone())));
    let used = fx
        .state
        .db
        .sqlite()
        .expect("the SQLite store")
        .with(|conn| photos::completed_recently(conn, &wang.user_id, "", now_ms()))
        .unwrap();
    assert_eq!(used as i64, daily, "the completed photo is charged");
    let (status, _) = put(&fx, &wang, &photos::hash_of(b"1"), 0, 1, b"1").await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "not one byte more today");
    // A photo already stored costs nothing: it is not taken again.
    let (status, body) = put(&fx, &wang, &fits_hash, 0, fits.len(), &fits).await;
    assert_eq!((status, body["complete"].as_bool()), (StatusCode::OK, Some(true)));
    // li is not affected by wang's quota (li's 5x row is li's own problem: li is over).
    let (status, _) = put(&fx, &li, &hash, 0, too_big.len(), &too_big).await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE);
    fx.state
        .db
        .sqlite()
        .expect("the SQLite store")
        .with(|conn| conn.execute("DELETE FROM photos WHERE uploader_id = ?1", [&li.user_id]))
        .unwrap();
    upload(&fx, &li, &too_big, MIB).await;
    assert_eq!(owner_of(&fx, &hash).map(|(u, _)| u), Some(li.user_id.clone()));
}

/// The order of a completing upload: the content is verified, its owner committed, then the blob
/// appears by one rename. A crash after the owner was committed and before the rename leaves the
/// verified partial and no blob; the device's next attempt (status says not complete, so it
/// starts over) publishes it, and the owner stays the first uploader.
#[tokio::test]
async fn a_crash_between_the_owner_and_the_rename_is_finished_by_the_next_attempt() {
    let fx = setup(&[(0, "wang", Role::Manager), (0, "zhao", Role::Supervisor)]);
    let (wang, zhao) = (login(&fx, "wang").await, login(&fx, "zhao").await);
    let content = photo_bytes(300_000, 21);
    let hash = photos::hash_of(&content);
    // All but the last chunk through the server; no blob exists before the whole is in.
    assert_eq!(put(&fx, &wang, &hash, 0, content.len(), &content[..200_000]).await.0, StatusCode::OK);
    assert!(!blob_path(&fx, &hash).exists());
    assert!(owner_of(&fx, &hash).is_none(), "no owner before the content is verified");
    // The state a crash leaves after the last chunk was written and the owner committed.
    let partial = partials_of(&fx, &hash).pop().unwrap();
    std::fs::OpenOptions::new().append(true).open(&partial).unwrap().write_all(&content[200_000..]).unwrap();
    fx.state.db.sqlite().expect("the SQLite store").with(|conn| {
        conn.execute(
            "INSERT INTO photos (hash, uploader_id, branch_id, bytes, completed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![hash, wang.user_id, fx.branches[0], content.len() as i64, now_ms()],
        )
        .unwrap();
    });
    // Nothing is served from a partial.
    put_document(&fx, "c1", &fx.branches[0], &format!("m:{}", wang.user_id));
    record_refs(&fx, "c1", &[(&hash, &wang.user_id)]);
    assert_eq!(get_photo(&fx, &zhao, &hash).await.0, StatusCode::NOT_FOUND);

    // The device asks where to resume: everything is in but not complete, so it starts over.
    let (_, body) = upload_status(&fx, &wang, &hash).await;
    assert_eq!(body, json!({ "received": content.len(), "complete": false }));
    upload(&fx, &wang, &content, 128 * 1024).await;
    assert_eq!(std::fs::read(blob_path(&fx, &hash)).unwrap(), content);
    assert!(partial_files(&fx).is_empty() && uploads_in_flight(&fx, &wang.user_id).is_empty());
    assert_eq!(owner_of(&fx, &hash), Some((wang.user_id.clone(), fx.branches[0].clone())));
    let (status, _, body) = get_photo(&fx, &zhao, &hash).await;
    assert_eq!((status, body.as_ref()), (StatusCode::OK, content.as_slice()));
}

/// Content that does not match its name never becomes a blob and never makes an owner.
#[tokio::test]
async fn a_wrong_content_makes_no_owner() {
    let fx = setup(&[(0, "wang", Role::Manager), (0, "li", Role::Manager)]);
    let (wang, li) = (login(&fx, "wang").await, login(&fx, "li").await);
    let content = photo_bytes(20_000, 22);
    let hash = photos::hash_of(&content);
    let (status, body) = put(&fx, &li, &hash, 0, content.len(), &photo_bytes(20_000, 23)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("hash_mismatch")));
    assert!(owner_of(&fx, &hash).is_none() && uploads_in_flight(&fx, &li.user_id).is_empty());
    upload(&fx, &wang, &content, MIB).await;
    assert_eq!(owner_of(&fx, &hash).map(|(u, _)| u), Some(wang.user_id.clone()));
}

/// A store from before photos had owners (schema 3) kept blobs that nobody could read after the
/// upgrade: the next start records each customer's references again from its document and gives
/// each blob to the manager of the visit that references it, once.
#[tokio::test]
async fn photos_stored_before_owners_were_recorded_are_adopted_at_the_next_start() {
    use fieldsync_core::document::CustomerDoc;
    use fieldsync_core::domain::{Action, Ctx, CustomerKind, Owner, Profile, Role as DomainRole};
    let fx = setup(&[(0, "wang", Role::Manager), (0, "zhao", Role::Supervisor)]);
    let wang = login(&fx, "wang").await;
    let content = photo_bytes(40_000, 11);
    let hash = upload(&fx, &wang, &content, 40_000).await;
    // Wang's customer, with a visit of his that references the photo, as the server stores it.
    let ctx = |role| Ctx { user_id: wang.user_id.clone(), user_name: "王".into(), role, now: now_ms() };
    let actor = automerge::ActorId::random();
    let id = fieldsync_core::ids::new_id();
    let profile = Profile::new(CustomerKind::Individual, "张三", "韩桥村");
    let create = Action::CreateCustomer { id: id.clone(), profile };
    let (mut doc, _) = CustomerDoc::create(&actor, &create, &ctx(DomainRole::Manager)).unwrap();
    let owner = Owner { manager_id: Some(wang.user_id.clone()), manager_name: Some("王".into()) };
    doc.apply(&Action::assign(owner), &ctx(DomainRole::Server)).unwrap();
    let mut rng = fieldsync_core::workload::SplitMix64::new(5);
    let mut visit = fieldsync_core::workload::recorded_visit(&mut rng, "v1", now_ms() - 3_600_000, 30.5, 114.3);
    if let Action::RecordVisit { details, .. } = &mut visit {
        details.photos = vec![hash.clone()];
    }
    doc.apply(&visit, &ctx(DomainRole::Manager)).unwrap();
    let branch = fx.branches[0].clone();
    let bytes = doc.save();
    fx.state.db.write_blocking(|s| fieldsync_server::customers::store_server_changes(s, &branch, &id, &bytes)).unwrap();
    let zhao = login(&fx, "zhao").await;
    assert_eq!(get_photo(&fx, &zhao, &hash).await.0, StatusCode::OK);

    // As an upgraded store from before schema 3 had it: no owners, no references, and the
    // migration's request for the one-time pass.
    fx.state.db.sqlite().expect("the SQLite store").with(|conn| {
        conn.execute_batch(
            "DELETE FROM photos; DELETE FROM photo_refs;
             INSERT INTO server_meta (key, value) VALUES ('upgrade:adopt_photos', x'01');",
        )
        .unwrap();
    });
    assert_eq!(get_photo(&fx, &zhao, &hash).await.0, StatusCode::NOT_FOUND);
    let Fixture { dir, state, branches } = fx;
    drop(state);
    let db = Db::open(dir.path()).unwrap();
    let fx = Fixture { state: AppState::new(dir.path().to_path_buf(), db), dir, branches };
    assert_eq!(owner_of(&fx, &hash).map(|(uploader, _)| uploader), Some(wang.user_id.clone()));
    let (status, _, body) = get_photo(&fx, &zhao, &hash).await;
    assert_eq!((status, body.as_ref()), (StatusCode::OK, content.as_slice()));
    // Once: the request is gone, and a later start changes nothing.
    let pending: bool = fx
        .state
        .db
        .sqlite()
        .expect("the SQLite store")
        .with(|c| c.query_row("SELECT EXISTS (SELECT 1 FROM server_meta WHERE key LIKE 'upgrade:%')", [], |r| r.get(0)))
        .unwrap();
    assert!(!pending);
}

/// The migration to schema 4 asks for the pass only in a store that holds documents.
#[test]
fn the_migration_asks_for_the_photo_pass_only_where_there_are_documents() {
    use fieldsync_server::store::schema;
    let pending = |with_document: bool| {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        schema::migrate_to(&mut conn, 3).unwrap();
        if with_document {
            conn.execute(
                "INSERT INTO documents (customer_id, branch_id, scope, updated_seq) VALUES ('c1', 'b1', 'pool', 1)",
                [],
            )
            .unwrap();
        }
        schema::migrate(&mut conn).unwrap();
        conn.query_row("SELECT EXISTS (SELECT 1 FROM server_meta WHERE key = 'upgrade:adopt_photos')", [], |r| {
            r.get::<_, bool>(0)
        })
        .unwrap()
    };
    assert!(pending(true));
    assert!(!pending(false));
}
