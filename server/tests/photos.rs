//! Photo blobs over the real router (`app()` driven with `oneshot`, no socket): chunked and
//! resumed uploads, deduplication, verification, limits, malformed names and who may read a photo.

use std::path::PathBuf;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use fieldsync_server::accounts::{self, NewUser, Role};
use fieldsync_server::db::Db;
use fieldsync_server::photos::{self, MAX_CHUNK_BYTES, MAX_PHOTO_BYTES};
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
    fx.state.db.with(|conn| {
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

fn record_refs(fx: &Fixture, customer_id: &str, hashes: &[&str]) {
    let hashes: Vec<String> = hashes.iter().map(|h| h.to_string()).collect();
    fx.state.db.with(|conn| photos::record_refs(conn, customer_id, &hashes)).unwrap();
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
    record_refs(&fx, "c1", &[&hash]);
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
    record_refs(&fx, "c1", &[&hash]);
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
    record_refs(&fx, "c1", &[&missing]);
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
            let mut stmt = c.prepare("SELECT hash FROM photo_refs WHERE customer_id = ?1 ORDER BY hash").unwrap();
            stmt.query_map([customer], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        })
    };
    db.with(|c| photos::record_refs(c, "c1", &[a.clone(), a.clone(), "../etc".into(), a.to_uppercase()])).unwrap();
    db.with(|c| photos::record_refs(c, "c2", std::slice::from_ref(&a))).unwrap();
    assert_eq!(refs("c1"), vec![a.clone()]);
    db.with(|c| photos::record_refs(c, "c1", std::slice::from_ref(&b))).unwrap();
    assert_eq!(refs("c1"), vec![b.clone()]);
    assert_eq!(refs("c2"), vec![a.clone()], "other customers' refs are untouched");
    // Inside a caller's transaction it is part of that transaction.
    db.with(|c| {
        let tx = c.transaction().unwrap();
        photos::record_refs(&tx, "c1", &[]).unwrap();
        drop(tx);
    });
    assert_eq!(refs("c1"), vec![b]);
}
