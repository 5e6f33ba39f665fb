//! Key pools: one per provider. Keys are read from their references by `secret.rs`;
//! the value is never logged, never written to the spool and never handed to a
//! plugin. Keys are known everywhere else by a fingerprint.
//!
//! Each key has its own rate limits (`governor`, evenly spaced so that no window of
//! a minute holds more than `requests_per_minute`), a cooldown set by 429s (the
//! Retry-After header or Google's `RetryInfo.retryDelay`), a "quota exhausted until"
//! set by per-day quota failures, and is disabled on 401/403 (or Google's
//! `API_KEY_INVALID`). `pick` hands out the healthiest key with room.
//!
//! Time: cooldowns and waits use tokio's clock (`tokio::time::Instant`, `sleep`), so
//! tests pause and advance it. The rate limiters keep governor's own clock (a
//! monotonic clock governor reads itself): they space requests in real time, and
//! their waits are short.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use tokio::time::Instant;

use super::exchange::Exchange;
use super::secret::reference_label;
pub use super::secret::{KeyError, Secret, fingerprint, is_reference, resolve};

/// How long a key rests after a 429 that gave no delay.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(10);
/// How long a key rests after a per-day quota failure: until the next midnight in
/// US Pacific time, when Google resets requests-per-day quotas.
pub fn daily_quota_rest() -> Duration {
    until_pacific_midnight(chrono::Utc::now())
}

/// From `now` to the next midnight in America/Los_Angeles (PDT, UTC−7, from the
/// second Sunday of March to the first Sunday of November; PST, UTC−8, otherwise).
pub fn until_pacific_midnight(now: chrono::DateTime<chrono::Utc>) -> Duration {
    use chrono::{Datelike, Duration as Span, NaiveDate, Weekday};
    let nth_sunday = |year: i32, month: u32, nth: u8| {
        NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, nth)
            .expect("a month has Sundays")
    };
    let offset_hours = |utc: chrono::NaiveDateTime| {
        let year = utc.year();
        // DST starts 02:00 PST (10:00 UTC) and ends 02:00 PDT (09:00 UTC).
        let starts = nth_sunday(year, 3, 2)
            .and_hms_opt(10, 0, 0)
            .expect("valid time");
        let ends = nth_sunday(year, 11, 1)
            .and_hms_opt(9, 0, 0)
            .expect("valid time");
        if utc >= starts && utc < ends { -7 } else { -8 }
    };
    let utc = now.naive_utc();
    let local = utc + Span::hours(offset_hours(utc));
    let next_midnight = local
        .date()
        .succ_opt()
        .expect("not the end of time")
        .and_hms_opt(0, 0, 0)
        .expect("midnight");
    // The offset at that midnight (a DST change never happens at midnight).
    let guess = next_midnight - Span::hours(offset_hours(utc));
    let reset = next_midnight - Span::hours(offset_hours(guess));
    (reset - utc).to_std().unwrap_or(Duration::from_secs(60))
}

/// One key with its limits and health.
pub struct Key {
    /// `key-xxxxxxxx`.
    pub fingerprint: String,
    /// The provider the key belongs to (for the metrics).
    provider: String,
    secret: Secret,
    per_minute: Option<DefaultDirectRateLimiter>,
    per_day: Option<DefaultDirectRateLimiter>,
    health: Mutex<Health>,
    in_flight: AtomicUsize,
    successes: AtomicU64,
    failures: AtomicU64,
    requests: AtomicU64,
}

#[derive(Debug, Default)]
struct Health {
    cool_until: Option<Instant>,
    disabled: Option<String>,
    rate_limited: u64,
    last_error: Option<String>,
}

