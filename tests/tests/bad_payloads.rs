//! Hostile and broken sync requests against the real server over HTTP: each gets a clear answer
//! and leaves the server's documents exactly as they were.

use std::time::Duration;

use fieldsync_core::document::CustomerDoc;
use fieldsync_core::domain::{Action, Ctx, CustomerKind, Profile, Role, ValueTier};
use fieldsync_core::store::{Store, User};
use fieldsync_core::sync::protocol::{self, DocChanges, PushOutcome, SyncRequest, SyncResponse};
use fieldsync_tests::{PASSWORD, TestServer, device, now_ms, sync};

struct Client {
    agent: ureq::Agent,
    url: String,
    token: String,
    device_id: String,
}

impl Client {
    /// Signs in a made-up device whose changes are made under `actor` (a tampered app's store).
    fn login(url: &str, username: &str, actor: &automerge::ActorId) -> Client {
        let device_id = fieldsync_core::ids::new_id();
        let session = fieldsync_ffi::transport::login(
            url,
            &Default::default(),
            username,
            PASSWORD,
            &device_id,
            &actor.to_hex_string(),
        )
        .unwrap();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client { agent, url: url.to_string(), token: session.token, device_id }
    }

    /// Posts raw bytes to the sync endpoint; returns the status and body.
    fn post(&self, body: &[u8], authed: bool) -> (u16, Vec<u8>) {
        let mut request = self.agent.post(format!("{}/api/v1/sync", self.url)).header("x-device-id", &self.device_id);
        if authed {
            request = request.header("authorization", &format!("Bearer {}", self.token));
        }
        match request.send(body) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let body = response.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap_or_default();
                (status, body)
            }
            // The server may close the connection on an oversized body before reading it.
            Err(e) => (0, e.to_string().into_bytes()),
        }
    }

    fn sync(&self, request: &SyncRequest) -> SyncResponse {
        let (status, body) = self.post(&protocol::encode(request), true);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        protocol::decode(&body).unwrap()
    }
}

