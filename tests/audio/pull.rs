//! `chute models pull` against a local HTTP server: a verified download is installed
//! atomically, a wrong checksum installs nothing, a 503 is retried, a mirror replaces
//! the Hugging Face origin for known models.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// Serves `body` for every GET; the first `failures` requests get a 503 with a
/// Retry-After. Returns the base URL and the request paths seen.
fn serve(body: Vec<u8>, failures: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (index, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_owned();
            log.lock().unwrap().push(path);
            let response = if index < failures {
                b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            } else {
                let mut response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                response.extend_from_slice(&body);
                response
            };
            let _ = stream.write_all(&response);
        }
    });
    (base, seen)
}

fn sha256(bytes: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    chute::models::pull::sha256_file(file.path()).unwrap()
}

fn chute(models: &Path, config: Option<&Path>, args: &[&str]) -> (bool, String) {
    let mut command = Command::new(super::harness::BIN);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let output = command
        .args(args)
        .env("CHUTE_MODELS_DIR", models)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn models_pull_installs_only_verified_files() {
    let body: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let right = sha256(&body);
    let models = tempfile::tempdir().unwrap();

    // A 503 first: retried, then downloaded and verified.
    let (base, seen) = serve(body.clone(), 1);
    let url = format!("{base}/files/custom.gguf");
    let args = [
        "models",
        "pull",
        "--url",
        &url,
        "--sha256",
        &right,
        "--to",
        "gguf/custom.gguf",
    ];
    let (ok, text) = chute(models.path(), None, &args);
    assert!(ok, "{text}");
    assert!(text.contains("sha256 verified"), "{text}");
    assert_eq!(
        std::fs::read(models.path().join("gguf/custom.gguf")).unwrap(),
        body
    );
    assert_eq!(seen.lock().unwrap().len(), 2, "one 503, one retry");
    let (ok, text) = chute(models.path(), None, &args);
    assert!(ok && text.contains("already present"), "{text}");
    assert_eq!(seen.lock().unwrap().len(), 2, "nothing downloaded again");

    // A wrong checksum: refused, nothing installed, no partial file left.
    let wrong = "0".repeat(64);
    let args = [
        "models",
        "pull",
        "--url",
        &url,
        "--sha256",
        &wrong,
        "--to",
        "gguf/bad.gguf",
    ];
    let (ok, text) = chute(models.path(), None, &args);
    assert!(!ok, "{text}");
    assert!(
        text.contains("checksum mismatch") && text.contains(&right),
        "{text}"
    );
    assert_eq!(leftovers(&models.path().join("gguf")), ["custom.gguf"]);

    // A known model through a mirror: the catalog's checksum is enforced.
    let config = models.path().join("chute.toml");
    let (mirror, seen) = serve(b"not the whisper model".to_vec(), 0);
    std::fs::write(&config, format!("[models]\nmirror = \"{mirror}\"\n")).unwrap();
    let (ok, text) = chute(
        models.path(),
        Some(&config),
        &["models", "pull", "whisper-tiny.en"],
    );
    assert!(!ok, "{text}");
    assert!(text.contains("checksum mismatch"), "{text}");
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["/ggerganov/whisper.cpp/resolve/main/ggml-tiny.en.bin"]
    );
    assert!(!models.path().join("ggml/whisper-tiny.en.bin").exists());
    let (ok, text) = chute(models.path(), None, &["models", "pull", "no-such-model"]);
    assert!(!ok && text.contains("chute models list"), "{text}");
}
