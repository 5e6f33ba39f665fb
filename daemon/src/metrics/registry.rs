//! The metric families and the calls that record into them. One set per process
//! ([`metrics`]): the code that counts (the runner, the provider host, the native
//! models, the hooks) calls a function here; the exporters read the same registry.
//!
//! Keys appear only by fingerprint (`key-xxxxxxxx`), never by value.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::job::{JobState, JobStatus, StageStatus};

/// A job that ended: its route and how.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndedLabels {
    route: String,
    status: String,
}

/// Live jobs by state (`queued`, `running`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

/// One stage of one pipeline, with how it ended.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    pipeline: String,
    stage: String,
    status: String,
}

/// A provider call attempt: the provider, the key's fingerprint (`none` for providers
/// without keys) and the outcome (`ok`, or the kind of failure).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    provider: String,
    key: String,
    outcome: String,
}

/// One key of one provider.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabels {
    provider: String,
    key: String,
}

/// A native model kind (`whisper`, `llama`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

/// A completion hook run or a webhook delivery: route, kind and outcome.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabels {
    route: String,
    hook: String,
    outcome: String,
}

/// A reason claiming is held (`paused`, `draining`, `disk_full`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HoldLabels {
    reason: String,
}

/// Stage durations: 0.05 s to about 27 hours, doubling.
fn stage_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 21))
}

