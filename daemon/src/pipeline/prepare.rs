//! `prepare`: hash the claimed input (blake3) and check it against the dedupe index.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::json;

use super::{Stage, StageContext, StageError, StageFuture, StageOutputs};
use crate::dedupe::{self, IndexEntry};
use crate::deliver;
use crate::spool::entry::{self, InputKind};
use crate::spool::reprocess;
use crate::spool::tree::{self, Order, Step};

/// The first stage of every pipeline.
pub struct Prepare;

impl Stage for Prepare {
    fn name(&self) -> &'static str {
        super::PREPARE
    }

    fn run<'a>(&'a self, context: &'a StageContext) -> StageFuture<'a> {
        Box::pin(async move {
            context.simulate_work().await?;
            let input_name = context.input_name()?;
            let input_path = context.job.input_path(&input_name);
            let kind = context.record.input.kind;
            let inode = context.record.input.readable_inode();
            let content_hash =
                tokio::task::spawn_blocking(move || hash_input(&input_path, kind, inode))
                    .await
                    .map_err(|error| {
                        StageError::Transient(format!("hashing task failed: {error}"))
                    })??;
            context.progress(60, "content hashed");

            let record = context.update_record(|record| {
                record.input.content_hash = Some(content_hash.clone());
            })?;

            let mut outputs = StageOutputs::new();
            outputs.insert("content_hash".into(), json!(content_hash));
            let reprocess = reprocess::is_marked(&context.job.input_path(&input_name));
            if context.config.dedupe.enabled {
                let location = deliver::outbox_location(&context.spool, &record, &input_name);
                let mine = IndexEntry {
                    job_id: record.id,
                    claimed_at: record.claimed_at,
                    location,
                };
                let duplicate = if reprocess {
                    dedupe::register_anew(&context.spool, &record.route, &content_hash, &mine)?;
                    context.progress(80, "processed again on request (submit --force)");
                    outputs.insert("reprocess".into(), json!(true));
                    None
                } else {
                    wait_for_original(context, &content_hash, &mine).await?
                };
                if let Some(duplicate) = duplicate {
                    context.progress(
                        100,
                        &format!("duplicate of job {}: not processed again", duplicate.job_id),
                    );
                    outputs.insert("duplicate_of".into(), json!(duplicate));
                }
            }
            Ok(outputs)
        })
    }
}

/// How often a duplicate looks whether its original has ended.
const ORIGINAL_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Registers `mine` as the original of its content, or finds the original it
/// duplicates. While that original is still in flight, the job waits for its outcome
/// (without holding a running slot): a delivered original makes this job a duplicate
/// of it, one that failed or was cancelled lets this job be processed itself.
async fn wait_for_original(
    context: &StageContext,
    content_hash: &str,
    mine: &IndexEntry,
) -> Result<Option<dedupe::DuplicateOf>, StageError> {
    let signals = context.signals();
    let mut waited = false;
    let found = loop {
        let duplicate = dedupe::check_and_register(
            &context.spool,
            &context.record.route,
            content_hash,
            mine,
            context.config.dedupe.window,
        )?;
        let Some(duplicate) = duplicate else {
            break None;
        };
        match dedupe::original(&context.spool, &duplicate) {
            dedupe::Original::Delivered => break Some(duplicate),
            // Ended without a delivery: the next check replaces its index entry.
            dedupe::Original::Gone => continue,
            dedupe::Original::InFlight => {
                if !waited {
                    waited = true;
                    context.progress(
                        60,
                        &format!(
                            "{} the original job {} (same content) to end",
                            super::WAITING_FOR,
                            crate::spool::short_id(duplicate.job_id)
                        ),
                    );
                    context.slot.release();
                }
                signals.sleep(ORIGINAL_POLL).await?;
            }
        }
    };
    if waited {
        signals.run(context.slot.reacquire()).await?;
        context.progress(80, "the original job ended");
    }
    Ok(found)
}

