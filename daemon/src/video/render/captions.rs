//! Captions: each scene's text broken into lines for its language (Vietnamese and
//! English at spaces, Chinese and Japanese between any two characters), grouped into
//! chunks of at most two lines, and timed by the spoken words when the speech provider
//! aligned them, else across the scene's slot by their length.
//! Pango (textoverlay, `wrap-mode=wordchar`) still wraps a line that came out wider
//! than estimated, so a chunk never leaves the frame.

use super::plan::CaptionWord;

/// One caption on screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    /// When it appears (seconds).
    pub start: f64,
    /// When it goes.
    pub end: f64,
    /// The text, lines separated by `\n`.
    pub text: String,
}

/// Lines per chunk.
pub const MAX_LINES: usize = 2;

/// Caption size and measure for a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaptionStyle {
    /// Font size in pixels.
    pub font_px: u32,
    /// Longest line, in ems of that font.
    pub line_ems: f64,
}

impl CaptionStyle {
    /// Captions for a `width`×`height` frame: 4.8 % of the short side, lines up to
    /// 86 % of the width.
    pub fn for_frame(width: u32, height: u32) -> CaptionStyle {
        let font_px = ((f64::from(width.min(height)) * 0.048).round() as u32).max(12);
        CaptionStyle {
            font_px,
            line_ems: f64::from(width) * 0.86 / f64::from(font_px),
        }
    }
}

/// The cues of every scene: `slots[i]` is scene i's start and length, `words[i]` the
/// timing of its spoken words (empty, or missing, when the speech provider gave none).
/// With word timings each part of a caption appears when its first word is spoken;
/// without, the parts share the slot by their length.
pub fn cues(
    captions: &[&str],
    words: &[&[CaptionWord]],
    slots: &[(f64, f64)],
    style: CaptionStyle,
) -> Vec<Cue> {
    let mut cues = Vec::new();
    for (index, (caption, &(start, length))) in captions.iter().zip(slots).enumerate() {
        let chunks = chunk(caption, style.line_ems, MAX_LINES);
        let spoken = words.get(index).copied().unwrap_or_default();
        if let Some(starts) = word_starts(&chunks, spoken, length) {
            for (n, text) in chunks.into_iter().enumerate() {
                let end = starts.get(n + 1).copied().unwrap_or(length);
                cues.push(Cue {
                    start: start + starts[n],
                    end: start + end,
                    text,
                });
            }
            continue;
        }
        let weights: Vec<f64> = chunks
            .iter()
            .map(|text| text.chars().filter(|c| !c.is_whitespace()).count().max(1) as f64)
            .collect();
        let total: f64 = weights.iter().sum();
        let mut at = start;
        for (text, weight) in chunks.into_iter().zip(weights) {
            let end = at + length * weight / total;
            cues.push(Cue {
                start: at,
                end,
                text,
            });
            at = end;
        }
    }
    cues
}

/// When each chunk's first word is spoken (seconds from the slot's start, the first
/// chunk at 0), when the timings hold exactly the chunks' words; `None` otherwise.
fn word_starts(chunks: &[String], words: &[CaptionWord], length: f64) -> Option<Vec<f64>> {
    let counts: Vec<usize> = chunks
        .iter()
        .map(|c| c.split_whitespace().count())
        .collect();
    if words.is_empty() || counts.iter().sum::<usize>() != words.len() || counts.contains(&0) {
        return None;
    }
    let mut starts = Vec::with_capacity(chunks.len());
    let mut first = 0;
    for count in counts {
        let at = if starts.is_empty() {
            0.0
        } else {
            words[first].start.clamp(0.0, length)
        };
        starts.push(at);
        first += count;
    }
    starts
        .windows(2)
        .all(|pair| pair[0] <= pair[1])
        .then_some(starts)
}

/// Splits `text` into chunks of at most `max_lines` lines of at most `line_ems` each
/// (lines separated by `\n`). Sentences start new chunks unless several fit together;
/// a sentence too long for one chunk is cut into chunks of about equal length, so no
/// chunk is a lone stub of a few words.
pub fn chunk(text: &str, line_ems: f64, max_lines: usize) -> Vec<String> {
    let max_lines = max_lines.max(1);
    let fits = |units: &[String]| break_lines(&units.concat(), line_ems).len() <= max_lines;
    let mut chunks: Vec<Vec<String>> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    for sentence in sentences(units(text)) {
        let merged = [pending.clone(), sentence.clone()].concat();
        if fits(&merged) {
            pending = merged;
            continue;
        }
        if !pending.is_empty() {
            chunks.push(std::mem::take(&mut pending));
        }
        let mut parts = balanced(&sentence, line_ems, max_lines);
        pending = parts.pop().unwrap_or_default();
        chunks.extend(parts);
    }
    if !pending.is_empty() {
        chunks.push(pending);
    }
    chunks
        .into_iter()
        .map(|units| break_lines(&units.concat(), line_ems).join("\n"))
        .filter(|chunk| !chunk.is_empty())
        .collect()
}

