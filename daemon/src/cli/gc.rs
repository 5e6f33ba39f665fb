//! `chute gc [--dry-run] [--json]`: applies the `[retention]` rules now, with the same
//! planning and removal code as the daemon's schedule, and prints exactly what was (or
//! would be) removed, with sizes, the rule that matched and the space freed.
//!
//! Safe beside running daemons and other `chute gc` runs: each removal is claimed by a
//! rename first, so only the process that removed an item lists it.

use std::time::SystemTime;

use bytesize::ByteSize;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Cli, CliError, text};
use crate::housekeeping::plan::{self, Candidate, ItemKind};
use crate::housekeeping::sweep::Outcome;
use crate::housekeeping::{self, live};

/// Why a matched result stays.
const IN_USE: &str = "a live job is a duplicate of this result";

/// Arguments of `chute gc`.
#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// Only list what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print a JSON object (stable format, see README.md).
    #[arg(long)]
    pub json: bool,
}

/// `chute gc --json`: what was (or would be) removed.
#[derive(Debug, Serialize)]
struct Report {
    /// Nothing was removed; `removed` lists what would be.
    dry_run: bool,
    /// The items this run removed (or would remove), in removal order.
    removed: Vec<Item>,
    /// Items the rules matched that stay: in use by a live job, or not removable.
    kept: Vec<Kept>,
    /// Bytes of the removed items.
    freed_bytes: u64,
    /// Dedupe index entries removed with them (or past `dedupe.window`); 0 in a dry run.
    index_entries_removed: usize,
}

#[derive(Debug, Serialize)]
struct Item {
    kind: ItemKind,
    /// Relative to the spool; absolute for compiled plugins (outside it).
    path: String,
    size: u64,
    last_used: DateTime<Utc>,
    rule: String,
}

#[derive(Debug, Serialize)]
struct Kept {
    kind: ItemKind,
    path: String,
    reason: String,
}

fn item(candidate: &Candidate, size: u64) -> Item {
    Item {
        kind: candidate.kind,
        path: candidate.shown.to_string_lossy().into_owned(),
        size,
        last_used: DateTime::<Utc>::from(candidate.last_used),
        rule: candidate.rule.clone(),
    }
}

/// Plans, removes (unless `--dry-run`) and reports.
pub fn execute(cli: &Cli, args: &GcArgs) -> Result<(), CliError> {
    let (config, spool) = cli.spool()?;
    let candidates = plan::retention(&spool, &config, SystemTime::now());
    let mut report = Report {
        dry_run: args.dry_run,
        removed: Vec::new(),
        kept: Vec::new(),
        freed_bytes: 0,
        index_entries_removed: 0,
    };
    if args.dry_run {
        let in_use = live::originals_in_use(&spool, std::time::UNIX_EPOCH);
        for candidate in &candidates {
            let location = candidate.shown.to_string_lossy();
            if candidate.kind == ItemKind::Delivered && in_use.contains(location.as_ref()) {
                report.kept.push(Kept {
                    kind: candidate.kind,
                    path: location.into_owned(),
                    reason: IN_USE.to_owned(),
                });
                continue;
            }
            report.freed_bytes += candidate.size;
            report.removed.push(item(candidate, candidate.size));
        }
    } else {
        report.index_entries_removed =
            housekeeping::apply(&spool, &config, &candidates, |candidate, outcome| {
                let kept = |reason: String| Kept {
                    kind: candidate.kind,
                    path: candidate.shown.to_string_lossy().into_owned(),
                    reason,
                };
                match outcome {
                    Outcome::Removed(size) => {
                        report.freed_bytes += size;
                        report.removed.push(item(candidate, *size));
                    }
                    Outcome::Gone => {}
                    Outcome::InUse => report.kept.push(kept(IN_USE.to_owned())),
                    Outcome::Failed(error) => report
                        .kept
                        .push(kept(format!("cannot be removed: {error}"))),
                }
            });
    }
    if args.json {
        println!("{}", text::json_pretty(&report).map_err(CliError::failure)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

fn print_table(report: &Report) {
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for item in &report.removed {
        println!(
            "{verb}  {:<15}  {}  {}  ({})",
            item.kind.name(),
            text::escape(&item.path),
            ByteSize(item.size).display().iec(),
            text::escape(&item.rule)
        );
    }
    for kept in &report.kept {
        println!(
            "kept  {:<15}  {}  ({})",
            kept.kind.name(),
            text::escape(&kept.path),
            text::escape(&kept.reason)
        );
    }
    let freed = ByteSize(report.freed_bytes).display().iec();
    match (report.dry_run, report.removed.len()) {
        (_, 0) => println!("nothing to remove"),
        (true, count) => {
            println!("{count} items, {freed} would be freed (dry run: nothing was removed)")
        }
        (false, count) => println!(
            "{count} items removed, {freed} freed; {} dedupe index entries removed",
            report.index_entries_removed
        ),
    }
}
