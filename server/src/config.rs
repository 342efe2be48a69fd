//! The server's settings, from a TOML file (`--config`), the environment and the flags, in that
//! order of strength (a flag wins over the environment, which wins over the file); what none of
//! them sets takes the default shown by `serve --help`. `serve --check-config` resolves and
//! checks them (the TLS files read, the listening address allowed) and exits.
//!
//! The file's keys are the flags' names without their dashes in front (`listen`, `tls-cert`,
//! `pool-sweep-s`, …); a key it does not know is an error naming the key and its line.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The resolved settings the server runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Folder holding the server's store; created on first start.
    pub data: PathBuf,
    pub listen: SocketAddr,
    /// The certificate chain and private key (PEM) to serve HTTPS with.
    pub tls: Option<TlsFiles>,
    /// Plain HTTP on an address other than loopback (a reverse proxy in front does TLS).
    pub allow_plain_http: bool,
    /// How often the TLS files are looked at for a change (SIGHUP reloads at once).
    pub tls_watch: std::time::Duration,
    /// The key file of an encrypted store (SQLCipher); none: a plain store.
    pub key_file: Option<PathBuf>,
    /// A PostgreSQL database shared by several instances; none: the embedded SQLite store in
    /// `data`.
    pub database: Option<DatabaseUrl>,
    /// A CA (PEM) to trust, beside the public roots, for TLS to PostgreSQL (`sslmode`).
    pub database_ca: Option<PathBuf>,
    /// Who may read `/metrics`: a bearer of this token (none: nobody) from these networks.
    pub metrics: MetricsAccess,
    /// Seed a demo branch on first start and print its logins.
    pub demo: bool,
    pub demo_customers: usize,
    /// Seconds between the rules' sweeps (0: never).
    pub pool_sweep_s: u64,
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsAccess {
    pub token: Option<String>,
    pub networks: Vec<ipnet::IpNet>,
}

impl Default for MetricsAccess {
    /// Nobody (no token); loopback once a token is set.
    fn default() -> Self {
        MetricsAccess {
            token: None,
            networks: vec!["127.0.0.0/8".parse().expect("a network"), "::1/128".parse().expect("a network")],
        }
    }
}

impl MetricsAccess {
    /// Whether a request from `peer` bearing `bearer` may read the metrics.
    pub fn allows(&self, peer: std::net::IpAddr, bearer: Option<&str>) -> bool {
        let Some(token) = &self.token else { return false };
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        let token_ok = bearer.is_some_and(|b| {
            use subtle::ConstantTimeEq;
            b.len() == token.len() && bool::from(b.as_bytes().ct_eq(token.as_bytes()))
        });
        token_ok && self.networks.iter().any(|n| n.contains(&peer))
    }
}

/// A PostgreSQL connection URL (`postgres://user:password@host:port/database?sslmode=…`). Its
/// password is never shown: not in `Debug`, not in errors, not in logs.
#[derive(Clone, PartialEq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Checks the URL's form (not the database: that is the server's start).
    pub fn parse(url: &str) -> Result<DatabaseUrl, ConfigError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::Database("it must start with postgres:// or postgresql://".into()));
        }
        // tokio-postgres' messages name the option at fault, never a value.
        url.parse::<tokio_postgres::Config>().map_err(|e| ConfigError::Database(e.to_string()))?;
        Ok(DatabaseUrl(url.to_string()))
    }

    /// The URL itself, to connect with (never to print).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.parse::<tokio_postgres::Config>() {
            Ok(config) => write!(f, "postgres://{}", crate::store::postgres::describe(&config)),
            Err(_) => f.write_str("postgres://(invalid)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data: PathBuf::from("./fieldsync-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: None,
            allow_plain_http: false,
            tls_watch: std::time::Duration::from_secs(5),
            key_file: None,
            database: None,
            database_ca: None,
            metrics: MetricsAccess::default(),
            demo: false,
            demo_customers: 200,
            pool_sweep_s: 600,
        }
    }
}

