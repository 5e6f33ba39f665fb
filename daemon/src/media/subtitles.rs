//! Subtitle cues from a transcript's segments, written as SubRip (`.srt`) or WebVTT
//! (`.vtt`).
//!
//! Each cue has at most [`MAX_CUE_LINES`] lines of at most [`MAX_LINE_CHARS`]
//! characters, broken at spaces. A segment too long for one cue becomes several
//! consecutive cues that share its time: by its word timestamps when it has them (a cue
//! starts when its first word does), otherwise in proportion to their characters. A
//! word longer than a line is cut into line-long pieces, so no line is ever longer than
//! the limit and no text is lost.
//!
//! Invariant: times are whole milliseconds (rounded, not truncated), never negative; a
//! cue never ends before it starts and never overlaps the one before it.

use std::fmt::Write as _;
use std::ops::Range;

use super::transcript::Segment;

/// Longest line of a cue, in characters (the usual broadcast limit).
pub const MAX_LINE_CHARS: usize = 42;
/// Most lines in one cue.
pub const MAX_CUE_LINES: usize = 2;

/// One subtitle: its lines, shown from `start_ms` to `end_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// When it appears, in milliseconds from the start of the audio.
    pub start_ms: u64,
    /// When it disappears, in milliseconds; never before `start_ms`.
    pub end_ms: u64,
    /// One or two lines of text, none longer than [`MAX_LINE_CHARS`].
    pub lines: Vec<String>,
}

/// The cues of `segments`, in order and not overlapping (see the module doc).
pub fn cues(segments: &[Segment]) -> Vec<Cue> {
    let mut cues = Vec::new();
    let mut previous_end_ms = 0;
    for segment in segments {
        for (start, end, lines) in segment_cues(segment) {
            let start_ms = millis(start).max(previous_end_ms);
            let end_ms = millis(end).max(start_ms);
            previous_end_ms = end_ms;
            cues.push(Cue {
                start_ms,
                end_ms,
                lines,
            });
        }
    }
    cues
}

/// SubRip: numbered cues with `HH:MM:SS,mmm` times.
pub fn to_srt(cues: &[Cue]) -> String {
    let mut text = String::new();
    for (index, cue) in cues.iter().enumerate() {
        let _ = write!(
            text,
            "{}\n{} --> {}\n{}\n\n",
            index + 1,
            timestamp(cue.start_ms, ','),
            timestamp(cue.end_ms, ','),
            cue.lines.join("\n")
        );
    }
    text
}

/// WebVTT: cues with `HH:MM:SS.mmm` times; `&`, `<` and `>` in the text are escaped, as
/// WebVTT requires (so a spoken `-->` cannot end a cue early).
pub fn to_vtt(cues: &[Cue]) -> String {
    let mut text = String::from("WEBVTT\n\n");
    for cue in cues {
        let lines: Vec<String> = cue.lines.iter().map(|line| vtt_escape(line)).collect();
        let _ = write!(
            text,
            "{} --> {}\n{}\n\n",
            timestamp(cue.start_ms, '.'),
            timestamp(cue.end_ms, '.'),
            lines.join("\n")
        );
    }
    text
}

/// `seconds` in whole milliseconds, rounded to the nearest (1.9996 s is 2000 ms);
/// negative, NaN and infinite times are 0.
pub fn millis(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1000.0).round() as u64
    } else {
        0
    }
}

/// `HH:MM:SS,mmm` (SRT, `separator` `,`) or `HH:MM:SS.mmm` (WebVTT, `.`).
pub fn timestamp(millis: u64, separator: char) -> String {
    format!(
        "{:02}:{:02}:{:02}{separator}{:03}",
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000
    )
}

fn vtt_escape(line: &str) -> String {
    line.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A piece of a segment's text that is never broken: a word, or a line-long part of a
/// longer one, with the time it starts.
#[derive(Debug)]
struct Piece<'a> {
    text: &'a str,
    chars: usize,
    start: f64,
}

