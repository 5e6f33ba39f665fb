//! The snapshot against real files: a dropper's descriptor, refusals, folders, a swap
//! cut by a crash.
#![allow(clippy::unwrap_used)]

use std::io::{Seek, Write};

use super::*;

/// A job's `input/` holding `name`, as the claim left it.
struct Claim {
    _dir: tempfile::TempDir,
    input: std::path::PathBuf,
}

impl Claim {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("input");
        std::fs::create_dir(&input).unwrap();
        Claim { _dir: dir, input }
    }

    fn claimed(&self, name: &str) -> Claimed {
        let path = self.input.join(name);
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mut claimed = Claimed {
            size: meta.len(),
            modified: Some(meta.modified().unwrap()),
            entries: None,
        };
        if meta.is_dir() {
            let inspection = entry::inspect(
                &path,
                &entry::EntryLimits {
                    allow_directories: true,
                    ..entry::EntryLimits::default()
                },
            )
            .unwrap();
            claimed.size = inspection.size;
            claimed.modified = Some(inspection.mtime);
            claimed.entries = Some(inspection.entries);
        }
        claimed
    }

    fn request<'a>(&'a self, name: &'a str, kind: InputKind, claimed: Claimed) -> Request<'a> {
        Request {
            input_dir: &self.input,
            name: OsStr::new(name),
            kind,
            claimed,
            recorded: None,
            limit: None,
            durable: false,
        }
    }

    fn hidden_leftovers(&self) -> Vec<std::ffi::OsString> {
        std::fs::read_dir(&self.input)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .filter(|name| name.as_encoded_bytes().starts_with(b"."))
            .collect()
    }
}

fn refusal_of(result: Result<Snapshot, SnapshotError>) -> Rejection {
    match result {
        Err(SnapshotError::Refused(rejection)) => rejection,
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn writes_through_a_dropper_descriptor_never_reach_the_snapshot() {
    let claim = Claim::new();
    let path = claim.input.join("memo.wav");
    std::fs::write(&path, b"as claimed").unwrap();
    let dropped = std::fs::metadata(&path).unwrap();
    // The dropper keeps a descriptor that can write the claimed inode.
    let mut dropper = File::options().read(true).write(true).open(&path).unwrap();
    let marked = reprocess::mark(&path).is_ok();
    let request = claim.request("memo.wav", InputKind::File, claim.claimed("memo.wav"));
    let mut commits = Vec::new();
    let snapshot = ensure(&request, |snapshot| {
        commits.push(*snapshot);
        Ok(())
    })
    .unwrap();
    assert_eq!(commits, vec![snapshot]);
    assert_eq!(snapshot.size, 10);
    let now = std::fs::metadata(&path).unwrap();
    assert_eq!(now.ino(), snapshot.inode);
    assert_ne!(now.ino(), dropped.ino(), "the dropped inode left the spool");
    assert_eq!(now.modified().unwrap(), dropped.modified().unwrap());
    assert_eq!(now.mode() & 0o777, 0o600);
    assert_eq!(reprocess::is_marked(&path), marked);
    dropper.write_all(b"REWRITTEN!").unwrap();
    dropper.rewind().unwrap();
    dropper.set_len(3).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"as claimed");
    assert!(claim.hidden_leftovers().is_empty());

    // Taken once: a second run finds it in place and commits nothing.
    let again = Request {
        recorded: Some(snapshot),
        ..request
    };
    let found = ensure(&again, |_| panic!("committed twice")).unwrap();
    assert_eq!(found, snapshot);
}

#[test]
fn a_file_changed_since_its_claim_linked_twice_or_too_large_is_refused() {
    let claim = Claim::new();
    let path = claim.input.join("a.bin");
    std::fs::write(&path, b"0123456789").unwrap();
    let claimed = claim.claimed("a.bin");

    let mut stale = claimed;
    stale.modified = Some(SystemTime::UNIX_EPOCH);
    let request = claim.request("a.bin", InputKind::File, stale);
    let rejection = refusal_of(ensure(&request, |_| Ok(())));
    assert!(
        matches!(&rejection, Rejection::Changed(when) if when.contains("after it was claimed")),
        "{rejection:?}"
    );

    let limited = Request {
        limit: Some(9),
        ..claim.request("a.bin", InputKind::File, claimed)
    };
    assert_eq!(
        refusal_of(ensure(&limited, |_| Ok(()))),
        Rejection::TooLarge { size: 10, limit: 9 }
    );

    let elsewhere = claim.input.parent().unwrap().join("second-name");
    std::fs::hard_link(&path, &elsewhere).unwrap();
    let request = claim.request("a.bin", InputKind::File, claimed);
    assert_eq!(
        refusal_of(ensure(&request, |_| Ok(()))),
        Rejection::HardLinked(2)
    );
    assert!(claim.hidden_leftovers().is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), b"0123456789");
}

