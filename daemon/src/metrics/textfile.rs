//! The node-exporter textfile: the metrics in Prometheus text, written every
//! `metrics.interval` to a temporary file beside the target and renamed over it, so
//! the collector never reads half a file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Sources;
use super::format::prometheus_text;

/// Writes `text` to `path` atomically: a temporary file in the same folder, readable by
/// the collector (0644), then renamed over `path`.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let folder = path
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".chute-metrics-")
        .suffix(".tmp")
        .tempfile_in(folder)?;
    file.write_all(text.as_bytes())?;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    file.as_file().sync_data()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// Rewrites `path` every `interval` until `stop` fires, then once more (the last
/// figures), logging a failure once per streak of failures.
pub fn spawn(
    path: PathBuf,
    interval: Duration,
    sources: Sources,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            let stopping = tokio::select! {
                () = stop.cancelled() => true,
                _ = ticker.tick() => false,
            };
            sources.refresh();
            let text = prometheus_text();
            let target = path.clone();
            let written = tokio::task::spawn_blocking(move || write_atomically(&target, &text))
                .await
                .unwrap_or_else(|error| Err(std::io::Error::other(error)));
            match written {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!(file = %path.display(), "The metrics textfile is written again.");
                }
                Ok(()) => {}
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(file = %path.display(), %error, "Cannot write the metrics textfile (metrics.textfile); check that its folder exists and is writable by the chute user.");
                }
                Err(_) => {}
            }
            if stopping {
                break;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_file_is_replaced_whole_and_leaves_no_temporary_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chute.prom");
        write_atomically(&path, "a 1\n").unwrap();
        write_atomically(&path, "b 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "b 2\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("chute.prom")]);
    }
}