/// Every metric family of the daemon, registered once.
pub struct Metrics {
    registry: Registry,
    jobs_ended: Family<EndedLabels, Counter>,
    jobs: Family<StateLabels, Gauge>,
    queue_capacity: Gauge,
    stage_seconds: Family<StageLabels, Histogram>,
    provider_calls: Family<CallLabels, Counter>,
    key_cooldowns: Family<KeyLabels, Counter>,
    model_loads: Family<ModelLabels, Counter>,
    model_unloads: Counter,
    hooks: Family<HookLabels, Counter>,
    webhooks_pending: Gauge,
    disk_used: Gauge,
    disk_inodes_used: Gauge,
    claim_hold: Family<HoldLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Metrics")
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("chute");
        let jobs_ended = Family::<EndedLabels, Counter>::default();
        registry.register(
            "jobs_ended",
            "Jobs that ended, by route and status (done, failed, cancelled)",
            jobs_ended.clone(),
        );
        let jobs = Family::<StateLabels, Gauge>::default();
        registry.register(
            "jobs",
            "Live jobs by state: queued (claimed, waiting for a slot) and running",
            jobs.clone(),
        );
        let queue_capacity = Gauge::default();
        registry.register(
            "queue_capacity",
            "limits.max_queue_depth: claimed jobs the queue holds before intake waits",
            queue_capacity.clone(),
        );
        let stage_seconds =
            Family::<StageLabels, Histogram>::new_with_constructor(stage_histogram as fn() -> _);
        registry.register(
            "stage_duration_seconds",
            "Wall time of a stage's last attempt, by pipeline, stage and status; observed when the job ends",
            stage_seconds.clone(),
        );
        let provider_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "provider_calls",
            "Provider call attempts by provider, key fingerprint and outcome (ok or the kind of failure)",
            provider_calls.clone(),
        );
        let key_cooldowns = Family::<KeyLabels, Counter>::default();
        registry.register(
            "provider_key_cooldowns",
            "Times a key was rested (rate limited or out of quota), by provider and key fingerprint",
            key_cooldowns.clone(),
        );
        let model_loads = Family::<ModelLabels, Counter>::default();
        registry.register(
            "model_loads",
            "Native model loads by kind (whisper, llama)",
            model_loads.clone(),
        );
        let model_unloads = Counter::default();
        registry.register(
            "model_unloads",
            "Native models unloaded to fit native.model_budget or replaced",
            model_unloads.clone(),
        );
        let hooks = Family::<HookLabels, Counter>::default();
        registry.register(
            "hooks",
            "Completion hooks (on_done, on_failed, webhook) by route, hook and outcome",
            hooks.clone(),
        );
        let webhooks_pending = Gauge::default();
        registry.register(
            "webhooks_pending",
            "Webhook events written to the spool and not yet delivered or given up",
            webhooks_pending.clone(),
        );
        let disk_used = Gauge::default();
        registry.register(
            "disk_used_percent",
            "Space in use on the spool's filesystem, in percent (as df counts it)",
            disk_used.clone(),
        );
        let disk_inodes_used = Gauge::default();
        registry.register(
            "disk_inodes_used_percent",
            "Inodes in use on the spool's filesystem, in percent",
            disk_inodes_used.clone(),
        );
        let claim_hold = Family::<HoldLabels, Gauge>::default();
        registry.register(
            "claim_hold",
            "1 while claiming is held for this reason (paused, draining, disk_full)",
            claim_hold.clone(),
        );
        Self {
            registry,
            jobs_ended,
            jobs,
            queue_capacity,
            stage_seconds,
            provider_calls,
            key_cooldowns,
            model_loads,
            model_unloads,
            hooks,
            webhooks_pending,
            disk_used,
            disk_inodes_used,
            claim_hold,
        }
    }

    /// The registry, for encoding.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// A job ended with `status`: counts it and observes the duration of each of its
    /// stages that ran (their last attempt, from state.json).
    pub fn job_ended(&self, route: &str, pipeline: &str, status: JobStatus, state: &JobState) {
        self.jobs_ended
            .get_or_create(&EndedLabels {
                route: route.to_owned(),
                status: status.name().to_owned(),
            })
            .inc();
        for stage in &state.stages {
            let (Some(started), Some(finished)) = (stage.started_at, stage.finished_at) else {
                continue;
            };
            let status = match stage.status {
                StageStatus::Done => "done",
                StageStatus::Failed => "failed",
                StageStatus::Pending | StageStatus::Running => continue,
            };
            let Ok(took) = (finished - started).to_std() else {
                continue;
            };
            self.stage_seconds
                .get_or_create(&StageLabels {
                    pipeline: pipeline.to_owned(),
                    stage: stage.name.clone(),
                    status: status.to_owned(),
                })
                .observe(took.as_secs_f64());
        }
    }

    /// One provider call attempt ended (`outcome`: `ok` or the kind of failure).
    pub fn provider_call(&self, provider: &str, key: Option<&str>, outcome: &str) {
        self.provider_calls
            .get_or_create(&CallLabels {
                provider: provider.to_owned(),
                key: key.unwrap_or("none").to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// A key of `provider` was rested.
    pub fn key_cooled_down(&self, provider: &str, key: &str) {
        self.key_cooldowns
            .get_or_create(&KeyLabels {
                provider: provider.to_owned(),
                key: key.to_owned(),
            })
            .inc();
    }

    /// A native model of kind `model` (`whisper`, `llama`) was loaded.
    pub fn model_loaded(&self, model: &str) {
        self.model_loads
            .get_or_create(&ModelLabels {
                model: model.to_owned(),
            })
            .inc();
    }

    /// A native model was unloaded.
    pub fn model_unloaded(&self) {
        self.model_unloads.inc();
    }

    /// A completion hook of `route` ran (`hook`: on_done, on_failed or webhook).
    pub fn hook_ran(&self, route: &str, hook: &str, outcome: &str) {
        self.hooks
            .get_or_create(&HookLabels {
                route: route.to_owned(),
                hook: hook.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Webhook events waiting in the spool.
    pub fn set_webhooks_pending(&self, pending: usize) {
        self.webhooks_pending.set(gauge_value(pending as u64));
    }

    /// The live jobs: `queued` of them waiting for a slot, `running` running, in a queue
    /// that holds `capacity`.
    pub fn set_jobs(&self, queued: usize, running: usize, capacity: usize) {
        for (state, count) in [("queued", queued), ("running", running)] {
            self.jobs
                .get_or_create(&StateLabels {
                    state: state.to_owned(),
                })
                .set(gauge_value(count as u64));
        }
        self.queue_capacity.set(gauge_value(capacity as u64));
    }

    /// The last disk reading and what holds claiming (every known reason is reported,
    /// 0 or 1, so a dashboard sees the series before the first hold).
    pub fn set_status(&self, disk: Option<(u64, u64)>, hold: Option<&str>) {
        if let Some((used, inodes)) = disk {
            self.disk_used.set(gauge_value(used));
            self.disk_inodes_used.set(gauge_value(inodes));
        }
        for reason in ["paused", "draining", "disk_full"] {
            self.claim_hold
                .get_or_create(&HoldLabels {
                    reason: reason.to_owned(),
                })
                .set(i64::from(hold == Some(reason)));
        }
    }
}

fn gauge_value(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
