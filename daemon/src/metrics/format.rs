//! The two text formats the metrics are read in. The registry encodes OpenMetrics
//! (what Prometheus asks for first); node-exporter's textfile collector and older
//! scrapers read the Prometheus text format 0.0.4, which differs for what this daemon
//! exports only in two ways: a counter's `# HELP` and `# TYPE` lines name it with its
//! `_total` suffix (as its samples do), and there are no `# UNIT` or `# EOF` lines.

use super::registry::metrics;

/// The content type of [`openmetrics`].
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of [`prometheus_text`].
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric in the OpenMetrics text format.
pub fn openmetrics() -> String {
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, metrics().registry()) {
        tracing::warn!(%error, "Could not encode the metrics.");
    }
    text
}

/// Every metric in the Prometheus text format 0.0.4.
pub fn prometheus_text() -> String {
    to_prometheus_text(&openmetrics())
}

/// OpenMetrics text rewritten as Prometheus text 0.0.4 (see the module's note).
fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => text.push_str(&line),
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_with_their_suffix_and_the_eof_goes() {
        let openmetrics = "# HELP chute_jobs_ended Jobs that ended.\n\
                           # TYPE chute_jobs_ended counter\n\
                           chute_jobs_ended_total{route=\"a\",status=\"done\"} 1\n\
                           # HELP chute_jobs Live jobs.\n\
                           # TYPE chute_jobs gauge\n\
                           chute_jobs{state=\"queued\"} 0\n\
                           # EOF\n";
        assert_eq!(
            to_prometheus_text(openmetrics),
            "# HELP chute_jobs_ended_total Jobs that ended.\n\
             # TYPE chute_jobs_ended_total counter\n\
             chute_jobs_ended_total{route=\"a\",status=\"done\"} 1\n\
             # HELP chute_jobs Live jobs.\n\
             # TYPE chute_jobs gauge\n\
             chute_jobs{state=\"queued\"} 0\n"
        );
    }
}
