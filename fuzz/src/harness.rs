//! Fresh copies of the fixture for every input, cheap enough for thousands of inputs a second:
//! the server store is restored into a new in-memory database with SQLite's backup API, the
//! tablet's store is written to a fresh file (in /dev/shm where there is one) and opened.

use std::path::{Path, PathBuf};

use fieldsync_core::store::Store;
use fieldsync_server::accounts::{self, Device, User};
use rusqlite::Connection;
use rusqlite::backup::Backup;

use crate::fixture::{self, Info};

/// The server fixture, held in memory.
pub struct Server {
    template: Connection,
    pub info: Info,
    /// Each fixture user with their registered device, in [`Info::users`] order.
    pub users: Vec<(User, Device)>,
}

fn copy(from: &Connection, to: &mut Connection) -> rusqlite::Result<()> {
    Backup::new(from, to)?.step(-1)?;
    Ok(())
}

impl Server {
    /// Loads the fixture from [`fixture::dir`]. Panics with a clear message when it is missing:
    /// the targets cannot run without it.
    pub fn load() -> Server {
        Self::load_from(&fixture::dir()).unwrap_or_else(|e| panic!("the server fixture: {e}"))
    }

    pub fn load_from(dir: &Path) -> Result<Server, String> {
        let info = Info::read(dir)?;
        let file = Connection::open(dir.join("server.db")).map_err(|e| e.to_string())?;
        let mut template = Connection::open_in_memory().map_err(|e| e.to_string())?;
        copy(&file, &mut template).map_err(|e| e.to_string())?;
        // Authenticating renews tokens: done on a scratch copy, so every input starts alike.
        let scratch = {
            let mut scratch = Connection::open_in_memory().map_err(|e| e.to_string())?;
            copy(&template, &mut scratch).map_err(|e| e.to_string())?;
            scratch
        };
        let mut users = Vec::new();
        for (name, _, device_id, token) in &info.users {
            let who = accounts::authenticate(&scratch, token, device_id, info.now)
                .map_err(|e| format!("fixture user {name}: {e}"))?;
            users.push((who.user, who.device));
        }
        Ok(Server { template, info, users })
    }

    /// A fresh copy of the server's store, set up as the server sets up its connection.
    pub fn fresh(&self) -> Connection {
        let mut conn = Connection::open_in_memory().expect("an in-memory database");
        copy(&self.template, &mut conn).expect("restore the server fixture");
        conn.execute_batch("PRAGMA foreign_keys = ON;").expect("pragmas");
        conn
    }

    /// The user and device an input header picks.
    pub fn user(&self, pick: u8) -> &(User, Device) {
        &self.users[pick as usize % self.users.len()]
    }

    /// The customer an input header picks: a stored one, or (one past the last) a valid ID the
    /// server has never seen.
    pub fn customer(&self, pick: u8) -> &str {
        const UNKNOWN: &str = "0190f000-0000-7000-8000-00000000fuzz";
        let customers = &self.info.customers;
        customers.get(pick as usize % (customers.len() + 1)).map_or(UNKNOWN, String::as_str)
    }

    /// A supervisor of `user`'s branch (to read back what `user` wrote), with their device.
    pub fn supervisor_of(&self, user: &User) -> &(User, Device) {
        self.users
            .iter()
            .find(|(u, _)| u.branch_id == user.branch_id && u.role == accounts::Role::Supervisor)
            .unwrap_or(&self.users[0])
    }

    /// The newest sequence number of a store (a cursor that pulls nothing old).
    pub fn head(conn: &Connection) -> u64 {
        conn.query_row("SELECT coalesce(max(seq), 0) FROM log", [], |r| r.get::<_, i64>(0)).unwrap_or(0) as u64
    }
}

/// The tablet fixture: the bytes of its store, written afresh for every input.
pub struct Tablet {
    bytes: Vec<u8>,
    dir: PathBuf,
    pub info: Info,
}

impl Tablet {
    pub fn load() -> Tablet {
        Self::load_from(&fixture::dir()).unwrap_or_else(|e| panic!("the device fixture: {e}"))
    }

    pub fn load_from(dir: &Path) -> Result<Tablet, String> {
        let info = Info::read(dir)?;
        let bytes = std::fs::read(dir.join("device.db")).map_err(|e| format!("device.db: {e}"))?;
        // Memory-backed where possible: a store syncs to disk on every commit.
        let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        let dir = base.join(format!("fieldsync-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        Ok(Tablet { bytes, dir, info })
    }

    /// A fresh copy of the tablet's store, opened.
    pub fn fresh(&self) -> Store {
        let path = self.dir.join("device.db");
        for suffix in ["-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(self.dir.join(format!("device.db{suffix}")));
        }
        std::fs::write(&path, &self.bytes).expect("write the device fixture");
        Store::open(&path, None).expect("open the device fixture")
    }
}

impl Drop for Tablet {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
