//! Running the server: bind, log, and shut down gracefully on Ctrl-C or SIGTERM (requests in
//! flight finish before the process exits).

use std::future::Future;
use std::net::SocketAddr;

use crate::config::Config;
use crate::routes::{AppState, app};

/// Creates the data folder, binds, and serves until `shutdown` completes. `on_bound` learns the
/// real address (useful with port 0).
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    std::fs::create_dir_all(&config.data)?;
    let db = crate::db::Db::open(&config.data).map_err(std::io::Error::other)?;
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
    tracing::info!(%addr, data = %config.data.display(), "listening");
    on_bound(addr);
    let state = AppState::new(config.data, db);
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await?;
    tracing::info!("stopped");
    Ok(())
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