/// `serve`'s flags; each also read from its environment variable.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below (the flags and the environment win over it).
    #[arg(long, env = "FIELDSYNC_CONFIG")]
    pub config: Option<PathBuf>,

    /// Check the settings (and the TLS files) and exit.
    #[arg(long)]
    pub check_config: bool,

    /// Folder holding the server's store; created on first start [default: ./fieldsync-data].
    #[arg(long, env = "FIELDSYNC_DATA")]
    pub data: Option<PathBuf>,

    /// Address to listen on; port 0 picks a free port (printed at start) [default: 127.0.0.1:8080].
    #[arg(long, env = "FIELDSYNC_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// Serve HTTPS with this certificate chain (PEM; the server's certificate first). Re-read on
    /// SIGHUP and when the file changes, without dropping connections.
    #[arg(long, env = "FIELDSYNC_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "FIELDSYNC_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Allow plain HTTP on an address other than loopback (only behind a proxy that does TLS:
    /// tokens and customer data must never cross a network in clear text).
    #[arg(long, env = "FIELDSYNC_ALLOW_PLAIN_HTTP", num_args = 0..=1, default_missing_value = "true")]
    pub allow_plain_http: Option<bool>,

    /// Encrypt the store (SQLCipher) with the key in this file: 64 hex characters, e.g. from
    /// `openssl rand -hex 32`, readable by the service only. Without it the store is plain
    /// SQLite: keep the data folder on an encrypted disk.
    #[arg(long, env = "FIELDSYNC_KEY_FILE")]
    pub key_file: Option<PathBuf>,

    /// Keep the store in this PostgreSQL database (postgres://user:password@host:port/db; add
    /// `?sslmode=require` for TLS) instead of the embedded SQLite store: several instances may
    /// share it. `--data` then holds the photos, on a folder every instance shares.
    #[arg(long, env = "FIELDSYNC_DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,

    /// A CA certificate (PEM) to trust for TLS to PostgreSQL, beside the public roots (a bank's
    /// own CA); TLS itself is the URL's `sslmode` (`require`: never in clear text).
    #[arg(long, env = "FIELDSYNC_DATABASE_CA")]
    pub database_ca: Option<PathBuf>,

    /// Serve `/metrics` (Prometheus) to requests bearing this token (`Authorization: Bearer`);
    /// without it `/metrics` answers to nobody.
    #[arg(long, env = "FIELDSYNC_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// The networks `/metrics` answers to, comma-separated CIDR [default: 127.0.0.0/8,::1/128].
    #[arg(long, env = "FIELDSYNC_METRICS_NETWORKS", value_delimiter = ',')]
    pub metrics_networks: Option<Vec<ipnet::IpNet>>,

    /// Seed a demo branch (managers, a supervisor, customers with visits and leads) on first
    /// start and print its logins.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub demo: Option<bool>,

    /// Customers per demo manager [default: 200].
    #[arg(long)]
    pub demo_customers: Option<usize>,

    /// Seconds between sweeps that apply the branch rules (the pool, stages, reminders); 0:
    /// never (`admin sweep-pool` runs one by hand) [default: 600].
    #[arg(long, env = "FIELDSYNC_POOL_SWEEP_S")]
    pub pool_sweep_s: Option<u64>,
}

/// The settings a file may hold: the flags' names, every one optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileSettings {
    data: Option<PathBuf>,
    listen: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    allow_plain_http: Option<bool>,
    key_file: Option<PathBuf>,
    database: Option<String>,
    database_ca: Option<PathBuf>,
    metrics_token: Option<String>,
    metrics_networks: Option<Vec<ipnet::IpNet>>,
    demo: Option<bool>,
    demo_customers: Option<usize>,
    pool_sweep_s: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// TOML's own message: the line, the column, the key.
    #[error("the configuration file {path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("tls-cert and tls-key go together: one is set without the other")]
    HalfTls,
    #[error(
        "refusing plain HTTP on {0}, which is not a loopback address: tokens and customer data would cross the \
         network in clear text. Serve HTTPS (--tls-cert and --tls-key), or put a TLS proxy in front and pass \
         --allow-plain-http"
    )]
    PlainHttp(SocketAddr),
    #[error("demo-customers must be between 1 and 5000")]
    DemoCustomers,
    #[error("metrics-token must be at least 16 characters")]
    WeakMetricsToken,
    #[error("the database URL is not valid: {0}")]
    Database(String),
    #[error("key-file encrypts the embedded SQLite store; with a PostgreSQL database, encrypt its disk instead")]
    KeyWithDatabase,
}