/// One segment as cues: (start, end, lines), in seconds, covering the segment's time
/// from its start to its end without gaps.
fn segment_cues(segment: &Segment) -> Vec<(f64, f64, Vec<String>)> {
    let (start, end) = segment_bounds(segment);
    let pieces = pieces(segment, start, end);
    let line_ranges = fill_lines(&pieces);
    let cue_ranges: Vec<Range<usize>> = line_ranges
        .chunks(MAX_CUE_LINES)
        .filter_map(|lines| Some(lines.first()?.start..lines.last()?.end))
        .collect();
    let mut cues = Vec::with_capacity(cue_ranges.len());
    let mut cue_start = start;
    for (index, range) in cue_ranges.iter().enumerate() {
        let cue_end = match cue_ranges.get(index + 1) {
            Some(next) => pieces[next.start].start.clamp(cue_start, end),
            None => end,
        };
        cues.push((cue_start, cue_end, cue_lines(&pieces[range.clone()])));
        cue_start = cue_end;
    }
    cues
}

/// The segment's start and end as usable times: finite, not negative, end ≥ start.
fn segment_bounds(segment: &Segment) -> (f64, f64) {
    let start = finite_seconds(segment.start);
    (start, finite_seconds(segment.end).max(start))
}

fn finite_seconds(seconds: f64) -> f64 {
    if seconds.is_finite() {
        seconds.max(0.0)
    } else {
        0.0
    }
}

/// The segment's text as pieces with their start times. The words' own times are used
/// when the segment has one timed word per word of its text; otherwise each word gets a
/// share of `start..end` in proportion to its characters.
fn pieces(segment: &Segment, start: f64, end: f64) -> Vec<Piece<'_>> {
    let words: Vec<&str> = segment.text.split_whitespace().collect();
    let timed: Vec<(f64, f64)> = segment
        .words
        .iter()
        .filter(|word| !word.text.trim().is_empty())
        .map(|word| (word.start, word.end))
        .collect();
    let use_word_times = !timed.is_empty() && timed.len() == words.len();
    let total_chars: usize = words.iter().map(|word| word.chars().count()).sum();
    let at_char = |count: usize| start + (end - start) * count as f64 / total_chars.max(1) as f64;
    let mut pieces = Vec::new();
    let mut chars_before = 0;
    for (index, word) in words.iter().enumerate() {
        let chars = word.chars().count();
        let (word_start, word_end) = if use_word_times {
            let word_start = finite_seconds(timed[index].0).clamp(start, end);
            (
                word_start,
                finite_seconds(timed[index].1).clamp(word_start, end),
            )
        } else {
            (at_char(chars_before), at_char(chars_before + chars))
        };
        chars_before += chars;
        let mut piece_chars_before = 0;
        for text in line_long_parts(word) {
            let piece_chars = text.chars().count();
            let share = piece_chars_before as f64 / chars.max(1) as f64;
            pieces.push(Piece {
                text,
                chars: piece_chars,
                start: word_start + (word_end - word_start) * share,
            });
            piece_chars_before += piece_chars;
        }
    }
    pieces
}

/// `word` cut into parts of at most [`MAX_LINE_CHARS`] characters (one part when it fits).
fn line_long_parts(word: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = word;
    while !rest.is_empty() {
        let cut = rest
            .char_indices()
            .nth(MAX_LINE_CHARS)
            .map_or(rest.len(), |(at, _)| at);
        let (part, tail) = rest.split_at(cut);
        parts.push(part);
        rest = tail;
    }
    parts
}

