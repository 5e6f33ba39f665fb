//! `chute pause`, `chute resume`, `chute drain [--exit]`: the operator's controls,
//! written to `controls/` in the spool (this host's daemons, or `--all-hosts`), so they
//! survive a restart. The running daemons apply them within about a second and say so
//! in their `daemons/` records; the command waits up to [`ACK_WAIT`] for that and
//! prints what each daemon reports.

use std::time::{Duration, Instant};

use super::{Cli, CliError};
use crate::config::Config;
use crate::daemon::controls::{self, Control};
use crate::spool::Spool;
use crate::spool::owner::{self, DaemonRecord, Owner};
use crate::status::OperatorMode;

/// How long the command waits for the daemons to acknowledge.
const ACK_WAIT: Duration = Duration::from_secs(3);

/// Which daemons a control is for.
#[derive(Debug, clap::Args)]
pub struct ControlArgs {
    /// Every daemon on the spool (all hosts), not only this host's.
    #[arg(long)]
    pub all_hosts: bool,
}

/// Arguments of `chute drain`.
#[derive(Debug, clap::Args)]
pub struct DrainArgs {
    /// Stop the daemon once drained (for upgrades); the next start claims again.
    #[arg(long)]
    pub exit: bool,
    /// Which daemons.
    #[command(flatten)]
    pub target: ControlArgs,
}

/// Writes the control for `mode` and reports what the daemons say.
pub fn execute(cli: &Cli, mode: OperatorMode, target: &ControlArgs) -> Result<(), CliError> {
    let (config, spool) = cli.spool()?;
    let me = Owner::current();
    let verb = match mode {
        OperatorMode::Running => "resume",
        OperatorMode::Paused => "pause",
        OperatorMode::Draining { exit: false } => "drain",
        OperatorMode::Draining { exit: true } => "drain --exit",
    };
    let path = if target.all_hosts {
        spool.all_hosts_control()
    } else {
        spool.host_control(&me.host)
    };
    let control = Control::now(
        mode,
        format!("chute {verb} on {} (pid {})", me.host, me.pid),
    );
    controls::write(&path, &control)
        .map_err(|error| CliError::failure(format!("cannot write {}: {error}", path.display())))?;
    let whose = if target.all_hosts {
        "every daemon on this spool".to_owned()
    } else {
        format!("the daemons of this host ({})", me.host)
    };
    println!("{}", instruction(mode, &whose));
    let targets: Vec<DaemonRecord> = live(&config, &spool)
        .into_iter()
        .filter(|daemon| target.all_hosts || daemon.owner.host == me.host)
        .collect();
    if targets.is_empty() {
        let now = match mode {
            OperatorMode::Running => "the next one claims as usual",
            OperatorMode::Paused => "the next one starts paused",
            OperatorMode::Draining { exit: false } => "the next one starts drained",
            OperatorMode::Draining { exit: true } => {
                "the next one finishes what it has left, then stops"
            }
        };
        let place = if target.all_hosts {
            "on this spool"
        } else {
            "on this host"
        };
        println!("No daemon runs {place} now; {now}.");
        return Ok(());
    }
    for line in acknowledgements(&config, &spool, &control, &targets) {
        println!("{line}");
    }
    Ok(())
}

/// What the instruction means, in one sentence.
fn instruction(mode: OperatorMode, whose: &str) -> String {
    match mode {
        OperatorMode::Running => format!("Resumed {whose}: they claim and start jobs as usual."),
        OperatorMode::Paused => format!(
            "Paused {whose}: nothing new is claimed (inputs wait in the inbox); queued and running jobs go on. `chute resume` ends it."
        ),
        OperatorMode::Draining { exit } => format!(
            "Draining {whose}: nothing new is claimed or started; running jobs finish{}. `chute resume` ends it.",
            if exit {
                ", then each daemon stops (its next start claims again)"
            } else {
                ", then they idle"
            }
        ),
    }
}

/// Waits up to [`ACK_WAIT`] for each target to apply `control`; one line per daemon.
fn acknowledgements(
    config: &Config,
    spool: &Spool,
    control: &Control,
    targets: &[DaemonRecord],
) -> Vec<String> {
    let deadline = Instant::now() + ACK_WAIT;
    loop {
        let now_live = live(config, spool);
        let mut lines = Vec::new();
        let mut waiting = false;
        for target in targets {
            let name = format!("daemon {} pid {}", target.owner.host, target.owner.pid);
            match now_live
                .iter()
                .find(|daemon| daemon.owner.same_process(&target.owner))
            {
                None => lines.push(format!("{name}: stopped")),
                Some(daemon) if daemon.control_set_at >= Some(control.set_at) => {
                    lines.push(format!("{name}: {}", describe(daemon)));
                }
                Some(_) => {
                    waiting = true;
                    lines.push(format!(
                        "{name}: has not acknowledged within {} s (it reads controls/ about every second; see its log)",
                        ACK_WAIT.as_secs()
                    ));
                }
            }
        }
        if !waiting || Instant::now() >= deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A daemon's mode and counts, as its record says ("paused (2 running, 1 queued)").
pub fn describe(daemon: &DaemonRecord) -> String {
    let mode = if daemon.mode.is_empty() {
        "running"
    } else {
        daemon.mode.as_str()
    };
    format!(
        "{mode} ({} running, {} queued)",
        daemon.running, daemon.queued
    )
}

/// The live daemons on the spool.
fn live(config: &Config, spool: &Spool) -> Vec<DaemonRecord> {
    owner::live_daemons(&spool.daemons(), config.spool.owner_lease)
}

/// The spool's mode for `chute jobs`: `running`, `paused`, `draining`, `drained` when
/// every live daemon says the same, `mixed` when they differ, `stopped` when none runs.
pub fn spool_mode(config: &Config, spool: &Spool) -> (String, Vec<DaemonRecord>) {
    let daemons = live(config, spool);
    let mut modes: Vec<&str> = daemons
        .iter()
        .map(|daemon| {
            if daemon.mode.is_empty() {
                "running"
            } else {
                daemon.mode.as_str()
            }
        })
        .collect();
    modes.sort_unstable();
    modes.dedup();
    let mode = match modes.as_slice() {
        [] => "stopped",
        [one] => one,
        _ => "mixed",
    }
    .to_owned();
    (mode, daemons)
}
