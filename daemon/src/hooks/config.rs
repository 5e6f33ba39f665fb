//! The completion-hook keys of a `[[routes]]` entry (`on_done`, `on_failed`,
//! `hook_timeout`, `webhook`, `webhook_secret`, `webhook_attempts`,
//! `webhook_give_up_after`): their defaults and their checks. The keys themselves are
//! fields of [`RouteConfig`](crate::pipeline::config::RouteConfig), which lends them
//! here as [`HookKeys`].

use std::time::Duration;

use crate::provider::secret::is_reference;

/// The hook keys of one route, as [`validate`] reads them.
#[derive(Debug, Clone, Copy)]
pub struct HookKeys<'a> {
    /// `on_done`: argv of the command run when a job is done.
    pub on_done: &'a [String],
    /// `on_failed`: argv of the command run when a job failed or was cancelled.
    pub on_failed: &'a [String],
    /// `hook_timeout`.
    pub hook_timeout: Duration,
    /// `webhook`, when one is configured.
    pub webhook: Option<&'a str>,
    /// `webhook_secret`, when one is configured.
    pub webhook_secret: Option<&'a str>,
    /// `webhook_attempts`.
    pub webhook_attempts: u32,
    /// `webhook_give_up_after`.
    pub webhook_give_up_after: Duration,
}

/// `hook_timeout` when unset.
pub fn default_hook_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `webhook_attempts` when unset.
pub fn default_webhook_attempts() -> u32 {
    10
}

/// `webhook_give_up_after` when unset.
pub fn default_webhook_give_up_after() -> Duration {
    Duration::from_secs(3600)
}

/// The longest `hook_timeout` (a hook holds a process and, for a webhook, a
/// connection).
const MAX_HOOK_TIMEOUT: Duration = Duration::from_secs(3600);
/// The most `webhook_attempts`.
const MAX_WEBHOOK_ATTEMPTS: u32 = 100;

/// A hook key of route number `index` that the daemon cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("routes[{index}].{key}: {why}")]
pub struct HookConfigError {
    /// The entry's position among the `[[routes]]`.
    pub index: usize,
    /// The key.
    pub key: &'static str,
    /// What is wrong and what to write instead.
    pub why: String,
}

impl HookConfigError {
    /// The keys the error is about, the likeliest culprit first.
    pub fn keys(&self) -> Vec<String> {
        vec![
            format!("routes.{}.{}", self.index, self.key),
            format!("routes.{}", self.index),
        ]
    }
}

/// Checks the hook keys of route number `index`.
pub fn validate(index: usize, route: &HookKeys<'_>) -> Result<(), HookConfigError> {
    let error = |key: &'static str, why: String| HookConfigError { index, key, why };
    for (key, argv) in [("on_done", route.on_done), ("on_failed", route.on_failed)] {
        let Some(program) = argv.first() else {
            continue;
        };
        if !program.starts_with('/') {
            return Err(error(
                key,
                format!(
                    "the program {program:?} must be an absolute path (the command runs without a shell: [\"/usr/local/bin/notify\", \"arg\"])"
                ),
            ));
        }
        if argv.iter().any(|arg| arg.contains('\0')) {
            return Err(error(key, "an argument holds a NUL character".into()));
        }
    }
    if route.hook_timeout.is_zero() || route.hook_timeout > MAX_HOOK_TIMEOUT {
        return Err(error(
            "hook_timeout",
            "must be between 1ms and 1h, like \"30s\"".into(),
        ));
    }
    if let Some(url) = route.webhook {
        let parsed = reqwest::Url::parse(url).map_err(|why| {
            error(
                "webhook",
                format!(
                    "{url:?} is not a URL ({why}); write one like \"https://example.com/chute\""
                ),
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(error(
                "webhook",
                "must be an http:// or https:// URL with a host".into(),
            ));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(error(
                "webhook",
                "must not hold a user or password (it is logged): sign the requests with webhook_secret instead".into(),
            ));
        }
    }
    if let Some(secret) = route.webhook_secret {
        if !is_reference(secret) {
            return Err(error(
                "webhook_secret",
                "must be a reference: \"env:NAME\", \"credential:NAME\" or \"file:/path\" (a secret is never written in the config)".into(),
            ));
        }
        if route.webhook.is_none() {
            return Err(error(
                "webhook_secret",
                "is set but webhook is not: add the webhook URL or remove the secret".into(),
            ));
        }
    }
    if route.webhook_attempts == 0 || route.webhook_attempts > MAX_WEBHOOK_ATTEMPTS {
        return Err(error(
            "webhook_attempts",
            format!("must be between 1 and {MAX_WEBHOOK_ATTEMPTS}"),
        ));
    }
    if route.webhook_give_up_after < Duration::from_secs(1) {
        return Err(error(
            "webhook_give_up_after",
            "must be at least 1s, like \"1h\"".into(),
        ));
    }
    Ok(())
}
