//! Dropping files into the inbox: volume, slow writers, temp names, odd names, folders.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::harness::{
    Config, Outcome, Spool, expected_folder, hidden_temp_name, os, random_bytes, secs, wait_until,
};
use crate::in_process::InProcessDaemon;

/// Checks one delivered passthrough folder against the input it must hold: folder name
/// `<stem>--<short-id>`, exactly one payload entry named byte-exactly like the input,
/// with identical content, and a `done` state.
pub fn assert_delivered_intact(d: &Outcome, name: &[u8], content: &[u8]) {
    let id = d.job_id();
    assert_eq!(
        d.record["state"],
        "done",
        "{}: state in result.json",
        d.dir.display()
    );
    assert_eq!(
        d.folder.as_bytes(),
        expected_folder(name, &id, false).as_slice(),
        "outbox folder name for input {:?} (job {id})",
        os(name)
    );
    let payload = d.payload();
    assert_eq!(
        payload,
        vec![os(name)],
        "{}: delivered files (expected exactly the input under its original name)",
        d.dir.display()
    );
    let got = fs::read(d.dir.join(os(name)))
        .unwrap_or_else(|e| panic!("read delivered {:?}: {e}", d.dir.join(os(name))));
    assert!(
        got == content,
        "{}: delivered content differs from input ({} vs {} bytes)",
        d.dir.display(),
        got.len(),
        content.len()
    );
}

/// Groups deliveries by exact input name, asserting no job id appears twice.
pub fn by_input_name(deliveries: &[Outcome]) -> BTreeMap<Vec<u8>, Vec<&Outcome>> {
    let mut ids = std::collections::BTreeSet::new();
    let mut map: BTreeMap<Vec<u8>, Vec<&Outcome>> = BTreeMap::new();
    for d in deliveries {
        let id = d.job_id();
        assert!(
            ids.insert(id.clone()),
            "job id {id} delivered more than once"
        );
        map.entry(d.input_name()).or_default().push(d);
    }
    map
}

/// Asserts every input was delivered exactly once, intact, and nothing else was.
pub fn assert_each_delivered_once(spool: &Spool, route: &str, inputs: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let deliveries = spool.deliveries(route);
    let grouped = by_input_name(&deliveries);
    for (name, content) in inputs {
        let got = grouped.get(name).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(
            got.len(),
            1,
            "input {:?} delivered {} times: {:?}",
            os(name),
            got.len(),
            got.iter().map(|d| &d.folder).collect::<Vec<_>>()
        );
        assert_delivered_intact(got[0], name, content);
    }
    let unexpected: Vec<_> = grouped
        .keys()
        .filter(|k| !inputs.contains_key(*k))
        .map(|k| os(k))
        .collect();
    assert!(
        unexpected.is_empty(),
        "deliveries for names never dropped: {unexpected:?}"
    );
    assert_eq!(deliveries.len(), inputs.len(), "number of outbox folders");
}

/// 1,000 files renamed into the inbox at once are each delivered exactly once, intact, in
/// their own folder; afterwards jobs/ is empty, failed/ is empty and the inbox is empty.
#[test]
fn thousand_files_dropped_at_once_each_delivered_once() {
    let spool = Spool::new(&Config::default());
    let _daemon = InProcessDaemon::start(&spool);
    let mut inputs = BTreeMap::new();
    for i in 0..1000 {
        let name = format!("file-{i:04}.txt").into_bytes();
        let mut content = format!("input {i}\n").into_bytes();
        content.extend(random_bytes(64 + i % 200));
        inputs.insert(name, content);
    }
    // Write everything under hidden names first, then rename all in one burst.
    let inbox = spool.inbox("archive");
    let staged: Vec<_> = inputs
        .iter()
        .map(|(name, content)| {
            let tmp = inbox.join(hidden_temp_name());
            fs::write(&tmp, content).unwrap();
            (tmp, inbox.join(os(name)))
        })
        .collect();
    for (tmp, dest) in &staged {
        fs::rename(tmp, dest).unwrap();
    }

    spool.wait_delivered("archive", 1000, secs(180));
    spool.wait_jobs_empty(secs(30));
    assert_each_delivered_once(&spool, "archive", &inputs);
    assert_eq!(spool.all_failed(), Vec::<String>::new(), "failed/ entries");
    assert!(
        spool.visible("inbox/archive").is_empty(),
        "inbox still holds {:?}",
        spool.visible("inbox/archive")
    );
}

