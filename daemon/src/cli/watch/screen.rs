//! How `chute watch` prints. Piped (stdout not a terminal): plain lines, one per change
//! of a job (state, stage, percent) and one when it ends, with no escape codes. On a
//! terminal: the live jobs redrawn in place below the lines of the jobs that ended,
//! every line cut to the terminal's width.

use std::collections::HashMap;
use std::io::{self, Write};
use std::time::Duration;

use uuid::Uuid;

use super::track::{JobView, Status};

/// What is shown when no job is queued or running.
pub const IDLE: &str = "idle: no queued or running jobs";

/// Where `chute watch` prints.
pub trait Screen {
    /// Shows the jobs that ended since the last call, then the live ones.
    fn show(&mut self, ended: &[JobView], live: &[JobView]) -> io::Result<()>;
}

/// `0:07`, `12:34`, `1:02:03`.
pub fn clock(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{minutes}:{seconds:02}")
    }
}

/// What a job is doing or how it ended, with its timing. `in_row`: for a terminal row,
/// whose bar already shows the job's percent.
fn status_text(view: &JobView, in_row: bool) -> String {
    let elapsed = clock(view.elapsed);
    match &view.status {
        Status::Queued => format!("queued, elapsed {elapsed}"),
        Status::Running {
            stage,
            percent,
            eta,
            message,
        } => {
            let mut text = if in_row {
                format!("{stage} {percent}%, elapsed {elapsed}")
            } else {
                format!(
                    "running {stage} {percent}% (job {}%), elapsed {elapsed}",
                    view.percent
                )
            };
            if let Some(eta) = eta {
                // Rounded up: a stage with half a second left is not done.
                let seconds = eta.as_secs() + u64::from(eta.subsec_nanos() > 0);
                text.push_str(&format!(", eta {}", clock(Duration::from_secs(seconds))));
            }
            if !message.is_empty() {
                text.push_str(&format!(" — {message}"));
            }
            text
        }
        Status::Other(state) => format!("{state}, elapsed {elapsed}"),
        Status::Done { location } => format!("done in {elapsed} → {location}"),
        Status::Duplicate { original, location } => format!("{original} → {location}"),
        Status::Failed {
            cancelled,
            stage,
            reason,
            location,
        } => {
            let word = if *cancelled { "CANCELLED" } else { "FAILED" };
            let mut text = format!("{word} at {stage} after {elapsed}");
            if !reason.is_empty() {
                text.push_str(&format!(": {reason}"));
            }
            format!("{text} → {location}")
        }
        Status::Gone => "left jobs/ without a result folder (`chute jobs` may know more)".into(),
    }
}

/// `<short id> <input>: <status>`.
pub fn line(view: &JobView) -> String {
    format!(
        "{} {}: {}",
        view.short_id,
        view.input,
        status_text(view, false)
    )
}

/// What makes a new line worth printing when piped: not the clock, not the message.
fn progress_key(view: &JobView) -> String {
    match &view.status {
        Status::Running { stage, percent, .. } => {
            format!("running {stage} {percent} {}", view.percent)
        }
        Status::Queued => "queued".into(),
        Status::Other(state) => state.clone(),
        _ => "ended".into(),
    }
}

/// Plain lines for a pipe or a file.
pub struct Lines<W: Write> {
    out: W,
    say_idle: bool,
    shown: HashMap<Uuid, String>,
    idle_said: bool,
}

impl<W: Write> Lines<W> {
    /// Lines on `out`; `say_idle`: say once when nothing is queued or running.
    pub fn new(out: W, say_idle: bool) -> Self {
        Self {
            out,
            say_idle,
            shown: HashMap::new(),
            idle_said: false,
        }
    }

    fn print(&mut self, text: &str) -> io::Result<()> {
        writeln!(self.out, "{text}")?;
        self.out.flush()
    }
}

