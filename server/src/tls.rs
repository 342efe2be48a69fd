//! HTTPS with rustls: the certificate chain and key read from PEM files, and read again on
//! SIGHUP or when either file changes. A reload builds a new configuration for the connections
//! that come after it; the connections already open keep theirs, so none is dropped. A reload that
//! fails (a half-written file, a key that does not match) keeps the working certificate and says
//! why in the log.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{0} holds no certificate (PEM \"BEGIN CERTIFICATE\" expected)")]
    NoCertificate(PathBuf),
    #[error("{0} holds no private key (PEM PKCS#8, PKCS#1 or SEC1 expected)")]
    NoKey(PathBuf),
    #[error("the certificate and the key do not go together, or the key is not usable: {0}")]
    Mismatch(String),
}

/// The server's TLS: the acceptor for new connections, replaced whole on reload.
pub struct Tls {
    files: TlsFiles,
    acceptor: RwLock<TlsAcceptor>,
    /// The files' modification times and sizes when last read.
    seen: RwLock<Option<[(SystemTime, u64); 2]>>,
}

impl Tls {
    /// Reads the files; an error says which file and what is wrong with it.
    pub fn load(files: &TlsFiles) -> Result<Tls, TlsError> {
        let seen = stamps(files);
        let acceptor = acceptor(files)?;
        Ok(Tls { files: files.clone(), acceptor: RwLock::new(acceptor), seen: RwLock::new(seen) })
    }

    /// The acceptor for a connection accepted now.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads the files again; on failure the current certificate stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let seen = stamps(&self.files);
        let fresh = acceptor(&self.files)?;
        *self.acceptor.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        *self.seen.write().unwrap_or_else(|p| p.into_inner()) = seen;
        Ok(())
    }

    /// Whether either file changed since it was last read.
    fn changed(&self) -> bool {
        let now = stamps(&self.files);
        now.is_some() && now != *self.seen.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reloads on SIGHUP, and when a file changes (looked at every `every`), for as long as the
/// server runs.
pub async fn watch(tls: Arc<Tls>, every: Duration) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        #[cfg(unix)]
        let signalled = async {
            match hup.as_mut() {
                Some(h) => h.recv().await.is_some(),
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let signalled = std::future::pending::<bool>();
        let asked = tokio::select! {
            s = signalled => s,
            _ = tick.tick() => false,
        };
        if !asked && !tls.changed() {
            continue;
        }
        match tls.reload() {
            Ok(()) => tracing::info!(cert = %tls.files.cert.display(), "TLS certificate reloaded"),
            Err(e) => tracing::error!(error = %e, "TLS certificate not reloaded; the previous one stays"),
        }
    }
}

fn stamps(files: &TlsFiles) -> Option<[(SystemTime, u64); 2]> {
    let stamp = |p: &Path| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
    Some([stamp(&files.cert)?, stamp(&files.key)?])
}

/// The largest PEM file read (a chain of a few certificates is a few KB).
const MAX_PEM: u64 = 1024 * 1024;

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    let err = |message: String| TlsError::Read { path: path.to_path_buf(), message };
    let len = std::fs::metadata(path).map_err(|e| err(e.to_string()))?.len();
    if len > MAX_PEM {
        return Err(err("larger than 1 MiB".into()));
    }
    std::fs::read(path).map_err(|e| err(e.to_string()))
}

fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let cert_pem = read(&files.cert)?;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&cert_pem).filter_map(Result::ok).collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(files.cert.clone()));
    }
    let key_pem = read(&files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey(files.key.clone()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Mismatch(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