/// A file kept open and written slowly (a chunk every 200 ms for 3 s, `settle` = 1 s) is
/// not claimed on create/modify events while it is open, and is delivered whole once it
/// is closed.
#[test]
fn slow_writer_is_not_claimed_before_close() {
    let spool = Spool::new(&Config::default()); // settle = 1s
    let _daemon = InProcessDaemon::start(&spool);
    let path = spool.inbox("archive").join("slow.log");
    let mut file = fs::File::create(&path).unwrap();
    let mut written = Vec::new();
    for i in 0..15u8 {
        let chunk: Vec<u8> = std::iter::repeat_n(b'a' + i, 700).collect();
        file.write_all(&chunk).unwrap();
        written.extend_from_slice(&chunk);
        // The writer's pace is the scenario, not a wait for a condition.
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            path.exists(),
            "slow.log was taken from the inbox while still open (after chunk {i})\n{}",
            spool.summary()
        );
        assert!(
            spool.job_entries().is_empty()
                && spool.delivered_count("archive") == 0
                && spool.failed_count("archive") == 0,
            "a job appeared for slow.log while it was still open (after chunk {i})\n{}",
            spool.summary()
        );
    }
    drop(file);

    spool.wait_delivered("archive", 1, secs(30));
    let deliveries = spool.deliveries("archive");
    assert_delivered_intact(&deliveries[0], b"slow.log", &written);
    assert_eq!(
        deliveries[0].record["job"]["input"]["size"],
        written.len(),
        "job.input.size"
    );
    spool.wait_jobs_empty(secs(20));
    assert_eq!(spool.all_failed(), Vec::<String>::new());
}

