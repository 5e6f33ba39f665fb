//! A plugin that misbehaves on request, to prove the host contains it. The prompt
//! names the misdeed:
//! - `loop`: spin forever;
//! - `bomb`: allocate without bound;
//! - `trap`: panic;
//! - `snoop`: try files, the environment, sockets and the clock; report what worked;
//! - `fetch <url>`: ask the host for any URL, and answer with everything that came
//!   back (status, headers, body);
//! - `flood <url>`: ask for the URL 100 times in one call and count what was let out;
//! - `random <bytes>`: ask WASI for that many random bytes at once;
//! - `upload <url>`: POST 2 MiB to a URL;
//! - `steal-header <name>`: set a credential header and send a request to the fake;
//! - `big`: return a very large answer;
//! - `chatty`: write 5,000 log lines, then answer;
//! - `forge`: log, and fail with, text that would forge a log line (a newline, a fake
//!   timestamp and level, terminal escapes, direction controls) and run on for pages.
//!
//! Its `generate-image` returns garbage: HTML labelled as a PNG. Its key scheme is
//! `header(x-goog-api-key)` unless the `hostile_auth` setting says `header:NAME`,
//! `query:NAME` or `bearer`.

use chute_plugin_sdk::host::{self, Request};
use chute_plugin_sdk::*;

struct Hostile;

/// Log lines the `chatty` misdeed writes.
const CHATTY_LINES: usize = 5_000;

impl Provider for Hostile {
    fn describe() -> Info {
        let mut info = Info::new("hostile", env!("CARGO_PKG_VERSION"), &[Capability::Text]);
        info.hosts = vec!["127.0.0.1".into()];
        info.auth = match config("hostile_auth")
            .as_deref()
            .map(|auth| auth.split_once(':'))
        {
            Some(Some(("header", name))) => Auth::Header(name.into()),
            Some(Some(("query", name))) => Auth::Query(name.into()),
            Some(None) => Auth::Bearer,
            _ => Auth::Header("x-goog-api-key".into()),
        };
        info.capabilities.push(Capability::Image);
        info
    }

    fn generate_text(req: TextRequest) -> Result<TextResult, ProviderError> {
        let mut words = req.prompt.splitn(2, ' ');
        let verb = words.next().unwrap_or_default();
        let arg = words.next().unwrap_or_default().to_string();
        let text = match verb {
            "loop" => spin(),
            "bomb" => bomb(),
            "trap" => panic!("the hostile plugin panics on purpose"),
            "snoop" => snoop(),
            "fetch" => fetch(&arg, Vec::new()),
            "flood" => flood(&arg),
            "random" => {
                let wanted: u64 = arg.parse().unwrap_or(1 << 20);
                let bytes = wasip2::random::random::get_random_bytes(wanted);
                format!("got {} random bytes", bytes.len())
            }
            "upload" => send("POST", &arg, Vec::new(), vec![b'u'; 2 << 20]),
            "steal-header" => {
                let url = config("base_url").unwrap_or_default();
                fetch(&url, vec![(arg, "stolen".into())])
            }
            "big" => "x".repeat(64 << 20),
            "forge" => {
                let forged = format!(
                    "upstream said no\n2026-11-26T00:00:00.000000Z ERROR chute: FORGED by the plugin\u{1b}[2J\u{202e}{}",
                    "x".repeat(20_000)
                );
                log(Level::Warn, &forged);
                return Err(ProviderError::Unavailable(forged));
            }
            "chatty" => {
                for line in 0..CHATTY_LINES {
                    log(Level::Info, &format!("chatty line {line}"));
                }
                format!("logged {CHATTY_LINES} lines")
            }
            other => {
                return Err(ProviderError::BadRequest(format!(
                    "unknown misdeed {other:?}"
                )));
            }
        };
        Ok(TextResult {
            text,
            model: "hostile".into(),
            input_tokens: None,
            output_tokens: None,
        })
    }

    fn generate_image(_req: ImageRequest) -> Result<Image, ProviderError> {
        Ok(Image {
            mime_type: "image/png".into(),
            data: b"<html>not an image</html>".to_vec(),
        })
    }
}

fn spin() -> String {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

fn bomb() -> String {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

/// Every way out of the sandbox a plugin might try, and whether it worked.
fn snoop() -> String {
    let mut found = Vec::new();
    for path in ["/etc/passwd", "/proc/self/environ", ".", "/"] {
        if std::fs::read(path).is_ok() || std::fs::read_dir(path).is_ok() {
            found.push(format!("file:{path}"));
        }
    }
    if std::fs::write("escape.txt", b"x").is_ok() {
        found.push("write:escape.txt".into());
    }
    for (key, _) in std::env::vars() {
        found.push(format!("env:{key}"));
    }
    if std::env::args().count() > 0 {
        found.push("args".into());
    }
    if std::net::TcpStream::connect("127.0.0.1:1").is_ok()
        || std::net::TcpListener::bind("127.0.0.1:0").is_ok()
    {
        found.push("socket".into());
    }
    found.join(",")
}

fn fetch(url: &str, headers: Vec<(String, String)>) -> String {
    send("GET", url, headers, Vec::new())
}

fn send(method: &str, url: &str, headers: Vec<(String, String)>, body: Vec<u8>) -> String {
    let request = Request {
        method: method.into(),
        url: url.into(),
        headers,
        body,
    };
    match host::send(&request) {
        Ok(response) => {
            let headers: Vec<String> = response
                .headers
                .iter()
                .map(|(name, value)| format!("{name}: {value}"))
                .collect();
            format!(
                "status {}\n{}\n{}",
                response.status,
                headers.join("\n"),
                String::from_utf8_lossy(&response.body)
            )
        }
        Err(error) => format!("error {error:?}"),
    }
}

/// Asks for `url` 100 times; says how many requests the host let out.
fn flood(url: &str) -> String {
    let mut sent = 0;
    let mut refused = 0;
    for _ in 0..100 {
        let request = Request {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        match host::send(&request) {
            Ok(_) => sent += 1,
            Err(_) => refused += 1,
        }
    }
    format!("sent {sent}, refused {refused}")
}

export!(Hostile);
