//! What an attacker's tools look like in the end-to-end tests: a raw HTTP client signed in as a
//! tampered app (its own device ID and automerge actor), changes forged with the core's own rules
//! or written straight into automerge, and changes crafted to panic automerge 0.12 (copied from
//! `core/tests/crafted_changes.rs`: a real change decoded, altered and encoded again, so only the
//! alteration is malformed and the checksum and hash are valid).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use automerge::legacy::{ObjectId, OpId};
use automerge::sync::{ChunkList, Message, MessageVersion};
use automerge::{ActorId, AutoCommit, Change, ExpandedChange, ObjType, ROOT, ReadDoc};
use fieldsync_core::document::{CustomerDoc, parse_changes};
use fieldsync_core::domain::{Action, Ctx, CustomerFile, Role};
use fieldsync_core::sync::protocol::{self, DocChanges, PushOutcome, SyncMessage, SyncRequest, SyncResponse};
use fieldsync_ffi::Device;
use fieldsync_server::accounts::{self, NewUser};

use crate::{PASSWORD, TestServer};

/// A signed-in client speaking raw HTTP, as a tampered app would.
pub struct Client {
    agent: ureq::Agent,
    pub url: String,
    pub token: String,
    pub device_id: String,
    /// The signed-in user's ID.
    pub user_id: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

fn read(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Vec<u8>) {
    match response {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let body = response.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap_or_default();
            (status, body)
        }
        // The server may close the connection on an oversized body before reading it.
        Err(e) => (0, e.to_string().into_bytes()),
    }
}

/// `POST /api/v1/login` with a raw body; returns the status and body.
pub fn raw_login(url: &str, body: &[u8]) -> (u16, Vec<u8>) {
    read(agent().post(format!("{url}/api/v1/login")).header("content-type", "application/json").send(body))
}

/// `GET /readyz`'s status: the store and the sync commit path answer (`/healthz` says only that
/// the process does).
pub fn healthz(url: &str) -> u16 {
    read(agent().get(format!("{url}/readyz")).call()).0
}

/// The code of an error answer, checking it carries both messages.
pub fn error_code(body: &[u8]) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(body).unwrap_or_else(|_| panic!("not a JSON error: {}", String::from_utf8_lossy(body)));
    assert!(v["message_zh"].as_str().is_some_and(|m| !m.is_empty()), "no Chinese message: {v}");
    assert!(v["message_en"].as_str().is_some_and(|m| !m.is_empty()), "no English message: {v}");
    v["code"].as_str().unwrap_or_default().to_string()
}

impl Client {
    /// Signs in `username` on `device_id`, registering `actor`; the error's status and code.
    pub fn login(url: &str, username: &str, device_id: &str, actor: &ActorId) -> Result<Client, (u16, String)> {
        let body = serde_json::json!({
            "username": username, "password": PASSWORD, "device_id": device_id, "actor": actor.to_hex_string(),
        });
        let (status, bytes) = raw_login(url, body.to_string().as_bytes());
        if status != 200 {
            return Err((status, error_code(&bytes)));
        }
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        Ok(Client {
            agent: agent(),
            url: url.to_string(),
            token: v["token"].as_str().unwrap().to_string(),
            device_id: device_id.to_string(),
            user_id: v["user"]["id"].as_str().unwrap().to_string(),
        })
    }

    /// Signs in on a new device ID.
    pub fn login_new(url: &str, username: &str, actor: &ActorId) -> Client {
        Client::login(url, username, &fieldsync_core::ids::new_id(), actor)
            .unwrap_or_else(|e| panic!("{username} signs in: {e:?}"))
    }

    /// A real device's own credentials, used by a tampered copy of its app.
    pub fn of_device(device: &mut Device) -> Client {
        let store = device.store();
        let url = store.setting("server").unwrap().expect("signed in");
        let token = store.setting("token").unwrap().expect("signed in");
        let user_id = store.user().expect("signed in").id.clone();
        Client { agent: agent(), url, token, device_id: device.device_id().unwrap(), user_id }
    }

