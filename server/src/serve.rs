//! Running the server: take the data folder, bind, serve HTTP or HTTPS, and shut down gracefully
//! on Ctrl-C or SIGTERM (requests in flight finish before the process exits).
//!
//! The accept loop is hyper's own rather than `axum::serve`, for what a branch on a bad network
//! needs and `axum::serve` does not set: a client that sends its headers too slowly is dropped
//! (slow or idle connections cannot pile up), and every request, body included, has a deadline.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::Config;
use crate::routes::{AppState, app};
use crate::tls::Tls;

/// Creates the data folder, takes it (a second server on it refuses to start), binds, and serves
/// until `shutdown` completes. `on_bound` learns the real address (useful with port 0).
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    config.check().map_err(std::io::Error::other)?;
    let tls = config.tls.as_ref().map(Tls::load).transpose().map_err(std::io::Error::other)?.map(Arc::new);
    let key =
        config.key_file.as_deref().map(crate::store::StoreKey::from_file).transpose().map_err(std::io::Error::other)?;
    std::fs::create_dir_all(&config.data)?;
    // One server per embedded store; PostgreSQL instances share their database and photos.
    let _lock = match &config.database {
        None => Some(crate::data_lock::DataLock::take(&config.data)?),
        Some(_) => None,
    };
    let url = config.database.as_ref().map(|u| u.expose());
    let db = crate::store::Database::open(&config.data, key.as_ref(), url, config.database_ca.as_deref())
        .await
        .map_err(std::io::Error::other)?;
    if let Some(url) = &config.database {
        tracing::info!(database = ?url, "the store is PostgreSQL");
    }
    if config.demo {
        let seeded =
            crate::demo::seed(&db, config.demo_customers, crate::routes::now_ms()).map_err(std::io::Error::other)?;
        tracing::info!(customers = seeded, "demo branch ready");
        println!("demo branch {}: logins (username / password / role)", crate::demo::BRANCH_NAME);
        for l in &crate::demo::LOGINS {
            println!("  {} / {} / {}", l.username, l.password, l.role.code());
        }
    }
    let listener = listen(config.listen)?;
    let addr = listener.local_addr()?;
    let scheme = config.scheme();
    match &config.tls {
        Some(files) => {
            tracing::info!(%addr, data = %config.data.display(), cert = %files.cert.display(), "listening over HTTPS")
        }
        None if crate::config::is_loopback(addr.ip()) => {
            tracing::info!(%addr, data = %config.data.display(), "listening over plain HTTP, on loopback only")
        }
        None => tracing::warn!(
            %addr,
            data = %config.data.display(),
            "listening over PLAIN HTTP beyond loopback (--allow-plain-http): only behind a proxy that does TLS"
        ),
    }
    if config.demo {
        println!("supervisor pages / 主管页面: {scheme}://{addr}/  (supervisor / demo-supervisor)");
    }
    on_bound(addr);
    // Under systemd (Type=notify): ready now that the listener is up. Elsewhere nothing is sent.
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!(error = %e, "could not tell systemd the server is ready");
    }
    if config.pool_sweep_s > 0 {
        tokio::spawn(crate::sweeps::every(db.clone(), std::time::Duration::from_secs(config.pool_sweep_s)));
    }
    if let Some(tls) = &tls {
        tokio::spawn(crate::tls::watch(tls.clone(), config.tls_watch));
    }
    crate::metrics::handle();
    let mut state = AppState::new(config.data, db);
    // Over HTTPS the pages' cookies never travel in clear text.
    state.secure_cookies = config.tls.is_some();
    state.metrics = Arc::new(config.metrics.clone());
    serve_with(listener, tls, app(state), shutdown, crate::limits::HEADER_TIMEOUT).await;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    tracing::info!("stopped");
    Ok(())
}

/// Serves connections (over TLS when `tls` is given) until `shutdown` completes, then lets the
/// requests in flight finish; drops connections whose TLS handshake or request headers take
/// longer than `header_timeout`.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<Tls>>,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    header_timeout: std::time::Duration,
) {
    use tower::ServiceExt;

    let router = router.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        crate::limits::REQUEST_TIMEOUT,
    ));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, a connection reset before accept: keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            router.clone().oneshot(request.map(axum::body::Body::new))
        });
        let Some(tls) = &tls else {
            tokio::spawn(connection(graceful.watcher(), stream, service, header_timeout));
            continue;
        };
        // The handshake runs in the connection's own task (a slow client holds up no other),
        // under the same deadline as the headers.
        let acceptor = tls.acceptor();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => connection(watcher, stream, service, header_timeout).await,
                Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// One HTTP/1 connection (tablets and browsers speak it here), watched for a graceful shutdown.
/// The header deadline runs from the connection's first moment: one that sends nothing is dropped
/// too.
fn connection<S, F>(
    watcher: hyper_util::server::graceful::Watcher,
    stream: S,
    service: F,
    header_timeout: std::time::Duration,
) -> impl Future<Output = ()> + Send + 'static
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: hyper::service::Service<hyper::Request<hyper::body::Incoming>, Response = axum::response::Response>
        + Send
        + 'static,
    F::Future: Send + 'static,
    F::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    let connection = watcher.watch(connection);
    async move {
        let open = metrics::gauge!(crate::metrics::OPEN_CONNECTIONS);
        open.increment(1.0);
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "connection ended");
        }
        open.decrement(1.0);
    }
}

/// Binds with a deep accept queue: when signal returns to a village, many tablets connect at once.
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
