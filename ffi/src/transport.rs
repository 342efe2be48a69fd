//! The tablet's HTTP transport: a blocking client (ureq, rustls for HTTPS) that signs in and
//! carries sync frames to `POST /api/v1/sync` for the core's sans-IO engine.
//!
//! HTTPS verifies the server against the public Web PKI roots built into the app (Mozilla's list,
//! the same on every tablet: old Android versions carry outdated root stores), or against the
//! branch's own CA when one is pinned at sign-in (a branch often runs a private CA). A certificate
//! that does not verify is its own error, never retried as a network fault and never bypassed.

use std::sync::Arc;
use std::time::Duration;

use fieldsync_core::sync::{Rejection, RejectionKind, Reply, Transport, TransportError, protocol};
use serde::{Deserialize, Serialize};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// The largest body read from the server (a sync page is a few MB at most).
const MAX_BODY: u64 = 96 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("network: {0}")]
    Network(String),
    /// The server's certificate does not verify against what this tablet trusts.
    #[error("the server's certificate is not trusted: {0}")]
    Certificate(String),
    /// The CA given at sign-in holds no usable certificate.
    #[error("the CA certificate given is not a PEM certificate")]
    BadCa,
    /// The server answered with an error: its code and message (Chinese first, English).
    #[error("{status} {code}: {message_en}")]
    Server { status: u16, code: String, message_zh: String, message_en: String },
    #[error("the server's answer is not readable")]
    BadAnswer,
}

/// What signing in returns.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Session {
    pub token: String,
    pub user: SignedInUser,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SignedInUser {
    pub id: String,
    pub branch_id: String,
    pub display_name: String,
    pub role: String,
}

#[derive(Serialize)]
struct LoginRequest<'a> {
    username: &'a str,
    password: &'a str,
    device_id: &'a str,
    /// The store's automerge actor, hex: the server takes this device's changes only under it.
    actor: &'a str,
}

/// Which certificates the tablet accepts for its server.
#[derive(Debug, Clone, Default)]
pub enum Trust {
    /// The public Web PKI roots built into the app.
    #[default]
    PublicRoots,
    /// Only certificates issued under these CAs (the branch's own, pinned at sign-in).
    Pinned(Arc<Vec<Certificate<'static>>>),
}

impl Trust {
    /// Trusts the CA certificates in `pem` (one or more `BEGIN CERTIFICATE` blocks).
    pub fn pinned(pem: &str) -> Result<Trust, HttpError> {
        let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(pem.as_bytes())
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(HttpError::BadCa);
        }
        Ok(Trust::Pinned(Arc::new(certs)))
    }

    /// The trust of a tablet that stored `ca_pem` at sign-in (none: the public roots).
    pub fn of(ca_pem: Option<&str>) -> Result<Trust, HttpError> {
        ca_pem.filter(|p| !p.trim().is_empty()).map_or(Ok(Trust::PublicRoots), Trust::pinned)
    }

    fn roots(&self) -> RootCerts {
        match self {
            Trust::PublicRoots => RootCerts::WebPki,
            Trust::Pinned(certs) => RootCerts::Specific(certs.clone()),
        }
    }
}

/// A transport failure as an [`HttpError`]: a certificate that does not verify is told apart
/// from the network's faults.
fn failure(e: ureq::Error) -> HttpError {
    fn certificate(e: &rustls::Error) -> Option<String> {
        match e {
            rustls::Error::InvalidCertificate(c) => Some(format!("{c:?}")),
            rustls::Error::NoCertificatesPresented => Some("none presented".into()),
            _ => None,
        }
    }
    let found = match &e {
        ureq::Error::Rustls(r) => certificate(r),
        ureq::Error::Io(io) => {
            io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()).and_then(certificate)
        }
        _ => None,
    };
    match found {
        Some(why) => HttpError::Certificate(why),
        None => HttpError::Network(e.to_string()),
    }
}

#[derive(Debug, Clone)]
pub struct HttpTransport {
    agent: ureq::Agent,
    base_url: String,
    token: String,
    device_id: String,
    /// Added to this device's clock when it tells the server the time (tests and demos of a
    /// tablet whose clock is off).
    clock_skew_ms: i64,
}

fn agent(timeout: Duration, trust: &Trust) -> ureq::Agent {
    ureq::Agent::config_builder()
        .tls_config(TlsConfig::builder().root_certs(trust.roots()).build())
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent("fieldsync")
        .build()
        .into()
}

/// The code and messages (Chinese, English) of a server's JSON error answer; empty where absent.
fn answer_fields(body: &[u8]) -> (String, String, String) {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let field = |k: &str| v.get(k).and_then(|s| s.as_str()).unwrap_or_default().to_string();
    (field("code"), field("message_zh"), field("message_en"))
}

fn server_error(status: u16, body: &[u8]) -> HttpError {
    let (code, message_zh, message_en) = answer_fields(body);
    HttpError::Server { status, code, message_zh, message_en }
}

/// Signs in a device; the token is bound to `device_id`, and `actor` (hex) is registered to it.
pub fn login(
    base_url: &str,
    trust: &Trust,
    username: &str,
    password: &str,
    device_id: &str,
    actor: &str,
) -> Result<Session, HttpError> {
    let body =
        serde_json::to_vec(&LoginRequest { username, password, device_id, actor }).map_err(|_| HttpError::BadAnswer)?;
    let mut response = agent(Duration::from_secs(60), trust)
        .post(format!("{}/api/v1/login", base_url.trim_end_matches('/')))
        .header("content-type", "application/json")
        .send(&body[..])
        .map_err(failure)?;
    let status = response.status().as_u16();
    let bytes = response
        .body_mut()
        .with_config()
        .limit(1024 * 1024)
        .read_to_vec()
        .map_err(|e| HttpError::Network(e.to_string()))?;
    if status != 200 {
        return Err(server_error(status, &bytes));
    }
    serde_json::from_slice(&bytes).map_err(|_| HttpError::BadAnswer)
}

