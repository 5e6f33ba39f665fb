//! `chute submit [--route R] [--wait] FILE...`: put files into an inbox safely.
//!
//! Each file is copied under a hidden temporary name in the inbox, fsynced, and renamed
//! to its final name, so the daemon never sees a half-written input. Without `--wait`
//! it names each file's job once a daemon claimed it (within the settle time and a few
//! seconds); with `--wait` it follows every job to its end ([`super::submit_wait`]).

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::lookup::{self, Submitted};
use super::{Cli, CliError, text};
use crate::config::Config;
use crate::pipeline::config::{PipelineKind, RouteConfig};
use crate::spool::entry::{self, InputKind};
use crate::spool::{Spool, fsutil, is_valid_route_name, short_id};

/// Arguments of `chute submit`.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// The route (inbox folder); default: `audio` for audio/video files, `briefs` for
    /// .json/.toml/.yaml/.md briefs.
    #[arg(long)]
    pub route: Option<String>,
    /// Wait for each job to end; print `<job-id> <state> <location>` per file as it
    /// ends (live states go to stderr).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long (e.g. `90s`, `10m`), exit code 1.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, requires = "wait")]
    pub timeout: Option<Duration>,
    /// Process the files even when the same content was delivered within the dedupe
    /// window (to run them again with another model, say).
    #[arg(long)]
    pub force: bool,
    /// Files or folders to submit.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

const AUDIO_EXTENSIONS: [&str; 12] = [
    "wav", "mp3", "m4a", "aac", "ogg", "oga", "opus", "flac", "webm", "mp4", "mkv", "mov",
];
const BRIEF_EXTENSIONS: [&str; 5] = ["json", "toml", "yaml", "yml", "md"];

/// Submits the files, then (with `--wait`) follows their jobs.
pub fn execute(cli: &Cli, args: &SubmitArgs) -> Result<(), CliError> {
    let (config, spool) = cli.spool()?;
    let mut routes = config.effective_routes();
    // Routes the running daemon was configured with show as inbox folders.
    if let Ok(entries) = std::fs::read_dir(spool.inbox_root()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir()
                && is_valid_route_name(&name)
                && !routes.iter().any(|r| r.name == name)
            {
                routes.push(RouteConfig::new(&name, PipelineKind::Passthrough));
            }
        }
    }
    if let Some(missing) = args
        .files
        .iter()
        .find(|file| std::fs::symlink_metadata(file).is_err())
    {
        return Err(CliError::usage(format!(
            "{} does not exist; nothing was submitted",
            text::path(missing)
        )));
    }
    let mut submitted = Vec::new();
    for file in &args.files {
        let route = choose_route(&routes, args.route.as_deref(), file)?;
        let input = put_into_inbox(&spool, &route.name, file, args.force).map_err(|error| {
            CliError::failure(format!("cannot submit {}: {error}", text::path(file)))
        })?;
        submitted.push(input);
    }
    if !args.wait {
        name_the_jobs(&config, &spool, args.files.iter().zip(&submitted));
        return Ok(());
    }
    super::warn_if_no_daemon(&config, &spool);
    super::submit_wait::follow(&spool, submitted, args.timeout)
}

/// How long past the settle time `submit` waits for a daemon to claim what it put in.
const CLAIM_SLACK: Duration = Duration::from_secs(5);
/// How often it looks.
const CLAIM_POLL: Duration = Duration::from_millis(100);

/// Prints `<file> → job <short id>` per file as a daemon claims it, waiting at most the
/// settle time plus [`CLAIM_SLACK`]; a file not claimed by then (or with no daemon on
/// the spool, without waiting) is named with where it waits in the inbox.
fn name_the_jobs<'a>(
    config: &Config,
    spool: &Spool,
    files: impl Iterator<Item = (&'a PathBuf, &'a Submitted)>,
) {
    let mut pending: Vec<_> = files.collect();
    let in_inbox = |input: &Submitted| {
        text::path(&spool.relative(&spool.inbox(&input.route).join(&input.name)))
    };
    if !super::daemon_running(config, spool) {
        for (file, input) in pending {
            println!(
                "{} → {}: no daemon is running on {}; it is claimed when one starts",
                text::path(file),
                in_inbox(input),
                text::path(spool.root())
            );
        }
        return;
    }
    let deadline = Instant::now() + config.watch.settle + CLAIM_SLACK;
    loop {
        pending.retain(|(file, input)| match lookup::claimed_job(spool, input) {
            Some(id) => {
                println!("{} → job {}", text::path(file), short_id(id));
                false
            }
            None => true,
        });
        if pending.is_empty() || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(CLAIM_POLL);
    }
    for (file, input) in pending {
        println!(
            "{} → {}: not claimed yet (`chute jobs` shows it once it is)",
            text::path(file),
            in_inbox(input)
        );
    }
}

