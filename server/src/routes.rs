//! The HTTP surface.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::accounts::{self, Device, LoginAttempt, Role, User};
use crate::error::{AppError, AppJson};
use crate::limits;
use crate::store::Database;

/// Shared by every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub data_dir: Arc<PathBuf>,
    pub db: Database,
    /// Caps the password hashes computed at once (each costs ~19 MiB and ~25 ms of a core).
    pub hashing: Arc<tokio::sync::Semaphore>,
    /// Whether the pages' cookies are marked Secure (served over TLS).
    pub secure_cookies: bool,
    pub sync_noted: Arc<SyncNotes>,
    /// Who may read `/metrics`.
    pub metrics: Arc<crate::config::MetricsAccess>,
}

impl AppState {
    pub fn new(data_dir: PathBuf, db: impl Into<Database>) -> AppState {
        AppState {
            data_dir: Arc::new(data_dir),
            db: db.into(),
            hashing: Arc::new(tokio::sync::Semaphore::new(2)),
            secure_cookies: false,
            sync_noted: Arc::new(SyncNotes::default()),
            metrics: Arc::new(crate::config::MetricsAccess::default()),
        }
    }
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/login", post(login))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/devices/{device_id}/revoke", post(revoke))
        .route("/api/v1/devices/{device_id}/release", post(release))
        .route("/api/v1/sync", post(sync).layer(DefaultBodyLimit::max(limits::MAX_BODY)))
        .route("/api/v1/customers/{customer_id}/reviews/{visit_id}", post(review))
        .route("/api/v1/customers/{customer_id}/owner", post(reassign))
        .route("/api/v1/customers/owner", post(reassign_many))
        .route("/api/v1/customers/merge", post(merge))
        .route("/api/v1/catalog/files/{hash}", get(crate::catalog::download))
        .route(
            "/api/v1/imports/assets",
            post(import_assets).layer(DefaultBodyLimit::max(crate::stages::MAX_IMPORT_BYTES)),
        )
        .route(
            "/api/v1/imports/product-events",
            post(import_events).layer(DefaultBodyLimit::max(crate::stages::MAX_IMPORT_BYTES)),
        )
        .route("/api/v1/customers/{customer_id}/lock", post(set_locked))
        .route("/api/v1/customers/{customer_id}/lifecycle", post(set_lifecycle))
        .merge(crate::photos::routes())
        .merge(crate::web::routes())
        .fallback(not_found)
        .layer(axum::middleware::map_response(crate::web::secure_headers))
        .layer(axum::middleware::from_fn(count))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    /// PostgreSQL: the pool and the replicas (none on SQLite).
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<DatabaseHealth>,
}

#[derive(Serialize)]
struct DatabaseHealth {
    connections: usize,
    idle: usize,
    /// Streaming replicas of the database, and the largest lag among them (seconds, when the
    /// server's role may read it). Informative: a lagging replica does not make this instance,
    /// which writes to the primary, unready.
    replicas: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    replica_lag_seconds: Option<f64>,
}

/// Alive: the process answers (a supervisor such as systemd restarts it when it does not).
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok", version: env!("CARGO_PKG_VERSION"), database: None })
}

/// Ready: the store answers a read and the sync commit path takes work (a load balancer sends
/// devices here only then).
async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, AppError> {
    if !state.data_dir.is_dir() {
        return Err(AppError::Internal("data folder is missing".into()));
    }
    state.db.read(|s| s.ping()).await?;
    if !state.db.sync_path_alive(std::time::Duration::from_secs(10)).await {
        return Err(AppError::Internal("the sync commit path does not answer".into()));
    }
    let database = state.db.status().await.map(|db| DatabaseHealth {
        connections: db.connections,
        idle: db.idle,
        replicas: db.replicas.len(),
        replica_lag_seconds: db.replicas.iter().filter_map(|r| r.lag_seconds).reduce(f64::max),
    });
    Ok(Json(Health { status: "ok", version: env!("CARGO_PKG_VERSION"), database }))
}

async fn not_found() -> AppError {
    AppError::NotFound
}

