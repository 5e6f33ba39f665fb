//! A `generate` request per capability through every shipped plugin, end to end
//! through the daemon: the plugins installed by the set-up script into a shipped
//! folder (not the spool's), each provider pointed at its fake, one request file per
//! (provider, kind) dropped into a `make` route, and every answer delivered as a file
//! of its kind, served by the provider it named, with no key anywhere in the spool or
//! the log.

use chute_fakes::{
    FakeElevenLabs, FakeGemini, FakeGoogleTts, FakeOpenAi, FakeSeedance, FakeWhisk, Flavor, KeyMode,
};

use crate::harness::{all_files, contains, install_shipped};
use crate::spool_harness::{Config, Route, Spool, secs};

const GEMINI_KEY: &str = "AIzaSyFAKE-generate-every-kind-0000000";
const ELEVENLABS_KEY: &str = "sk_fake_generate_every_kind_000000000";
const GOOGLE_TTS_KEY: &str = "AIzaSyFAKE-generate-cloud-tts-0000000";
const OPENAI_KEY: &str = "sk-proj-FAKE-generate-every-kind-000000";
const SEEDANCE_KEY: &str = "ark-fake-generate-every-kind-00000000";
const WHISK_COOKIE: &str = "__Secure-next-auth.session-token=fake-generate-0000";

/// One request: the provider, the kind, and the file its answer must be.
struct Ask {
    provider: &'static str,
    kind: &'static str,
    file: &'static str,
    magic: &'static [u8],
}

const ASKS: &[Ask] = &[
    Ask {
        provider: "gemini",
        kind: "text",
        file: "answer.txt",
        magic: b"",
    },
    Ask {
        provider: "gemini",
        kind: "image",
        file: "image.png",
        magic: b"\x89PNG",
    },
    Ask {
        provider: "gemini",
        kind: "speech",
        file: "speech.wav",
        magic: b"RIFF",
    },
    Ask {
        provider: "veo",
        kind: "video",
        file: "video.mp4",
        magic: b"",
    },
    Ask {
        provider: "elevenlabs",
        kind: "speech",
        file: "speech.mp3",
        magic: b"",
    },
    Ask {
        provider: "google-tts",
        kind: "speech",
        file: "speech.wav",
        magic: b"RIFF",
    },
    Ask {
        provider: "openai",
        kind: "text",
        file: "answer.txt",
        magic: b"",
    },
    Ask {
        provider: "openai",
        kind: "speech",
        file: "speech.wav",
        magic: b"RIFF",
    },
    Ask {
        provider: "seedance",
        kind: "video",
        file: "video.mp4",
        magic: b"",
    },
    Ask {
        provider: "whisk",
        kind: "image",
        file: "image.png",
        magic: b"\x89PNG",
    },
];

/// A provider table pointed at `url` with `key` (in a file outside the spool).
fn table(spool: &Spool, name: &str, url: &str, key: &str, settings: &str) -> String {
    let key_file = spool.outside.join(format!("{name}.key"));
    std::fs::write(&key_file, key).unwrap();
    format!(
        "[providers.{name}]\nbase_url = \"{url}\"\nkeys = [\"file:{}\"]\n{settings}\n",
        key_file.display()
    )
}

