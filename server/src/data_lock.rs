//! One server per data folder: `serve` holds an exclusive lock on `DATA/server.lock` while it
//! runs (the operating system releases it when the process ends, even killed), so a second server
//! started on the same folder refuses with a clear message instead of answering "database is
//! locked" to every write. Admin commands do not take it: they work beside a running server.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

pub struct DataLock {
    _file: File,
}

impl DataLock {
    pub fn take(data: &Path) -> std::io::Result<DataLock> {
        let path = data.join("server.lock");
        let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                let by = if pid.is_empty() { String::new() } else { format!(" (process {pid})") };
                return Err(std::io::Error::other(format!(
                    "another fieldsync-server is already serving {}{by}; stop it first, or give this one another --data",
                    data.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        Ok(DataLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_second_lock_on_the_same_folder_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = super::DataLock::take(dir.path()).unwrap();
        let err = super::DataLock::take(dir.path()).err().unwrap().to_string();
        assert!(err.contains("already serving") && err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        super::DataLock::take(dir.path()).unwrap();
    }
}
