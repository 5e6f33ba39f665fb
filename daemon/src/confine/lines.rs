//! Reading a child's output in lines without trusting it: a line longer than the cap
//! is cut (the rest up to its newline is read and dropped, never buffered), and only
//! the last few lines that were not reports are kept for an error message.

use std::collections::VecDeque;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// Longest stderr line kept from a child (longer ones are cut).
pub const STDERR_LINE: usize = 16 << 10;

/// How much of a kept diagnostic line an error message shows.
const SHOWN_CHARS: usize = 300;

/// One line read by [`BoundedLines`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The line without its newline, invalid UTF-8 replaced, at most the cap long.
    pub text: String,
    /// Whether the line was longer than the cap and was cut.
    pub cut: bool,
}

/// Lines of a child's pipe, each at most `cap` bytes.
#[derive(Debug)]
pub struct BoundedLines<R> {
    reader: BufReader<R>,
    cap: usize,
}

impl<R: AsyncRead + Unpin> BoundedLines<R> {
    /// Reads `pipe` in lines of at most `cap` bytes.
    pub fn new(pipe: R, cap: usize) -> Self {
        Self {
            reader: BufReader::with_capacity(cap.clamp(1024, 64 << 10), pipe),
            cap,
        }
    }

    /// The next line, or `None` at the end of the stream. A last line without a
    /// newline is still a line.
    pub async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        let mut bytes = Vec::new();
        let mut cut = false;
        let mut read_any = false;
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                return Ok(read_any.then(|| finish(bytes, cut)));
            }
            read_any = true;
            let newline = available.iter().position(|&byte| byte == b'\n');
            let piece = &available[..newline.unwrap_or(available.len())];
            let room = self.cap.saturating_sub(bytes.len());
            if piece.len() > room {
                cut = true;
            }
            bytes.extend_from_slice(&piece[..piece.len().min(room)]);
            let used = newline.map_or(available.len(), |at| at + 1);
            self.reader.consume(used);
            if newline.is_some() {
                return Ok(Some(finish(bytes, cut)));
            }
        }
    }

    /// Reads to the end, keeping at most `cap` bytes in all (the rest is drained and
    /// dropped, so the writer never blocks on a full pipe).
    pub async fn read_capped(&mut self) -> std::io::Result<Vec<u8>> {
        let mut kept = Vec::new();
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                return Ok(kept);
            }
            let room = self.cap.saturating_sub(kept.len());
            kept.extend_from_slice(&available[..available.len().min(room)]);
            let used = available.len();
            self.reader.consume(used);
        }
    }
}

fn finish(mut bytes: Vec<u8>, cut: bool) -> Line {
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    Line {
        text: String::from_utf8_lossy(&bytes).into_owned(),
        cut,
    }
}

/// The last few lines of a child's stderr that were not reports, for the error
/// message when it dies.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    lines: VecDeque<String>,
    keep: usize,
}

impl Diagnostics {
    /// Keeps the last `keep` lines.
    pub fn new(keep: usize) -> Self {
        Self {
            lines: VecDeque::with_capacity(keep),
            keep,
        }
    }

    /// Adds a line (shortened for showing), dropping the oldest beyond `keep`.
    pub fn push(&mut self, line: &str) {
        if self.keep == 0 || line.trim().is_empty() {
            return;
        }
        if self.lines.len() == self.keep {
            self.lines.pop_front();
        }
        self.lines
            .push_back(line.chars().take(SHOWN_CHARS).collect());
    }

    /// The kept lines joined with ` | `, or `None` when there are none.
    pub fn joined(&self) -> Option<String> {
        (!self.lines.is_empty()).then(|| Vec::from(self.lines.clone()).join(" | "))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    async fn lines_of(input: &[u8], cap: usize) -> Vec<Line> {
        let mut reader = BoundedLines::new(input, cap);
        let mut lines = Vec::new();
        while let Some(line) = reader.next_line().await.unwrap() {
            lines.push(line);
        }
        lines
    }

    #[tokio::test]
    async fn long_lines_are_cut_and_the_next_line_is_whole() {
        let mut input = vec![b'x'; 100_000];
        input.extend_from_slice(b"\nshort\r\nlast");
        let lines = lines_of(&input, 1000).await;
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].text.len(), 1000);
        assert!(lines[0].cut);
        assert_eq!(
            lines[1],
            Line {
                text: "short".into(),
                cut: false
            }
        );
        assert_eq!(lines[2].text, "last");
    }

    #[tokio::test]
    async fn empty_lines_and_invalid_utf8_survive() {
        let lines = lines_of(b"\n\xff\xfe\n", 64).await;
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text, "");
        assert_eq!(lines[1].text, "\u{fffd}\u{fffd}");
        assert!(lines_of(b"", 64).await.is_empty());
    }

    #[tokio::test]
    async fn a_capped_read_keeps_the_start_and_drains_the_rest() {
        let input = vec![b'y'; 50_000];
        let kept = BoundedLines::new(&input[..], 10)
            .read_capped()
            .await
            .unwrap();
        assert_eq!(kept, b"yyyyyyyyyy");
    }

    #[test]
    fn diagnostics_keep_the_last_lines_shortened() {
        let mut diagnostics = Diagnostics::new(2);
        assert_eq!(diagnostics.joined(), None);
        for line in ["one", "", "two", "three"] {
            diagnostics.push(line);
        }
        assert_eq!(diagnostics.joined().unwrap(), "two | three");
        diagnostics.push(&"z".repeat(10_000));
        assert!(diagnostics.joined().unwrap().len() < 400);
    }
}