impl HttpTransport {
    pub fn new(base_url: &str, trust: &Trust, token: &str, device_id: &str) -> Self {
        HttpTransport {
            agent: agent(Duration::from_secs(120), trust),
            base_url: base_url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            device_id: device_id.to_string(),
            clock_skew_ms: 0,
        }
    }

    /// A tablet whose clock is `ms` off (tests and demos: the server flags the visits it brings).
    pub fn with_clock_skew(mut self, ms: i64) -> Self {
        self.clock_skew_ms = ms;
        self
    }

    /// Signs this device out: its token ends, and another user of the branch may sign in on it.
    pub fn logout(&self) -> Result<(), HttpError> {
        match self.send(self.agent.post(format!("{}/api/v1/logout", self.base_url)), "application/json", b"{}")? {
            (204, _) => Ok(()),
            (status, body) => Err(server_error(status, &body)),
        }
    }

    /// A JSON call with the device's credentials (supervisor decisions, tests).
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<(u16, Vec<u8>), HttpError> {
        let bytes = serde_json::to_vec(body).map_err(|_| HttpError::BadAnswer)?;
        self.send(self.agent.post(format!("{}{path}", self.base_url)), "application/json", &bytes)
    }

    /// Sends a body with the device's credentials; returns the status and the body read back.
    fn send(
        &self,
        request: ureq::RequestBuilder<ureq::typestate::WithBody>,
        content_type: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), HttpError> {
        let mut response = request
            .header("authorization", &format!("Bearer {}", self.token))
            .header("x-device-id", &self.device_id)
            // The tablet's clock, so the server can tell a clock far from its own.
            .header("x-device-time", &(now_ms() + self.clock_skew_ms).to_string())
            .header("x-app-version", env!("CARGO_PKG_VERSION"))
            .header("content-type", content_type)
            .send(body)
            .map_err(failure)?;
        Self::read(&mut response)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Photo chunks: small enough that a cut over EDGE loses little, large enough to keep round trips
/// few.
pub const PHOTO_CHUNK: usize = 256 * 1024;

#[derive(Deserialize)]
struct UploadStatus {
    received: u64,
    complete: bool,
}

impl HttpTransport {
    fn read(response: &mut ureq::http::Response<ureq::Body>) -> Result<(u16, Vec<u8>), HttpError> {
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| HttpError::Network(e.to_string()))?;
        Ok((status, body))
    }

    fn get(&self, path: &str) -> Result<(u16, Vec<u8>), HttpError> {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.base_url))
            .header("authorization", &format!("Bearer {}", self.token))
            .header("x-device-id", &self.device_id)
            .call()
            .map_err(failure)?;
        Self::read(&mut response)
    }

    /// Uploads a photo in chunks, resuming from what the server already has (after a cut, or a
    /// photo another device sent: then nothing is sent). Returns the bytes sent.
    pub fn upload_photo(&self, hash: &str, bytes: &[u8]) -> Result<u64, HttpError> {
        let path = format!("/api/v1/photos/{hash}/upload");
        let (status, body) = self.get(&path)?;
        if status != 200 {
            return Err(server_error(status, &body));
        }
        let mut state: UploadStatus = serde_json::from_slice(&body).map_err(|_| HttpError::BadAnswer)?;
        let mut sent = 0u64;
        while !state.complete {
            // A partial the server holds that cannot be this photo's start: start over.
            let offset = usize::try_from(state.received).ok().filter(|&o| o < bytes.len()).unwrap_or(0);
            let chunk = &bytes[offset..(offset + PHOTO_CHUNK).min(bytes.len())];
            let url = format!("{}{path}?offset={offset}&total={}", self.base_url, bytes.len());
            let (status, body) = self.send(self.agent.put(url), "application/octet-stream", chunk)?;
            if status != 200 {
                return Err(server_error(status, &body));
            }
            sent += chunk.len() as u64;
            state = serde_json::from_slice(&body).map_err(|_| HttpError::BadAnswer)?;
        }
        Ok(sent)
    }

    /// Downloads a photo this user may see.
    /// A brochure of the branch's product catalog.
    pub fn fetch_brochure(&self, hash: &str) -> Result<Vec<u8>, HttpError> {
        let (status, body) = self.get(&format!("/api/v1/catalog/files/{hash}"))?;
        if status != 200 {
            return Err(server_error(status, &body));
        }
        Ok(body)
    }

    pub fn fetch_photo(&self, hash: &str) -> Result<Vec<u8>, HttpError> {
        let (status, body) = self.get(&format!("/api/v1/photos/{hash}"))?;
        if status != 200 {
            return Err(server_error(status, &body));
        }
        Ok(body)
    }
}

impl Transport for HttpTransport {
    fn exchange(&mut self, frame: Vec<u8>) -> Result<Reply, TransportError> {
        let request = self.agent.post(format!("{}/api/v1/sync", self.base_url));
        let (status, body) = self.send(request, protocol::CONTENT_TYPE, &frame).map_err(|e| match e {
            HttpError::Certificate(m) => TransportError::Certificate(m),
            HttpError::Network(m) => TransportError::Network(m),
            other => TransportError::Network(other.to_string()),
        })?;
        if status == 200 {
            return Ok(Reply::Frame(body));
        }
        // The status says what kind of rejection it is; the answer, its code and messages.
        let (code, message_zh, message_en) = answer_fields(&body);
        Ok(Reply::Rejected(Rejection { kind: RejectionKind::from_http_status(status), code, message_zh, message_en }))
    }
}
