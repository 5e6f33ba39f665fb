//! One provider call as a stage sees it: pick a key, run the plugin, learn from the
//! answer (rest or disable the key), retry with exponential backoff and jitter
//! (backon) on another key when the first is limited, and fall through a chain of
//! providers when one is unavailable, unauthorized or out of quota.
//!
//! Waits (backoff, keys at rest) run on tokio's clock, so tests pause and advance it.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use serde::Serialize;
use tokio::time::Instant;

use super::exchange::Exchange;
use super::keys::{DEFAULT_COOLDOWN, KeyLease, Pick, daily_quota_rest};
use super::plugin::{Answer, CallContext, CallFailure, Operation, ProviderError};
use super::registry::{Provider, Providers};

/// A successful call and who served it.
#[derive(Debug)]
pub struct Served {
    /// The answer.
    pub answer: Answer,
    /// Who served it and how, for result.json.
    pub record: CallRecord,
}

/// Who served a call, with which key (by fingerprint), after how many attempts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CallRecord {
    /// The provider that answered (or the last one tried).
    pub provider: String,
    /// Its plugin and version.
    pub plugin: String,
    /// The operation.
    pub operation: String,
    /// Attempts across keys and providers.
    pub attempts: u32,
    /// The key that served it.
    pub key: Option<String>,
    /// Providers tried before this one, with why they were skipped.
    pub fell_through: Vec<String>,
    /// Every HTTP exchange, in order.
    pub exchanges: Vec<Exchange>,
    /// Wall time in milliseconds.
    pub millis: u64,
    /// Served from the result cache (nothing was paid).
    pub cached: bool,
    /// The price counted against the budget.
    pub cost: f64,
}

/// A failed call, with the record of what was tried (for result.json and error.json).
#[derive(Debug, thiserror::Error)]
#[error("{error}{}", tried(&record.fell_through))]
pub struct CallError {
    /// Why it failed.
    pub error: ServeError,
    /// Who was tried, with which keys, and every exchange.
    pub record: CallRecord,
}

/// ` (tried: a; b)`, or nothing when no provider was skipped.
fn tried(fell_through: &[String]) -> String {
    if fell_through.is_empty() {
        String::new()
    } else {
        format!(" (tried: {})", fell_through.join("; "))
    }
}

/// Why a call failed, after retries and fallbacks. By consequence (see
/// [`ServeError::is_worth_retrying_later`]): busy keys, timeouts, outages and rate
/// limits are worth another attempt later; everything else fails the job with
/// [`ServeError::remedy`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServeError {
    /// No provider in the chain is loaded.
    #[error("no provider is available: {0}")]
    NoProvider(String),
    /// Every usable key is resting for longer than the call may wait.
    #[error("every key of {provider} is rate limited for at least {wait:.0?} more")]
    KeysBusy {
        /// The provider.
        provider: String,
        /// How long until one frees up.
        wait: Duration,
    },
    /// No key can be used at all.
    #[error("{0}")]
    NoKey(String),
    /// A budget cap stops this paid call.
    #[error("{0}")]
    Budget(String),
    /// The plugin failed (after retries where retrying made sense).
    #[error("{provider}: {failure}")]
    Failed {
        /// The provider.
        provider: String,
        /// What went wrong.
        failure: CallFailure,
    },
}

impl ServeError {
    /// True when the next provider in a chain should be tried: this one could not
    /// serve (nothing loaded, no usable key, budget) or failed the way another
    /// attempt might not.
    pub fn falls_through(&self) -> bool {
        match self {
            ServeError::Failed { .. } => self.is_transient(),
            _ => true,
        }
    }

    /// True when the request may have reached the provider and been accepted (a
    /// timeout or a 5xx): a paid submit must not be sent again on such a doubt.
    pub fn may_have_been_accepted(&self) -> bool {
        matches!(
            self,
            ServeError::Failed {
                failure: CallFailure::Timeout(_)
                    | CallFailure::Trapped(_)
                    | CallFailure::Invalid(_)
                    | CallFailure::MemoryCap(_)
                    | CallFailure::Provider(
                        ProviderError::Unavailable(_) | ProviderError::Other(_)
                    ),
                ..
            }
        )
    }

    /// True when the same call later (a stage retry, the next status check) may
    /// succeed: keys were busy, the call timed out, the provider was down or
    /// limiting. Other failures fail the job.
    pub fn is_worth_retrying_later(&self) -> bool {
        match self {
            ServeError::KeysBusy { .. } => true,
            ServeError::Failed { failure, .. } => matches!(
                failure,
                CallFailure::Timeout(_)
                    | CallFailure::Provider(
                        ProviderError::Unavailable(_) | ProviderError::RateLimited(_)
                    )
            ),
            ServeError::NoProvider(_) | ServeError::NoKey(_) | ServeError::Budget(_) => false,
        }
    }