#[test]
fn a_generate_request_per_capability_is_served_by_each_shipped_plugin() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let gemini = runtime.block_on(FakeGemini::start(&[(GEMINI_KEY, KeyMode::Valid)]));
    gemini.polls_until_done(1);
    let elevenlabs = runtime.block_on(FakeElevenLabs::start(&[(ELEVENLABS_KEY, KeyMode::Valid)]));
    let google_tts = runtime.block_on(FakeGoogleTts::start(&[(GOOGLE_TTS_KEY, KeyMode::Valid)]));
    let openai = runtime.block_on(FakeOpenAi::start(
        Flavor::OpenAi,
        &[(OPENAI_KEY, KeyMode::Valid)],
    ));
    let seedance = runtime.block_on(FakeSeedance::start(&[(SEEDANCE_KEY, KeyMode::Valid)]));
    seedance.polls_until_done(1);
    let whisk = runtime.block_on(FakeWhisk::start(&[(WHISK_COOKIE, KeyMode::Valid)]));

    let mut config = Config::with_route(Route {
        pipeline: "generate".into(),
        ..Route::passthrough("make")
    });
    let spool = Spool::new(&config);
    let shipped = spool.outside.join("shipped");
    install_shipped(&shipped);
    config.extra = format!(
        "[plugins]\nshipped_dir = \"{}\"\ncall_timeout = \"30s\"\n\n{}{}{}{}{}{}{}",
        shipped.display(),
        table(
            &spool,
            "gemini",
            &gemini.url,
            GEMINI_KEY,
            "model = \"gemini-test-flash\"\nimage_model = \"gemini-test-flash-image\"\ntts_model = \"gemini-test-flash-tts\"",
        ),
        table(
            &spool,
            "veo",
            &gemini.url,
            GEMINI_KEY,
            &format!("poll_ms = \"200\"\n{}", gemini.allow_hosts())
        ),
        table(&spool, "elevenlabs", &elevenlabs.url, ELEVENLABS_KEY, ""),
        table(&spool, "google-tts", &google_tts.url, GOOGLE_TTS_KEY, ""),
        table(
            &spool,
            "openai",
            &openai.url,
            OPENAI_KEY,
            "model = \"gpt-4.1-mini\"",
        ),
        table(
            &spool,
            "seedance",
            &seedance.url,
            SEEDANCE_KEY,
            &format!("poll_ms = \"200\"\n{}", seedance.allow_hosts())
        ),
        // Whisk ships disabled: its manifest came along with the install.
        table(
            &spool,
            "whisk",
            &whisk.url,
            WHISK_COOKIE,
            &format!(
                "enabled = true\napi_base_url = \"{}\"\n{}",
                whisk.api_url,
                whisk.allow_hosts()
            ),
        ),
    );
    spool.write_config(&config);
    let daemon = spool.start_daemon();
    for ask in ASKS {
        let request = format!(
            "kind = \"{}\"\nprompt = \"Fresh coffee, roasted every morning.\"\nproviders = [\"{}\"]\n",
            ask.kind, ask.provider
        );
        spool.drop_file(
            "make",
            format!("{}-{}.toml", ask.provider, ask.kind),
            request.as_bytes(),
        );
    }
    spool.wait_until(secs(120), "every request to end", || {
        spool.delivered_count("make") + spool.failed_count("make") == ASKS.len()
    });
    let log = daemon.log();
    daemon.terminate(secs(10));
    assert_eq!(
        spool.delivered_count("make"),
        ASKS.len(),
        "{}\n{log}",
        spool.summary()
    );
    let deliveries = spool.deliveries("make");
    for ask in ASKS {
        let name = format!("{}-{}", ask.provider, ask.kind);
        let delivered = deliveries
            .iter()
            .find(|outcome| outcome.folder.to_string_lossy().starts_with(&name))
            .unwrap_or_else(|| panic!("{name} was not delivered"));
        let bytes = std::fs::read(delivered.dir.join(ask.file)).unwrap_or_else(|error| {
            let present: Vec<String> = std::fs::read_dir(&delivered.dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            panic!("{name}: no {} ({error}), only {present:?}", ask.file)
        });
        assert!(
            bytes.len() > 16,
            "{name}: {} holds {} bytes",
            ask.file,
            bytes.len()
        );
        assert!(
            bytes.starts_with(ask.magic),
            "{name}: {} is not what it says",
            ask.file
        );
        if ask.file.ends_with(".mp4") {
            assert_eq!(bytes.get(4..8), Some(&b"ftyp"[..]), "{name}");
        }
        if ask.file.ends_with(".mp3") {
            assert!(bytes.starts_with(b"ID3") || bytes[0] == 0xff, "{name}");
        }
        let stage = delivered.record["stages"]
            .as_array()
            .and_then(|stages| stages.iter().find(|stage| stage["name"] == "generate"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            stage["outputs"]["provider"], ask.provider,
            "{name}: {stage}"
        );
    }
    // Each fake saw its requests; none of them (nor the plugins) left a key behind.
    assert!(gemini.seen().len() >= 5);
    for seen in [
        elevenlabs.seen(),
        google_tts.seen(),
        seedance.seen(),
        whisk.seen(),
    ] {
        assert!(!seen.is_empty());
    }
    let files = all_files(&spool.root);
    for key in [
        GEMINI_KEY,
        ELEVENLABS_KEY,
        GOOGLE_TTS_KEY,
        OPENAI_KEY,
        SEEDANCE_KEY,
        WHISK_COOKIE,
    ] {
        assert!(!log.contains(key), "a key is in the log");
        for (path, bytes) in &files {
            assert!(!contains(bytes, key.as_bytes()), "a key is in {path}");
        }
    }
}