impl<W: Write> Screen for Lines<W> {
    fn show(&mut self, ended: &[JobView], live: &[JobView]) -> io::Result<()> {
        for view in ended {
            self.shown.remove(&view.id);
            self.print(&line(view))?;
        }
        for view in live {
            let key = progress_key(view);
            if self.shown.get(&view.id) != Some(&key) {
                self.print(&line(view))?;
                self.shown.insert(view.id, key);
            }
        }
        if !live.is_empty() {
            self.idle_said = false;
        } else if self.say_idle && !self.idle_said {
            self.idle_said = true;
            self.print(IDLE)?;
        }
        Ok(())
    }
}

/// A view redrawn in place on a terminal.
pub struct Terminal<W: Write> {
    out: W,
    say_idle: bool,
    /// Rows and columns, asked before each drawing (the window may have been resized).
    size: fn() -> (u16, u16),
    /// The rows drawn last time (the cursor is below them).
    drawn: Vec<String>,
}

impl<W: Write> Terminal<W> {
    /// A view on `out` sized by `size` (rows, columns); `say_idle`: show when nothing
    /// is queued or running.
    pub fn new(out: W, say_idle: bool, size: fn() -> (u16, u16)) -> Self {
        Self {
            out,
            say_idle,
            size,
            drawn: Vec::new(),
        }
    }
}

impl<W: Write> Screen for Terminal<W> {
    fn show(&mut self, ended: &[JobView], live: &[JobView]) -> io::Result<()> {
        let (rows, columns) = (self.size)();
        // One column spare: a line that fills the last one wraps on some terminals.
        let width = usize::from(columns).saturating_sub(1).max(20);
        let mut view: Vec<String> = live
            .iter()
            .map(|job| fit(&row(job, width), width))
            .collect();
        if view.is_empty() && self.say_idle {
            view.push(IDLE.to_owned());
        }
        let room = usize::from(rows).saturating_sub(2).max(1);
        if view.len() > room {
            let kept = room - 1;
            let more = view.len() - kept;
            view.truncate(kept);
            view.push(format!("… and {more} more jobs"));
        }
        if ended.is_empty() && view == self.drawn {
            return Ok(());
        }
        let mut text = String::new();
        if !self.drawn.is_empty() {
            // Back to the first row drawn last time; clear it and everything below.
            text.push_str(&format!("\x1b[{}A\r\x1b[J", self.drawn.len()));
        }
        for view in ended {
            text.push_str(&fit(&line(view), width));
            text.push('\n');
        }
        for row in &view {
            text.push_str(row);
            text.push('\n');
        }
        self.drawn = view;
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }
}

/// Width of the progress bar in a terminal row.
const BAR: usize = 20;

/// `<short id> [=====>    ]  40% <input>: <status>`, the input cut to a third of the
/// width so the status stays in view.
fn row(view: &JobView, width: usize) -> String {
    let filled = usize::from(view.percent.min(100)) * BAR / 100;
    let bar: String = (0..BAR)
        .map(|i| match i.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal => '>',
            std::cmp::Ordering::Greater => ' ',
        })
        .collect();
    let input = fit(&view.input, (width / 3).max(12));
    format!(
        "{} [{bar}] {:>3}% {input}: {}",
        view.short_id,
        view.percent,
        status_text(view, true)
    )
}

