//! A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` into a temporary folder, the
//! server on its own port on 127.0.0.1 (and a Unix socket in that folder), removed when dropped.
//! No containers, no shared system cluster.
//!
//! The binaries are found with `pg_config --bindir`, then under `/usr/lib/postgresql/*/bin`
//! (Debian's packages). PostgreSQL refuses to run as root: as root, the cluster belongs to the
//! `postgres` system user (the package creates it), switched to in the child before `exec`. The
//! server is told to shut down fast when the process that started it dies, so a test killed
//! midway leaves no server behind; folders left by such a test are removed by the next start.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where clusters live: one folder per cluster, named after the process that started it.
const PARENT: &str = "fieldsync-pg";

/// The user every cluster's superuser is called (trust authentication on loopback only).
pub const SUPERUSER: &str = "fieldsync";

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL's server binaries were not found (looked for pg_config, and under /usr/lib/postgresql/*/bin): install them with `apt-get install -y postgresql`"
    )]
    NotInstalled,
    #[error("running as root, but there is no `postgres` system user to run PostgreSQL as")]
    NoUser,
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{command} failed: {output}")]
    Failed { command: String, output: String },
    #[error("the PostgreSQL server did not accept connections within {0:?}: {1}")]
    NotReady(Duration, String),
}

/// A running throwaway cluster.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    server: Option<Child>,
    /// `-c` settings beyond the defaults (TLS).
    settings: Vec<String>,
}

impl Cluster {
    /// Makes and starts a new cluster.
    pub fn start() -> Result<Cluster, ClusterError> {
        Cluster::start_with(None)
    }

    /// A cluster that also takes TLS connections, with this certificate chain and key (PEM).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Result<Cluster, ClusterError> {
        Cluster::start_with(Some((cert_pem, key_pem)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Result<Cluster, ClusterError> {
        let bin = bindir()?;
        let parent = std::env::temp_dir().join(PARENT);
        std::fs::create_dir_all(&parent).map_err(io("create the clusters' folder"))?;
        remove_abandoned(&parent);
        let owner = owner()?;
        let dir = new_folder(&parent, owner)?;
        let data = dir.join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
            .current_dir(&dir);
        run_as(&mut initdb, owner, false);
        let out = initdb.output().map_err(io("run initdb"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(ClusterError::Failed { command: "initdb".into(), output: text(&out) });
        }
        let mut settings = Vec::new();
        if let Some((cert, key)) = tls {
            for (name, pem, mode) in [("server.crt", cert, 0o644), ("server.key", key, 0o600)] {
                let path = data.join(name);
                std::fs::write(&path, pem).map_err(io("write the TLS files"))?;
                std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))
                    .map_err(io("protect the TLS key"))?;
                if let Some((uid, gid)) = owner {
                    std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                        .map_err(io("give the TLS files to postgres"))?;
                }
            }
            settings = ["ssl=on", "ssl_cert_file=server.crt", "ssl_key_file=server.key"].map(String::from).to_vec();
        }
        let port = free_port()?;
        let mut cluster = Cluster { dir, port, bin, server: None, settings };
        cluster.launch(owner)?;
        cluster.wait_ready(Duration::from_secs(30))?;
        Ok(cluster)
    }

    /// A streaming replica of this cluster (`pg_basebackup -R`), started on its own port and
    /// known to the primary as `name` (its `application_name`).
    pub fn replica(&self, name: &str) -> Result<Cluster, ClusterError> {
        let parent = self.dir.parent().ok_or_else(|| ClusterError::Failed {
            command: "pg_basebackup".into(),
            output: "the cluster has no parent folder".into(),
        })?;
        let owner = owner()?;
        let dir = new_folder(parent, owner)?;
        let mut backup = Command::new(self.bin.join("pg_basebackup"));
        backup
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", SUPERUSER, "-D"])
            .arg(dir.join("data"))
            .args(["-R", "-X", "stream", "--checkpoint=fast", "--no-sync"])
            .current_dir(&dir);
        run_as(&mut backup, owner, false);
        let out = backup.output().map_err(io("run pg_basebackup"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(ClusterError::Failed { command: "pg_basebackup".into(), output: text(&out) });
        }
        let mut settings = self.settings.clone();
        settings.push(format!(
            "primary_conninfo=host=127.0.0.1 port={} user={SUPERUSER} application_name={name}",
            self.port
        ));
        let mut replica = Cluster { dir, port: free_port()?, bin: self.bin.clone(), server: None, settings };
        replica.launch(owner)?;
        replica.wait_ready(Duration::from_secs(30))?;
        Ok(replica)
    }

    /// Starts the server process on the cluster's folder and port.
    fn launch(&mut self, owner: Option<(u32, u32)>) -> Result<(), ClusterError> {
        let mut postgres = Command::new(self.bin.join("postgres"));
        postgres
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c"])
            .arg(format!("unix_socket_directories={}", self.dir.display()))
            .args(["-c", "max_connections=200", "-c", "shared_buffers=64MB"])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("server.log")).map(Stdio::from).unwrap_or(Stdio::null()));
        for setting in &self.settings {
            postgres.args(["-c", setting]);
        }
        run_as(&mut postgres, owner, true);
        self.server = Some(spawn(postgres).map_err(io("start postgres"))?);
        Ok(())
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for `database` as the superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, ClusterError> {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""))?;
        Ok(self.url(name))
    }

    /// Runs one SQL command with `psql` (for tests: setting up, or looking behind the store).
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, ClusterError> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(["-U", SUPERUSER, "-d", database, "-c", sql])
            .output()
            .map_err(io("run psql"))?;
        if !out.status.success() {
            return Err(ClusterError::Failed { command: "psql".into(), output: text(&out) });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Stops the server (fast shutdown: open connections are cut) and starts it again on the same
    /// folder and port: a database restarted under load.
    pub fn restart(&mut self) -> Result<(), ClusterError> {
        self.stop();
        self.launch(owner()?)?;
        self.wait_ready(Duration::from_secs(30))
    }

    /// Stops the server (fast shutdown) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.server.take() {
            // SIGINT: PostgreSQL's fast shutdown.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGINT);
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn wait_ready(&mut self, within: Duration) -> Result<(), ClusterError> {
        let deadline = Instant::now() + within;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Some(child) = self.server.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                return Err(ClusterError::Failed { command: format!("postgres ({status})"), output: log });
            }
            let out = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", SUPERUSER, "-d", "postgres"])
                .output()
                .map_err(io("run pg_isready"))?;
            if out.status.success() {
                return Ok(());
            }
            last = text(&out);
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(ClusterError::NotReady(within, last))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new cluster's folder under `parent`, named after this process (see [`remove_abandoned`]),
/// belonging to `owner`.
fn new_folder(parent: &Path, owner: Option<(u32, u32)>) -> Result<PathBuf, ClusterError> {
    let dir = parent.join(format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(io("create the cluster's folder"))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).map_err(io("give the cluster's folder to postgres"))?;
    }
    Ok(dir)
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> ClusterError + '_ {
    move |source| ClusterError::Io { what: what.to_string(), source }
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)).trim().to_string()
}