    /// The same device presenting another token.
    pub fn with_token(&self, token: &str) -> Client {
        Client {
            agent: agent(),
            url: self.url.clone(),
            token: token.to_string(),
            device_id: self.device_id.clone(),
            user_id: self.user_id.clone(),
        }
    }

    /// Another device ID presenting this client's token.
    pub fn on_device(&self, device_id: &str) -> Client {
        Client { device_id: device_id.to_string(), ..self.with_token(&self.token) }
    }

    fn authed<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        request.header("authorization", &format!("Bearer {}", self.token)).header("x-device-id", &self.device_id)
    }

    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let request = self.authed(self.agent.post(format!("{}{path}", self.url))).header("content-type", content_type);
        read(request.send(body))
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> (u16, Vec<u8>) {
        self.post(path, "application/json", body.to_string().as_bytes())
    }

    pub fn get(&self, path: &str) -> (u16, Vec<u8>) {
        read(self.authed(self.agent.get(format!("{}{path}", self.url))).call())
    }

    /// Posts a raw frame to the sync endpoint.
    pub fn post_sync(&self, frame: &[u8]) -> (u16, Vec<u8>) {
        self.post("/api/v1/sync", protocol::CONTENT_TYPE, frame)
    }

    /// One sync round trip that must be answered 200.
    pub fn sync(&self, request: &SyncRequest) -> SyncResponse {
        let (status, body) = self.post_sync(&protocol::encode(request));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        protocol::decode(&body).unwrap()
    }

    /// Pushes one document's changes; returns its outcome.
    pub fn push(&self, customer_id: &str, changes: Vec<u8>) -> PushOutcome {
        let answer = self.sync(&SyncRequest {
            cursor: 1,
            push: vec![DocChanges { customer_id: customer_id.to_string(), changes }],
            ..Default::default()
        });
        assert_eq!(answer.pushed.len(), 1, "{answer:?}");
        answer.pushed[0].outcome.clone()
    }

    /// Sends one reconciliation message; returns the whole answer.
    pub fn reconcile(&self, customer_id: &str, message: Vec<u8>) -> SyncResponse {
        self.sync(&SyncRequest {
            cursor: 1,
            reconcile: vec![SyncMessage { customer_id: customer_id.to_string(), message }],
            ..Default::default()
        })
    }
}

/// The refusal code of an outcome, or a description of what else it was.
pub fn refusal(outcome: &PushOutcome) -> String {
    match outcome {
        PushOutcome::Refused(r) => {
            assert!(!r.message_zh.is_empty() && !r.message_en.is_empty(), "{r:?}");
            r.code.clone()
        }
        other => format!("{other:?}"),
    }
}

/// Adds a user to a running server's store (one password hash).
pub fn add_user(server: &TestServer, branch_id: &str, username: &str, name: &str, role: accounts::Role) -> String {
    let new = NewUser { branch_id, outlet_id: None, username, display_name: name, role, password: PASSWORD };
    server.write(|s| accounts::create_user(s, &new, 0, "test")).unwrap()
}

/// The server's automerge actor.
pub fn server_actor(server: &TestServer) -> ActorId {
    server.write(|s| s.server_actor()).unwrap()
}

/// The server's stored document of a customer: its whole history, as bytes.
pub fn server_bytes(server: &TestServer, customer_id: &str) -> Vec<u8> {
    let actor = ActorId::random();
    let mut doc = server.write(|s| fieldsync_server::customers::load(s, customer_id, &actor)).unwrap().expect("stored");
    doc.save()
}

/// The server's stored file of a customer.
pub fn server_file(server: &TestServer, customer_id: &str) -> CustomerFile {
    let bytes = server_bytes(server, customer_id);
    CustomerDoc::load(customer_id, &bytes, &ActorId::random()).unwrap().file().clone()
}