/// Counts every request for `/metrics`: its kind, status and bytes.
async fn count(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::body::HttpBody;
    let path = request.uri().path().to_string();
    let bytes_in = request.body().size_hint().exact().unwrap_or(0);
    let response = next.run(request).await;
    let bytes_out = response.body().size_hint().exact().unwrap_or(0);
    crate::metrics::request(&path, response.status().as_u16(), bytes_in, bytes_out);
    response
}

/// `/metrics`, for a bearer of the metrics token from an allowed network; 404 to anyone else
/// (nothing says it exists).
async fn metrics(
    State(state): State<AppState>,
    request: axum::http::request::Parts,
) -> Result<impl axum::response::IntoResponse, AppError> {
    let bearer = request
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // A request that came through no socket (a test's `oneshot`) has no peer: refused too.
    let peer = request.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    if !peer.is_some_and(|peer| state.metrics.allows(peer, bearer)) {
        return Err(AppError::NotFound);
    }
    let store_bytes = state.db.size(&state.data_dir).await;
    let last_backup = state.db.read(|s| s.last_backup_at()).await?;
    let database = state.db.status().await;
    let text = crate::metrics::render(store_bytes, last_backup, database.as_ref());
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text))
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
    device_id: String,
    /// The automerge actor of the device's store, as hex: its pushes are taken only under the
    /// actors it registered.
    #[serde(default)]
    actor: Option<String>,
}

#[derive(Serialize)]
pub struct UserView {
    pub id: String,
    pub branch_id: String,
    pub outlet_id: Option<String>,
    pub display_name: String,
    pub role: &'static str,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.clone(),
            branch_id: u.branch_id.clone(),
            outlet_id: u.outlet_id.clone(),
            display_name: u.display_name.clone(),
            role: u.role.code(),
        }
    }
}

#[derive(Serialize)]
struct LoginResponse {
    token: String,
    user: UserView,
}

/// Signs a device in. The password hash is verified off the database lock, at most two at a
/// time; an unknown username costs the same and is answered the same as a wrong password.
async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    AppJson(req): AppJson<LoginRequest>,
) -> Result<Json<LoginResponse>, AppError> {
    let attempt = Arc::new(LoginAttempt {
        username: req.username,
        password: req.password,
        via: accounts::Via::Device { device_id: req.device_id, actor: req.actor },
        client,
    });
    let now = now_ms();
    let a = attempt.clone();
    let check = state.db.read(move |s| accounts::login_check(s, &a, now)).await?;
    let hash = check.password_hash();
    let verified = {
        let _permit = state.hashing.acquire().await.map_err(|_| AppError::Internal("shutting down".into()))?;
        let a = attempt.clone();
        tokio::task::spawn_blocking(move || accounts::verify_password(hash.as_deref(), &a.password))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
    };
    let a = attempt.clone();
    // A refusal is answered once the failure it counted is committed.
    let (token, user) = state.db.write(move |s| accounts::login_finish(s, &a, check, verified, now_ms())).await??;
    let token = token.ok_or_else(|| AppError::Internal("a device login issued no token".into()))?;
    tracing::info!(user = %user.id, "device signed in");
    Ok(Json(LoginResponse { token, user: UserView::from(&user) }))
}

/// The client's IP address, when the server was started with connection info (tests driving the
/// router without a socket have none).
pub struct ClientAddr(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        Ok(ClientAddr(addr.map(|axum::extract::ConnectInfo(a)| a.ip().to_string())))
    }
}

/// The signed-in user of a request: `Authorization: Bearer <token>` from the device named in
/// `X-Device-Id`, the device the token was issued to.
pub struct Authed(pub User);

impl FromRequestParts<AppState> for Authed {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let AuthedDevice { user, .. } = AuthedDevice::from_request_parts(parts, state).await?;
        Ok(Authed(user))
    }
}

/// A signed-in supervisor or admin: managers are answered 403.
pub struct Supervisor(pub User);

impl FromRequestParts<AppState> for Supervisor {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Authed(user) = Authed::from_request_parts(parts, state).await?;
        if user.role == Role::Manager {
            return Err(AppError::Forbidden);
        }
        Ok(Supervisor(user))
    }
}

