//! `chute watch [ID]`: live progress bars fed by the jobs' events.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use uuid::Uuid;

use super::{Cli, CliError, text};
use crate::catalog::{self, JobDetails};
use crate::job::{self, JobStatus};

/// Arguments of `chute watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Follow only this job (id, prefix, or short id) and exit when it ends.
    pub id: Option<String>,
}

/// Shows a bar per live job until interrupted (or until the one job ends).
pub fn execute(cli: &Cli, args: &WatchArgs) -> Result<(), CliError> {
    let (config, spool) = cli.spool()?;
    super::warn_if_no_daemon(&config, &spool);
    let only = match &args.id {
        Some(query) => Some(
            catalog::find(&spool, query)
                .map_err(CliError::usage)?
                .summary
                .id,
        ),
        None => None,
    };
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {pos:>3}% {msg}")
        .map_err(CliError::failure)?
        .progress_chars("=> ");
    let mut bars: HashMap<Uuid, ProgressBar> = HashMap::new();
    loop {
        let live: Vec<JobDetails> = job::list_job_dirs(&spool.jobs())
            .map_err(CliError::failure)?
            .into_iter()
            .filter(|dir| only.is_none_or(|id| id == dir.id))
            .filter_map(|dir| catalog::live_details(&spool, &dir))
            .collect();
        for details in &live {
            let bar = bars.entry(details.summary.id).or_insert_with(|| {
                let bar = multi.add(ProgressBar::new(100));
                bar.set_style(style.clone());
                bar.set_prefix(format!(
                    "{} {}",
                    details.summary.short_id, details.summary.route
                ));
                bar
            });
            bar.set_position(u64::from(details.summary.percent));
            let message = match (&details.summary.stage, details.events.last()) {
                (Some(stage), Some(event)) => {
                    format!("{stage}: {}", text::escape(&event.message))
                }
                (Some(stage), None) => stage.clone(),
                (None, _) => details.summary.state.name().to_owned(),
            };
            bar.set_message(format!(
                "{} — {message}",
                text::escape(&details.summary.input)
            ));
        }
        let gone: Vec<Uuid> = bars
            .keys()
            .filter(|id| !live.iter().any(|d| d.summary.id == **id))
            .copied()
            .collect();
        for id in gone {
            if let Some(bar) = bars.remove(&id) {
                let ended = catalog::find(&spool, &id.to_string()).ok();
                let message = ended.as_ref().map_or_else(
                    || "ended".to_owned(),
                    |d| {
                        format!(
                            "{} → {}",
                            d.summary.state.name(),
                            text::escape(&d.summary.location)
                        )
                    },
                );
                if ended
                    .as_ref()
                    .is_some_and(|d| d.summary.state == JobStatus::Done)
                {
                    bar.set_position(100);
                }
                bar.finish_with_message(message);
                if only == Some(id) {
                    let failed = ended.is_none_or(|d| d.summary.state != JobStatus::Done);
                    return if failed {
                        Err(CliError::failure(""))
                    } else {
                        Ok(())
                    };
                }
            }
        }
        if let Some(id) = only
            && !bars.contains_key(&id)
            && live.is_empty()
        {
            let ended = catalog::find(&spool, &id.to_string()).map_err(CliError::usage)?;
            println!(
                "{} {} {}",
                ended.summary.id,
                ended.summary.state.name(),
                text::escape(&ended.summary.location)
            );
            return if ended.summary.state == JobStatus::Done {
                Ok(())
            } else {
                Err(CliError::failure(""))
            };
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