/// Break units grouped into sentences (a unit ending in `.`, `!`, `?`… ends one).
fn sentences(units: Vec<String>) -> Vec<Vec<String>> {
    let mut sentences = Vec::new();
    let mut current = Vec::new();
    for unit in units {
        let ends = unit
            .trim_end()
            .ends_with(['.', '!', '?', '…', '。', '！', '？']);
        current.push(unit);
        if ends {
            sentences.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        sentences.push(current);
    }
    sentences
}

/// `units` cut into the fewest parts of about equal width that each fit `max_lines`.
fn balanced(units: &[String], line_ems: f64, max_lines: usize) -> Vec<Vec<String>> {
    let widths: Vec<f64> = units
        .iter()
        .map(|unit| unit.chars().map(char_ems).sum())
        .collect();
    let total: f64 = widths.iter().sum();
    let lines = break_lines(&units.concat(), line_ems).len();
    let mut count = lines.div_ceil(max_lines).max(1);
    loop {
        let target = total / count as f64;
        let mut parts: Vec<Vec<String>> = vec![Vec::new()];
        let mut width = 0.0;
        for (unit, unit_width) in units.iter().zip(&widths) {
            let cut = parts.len() < count && width > 0.0 && width + unit_width / 2.0 > target;
            if cut {
                parts.push(Vec::new());
                width = 0.0;
            }
            if let Some(last) = parts.last_mut() {
                last.push(unit.clone());
            }
            width += unit_width;
        }
        let all_fit = parts
            .iter()
            .all(|part| break_lines(&part.concat(), line_ems).len() <= max_lines);
        if all_fit || count >= units.len() {
            return parts;
        }
        count += 1;
    }
}

/// Greedy line breaking over break units: words (with the space after them) in
/// scripts that use spaces, single characters in Chinese and Japanese; a word longer
/// than a line is split between characters.
pub fn break_lines(text: &str, line_ems: f64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut width = 0.0;
    for unit in units(text) {
        let unit_width: f64 = unit.trim_end().chars().map(char_ems).sum();
        if width > 0.0 && width + unit_width > line_ems {
            lines.push(std::mem::take(&mut line).trim_end().to_owned());
            width = 0.0;
        }
        if unit_width > line_ems {
            for c in unit.chars() {
                if width > 0.0 && width + char_ems(c) > line_ems {
                    lines.push(std::mem::take(&mut line).trim_end().to_owned());
                    width = 0.0;
                }
                line.push(c);
                width += char_ems(c);
            }
        } else {
            line.push_str(&unit);
            width += unit.chars().map(char_ems).sum::<f64>();
        }
    }
    if !line.trim().is_empty() {
        lines.push(line.trim_end().to_owned());
    }
    lines.retain(|line| !line.is_empty());
    lines
}

/// Splits text into break units; closing punctuation stays with what it follows.
fn units(text: &str) -> Vec<String> {
    let mut units: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in text.split_whitespace().flat_map(|w| w.chars().chain([' '])) {
        if c == ' ' {
            word.push(' ');
            units.push(std::mem::take(&mut word));
        } else if is_closing(c) && word.is_empty() {
            match units.last_mut() {
                Some(last) if !last.ends_with(' ') => last.push(c),
                _ => word.push(c),
            }
        } else if is_cjk(c) {
            if !word.is_empty() {
                units.push(std::mem::take(&mut word));
            }
            units.push(c.to_string());
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        units.push(word);
    }
    units
}

/// Whether a character belongs to a script written without spaces.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // compatibility ideographs
        | 0x3000..=0x303F    // CJK punctuation
        | 0xFF00..=0xFFEF    // full-width forms
        | 0x20000..=0x2FFFF) // extensions B and later
}

/// Punctuation that must not begin a line.
fn is_closing(c: char) -> bool {
    matches!(
        c,
        '.' | ','
            | '!'
            | '?'
            | ':'
            | ';'
            | ')'
            | '」'
            | '』'
            | '、'
            | '。'
            | '，'
            | '！'
            | '？'
            | '）'
    )
}

/// The estimated advance of a character in a bold sans font, in ems.
fn char_ems(c: char) -> f64 {
    if is_cjk(c) {
        return 1.0;
    }
    let base = base_letter(c);
    let ems = match base {
        ' ' => 0.26,
        'i' | 'l' | 'j' | 't' | 'f' | 'r' | 'I' | '.' | ',' | ':' | ';' | '\'' | '!' | '|'
        | '(' | ')' | '[' | ']' => 0.34,
        'm' | 'w' | 'M' | 'W' => 0.92,
        'A'..='Z' => 0.70,
        _ => 0.60,
    };
    // Generous by a few percent: a line that overflows wraps into a third line.
    ems * 1.05
}