/// A file found at start-up with an old mtime while another process still holds it open
/// for writing (a writer that paused after 26 of 104 bytes) stays in the inbox for as
/// long as the writer pauses (3 s, three times `settle`), and is delivered whole after
/// the writer writes the rest and closes.
#[test]
fn a_paused_writer_found_at_start_up_is_not_claimed_partway() {
    let spool = Spool::new(&Config::default()); // settle = 1s
    let path = spool.inbox("archive").join("paused.log");
    let head = b"26 bytes, then a pause...\n".to_vec();
    let tail = "and the 78 bytes that follow once the writer wakes up again; then it closes!!\n";
    assert_eq!((head.len(), head.len() + tail.len()), (26, 104));
    let mut file = fs::File::create(&path).unwrap();
    file.write_all(&head).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    drop(file);
    // The writer: holds the file open for appending and writes the line it is given.
    let mut writer = Command::new("sh")
        .arg("-c")
        .arg(r#"exec 3>>"$0"; IFS= read -r line; printf '%s\n' "$line" >&3"#)
        .arg(&path)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let descriptor = format!("/proc/{}/fd/3", writer.id());
    wait_until(secs(10), "the writer has the file open", || {
        Path::new(&descriptor).exists()
    });
    let _daemon = InProcessDaemon::start(&spool);

    let pause_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < pause_until {
        assert!(
            path.exists() && spool.job_entries().is_empty(),
            "paused.log was claimed while its writer held it open\n{}",
            spool.summary()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stdin = writer.stdin.take().unwrap();
    stdin.write_all(tail.as_bytes()).unwrap();
    drop(stdin);
    assert!(writer.wait().unwrap().success(), "the writer failed");

    spool.wait_delivered("archive", 1, secs(30));
    let deliveries = spool.deliveries("archive");
    let mut content = head;
    content.extend_from_slice(tail.as_bytes());
    assert_delivered_intact(&deliveries[0], b"paused.log", &content);
    assert_eq!(
        deliveries[0].record["job"]["input"]["size"], 104,
        "job.input.size"
    );
    spool.wait_jobs_empty(secs(20));
    assert_eq!(spool.all_failed(), Vec::<String>::new());
}

/// A folder found at start-up with a file inside still open for writing (here by the
/// test process itself), everything in it with an old mtime, stays in the inbox until
/// that file is closed, and is delivered whole.
#[test]
fn a_folder_with_a_file_still_being_written_waits_for_it() {
    let spool = Spool::new(&Config::default()); // settle = 1s
    let folder = spool.inbox("archive").join("album");
    fs::create_dir_all(folder.join("sub")).unwrap();
    fs::write(folder.join("done.txt"), b"finished").unwrap();
    let mut open_file = fs::File::create(folder.join("sub/track.raw")).unwrap();
    open_file.write_all(b"first half, ").unwrap();
    let old = SystemTime::now() - Duration::from_secs(3600);
    open_file.set_modified(old).unwrap();
    for dir in [folder.join("sub"), folder.clone()] {
        fs::File::open(&dir).unwrap().set_modified(old).unwrap();
    }
    let _daemon = InProcessDaemon::start(&spool);

    let pause_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < pause_until {
        assert!(
            folder.exists() && spool.job_entries().is_empty(),
            "album/ was claimed while sub/track.raw was open for writing\n{}",
            spool.summary()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    open_file.write_all(b"second half").unwrap();
    drop(open_file);

    spool.wait_delivered("archive", 1, secs(30));
    let root = spool.deliveries("archive")[0].dir.join("album");
    assert_eq!(
        fs::read(root.join("sub/track.raw")).unwrap(),
        b"first half, second half"
    );
    assert_eq!(fs::read(root.join("done.txt")).unwrap(), b"finished");
}

/// A closed file found at start-up is taken only after the daemon has itself watched it
/// unchanged for `settle` (2 s here), however old its mtime: where no process on this
/// host holds the writer's descriptor (another host on a network filesystem), an old
/// mtime may be a pause, not an end.
#[test]
fn an_old_file_found_at_start_up_is_watched_for_settle_before_it_is_taken() {
    let spool = Spool::new(&Config {
        settle: "2s".to_owned(),
        ..Config::default()
    });
    let path = spool.inbox("archive").join("old.txt");
    let content = random_bytes(300);
    fs::write(&path, &content).unwrap();
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    // The daemon's first look comes after this instant, so the window is inside `settle`.
    let started = Instant::now();
    let _daemon = InProcessDaemon::start(&spool);

    let watched_until = started + Duration::from_millis(1800);
    while Instant::now() < watched_until {
        assert!(
            path.exists() && spool.job_entries().is_empty(),
            "old.txt was taken at first sight\n{}",
            spool.summary()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    spool.wait_delivered("archive", 1, secs(30));
    assert_delivered_intact(&spool.deliveries("archive")[0], b"old.txt", &content);
}

/// Files named `*.part`, `*.tmp`, `*.crdownload` are never claimed, even when closed and
/// quiet for longer than `settle` and a rescan; renamed to their final name, each is
/// claimed exactly once, under the final name.
#[test]
fn temp_suffixes_are_ignored_until_renamed() {
    let spool = Spool::new(&Config::default()); // settle = 1s, rescan = 1s
    let _daemon = InProcessDaemon::start(&spool);
    let inbox = spool.inbox("archive");
    let cases: [(&str, &str); 3] = [
        ("movie.mkv.part", "movie.mkv"),
        ("doc.pdf.tmp", "doc.pdf"),
        ("setup.iso.crdownload", "setup.iso"),
    ];
    let mut inputs = BTreeMap::new();
    for (temp, fin) in cases {
        let content = random_bytes(5000);
        // Written in two sessions, closed in between, like a resumable download.
        fs::write(inbox.join(temp), &content[..2000]).unwrap();
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(inbox.join(temp))
            .unwrap();
        f.write_all(&content[2000..]).unwrap();
        drop(f);
        inputs.insert(fin.as_bytes().to_vec(), content);
    }
    // Observation window: settle (1s) + a rescan (1s) + margin. Nothing may be claimed.
    let quiet_until = Instant::now() + Duration::from_millis(3000);
    while Instant::now() < quiet_until {
        for (temp, _) in cases {
            assert!(
                inbox.join(temp).exists(),
                "{temp} was taken from the inbox\n{}",
                spool.summary()
            );
        }
        assert!(
            spool.job_entries().is_empty()
                && spool.delivered_count("archive") == 0
                && spool.failed_count("archive") == 0,
            "a temp-named file was claimed\n{}",
            spool.summary()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for (temp, fin) in cases {
        fs::rename(inbox.join(temp), inbox.join(fin)).unwrap();
    }
    spool.wait_delivered("archive", 3, secs(30));
    spool.wait_jobs_empty(secs(20));
    assert_each_delivered_once(&spool, "archive", &inputs);
    assert_eq!(spool.all_failed(), Vec::<String>::new(), "failed/ entries");
    assert!(spool.visible("inbox/archive").is_empty());
}

/// Names with spaces, newlines, tabs, non-UTF-8 bytes, quotes, globs and leading dashes
/// are delivered byte-exact (folder `<stem>--<short>`, file under the original bytes);
/// result.json carries `name` (lossy UTF-8) and, for non-UTF-8 names only, `name_hex`.
#[test]
fn awkward_names_are_delivered_intact() {
    let spool = Spool::new(&Config::default());
    let _daemon = InProcessDaemon::start(&spool);
    let names: Vec<&[u8]> = vec![
        b"my report (final) 2024.txt",
        b"line\nbreak.txt",
        b"tab\there.txt",
        b"caf\xe9 \xff\xfe.bin",
        b"\xc3\x28 broken utf8.txt",
        b"unicode \xe2\x9c\x93 ok.txt",
        b"-rf --no-preserve-root.txt",
        b"-n",
        b"--",
        b" leading and trailing space .txt",
        b"quote\"s and 'apostrophes'.txt",
        b"*glob?[x]$HOME;`x`.txt",
        b"back\\slash.txt",
        b"archive.tar.gz",
    ];
    let mut inputs = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let mut content = format!("content of input #{i}\n").into_bytes();
        content.extend(random_bytes(100));
        spool.drop_file("archive", os(name), &content);
        inputs.insert(name.to_vec(), content);
    }
    spool.wait_delivered("archive", names.len(), secs(60));
    assert_each_delivered_once(&spool, "archive", &inputs);
    for d in spool.deliveries("archive") {
        let name = d.input_name();
        let input = &d.record["job"]["input"];
        assert_eq!(
            input["name"].as_str(),
            Some(String::from_utf8_lossy(&name).as_ref()),
            "job.input.name must be the lossy UTF-8 decoding for {:?}",
            os(&name)
        );
        let hex = input.get("name_hex").filter(|v| !v.is_null());
        if std::str::from_utf8(&name).is_ok() {
            assert!(
                hex.is_none(),
                "name_hex present for UTF-8 name {:?}",
                os(&name)
            );
        } else {
            assert!(
                hex.is_some(),
                "name_hex missing for non-UTF-8 name {:?}",
                os(&name)
            );
        }
    }
    assert_eq!(spool.all_failed(), Vec::<String>::new(), "failed/ entries");
}

/// A folder renamed into the inbox is one job: delivered as `<name>--<short>/<name>/…`
/// (stem of a folder = its whole name) with the whole tree intact.
#[test]
fn folder_renamed_in_is_delivered_as_one_job() {
    let spool = Spool::new(&Config::default());
    let _daemon = InProcessDaemon::start(&spool);
    let inbox = spool.inbox("archive");
    let staging = inbox.join(hidden_temp_name());
    let files: [(&str, Vec<u8>); 3] = [
        ("a.txt", random_bytes(300)),
        ("sub/b.bin", random_bytes(4000)),
        ("sub/deeper/c d.txt", random_bytes(10)),
    ];
    for (rel, content) in &files {
        let p = staging.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }
    fs::rename(&staging, inbox.join("album.v1")).unwrap();

    spool.wait_delivered("archive", 1, secs(30));
    let d = &spool.deliveries("archive")[0];
    let id = d.job_id();
    assert_eq!(
        d.folder.as_bytes(),
        expected_folder(b"album.v1", &id, true).as_slice(),
        "outbox folder for a folder input"
    );
    assert_eq!(d.input_name(), b"album.v1");
    assert_eq!(d.payload(), vec![os(b"album.v1")], "{}", d.dir.display());
    let root = d.dir.join("album.v1");
    for (rel, content) in &files {
        assert_eq!(
            fs::read(root.join(rel)).ok().as_ref(),
            Some(content),
            "{rel} in delivered folder"
        );
    }
    assert_eq!(count_files(&root), files.len(), "files in delivered tree");
    spool.wait_jobs_empty(secs(20));
    assert_eq!(spool.all_failed(), Vec::<String>::new());
}

fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}
