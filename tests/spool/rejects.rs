//! Inputs that must end in failed/ with a reason, without harming anything else.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::Path;

use crate::drops::assert_each_delivered_once;
use crate::harness::{
    Config, FileFacts, Outcome, Route, Spool, hidden_temp_name, random_bytes, secs,
};
use crate::in_process::InProcessDaemon;

/// The failed folder whose name is `<stem>--<8 hex>`.
fn failure_for<'a>(failures: &'a [Outcome], stem: &str) -> &'a Outcome {
    let matching: Vec<&Outcome> = failures
        .iter()
        .filter(|f| {
            let name = f.folder.as_bytes();
            name.len() == stem.len() + 10
                && name.starts_with(stem.as_bytes())
                && name[stem.len()..].starts_with(b"--")
                && name[stem.len() + 2..]
                    .iter()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        })
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "failed folders named {stem}--<short-id>: {:?}",
        failures.iter().map(|f| &f.folder).collect::<Vec<_>>()
    );
    matching[0]
}

/// Asserts `error.json` says failed at `stage` for a reason containing one of `words`
/// (case-insensitive), and the folder holds exactly the input entry `name`.
fn assert_failed(f: &Outcome, name: &str, stage: &str, words: &[&str]) {
    assert_eq!(
        f.record["state"],
        "failed",
        "{}: {}",
        f.dir.display(),
        f.record
    );
    assert_eq!(
        f.record["stage"],
        stage,
        "{}: {}",
        f.dir.display(),
        f.record
    );
    let reason = f.record["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no reason: {}", f.dir.display(), f.record))
        .to_lowercase();
    assert!(
        words.iter().any(|w| reason.contains(w)),
        "{}: reason {reason:?} mentions none of {words:?}",
        f.dir.display()
    );
    assert_eq!(
        f.payload(),
        vec![std::ffi::OsString::from(name)],
        "{}: entries besides error.json",
        f.dir.display()
    );
}