/// The ASCII letter under a Latin letter with diacritics (Vietnamese letters are as
/// wide as their base), or the character itself.
fn base_letter(c: char) -> char {
    const GROUPS: [(&str, char); 14] = [
        ("àáảãạăằắẳẵặâầấẩẫậ", 'a'),
        ("ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬ", 'A'),
        ("èéẻẽẹêềếểễệ", 'e'),
        ("ÈÉẺẼẸÊỀẾỂỄỆ", 'E'),
        ("ìíỉĩị", 'i'),
        ("ÌÍỈĨỊ", 'I'),
        ("òóỏõọôồốổỗộơờớởỡợ", 'o'),
        ("ÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢ", 'O'),
        ("ùúủũụưừứửữự", 'u'),
        ("ÙÚỦŨỤƯỪỨỬỮỰ", 'U'),
        ("ỳýỷỹỵ", 'y'),
        ("ỲÝỶỸỴ", 'Y'),
        ("đ", 'd'),
        ("Đ", 'D'),
    ];
    GROUPS
        .iter()
        .find(|(letters, _)| letters.contains(c))
        .map_or(c, |(_, base)| *base)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn vietnamese_breaks_at_spaces_into_two_line_chunks() {
        let text = "Serum Sáng Da C20 giúp làn da sáng đều màu chỉ sau mười bốn ngày sử dụng mỗi sáng và tối";
        let chunks = chunk(text, 14.0, 2);
        assert!(chunks.len() >= 2, "{chunks:?}");
        for chunk in &chunks {
            assert!(chunk.lines().count() <= 2, "{chunk:?}");
            for line in chunk.lines() {
                let ems: f64 = line.chars().map(char_ems).sum();
                assert!(ems <= 14.0 + 1e-9, "{line:?} is {ems} ems");
            }
        }
        let joined: Vec<&str> = chunks.iter().flat_map(|c| c.split_whitespace()).collect();
        assert_eq!(joined, text.split_whitespace().collect::<Vec<_>>());
    }

    #[test]
    fn a_long_sentence_is_cut_into_even_chunks() {
        let text = "Serum Sáng Da giúp làn da sáng đều màu chỉ sau mười bốn ngày sử dụng mỗi tối.";
        // At 18 ems a line, greedy breaking makes three lines: 2 + a stub of 1.
        assert_eq!(break_lines(text, 18.0).len(), 3);
        let chunks = chunk(text, 18.0, 2);
        assert_eq!(chunks.len(), 2, "{chunks:?}");
        let sizes: Vec<usize> = chunks
            .iter()
            .map(|c| c.split_whitespace().count())
            .collect();
        assert!(sizes[0].abs_diff(sizes[1]) <= 3, "{chunks:?}");
    }

    #[test]
    fn chinese_breaks_anywhere_but_not_before_closing_punctuation() {
        let text = "这款精华液让皮肤在十四天内变得明亮均匀，早晚使用效果更好。";
        let lines = break_lines(text, 8.0);
        assert!(lines.len() >= 3, "{lines:?}");
        assert!(lines.iter().all(|line| line.chars().count() <= 9));
        assert!(lines.iter().all(|line| !line.starts_with(['，', '。'])));
        assert_eq!(lines.concat(), text);
    }

    #[test]
    fn chunks_are_timed_across_the_slot_by_length() {
        let style = CaptionStyle {
            font_px: 50,
            line_ems: 10.0,
        };
        let cues = cues(
            &[
                "One two three four. Five six seven eight nine ten eleven",
                "",
            ],
            &[],
            &[(1.0, 4.0), (5.0, 2.0)],
            style,
        );
        assert!(cues.len() >= 2);
        assert_eq!(cues[0].start, 1.0);
        assert!((cues.last().unwrap().end - 5.0).abs() < 1e-9);
        assert!(cues.windows(2).all(|pair| pair[0].end == pair[1].start));
        assert!(cues[0].text.ends_with("four."), "a sentence ends a chunk");
    }

    #[test]
    fn with_word_timings_each_part_appears_when_its_first_word_is_spoken() {
        let style = CaptionStyle {
            font_px: 40,
            line_ems: 12.0,
        };
        let caption = "One two three four. Five six seven eight nine ten eleven";
        let words: Vec<CaptionWord> = caption
            .split_whitespace()
            .enumerate()
            .map(|(n, word)| CaptionWord {
                word: word.to_owned(),
                // The first sentence is said fast, then a long pause.
                start: if n < 4 {
                    n as f64 * 0.2
                } else {
                    2.0 + (n - 4) as f64 * 0.2
                },
                end: 0.0,
            })
            .collect();
        let timed = cues(&[caption], &[&words], &[(10.0, 4.0)], style);
        assert_eq!(timed.len(), 2, "{timed:?}");
        assert_eq!(timed[0].start, 10.0);
        assert!((timed[1].start - 12.0).abs() < 1e-9, "{timed:?}");
        assert_eq!(timed[1].end, 14.0);
        // Timings that do not hold the caption's words are ignored.
        let untimed = cues(&[caption], &[&words[..3]], &[(10.0, 4.0)], style);
        assert!((untimed[1].start - 12.0).abs() > 0.1, "{untimed:?}");
    }
}