/// The folder of PostgreSQL's server binaries.
fn bindir() -> Result<PathBuf, ClusterError> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
            return Ok(dir);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    // The newest version first.
    found.sort_by_key(|p| std::cmp::Reverse(p.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())));
    found
        .into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("postgres").is_file())
        .ok_or(ClusterError::NotInstalled)
}

/// As root, the `postgres` user's uid and gid (PostgreSQL refuses to run as root).
fn owner() -> Result<Option<(u32, u32)>, ClusterError> {
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = std::ffi::CString::new("postgres").map_err(|_| ClusterError::NoUser)?;
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return Err(ClusterError::NoUser);
    }
    let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
    Ok(Some((uid, gid)))
}

/// Runs `command` as `owner` (when given); a server is also told to shut down fast when this
/// process dies.
fn run_as(command: &mut Command, owner: Option<(u32, u32)>, server: bool) {
    use std::os::unix::process::CommandExt;
    unsafe {
        command.pre_exec(move || {
            if let Some((uid, gid)) = owner
                && (libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            // After the switch of user, which clears it.
            if server && libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Starts a server process from a thread that lives as long as this process: the server is told
/// to stop when the thread that started it ends (`PR_SET_PDEATHSIG` follows the thread, not the
/// process), so a server started, or restarted, from a short-lived thread would stop with it.
fn spawn(command: Command) -> std::io::Result<Child> {
    type Job = (Command, std::sync::mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: std::sync::OnceLock<Option<std::sync::Mutex<std::sync::mpsc::Sender<Job>>>> =
        std::sync::OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let started = std::thread::Builder::new().name("fieldsync-pg-spawner".into()).spawn(move || {
            for (mut command, reply) in rx {
                let _ = reply.send(command.spawn());
            }
            // The senders live in a static: this loop never ends while the process runs.
            loop {
                std::thread::park();
            }
        });
        started.ok().map(|_| std::sync::Mutex::new(tx))
    });
    let Some(spawner) = spawner else { return Err(std::io::Error::other("cannot start the spawner thread")) };
    let (reply, answer) = std::sync::mpsc::channel();
    spawner
        .lock()
        .map_err(|_| std::io::Error::other("the spawner is poisoned"))?
        .send((command, reply))
        .map_err(|_| std::io::Error::other("the spawner thread stopped"))?;
    answer.recv().map_err(|_| std::io::Error::other("the spawner thread stopped"))?
}

/// A port free on 127.0.0.1 now (the server binds it a moment later).
fn free_port() -> Result<u16, ClusterError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("find a free port"))?;
    Ok(listener.local_addr().map_err(io("find a free port"))?.port())
}

/// Removes the folders of clusters whose process has gone.
fn remove_abandoned(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<i32>().ok()) else { continue };
        let alive =
            unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The admin URL (database `postgres`) of a cluster shared by the whole process, started on first
/// use. It is started from a thread that lives as long as the process (the server is told to stop
/// when the thread that started it ends), and stops when the process does.
pub fn shared() -> Result<String, String> {
    static SHARED: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    SHARED
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            let started = std::thread::Builder::new().name("fieldsync-pg-cluster".into()).spawn(move || {
                match Cluster::start() {
                    Ok(cluster) => {
                        let _ = tx.send(Ok(cluster.url("postgres")));
                        // Held until the process ends.
                        loop {
                            std::thread::park();
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            });
            match started {
                Ok(_) => rx.recv().unwrap_or_else(|_| Err("the cluster's thread ended".into())),
                Err(e) => Err(e.to_string()),
            }
        })
        .clone()
}
