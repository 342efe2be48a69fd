//! The server's periodic work, one place: each sweep (the pool's recycling, lifecycle stages,
//! birthday reminders) finds the branches with work due and runs one transaction per branch, so a
//! large branch never holds the writer for all the others.

use crate::customers::PushError;
use crate::error::AppError;
use crate::store::{Database, Store, StoreResult, WriteBlocking};

/// A sweep: which branches have work due at a time, and the work for one branch.
pub struct Sweep {
    pub name: &'static str,
    pub due: fn(&dyn Store, i64) -> StoreResult<Vec<String>>,
    pub run: fn(&dyn Store, &str, i64) -> Result<usize, PushError>,
}

/// Every sweep the server runs, in order.
pub const ALL: [Sweep; 3] = [
    Sweep { name: "pool", due: |s, at| s.branches_with_due(at), run: crate::pool::sweep },
    Sweep { name: "stages", due: |s, at| s.branches_with_refresh(at), run: crate::stages::sweep },
    Sweep { name: "reminders", due: |s, at| s.branches_with_birthdays(at), run: crate::reminders::sweep },
];

impl Sweep {
    /// Runs this sweep as of `now` in every branch with work due; how many customers changed.
    pub async fn run_all(&self, db: &Database, now: i64) -> Result<usize, AppError> {
        let due = self.due;
        let run = self.run;
        let mut total = 0;
        for branch in db.read(move |s| due(s, now)).await? {
            total += db.write(move |s| run(s, &branch, now)).await?;
        }
        Ok(total)
    }

    /// The same, blocking (the admin commands).
    pub fn run_all_blocking(&self, db: &impl WriteBlocking, now: i64) -> Result<usize, PushError> {
        let mut total = 0;
        for branch in db.write_blocking(|s| (self.due)(s, now))? {
            total += db.write_blocking(|s| (self.run)(s, &branch, now))?;
        }
        Ok(total)
    }
}

/// Runs every sweep every `every`, for as long as the process runs. A failed sweep is logged;
/// the next round tries again.
pub async fn every(db: Database, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = crate::routes::now_ms();
        for sweep in &ALL {
            match sweep.run_all(&db, now).await {
                Ok(0) => {}
                Ok(changed) => tracing::info!(sweep = sweep.name, changed, "sweep done"),
                Err(e) => tracing::warn!(sweep = sweep.name, error = %e, "a sweep failed"),
            }
        }
    }
}
