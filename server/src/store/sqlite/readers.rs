//! Reader threads: a fixed set of threads per lane, each with its own read-only connection,
//! taking read jobs from one queue in arrival order.
//!
//! Under load a thread that finishes a job takes the next at once, with no hand-over between
//! threads: each job costs no wake-up (tokio's blocking pool behind a semaphore woke a task and
//! a thread for every read), and each connection stays with its thread (its prepared statements
//! with it). A job that panics fails alone: its thread drops the connection (whatever the panic
//! left open goes with it) and opens another for the next job. A job whose caller went away
//! before it started (a client that hung up while it queued) is skipped.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};

use rusqlite::Connection;

use crate::error::AppError;

type Job = Box<dyn FnOnce(&mut Option<Connection>) + Send>;

/// A lane of reader threads (see the module's documentation). The threads end when the lane is
/// dropped, after the jobs already queued.
pub(crate) struct Lane {
    queue: mpsc::Sender<Job>,
}

impl Lane {
    /// A lane of `threads` threads; `name` names the threads.
    pub(crate) fn start(threads: usize, name: &str) -> std::io::Result<Lane> {
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..threads.max(1) {
            let jobs = jobs.clone();
            std::thread::Builder::new().name(name.to_string()).spawn(move || {
                let mut conn = None;
                loop {
                    // The lock is held only while waiting for a job, never while running one.
                    let job = jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).recv();
                    let Ok(job) = job else { return };
                    // A job contains its own panics; should one escape anyway, the thread lives on
                    // (a lane never loses a thread) with a new connection.
                    if catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
                        conn = None;
                    }
                }
            })?;
        }
        Ok(Lane { queue })
    }

    /// Runs `f` on one of the lane's connections (opened with `open` when the thread has none)
    /// and returns its result. A panic inside fails this call only.
    pub(crate) async fn run<T: Send + 'static, E: Into<AppError> + Send + 'static>(
        &self,
        open: impl FnOnce() -> Result<Connection, AppError> + Send + 'static,
        f: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, AppError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn: &mut Option<Connection>| {
            // A caller that went away while its job waited (a client that hung up) costs nothing.
            if reply.is_closed() {
                return;
            }
            let result = match conn.take().map_or_else(open, Ok) {
                Ok(mut c) => match catch_unwind(AssertUnwindSafe(|| f(&mut c))) {
                    Ok(result) => {
                        // Kept for the next job unless something left it inside a transaction.
                        if c.is_autocommit() {
                            *conn = Some(c);
                        }
                        result.map_err(Into::into)
                    }
                    // The connection is dropped: whatever the panic left open goes with it.
                    Err(_) => Err(AppError::Internal("a request failed inside the store".into())),
                },
                Err(e) => Err(e),
            };
            // A caller that went away no longer waits for its answer.
            let _ = reply.send(result);
        });
        self.queue.send(job).map_err(|_| AppError::Internal("the store's readers stopped".into()))?;
        answer.await.map_err(|_| AppError::Internal("the store's readers stopped".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    fn open() -> Result<Connection, AppError> {
        Connection::open_in_memory().map_err(|e| AppError::Internal(e.to_string()))
    }

    /// Whether the connection the job gets is the one the previous job left (it has the marker).
    fn marked(conn: &mut Connection) -> bool {
        conn.query_row("SELECT count(*) FROM sqlite_temp_master WHERE name = 'marker'", [], |r| r.get::<_, i64>(0))
            .unwrap()
            == 1
    }

    #[tokio::test]
    async fn every_job_is_answered_and_a_thread_keeps_its_connection() {
        let lane = Arc::new(Lane::start(3, "test-read").unwrap());
        let jobs = (0..200).map(|i| {
            let lane = lane.clone();
            tokio::spawn(async move {
                lane.run(open, move |c| {
                    c.query_row("SELECT ?1 * 2", [i], |r| r.get::<_, i64>(0)).map_err(StoreError::from)
                })
                .await
            })
        });
        for (i, job) in jobs.enumerate() {
            assert_eq!(job.await.unwrap().unwrap(), 2 * i as i64);
        }
        let one = Lane::start(1, "test-read").unwrap();
        one.run(open, |c| c.execute_batch("CREATE TEMP TABLE marker (x)").map_err(StoreError::from)).await.unwrap();
        assert!(one.run(open, |c| Ok::<_, StoreError>(marked(c))).await.unwrap());
    }

    #[tokio::test]
    async fn a_job_whose_caller_went_away_before_it_started_is_not_run() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let lane = Arc::new(Lane::start(1, "test-read").unwrap());
        let (started, release) = (Arc::new(tokio::sync::Notify::new()), Arc::new(std::sync::Barrier::new(2)));
        // The lane's only thread is held by a first job until the second has been abandoned.
        let (s, r) = (started.clone(), release.clone());
        let first = tokio::spawn({
            let lane = lane.clone();
            async move {
                lane.run(open, move |_| {
                    s.notify_one();
                    r.wait();
                    Ok::<_, StoreError>(())
                })
                .await
            }
        });
        started.notified().await;
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let abandoned = lane.run(open, move |_| {
            flag.store(true, Ordering::SeqCst);
            Ok::<_, StoreError>(())
        });
        // Polled once (so it is queued), then dropped, as a request whose client hung up.
        assert!(tokio::time::timeout(std::time::Duration::ZERO, abandoned).await.is_err());
        release.wait();
        first.await.unwrap().unwrap();
        // The next job runs after the abandoned one would have.
        lane.run(open, |_| Ok::<_, StoreError>(())).await.unwrap();
        assert!(!ran.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_job_that_panics_or_leaves_a_transaction_open_fails_alone_and_its_connection_goes() {
        let lane = Lane::start(1, "test-read").unwrap();
        let mark = |c: &mut Connection| {
            c.execute_batch("CREATE TEMP TABLE IF NOT EXISTS marker (x)").map_err(StoreError::from)
        };
        lane.run(open, mark).await.unwrap();
        let panicked = lane.run(open, |_| -> Result<(), StoreError> { panic!("a dependency panics") }).await;
        assert!(matches!(panicked, Err(AppError::Internal(_))));
        assert!(!lane.run(open, |c| Ok::<_, StoreError>(marked(c))).await.unwrap(), "a new connection");

        lane.run(open, mark).await.unwrap();
        lane.run(open, |c| c.execute_batch("BEGIN").map_err(StoreError::from)).await.unwrap();
        assert!(!lane.run(open, |c| Ok::<_, StoreError>(marked(c))).await.unwrap(), "a new connection");
        // An error that leaves no transaction keeps the connection.
        lane.run(open, mark).await.unwrap();
        assert!(
            lane.run(open, |c| c.execute_batch("SELECT * FROM no_such_table").map_err(StoreError::from)).await.is_err()
        );
        assert!(lane.run(open, |c| Ok::<_, StoreError>(marked(c))).await.unwrap());
        // A connection that cannot be opened fails that job only.
        let broken = || Err(AppError::Internal("no database".into()));
        let lane = Lane::start(1, "test-read").unwrap();
        assert!(lane.run(broken, |_| Ok::<_, StoreError>(())).await.is_err());
        assert!(lane.run(open, |_| Ok::<_, StoreError>(())).await.is_ok());
    }
}
