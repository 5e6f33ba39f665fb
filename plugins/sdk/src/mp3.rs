//! MPEG audio Layer III (MP3) answers: their audio frames, how long they last, and
//! several answers joined into one stream (a long text spoken in pieces). A joined
//! file keeps only audio frames: the ID3 tags and the Xing/Info frame of each piece
//! would otherwise tell a player the length of the first piece only.

use crate::ProviderError;

/// Bit rates of Layer III in kbit/s by index, MPEG-1 then MPEG-2/2.5.
const BITRATES: [[u32; 15]; 2] = [
    [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
];

/// One frame's header, read.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Frame {
    /// Bytes of the frame, header included.
    length: usize,
    /// Samples it decodes to.
    samples: u32,
    /// Samples a second.
    rate: u32,
}

/// The frame starting at `bytes`, when a Layer III header is there.
fn frame(bytes: &[u8]) -> Option<Frame> {
    let [sync, b1, b2, _, ..] = *bytes else {
        return None;
    };
    if sync != 0xff || b1 & 0xe0 != 0xe0 || (b1 >> 1) & 3 != 1 {
        return None;
    }
    let (table, rates, samples) = match (b1 >> 3) & 3 {
        3 => (0, [44_100, 48_000, 32_000], 1152),
        2 => (1, [22_050, 24_000, 16_000], 576),
        0 => (1, [11_025, 12_000, 8_000], 576),
        _ => return None,
    };
    let bitrate = *BITRATES[table].get(usize::from(b2 >> 4))? * 1000;
    let rate = *rates.get(usize::from((b2 >> 2) & 3))?;
    if bitrate == 0 {
        return None;
    }
    let padding = u32::from((b2 >> 1) & 1);
    let length = (samples / 8 * bitrate / rate + padding) as usize;
    Some(Frame {
        length,
        samples,
        rate,
    })
}

/// The length of the ID3v2 tag `bytes` starts with (0 when there is none).
fn id3_length(bytes: &[u8]) -> usize {
    if bytes.len() < 10 || !bytes.starts_with(b"ID3") {
        return 0;
    }
    let size = bytes[6..10]
        .iter()
        .fold(0usize, |size, byte| (size << 7) | usize::from(byte & 0x7f));
    let footer = if bytes[5] & 0x10 != 0 { 10 } else { 0 };
    10 + size + footer
}

/// The audio frames of `file` as byte ranges, with their decoded length in seconds.
/// ID3v2 tags and a leading Xing/Info frame are skipped; anything after the last
/// whole frame (an ID3v1 tag) is ignored.
pub fn frames(file: &[u8]) -> Result<(Vec<std::ops::Range<usize>>, f64), ProviderError> {
    let bad = |why: &str| ProviderError::Other(format!("the answer is not MP3 audio: {why}"));
    let mut at = id3_length(file);
    let mut ranges = Vec::new();
    let mut seconds = 0.0;
    while let Some(found) = file.get(at..).and_then(frame) {
        let end = at + found.length;
        if end > file.len() {
            break;
        }
        let body = &file[at..end];
        let info = ranges.is_empty()
            && body
                .windows(4)
                .take(48)
                .any(|window| window == b"Xing" || window == b"Info");
        if !info {
            ranges.push(at..end);
            seconds += f64::from(found.samples) / f64::from(found.rate);
        }
        at = end;
    }
    if ranges.is_empty() {
        return Err(bad("no Layer III frame"));
    }
    Ok((ranges, seconds))
}

/// How long the MP3 `file` lasts.
pub fn seconds(file: &[u8]) -> Result<f64, ProviderError> {
    frames(file).map(|(_, seconds)| seconds)
}

/// One MP3 stream holding the audio frames of `files` in order, and its length in
/// seconds.
pub fn join(files: &[Vec<u8>]) -> Result<(Vec<u8>, f64), ProviderError> {
    let mut out = Vec::with_capacity(files.iter().map(Vec::len).sum());
    let mut total = 0.0;
    for file in files {
        let (ranges, seconds) = frames(file)?;
        for range in ranges {
            out.extend_from_slice(&file[range]);
        }
        total += seconds;
    }
    Ok((out, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` silent MPEG-1 Layer III frames at 128 kbit/s, 44.1 kHz (417 bytes each,
    /// no padding), after an ID3v2 tag.
    fn mp3(count: usize, fill: u8) -> Vec<u8> {
        let mut file = b"ID3\x04\x00\x00\x00\x00\x00\x05tag!!".to_vec();
        for _ in 0..count {
            let mut frame = vec![fill; 417];
            frame[..4].copy_from_slice(&[0xff, 0xfb, 0x90, 0x64]);
            file.extend_from_slice(&frame);
        }
        file
    }

    #[test]
    fn frames_are_counted_after_the_tag_and_joined_without_it() {
        let (ranges, seconds) = frames(&mp3(10, 0)).unwrap_or_default();
        assert_eq!(ranges.len(), 10);
        assert_eq!(ranges[0].start, 15);
        assert!((seconds - 10.0 * 1152.0 / 44_100.0).abs() < 1e-9);
        let (joined, total) = join(&[mp3(3, 1), mp3(2, 2)]).unwrap_or_default();
        assert_eq!(joined.len(), 5 * 417);
        assert!(!joined.starts_with(b"ID3"));
        assert_eq!(joined[417 * 3 + 4], 2);
        assert!((total - 5.0 * 1152.0 / 44_100.0).abs() < 1e-9);
        assert!(seconds_of_garbage_fails());
    }

    fn seconds_of_garbage_fails() -> bool {
        seconds(b"<html>busy</html>").is_err() && seconds(&[]).is_err()
    }

    #[test]
    fn a_xing_frame_is_not_audio() {
        let mut file = mp3(4, 0);
        file[15 + 36..15 + 40].copy_from_slice(b"Xing");
        let (ranges, _) = frames(&file).unwrap_or_default();
        assert_eq!(ranges.len(), 3);
    }
}
