//! TLS to PostgreSQL: `sslmode` in the database URL says whether it is used (`disable`, `prefer`
//! — tokio-postgres' default —, `require`); the server's certificate is checked against the
//! public Web PKI roots, plus the bank's own CA when `database-ca` names one (a PEM file). A
//! certificate that does not check is an error, never a fallback to plain text.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

#[derive(Debug, thiserror::Error)]
pub enum PgTlsError {
    #[error("cannot read the database's CA file {0}: {1}")]
    Read(String, std::io::Error),
    #[error("the database's CA file {0} holds no usable PEM certificate")]
    NoCertificate(String),
    #[error("TLS setup: {0}")]
    Rustls(String),
}

/// The connector every connection to PostgreSQL uses.
pub fn connector(ca: Option<&Path>) -> Result<tokio_postgres_rustls::MakeRustlsConnect, PgTlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca {
        let name = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| PgTlsError::Read(name.clone(), e))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(PgTlsError::NoCertificate(name));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| PgTlsError::Rustls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}
