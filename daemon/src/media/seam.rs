//! Joining the transcripts of consecutive chunks. Each chunk after the first starts a
//! few seconds before its boundary ([`OVERLAP_SECONDS`]), so a word cut by the boundary
//! is heard whole by one of the two; the seam then drops what the new chunk repeats:
//! segments that end before the boundary, the words its first segment shares with the
//! end of the previous chunk, and any time overlap between the two.

use super::transcript::Segment;

/// How many seconds of audio before its boundary a chunk also transcribes.
pub const OVERLAP_SECONDS: u32 = 3;

/// At most this many words at a seam are compared for repeats.
const MAX_REPEATED_WORDS: usize = 12;

/// The segments of a chunk whose boundary is at `boundary` seconds, without what the
/// previous chunk (ending with `previous`) already has. `segments` are in seconds from
/// the start of the recording, in order.
pub fn trim_repeats(
    previous: Option<&Segment>,
    boundary: f64,
    segments: Vec<Segment>,
) -> Vec<Segment> {
    let Some(previous) = previous else {
        return segments;
    };
    let mut kept: Vec<Segment> = segments
        .into_iter()
        // Wholly inside the overlap: the previous chunk heard all of it.
        .filter(|segment| segment.end > boundary + 0.01 && segment.end > previous.end)
        .collect();
    if let Some(first) = kept.first_mut() {
        let repeated = repeated_words(&previous.text, &first.text);
        if repeated > 0 {
            first.text = first
                .text
                .split_whitespace()
                .skip(repeated)
                .collect::<Vec<_>>()
                .join(" ");
            // Word times go with their words; the segment starts at its first kept one.
            first.words.drain(..repeated.min(first.words.len()));
            if let Some(word) = first.words.first() {
                first.start = first.start.max(word.start);
            }
        }
    }
    kept.retain(|segment| !segment.text.trim().is_empty());
    let mut earliest = previous.end;
    for segment in &mut kept {
        segment.start = segment.start.max(earliest);
        segment.end = segment.end.max(segment.start);
        for word in &mut segment.words {
            word.start = word.start.clamp(segment.start, segment.end);
            word.end = word.end.clamp(word.start, segment.end);
        }
        earliest = segment.end;
    }
    kept
}

/// How many leading words of `next` repeat the last words of `previous` (compared
/// without case and punctuation); the longest such run wins.
fn repeated_words(previous: &str, next: &str) -> usize {
    let tail: Vec<String> = previous.split_whitespace().map(normalized).collect();
    let head: Vec<String> = next.split_whitespace().map(normalized).collect();
    let longest = MAX_REPEATED_WORDS.min(tail.len()).min(head.len());
    (1..=longest)
        .rev()
        .find(|&count| {
            let ending = &tail[tail.len() - count..];
            let starting = &head[..count];
            ending == starting && starting.iter().any(|word| !word.is_empty())
        })
        .unwrap_or(0)
}

/// A word without case and punctuation, for comparing.
fn normalized(word: &str) -> String {
    word.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(start: f64, end: f64, text: &str) -> Segment {
        Segment::new(start, end, text)
    }

    #[test]
    fn the_first_chunk_is_kept_as_it_is() {
        let segments = vec![segment(0.0, 2.0, "hello there")];
        assert_eq!(trim_repeats(None, 0.0, segments.clone()), segments);
    }

    #[test]
    fn a_word_heard_on_both_sides_of_the_seam_is_kept_once() {
        let previous = segment(25.0, 30.0, "We will ship the new release today.");
        let next = vec![
            segment(27.0, 29.5, "release today."),
            segment(29.0, 33.0, "Release today, and then we rest."),
            segment(33.0, 36.0, "Thanks."),
        ];
        let joined = trim_repeats(Some(&previous), 30.0, next);
        assert_eq!(
            joined,
            vec![
                segment(30.0, 33.0, "and then we rest."),
                segment(33.0, 36.0, "Thanks."),
            ]
        );
    }

    #[test]
    fn cues_never_overlap_across_the_seam() {
        let previous = segment(28.0, 31.0, "one two");
        let next = vec![segment(29.5, 34.0, "three four")];
        let joined = trim_repeats(Some(&previous), 30.0, next);
        assert_eq!(joined, vec![segment(31.0, 34.0, "three four")]);
    }

    #[test]
    fn word_times_leave_with_their_repeated_words() {
        use crate::media::transcript::Word;
        let word = |start: f64, end: f64, text: &str| Word {
            start,
            end,
            text: text.to_owned(),
        };
        let previous = segment(26.0, 30.0, "ship it today");
        let mut next = segment(29.0, 32.0, "today we rest");
        next.words = vec![
            word(29.0, 29.8, "today"),
            word(30.4, 30.9, "we"),
            word(31.0, 32.0, "rest"),
        ];
        let joined = trim_repeats(Some(&previous), 30.0, vec![next]);
        assert_eq!(joined.len(), 1);
        assert_eq!(joined[0].text, "we rest");
        assert_eq!(joined[0].start, 30.4);
        assert_eq!(
            joined[0].words,
            vec![word(30.4, 30.9, "we"), word(31.0, 32.0, "rest")]
        );
    }

    #[test]
    fn a_segment_that_only_repeats_is_dropped() {
        let previous = segment(26.0, 30.0, "see you soon");
        let next = vec![segment(28.0, 30.5, "you soon"), segment(31.0, 32.0, "bye")];
        let joined = trim_repeats(Some(&previous), 30.0, next);
        assert_eq!(joined, vec![segment(31.0, 32.0, "bye")]);
    }
}