/// Width of `pieces` on one line, with a space between each two.
fn line_width(pieces: &[Piece<'_>]) -> usize {
    pieces.iter().map(|piece| piece.chars).sum::<usize>() + pieces.len().saturating_sub(1)
}

/// Greedy line filling: as many pieces on each line as fit.
fn fill_lines(pieces: &[Piece<'_>]) -> Vec<Range<usize>> {
    let mut lines = Vec::new();
    let mut line_start = 0;
    let mut width = 0;
    for (index, piece) in pieces.iter().enumerate() {
        if index > line_start && width + 1 + piece.chars > MAX_LINE_CHARS {
            lines.push(line_start..index);
            line_start = index;
            width = piece.chars;
        } else {
            width += piece.chars + usize::from(index > line_start);
        }
    }
    if line_start < pieces.len() {
        lines.push(line_start..pieces.len());
    }
    lines
}

/// One cue's pieces as lines: one line when they fit, else two as even as possible
/// (the shorter line on top when two breaks are equally good).
fn cue_lines(pieces: &[Piece<'_>]) -> Vec<String> {
    let join = |pieces: &[Piece<'_>]| {
        pieces
            .iter()
            .map(|piece| piece.text)
            .collect::<Vec<_>>()
            .join(" ")
    };
    if line_width(pieces) <= MAX_LINE_CHARS {
        return vec![join(pieces)];
    }
    let longer_line = |at: usize| line_width(&pieces[..at]).max(line_width(&pieces[at..]));
    match (1..pieces.len())
        .filter(|&at| longer_line(at) <= MAX_LINE_CHARS)
        .min_by_key(|&at| longer_line(at))
    {
        Some(at) => vec![join(&pieces[..at]), join(&pieces[at..])],
        None => fill_lines(pieces)
            .into_iter()
            .map(|range| join(&pieces[range]))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::media::transcript::Word;

    fn segment(start: f64, end: f64, text: &str) -> Segment {
        Segment::new(start, end, text)
    }

    /// Every cue's shape and timing rules, and that the cues spell `text` again.
    fn assert_readable(cues: &[Cue], text: &str) {
        let mut previous_end = 0;
        for cue in cues {
            assert!(
                !cue.lines.is_empty() && cue.lines.len() <= MAX_CUE_LINES,
                "{cue:?}"
            );
            for line in &cue.lines {
                assert!(line.chars().count() <= MAX_LINE_CHARS, "{line:?} too long");
                assert_eq!(line.trim(), line, "{line:?} has stray spaces");
                assert!(!line.is_empty(), "{cue:?}");
            }
            assert!(cue.start_ms >= previous_end, "overlap at {cue:?}");
            assert!(cue.end_ms >= cue.start_ms, "{cue:?} ends before it starts");
            previous_end = cue.end_ms;
        }
        let spelled: Vec<String> = cues.iter().flat_map(|cue| cue.lines.clone()).collect();
        assert_eq!(
            spelled.join(" ").split_whitespace().collect::<String>(),
            text.split_whitespace().collect::<String>(),
            "text was lost or changed"
        );
    }

    const LONG: &str = "We agreed to ship the new invoice screen next Tuesday after the \
        review, and Maria will call the supplier about the delayed parts before Friday, \
        because the budget for the spring campaign is twelve thousand euros.";

    #[test]
    fn a_short_segment_is_one_cue_of_one_line() {
        let cues = cues(&[segment(1.0, 2.5, "  Hello there.  ")]);
        assert_eq!(
            cues,
            [Cue {
                start_ms: 1000,
                end_ms: 2500,
                lines: vec!["Hello there.".to_owned()]
            }]
        );
    }

    #[test]
    fn a_segment_over_one_line_is_broken_into_two_even_lines() {
        let text = "Please send the meeting notes to the whole team by tomorrow morning.";
        let cues = cues(&[segment(0.0, 4.0, text)]);
        assert_eq!(cues.len(), 1);
        assert_eq!(
            cues[0].lines,
            [
                "Please send the meeting notes to",
                "the whole team by tomorrow morning."
            ]
        );
        assert_readable(&cues, text);
    }

    #[test]
    fn a_long_segment_becomes_consecutive_cues_sharing_its_time_by_characters() {
        let cues = cues(&[segment(10.0, 22.0, LONG)]);
        assert!(cues.len() >= 3, "{cues:#?}");
        assert_readable(&cues, LONG);
        assert_eq!(
            cues[0].start_ms, 10_000,
            "the first cue starts with the segment"
        );
        assert_eq!(cues.last().map(|cue| cue.end_ms), Some(22_000));
        for pair in cues.windows(2) {
            assert_eq!(pair[0].end_ms, pair[1].start_ms, "no gap inside a segment");
        }
        // Each cue's share of the 12 s follows its share of the characters.
        let total: usize = LONG.split_whitespace().map(|w| w.chars().count()).sum();
        for cue in &cues {
            let chars: usize = cue
                .lines
                .iter()
                .flat_map(|line| line.split_whitespace())
                .map(|word| word.chars().count())
                .sum();
            let expected = 12_000.0 * chars as f64 / total as f64;
            let duration = (cue.end_ms - cue.start_ms) as f64;
            assert!((duration - expected).abs() <= 2.0, "{cue:?}: {expected}");
        }
    }

    #[test]
    fn word_timestamps_decide_where_each_cue_starts() {
        let text = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu \
            nu xi omicron pi rho sigma tau upsilon phi chi psi omega";
        let mut timed = segment(0.0, 30.0, text);
        // Words speed up: word i starts at i² / 20 s, so proportional times would differ.
        timed.words = text
            .split_whitespace()
            .enumerate()
            .map(|(i, word)| Word {
                start: (i * i) as f64 / 20.0,
                end: ((i + 1) * (i + 1)) as f64 / 20.0 - 0.01,
                text: word.to_owned(),
            })
            .collect();
        let cues = cues(std::slice::from_ref(&timed));
        assert!(cues.len() >= 2, "{cues:#?}");
        assert_readable(&cues, text);
        assert_eq!(cues[0].start_ms, 0);
        assert_eq!(cues.last().map(|cue| cue.end_ms), Some(30_000));
        for cue in &cues[1..] {
            let first = cue.lines[0].split_whitespace().next().unwrap_or_default();
            let word = timed.words.iter().find(|w| w.text == first).unwrap();
            assert_eq!(cue.start_ms, millis(word.start), "{cue:?}");
        }
    }

    #[test]
    fn words_that_do_not_match_the_text_fall_back_to_character_shares() {
        let mut timed = segment(0.0, 12.0, LONG);
        timed.words = vec![Word {
            start: 5.0,
            end: 6.0,
            text: "We".into(),
        }];
        assert_eq!(cues(&[timed]), cues(&[segment(0.0, 12.0, LONG)]));
    }

    #[test]
    fn an_over_long_word_is_cut_into_line_long_parts_and_kept_whole() {
        let word = "x".repeat(100);
        let text = format!("short {word} end");
        let cues = cues(&[segment(0.0, 10.0, &text)]);
        assert_readable(&cues, &text);
        let joined: String = cues
            .iter()
            .flat_map(|cue| cue.lines.iter())
            .map(String::as_str)
            .collect();
        assert!(joined.contains(&word), "{cues:#?}");
        // Multi-byte characters are cut at character boundaries.
        let umlauts = "ü".repeat(50);
        let cues = super::cues(&[segment(0.0, 1.0, &umlauts)]);
        assert_eq!(cues[0].lines, ["ü".repeat(42), "ü".repeat(8)]);
    }

    #[test]
    fn times_round_to_the_nearest_millisecond() {
        assert_eq!(millis(1.9996), 2000);
        assert_eq!(millis(1.0004), 1000);
        assert_eq!(millis(-3.0), 0);
        assert_eq!(millis(f64::NAN), 0);
        let cues = cues(&[segment(0.0014, 1.9996, "Hi.")]);
        assert_eq!(to_srt(&cues), "1\n00:00:00,001 --> 00:00:02,000\nHi.\n\n");
        assert_eq!(
            to_vtt(&cues),
            "WEBVTT\n\n00:00:00.001 --> 00:00:02.000\nHi.\n\n"
        );
    }

    #[test]
    fn cues_never_overlap_run_backwards_or_go_negative() {
        let segments = [
            segment(-1.0, 2.0, "Before the start."),
            segment(1.5, 1.0, "Ends before it starts."),
            segment(0.5, 3.0, LONG),
            segment(f64::NAN, f64::INFINITY, "Broken times."),
            segment(2.0, 2.0, "   "),
        ];
        let cues = cues(&segments);
        let text: Vec<&str> = segments.iter().map(|s| s.text.as_str()).collect();
        assert_readable(&cues, &text.join(" "));
        assert_eq!(cues[0].start_ms, 0);
    }

    #[test]
    fn vtt_escapes_markup_and_srt_numbers_its_cues() {
        let cues = cues(&[segment(0.0, 1.0, "a <b> & c --> d"), segment(1.0, 2.0, "e")]);
        assert!(to_vtt(&cues).contains("\na &lt;b&gt; &amp; c --&gt; d\n"));
        assert!(to_srt(&cues).starts_with("1\n00:00:00,000 --> 00:00:01,000\n"));
        assert!(to_srt(&cues).contains("\n\n2\n00:00:01,000 --> 00:00:02,000\ne\n\n"));
    }
}
