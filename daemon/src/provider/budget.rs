//! Budgets: what paid calls cost, per job and per day, from the price table in the
//! config (`[providers.NAME] prices`, per operation). A call is reserved against
//! both caps before it is sent and refunded if it fails; a call that would pass a
//! cap is refused with a clear error instead of overspending. Ledgers live in
//! `<spool>/ledger/` (one file per UTC day, one per job) and are updated under a
//! file lock, so daemons sharing the spool share the daily cap. This module owns
//! those files: [`Budget::prune_ledger`] removes the ones past an age.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use fs2::FileExt;
use serde::{Deserialize, Serialize};

use super::config::BudgetConfig;

/// Spend so far in one ledger file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ledger {
    /// Money spent (in the config's currency).
    pub spent: f64,
    /// Paid calls counted.
    pub calls: u64,
}

/// Why a paid call was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BudgetError {
    /// The job's cap would be passed.
    #[error(
        "the job's budget of {cap:.2} {currency} would be exceeded ({spent:.2} spent, this call costs {price:.2})"
    )]
    Job {
        /// `budget.per_job`.
        cap: f64,
        /// Spent by the job so far.
        spent: f64,
        /// This call's price.
        price: f64,
        /// The currency.
        currency: String,
    },
    /// The daily cap would be passed.
    #[error(
        "today's budget of {cap:.2} {currency} would be exceeded ({spent:.2} spent, this call costs {price:.2})"
    )]
    Day {
        /// `budget.per_day`.
        cap: f64,
        /// Spent today so far.
        spent: f64,
        /// This call's price.
        price: f64,
        /// The currency.
        currency: String,
    },
    /// The ledger could not be read or written: refuse rather than spend blind.
    #[error("the cost ledger is not usable: {0}")]
    Ledger(String),
}

/// What [`Budget::prune_ledger`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrunedLedgers {
    /// Per-day files removed.
    pub days: usize,
    /// Per-job files removed.
    pub jobs: usize,
}

/// The budget of one spool.
#[derive(Debug, Clone)]
pub struct Budget {
    dir: PathBuf,
    config: BudgetConfig,
}

/// A reservation; refund it when the call did not go through.
#[derive(Debug, Clone)]
pub struct Reservation {
    /// The price reserved.
    pub price: f64,
    job: Option<String>,
    day: String,
}

impl Budget {
    /// The ledgers under `<spool>/ledger/`.
    pub fn new(spool_root: &Path, config: BudgetConfig) -> Budget {
        Budget {
            dir: crate::spool::Spool::new(spool_root).ledger(),
            config,
        }
    }

    /// Removes ledger files older than `older_than`: per-day files whose day ended
    /// that long ago (by their name), and per-job files last written that long ago
    /// (by their modification time). Runs under the ledger lock, so a daemon
    /// reserving or refunding at the same time never sees a half-pruned ledger. Keep
    /// `older_than` above a day, or today's cap forgets what was spent.
    pub fn prune_ledger(&self, older_than: Duration) -> Result<PrunedLedgers, BudgetError> {
        let now = SystemTime::now();
        let cutoff = now
            .checked_sub(older_than)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let cutoff_day = chrono::DateTime::<chrono::Utc>::from(cutoff).date_naive();
        self.locked(|| {
            let io = |path: &Path, error: std::io::Error| {
                BudgetError::Ledger(format!("{}: {error}", path.display()))
            };
            let mut pruned = PrunedLedgers::default();
            for entry in std::fs::read_dir(&self.dir).map_err(|error| io(&self.dir, error))? {
                let path = entry.map_err(|error| io(&self.dir, error))?.path();
                let day = path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .and_then(|name| name.strip_suffix(".json"))
                    .and_then(|day| chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok());
                // A day's file is kept until the whole day is older than the cutoff.
                if day.is_some_and(|day| day < cutoff_day) {
                    std::fs::remove_file(&path).map_err(|error| io(&path, error))?;
                    pruned.days += 1;
                }
            }
            let jobs = self.dir.join("jobs");
            for entry in std::fs::read_dir(&jobs).map_err(|error| io(&jobs, error))? {
                let entry = entry.map_err(|error| io(&jobs, error))?;
                let path = entry.path();
                let modified = entry
                    .metadata()
                    .and_then(|metadata| metadata.modified())
                    .map_err(|error| io(&path, error))?;
                if path
                    .extension()
                    .is_some_and(|extension| extension == "json")
                    && modified < cutoff
                {
                    std::fs::remove_file(&path).map_err(|error| io(&path, error))?;
                    pruned.jobs += 1;
                }
            }
            Ok(pruned)
        })
    }

    /// Reserves `price` for a call of `job`; fails when a cap would be passed.
    pub fn reserve(&self, job: Option<&str>, price: f64) -> Result<Reservation, BudgetError> {
        let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let reservation = Reservation {
            price,
            job: job.map(str::to_owned),
            day: day.clone(),
        };
        if price <= 0.0 {
            return Ok(reservation);
        }
        self.locked(|| {
            let day_path = self.dir.join(format!("{day}.json"));
            let mut today = read(&day_path)?;
            let job_path = job.map(|job| self.job_path(job));
            let mut spent_by_job = match &job_path {
                Some(path) => read(path)?,
                None => Ledger::default(),
            };
            let currency = self.config.currency.clone();
            if self.config.per_job > 0.0
                && job.is_some()
                && spent_by_job.spent + price > self.config.per_job + 1e-9
            {
                return Err(BudgetError::Job {
                    cap: self.config.per_job,
                    spent: spent_by_job.spent,
                    price,
                    currency,
                });
            }
            if self.config.per_day > 0.0 && today.spent + price > self.config.per_day + 1e-9 {
                return Err(BudgetError::Day {
                    cap: self.config.per_day,
                    spent: today.spent,
                    price,
                    currency,
                });
            }
            today.spent += price;
            today.calls += 1;
            write(&day_path, &today)?;
            if let Some(path) = &job_path {
                spent_by_job.spent += price;
                spent_by_job.calls += 1;
                write(path, &spent_by_job)?;
            }
            Ok(())
        })?;
        Ok(reservation)
    }

