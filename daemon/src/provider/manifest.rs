//! The optional `NAME.toml` beside a plugin's `NAME.wasm`: the operator's (or the
//! packager's) overrides of what the plugin declares, and whether it ships disabled.

use std::path::Path;

use serde::Deserialize;

use super::config::ProviderConfig;
use super::registry::LoadError;

/// Optional `NAME.toml` next to `NAME.wasm`: overrides what the plugin declares.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Manifest {
    /// Replaces the declared hosts.
    pub hosts: Option<Vec<String>>,
    /// Default requests per minute per key.
    pub requests_per_minute: Option<u32>,
    /// Default requests per day per key.
    pub requests_per_day: Option<u32>,
    /// Default status checks in flight.
    pub max_concurrent_polls: Option<u32>,
    /// Why the plugin ships disabled (e.g. an unofficial API): it loads as a provider
    /// only when its `[providers.NAME]` table says `enabled = true`.
    pub disabled: Option<String>,
}

/// Reads the manifest at `path`; none there is an empty one.
pub fn read_manifest(path: &Path) -> Result<Manifest, LoadError> {
    let invalid = |reason: String| LoadError::Manifest {
        path: path.to_owned(),
        reason,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|error| invalid(error.message().to_owned())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(error) => Err(invalid(error.to_string())),
    }
}

/// Why a provider must not serve calls: `enabled = false` in its table, or a
/// manifest that ships it disabled without `enabled = true`.
pub fn disabled_reason(name: &str, manifest: &Manifest, config: &ProviderConfig) -> Option<String> {
    match (config.enabled, &manifest.disabled) {
        (Some(false), _) => Some(format!("enabled = false in [providers.{name}]")),
        (Some(true), _) | (None, None) => None,
        // The manifest's reason says how to turn it on.
        (None, Some(why)) => Some(why.clone()),
    }
}

/// Why the plugin file `wasm` ships disabled, when its manifest says so (for listing
/// shipped plugins without loading them).
pub fn shipped_disabled(wasm: &Path) -> Option<String> {
    read_manifest(&wasm.with_extension("toml")).ok()?.disabled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_disables_until_the_table_enables_and_a_table_can_disable_any() {
        let shipped_off = Manifest {
            disabled: Some("unofficial API".into()),
            ..Manifest::default()
        };
        let table = |enabled| ProviderConfig {
            enabled,
            ..ProviderConfig::default()
        };
        assert_eq!(
            disabled_reason("whisk", &shipped_off, &table(None)).as_deref(),
            Some("unofficial API")
        );
        assert_eq!(
            disabled_reason("whisk", &shipped_off, &table(Some(true))),
            None
        );
        assert_eq!(
            disabled_reason("gemini", &Manifest::default(), &table(None)),
            None
        );
        let off = disabled_reason("gemini", &Manifest::default(), &table(Some(false)));
        assert_eq!(
            off.as_deref(),
            Some("enabled = false in [providers.gemini]")
        );
        let manifest: Manifest = toml::from_str("disabled = \"why\"\nrequests_per_minute = 6\n")
            .expect("a manifest with disabled parses");
        assert_eq!(manifest.disabled.as_deref(), Some("why"));
    }
}