#[test]
fn a_folder_becomes_a_tree_of_the_daemons_own_or_is_refused_naming_the_entry() {
    let claim = Claim::new();
    let folder = claim.input.join("brief");
    std::fs::create_dir_all(folder.join("img/sub")).unwrap();
    std::fs::write(folder.join("brief.json"), b"{}").unwrap();
    std::fs::write(folder.join("img/sub/a.png"), b"png").unwrap();
    let old_file = std::fs::metadata(folder.join("brief.json")).unwrap().ino();
    let old_folder = std::fs::metadata(&folder).unwrap().ino();
    let old_mtime = std::fs::metadata(folder.join("img"))
        .unwrap()
        .modified()
        .unwrap();
    let request = claim.request("brief", InputKind::Directory, claim.claimed("brief"));
    let snapshot = ensure(&request, |_| Ok(())).unwrap();
    assert_eq!(snapshot.size, 5);
    assert_eq!(std::fs::metadata(&folder).unwrap().ino(), snapshot.inode);
    assert_ne!(snapshot.inode, old_folder);
    assert_ne!(
        std::fs::metadata(folder.join("brief.json")).unwrap().ino(),
        old_file
    );
    assert_eq!(std::fs::read(folder.join("img/sub/a.png")).unwrap(), b"png");
    let img = std::fs::metadata(folder.join("img")).unwrap();
    assert_eq!(img.modified().unwrap(), old_mtime);
    assert_eq!(img.mode() & 0o777, 0o700);
    assert!(
        claim.hidden_leftovers().is_empty(),
        "{:?}",
        claim.hidden_leftovers()
    );

    for (name, make) in [("with-link", 0), ("with-fifo", 1)] {
        let folder = claim.input.join(name);
        std::fs::create_dir_all(folder.join("deep")).unwrap();
        std::fs::write(folder.join("ok.txt"), b"ok").unwrap();
        if make == 0 {
            std::os::unix::fs::symlink("/etc/shadow", folder.join("deep/evil")).unwrap();
        } else {
            rustix::fs::mkfifoat(
                rustix::fs::CWD,
                folder.join("deep/evil"),
                Mode::from_raw_mode(0o600),
            )
            .unwrap();
        }
        let request = claim.request(name, InputKind::Directory, claim.claimed(name));
        let rejection = refusal_of(ensure(&request, |_| Ok(())));
        assert!(
            matches!(&rejection, Rejection::UnsafeTreeEntry(what) if what.starts_with("deep/evil (")),
            "{rejection:?}"
        );
        assert!(claim.hidden_leftovers().is_empty());
    }
}

#[test]
fn a_folder_swap_cut_by_a_crash_is_finished() {
    let claim = Claim::new();
    // The dropped folder moved aside, the snapshot not yet moved in.
    std::fs::create_dir(claim.input.join(".tmp-snapshot-dropped")).unwrap();
    std::fs::create_dir(claim.input.join(".tmp-snapshot")).unwrap();
    std::fs::write(claim.input.join(".tmp-snapshot/a.txt"), b"a").unwrap();
    let inode = std::fs::metadata(claim.input.join(".tmp-snapshot"))
        .unwrap()
        .ino();
    let recorded = Snapshot {
        method: SnapshotMethod::Copy,
        inode,
        size: 1,
    };
    let request = Request {
        recorded: Some(recorded),
        ..claim.request("album", InputKind::Directory, Claimed::default())
    };
    assert_eq!(
        ensure(&request, |_| panic!("committed again")).unwrap(),
        recorded
    );
    assert_eq!(
        std::fs::read(claim.input.join("album/a.txt")).unwrap(),
        b"a"
    );
    assert!(claim.hidden_leftovers().is_empty());
}