/// The change a tampered app builds with the core's own rules, under `actor`, on top of `bytes`:
/// `role` is whatever lets the core build it (e.g. `Server` for server-decided fields).
pub fn forge(
    bytes: &[u8],
    customer_id: &str,
    actor: &ActorId,
    action: &Action,
    user: (&str, &str),
    role: Role,
) -> Vec<u8> {
    let mut doc = CustomerDoc::load(customer_id, bytes, actor).unwrap();
    let heads = doc.heads();
    let ctx = Ctx { user_id: user.0.to_string(), user_name: user.1.to_string(), role, now: crate::now_ms() };
    doc.apply(action, &ctx).unwrap().expect("the action changes the document");
    doc.changes_since(&heads)
}

/// A change written straight into automerge under `actor` (what no action of the core can do,
/// e.g. deleting a record).
pub fn forge_raw(bytes: &[u8], actor: &ActorId, edit: impl FnOnce(&mut AutoCommit)) -> Vec<u8> {
    let mut doc = AutoCommit::load(bytes).unwrap().with_actor(actor.clone());
    let heads = doc.get_heads();
    edit(&mut doc);
    doc.commit();
    doc.save_after(&heads)
}

/// The map object under the document root's `key` (e.g. `visits`), and then under `sub` of it.
pub fn map_at(doc: &AutoCommit, path: &[&str]) -> automerge::ObjId {
    let mut obj = ROOT;
    for key in path {
        match doc.get(&obj, *key).unwrap() {
            Some((automerge::Value::Object(ObjType::Map), id)) => obj = id,
            other => panic!("no map at {key}: {other:?}"),
        }
    }
    obj
}

/// `change` decoded, altered by `f`, and encoded again with a fresh checksum and hash.
pub fn recode(change: &Change, f: impl FnOnce(&mut ExpandedChange)) -> Change {
    let mut expanded = change.decode();
    f(&mut expanded);
    Change::from(expanded)
}

/// The one change in `bytes`.
pub fn single(bytes: &[u8]) -> Change {
    let mut changes = parse_changes(bytes).unwrap();
    assert_eq!(changes.len(), 1);
    changes.pop().unwrap()
}

/// The three kinds of crafted change the issue names, each made from `good` (a well-formed
/// change under the attacker's own actor, made on top of a document whose first change is by
/// `base_actor`): a sequence number that skips, an operation naming an actor no change
/// introduced, an operation on an object that does not exist.
pub fn crafted(good: &Change, base_actor: &ActorId) -> Vec<(&'static str, Change)> {
    let ghost = ActorId::random();
    let seq = good.seq();
    vec![
        ("seq skips", recode(good, |e| e.seq = seq + 2)),
        ("actor never introduced", recode(good, |e| e.operations[0].obj = ObjectId::Id(OpId(1, ghost)))),
        ("missing object", recode(good, |e| e.operations[0].obj = ObjectId::Id(OpId(9_999, base_actor.clone())))),
    ]
}

/// Whether automerge itself panics applying `crafted` on top of `base` (or saving the result):
/// proof that a refusal of it is not vacuous.
pub fn automerge_panics(base: &[u8], crafted: &Change) -> bool {
    let mut doc = AutoCommit::load(base).unwrap();
    let crafted = crafted.clone();
    catch_unwind(AssertUnwindSafe(move || {
        if doc.apply_changes([crafted]).is_ok() {
            doc.get_changes(&[]);
            doc.save();
        }
    }))
    .is_err()
}

/// An automerge sync message carrying `changes`, as a device sends when it reconciles.
pub fn sync_message(changes: &[Change]) -> Vec<u8> {
    Message {
        heads: changes.iter().map(Change::hash).collect(),
        need: vec![],
        have: vec![],
        changes: ChunkList::from(changes.iter().map(|c| c.raw_bytes().to_vec()).collect::<Vec<_>>()),
        flags: None,
        version: MessageVersion::V1,
    }
    .encode()
}
