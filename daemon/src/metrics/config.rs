//! `[metrics]`: where the Prometheus metrics go. Both outputs are off by default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[metrics]`: an HTTP endpoint on a loopback address and/or a node-exporter textfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `GET /metrics` served on this loopback address (`127.0.0.1:9464`, `[::1]:9464`);
    /// empty: no endpoint.
    pub listen: String,
    /// A node-exporter textfile (`*.prom`) rewritten atomically every `interval`; empty:
    /// none.
    pub textfile: PathBuf,
    /// How often the textfile is rewritten.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: String::new(),
            textfile: PathBuf::new(),
            interval: Duration::from_secs(15),
        }
    }
}

/// A `[metrics]` value the daemon cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsConfigError {
    /// `listen` is not an address with a port.
    #[error(
        "metrics.listen = {0:?} is not an address with a port: write an IP and a port, like \"127.0.0.1:9464\" or \"[::1]:9464\""
    )]
    Listen(String),
    /// `listen` is not a loopback address.
    #[error(
        "metrics.listen = {0:?} is not a loopback address: the endpoint has no authentication, so it is served on 127.0.0.1 or ::1 only (put a reverse proxy with TLS and auth in front to publish it)"
    )]
    NotLoopback(String),
    /// `textfile` is relative or not a `.prom` file.
    #[error(
        "metrics.textfile = {0:?} must be an absolute path ending in .prom (node-exporter's textfile collector reads only *.prom files)"
    )]
    Textfile(PathBuf),
    /// `interval` is zero or shorter than a second.
    #[error("metrics.interval must be at least 1s")]
    Interval,
}

impl MetricsConfigError {
    /// The keys the error is about.
    pub fn keys(&self) -> Vec<String> {
        let key = match self {
            MetricsConfigError::Listen(_) | MetricsConfigError::NotLoopback(_) => "listen",
            MetricsConfigError::Textfile(_) => "textfile",
            MetricsConfigError::Interval => "interval",
        };
        vec![format!("metrics.{key}"), "metrics".into()]
    }
}

impl MetricsConfig {
    /// The endpoint's address, when one is configured and valid.
    pub fn listen_address(&self) -> Result<Option<SocketAddr>, MetricsConfigError> {
        let listen = self.listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        let address: SocketAddr = listen
            .parse()
            .map_err(|_| MetricsConfigError::Listen(self.listen.clone()))?;
        if !address.ip().is_loopback() {
            return Err(MetricsConfigError::NotLoopback(self.listen.clone()));
        }
        Ok(Some(address))
    }

    /// The textfile, when one is configured.
    pub fn textfile(&self) -> Option<&std::path::Path> {
        (!self.textfile.as_os_str().is_empty()).then_some(self.textfile.as_path())
    }

    /// Checks the address, the textfile's name and the interval.
    pub fn validate(&self) -> Result<(), MetricsConfigError> {
        self.listen_address()?;
        if let Some(path) = self.textfile()
            && (!path.is_absolute()
                || path.extension().is_none_or(|extension| extension != "prom")
                || path.file_name().is_none())
        {
            return Err(MetricsConfigError::Textfile(path.to_owned()));
        }
        if self.interval < Duration::from_secs(1) {
            return Err(MetricsConfigError::Interval);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_and_prom_files_are_taken() {
        let mut config = MetricsConfig::default();
        assert_eq!(config.listen_address(), Ok(None));
        config.listen = "127.0.0.1:9464".into();
        assert!(config.validate().is_ok());
        config.listen = "[::1]:9464".into();
        assert!(config.validate().is_ok());
        config.listen = "0.0.0.0:9464".into();
        let error = config.validate().expect_err("all interfaces");
        assert!(matches!(error, MetricsConfigError::NotLoopback(_)));
        assert_eq!(error.keys()[0], "metrics.listen");
        config.listen = "localhost".into();
        assert!(matches!(
            config.validate(),
            Err(MetricsConfigError::Listen(_))
        ));
        config.listen.clear();
        config.textfile = "chute.prom".into();
        assert!(matches!(
            config.validate(),
            Err(MetricsConfigError::Textfile(_))
        ));
        config.textfile = "/var/lib/node-exporter/chute.txt".into();
        assert!(config.validate().is_err());
        config.textfile = "/var/lib/node-exporter/chute.prom".into();
        assert!(config.validate().is_ok());
        config.interval = Duration::ZERO;
        assert_eq!(config.validate(), Err(MetricsConfigError::Interval));
    }
}
