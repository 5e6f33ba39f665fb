//! What a brief will cost before anything runs: the calls each provider gets, the
//! expected wall time and the price (`chute estimate FILE`, and beside the real calls
//! in result.json).
//!
//! The first configured provider of each chain is assumed to serve every call of its
//! stage (a fallback is cheaper or free: chute's local makers cost nothing). Times are
//! typical latencies per operation, run as the pipeline runs them: scenes at
//! `scene_concurrency` at once, clips all submitted together but paced by the
//! provider's `requests_per_minute`, stages one after another.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::brief::Brief;
use crate::config::Config;

/// Typical seconds a remote call takes, by operation.
pub fn typical_seconds(operation: &str) -> f64 {
    match operation {
        "generate-text" => 15.0,
        "generate-image" => 12.0,
        "submit-video" => 90.0,
        "speak" => 3.0,
        _ => 10.0,
    }
}

/// The real-time factor assumed for the local render (seconds of work per second of
/// video on a small machine).
pub const RENDER_RTF: f64 = 0.5;

/// One stage's share of the estimate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StageEstimate {
    /// The stage (`script`, `images`, `clips`, `voice`, `render`).
    pub stage: String,
    /// Who is expected to do the work: a provider, or chute's local maker.
    pub provider: String,
    /// The provider operation (`generate-image`), empty for local work.
    pub operation: String,
    /// Calls to that provider.
    pub calls: u32,
    /// Expected wall time of the stage, in seconds.
    pub seconds: f64,
    /// Expected price (calls × the provider's price for the operation).
    pub cost: f64,
    /// Chain entries skipped because the configuration has no such provider.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_configured: Vec<String>,
}

/// The whole estimate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Estimate {
    /// Scenes the brief gets.
    pub scenes: u32,
    /// Per stage, in pipeline order.
    pub stages: Vec<StageEstimate>,
    /// Calls per provider.
    pub calls: BTreeMap<String, u32>,
    /// Expected wall time, in seconds.
    pub seconds: f64,
    /// Expected price.
    pub cost: f64,
    /// The currency of the prices.
    pub currency: String,
}

/// Estimates `brief` under `config`.
pub fn estimate(config: &Config, brief: &Brief) -> Estimate {
    let settings = &config.sales_video;
    let scenes = brief.scene_count(settings.seconds_per_scene);
    let waves = scenes.div_ceil(settings.scene_concurrency.max(1) as u32) as f64;
    let stage = |name: &str, chain: &[String], operation: &str, local: &str, calls: u32| {
        let chain = brief.providers.get(name).map_or(chain, Vec::as_slice);
        let not_configured: Vec<String> = chain
            .iter()
            .filter(|entry| {
                !crate::pipeline::sales::chain::LOCAL_NAMES.contains(&entry.as_str())
                    && !config.providers.contains_key(*entry)
            })
            .cloned()
            .collect();
        let served = chain
            .iter()
            .find(|entry| config.providers.contains_key(*entry));
        match served {
            Some(provider) => {
                let table = &config.providers[provider];
                let price = table.prices.get(operation).copied().unwrap_or(0.0);
                let latency = typical_seconds(operation);
                let seconds = match operation {
                    "generate-text" => latency,
                    "submit-video" => {
                        let spacing =
                            60.0 / f64::from(table.requests_per_minute.unwrap_or(60).max(1));
                        f64::from(calls.saturating_sub(1)) * spacing + latency
                    }
                    _ => waves * latency,
                };
                StageEstimate {
                    stage: name.to_owned(),
                    provider: provider.clone(),
                    operation: operation.to_owned(),
                    calls,
                    seconds,
                    cost: price * f64::from(calls),
                    not_configured,
                }
            }
            None => StageEstimate {
                stage: name.to_owned(),
                provider: local.to_owned(),
                operation: String::new(),
                calls: 0,
                seconds: match name {
                    "images" => waves * 0.5,
                    "voice" => waves * 0.2,
                    _ => 0.0,
                },
                cost: 0.0,
                not_configured,
            },
        }
    };
    let video_seconds = f64::from(brief.duration_sec);
    let mut stages = vec![
        stage(
            "script",
            &settings.script_providers,
            "generate-text",
            "template",
            1,
        ),
        stage(
            "images",
            &settings.image_providers,
            "generate-image",
            "card",
            scenes,
        ),
        stage(
            "clips",
            &settings.clip_providers,
            "submit-video",
            "kenburns",
            scenes,
        ),
        stage(
            "voice",
            &settings.voice_providers,
            "speak",
            "espeak-ng",
            scenes,
        ),
    ];
    stages.push(StageEstimate {
        stage: "render".to_owned(),
        provider: "local".to_owned(),
        operation: String::new(),
        calls: 0,
        seconds: video_seconds * RENDER_RTF,
        cost: 0.0,
        not_configured: Vec::new(),
    });
    let mut calls = BTreeMap::new();
    for stage in &stages {
        if stage.calls > 0 {
            *calls.entry(stage.provider.clone()).or_insert(0) += stage.calls;
        }
    }
    Estimate {
        scenes,
        seconds: stages.iter().map(|stage| stage.seconds).sum(),
        cost: stages.iter().map(|stage| stage.cost).sum(),
        currency: config.budget.currency.clone(),
        calls,
        stages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brief(duration: u32) -> Brief {
        serde_json::from_value(serde_json::json!({
            "product": {"name": "Serum"},
            "duration_sec": duration
        }))
        .expect("brief")
    }

    #[test]
    fn an_offline_brief_costs_nothing_and_calls_no_one() {
        let config = Config::default();
        let estimate = estimate(&config, &brief(30));
        assert_eq!(estimate.scenes, 6);
        assert!(estimate.calls.is_empty());
        assert_eq!(estimate.cost, 0.0);
        assert_eq!(estimate.stages[0].provider, "template");
        assert!(estimate.seconds > 0.0);
    }

    #[test]
    fn configured_providers_are_counted_with_their_prices() {
        let mut config = Config::default();
        let table: crate::provider::config::ProviderConfig = toml::from_str(
            r#"prices = { "submit-video" = 3.2, "generate-text" = 0.001 }
requests_per_minute = 2"#,
        )
        .expect("table");
        config.providers.insert("veo".into(), table.clone());
        config.providers.insert("gemini".into(), table);
        config.sales_video.clip_providers = vec!["veo".into()];
        config.sales_video.script_providers = vec!["missing".into(), "gemini".into()];
        let estimate = estimate(&config, &brief(30));
        assert_eq!(estimate.calls["veo"], 6);
        assert_eq!(estimate.calls["gemini"], 1);
        assert!((estimate.cost - (6.0 * 3.2 + 0.001)).abs() < 1e-9);
        let clips = &estimate.stages[2];
        // Six submits at two a minute: 2.5 minutes of pacing, then one render.
        assert!(
            (clips.seconds - (150.0 + 90.0)).abs() < 1e-9,
            "{}",
            clips.seconds
        );
        assert_eq!(estimate.stages[0].not_configured, ["missing"]);
    }

    #[test]
    fn a_brief_chain_replaces_the_configured_one() {
        let mut config = Config::default();
        config.providers.insert("veo".into(), Default::default());
        config.sales_video.clip_providers = vec!["veo".into()];
        let mut brief = brief(10);
        brief.providers.insert("clips".into(), vec!["local".into()]);
        let estimate = estimate(&config, &brief);
        assert_eq!(estimate.stages[2].provider, "kenburns");
        assert!(estimate.calls.is_empty());
    }
}