/// Asserts `error.json` says failed at stage "claim" for a reason containing one of
/// `words`, and that the entry `name` itself, a `kind` (symlink, FIFO, socket), is not in
/// the failed folder but recorded in `removed_entries` (with a symlink's `target`).
fn assert_removed(f: &Outcome, name: &str, kind: &str, target: Option<&Path>, words: &[&str]) {
    let reason = f.record["reason"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert_eq!(f.record["stage"], "claim", "{}", f.record);
    assert!(
        words.iter().any(|w| reason.contains(w)),
        "{}: reason {reason:?} mentions none of {words:?}",
        f.dir.display()
    );
    assert!(
        f.payload().is_empty(),
        "{}: {:?} delivered",
        f.dir.display(),
        f.payload()
    );
    assert!(fs::symlink_metadata(f.dir.join(name)).is_err());
    let removed = &f.record["removed_entries"];
    assert_eq!(removed.as_array().map(Vec::len), Some(1), "{}", f.record);
    assert_eq!(removed[0]["path"], name, "{}", f.record);
    assert_eq!(removed[0]["kind"], kind, "{}", f.record);
    match target {
        Some(target) => assert_eq!(removed[0]["target"], target.to_str().unwrap()),
        None => assert!(removed[0].get("target").is_none(), "{}", f.record),
    }
}

/// A symlink (to a file outside the spool), a FIFO, a socket and a file with a second
/// hard link outside the inbox each end in failed/archive/ at stage "claim" with a reason
/// naming the problem. The symlink, FIFO and socket are never delivered: error.json
/// records what they were (the link's target too), and no FIFO, socket or link is left
/// under failed/. The hard-linked file is moved as it is (the same inode). The symlink
/// target and the other hard link are untouched; the daemon keeps running and delivers
/// a normal file dropped afterwards.
#[test]
fn special_entries_are_failed_without_being_opened() {
    let spool = Spool::new(&Config::default());
    let mut daemon = spool.start_daemon();
    let inbox = spool.inbox("archive");

    let target_dir = tempfile::tempdir().unwrap();
    let target = target_dir.path().join("target.txt");
    fs::write(&target, b"symlink target - must stay untouched").unwrap();
    let target_before = FileFacts::of(&target);

    let original = spool.outside.join("delta-original.bin");
    fs::write(&original, random_bytes(777)).unwrap();

    std::os::unix::fs::symlink(&target, inbox.join("alpha.txt")).unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        inbox.join("bravo.dat"),
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
    let _listener = UnixListener::bind(inbox.join("charlie.dat")).unwrap();
    // A second name for `original` (which lives outside the inbox, same filesystem).
    fs::hard_link(&original, inbox.join("delta.bin")).unwrap();
    let original_before = FileFacts::of(&original);
    assert_eq!(original_before.nlink, 2);

    spool.wait_until(secs(30), "4 entries in failed/archive", || {
        spool.failed_count("archive") >= 4
    });
    let failures = spool.failures("archive");
    assert_eq!(failures.len(), 4, "{}", spool.summary());

    let f = failure_for(&failures, "alpha");
    assert_removed(
        f,
        "alpha.txt",
        "symlink",
        Some(&target),
        &["symlink", "symbolic link"],
    );
    assert_eq!(
        FileFacts::of(&target),
        target_before,
        "symlink target changed"
    );

    let f = failure_for(&failures, "bravo");
    assert_removed(f, "bravo.dat", "fifo", None, &["fifo", "pipe"]);

    let f = failure_for(&failures, "charlie");
    assert_removed(f, "charlie.dat", "socket", None, &["socket"]);
    let mut specials = Vec::new();
    let mut pending = vec![spool.path("failed")];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let file_type = fs::symlink_metadata(&path).unwrap().file_type();
            if file_type.is_dir() {
                pending.push(path);
            } else if file_type.is_fifo() || file_type.is_socket() || file_type.is_symlink() {
                specials.push(path);
            }
        }
    }
    assert!(
        specials.is_empty(),
        "special entries under failed/: {specials:?}"
    );

    let f = failure_for(&failures, "delta");
    assert_failed(
        f,
        "delta.bin",
        "claim",
        &["hard link", "hardlink", "hard-link", "link count", "nlink"],
    );
    assert_eq!(
        FileFacts::of(&f.dir.join("delta.bin")),
        original_before,
        "the failed entry must be the same inode (moved, not copied), unchanged"
    );
    assert_eq!(
        FileFacts::of(&original),
        original_before,
        "other hard link changed"
    );

    assert!(daemon.is_running(), "daemon died: {}", daemon.log_tail(40));
    let content = random_bytes(100);
    spool.drop_file("archive", "echo.txt", &content);
    spool.wait_delivered("archive", 1, secs(30));
    let mut inputs = BTreeMap::new();
    inputs.insert(b"echo.txt".to_vec(), content);
    assert_each_delivered_once(&spool, "archive", &inputs);
    assert!(spool.visible("inbox/archive").is_empty());
    assert_eq!(spool.failed_count("archive"), 4);
}

