//! Running a hook command: argv as configured (no shell), the job's facts in
//! `CHUTE_*` variables over a minimal environment (`PATH` and `LANG` only: the
//! daemon's own environment holds provider keys), its own process group killed whole
//! at `hook_timeout`, stdout and stderr kept up to [`OUTPUT_CAP`] each.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::time::Instant;

use crate::confine::{ConfinedChild, SAFE_PATH, describe_status};

/// Bytes of stdout, and of stderr, kept from one run.
pub const OUTPUT_CAP: usize = 16 << 10;

/// How a hook command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Exit code 0.
    Ok,
    /// A non-zero exit code or a signal.
    Failed,
    /// Killed at its time limit.
    Timeout,
    /// It could not be started (not found, not executable).
    NotStarted,
}

impl Ending {
    /// The metric label and the word in the event.
    pub fn label(self) -> &'static str {
        match self {
            Ending::Ok => "ok",
            Ending::Failed => "failed",
            Ending::Timeout => "timeout",
            Ending::NotStarted => "not_started",
        }
    }
}

/// One run of a hook command.
#[derive(Debug, Clone)]
pub struct Run {
    /// How it ended.
    pub ending: Ending,
    /// `exit code 0`, `killed after 30s`, `not found: …`.
    pub status: String,
    /// What it wrote on stdout (cut at [`OUTPUT_CAP`], control characters escaped).
    pub stdout: String,
    /// What it wrote on stderr (likewise).
    pub stderr: String,
    /// How long it ran.
    pub took: Duration,
}

impl Run {
    /// One line for the events file and the log.
    pub fn describe(&self, hook: &str) -> String {
        let mut line = format!(
            "{hook} {}: {} after {:.1?}",
            self.ending.label(),
            self.status,
            self.took
        );
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if !text.is_empty() {
                line.push_str(&format!("; {name}: {text}"));
            }
        }
        line
    }
}

/// Runs `argv` in `folder` with `variables` (plus `PATH` and `LANG`), killed after
/// `timeout`.
pub async fn run(
    argv: &[String],
    variables: Vec<(&'static str, OsString)>,
    folder: &Path,
    timeout: Duration,
) -> Run {
    let started = Instant::now();
    let not_started = |status: String| Run {
        ending: Ending::NotStarted,
        status,
        stdout: String::new(),
        stderr: String::new(),
        took: started.elapsed(),
    };
    let Some((program, arguments)) = argv.split_first() else {
        return not_started("no command configured".into());
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(arguments)
        .env_clear()
        .env("PATH", SAFE_PATH)
        .env("LANG", "C.UTF-8")
        .envs(variables)
        .current_dir(if folder.is_dir() {
            folder
        } else {
            Path::new("/")
        })
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match ConfinedChild::spawn(&mut command) {
        Ok(child) => child,
        Err(error) => return not_started(format!("cannot start {program:?}: {error}")),
    };
    match tokio::time::timeout(timeout, child.output(OUTPUT_CAP)).await {
        Ok(Ok(output)) => Run {
            ending: if output.status.success() {
                Ending::Ok
            } else {
                Ending::Failed
            },
            status: describe_status(output.status),
            stdout: shown(&output.stdout),
            stderr: shown(&output.stderr),
            took: started.elapsed(),
        },
        Ok(Err(error)) => {
            child.kill_and_wait().await;
            Run {
                ending: Ending::Failed,
                status: format!("cannot read its output: {error}"),
                stdout: String::new(),
                stderr: String::new(),
                took: started.elapsed(),
            }
        }
        Err(_) => {
            child.kill_and_wait().await;
            Run {
                ending: Ending::Timeout,
                status: format!("killed at hook_timeout ({timeout:?})"),
                stdout: String::new(),
                stderr: String::new(),
                took: started.elapsed(),
            }
        }
    }
}

/// Output as text for a record: invalid UTF-8 replaced, control characters escaped,
/// trailing newlines dropped.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    crate::logging::escape(text.trim_end_matches(['\n', '\r'])).into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    #[tokio::test]
    async fn the_environment_holds_only_the_facts_path_and_lang() {
        let dir = tempfile::tempdir().unwrap();
        let run = run(
            &sh("env | sort; echo err >&2; exit 3"),
            vec![("CHUTE_JOB_ID", "abc".into())],
            dir.path(),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(run.ending, Ending::Failed);
        assert_eq!(run.status, "exit code 3");
        let names: Vec<&str> = run
            .stdout
            .split("\\n")
            .filter_map(|line| line.split_once('=').map(|(name, _)| name))
            // What the shell itself adds.
            .filter(|name| !["PWD", "OLDPWD", "SHLVL", "_"].contains(name))
            .collect();
        assert_eq!(names, ["CHUTE_JOB_ID", "LANG", "PATH"], "{}", run.stdout);
        assert_eq!(run.stderr, "err");
        assert!(
            run.describe("on_done")
                .starts_with("on_done failed: exit code 3")
        );
    }

    #[tokio::test]
    async fn a_hook_past_its_time_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("child-pid");
        let script = format!("sleep 30 & echo $! > {}; wait", marker.display());
        let run = run(
            &sh(&script),
            Vec::new(),
            dir.path(),
            Duration::from_millis(500),
        )
        .await;
        assert_eq!(run.ending, Ending::Timeout);
        assert!(run.took < Duration::from_secs(20), "{:?}", run.took);
        let pid: i32 = std::fs::read_to_string(&marker)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let gone = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            !Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|stat| stat.contains(") Z "))
        });
        assert!(gone, "the hook's child {pid} outlived the timeout");
    }

    #[tokio::test]
    async fn a_missing_program_is_reported_not_raised() {
        let dir = tempfile::tempdir().unwrap();
        let run = run(
            &["/nonexistent/hook".to_owned()],
            Vec::new(),
            dir.path(),
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(run.ending, Ending::NotStarted);
        assert!(run.status.contains("/nonexistent/hook"), "{}", run.status);
    }
}