/// blake3's key-derivation context for folder trees: a folder is hashed in another
/// blake3 mode than a file, so no folder can hash like a file (an empty folder once
/// was a "duplicate" of a zero-byte file).
const TREE_HASH_CONTEXT: &str = "chute 2026-11 dropped folder tree v1";

/// blake3 of a file (plain, as `b3sum` prints it), or of a folder tree (relative
/// names, kinds and contents, in sorted order, in blake3's derive-key mode). Never
/// follows links (a folder is walked through its descriptors); refuses anything but
/// regular files and folders. `inode`: the input's, when known (0: not checked).
pub fn hash_input(path: &Path, kind: InputKind, inode: u64) -> Result<String, StageError> {
    let expected = (inode != 0).then_some(inode);
    let hasher = match kind {
        InputKind::File => {
            let mut hasher = blake3::Hasher::new();
            let file = entry::open_regular(path, expected).map_err(unsafe_input)?;
            hasher.update_reader(file)?;
            hasher
        }
        InputKind::Directory => {
            let meta = std::fs::symlink_metadata(path)?;
            if expected.is_some_and(|inode| inode != meta.ino()) {
                return Err(unsafe_input(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the input folder was replaced by another",
                )));
            }
            let root = tree::open_root(path, &meta).map_err(unsafe_input)?;
            let mut hasher = blake3::Hasher::new_derive_key(TREE_HASH_CONTEXT);
            hash_tree(root.as_fd(), &mut hasher)?;
            hasher
        }
    };
    Ok(hasher.finalize().to_hex().to_string())
}

fn hash_tree(root: BorrowedFd<'_>, hasher: &mut blake3::Hasher) -> Result<(), StageError> {
    let mut refused = None;
    tree::walk(
        root,
        Order::Sorted,
        &(),
        &mut |entry: &tree::Entry<'_>, _: &()| {
            hasher.update(entry.relative.as_os_str().as_bytes());
            hasher.update(&[0]);
            if entry.meta.is_dir() {
                hasher.update(b"d");
                let child = tree::open_dir_at(entry.parent, entry.name, entry.meta)?;
                Ok(Step::Descend(child, ()))
            } else if entry.meta.is_file() {
                hasher.update(b"f");
                hasher.update(&entry.meta.len().to_le_bytes());
                let (file, _) = tree::open_file_at(entry.parent, entry.name, entry.meta)?;
                hasher.update_reader(file)?;
                Ok(Step::Next)
            } else {
                refused = Some(entry.relative.to_string_lossy().into_owned());
                Ok(Step::Stop)
            }
        },
    )
    .map_err(unsafe_input)?;
    match refused {
        Some(relative) => Err(StageError::job(
            format!(
                "the folder contains {}, which is not a regular file or folder",
                crate::logging::escape(&relative)
            ),
            "drop folders that contain only regular files and folders",
        )),
        None => Ok(()),
    }
}

fn unsafe_input(error: io::Error) -> StageError {
    if error.kind() == io::ErrorKind::InvalidData
        || error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
    {
        StageError::job(
            format!("the input is not a plain regular file: {error}"),
            "drop regular files only",
        )
    } else {
        StageError::from(error)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_folder_never_hashes_like_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("empty.bin");
        std::fs::write(&file, b"").unwrap();
        let folder = dir.path().join("empty");
        std::fs::create_dir(&folder).unwrap();
        let file_hash = hash_input(&file, InputKind::File, 0).unwrap();
        // Files keep their plain blake3 (what `b3sum` prints).
        assert_eq!(file_hash, blake3::hash(b"").to_hex().to_string());
        let folder_hash = hash_input(&folder, InputKind::Directory, 0).unwrap();
        assert_ne!(folder_hash, file_hash);
        std::fs::write(folder.join("a"), b"x").unwrap();
        assert_ne!(
            hash_input(&folder, InputKind::Directory, 0).unwrap(),
            folder_hash
        );
    }
}
