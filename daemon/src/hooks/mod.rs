//! Completion hooks: when a job ends, its route's command runs (`on_done` or
//! `on_failed`) and/or its event is POSTed to the route's `webhook`, so other tools
//! react without scanning the outbox.
//!
//! - `config.rs`: the route keys' defaults and checks.
//! - `event.rs`: the job's facts, as JSON (the webhook body) and as `CHUTE_*` variables.
//! - `command.rs`: a hook command in its own process group, minimal environment,
//!   bounded time and output.
//! - `webhook.rs`: the signed POST, its retries, the pending events in the spool.
//! - `journal.rs`: each outcome recorded with the job's events in its delivered folder.
//!
//! Invariants: hooks run after the job is delivered, in their own tasks, off the job's
//! slot (the next job does not wait for them); a hook's failure (exit code, timeout,
//! not found, a webhook given up) is logged and recorded but never changes the job's
//! outcome. Hooks run at least once per ended job (a daemon that dies while delivering
//! runs them again when it finishes the delivery after the restart).

pub mod command;
pub mod config;
pub mod event;
pub mod journal;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::job::JobRecord;
use crate::metrics::metrics;
use crate::pipeline::config::RouteConfig;
use crate::spool::Spool;
use event::JobEvent;
use webhook::{Held, Pending, Sent};

/// Hook commands running at once; more wait their turn.
const PARALLEL_COMMANDS: usize = 8;
/// Webhook deliveries under way at once.
const PARALLEL_WEBHOOKS: usize = 16;

/// The daemon's hooks: one per daemon, shared by its job runners.
#[derive(Debug, Clone)]
pub struct Hooks {
    spool: Spool,
    durable: bool,
    client: Option<reqwest::Client>,
    commands: Arc<Semaphore>,
    webhooks: Arc<Semaphore>,
}

impl Hooks {
    /// Hooks for jobs of `spool` (`durable`: pending events are fsynced).
    pub fn new(spool: Spool, durable: bool) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("chute/", env!("CARGO_PKG_VERSION")))
            .build()
            .inspect_err(|error| {
                tracing::error!(%error, "Cannot build the webhook client; webhooks are not sent.");
            })
            .ok();
        Self {
            spool,
            durable,
            client,
            commands: Arc::new(Semaphore::new(PARALLEL_COMMANDS)),
            webhooks: Arc::new(Semaphore::new(PARALLEL_WEBHOOKS)),
        }
    }

    /// A job of `route` ended and was delivered: starts its hook command and its
    /// webhook in their own tasks and returns at once.
    pub fn job_ended(&self, route: &RouteConfig, record: &JobRecord, event: JobEvent) {
        let (hook, argv) = if event.is_done() {
            ("on_done", &route.on_done)
        } else {
            ("on_failed", &route.on_failed)
        };
        if argv.is_empty() && route.webhook_url().is_none() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("Hooks need the daemon's runtime; this job's hooks are skipped.");
            return;
        };
        if !argv.is_empty() {
            let argv = argv.clone();
            let variables = event.environment(Some(record.input.original_name()));
            let timeout = route.hook_timeout;
            let event = event.clone();
            let permits = self.commands.clone();
            runtime.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let run = command::run(&argv, variables, &event.result_dir, timeout).await;
                let facts = Facts {
                    route: &event.route,
                    job_id: event.job_id,
                    result_dir: &event.result_dir,
                };
                facts.outcome(hook, run.ending.label(), &run.describe(hook));
            });
        }
        if let Some(url) = route.webhook_url() {
            let pending = Pending {
                event_id: event.event_id,
                job_id: event.job_id,
                route: event.route.clone(),
                result_dir: event.result_dir.clone(),
                url: url.to_owned(),
                secret: route.webhook_secret_reference().map(str::to_owned),
                attempts: route.webhook_attempts,
                timeout: route.hook_timeout,
                give_up_at: event.finished_at
                    + chrono::Duration::from_std(route.webhook_give_up_after)
                        .unwrap_or(chrono::Duration::hours(1)),
                body: serde_json::to_string(&event).unwrap_or_default(),
            };
            let folder = self.spool.pending_webhooks();
            let held = webhook::write_pending(&folder, pending.clone(), self.durable)
                .inspect_err(|error| {
                    tracing::warn!(%error, folder = %folder.display(), "Cannot keep the webhook event in the spool; it is sent now but not again after a restart.");
                })
                .ok();
            self.count_pending();
            let hooks = self.clone();
            runtime.spawn(async move { hooks.deliver(pending, held).await });
        }
    }

    /// Sends the pending webhook events no live daemon is sending (left by a daemon that
    /// died); returns how many were taken.
    pub fn resend_pending(&self) -> usize {
        let taken = webhook::take_pending(&self.spool.pending_webhooks());
        let count = taken.len();
        self.count_pending();
        if count > 0 {
            tracing::info!(
                events = count,
                "Sending the webhook events a previous daemon left pending."
            );
        }
        for held in taken {
            let hooks = self.clone();
            let pending = held.pending.clone();
            tokio::spawn(async move { hooks.deliver(pending, Some(held)).await });
        }
        count
    }

    async fn deliver(&self, pending: Pending, held: Option<Held>) {
        let _permit = self.webhooks.clone().acquire_owned().await;
        let sent = match &self.client {
            Some(client) => webhook::send(client, &pending).await,
            None => Sent::GaveUp {
                attempts: 0,
                why: "no HTTP client (see the log at start)".into(),
            },
        };
        let facts = Facts {
            route: &pending.route,
            job_id: pending.job_id,
            result_dir: &pending.result_dir,
        };
        facts.outcome("webhook", sent.label(), &sent.describe());
        if let Some(held) = held {
            held.finish();
        }
        self.count_pending();
    }

    fn count_pending(&self) {
        let count = std::fs::read_dir(self.spool.pending_webhooks())
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|entry| {
                        let name = entry.file_name();
                        let name = name.to_string_lossy();
                        !name.starts_with('.') && name.ends_with(".json")
                    })
                    .count()
            })
            .unwrap_or(0);
        metrics().set_webhooks_pending(count);
    }
}

/// What an outcome is recorded against.
struct Facts<'a> {
    route: &'a str,
    job_id: uuid::Uuid,
    result_dir: &'a std::path::Path,
}

impl Facts<'_> {
    /// Records a hook's outcome: the metric, the log, and the delivered folder's events.
    fn outcome(&self, hook: &str, label: &str, line: &str) {
        metrics().hook_ran(self.route, hook, label);
        if matches!(label, "ok" | "delivered") {
            tracing::info!(route = %self.route, job_id = %self.job_id, "Hook: {line}");
        } else {
            tracing::warn!(route = %self.route, job_id = %self.job_id, "Hook failed (the job's outcome stands): {line}");
        }
        if let Err(error) = journal::record(self.result_dir, line) {
            tracing::debug!(%error, folder = %self.result_dir.display(), "The hook's outcome is not recorded in the delivered folder (moved away?).");
        }
    }
}