impl Key {
    fn new(provider: &str, secret: Secret, rpm: Option<u32>, rpd: Option<u32>) -> Key {
        let spaced = |count: u32, over: Duration| {
            NonZeroU32::new(count)
                .and_then(|count| Quota::with_period(over / count.get()).map(RateLimiter::direct))
        };
        let per_day = rpd.and_then(NonZeroU32::new).and_then(|count| {
            Quota::with_period(Duration::from_secs(86_400) / count.get())
                .map(|quota| RateLimiter::direct(quota.allow_burst(count)))
        });
        Key {
            fingerprint: fingerprint(secret.expose()),
            provider: provider.to_owned(),
            secret,
            per_minute: rpm.and_then(|rpm| spaced(rpm, Duration::from_secs(60))),
            per_day,
            health: Mutex::new(Health::default()),
            in_flight: AtomicUsize::new(0),
            successes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes one request's room now, or says how long until there is some.
    fn take_room(&self) -> Result<(), Duration> {
        let clock = DefaultClock::default();
        // The minute first: a day slot is only taken for a request that will be sent.
        if let Some(minute) = &self.per_minute {
            minute
                .check()
                .map_err(|not_until| not_until.wait_time_from(clock.now()))?;
        }
        if let Some(day) = &self.per_day {
            day.check()
                .map_err(|not_until| not_until.wait_time_from(clock.now()))?;
        }
        Ok(())
    }

    /// How long this key must still rest (cooldown), if at all; `None` when disabled.
    fn rest(&self, now: Instant) -> Option<Duration> {
        let health = self.health();
        if health.disabled.is_some() {
            return None;
        }
        Some(
            health
                .cool_until
                .map_or(Duration::ZERO, |until| until.saturating_duration_since(now)),
        )
    }
}

/// A provider's keys.
pub struct KeyPool {
    provider: String,
    keys: Vec<Arc<Key>>,
    /// References that could not be read (by their printable label), with why.
    unreadable: Vec<(String, KeyError)>,
}

/// The outcome of [`KeyPool::pick`].
pub enum Pick {
    /// Use this key now.
    Ready(KeyLease),
    /// Every usable key is resting or out of room; the soonest frees up after this.
    Wait(Duration),
    /// No key can be used at all (none configured or all disabled).
    Exhausted(String),
}

impl KeyPool {
    /// Resolves every reference; unreadable ones are reported, not fatal.
    pub fn new(
        provider: &str,
        references: &[String],
        rpm: Option<u32>,
        rpd: Option<u32>,
    ) -> KeyPool {
        let mut keys: Vec<Arc<Key>> = Vec::new();
        let mut unreadable = Vec::new();
        for reference in references {
            match resolve(reference) {
                Ok(secret) => {
                    let key = Key::new(provider, secret, rpm, rpd);
                    if keys
                        .iter()
                        .all(|known| known.fingerprint != key.fingerprint)
                    {
                        keys.push(Arc::new(key));
                    }
                }
                Err(why) => {
                    tracing::warn!(provider, key = %reference_label(reference), "Cannot read a key: {why}");
                    unreadable.push((reference_label(reference), why));
                }
            }
        }
        KeyPool {
            provider: provider.to_owned(),
            keys,
            unreadable,
        }
    }

    /// True when no key was configured (the provider needs none, or has none).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The healthiest key with room: not disabled, not cooling down, fewest
    /// failures, fewest calls in flight, and with room under its rate limits.
    pub fn pick(&self) -> Pick {
        self.pick_among(None)
    }

    /// Like [`pick`](Self::pick), but only the key with this fingerprint: work a key
    /// started (a video operation, its file) belongs to that key's project.
    pub fn pick_only(&self, fingerprint: &str) -> Pick {
        if self.keys.iter().all(|key| key.fingerprint != fingerprint) {
            return Pick::Exhausted(format!(
                "key {fingerprint}, which started this operation, is no longer configured for provider {}",
                self.provider
            ));
        }
        self.pick_among(Some(fingerprint))
    }

    fn pick_among(&self, only: Option<&str>) -> Pick {
        let now = Instant::now();
        let mut candidates: Vec<(&Arc<Key>, Duration)> = self
            .keys
            .iter()
            .filter(|key| only.is_none_or(|only| key.fingerprint == only))
            .filter_map(|key| key.rest(now).map(|rest| (key, rest)))
            .collect();
        if candidates.is_empty() {
            return Pick::Exhausted(if self.keys.is_empty() {
                format!("no usable key is configured for provider {}", self.provider)
            } else {
                format!(
                    "every key of provider {} is disabled (401/403)",
                    self.provider
                )
            });
        }
        candidates.sort_by_key(|(key, rest)| {
            (
                *rest,
                key.failures
                    .load(Ordering::Relaxed)
                    .saturating_sub(key.successes.load(Ordering::Relaxed)),
                key.in_flight.load(Ordering::Relaxed),
                key.requests.load(Ordering::Relaxed),
            )
        });
        let mut soonest = Duration::MAX;
        for (key, rest) in candidates {
            if !rest.is_zero() {
                soonest = soonest.min(rest);
                continue;
            }
            match key.take_room() {
                Ok(()) => return Pick::Ready(KeyLease::new(key.clone(), true)),
                Err(wait) => soonest = soonest.min(wait),
            }
        }
        Pick::Wait(soonest.max(Duration::from_millis(1)))
    }

    /// Rests a key for `rest` (a plugin reported rate-limited or out of quota
    /// without a 429 the host saw, or asked for a longer wait).
    pub fn cool_down(&self, fingerprint: &str, rest: Duration) {
        if let Some(key) = self.keys.iter().find(|key| key.fingerprint == fingerprint) {
            let until = Instant::now() + rest;
            let mut health = key.health();
            health.cool_until = Some(health.cool_until.map_or(until, |known| known.max(until)));
            crate::metrics::metrics().key_cooled_down(&self.provider, fingerprint);
        }
    }

    /// Disables a key (the plugin reported it unauthorized).
    pub fn disable(&self, fingerprint: &str, why: &str) {
        if let Some(key) = self.keys.iter().find(|key| key.fingerprint == fingerprint) {
            key.health().disabled.get_or_insert_with(|| why.to_owned());
            tracing::warn!(key = %fingerprint, "Key refused by the provider; disabled until restart.");
        }
    }

    /// Per-key counters and state, by fingerprint (for doctor and result.json).
    pub fn report(&self) -> Vec<KeyReport> {
        let now = Instant::now();
        let mut report: Vec<KeyReport> = self
            .keys
            .iter()
            .map(|key| {
                let health = key.health();
                KeyReport {
                    key: key.fingerprint.clone(),
                    state: match (&health.disabled, health.cool_until) {
                        (Some(why), _) => format!("disabled: {why}"),
                        (None, Some(until)) if until > now => {
                            format!("cooling down for {:.0?}", until - now)
                        }
                        _ => "ok".into(),
                    },
                    requests: key.requests.load(Ordering::Relaxed),
                    successes: key.successes.load(Ordering::Relaxed),
                    failures: key.failures.load(Ordering::Relaxed),
                    rate_limited: health.rate_limited,
                    last_error: health.last_error.clone(),
                }
            })
            .collect();
        report.extend(self.unreadable.iter().map(|(label, why)| KeyReport {
            key: label.clone(),
            state: format!("unreadable: {why}"),
            ..KeyReport::default()
        }));
        report
    }
}

/// One key's counters, as doctor and result.json show them.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct KeyReport {
    /// Fingerprint (or the reference label of an unreadable key).
    pub key: String,
    /// `ok`, `cooling down for …`, `disabled: …` or `unreadable: …`.
    pub state: String,
    /// HTTP requests sent with it.
    pub requests: u64,
    /// Answers below 400.
    pub successes: u64,
    /// 4xx and 5xx answers.
    pub failures: u64,
    /// 429 answers.
    pub rate_limited: u64,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

/// A key lent to one call. Every request in the call uses it.
pub struct KeyLease {
    key: Arc<Key>,
    /// The first request's room was taken by `pick`.
    prepaid: AtomicBool,
}

impl KeyLease {
    fn new(key: Arc<Key>, prepaid: bool) -> KeyLease {
        key.in_flight.fetch_add(1, Ordering::Relaxed);
        KeyLease {
            key,
            prepaid: AtomicBool::new(prepaid),
        }
    }

    /// The key's fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.key.fingerprint
    }

    /// The key's value, for the HTTP layer only.
    pub fn secret(&self) -> &Secret {
        &self.key.secret
    }

    /// Waits until the key has room for one more request under its rate limits and
    /// any cooldown, then takes it. Fails with the wait when it would pass `deadline`.
    /// The deadline is the plugin call's, on the real clock the sandbox enforces.
    pub async fn wait_for_room(&self, deadline: std::time::Instant) -> Result<(), Duration> {
        if self.prepaid.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        loop {
            let wait = match self.key.rest(Instant::now()) {
                Some(rest) if !rest.is_zero() => rest,
                _ => match self.key.take_room() {
                    Ok(()) => return Ok(()),
                    Err(wait) => wait,
                },
            };
            if std::time::Instant::now() + wait > deadline {
                return Err(wait);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Updates the key's health from one HTTP exchange.
    pub fn observe(&self, exchange: &Exchange) {
        // No answer (a transport failure, or no room under the limits) says nothing
        // about the key itself.
        if exchange.status.is_none() {
            return;
        }
        let key = &self.key;
        key.requests.fetch_add(1, Ordering::Relaxed);
        let mut health = key.health();
        match exchange.status {
            Some(status) if status < 400 => {
                key.successes.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Some(429) => {
                health.rate_limited += 1;
                let rest = if exchange.daily_quota {
                    daily_quota_rest()
                } else {
                    exchange.retry_after.unwrap_or(DEFAULT_COOLDOWN)
                };
                let until = Instant::now() + rest;
                health.cool_until = Some(health.cool_until.map_or(until, |known| known.max(until)));
                crate::metrics::metrics().key_cooled_down(&key.provider, &key.fingerprint);
                tracing::info!(key = %key.fingerprint, rest = ?rest, "Key rate limited; it rests.");
            }
            Some(401 | 403) => {
                health.disabled = Some(format!("HTTP {}", exchange.status.unwrap_or_default()));
                tracing::warn!(key = %key.fingerprint, status = exchange.status, "Key refused by the provider; disabled until restart.");
            }
            _ if exchange.key_rejected => {
                health.disabled = Some("the provider says the key is not valid".into());
                tracing::warn!(key = %key.fingerprint, "Key refused by the provider; disabled until restart.");
            }
            _ => {}
        }
        key.failures.fetch_add(1, Ordering::Relaxed);
        health.last_error = exchange.status.map(|status| format!("HTTP {status}"));
    }
}

impl Drop for KeyLease {
    fn drop(&mut self) {
        self.key.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(values: &[&str], rpm: Option<u32>) -> KeyPool {
        let dir = tempfile::tempdir().expect("tempdir");
        let references: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(index, value)| {
                let path = dir.path().join(format!("k{index}"));
                std::fs::write(&path, value).expect("write key");
                format!("file:{}", path.display())
            })
            .collect();
        KeyPool::new("test", &references, rpm, None)
    }

    fn exchange(status: u16, retry_after: Option<Duration>) -> Exchange {
        Exchange {
            status: Some(status),
            retry_after,
            ..Exchange::default()
        }
    }

    #[test]
    fn references_are_read_but_never_shown() {
        let pool = pool(&["secret-one\n", "secret-two"], None);
        let report = serde_json::to_string(&pool.report()).expect("json");
        assert!(!report.contains("secret-one") && report.contains("key-"));
        assert!(resolve("AIzaPlainTextKey").is_err());
        let Pick::Ready(lease) = pool.pick() else {
            panic!("a key is free")
        };
        assert_eq!(lease.secret().expose().len(), "secret-one".len());
        assert_eq!(format!("{:?}", lease.secret()), "Secret(…)");
    }

    #[test]
    fn a_429_rests_the_key_and_a_401_disables_it() {
        let pool = pool(&["a", "b"], None);
        let Pick::Ready(first) = pool.pick() else {
            panic!("free")
        };
        first.observe(&exchange(429, Some(Duration::from_secs(30))));
        let Pick::Ready(second) = pool.pick() else {
            panic!("the other key is free")
        };
        assert_ne!(first.fingerprint(), second.fingerprint());
        second.observe(&exchange(401, None));
        match pool.pick() {
            Pick::Wait(wait) => {
                assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30))
            }
            _ => panic!("one key rests, the other is disabled"),
        }
        first.observe(&exchange(403, None));
        assert!(matches!(pool.pick(), Pick::Exhausted(_)));
    }

    #[test]
    fn daily_quotas_rest_until_midnight_pacific() {
        use chrono::TimeZone;
        let at = |y, mo, d, h, mi| {
            chrono::Utc
                .with_ymd_and_hms(y, mo, d, h, mi, 0)
                .single()
                .expect("time")
        };
        // 2026-11-24 12:00 UTC is 04:00 PST: 20 hours to go.
        assert_eq!(
            until_pacific_midnight(at(2026, 11, 24, 12, 0)),
            Duration::from_secs(20 * 3600)
        );
        // 2026-07-01 06:30 UTC is 23:30 PDT on June 30: half an hour to go.
        assert_eq!(
            until_pacific_midnight(at(2026, 7, 1, 6, 30)),
            Duration::from_secs(1800)
        );
        // The night DST ends (Nov 1, 2026): 00:00 PDT is 07:00 UTC; the next midnight is PST (Nov 2, 08:00 UTC).
        assert_eq!(
            until_pacific_midnight(at(2026, 11, 1, 7, 0)),
            Duration::from_secs(25 * 3600)
        );
    }

    #[test]
    fn work_a_key_started_stays_on_that_key() {
        let pool = pool(&["a", "b"], None);
        let Pick::Ready(first) = pool.pick() else {
            panic!("free")
        };
        let owner = first.fingerprint().to_owned();
        first.observe(&exchange(429, Some(Duration::from_secs(30))));
        // Another key is free, but the operation's key must be waited for.
        assert!(matches!(pool.pick(), Pick::Ready(_)));
        assert!(matches!(pool.pick_only(&owner), Pick::Wait(_)));
        assert!(matches!(pool.pick_only("key-00000000"), Pick::Exhausted(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_resting_key_is_handed_out_again_exactly_when_its_rest_ends() {
        let pool = pool(&["a"], None);
        let Pick::Ready(lease) = pool.pick() else {
            panic!("free")
        };
        lease.observe(&exchange(429, Some(Duration::from_secs(30))));
        drop(lease);
        match pool.pick() {
            Pick::Wait(wait) => assert_eq!(wait, Duration::from_secs(30)),
            _ => panic!("the only key rests"),
        }
        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(matches!(pool.pick(), Pick::Wait(wait) if wait == Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(matches!(pool.pick(), Pick::Ready(_)));
        // A plugin's own rate-limit report rests the key the same way.
        let fingerprint = pool.keys[0].fingerprint.clone();
        pool.cool_down(&fingerprint, Duration::from_secs(600));
        assert!(matches!(pool.pick(), Pick::Wait(wait) if wait == Duration::from_secs(600)));
        tokio::time::advance(Duration::from_secs(600)).await;
        assert!(matches!(pool.pick(), Pick::Ready(_)));
    }

    #[test]
    fn requests_per_minute_are_spaced() {
        let pool = pool(&["a"], Some(60));
        assert!(matches!(pool.pick(), Pick::Ready(_)));
        match pool.pick() {
            Pick::Wait(wait) => assert!(wait > Duration::from_millis(900), "{wait:?}"),
            _ => panic!("the second request within a second must wait"),
        }
    }
}
