//! `chute-fakes --port N`: every provider fake on one loopback port (the storage
//! origin downloads redirect to on the next one), for trying chute by hand without
//! keys. Point each provider's `base_url` at `http://127.0.0.1:N`.

use clap::Parser;

use chute_fakes::server::{self, Fake};
use chute_fakes::{
    FakeElevenLabs, FakeGemini, FakeGoogleTts, FakeOpenAi, FakeSeedance, FakeWhisk, Flavor, Keys,
    Recorder,
};

/// Serve local fakes of the provider APIs.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The port of the APIs; result files are served on the next port.
    #[arg(long, default_value_t = 8089)]
    port: u16,
    /// Accept only these keys (repeat); by default any non-empty key is accepted.
    #[arg(long = "key")]
    keys: Vec<String>,
    /// Log every request to stderr.
    #[arg(long)]
    verbose: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let keys = if args.keys.is_empty() {
        Keys::any()
    } else {
        let known: Vec<(&str, chute_fakes::KeyMode)> = args
            .keys
            .iter()
            .map(|key| (key.as_str(), chute_fakes::KeyMode::Valid))
            .collect();
        Keys::new(&known)
    };
    let storage_port = args.port.checked_add(1).unwrap_or(0);
    let (api_listener, api) = server::bind(args.port).await?;
    let (storage_listener, storage) = server::bind(storage_port).await?;
    let elevenlabs = FakeElevenLabs::detached(keys.clone());
    let google_tts = FakeGoogleTts::detached(keys.clone());
    let whisk = FakeWhisk::detached(keys.clone());
    let seedance = FakeSeedance::detached(keys.clone())
        .set_origins(&format!("http://{api}"), &format!("http://{storage}"));
    let openai = FakeOpenAi::detached(Flavor::OpenAi, keys.clone(), true);
    let openrouter = FakeOpenAi::detached(Flavor::OpenRouter, keys.clone(), true);
    let gemini = FakeGemini::detached(keys)
        .set_origins(&format!("http://{api}"), &format!("http://{storage}"));
    let recorder: Recorder = gemini.recorder().clone();
    // Their paths do not collide: /v1beta/ (Gemini), /v1/text-to-speech/ (ElevenLabs),
    // /v1/text:synthesize (Cloud TTS), /v1/chat/completions, /v1/audio/speech and
    // /v1/models (OpenAI), /api/v1/… (OpenRouter), /api/v3/ (Seedance on Ark), /fx/api/
    // and /v1/whisk: (Whisk's two origins; set its api_base_url to the same address; any
    // cookie mints a Whisk token); on the storage port, /blobs/ (Gemini files) and
    // /ark-content-generation-…/ (Ark's TOS links).
    let apis: Vec<std::sync::Arc<dyn Fake>> = vec![
        gemini.api(),
        elevenlabs.api(),
        google_tts.api(),
        whisk.labs(),
        whisk.api(),
        seedance.api(),
        openai.api(),
        openrouter.api(),
    ];
    server::serve(api_listener, apis, recorder.clone());
    server::serve(
        storage_listener,
        vec![gemini.storage(), seedance.storage()],
        recorder.clone(),
    );
    eprintln!(
        "chute-fakes: APIs on http://{api} (gemini, veo, elevenlabs, google-tts, openai, seedance, whisk; openrouter under /api/v1); result files on http://{storage}"
    );
    eprintln!("set base_url = \"http://{api}\" in each [providers.NAME] table; Ctrl-C stops");
    let mut shown = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
        }
        if args.verbose {
            let seen = recorder.all();
            for request in &seen[shown.min(seen.len())..] {
                eprintln!(
                    "{} {} {} -> {} ({})",
                    request.origin,
                    request.method,
                    request.path,
                    request.status,
                    request.fingerprint.as_deref().unwrap_or("no key")
                );
            }
            shown = seen.len();
        }
    }
}
