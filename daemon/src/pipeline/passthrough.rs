//! `passthrough`: the input delivered unchanged under its original name.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::Path;

use serde_json::json;

use super::{Stage, StageContext, StageError, StageFuture, StageOutputs};
use crate::job::JobDir;
use crate::spool::entry::{self, InputKind};
use crate::spool::snapshot;

/// Links (or copies) the input, the daemon's own snapshot, into `out/`.
pub struct Passthrough;

impl Stage for Passthrough {
    fn name(&self) -> &'static str {
        "passthrough"
    }

    fn run<'a>(&'a self, context: &'a StageContext) -> StageFuture<'a> {
        Box::pin(async move {
            context.simulate_work().await?;
            context.check_stop()?;
            let input_name = context.input_name()?;
            let job = context.job.clone();
            let kind = context.record.input.kind;
            let delivered =
                tokio::task::spawn_blocking(move || link_input_into_out(&job, &input_name, kind))
                    .await
                    .map_err(|error| {
                        StageError::Transient(format!("copy task failed: {error}"))
                    })??;
            let mut outputs = StageOutputs::new();
            let (name, _) = entry::display_name(&delivered);
            outputs.insert("files".into(), json!([name]));
            Ok(outputs)
        })
    }
}

/// Puts the claimed input into `out/` under its delivered name. Returns the delivered
/// name. Idempotent.
///
/// The input is the daemon's own snapshot by now (`spool/snapshot.rs`), so it is
/// hard-linked: no data is copied, and no one but the daemon can write that inode. A
/// file the daemon does not own (a dropper's, were a snapshot ever missing) is never
/// linked into a delivery: it is reflinked or copied.
pub fn link_input_into_out(
    job: &JobDir,
    input_name: &OsStr,
    kind: InputKind,
) -> io::Result<OsString> {
    link_input_into(job, input_name, kind, &job.out_dir())
}

/// Puts the claimed input into `out/input/` (the route's `keep_input`), apart from the
/// results, so no input name can replace a result file. Returns the delivered name.
pub fn keep_input_in_out(
    job: &JobDir,
    input_name: &OsStr,
    kind: InputKind,
) -> io::Result<OsString> {
    link_input_into(job, input_name, kind, &job.out_dir().join(KEPT_INPUT_DIR))
}

/// The folder of a result folder that holds the kept input.
pub const KEPT_INPUT_DIR: &str = "input";

fn link_input_into(
    job: &JobDir,
    input_name: &OsStr,
    kind: InputKind,
    out_dir: &Path,
) -> io::Result<OsString> {
    std::fs::create_dir_all(out_dir)?;
    let delivered = entry::delivered_name(input_name);
    let source = job.input_path(&input_name.to_owned());
    let target = out_dir.join(&delivered);
    match kind {
        InputKind::File => link_or_copy(&source, &target)?,
        InputKind::Directory => link_tree(&source, &target)?,
    }
    Ok(delivered)
}

/// Hard-links `source` to `target` (same filesystem, no copy) when the daemon owns
/// `source`; reflinks or copies it otherwise, or when linking is not possible.
/// Idempotent: an existing `target` that is the same file is fine.
fn link_or_copy(source: &Path, target: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let owned = std::fs::symlink_metadata(source)?.uid() == rustix::process::geteuid().as_raw();
    if !owned {
        return copy_into(source, target);
    }
    match std::fs::hard_link(source, target) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            let (a, b) = (
                std::fs::metadata(source)?,
                std::fs::symlink_metadata(target)?,
            );
            if a.ino() == b.ino() && a.dev() == b.dev() {
                Ok(())
            } else {
                std::fs::remove_file(target)?;
                link_or_copy(source, target)
            }
        }
        Err(_) => copy_into(source, target),
    }
}

/// Reflinks or copies the regular file `source` into a new `target` (temp + rename).
fn copy_into(source: &Path, target: &Path) -> io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let temp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    let file = entry::open_regular(source, None)?;
    let size = file.metadata()?.len();
    let (_, copied) = snapshot::clone_or_copy(&file, temp.as_file(), size)?;
    if copied != size {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} changed while it was being copied", source.display()),
        ));
    }
    temp.persist(target).map_err(|error| error.error)?;
    Ok(())
}

fn link_tree(source: &Path, target: &Path) -> io::Result<()> {
    match std::fs::create_dir(target) {
        Err(error) if error.kind() != io::ErrorKind::AlreadyExists => return Err(error),
        _ => {}
    }
    for child in std::fs::read_dir(source)? {
        let child = child?;
        let meta = std::fs::symlink_metadata(child.path())?;
        let destination = target.join(child.file_name());
        if meta.is_dir() {
            link_tree(&child.path(), &destination)?;
        } else if meta.is_file() {
            link_or_copy(&child.path(), &destination)?;
        }
    }
    Ok(())
}
