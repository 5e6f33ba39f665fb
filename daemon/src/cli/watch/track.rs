//! What `chute watch` remembers about each job across polls, and the view of a job it
//! prints: state, progress that never goes back during one session (the most each
//! stage has shown), time since the claim, and an estimate of the time left.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::catalog::JobDetails;
use crate::cli::text;
use crate::job::{Event, JobStatus};

/// One job as a line or a row of `chute watch` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    /// The job.
    pub id: Uuid,
    /// Its short id.
    pub short_id: String,
    /// Its input's name, escaped.
    pub input: String,
    /// Overall progress 0–100, never lower than shown before.
    pub percent: u8,
    /// Since the claim; for an ended job, until it ended.
    pub elapsed: Duration,
    /// Where it stands.
    pub status: Status,
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Claimed, waiting for a slot.
    Queued,
    /// Running a stage.
    Running {
        /// The stage, escaped.
        stage: String,
        /// The stage's own progress, never lower than shown before.
        percent: u8,
        /// Time left in the stage, when it can be estimated.
        eta: Option<Duration>,
        /// The stage's latest event, escaped.
        message: String,
    },
    /// Any other live state (a job being delivered, say), by name.
    Other(String),
    /// Delivered to its folder.
    Done {
        /// The result folder, escaped.
        location: String,
    },
    /// Delivered as a duplicate of an earlier job, not processed again.
    Duplicate {
        /// `duplicate of <short> (<folder>)`.
        original: String,
        /// Its own result folder, escaped.
        location: String,
    },
    /// Failed or cancelled.
    Failed {
        /// Cancelled rather than failed.
        cancelled: bool,
        /// The stage it ended in, escaped.
        stage: String,
        /// The first line of the reason, escaped.
        reason: String,
        /// Its folder in failed/, escaped.
        location: String,
    },
    /// Left jobs/ without a result folder that could be found.
    Gone,
}

impl JobView {
    /// Whether it ended delivered (done, or a duplicate).
    pub fn delivered(&self) -> bool {
        matches!(self.status, Status::Done { .. } | Status::Duplicate { .. })
    }
}

/// One job seen during this session.
#[derive(Debug, Clone)]
struct Seen {
    route: String,
    short_id: String,
    input: String,
    percent: u8,
    stage_percents: HashMap<String, u8>,
    elapsed: Duration,
}

/// The jobs seen during this session.
#[derive(Debug, Default)]
pub struct Tracker {
    jobs: HashMap<Uuid, Seen>,
}

impl Tracker {
    /// Starts following a job without showing it (the one job `chute watch ID` follows).
    pub fn follow(&mut self, details: &JobDetails) {
        self.seen(details);
    }

    /// The jobs followed that are not in `live`, with their routes.
    pub fn missing(&self, live: &[Uuid]) -> Vec<(Uuid, String)> {
        let mut missing: Vec<(Uuid, String)> = self
            .jobs
            .iter()
            .filter(|(id, _)| !live.contains(id))
            .map(|(id, seen)| (*id, seen.route.clone()))
            .collect();
        missing.sort();
        missing
    }

    /// The view of a live job at `now`; its progress is remembered.
    pub fn live(&mut self, details: &JobDetails, now: DateTime<Utc>) -> JobView {
        let summary = &details.summary;
        let elapsed = since(summary.claimed_at, now);
        let seen = self.seen(details);
        seen.percent = seen.percent.max(summary.percent);
        seen.elapsed = elapsed;
        let status = match (summary.state, &summary.stage) {
            (JobStatus::Queued, _) => Status::Queued,
            (JobStatus::Running, Some(stage)) => {
                let latest = details.events.iter().rev().find(|e| &e.stage == stage);
                let shown = seen.stage_percents.entry(stage.clone()).or_default();
                *shown = (*shown).max(latest.map_or(0, |event| event.percent));
                Status::Running {
                    stage: text::escape(stage).into_owned(),
                    percent: *shown,
                    eta: stage_eta(&details.events, stage, now),
                    message: latest.map_or_else(String::new, |e| text::escape(&e.message).into()),
                }
            }
            (state, _) => Status::Other(state.name().to_owned()),
        };
        JobView {
            id: summary.id,
            short_id: seen.short_id.clone(),
            input: seen.input.clone(),
            percent: seen.percent,
            elapsed,
            status,
        }
    }