    /// What the operator can do when this failure fails a job.
    pub fn remedy(&self) -> &'static str {
        match self {
            ServeError::Budget(_) => {
                "raise budget.per_job or budget.per_day if the spend is expected, then `chute retry ID`"
            }
            _ => {
                "check the provider's keys and limits with `chute doctor` and `chute plugins check`, then `chute retry ID`"
            }
        }
    }

    /// True when another attempt (maybe on another key) may succeed.
    fn is_transient(&self) -> bool {
        match self {
            ServeError::KeysBusy { .. }
            | ServeError::NoProvider(_)
            | ServeError::NoKey(_)
            | ServeError::Budget(_) => false,
            ServeError::Failed { failure, .. } => matches!(
                failure,
                CallFailure::Timeout(_)
                    | CallFailure::Provider(
                        ProviderError::Unavailable(_)
                            | ProviderError::RateLimited(_)
                            | ProviderError::Unauthorized(_)
                            | ProviderError::QuotaExhausted(_)
                    )
            ),
        }
    }
}

impl Provider {
    /// Calls the plugin, retrying transient failures with backoff (on another key
    /// when the last one was limited or refused).
    pub async fn call(
        self: &Arc<Self>,
        operation: Operation,
        job: Option<&str>,
    ) -> Result<Served, CallError> {
        self.call_with_key(operation, job, None).await
    }

