//! Slow and idle connections are dropped: a client that never finishes its request headers, or
//! never sends any, does not hold a connection (and its task) open.

use std::time::Duration;

use fieldsync_server::AppState;
use fieldsync_server::store::Db;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn server(
    header_timeout: Duration,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let router = fieldsync_server::app(AppState::new(dir.path().to_path_buf(), db));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(fieldsync_server::serve::serve_with(
        listener,
        None,
        router,
        async move {
            let _ = stopped.await;
        },
        header_timeout,
    ));
    (addr, stop, dir)
}

/// Reads until the server closes the connection; `None` if it is still open after `within`.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| got)
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_dropped() {
    let (addr, _stop, _dir) = server(Duration::from_millis(500)).await;
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    assert!(closed_within(&mut slow, Duration::from_secs(20)).await.is_some(), "a slow client kept its connection");

    // A well-behaved client is served meanwhile.
    let mut good = tokio::net::TcpStream::connect(addr).await.unwrap();
    good.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let answer = closed_within(&mut good, Duration::from_secs(20)).await.unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_dropped() {
    let (addr, _stop, _dir) = server(Duration::from_millis(500)).await;
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut idle, Duration::from_secs(20)).await.is_some(), "an idle client kept its connection");
}

#[tokio::test]
async fn a_kept_alive_connection_that_goes_quiet_is_dropped() {
    let (addr, _stop, _dir) = server(Duration::from_millis(500)).await;
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    client.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let n = client.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    // The answer is in; the client keeps the connection and says nothing more.
    assert!(closed_within(&mut client, Duration::from_secs(20)).await.is_some(), "a quiet client kept its connection");
}