    /// The view of a job that ended (from its result folder); it is no longer followed.
    pub fn ended(&mut self, details: &JobDetails) -> JobView {
        let summary = &details.summary;
        let result = details.result.as_ref();
        let ended_at = result
            .and_then(|r| r.get("delivered_at").or_else(|| r.get("failed_at")))
            .and_then(|at| serde_json::from_value::<DateTime<Utc>>(at.clone()).ok())
            .or_else(|| details.events.last().map(|event| event.ts))
            .unwrap_or_else(Utc::now);
        let location = text::escape(&summary.location).into_owned();
        let shown = self.seen(details).percent;
        self.jobs.remove(&summary.id);
        let status = match (&summary.duplicate_of, summary.state) {
            (Some(original), _) => Status::Duplicate {
                original: text::duplicate_of(original),
                location,
            },
            (None, JobStatus::Done) => Status::Done { location },
            (None, state) => Status::Failed {
                cancelled: state == JobStatus::Cancelled,
                stage: text::escape(summary.stage.as_deref().unwrap_or_default()).into_owned(),
                reason: result
                    .and_then(|r| r.get("reason"))
                    .and_then(|reason| reason.as_str())
                    .and_then(|reason| reason.lines().find(|line| !line.trim().is_empty()))
                    .map(|line| text::escape(line.trim()).into_owned())
                    .unwrap_or_default(),
                location,
            },
        };
        JobView {
            id: summary.id,
            short_id: summary.short_id.clone(),
            input: text::escape(&summary.input).into_owned(),
            percent: if summary.state == JobStatus::Done {
                100
            } else {
                shown.max(summary.percent)
            },
            elapsed: since(summary.claimed_at, ended_at),
            status,
        }
    }

    /// The view of a followed job whose folder left jobs/ without a result folder to be
    /// found; it is no longer followed.
    pub fn gone(&mut self, id: Uuid) -> Option<JobView> {
        let seen = self.jobs.remove(&id)?;
        Some(JobView {
            id,
            short_id: seen.short_id,
            input: seen.input,
            percent: seen.percent,
            elapsed: seen.elapsed,
            status: Status::Gone,
        })
    }

    fn seen(&mut self, details: &JobDetails) -> &mut Seen {
        let summary = &details.summary;
        self.jobs.entry(summary.id).or_insert_with(|| Seen {
            route: summary.route.clone(),
            short_id: summary.short_id.clone(),
            input: text::escape(&summary.input).into_owned(),
            percent: 0,
            stage_percents: HashMap::new(),
            elapsed: Duration::ZERO,
        })
    }
}

/// From `start` to `end`; zero when the clocks disagree.
fn since(start: DateTime<Utc>, end: DateTime<Utc>) -> Duration {
    (end - start).to_std().unwrap_or_default()
}

