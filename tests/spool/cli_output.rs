//! What the commands print for people: untrusted names shown escaped.

use std::fs;

use crate::harness::{Config, Spool, random_bytes, secs, short_id};
use crate::in_process::InProcessDaemon;

/// A name that would clear the screen and forge a line of output if printed as is.
const HOSTILE: &str = "it's\x1b[2J\nforged line.txt";
/// The same name as every command shows it.
const ESCAPED: &str = "it's\\u{1b}[2J\\nforged line.txt";

/// Whether `output` holds a control character other than the newlines ending its lines.
fn has_control(output: &str) -> bool {
    output.chars().any(|c| c.is_control() && c != '\n')
}

/// An input named with ESC and a newline shows escaped in `submit`, `jobs` and `show`
/// (readable otherwise: the apostrophe stays), and forges no line of its own.
#[test]
fn control_characters_in_names_are_escaped() {
    let spool = Spool::new(&Config::default());
    let _daemon = InProcessDaemon::start(&spool);
    let source = spool.outside.join(HOSTILE);
    fs::write(&source, b"content").unwrap();
    let out = spool.cli([
        "submit".as_ref(),
        "--route".as_ref(),
        "archive".as_ref(),
        source.as_os_str(),
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!has_control(&out.stdout), "{out:?}");
    assert!(
        !out.stdout.lines().any(|line| line.starts_with("forged")),
        "{out:?}"
    );
    spool.wait_delivered("archive", 1, secs(30));

    let out = spool.cli(["jobs"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!has_control(&out.stdout), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one job: {out:?}");
    assert!(lines[1].ends_with(ESCAPED), "{out:?}");

    let id = spool.deliveries("archive")[0].job_id();
    let out = spool.cli(["show", id.as_str()]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!has_control(&out.stdout), "{out:?}");
    assert!(
        !out.stdout.lines().any(|line| line.starts_with("forged")),
        "{out:?}"
    );
    assert!(out.stdout.contains(ESCAPED), "{out:?}");
}

/// The second of two identical inputs is reported as a duplicate of the first, with the
/// first's folder, by `submit --wait` (state `duplicate`, exit 0), `jobs --json`
/// (`duplicate_of`, state still `done`), `jobs` and `show`; the first is plain `done`.
#[test]
fn a_duplicate_is_reported_as_a_duplicate() {
    let spool = Spool::new(&Config::default());
    let _daemon = InProcessDaemon::start(&spool);
    let content = random_bytes(5_000);
    let submit_wait = |name: &str| {
        let source = spool.outside.join(name);
        fs::write(&source, &content).unwrap();
        let out = spool.cli([
            "submit".as_ref(),
            "--route".as_ref(),
            "archive".as_ref(),
            "--wait".as_ref(),
            source.as_os_str(),
        ]);
        assert_eq!(out.code, Some(0), "{out:?}");
        let line = out.stdout.trim_end().to_owned();
        let fields: Vec<String> = line.splitn(3, ' ').map(str::to_owned).collect();
        assert_eq!(fields.len(), 3, "{out:?}");
        (fields, out)
    };
    let (first, out) = submit_wait("first.bin");
    assert_eq!(first[1], "done", "{out:?}");
    let (second, out) = submit_wait("second.bin");
    let first_short = short_id(&first[0]);
    let original = format!("duplicate of {first_short} ({})", first[2]);
    assert_eq!(second[1], "duplicate", "{out:?}");
    assert!(second[2].starts_with("outbox/archive/second--"), "{out:?}");
    assert!(out.stderr.contains(&original), "{out:?}");

    let out = spool.cli(["jobs", "--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let list = out.json();
    let entry = |id: &str| {
        list.as_array()
            .and_then(|jobs| jobs.iter().find(|job| job["id"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("{id} missing: {list}"))
    };
    assert!(entry(&first[0])["duplicate_of"].is_null(), "{list}");
    let duplicate = entry(&second[0]);
    assert_eq!(duplicate["state"], "done", "{duplicate}");
    assert_eq!(duplicate["duplicate_of"]["job_id"], first[0], "{duplicate}");
    assert_eq!(
        duplicate["duplicate_of"]["location"], first[2],
        "{duplicate}"
    );

    let out = spool.cli(["jobs"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let row = |short: &str| {
        out.stdout
            .lines()
            .find(|line| line.starts_with(short))
            .unwrap_or_else(|| panic!("no row for {short}: {out:?}"))
            .to_owned()
    };
    assert!(row(&first_short).contains(" done "), "{out:?}");
    let second_row = row(&short_id(&second[0]));
    assert!(
        second_row.contains(" duplicate ") && second_row.ends_with(&original),
        "{out:?}"
    );

    let out = spool.cli(["show", second[0].as_str()]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains(&format!("state     {original}\n")),
        "{out:?}"
    );
}

/// `submit` without `--wait` prints `<file> → job <short id>` once the daemon claimed
/// the file, and `show` accepts that id; with no daemon on the spool it says so at once
/// and names the file's place in the inbox instead of waiting.
#[test]
fn submit_names_the_job_or_says_that_no_daemon_runs() {
    let spool = Spool::new(&Config::default());
    let daemon = InProcessDaemon::start(&spool);
    let source = spool.outside.join("minutes.txt");
    fs::write(&source, random_bytes(100)).unwrap();
    let submit = || {
        spool.cli([
            "submit".as_ref(),
            "--route".as_ref(),
            "archive".as_ref(),
            source.as_os_str(),
        ])
    };
    let out = submit();
    assert_eq!(out.code, Some(0), "{out:?}");
    let prefix = format!("{} → job ", source.display());
    let short = out
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no job id: {out:?}"))
        .to_owned();
    assert_eq!(short.len(), 8, "{out:?}");
    assert!(short.chars().all(|c| c.is_ascii_hexdigit()), "{out:?}");
    let out = spool.cli(["show", short.as_str(), "--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.json()["short_id"], short.as_str(), "{out:?}");

    drop(daemon);
    let started = std::time::Instant::now();
    let out = submit();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(started.elapsed() < secs(1), "took {:?}", started.elapsed());
    assert_eq!(
        out.stdout.trim_end(),
        format!(
            "{} → inbox/archive/minutes.txt: no daemon is running on {}; it is claimed when one starts",
            source.display(),
            spool.root.display()
        ),
        "{out:?}"
    );
}

/// A name holding a colour escape, a bell, a carriage return, a newline and a
/// right-to-left override.
const ESCAPES: &str = "quarterly\u{1b}[31m\u{7}\r\n\u{202e}fdp.txt";
/// Its stem (what result folders are named after) as the commands print it for people.
const ESCAPES_SHOWN: &str = "quarterly\\u{1b}[31m\\u{7}\\r\\n\\u{202e}fdp";

/// Characters that drive a terminal or forge a line: control characters (but the
/// newlines that end lines) and Unicode direction controls.
fn terminal_controls(output: &str) -> Vec<char> {
    output
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
        })
        .collect()
}

/// A delivered job and a failed one (a FIFO), both named with escape sequences, are
/// printed escaped by `submit --wait`, `jobs`, `jobs --json`, `show`, `show --json` and
/// `watch ID`: no output holds a control or direction character, the text outputs show
/// the escaped name, and the JSON outputs still give the exact name back.
#[test]
fn every_command_prints_names_with_escape_sequences_escaped() {
    let spool = Spool::new(&Config::default());
    let _daemon = InProcessDaemon::start(&spool);
    let source = spool.outside.join(ESCAPES);
    fs::write(&source, b"figures").unwrap();
    let fifo = format!("pipe{ESCAPES}");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        spool.inbox("archive").join(&fifo),
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
    let out = spool.cli([
        "submit".as_ref(),
        "--route".as_ref(),
        "archive".as_ref(),
        "--wait".as_ref(),
        source.as_os_str(),
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    spool.wait_until(secs(30), "the FIFO in failed/", || {
        spool.failed_count("archive") == 1
    });
    let done = spool.deliveries("archive")[0].job_id();
    let failed = spool.failures("archive")[0].job_id();
    let mut outputs = vec![("submit --wait".to_owned(), out)];
    for args in [
        vec!["jobs"],
        vec!["jobs", "--json"],
        vec!["show", done.as_str()],
        vec!["show", done.as_str(), "--json"],
        vec!["show", failed.as_str()],
        vec!["show", failed.as_str(), "--json"],
        vec!["watch", done.as_str()],
    ] {
        outputs.push((args.join(" "), spool.cli(&args)));
    }
    for (command, out) in &outputs {
        assert_eq!(out.code, Some(0), "{command}: {out:?}");
        for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let found = terminal_controls(text);
            assert!(
                found.is_empty(),
                "{command} {stream} holds {found:?}: {text:?}"
            );
        }
        if !command.ends_with("--json") {
            assert!(out.stdout.contains(ESCAPES_SHOWN), "{command}: {out:?}");
        }
    }
    let listed = spool.cli(["jobs", "--json"]).json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|job| job["input"].as_str())
        .collect();
    assert!(
        names.contains(&ESCAPES) && names.contains(&fifo.as_str()),
        "{listed}"
    );
    let shown = spool.cli(["show", failed.as_str()]);
    assert!(
        shown.stdout.contains(&format!("pipe{ESCAPES_SHOWN}.txt")),
        "{shown:?}"
    );
    let shown = spool.cli(["show", failed.as_str(), "--json"]).json();
    assert_eq!(shown["job"]["input"]["name"], fifo.as_str(), "{shown}");
    assert_eq!(
        shown["result"]["removed_entries"][0]["kind"], "fifo",
        "{shown}"
    );
}
