//! Provider results kept under `<spool>/cache/results/`, keyed by a hash of
//! (plugin, version, plugin sha256, operation, request), so a retried or re-run job
//! does not pay twice. Text, image and speech answers are cached whole; videos as
//! files. The folder is bounded in size: the least recently used entries go first.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::plugin::{Answer, Operation};

/// The result cache of one spool.
#[derive(Debug, Clone)]
pub struct ResultCache {
    dir: PathBuf,
    max_bytes: u64,
}

impl ResultCache {
    /// A cache in `dir` holding at most `max_bytes` (0 turns caching off).
    pub fn new(dir: PathBuf, max_bytes: u64) -> ResultCache {
        ResultCache { dir, max_bytes }
    }

    /// The key of an operation on a plugin (`identity`: its sha256 and the provider's
    /// settings); `None` for operations that are never
    /// cached (describe, polls). A video's idempotency key is left out, so the same
    /// request from another job hits the cache.
    pub fn key(
        plugin: &str,
        version: &str,
        identity: &str,
        operation: &Operation,
    ) -> Option<String> {
        let mut operation = operation.clone();
        match &mut operation {
            Operation::Describe | Operation::PollVideo(_) => return None,
            Operation::SubmitVideo(request) => request.idempotency_key.clear(),
            _ => {}
        }
        let request = serde_json::to_vec(&operation).ok()?;
        let mut hasher = blake3::Hasher::new();
        for part in [
            plugin.as_bytes(),
            version.as_bytes(),
            identity.as_bytes(),
            operation.name().as_bytes(),
        ] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        hasher.update(&request);
        Some(hasher.finalize().to_hex().to_string())
    }

    fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    /// A cached answer.
    pub fn get(&self, key: &str) -> Option<Answer> {
        if !self.enabled() {
            return None;
        }
        let path = self.dir.join(format!("{key}.json"));
        let mut answer: Answer = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        if let Some(payload) = payload_mut(&mut answer) {
            let bin = self.dir.join(format!("{key}.bin"));
            *payload = std::fs::read(&bin).ok()?;
            touch(&bin);
        }
        touch(&path);
        Some(answer)
    }

    /// Stores an answer (best effort: a cache that cannot be written is only slower).
    /// Media bytes go to `<key>.bin` beside the JSON, written first, so a reader
    /// never finds the JSON without them.
    pub fn put(&self, key: &str, answer: &Answer) {
        if !self.enabled() || matches!(answer, Answer::Progress(_) | Answer::Info(_)) {
            return;
        }
        let mut answer = answer.clone();
        if let Some(payload) = payload_mut(&mut answer) {
            let bytes = std::mem::take(payload);
            self.store(&format!("{key}.bin"), |path| {
                crate::spool::fsutil::write_atomic(path, &bytes, false)
            });
        }
        let Ok(json) = serde_json::to_vec(&answer) else {
            return;
        };
        self.store(&format!("{key}.json"), |path| {
            crate::spool::fsutil::write_atomic(path, &json, false)
        });
    }

    /// A cached file (a finished video) for `key`.
    pub fn get_file(&self, key: &str, extension: &str) -> Option<PathBuf> {
        if !self.enabled() {
            return None;
        }
        let path = self.dir.join(format!("{key}.{extension}"));
        path.is_file().then(|| {
            touch(&path);
            path
        })
    }

    /// Keeps a copy of a finished file (a hard link when possible).
    pub fn put_file(&self, key: &str, extension: &str, source: &Path) {
        if !self.enabled() {
            return;
        }
        self.store(&format!("{key}.{extension}"), |path| {
            let partial = path.with_extension("part");
            let _ = std::fs::remove_file(&partial);
            if std::fs::hard_link(source, &partial).is_err() {
                std::fs::copy(source, &partial)?;
            }
            std::fs::rename(&partial, path)
        });
    }

    fn store(&self, name: &str, write: impl FnOnce(&Path) -> std::io::Result<()>) {
        let result = std::fs::create_dir_all(&self.dir).and_then(|()| write(&self.dir.join(name)));
        if let Err(error) = result {
            tracing::warn!(cache = %self.dir.display(), %error, "Cannot write the result cache.");
            return;
        }
        self.evict();
    }