/// `text` cut to `width` terminal columns, with `…` where it was cut.
fn fit(text: &str, width: usize) -> String {
    console::truncate_str(text, width, "…").into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn view(n: u128, status: Status) -> JobView {
        JobView {
            id: Uuid::from_u128(n),
            short_id: format!("{n:08x}"),
            input: "meeting.m4a".into(),
            percent: 40,
            elapsed: Duration::from_secs(65),
            status,
        }
    }

    fn running(n: u128, percent: u8, eta: Option<u64>) -> JobView {
        view(
            n,
            Status::Running {
                stage: "transcribe".into(),
                percent,
                eta: eta.map(Duration::from_secs),
                message: "chunk 2 of 5".into(),
            },
        )
    }

    fn failed() -> JobView {
        view(
            1,
            Status::Failed {
                cancelled: false,
                stage: "transcribe".into(),
                reason: "no audio stream".into(),
                location: "failed/audio/meeting--00000001".into(),
            },
        )
    }

    #[test]
    fn lines_show_progress_failures_and_timing() {
        assert_eq!(
            line(&running(1, 55, Some(3725))),
            "00000001 meeting.m4a: running transcribe 55% (job 40%), elapsed 1:05, eta 1:02:05 — chunk 2 of 5"
        );
        assert_eq!(
            row(&running(1, 55, Some(3725)), 200),
            "00000001 [========>           ]  40% meeting.m4a: transcribe 55%, elapsed 1:05, eta 1:02:05 — chunk 2 of 5"
        );
        assert_eq!(
            line(&running(1, 0, None)),
            "00000001 meeting.m4a: running transcribe 0% (job 40%), elapsed 1:05 — chunk 2 of 5"
        );
        assert_eq!(
            line(&failed()),
            "00000001 meeting.m4a: FAILED at transcribe after 1:05: no audio stream → failed/audio/meeting--00000001"
        );
        let duplicate = view(
            2,
            Status::Duplicate {
                original: "duplicate of 00000001 (outbox/audio/meeting--00000001)".into(),
                location: "outbox/audio/copy--00000002".into(),
            },
        );
        assert_eq!(
            line(&duplicate),
            "00000002 meeting.m4a: duplicate of 00000001 (outbox/audio/meeting--00000001) → outbox/audio/copy--00000002"
        );
    }

    #[test]
    fn piped_lines_come_once_per_change_and_idle_once() {
        let mut screen = Lines::new(Vec::new(), true);
        screen.show(&[], &[]).unwrap();
        screen.show(&[], &[]).unwrap();
        screen.show(&[], &[running(1, 10, None)]).unwrap();
        // The clock and the ETA moving alone print nothing.
        let mut later = running(1, 10, Some(30));
        later.elapsed = Duration::from_secs(70);
        screen.show(&[], &[later]).unwrap();
        screen.show(&[], &[running(1, 20, Some(20))]).unwrap();
        screen.show(&[failed()], &[]).unwrap();
        screen.show(&[], &[]).unwrap();
        let text = String::from_utf8(screen.out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(lines[0], IDLE);
        assert!(lines[1].contains("transcribe 10%"), "{text}");
        assert!(lines[2].contains("transcribe 20%"), "{text}");
        assert!(lines[3].contains("FAILED"), "{text}");
        assert_eq!(lines[4], IDLE);
        assert!(!text.contains('\x1b'), "{text}");
    }

    #[test]
    fn the_terminal_view_fits_its_width_and_redraws_in_place() {
        let mut screen = Terminal::new(Vec::new(), true, || (24, 60));
        let mut long = running(1, 55, Some(5));
        long.input = "a very long name of a recording, longer than the row.m4a".into();
        screen.show(&[], &[long, running(2, 5, None)]).unwrap();
        screen.show(&[failed()], &[]).unwrap();
        // Nothing new: nothing drawn.
        screen.show(&[], &[]).unwrap();
        let text = String::from_utf8(screen.out).unwrap();
        let (first, second) = text.split_once("\x1b[2A\r\x1b[J").unwrap();
        for row in first.lines().chain(second.lines()) {
            assert!(console::measure_text_width(row) <= 59, "{row:?}");
        }
        assert!(first.lines().all(|row| row.contains("] ")), "{first}");
        assert_eq!(second.lines().count(), 2, "{second}");
        assert!(
            second.starts_with("00000001 meeting.m4a: FAILED at"),
            "{second}"
        );
        assert!(second.ends_with(&format!("{IDLE}\n")), "{second}");
    }

    #[test]
    fn the_terminal_view_keeps_to_the_window_height() {
        let mut screen = Terminal::new(Vec::new(), true, || (5, 80));
        let live: Vec<JobView> = (1..=10).map(|n| running(n, 10, None)).collect();
        screen.show(&[], &live).unwrap();
        let text = String::from_utf8(screen.out).unwrap();
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 3, "{text}");
        assert_eq!(rows[2], "… and 8 more jobs");
    }
}
