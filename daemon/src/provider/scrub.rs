//! A key never comes back to the plugin: a response that reflects the key it was sent
//! with (an echoed URL in an error, a header repeated, a debug dump) is scrubbed before
//! the plugin sees it. The key is looked for as it was sent and in the encodings a
//! server may echo it in: percent-encoded (either case), JSON-escaped and base64
//! (standard and URL-safe, at each of the three alignments a key can have inside a
//! longer base64 text).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use memchr::memmem;

/// What replaces each reflected copy of the key.
pub const REDACTED: &[u8] = b"[redacted]";

/// The byte patterns one key can be reflected as.
#[derive(Debug)]
pub struct Scrubber {
    patterns: Vec<Vec<u8>>,
}

/// Shortest base64 run worth matching: 12 characters are 9 key bytes, which no
/// unrelated text repeats by chance, and every key is longer than that.
const MIN_BASE64: usize = 12;

impl Scrubber {
    /// The patterns of `secret`.
    pub fn new(secret: &str) -> Scrubber {
        let mut patterns: Vec<Vec<u8>> = vec![secret.as_bytes().to_vec()];
        let percent: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        patterns.push(percent.clone().into_bytes());
        patterns.push(lower_percent(&percent).into_bytes());
        if let Ok(json) = serde_json::to_string(secret) {
            patterns.push(json.trim_matches('"').replace('/', "\\/").into_bytes());
            patterns.push(json.trim_matches('"').as_bytes().to_vec());
        }
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            for shift in 0..3 {
                patterns.extend(base64_core(engine, secret.as_bytes(), shift));
            }
        }
        patterns.retain(|pattern| !pattern.is_empty());
        patterns.sort();
        patterns.dedup();
        // Longest first, so a pattern that contains another is replaced whole.
        patterns.sort_by_key(|pattern| std::cmp::Reverse(pattern.len()));
        Scrubber { patterns }
    }

    /// `bytes` with every reflected copy of the key replaced by [`REDACTED`]; true in
    /// the second place when something was replaced.
    pub fn scrub(&self, bytes: Vec<u8>) -> (Vec<u8>, bool) {
        let mut bytes = bytes;
        let mut found = false;
        for pattern in &self.patterns {
            if memmem::find(&bytes, pattern).is_none() {
                continue;
            }
            found = true;
            let mut out = Vec::with_capacity(bytes.len());
            let mut rest = 0;
            for at in memmem::find_iter(&bytes, pattern) {
                if at < rest {
                    continue;
                }
                out.extend_from_slice(&bytes[rest..at]);
                out.extend_from_slice(REDACTED);
                rest = at + pattern.len();
            }
            out.extend_from_slice(&bytes[rest..]);
            bytes = out;
        }
        (bytes, found)
    }

    /// A text with the key scrubbed (headers, messages).
    pub fn scrub_text(&self, text: String) -> (String, bool) {
        let (bytes, found) = self.scrub(text.into_bytes());
        (String::from_utf8_lossy(&bytes).into_owned(), found)
    }
}

impl Drop for Scrubber {
    /// The patterns are the key in other spellings: wiped like the key itself.
    fn drop(&mut self) {
        for pattern in &mut self.patterns {
            zeroize::Zeroize::zeroize(pattern);
        }
    }
}

/// `%2F` → `%2f`: some servers echo percent-escapes in lower case.
fn lower_percent(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            out.extend(chars.by_ref().take(2).map(|hex| hex.to_ascii_lowercase()));
        }
    }
    out
}

/// The base64 characters that encode only key bytes when the key starts `shift` bytes
/// into a 3-byte group of a longer text: the characters touched by the bytes before
/// or after it differ with the neighbours and are dropped.
fn base64_core(
    engine: &base64::engine::GeneralPurpose,
    secret: &[u8],
    shift: usize,
) -> Option<Vec<u8>> {
    let mut padded = vec![0u8; shift];
    padded.extend_from_slice(secret);
    let encoded = engine.encode(&padded);
    // Characters wholly inside the leading filler: `shift` bytes touch ceil(8·shift/6).
    let skip = (shift * 8).div_ceil(6);
    // The last group may end mid-character; only whole key-only characters are kept.
    let keep = (padded.len() * 8) / 6;
    let core = encoded.as_bytes().get(skip..keep)?.to_vec();
    (core.len() >= MIN_BASE64).then_some(core)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AIzaSyFAKE/key+with=odd-chars_0123456789";

    fn scrubbed(text: &str) -> String {
        String::from_utf8(Scrubber::new(KEY).scrub(text.as_bytes().to_vec()).0).expect("UTF-8")
    }

    #[test]
    fn the_key_is_removed_raw_escaped_and_encoded() {
        let percent: String = form_urlencoded::byte_serialize(KEY.as_bytes()).collect();
        let json = serde_json::to_string(KEY).expect("JSON");
        for reflected in [
            format!("bad key {KEY}!"),
            format!("GET /v1?key={percent} HTTP/1.1"),
            format!("GET /v1?key={} HTTP/1.1", lower_percent(&percent)),
            format!("{{\"echo\": {json}}}"),
            format!("{{\"echo\": \"{}\"}}", KEY.replace('/', "\\/")),
        ] {
            let clean = scrubbed(&reflected);
            assert!(!clean.contains("odd-chars"), "{reflected} → {clean}");
            assert!(clean.contains("[redacted]"), "{clean}");
        }
    }

    #[test]
    fn base64_of_the_key_inside_longer_text_is_found_at_every_alignment() {
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            for prefix in ["", "a", "ab", "abc", "x-goog-api-key: "] {
                let text = engine.encode(format!("{prefix}{KEY} and more"));
                let (clean, found) = Scrubber::new(KEY).scrub(text.clone().into_bytes());
                assert!(found, "prefix {prefix:?}: {text}");
                assert!(
                    String::from_utf8(clean)
                        .expect("UTF-8")
                        .contains("[redacted]")
                );
            }
        }
    }

    #[test]
    fn text_without_the_key_is_untouched() {
        let text = "{\"candidates\": [{\"text\": \"AIzaSy is how Google keys start\"}]}";
        let (clean, found) = Scrubber::new(KEY).scrub(text.as_bytes().to_vec());
        assert!(!found);
        assert_eq!(clean, text.as_bytes());
    }
}
