//! The claim's last step, taken under the job lock before any stage reads the input:
//! the dropped input replaced by a daemon-owned snapshot (`spool/snapshot.rs`),
//! recorded in job.json.

use std::time::SystemTime;

use super::Runner;
use crate::job::{CLAIM_STAGE, JobDir, JobError, JobRecord};
use crate::pipeline::config::RouteConfig;
use crate::spool::snapshot::{self, Claimed, Request, SnapshotError};

impl Runner {
    /// Makes the claimed input the daemon's own (at once when job.json says it already
    /// is). `Ok(Err(error))`: the input is refused, and the job fails with `error`.
    pub(super) async fn snapshot_input(
        &self,
        job: &JobDir,
        record: &mut JobRecord,
        route: &RouteConfig,
    ) -> anyhow::Result<Result<(), JobError>> {
        // Missing from input/ only in the middle of a folder's swap: the record knows it.
        let name = job
            .input_name()?
            .unwrap_or_else(|| record.input.original_name());
        let durable = self.config.spool.fsync;
        let limit = route.max_size.map(|size| size.as_u64());
        let job = job.clone();
        let mut updated = record.clone();
        let (updated, result) = tokio::task::spawn_blocking(move || {
            let input_dir = job.input_dir();
            let input = &updated.input;
            let request = Request {
                input_dir: &input_dir,
                name: &name,
                kind: input.kind,
                claimed: Claimed {
                    size: input.size,
                    modified: input.modified.map(SystemTime::from),
                    entries: input.entries,
                },
                recorded: input.snapshot,
                limit,
                durable,
            };
            let result = snapshot::ensure(&request, |snapshot| {
                updated.input.snapshot = Some(*snapshot);
                updated.input.size = snapshot.size;
                job.write_record(&updated, durable)
            });
            (updated, result)
        })
        .await?;
        *record = updated;
        match result {
            Ok(snapshot) => {
                tracing::debug!(method = ?snapshot.method, size = snapshot.size, "The input is the daemon's own snapshot.");
                Ok(Ok(()))
            }
            Err(SnapshotError::Refused(rejection)) => Ok(Err(JobError {
                stage: CLAIM_STAGE.into(),
                reason: rejection.to_string(),
                hint: rejection.hint().to_owned(),
            })),
            Err(SnapshotError::Io(error)) => Err(error.into()),
        }
    }
}