/// The signed-in user and the device the request came from.
pub struct AuthedDevice {
    pub user: User,
    pub device: Device,
}

impl FromRequestParts<AppState> for AuthedDevice {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let token = header("authorization")
            .and_then(|v| v.strip_prefix("Bearer ").map(str::to_string))
            .ok_or(accounts::AccountError::Unauthenticated)?;
        let device = header("x-device-id").ok_or(accounts::AccountError::Unauthenticated)?;
        // Read on a reader connection: a request never waits for the writer to learn who sent it.
        let t = token.clone();
        let who = state.db.read(move |s| accounts::authenticate(s, &t, &device, now_ms())).await?;
        if who.renew {
            state.db.write(move |s| accounts::renew_token(s, &token, now_ms())).await?;
        }
        Ok(AuthedDevice { user: who.user, device: who.device })
    }
}

/// One sync round trip: a request frame in, a response frame out.
async fn sync(
    State(state): State<AppState>,
    AuthedDevice { user, mut device }: AuthedDevice,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<impl axum::response::IntoResponse, AppError> {
    use fieldsync_core::sync::protocol;
    let bytes_in = body.len();
    let now = now_ms();
    device.clock_offset_ms = clock_offset(&headers, now);
    device.app_version = app_version(&headers);
    let (user_id, device_id, version) = (user.id.clone(), device.id.clone(), device.app_version.clone());
    let (frame, stats) = state.db.sync(user, device, body, now).await?;
    metrics::counter!(crate::metrics::CHANGES, "outcome" => "accepted").increment(stats.accepted_changes as u64);
    if !stats.taken && state.sync_noted.due(&device_id, now) {
        // A pull alone writes nothing else: its sync is noted at most once a minute per device.
        let (id, version) = (device_id.clone(), version.unwrap_or_default());
        state.db.write(move |s| s.note_device_sync(&id, now, &version, 0)).await?;
    }
    tracing::info!(
        user = %user_id,
        device = %device_id,
        bytes_in,
        bytes_out = frame.len(),
        pushed = stats.pushed,
        accepted_changes = stats.accepted_changes,
        refused = stats.refused,
        snapshots = stats.snapshots,
        changes = stats.changes,
        purged = stats.purged,
        "sync"
    );
    Ok(([(axum::http::header::CONTENT_TYPE, protocol::CONTENT_TYPE)], frame))
}

/// The app's version from `X-App-Version`: up to 32 characters of `[0-9A-Za-z.+-]`, else not told.
pub fn app_version(headers: &axum::http::HeaderMap) -> Option<String> {
    let v = headers.get("x-app-version")?.to_str().ok()?;
    let ok = !v.is_empty() && v.len() <= 32 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-._".contains(&b));
    ok.then(|| v.to_string())
}

/// When each device's pull-only sync was last noted, so a busy tablet costs one write a minute.
/// A hint only: another server instance notes the same device again, which is harmless.
#[derive(Debug, Default)]
pub struct SyncNotes(std::sync::Mutex<std::collections::HashMap<String, i64>>);

impl SyncNotes {
    const EVERY_MS: i64 = 60_000;
    const MAX: usize = 100_000;

    /// Whether the device's sync at `now` is due to be noted (and marks it noted).
    pub fn due(&self, device_id: &str, now: i64) -> bool {
        let mut noted = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if noted.get(device_id).is_some_and(|&at| now - at < Self::EVERY_MS) {
            return false;
        }
        if noted.len() >= Self::MAX {
            noted.clear();
        }
        noted.insert(device_id.to_string(), now);
        true
    }
}

/// The device's clock minus the server's, from `X-Device-Time` (the device's clock in UTC ms when
/// it sent the request). Absent, malformed or absurd (beyond ten years either way): not told.
pub fn clock_offset(headers: &axum::http::HeaderMap, now: i64) -> Option<i64> {
    const TEN_YEARS_MS: i64 = 10 * 366 * 24 * 3600 * 1000;
    let told: i64 = headers.get("x-device-time")?.to_str().ok()?.parse().ok()?;
    let offset = told.checked_sub(now)?;
    (offset.abs() <= TEN_YEARS_MS).then_some(offset)
}

#[derive(Deserialize)]
struct ReviewRequest {
    decision: String,
    comment: String,
}

/// A supervisor approves, returns or flags a visit; the review reaches the manager's tablet at its
/// next sync.
async fn review(
    State(state): State<AppState>,
    Supervisor(user): Supervisor,
    Path((customer_id, visit_id)): Path<(String, String)>,
    AppJson(req): AppJson<ReviewRequest>,
) -> Result<StatusCode, AppError> {
    use fieldsync_core::domain::{Review, ReviewDecision};
    let decision =
        ReviewDecision::from_code(&req.decision).ok_or(accounts::AccountError::Invalid { field: "decision" })?;
    let now = now_ms();
    let review = Review {
        decision,
        comment: req.comment,
        reviewer_id: user.id.clone(),
        reviewer_name: user.display_name.clone(),
        at: now,
    };
    let action = fieldsync_core::domain::Action::WriteReview { visit_id: visit_id.clone(), review };
    decide(&state, user, customer_id, action, now).await
}

#[derive(Deserialize)]
struct ReassignRequest {
    /// The new owner; `null` returns the customer to the public pool.
    manager_id: Option<String>,
}

/// A supervisor reassigns a customer (or returns it to the pool); it leaves the old owner's tablet
/// and arrives whole on the new owner's at their next syncs.
async fn reassign(
    State(state): State<AppState>,
    Supervisor(user): Supervisor,
    Path(customer_id): Path<String>,
    AppJson(req): AppJson<ReassignRequest>,
) -> Result<StatusCode, AppError> {
    use fieldsync_core::domain::Owner;
    let owner = match req.manager_id {
        None => Owner::default(),
        Some(id) => {
            // The name comes from the account; whether the account may own customers of this
            // branch is the write policy's to say.
            let lookup = id.clone();
            let name = state.db.read(move |s| accounts::user_by_id(s, &lookup)).await?.map(|u| u.display_name);
            Owner { manager_id: Some(id), manager_name: name }
        }
    };
    let action = fieldsync_core::domain::Action::assign(owner);
    decide(&state, user, customer_id, action, now_ms()).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReassignManyRequest {
    /// The customers to move; or, instead, every customer of `from_manager_id`.
    #[serde(default)]
    customer_ids: Vec<String>,
    from_manager_id: Option<String>,
    /// The new owner; `null` returns them to the public pool.
    manager_id: Option<String>,
}

#[derive(serde::Serialize)]
struct Moved {
    moved: usize,
}

/// A supervisor moves customers in bulk (a list, or all of one manager's: a manager who leaves
/// the bank), in one transaction: all move or none.
async fn reassign_many(
    State(state): State<AppState>,
    Supervisor(user): Supervisor,
    AppJson(req): AppJson<ReassignManyRequest>,
) -> Result<Json<Moved>, AppError> {
    if req.customer_ids.len() > limits::MAX_BULK || (req.customer_ids.is_empty() == req.from_manager_id.is_none()) {
        return Err(accounts::AccountError::Invalid { field: "customer_ids" }.into());
    }
    let now = now_ms();
    let moved = state
        .db
        .write(move |s| {
            let to = req.manager_id.as_deref().unwrap_or("pool");
            let owner = crate::pool::owner_named(s, &user.branch_id, to)
                .ok_or(crate::customers::PushError::Refused(crate::policy::Refusal::UnknownOwner))?;
            let ids = match &req.from_manager_id {
                Some(from) => s.owned_by(&user.branch_id, from)?,
                None => req.customer_ids,
            };
            crate::pool::reassign(s, &user, &ids, &owner, now)
        })
        .await?;
    Ok(Json(Moved { moved }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeRequest {
    kept: String,
    merged: String,
}

/// A supervisor merges a duplicate file into another (查重): the kept one takes both histories,
/// the other leaves every tablet.
async fn merge(
    State(state): State<AppState>,
    Supervisor(user): Supervisor,
    AppJson(req): AppJson<MergeRequest>,
) -> Result<StatusCode, AppError> {
    let now = now_ms();
    state.db.write(move |s| crate::duplicates::merge(s, &user, &req.kept, &req.merged, now)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A supervisor or admin imports the core banking system's asset file (CSV) into their branch:
/// tiers follow; the answer reports each refused line (by number and reason).
async fn import_assets(
    State(state): State<AppState>,
    Supervisor(user): Supervisor,
    body: Bytes,
) -> Result<Json<crate::stages::ImportReport>, AppError> {
    import(&state, user, body, "import.assets", crate::stages::import_assets).await
}

/// A supervisor or admin imports the core banking system's product events (maturities,
/// dividends, repayments) into their branch: each becomes a reminder on the customer's tablet.
async fn import_events(
    State(state): State<AppState>,
    Supervisor(user): Supervisor,
    body: Bytes,
) -> Result<Json<crate::stages::ImportReport>, AppError> {
    import(&state, user, body, "import.product_events", crate::reminders::import_events).await
}

/// Runs an import into the user's branch in one transaction with its audit row.
async fn import(
    state: &AppState,
    user: User,
    body: Bytes,
    action: &'static str,
    run: crate::stages::Importer,
) -> Result<Json<crate::stages::ImportReport>, AppError> {
    let now = now_ms();
    let report = state
        .db
        .write(move |s| {
            let report = run(s, &user.branch_id, &body, now)?;
            crate::accounts::audit(s, now, &user.id, action, &user.branch_id)?;
            Ok::<_, crate::customers::PushError>(report)
        })
        .await?;
    Ok(Json(report))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockRequest {
    locked: bool,
}

/// A supervisor keeps a customer with its manager whatever the recycle rules say (or stops).
async fn set_locked(
    State(state): State<AppState>,
    Supervisor(user): Supervisor,
    Path(customer_id): Path<String>,
    AppJson(req): AppJson<LockRequest>,
) -> Result<StatusCode, AppError> {
    let action = fieldsync_core::domain::Action::SetLocked { locked: req.locked };
    decide(&state, user, customer_id, action, now_ms()).await
}

#[derive(Deserialize)]
struct LifecycleRequest {
    lifecycle: Option<String>,
}

async fn set_lifecycle(
    State(state): State<AppState>,
    Supervisor(user): Supervisor,
    Path(customer_id): Path<String>,
    AppJson(req): AppJson<LifecycleRequest>,
) -> Result<StatusCode, AppError> {
    use fieldsync_core::domain::Lifecycle;
    let lifecycle = match req.lifecycle {
        None => None,
        Some(code) => Some(Lifecycle::from_code(&code).ok_or(accounts::AccountError::Invalid { field: "lifecycle" })?),
    };
    let action = fieldsync_core::domain::Action::SetLifecycle { lifecycle };
    decide(&state, user, customer_id, action, now_ms()).await
}

/// Writes a supervisor's decision as a server change (audited in the same transaction).
async fn decide(
    state: &AppState,
    user: User,
    customer_id: String,
    action: fieldsync_core::domain::Action,
    now: i64,
) -> Result<StatusCode, AppError> {
    state.db.write(move |store| crate::customers::write_decision(store, &user, &customer_id, &action, now)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn whoami(Authed(user): Authed) -> Json<UserView> {
    Json(UserView::from(&user))
}

async fn revoke(
    State(state): State<AppState>,
    Supervisor(user): Supervisor,
    Path(device_id): Path<String>,
) -> Result<StatusCode, AppError> {
    state.db.write(move |s| accounts::revoke_device(s, &device_id, Some(&user), now_ms())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Frees a device (lost, handed to a colleague) so another user of its branch may sign in on it.
async fn release(
    State(state): State<AppState>,
    Supervisor(user): Supervisor,
    Path(device_id): Path<String>,
) -> Result<StatusCode, AppError> {
    state.db.write(move |s| accounts::release_device(s, &device_id, Some(&user), now_ms())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The device signs out: its token ends and it is free for another user of its branch.
async fn logout(
    State(state): State<AppState>,
    AuthedDevice { user, device }: AuthedDevice,
) -> Result<StatusCode, AppError> {
    state.db.write(move |s| accounts::sign_out(s, &user, &device, now_ms())).await?;
    Ok(StatusCode::NO_CONTENT)
}
