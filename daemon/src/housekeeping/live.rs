//! What live jobs still need among the ended folders: a job in jobs/ that `prepare`
//! found to be a duplicate records its original's result folder (`duplicate_of` in
//! state.json) and is delivered as a pointer to it, so that folder must stay while the
//! job is live. Nothing in jobs/ is ever a candidate itself.

use std::collections::BTreeSet;
use std::time::SystemTime;

use crate::dedupe::DuplicateOf;
use crate::job::list_job_dirs;
use crate::pipeline;
use crate::spool::Spool;

/// The result folders (relative to the spool, as records store them) that jobs in
/// jobs/ whose state.json changed at or after `since` point at as their original.
pub fn originals_in_use(spool: &Spool, since: SystemTime) -> BTreeSet<String> {
    let mut in_use = BTreeSet::new();
    let Ok(jobs) = list_job_dirs(&spool.jobs()) else {
        return in_use;
    };
    for job in jobs {
        let fresh = std::fs::metadata(job.state_path())
            .and_then(|meta| meta.modified())
            .is_ok_and(|modified| modified >= since);
        if !fresh {
            continue;
        }
        let Ok(Some(state)) = job.read_state() else {
            continue;
        };
        let original = state
            .stages
            .iter()
            .find(|stage| stage.name == pipeline::PREPARE)
            .and_then(|stage| stage.outputs.get("duplicate_of"))
            .and_then(|value| serde_json::from_value::<DuplicateOf>(value.clone()).ok());
        if let Some(original) = original {
            in_use.insert(original.location);
        }
    }
    in_use
}