/// Time left in `stage` at `now`: the rate of its progress from its first event to its
/// latest (of its current attempt: a percent that goes back starts over), carried on
/// to 100 %. `None` with fewer than two events, no progress between them, or an
/// estimate that has already passed.
pub fn stage_eta(events: &[Event], stage: &str, now: DateTime<Utc>) -> Option<Duration> {
    let mut first: Option<&Event> = None;
    let mut latest: Option<&Event> = None;
    for event in events.iter().filter(|event| event.stage == stage) {
        if latest.is_none_or(|previous| event.percent < previous.percent) {
            first = Some(event);
        }
        latest = Some(event);
    }
    let (first, latest) = (first?, latest?);
    if latest.percent == 0 || latest.percent >= 100 || latest.percent <= first.percent {
        return None;
    }
    let spent = since(first.ts, latest.ts);
    if spent.is_zero() {
        return None;
    }
    let per_percent = spent.as_secs_f64() / f64::from(latest.percent - first.percent);
    let left_at_latest = per_percent * f64::from(100 - latest.percent);
    let since_latest = since(latest.ts, now).as_secs_f64();
    let left = left_at_latest - since_latest;
    (left.is_finite() && left > 0.0).then(|| Duration::from_secs_f64(left))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn event(seconds: i64, stage: &str, percent: u8) -> Event {
        Event {
            ts: DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap(),
            stage: stage.into(),
            percent,
            message: String::new(),
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn details(state: JobStatus, stage: &str, percent: u8, events: Vec<Event>) -> JobDetails {
        let claimed_at = at(0);
        let job = crate::job::JobRecord {
            claimed_at,
            ..Default::default()
        };
        let mut summary = crate::catalog::JobSummary {
            id: Uuid::from_u128(7),
            short_id: "00000007".into(),
            route: "audio".into(),
            pipeline: "transcribe".into(),
            input: "bad\x1bname.m4a".into(),
            state,
            stage: Some(stage.into()),
            percent,
            claimed_at,
            node: "h1".into(),
            location: "jobs/x".into(),
            duplicate_of: None,
            waiting: None,
        };
        if state.is_final() {
            summary.location = "failed/audio/bad\x1bname--00000007".into();
        }
        JobDetails {
            summary,
            job,
            stages: Vec::new(),
            events,
            result: state.is_final().then(|| {
                serde_json::json!({
                    "reason": "\ncannot decode: no audio stream\nat offset 12",
                    "failed_at": at(90),
                })
            }),
        }
    }

    #[test]
    fn progress_never_goes_back_and_a_failure_says_why() {
        let mut tracker = Tracker::default();
        let first = vec![event(0, "transcribe", 0), event(10, "transcribe", 60)];
        let view = tracker.live(
            &details(JobStatus::Running, "transcribe", 70, first.clone()),
            at(10),
        );
        assert_eq!(view.percent, 70);
        assert_eq!(view.elapsed, Duration::from_secs(10));
        assert!(
            matches!(
                &view.status,
                Status::Running {
                    percent: 60,
                    eta: Some(_),
                    ..
                }
            ),
            "{view:?}"
        );
        assert_eq!(view.input, "bad\\u{1b}name.m4a");
        // The stage starts over after a crash: the view keeps what it showed.
        let mut retried = first;
        retried.extend([event(20, "transcribe", 0), event(30, "transcribe", 10)]);
        let view = tracker.live(
            &details(JobStatus::Running, "transcribe", 40, retried.clone()),
            at(30),
        );
        assert_eq!(view.percent, 70);
        assert!(
            matches!(&view.status, Status::Running { percent: 60, .. }),
            "{view:?}"
        );
        assert_eq!(
            tracker.missing(&[]),
            vec![(Uuid::from_u128(7), "audio".to_owned())]
        );

        let view = tracker.ended(&details(JobStatus::Failed, "transcribe", 40, retried));
        assert_eq!(view.elapsed, Duration::from_secs(90));
        assert_eq!(view.percent, 70);
        assert_eq!(
            view.status,
            Status::Failed {
                cancelled: false,
                stage: "transcribe".into(),
                reason: "cannot decode: no audio stream".into(),
                location: "failed/audio/bad\\u{1b}name--00000007".into(),
            }
        );
        assert!(!view.delivered());
        assert!(tracker.missing(&[]).is_empty());
    }

    #[test]
    fn eta_is_linear_over_the_stage_current_attempt() {
        let events = [
            event(0, "prepare", 0),
            event(1, "prepare", 100),
            event(1, "transcribe", 0),
            event(11, "transcribe", 20),
            event(21, "transcribe", 40),
        ];
        // Half a second per percent, 60 % left: 30 s after the latest event.
        assert_eq!(
            stage_eta(&events, "transcribe", at(21)),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            stage_eta(&events, "transcribe", at(41)),
            Some(Duration::from_secs(10))
        );
        // Past the estimate: nothing rather than a negative time.
        assert_eq!(stage_eta(&events, "transcribe", at(200)), None);
        // A second attempt starts over from its own first event.
        let mut retried = events.to_vec();
        retried.extend([event(30, "transcribe", 0), event(31, "transcribe", 10)]);
        assert_eq!(
            stage_eta(&retried, "transcribe", at(31)),
            Some(Duration::from_secs(9))
        );
    }

    #[test]
    fn no_eta_without_two_points_or_progress() {
        let now = at(10);
        assert_eq!(stage_eta(&[], "s", now), None);
        assert_eq!(stage_eta(&[event(0, "s", 50)], "s", now), None);
        assert_eq!(
            stage_eta(&[event(0, "s", 0), event(5, "s", 0)], "s", now),
            None
        );
        assert_eq!(
            stage_eta(&[event(0, "s", 30), event(5, "s", 30)], "s", now),
            None
        );
        assert_eq!(
            stage_eta(&[event(5, "s", 0), event(5, "s", 10)], "s", now),
            None
        );
        assert_eq!(
            stage_eta(&[event(0, "s", 0), event(5, "s", 100)], "s", now),
            None
        );
        assert_eq!(
            stage_eta(&[event(0, "other", 0), event(5, "other", 50)], "s", now),
            None
        );
    }
}