    /// Like [`call`](Self::call), but only with the key of this fingerprint (polls of
    /// an operation that key started). For the remote operation driver.
    pub(super) async fn call_with_key(
        self: &Arc<Self>,
        operation: Operation,
        job: Option<&str>,
        only_key: Option<&str>,
    ) -> Result<Served, CallError> {
        let started = Instant::now();
        let submit = matches!(operation, Operation::SubmitVideo(_));
        let mut record = CallRecord {
            provider: self.name.clone(),
            plugin: format!("{} {}", self.plugin.name, self.info.version),
            operation: operation.name().to_owned(),
            ..CallRecord::default()
        };
        let cache_key = self.result_key(&operation);
        if let Some(answer) = cache_key.as_deref().and_then(|key| self.cache.get(key)) {
            tracing::info!(provider = %self.name, job_id = job.unwrap_or("-"), operation = operation.name(), "Served from the result cache.");
            record.cached = true;
            return Ok(Served { answer, record });
        }
        let price = self.prices.get(operation.name()).copied().unwrap_or(0.0);
        let reservation = match self.budget.reserve(job, price) {
            Ok(reservation) => reservation,
            Err(error) => {
                return Err(CallError {
                    error: ServeError::Budget(error.to_string()),
                    record,
                });
            }
        };
        record.cost = price;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(60))
            .with_jitter()
            .with_max_times(self.retry.attempts.saturating_sub(1) as usize);
        let record_cell = std::sync::Mutex::new(record);
        let attempt = || async {
            let (result, key, exchanges) = self.attempt(operation.clone(), job, only_key).await;
            let mut record = record_cell
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            record.attempts += 1;
            record.exchanges.extend(exchanges);
            record.key = key;
            result
        };
        let result = attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            // A paid submit is never sent twice on a doubt: after a timeout or a 5xx
            // the provider may have accepted it.
            .when(|error| error.is_transient() && !(submit && error.may_have_been_accepted()))
            .notify(|error, delay| {
                tracing::info!(provider = %self.name, job_id = job.unwrap_or("-"), "Retrying in {delay:.1?}: {error}");
            })
            .await;
        let mut record = record_cell
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        record.millis = started.elapsed().as_millis() as u64;
        match result {
            Ok(answer) => {
                if let Some(key) = &cache_key {
                    self.cache.put(key, &answer);
                }
                Ok(Served { answer, record })
            }
            Err(error) => {
                if submit && error.may_have_been_accepted() {
                    // It may have been bought: keep it in the ledger.
                } else {
                    self.budget.refund(&reservation);
                    record.cost = 0.0;
                }
                Err(CallError { error, record })
            }
        }
    }

    /// The result-cache key of an operation on this provider's plugin.
    pub(super) fn result_key(&self, operation: &Operation) -> Option<String> {
        // The provider's settings (model, base_url…) change answers as much as the
        // plugin does: two providers on one plugin never share results.
        let identity = format!(
            "{}\n{}",
            self.plugin.sha256,
            serde_json::to_string(&*self.settings).unwrap_or_default()
        );
        super::cache::ResultCache::key(&self.plugin.name, &self.info.version, &identity, operation)
    }

    /// One attempt: a key, a sandboxed call, and what the answer teaches about the key.
    async fn attempt(
        &self,
        operation: Operation,
        job: Option<&str>,
        only_key: Option<&str>,
    ) -> (Result<Answer, ServeError>, Option<String>, Vec<Exchange>) {
        let key = if self.keys.is_empty() {
            None
        } else {
            match self.wait_for_key(only_key).await {
                Ok(lease) => Some(lease),
                Err(error) => {
                    let outcome = match error {
                        ServeError::KeysBusy { .. } => "keys_busy",
                        _ => "no_key",
                    };
                    crate::metrics::metrics().provider_call(&self.name, None, outcome);
                    return (Err(error), None, Vec::new());
                }
            }
        };
        let fingerprint = key.as_ref().map(|key| key.fingerprint().to_owned());
        let context = CallContext {
            http: self.http.clone(),
            key,
            settings: self.settings.clone(),
            job: job.map(str::to_owned),
        };
        let (result, trace) = self.plugin.call(operation, context).await;
        let outcome = result.as_ref().map_or_else(failure_kind, |_| "ok");
        crate::metrics::metrics().provider_call(&self.name, fingerprint.as_deref(), outcome);
        let result = result.map_err(|failure| {
            if let CallFailure::Provider(error) = &failure {
                self.learn(fingerprint.as_deref(), error, &trace.exchanges);
            }
            ServeError::Failed {
                provider: self.name.clone(),
                failure,
            }
        });
        (result, fingerprint, trace.exchanges)
    }

    /// The healthiest key with room, waiting (up to `max_key_wait` in all) while
    /// every key rests or is out of room.
    pub(super) async fn wait_for_key(&self, only: Option<&str>) -> Result<KeyLease, ServeError> {
        let started = Instant::now();
        loop {
            let pick = match only {
                Some(fingerprint) => self.keys.pick_only(fingerprint),
                None => self.keys.pick(),
            };
            match pick {
                Pick::Ready(lease) => return Ok(lease),
                Pick::Exhausted(why) => return Err(ServeError::NoKey(why)),
                Pick::Wait(wait) => {
                    if started.elapsed() + wait > self.retry.max_key_wait {
                        return Err(ServeError::KeysBusy {
                            provider: self.name.clone(),
                            wait,
                        });
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Applies what a plugin error says about the key it used, when the host did not
    /// already see it on the wire.
    fn learn(&self, key: Option<&str>, error: &ProviderError, exchanges: &[Exchange]) {
        let Some(key) = key else { return };
        let saw = |status: u16| {
            exchanges
                .iter()
                .any(|exchange| exchange.status == Some(status))
        };
        match error {
            ProviderError::RateLimited(after) if !saw(429) => {
                // A plugin's hint is bounded like a Retry-After header: at most a day.
                let rest = after
                    .map(Duration::from_millis)
                    .unwrap_or(DEFAULT_COOLDOWN)
                    .min(Duration::from_secs(86_400));
                self.keys.cool_down(key, rest);
            }
            ProviderError::QuotaExhausted(_) => self.keys.cool_down(key, daily_quota_rest()),
            ProviderError::Unauthorized(why) if !(saw(401) || saw(403)) => {
                self.keys.disable(key, why)
            }
            _ => {}
        }
    }
}

/// A failed call attempt in one word, for the metrics.
fn failure_kind(failure: &CallFailure) -> &'static str {
    match failure {
        CallFailure::Provider(error) => match error {
            ProviderError::RateLimited(_) => "rate_limited",
            ProviderError::QuotaExhausted(_) => "quota_exhausted",
            ProviderError::Unauthorized(_) => "unauthorized",
            ProviderError::BadRequest(_) => "bad_request",
            ProviderError::ContentBlocked(_) => "content_blocked",
            ProviderError::Unavailable(_) => "unavailable",
            ProviderError::Other(_) => "other",
        },
        CallFailure::Timeout(_) => "timeout",
        CallFailure::MemoryCap(_) => "memory_cap",
        CallFailure::Trapped(_) => "trapped",
        CallFailure::Invalid(_) => "invalid",
    }
}

impl Providers {
    /// Tries each provider of a chain in order; falls through on unavailable,
    /// unauthorized, rate-limited or exhausted providers and stops on errors that
    /// another provider would repeat (bad request, blocked content, crashes).
    pub async fn call_chain(
        &self,
        chain: &[String],
        operation: Operation,
        job: Option<&str>,
    ) -> Result<Served, CallError> {
        let mut fell_through = Vec::new();
        let mut last = None;
        for name in chain {
            let Some(provider) = self.get(name) else {
                fell_through.push(format!("{name}: not loaded"));
                continue;
            };
            match provider.call(operation.clone(), job).await {
                Ok(mut served) => {
                    served.record.fell_through = fell_through;
                    return Ok(served);
                }
                Err(failed)
                    if failed.error.falls_through()
                        && !(matches!(operation, Operation::SubmitVideo(_))
                            && failed.error.may_have_been_accepted()) =>
                {
                    let error = &failed.error;
                    tracing::warn!(provider = %name, job_id = job.unwrap_or("-"), "Falling through to the next provider: {error}");
                    fell_through.push(format!("{name}: {error}"));
                    last = Some(failed);
                }
                Err(mut failed) => {
                    failed.record.fell_through = fell_through;
                    return Err(failed);
                }
            }
        }
        let mut failed = last.unwrap_or_else(|| CallError {
            error: ServeError::NoProvider(fell_through.join("; ")),
            record: CallRecord::default(),
        });
        failed.record.fell_through = fell_through;
        Err(failed)
    }
}