    /// Removes the least recently used entries until the folder fits its bound.
    fn evict(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
            .flatten()
            .filter_map(|entry| {
                let metadata = entry.metadata().ok()?;
                metadata.is_file().then(|| {
                    (
                        metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                        metadata.len(),
                        entry.path(),
                    )
                })
            })
            .collect();
        let mut total: u64 = files.iter().map(|(_, size, _)| size).sum();
        if total <= self.max_bytes {
            return;
        }
        files.sort();
        for (_, size, path) in files {
            if total <= self.max_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= size;
            }
        }
    }
}

/// The media bytes inside an answer, kept out of its JSON.
fn payload_mut(answer: &mut Answer) -> Option<&mut Vec<u8>> {
    match answer {
        Answer::Image(image) => Some(&mut image.data),
        Answer::Speech(speech) => match &mut speech.audio {
            super::plugin::Media::Bytes(audio) => Some(&mut audio.data),
            super::plugin::Media::Download(_) => None,
        },
        _ => None,
    }
}

/// Marks an entry as just used (its mtime orders eviction).
fn touch(path: &Path) {
    if let Ok(file) = std::fs::File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::plugin::{TextResult, VideoRequest};

    fn answer(text: &str) -> Answer {
        Answer::Text(TextResult {
            text: text.into(),
            model: "m".into(),
            input_tokens: None,
            output_tokens: None,
        })
    }

    #[test]
    fn keys_depend_on_plugin_version_and_request_but_not_the_idempotency_key() {
        let a = ResultCache::key("gemini", "1.0.0", "aa", &Operation::text("x"));
        assert_eq!(
            a,
            ResultCache::key("gemini", "1.0.0", "aa", &Operation::text("x"))
        );
        assert_ne!(
            a,
            ResultCache::key("gemini", "1.0.1", "aa", &Operation::text("x"))
        );
        assert_ne!(
            a,
            ResultCache::key("gemini", "1.0.0", "aa", &Operation::text("y"))
        );
        let video = |key: &str| {
            Operation::SubmitVideo(VideoRequest {
                prompt: "p".into(),
                first_frame: None,
                duration_seconds: Some(8),
                aspect_ratio: None,
                idempotency_key: key.into(),
            })
        };
        assert_eq!(
            ResultCache::key("v", "1", "s", &video("job-1:generate:0")),
            ResultCache::key("v", "1", "s", &video("job-2:generate:0"))
        );
        assert_eq!(
            ResultCache::key("v", "1", "s", &Operation::PollVideo("op".into())),
            None
        );
    }

    #[test]
    fn media_bytes_are_kept_beside_the_json_not_in_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ResultCache::new(dir.path().to_owned(), 1 << 20);
        let png = crate::provider::plugin::Image {
            mime_type: "image/png".into(),
            data: vec![0x89, b'P', b'N', b'G', 7, 7],
        };
        cache.put("img", &Answer::Image(png.clone()));
        assert_eq!(
            std::fs::read(dir.path().join("img.bin")).expect("bin"),
            png.data
        );
        assert!(
            std::fs::metadata(dir.path().join("img.json"))
                .expect("json")
                .len()
                < 100
        );
        match cache.get("img") {
            Some(Answer::Image(image)) => assert_eq!(image.data, png.data),
            other => panic!("{other:?}"),
        }
        std::fs::remove_file(dir.path().join("img.bin")).expect("rm");
        assert!(
            cache.get("img").is_none(),
            "JSON without its bytes is a miss"
        );
    }

    #[test]
    fn the_cache_stays_under_its_bound_dropping_the_least_recently_used() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ResultCache::new(dir.path().join("results"), 700);
        let long = "x".repeat(150);
        for index in 0..5 {
            cache.put(&format!("k{index}"), &answer(&long));
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(
                cache.get("k0").is_some(),
                "k0 is used after every put, so it stays"
            );
        }
        let total: u64 = std::fs::read_dir(dir.path().join("results"))
            .expect("dir")
            .flatten()
            .map(|entry| entry.metadata().expect("meta").len())
            .sum();
        assert!(total <= 700, "{total}");
        assert!(cache.get("k4").is_some(), "the newest entry stays");
        assert!(cache.get("k1").is_none(), "an old, unused entry went first");
    }
}