impl ServeArgs {
    /// The settings: the flags over the environment over the file over the defaults.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let d = Config::default();
        let tls = match (self.tls_cert.clone().or(file.tls_cert), self.tls_key.clone().or(file.tls_key)) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => return Err(ConfigError::HalfTls),
        };
        let config = Config {
            data: self.data.clone().or(file.data).unwrap_or(d.data),
            listen: self.listen.or(file.listen).unwrap_or(d.listen),
            tls,
            allow_plain_http: self.allow_plain_http.or(file.allow_plain_http).unwrap_or(d.allow_plain_http),
            tls_watch: d.tls_watch,
            key_file: self.key_file.clone().or(file.key_file),
            database: self.database.clone().or(file.database).map(|u| DatabaseUrl::parse(&u)).transpose()?,
            database_ca: self.database_ca.clone().or(file.database_ca),
            metrics: MetricsAccess {
                token: self.metrics_token.clone().or(file.metrics_token).filter(|t| !t.is_empty()),
                networks: self.metrics_networks.clone().or(file.metrics_networks).unwrap_or(d.metrics.networks),
            },
            demo: self.demo.or(file.demo).unwrap_or(d.demo),
            demo_customers: self.demo_customers.or(file.demo_customers).unwrap_or(d.demo_customers),
            pool_sweep_s: self.pool_sweep_s.or(file.pool_sweep_s).unwrap_or(d.pool_sweep_s),
        };
        config.check()?;
        Ok(config)
    }
}

impl Config {
    /// What the settings cannot be, whatever set them.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.tls.is_none() && !self.allow_plain_http && !is_loopback(self.listen.ip()) {
            return Err(ConfigError::PlainHttp(self.listen));
        }
        if !(1..=5000).contains(&self.demo_customers) {
            return Err(ConfigError::DemoCustomers);
        }
        if self.metrics.token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError::WeakMetricsToken);
        }
        if self.database.is_some() && self.key_file.is_some() {
            return Err(ConfigError::KeyWithDatabase);
        }
        Ok(())
    }

    /// The scheme the server answers on.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// Loopback, IPv4-mapped IPv6 included.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    const MAX: u64 = 1024 * 1024;
    let read = |e| ConfigError::Read { path: path.to_path_buf(), source: e };
    if std::fs::metadata(path).map_err(read)?.len() > MAX {
        return Err(ConfigError::Invalid { path: path.to_path_buf(), message: "larger than 1 MiB".into() });
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    toml::from_str(&text).map_err(|e| ConfigError::Invalid { path: path.to_path_buf(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("fieldsync.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_flags_win_over_the_file_which_wins_over_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(&dir, "data = \"/srv/fieldsync\"\nlisten = \"127.0.0.1:9000\"\npool-sweep-s = 60\n");
        let args = ServeArgs { config: Some(path), pool_sweep_s: Some(5), ..ServeArgs::default() };
        let config = args.resolve().unwrap();
        assert_eq!(config.data, PathBuf::from("/srv/fieldsync"));
        assert_eq!(config.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(config.pool_sweep_s, 5);
        assert_eq!(config.demo_customers, 200);
        assert_eq!(ServeArgs::default().resolve().unwrap(), Config::default());
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(&dir, "data = \"/srv\"\n\nlisten-adress = \"0.0.0.0:443\"\n");
        let err = ServeArgs { config: Some(path), ..ServeArgs::default() }.resolve().unwrap_err().to_string();
        assert!(err.contains("listen-adress") && err.contains("line 3"), "{err}");
        let path = file(&dir, "pool-sweep-s = \"often\"\n");
        let err = ServeArgs { config: Some(path), ..ServeArgs::default() }.resolve().unwrap_err().to_string();
        assert!(err.contains("pool-sweep-s") || err.contains("line 1"), "{err}");
        let missing = ServeArgs { config: Some(dir.path().join("none.toml")), ..ServeArgs::default() };
        assert!(matches!(missing.resolve(), Err(ConfigError::Read { .. })));
    }

    #[test]
    fn plain_http_leaves_loopback_only_when_allowed() {
        let open = |addr: &str, allow: Option<bool>| ServeArgs {
            listen: Some(addr.parse().unwrap()),
            allow_plain_http: allow,
            ..ServeArgs::default()
        };
        assert!(matches!(open("0.0.0.0:8080", None).resolve(), Err(ConfigError::PlainHttp(_))));
        assert!(matches!(open("192.168.1.5:80", Some(false)).resolve(), Err(ConfigError::PlainHttp(_))));
        assert!(open("0.0.0.0:8080", Some(true)).resolve().is_ok());
        assert!(open("[::1]:8080", None).resolve().is_ok());
        let tls = ServeArgs {
            listen: Some("0.0.0.0:443".parse().unwrap()),
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            ..ServeArgs::default()
        };
        assert_eq!(tls.resolve().unwrap().scheme(), "https");
        let half = ServeArgs { tls_cert: Some("c.pem".into()), ..ServeArgs::default() };
        assert!(matches!(half.resolve(), Err(ConfigError::HalfTls)));
    }
}