fn choose_route<'a>(
    routes: &'a [RouteConfig],
    asked: Option<&str>,
    file: &Path,
) -> Result<&'a RouteConfig, CliError> {
    let names = || {
        routes
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let wanted = match asked {
        Some(name) => name.to_owned(),
        None => {
            let extension = entry::lowercase_extension(file).unwrap_or_default();
            if AUDIO_EXTENSIONS.contains(&extension.as_str()) {
                "audio".to_owned()
            } else if BRIEF_EXTENSIONS.contains(&extension.as_str()) || file.is_dir() {
                "briefs".to_owned()
            } else {
                return Err(CliError::usage(format!(
                    "cannot tell which route {} is for; pass --route (routes: {})",
                    text::path(file),
                    names()
                )));
            }
        }
    };
    routes
        .iter()
        .find(|route| route.name == wanted)
        .ok_or_else(|| CliError::usage(format!("no route {wanted:?} (routes: {})", names())))
}

/// Copies `file` into `inbox/<route>/` under a hidden name (marked to be processed
/// again when `force`), then renames it to a free final name; returns the input as
/// `chute submit --wait` finds its job.
pub fn put_into_inbox(
    spool: &Spool,
    route: &str,
    file: &Path,
    force: bool,
) -> io::Result<Submitted> {
    let name = file
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?
        .to_owned();
    let inbox = spool.inbox(route);
    let temp = inbox.join(format!(".chute-submit-{}", uuid::Uuid::now_v7().simple()));
    let result = (|| {
        copy_entry(file, &temp)?;
        if force {
            crate::spool::reprocess::mark(&temp)?;
        }
        let inode = std::fs::symlink_metadata(&temp)?.ino();
        for attempt in 1..1000u32 {
            let candidate = numbered_name(&name, attempt);
            let target = inbox.join(&candidate);
            if std::fs::symlink_metadata(&target).is_ok() {
                continue;
            }
            let input = Submitted::before_rename(spool, route, candidate, inode);
            match rename_no_replace(&temp, &target) {
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                other => other?,
            }
            fsutil::sync_dir(&inbox)?;
            return Ok(input);
        }
        Err(io::Error::other(
            "too many files with this name are waiting in the inbox",
        ))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp).or_else(|_| fsutil::remove_tree(&temp));
    }
    result
}

/// Renames without replacing an existing target (`RENAME_NOREPLACE`); where the
/// filesystem lacks it (NFS), the check above is the best effort.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => std::fs::rename(from, to),
        Err(error) => Err(error.into()),
    }
}

/// `name` for attempt 1, then `stem (2).ext`, `stem (3).ext`, …
fn numbered_name(name: &OsString, attempt: u32) -> OsString {
    if attempt == 1 {
        return name.clone();
    }
    let stem = entry::stem(name, InputKind::File);
    let mut numbered = stem.clone();
    numbered.push(format!(" ({attempt})"));
    let name_bytes = name.as_encoded_bytes();
    numbered.push(OsString::from(
        String::from_utf8_lossy(&name_bytes[stem.len()..]).into_owned(),
    ));
    numbered
}

fn copy_entry(source: &Path, target: &Path) -> io::Result<()> {
    let meta = std::fs::metadata(source)?;
    if meta.is_dir() {
        std::fs::create_dir(target)?;
        for child in std::fs::read_dir(source)? {
            let child = child?;
            copy_entry(&child.path(), &target.join(child.file_name()))?;
        }
        Ok(())
    } else if meta.is_file() {
        std::fs::copy(source, target)?;
        std::fs::File::open(target)?.sync_all()
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file or folder", source.display()),
        ))
    }
}
