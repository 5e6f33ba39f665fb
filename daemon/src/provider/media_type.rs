//! The one table of media types the host knows: MIME type ↔ file extension ↔ magic
//! bytes ↔ kind. Plugin answers are checked against it (the bytes must be what the
//! declared type says), result files are named from it, and finished downloads are
//! sniffed with it before they are delivered.

use serde::Serialize;

/// What a result is, as a stage asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// A still image.
    Image,
    /// Audio (speech).
    Audio,
    /// A video clip.
    Video,
}

impl MediaKind {
    /// The MIME top-level type of this kind (`image`, `audio`, `video`).
    pub fn top_level(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

impl std::fmt::Display for MediaKind {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            MediaKind::Image => "an image",
            MediaKind::Audio => "audio",
            MediaKind::Video => "a video",
        })
    }
}

/// One known media type.
#[derive(Debug)]
pub struct MediaType {
    /// The canonical MIME type.
    pub mime: &'static str,
    /// Other MIME types that mean the same.
    pub aliases: &'static [&'static str],
    /// The file extension results of this type get (no dot).
    pub extension: &'static str,
    /// What it is.
    pub kind: MediaKind,
    /// Whether bytes start like this type.
    magic: fn(&[u8]) -> bool,
}

impl MediaType {
    /// True when `bytes` start like this type (checked by magic bytes).
    pub fn matches(&self, bytes: &[u8]) -> bool {
        (self.magic)(bytes)
    }
}

/// Every media type the host recognises by its bytes.
pub const MEDIA_TYPES: &[MediaType] = &[
    MediaType {
        mime: "image/png",
        aliases: &[],
        extension: "png",
        kind: MediaKind::Image,
        magic: |bytes| bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
    },
    MediaType {
        mime: "image/jpeg",
        aliases: &["image/jpg"],
        extension: "jpg",
        kind: MediaKind::Image,
        magic: |bytes| bytes.starts_with(&[0xff, 0xd8, 0xff]),
    },
    MediaType {
        mime: "image/webp",
        aliases: &[],
        extension: "webp",
        kind: MediaKind::Image,
        magic: |bytes| bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
    },
    MediaType {
        mime: "audio/wav",
        aliases: &["audio/x-wav", "audio/wave"],
        extension: "wav",
        kind: MediaKind::Audio,
        // RIFF is also WebP's container: WebP is listed first, so sniffing finds it there.
        magic: |bytes| bytes.starts_with(b"RIFF"),
    },
    MediaType {
        mime: "audio/mpeg",
        aliases: &["audio/mp3"],
        extension: "mp3",
        kind: MediaKind::Audio,
        magic: |bytes| bytes.starts_with(b"ID3") || bytes.first() == Some(&0xff),
    },
    MediaType {
        mime: "audio/ogg",
        aliases: &[],
        extension: "ogg",
        kind: MediaKind::Audio,
        magic: |bytes| bytes.starts_with(b"OggS"),
    },
    MediaType {
        mime: "video/mp4",
        aliases: &[],
        extension: "mp4",
        kind: MediaKind::Video,
        magic: |bytes| bytes.len() > 8 && &bytes[4..8] == b"ftyp",
    },
];

/// Bytes needed to sniff any type in the table.
pub const SNIFF_BYTES: usize = 16;

/// The known type a MIME type names (parameters such as `;rate=24000` ignored).
pub fn by_mime(mime: &str) -> Option<&'static MediaType> {
    let bare = mime.split(';').next().unwrap_or("").trim();
    MEDIA_TYPES.iter().find(|known| {
        known.mime.eq_ignore_ascii_case(bare)
            || known
                .aliases
                .iter()
                .any(|alias| alias.eq_ignore_ascii_case(bare))
    })
}

/// The known type whose magic bytes `bytes` start with.
pub fn sniff(bytes: &[u8]) -> Option<&'static MediaType> {
    MEDIA_TYPES.iter().find(|known| known.matches(bytes))
}

/// The extension for a declared MIME type; `bin` for types the table does not know
/// (raw PCM such as `audio/L16;rate=24000`).
pub fn extension_for_mime(mime: &str) -> &'static str {
    by_mime(mime).map_or("bin", |known| known.extension)
}

/// Why media bytes are not what they claim to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaMismatch {
    /// No bytes at all.
    #[error("empty {0} data")]
    Empty(String),
    /// The bytes do not start like the declared type.
    #[error("the bytes are not {declared} (first bytes {first:02x?})")]
    NotDeclaredType {
        /// The declared MIME type (without parameters).
        declared: String,
        /// The first bytes, for the report.
        first: Vec<u8>,
    },
}

/// Checks bytes against their declared MIME type. Types the table does not know are
/// taken as they are, as long as there are bytes.
pub fn check_declared(mime: &str, bytes: &[u8]) -> Result<(), MediaMismatch> {
    let bare = mime.split(';').next().unwrap_or("").trim();
    if bytes.is_empty() {
        return Err(MediaMismatch::Empty(bare.to_owned()));
    }
    match by_mime(mime) {
        Some(known) if !known.matches(bytes) => Err(MediaMismatch::NotDeclaredType {
            declared: bare.to_owned(),
            first: bytes[..bytes.len().min(8)].to_vec(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_found_by_mime_by_alias_and_by_its_own_bytes() {
        let samples: [(&str, &[u8]); 7] = [
            ("image/png", b"\x89PNG\r\n\x1a\n...."),
            ("image/jpeg", b"\xff\xd8\xff\xe0...."),
            ("image/webp", b"RIFF\x10\0\0\0WEBPVP8 "),
            ("audio/wav", b"RIFF\x10\0\0\0WAVEfmt "),
            ("audio/mpeg", b"ID3\x04\0\0\0\0\0\0"),
            ("audio/ogg", b"OggS\0\x02\0\0\0\0"),
            ("video/mp4", b"\0\0\0\x18ftypisom...."),
        ];
        for (mime, bytes) in samples {
            assert_eq!(by_mime(mime).map(|known| known.mime), Some(mime));
            assert_eq!(sniff(bytes).map(|found| found.mime), Some(mime));
            assert!(
                check_declared(&format!("{mime}; x=1"), bytes).is_ok(),
                "{mime}"
            );
        }
        assert_eq!(extension_for_mime("audio/x-wav"), "wav");
        assert_eq!(extension_for_mime("audio/L16;rate=24000"), "bin");
        assert_eq!(
            by_mime("IMAGE/JPG").map(|known| known.kind),
            Some(MediaKind::Image)
        );
        assert!(matches!(
            check_declared("image/png", b"GIF89a"),
            Err(MediaMismatch::NotDeclaredType { .. })
        ));
        assert!(check_declared("audio/L16;rate=24000", b"\x01\x02").is_ok());
        assert!(matches!(
            check_declared("audio/L16", b""),
            Err(MediaMismatch::Empty(_))
        ));
    }
}