    /// Gives a reservation back (the call failed, nothing was bought).
    pub fn refund(&self, reservation: &Reservation) {
        if reservation.price <= 0.0 {
            return;
        }
        let result = self.locked(|| {
            let day_path = self.dir.join(format!("{}.json", reservation.day));
            let mut today = read(&day_path)?;
            today.spent = (today.spent - reservation.price).max(0.0);
            today.calls = today.calls.saturating_sub(1);
            write(&day_path, &today)?;
            if let Some(job) = &reservation.job {
                let path = self.job_path(job);
                let mut spent = read(&path)?;
                spent.spent = (spent.spent - reservation.price).max(0.0);
                spent.calls = spent.calls.saturating_sub(1);
                write(&path, &spent)?;
            }
            Ok(())
        });
        if let Err(error) = result {
            tracing::warn!(%error, "Could not refund a failed call in the cost ledger.");
        }
    }

    /// What a job has spent.
    pub fn spent_by_job(&self, job: &str) -> f64 {
        read(&self.job_path(job))
            .map(|ledger| ledger.spent)
            .unwrap_or(0.0)
    }

    fn job_path(&self, job: &str) -> PathBuf {
        // Job ids are UUIDs; anything else is reduced to safe characters.
        let safe: String = job
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        self.dir.join("jobs").join(format!("{safe}.json"))
    }

    fn locked<T>(&self, work: impl FnOnce() -> Result<T, BudgetError>) -> Result<T, BudgetError> {
        let io = |error: std::io::Error| BudgetError::Ledger(error.to_string());
        std::fs::create_dir_all(self.dir.join("jobs")).map_err(io)?;
        let lock = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.join(".lock"))
            .map_err(io)?;
        lock.lock_exclusive().map_err(io)?;
        let result = work();
        let _ = FileExt::unlock(&lock);
        result
    }
}

fn read(path: &Path) -> Result<Ledger, BudgetError> {
    crate::spool::fsutil::read_json::<Ledger>(path)
        .map(Option::unwrap_or_default)
        .map_err(|error| BudgetError::Ledger(format!("{}: {error}", path.display())))
}

fn write(path: &Path, ledger: &Ledger) -> Result<(), BudgetError> {
    crate::spool::fsutil::write_json_atomic(path, ledger, true)
        .map_err(|error| BudgetError::Ledger(format!("{}: {error}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_stop_paid_calls_and_refunds_give_room_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let budget = Budget::new(
            dir.path(),
            BudgetConfig {
                per_job: 1.0,
                per_day: 1.5,
                currency: "USD".into(),
            },
        );
        let first = budget.reserve(Some("job-a"), 0.6).expect("fits");
        assert!(matches!(
            budget.reserve(Some("job-a"), 0.6),
            Err(BudgetError::Job { .. })
        ));
        budget
            .reserve(Some("job-b"), 0.6)
            .expect("another job fits");
        let refused = budget
            .reserve(Some("job-c"), 0.6)
            .expect_err("the day is full");
        assert!(
            refused.to_string().contains("today's budget of 1.50 USD"),
            "{refused}"
        );
        budget.refund(&first);
        assert_eq!(budget.spent_by_job("job-a"), 0.0);
        budget
            .reserve(Some("job-c"), 0.6)
            .expect("the refund made room");
        assert!(budget.reserve(None, 0.0).is_ok(), "free calls always pass");
    }

    #[test]
    fn pruning_removes_old_days_and_old_jobs_and_keeps_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let budget = Budget::new(
            dir.path(),
            BudgetConfig {
                per_job: 0.0,
                per_day: 10.0,
                currency: "USD".into(),
            },
        );
        budget.reserve(Some("job-new"), 0.5).expect("fits");
        budget.reserve(Some("job-old"), 0.5).expect("fits");
        let ledger = dir.path().join("ledger");
        std::fs::write(ledger.join("2020-01-01.json"), r#"{"spent":1.0,"calls":1}"#)
            .expect("old day");
        std::fs::write(ledger.join("notes.txt"), "not a ledger").expect("other file");
        let old_job = ledger.join("jobs").join("job-old.json");
        let long_ago = SystemTime::now() - Duration::from_secs(40 * 86_400);
        std::fs::File::options()
            .write(true)
            .open(&old_job)
            .and_then(|file| file.set_modified(long_ago))
            .expect("age the job file");

        let pruned = budget
            .prune_ledger(Duration::from_secs(30 * 86_400))
            .expect("prune");
        assert_eq!(pruned, PrunedLedgers { days: 1, jobs: 1 });
        assert!(!ledger.join("2020-01-01.json").exists() && !old_job.exists());
        assert!(ledger.join("notes.txt").exists());
        assert_eq!(budget.spent_by_job("job-new"), 0.5);
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        assert!(
            ledger.join(format!("{today}.json")).exists(),
            "today was pruned"
        );
    }
}