fn code(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert!(v["message_zh"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(v["message_en"].as_str().is_some_and(|m| !m.is_empty()));
    v["code"].as_str().unwrap().to_string()
}

#[test]
fn bad_sync_requests_get_clear_answers_and_change_nothing() {
    let (server, _branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut profile = Profile::new(CustomerKind::Individual, "张三", "韩桥村");
    profile.phone = Some("13812345678".into());
    let customer = m1.store().create_customer(profile, now_ms()).unwrap();
    sync(&mut m1).unwrap();
    let before = server.documents_fingerprint();
    // The tampered app's own store, whose actor its device registers.
    let mut forger = Store::open(dir.path().join("forger.db"), None).unwrap();
    let client = Client::login(&server.url(), "m1", forger.actor());

    // Not a frame, a truncated frame, a frame from a newer protocol, no credentials.
    let (status, body) = client.post(b"GET / HTTP/1.1\r\n\r\n", true);
    assert_eq!((status, code(&body).as_str()), (400, "bad_frame"));
    let good = protocol::encode(&SyncRequest {
        cursor: 1,
        push: vec![DocChanges { customer_id: customer.clone(), changes: vec![1; 500] }],
        ..Default::default()
    });
    for cut in [1, 4, 5, good.len() / 2, good.len() - 1] {
        let (status, body) = client.post(&good[..cut], true);
        assert_eq!(status, 400, "cut at {cut}");
        assert_eq!(code(&body), "bad_frame");
    }
    let mut newer = good.clone();
    newer[3] = protocol::VERSION + 1;
    let (status, body) = client.post(&newer, true);
    assert_eq!((status, code(&body).as_str()), (426, "upgrade_required"));
    let (status, body) = client.post(&good, false);
    assert_eq!((status, code(&body).as_str()), (401, "unauthenticated"));
    // Oversized: refused before it is read whole.
    let (status, _) = client.post(&vec![0u8; fieldsync_server::limits::MAX_BODY + 1], true);
    assert!(status == 413 || status == 0, "{status}");

    // Garbage changes inside a valid frame: that document is refused, the answer is well formed.
    let answer = client.sync(&SyncRequest {
        cursor: 1,
        push: vec![DocChanges { customer_id: customer.clone(), changes: b"not automerge".to_vec() }],
        ..Default::default()
    });
    assert_eq!(answer.pushed[0].outcome, PushOutcome::Corrupt);

    // A customer "created" under another user's name.
    forger.sign_in(User { id: "someone-else".into(), name: "x".into(), role: Role::Manager }).unwrap();
    let forged = forger.create_customer(Profile::new(CustomerKind::Individual, "李四", "韩桥村"), now_ms()).unwrap();
    let changes = forger.document_changes(&forged).unwrap();
    let answer = client.sync(&SyncRequest {
        cursor: 1,
        push: vec![DocChanges { customer_id: forged.clone(), changes }],
        ..Default::default()
    });
    assert!(matches!(&answer.pushed[0].outcome, PushOutcome::Refused(r) if r.code == "forged_author"), "{answer:?}");

    // A manager's change to a server-decided field (the value tier), crafted outside the store,
    // which would refuse it.
    let bytes = m1.store().document_changes(&customer).unwrap();
    let mut doc = CustomerDoc::load(&customer, &bytes, forger.actor()).unwrap();
    let heads = doc.heads();
    let user_id = m1.store().user().unwrap().id.clone();
    let ctx = Ctx { user_id, user_name: String::new(), role: Role::Server, now: now_ms() };
    doc.apply(&Action::SetValueTier { tier: Some(ValueTier::PrivateBanking), as_of: None }, &ctx).unwrap();
    let tier_change = doc.changes_since(&heads);
    let answer = client.sync(&SyncRequest {
        cursor: 1,
        push: vec![DocChanges { customer_id: customer.clone(), changes: tier_change }],
        ..Default::default()
    });
    assert!(matches!(&answer.pushed[0].outcome, PushOutcome::Refused(r) if r.code == "server_decided"), "{answer:?}");
    let refused = format!("{answer:?}");
    assert!(!refused.contains("13812345678"), "refusals carry no personal data");

    // A change made on m1's own tablet, pushed from another device of the same user: refused,
    // so nobody takes the sequence numbers that tablet's next change needs.
    let mut tablet_doc = CustomerDoc::load(&customer, &bytes, m1.store().actor()).unwrap();
    let heads = tablet_doc.heads();
    let mut profile = tablet_doc.file().profile.clone();
    profile.occupation = "养殖户".into();
    let ctx = Ctx {
        user_id: m1.store().user().unwrap().id.clone(),
        user_name: String::new(),
        role: Role::Manager,
        now: now_ms(),
    };
    tablet_doc.apply(&Action::UpdateProfile { profile }, &ctx).unwrap();
    let answer = client.sync(&SyncRequest {
        cursor: 1,
        push: vec![DocChanges { customer_id: customer.clone(), changes: tablet_doc.changes_since(&heads) }],
        ..Default::default()
    });
    assert!(matches!(&answer.pushed[0].outcome, PushOutcome::Refused(r) if r.code == "foreign_actor"), "{answer:?}");

    // Another branch's customers: pushing or fetching them is answered as if they did not exist.
    let other = Client::login(&server.url(), "sup2", &fieldsync_core::ids::new_actor());
    let answer = other.sync(&SyncRequest { cursor: 1, fetch: vec![customer.clone()], ..Default::default() });
    assert!(answer.snapshots.is_empty());
    assert_eq!(answer.gone, vec![customer.clone()]);
    let bytes = m1.store().document_changes(&customer).unwrap();
    let answer = other.sync(&SyncRequest {
        cursor: 1,
        push: vec![DocChanges { customer_id: customer.clone(), changes: bytes }],
        ..Default::default()
    });
    assert_eq!(answer.pushed[0].outcome, PushOutcome::NotFound);
    let missing = other.sync(&SyncRequest {
        cursor: 1,
        fetch: vec!["0198aaaa-0000-7000-8000-00000000abcd".into()],
        ..Default::default()
    });
    assert_eq!(missing.gone.len(), 1, "a customer that does not exist looks the same");
    // Malformed IDs are dropped, never used.
    let answer = client.sync(&SyncRequest {
        cursor: 1,
        fetch: vec!["../../etc/passwd".into(), String::new()],
        ..Default::default()
    });
    assert!(answer.snapshots.is_empty());

    assert_eq!(server.documents_fingerprint(), before, "nothing changed on the server");
    // The legitimate device still syncs normally.
    sync(&mut m1).unwrap();
}