/// Route limits are enforced at claim: a wrong extension, a file over `max_size` and a
/// folder on a route with `allow_directories = false` fail at stage "claim" with a reason
/// saying why; allowed files (extension matched case-insensitively) are delivered.
#[test]
fn route_limits_reject_at_claim() {
    let route = Route {
        max_size: Some("1KiB".to_owned()),
        extensions: Some(vec!["txt".to_owned()]),
        allow_directories: Some(false),
        ..Route::passthrough("docs")
    };
    let spool = Spool::new(&Config::with_route(route));
    let _daemon = InProcessDaemon::start(&spool);
    let mut ok = BTreeMap::new();
    for (name, len) in [("notes.txt", 100), ("LOUD.TXT", 1024)] {
        let content = random_bytes(len);
        spool.drop_file("docs", name, &content);
        ok.insert(name.as_bytes().to_vec(), content);
    }
    let png = random_bytes(50);
    spool.drop_file("docs", "image.png", &png);
    let big = random_bytes(2048);
    spool.drop_file("docs", "big.txt", &big);
    let inbox = spool.inbox("docs");
    let staging = inbox.join(hidden_temp_name());
    fs::create_dir(&staging).unwrap();
    fs::write(staging.join("inside.txt"), b"x").unwrap();
    fs::rename(&staging, inbox.join("bundle")).unwrap();

    spool.wait_delivered("docs", 2, secs(30));
    spool.wait_until(secs(30), "3 entries in failed/docs", || {
        spool.failed_count("docs") >= 3
    });
    let failures = spool.failures("docs");
    assert_eq!(failures.len(), 3, "{}", spool.summary());
    let f = failure_for(&failures, "image");
    assert_failed(f, "image.png", "claim", &["extension"]);
    assert_eq!(fs::read(f.dir.join("image.png")).unwrap(), png);
    let f = failure_for(&failures, "big");
    assert_failed(f, "big.txt", "claim", &["size", "large", "max_size"]);
    assert_eq!(fs::read(f.dir.join("big.txt")).unwrap(), big);
    let f = failure_for(&failures, "bundle");
    assert_failed(f, "bundle", "claim", &["director", "folder"]);
    assert_eq!(
        fs::read(f.dir.join("bundle").join("inside.txt")).unwrap(),
        b"x"
    );
    assert_each_delivered_once(&spool, "docs", &ok);
    spool.wait_jobs_empty(secs(20));
}

