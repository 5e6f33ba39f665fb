//! What the commands print for people: untrusted names shown escaped.

use std::fs;

use crate::harness::{Config, Spool, secs};
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