/// A brief that is not JSON, TOML or YAML fails in the `brief` stage, and random
/// bytes named like audio fail in the decode stage with "could not be decoded"; each
/// input is kept intact next to error.json and the job's records in `.job/`; nothing is
/// delivered.
#[test]
fn unprocessable_inputs_fail_with_clear_reasons() {
    let spool = Spool::new(&Config::default());
    let _daemon = InProcessDaemon::start(&spool);
    let audio = random_bytes(4096);
    spool.drop_file("audio", "voice memo.m4a", &audio);
    let brief = b"# Brief\nA short video about chute.\n".to_vec();
    spool.drop_file("briefs", "launch.md", &brief);

    spool.wait_until(
        secs(30),
        "one failure each in failed/audio and failed/briefs",
        || spool.failed_count("audio") >= 1 && spool.failed_count("briefs") >= 1,
    );
    for (route, name, stem, content, stage, expected) in [
        (
            "audio",
            "voice memo.m4a",
            "voice memo",
            &audio,
            "decode",
            "could not be decoded",
        ),
        (
            "briefs",
            "launch.md",
            "launch",
            &brief,
            "brief",
            "a brief is JSON, TOML or YAML",
        ),
    ] {
        let failures = spool.failures(route);
        assert_eq!(failures.len(), 1, "{}", spool.summary());
        let f = failure_for(&failures, stem);
        assert_eq!(f.record["state"], "failed", "{}", f.record);
        let reason = f.record["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(expected), "{route}: reason {reason:?}");
        assert_eq!(f.record["stage"], stage, "{}", f.record);
        assert_eq!(f.payload(), vec![std::ffi::OsString::from(name)]);
        assert_eq!(
            &fs::read(f.dir.join(name)).unwrap(),
            content,
            "{route} input"
        );
        assert!(
            Path::new(&f.dir.join(".job")).is_dir(),
            "{}: no .job/ folder",
            f.dir.display()
        );
        assert_eq!(spool.delivered_count(route), 0, "outbox/{route}");
    }
    spool.wait_jobs_empty(secs(20));
}

/// Builds the brief folder `name` outside the spool with `brief.json` = `brief` and the
/// given files, then renames it into the briefs inbox whole.
fn drop_brief_folder(spool: &Spool, name: &str, brief: &str, files: &[(&str, &[u8])]) {
    let folder = spool.outside.join(name);
    fs::create_dir_all(&folder).unwrap();
    fs::write(folder.join("brief.json"), brief).unwrap();
    for (file, content) in files {
        fs::write(folder.join(file), content).unwrap();
    }
    fs::rename(&folder, spool.inbox("briefs").join(name)).unwrap();
}

/// Bad briefs each end in failed/ with a reason naming the field (the good ones are
/// rendered in the video suite).
#[test]
fn bad_briefs_fail_naming_the_field() {
    let spool = Spool::new(&Config::default());
    let _daemon = InProcessDaemon::start(&spool);
    let cases: [(&str, &str, &str); 6] = [
        (
            "noproduct.json",
            r#"{"duration_sec": 30}"#,
            "missing field `product`",
        ),
        (
            "instant.json",
            r#"{"product": {"name": "x"}, "duration_sec": 0}"#,
            "duration_sec: 0 is out of range",
        ),
        (
            "forever.json",
            r#"{"product": {"name": "x"}, "duration_sec": 10000}"#,
            "duration_sec: 10000 is out of range",
        ),
        (
            "epic.yaml",
            "product:\n  name: x\nduration_sec: 30\nstyle: epic\n",
            "style: \"epic\" is not a style",
        ),
        ("broken.yaml", "product: [\n", "not valid YAML"),
        (
            "typo.json",
            r#"{"product": {"name": "x", "prise": "$5"}, "duration_sec": 30}"#,
            "did you mean `product.price`?",
        ),
    ];
    for (name, text, _) in cases {
        spool.drop_file("briefs", name, text.as_bytes());
    }
    let outside = r#"{"product": {"name": "x", "images": ["../secret.png"]}, "duration_sec": 30}"#;
    drop_brief_folder(&spool, "escape", outside, &[]);
    let fake = r#"{"product": {"name": "x", "images": ["bag.png"]}, "duration_sec": 30}"#;
    drop_brief_folder(&spool, "fake", fake, &[("bag.png", b"GIF89a not really")]);
    // A linked image: the link is refused, whatever it points at.
    let secret = spool.outside.join("secret.png");
    fs::write(&secret, b"\x89PNG\r\n\x1a\n").unwrap();
    let linked = r#"{"product": {"name": "x", "images": ["link.png"]}, "duration_sec": 30}"#;
    let folder = spool.outside.join("linked");
    fs::create_dir_all(&folder).unwrap();
    fs::write(folder.join("brief.json"), linked).unwrap();
    std::os::unix::fs::symlink(&secret, folder.join("link.png")).unwrap();
    fs::rename(&folder, spool.inbox("briefs").join("linked")).unwrap();
    // 50 MB of brief: refused unread.
    spool.drop_file("briefs", "huge.json", &vec![b' '; 50 << 20]);
    spool.wait_until(secs(30), "ten briefs in failed/", || {
        spool.failed_count("briefs") >= 10
    });
    let failures = spool.failures("briefs");
    let reason_of = |stem: &str| {
        let failure = failure_for(&failures, stem);
        (
            failure.record["stage"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            failure.record["reason"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    for (name, _, expected) in cases {
        let (stage, reason) = reason_of(name.split('.').next().unwrap_or_default());
        assert_eq!(stage, "brief", "{name}: {reason}");
        assert!(reason.contains(expected), "{name}: {reason}");
    }
    let (_, reason) = reason_of("escape");
    assert!(
        reason.contains("product.images[0]") && reason.contains("not a path inside"),
        "{reason}"
    );
    let (_, reason) = reason_of("fake");
    assert!(
        reason.contains("product.images[0]") && reason.contains("not a PNG, JPEG or WebP"),
        "{reason}"
    );
    // A folder holding a link is refused at claim, naming the link, before any stage
    // could read through it.
    let (_, reason) = reason_of("linked");
    assert!(
        reason.contains("link.png") && reason.contains("symbolic link"),
        "{reason}"
    );
    let (_, reason) = reason_of("huge");
    assert!(reason.contains("larger than"), "{reason}");
    assert_eq!(spool.delivered_count("briefs"), 0);
}
