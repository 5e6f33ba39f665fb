//! The compliance suite every shipped plugin passes, whatever API it speaks: what it
//! declares is valid and names the hosts it really calls, its base_url moves every
//! request, the failures all APIs share map to the same provider errors, and no
//! answer however broken makes it crash. A plugin added to plugins/ without a row
//! here fails the suite.

use std::time::Duration;

use chute::provider::Provider;
use chute::provider::allow::Allowlist;
use chute::provider::bindings::{
    Capability, Image, ImageRequest, Progress, ProviderError, SpeechRequest, VideoRequest,
};
use chute::provider::plugin::{Answer, CallFailure, Operation};
use chute_fakes::{
    Call, FakeElevenLabs, FakeGarbage, FakeGemini, FakeGoogleTts, FakeOpenAi, FakeSeedance,
    FakeWhisk, Fault, Faults, Flavor, Garbage, KeyMode, Seen,
};

use crate::harness::{call_once, error_kind, one_provider, shipped_names};

/// A plugin's fake API, whichever it is.
enum Api {
    Gemini(FakeGemini),
    ElevenLabs(FakeElevenLabs),
    GoogleTts(FakeGoogleTts),
    OpenAi(FakeOpenAi),
    Seedance(FakeSeedance),
    Whisk(FakeWhisk),
}

impl Api {
    fn url(&self) -> &str {
        match self {
            Api::Gemini(fake) => &fake.url,
            Api::ElevenLabs(fake) => &fake.url,
            Api::GoogleTts(fake) => &fake.url,
            Api::OpenAi(fake) => &fake.url,
            Api::Seedance(fake) => &fake.url,
            Api::Whisk(fake) => &fake.url,
        }
    }

    fn faults(&self) -> &Faults {
        match self {
            Api::Gemini(fake) => fake.faults(),
            Api::ElevenLabs(fake) => fake.faults(),
            Api::GoogleTts(fake) => fake.faults(),
            Api::OpenAi(fake) => fake.faults(),
            Api::Seedance(fake) => fake.faults(),
            Api::Whisk(fake) => fake.faults(),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        match self {
            Api::Gemini(fake) => fake.seen(),
            Api::ElevenLabs(fake) => fake.seen(),
            Api::GoogleTts(fake) => fake.seen(),
            Api::OpenAi(fake) => fake.seen(),
            Api::Seedance(fake) => fake.seen(),
            Api::Whisk(fake) => fake.seen(),
        }
    }
}

/// One shipped plugin: its fake (accepting `keys`), the settings it runs with there,
/// and one call per capability.
struct Subject {
    api: Api,
    settings: &'static str,
    /// A setting naming a second origin of the API, and the fake's.
    second_origin: Option<(&'static str, String)>,
    calls: Vec<(Call, Operation)>,
}

impl Subject {
    /// The settings with the second origin on the fake (or on `instead`), listed in
    /// `allow_hosts`.
    fn settings(&self, instead: Option<&str>) -> String {
        match &self.second_origin {
            // The second origin is another port: reachable only when listed.
            Some((name, url)) => {
                let target = instead.unwrap_or(url);
                format!(
                    "{}{name} = \"{target}\"\nallow_hosts = [\"{target}\"]\n",
                    self.settings
                )
            }
            None => self.settings.to_owned(),
        }
    }
}

fn image() -> Operation {
    Operation::Image(ImageRequest {
        prompt: "A coffee cup on a wooden table, morning light".into(),
        references: Vec::new(),
        aspect_ratio: Some("9:16".into()),
    })
}

fn speech() -> Operation {
    Operation::Speak(SpeechRequest {
        text: "Fresh coffee, every morning.".into(),
        voice: None,
        language: Some("en-US".into()),
    })
}

fn video() -> Operation {
    Operation::SubmitVideo(VideoRequest {
        prompt: "Slow dolly-in on a coffee cup".into(),
        first_frame: Some(Image {
            mime_type: "image/png".into(),
            // Seedance refuses frames under 300 px a side.
            data: chute_fakes::media::png(360, 640, "first"),
        }),
        duration_seconds: Some(8),
        aspect_ratio: Some("9:16".into()),
        idempotency_key: "compliance:clip:1".into(),
    })
}

/// The row of `plugin`; a shipped plugin without one fails here.
async fn subject(plugin: &str, keys: &[&str]) -> Subject {
    let known: Vec<(&str, KeyMode)> = keys.iter().map(|key| (*key, KeyMode::Valid)).collect();
    match plugin {
        "gemini" => Subject {
            api: Api::Gemini(FakeGemini::start(&known).await),
            second_origin: None,
            settings: "model = \"gemini-test-flash\"\nimage_model = \"gemini-test-flash-image\"\ntts_model = \"gemini-test-flash-tts\"\n",
            calls: vec![
                (Call::Text, Operation::text("One line about coffee.")),
                (Call::Image, image()),
                (Call::Speech, speech()),
            ],
        },
        "veo" => Subject {
            api: Api::Gemini(FakeGemini::start(&known).await),
            second_origin: None,
            settings: "model = \"veo-3.1-test-preview\"\npoll_ms = \"250\"\n",
            calls: vec![(Call::Submit, video())],
        },
        "elevenlabs" => Subject {
            api: Api::ElevenLabs(FakeElevenLabs::start(&known).await),
            second_origin: None,
            settings: "output_format = \"pcm_16000\"\n",
            calls: vec![(Call::Speech, speech())],
        },
        "google-tts" => Subject {
            api: Api::GoogleTts(FakeGoogleTts::start(&known).await),
            second_origin: None,
            settings: "",
            calls: vec![(Call::Speech, speech())],
        },
        "openai" => Subject {
            api: Api::OpenAi(FakeOpenAi::start(Flavor::OpenAi, &known).await),
            second_origin: None,
            settings: "model = \"gpt-4.1-mini\"\n",
            calls: vec![
                (Call::Text, Operation::text("One line about coffee.")),
                (Call::Speech, speech()),
            ],
        },
        "seedance" => Subject {
            api: Api::Seedance(FakeSeedance::start(&known).await),
            second_origin: None,
            settings: "model = \"seedance-1-0-pro-fast-251015\"\npoll_ms = \"250\"\n",
            calls: vec![(Call::Submit, video())],
        },
        "whisk" => {
            let fake = FakeWhisk::start(&known).await;
            let api_url = fake.api_url.clone();
            Subject {
                api: Api::Whisk(fake),
                second_origin: Some(("api_base_url", api_url)),
                // Shipped disabled: the operator turns it on.
                settings: "enabled = true\n",
                calls: vec![(Call::Image, image())],
            }
        }
        other => panic!(
            "the shipped plugin {other} has no compliance row: add its fake and one call per capability to tests/plugins/compliance.rs"
        ),
    }
}

/// Every plugin chute ships.
fn shipped() -> Vec<String> {
    let names = shipped_names();
    assert!(names.len() >= 4, "{names:?}");
    names
}

fn capability_of(call: Call) -> Capability {
    match call {
        Call::Text => Capability::Text,
        Call::Image => Capability::Image,
        Call::Speech => Capability::Speech,
        _ => Capability::Video,
    }
}

/// Whether the host's own allowlist, built from `declared` alone, lets a request to
/// `https://host/` through.
fn declared_covers(declared: &[String], host: &str) -> bool {
    let url = reqwest::Url::parse(&format!("https://{host}/")).expect("a host");
    Allowlist::new(declared, &[], None, &[]).check(&url).is_ok()
}

/// A successful call's answer, for the operations the suite makes.
async fn succeeds(provider: &Provider, operation: Operation) -> Answer {
    match call_once(provider, operation).await {
        Ok(answer) => answer,
        Err(failure) => panic!("{}: {failure}", provider.name),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_plugin_declares_what_it_does_and_calls_only_its_declared_hosts() {
    for plugin in shipped() {
        let subject = subject(&plugin, &["compliance-key-000000000000"]).await;
        let (_spool, providers) = one_provider(
            &plugin,
            subject.api.url(),
            &["compliance-key-000000000000"],
            &subject.settings(None),
        )
        .await;
        let provider = providers.get(&plugin).unwrap();
        let info = &provider.info;
        assert_eq!(info.name, plugin, "describe() names another plugin");
        let version: Vec<&str> = info.version.split('.').collect();
        assert!(
            version.len() == 3 && version.iter().all(|part| part.parse::<u32>().is_ok()),
            "{plugin}: version {} is not x.y.z",
            info.version
        );
        assert!(
            !matches!(info.auth, chute::provider::plugin::Auth::None),
            "{plugin} declares no auth"
        );
        assert!(!info.hosts.is_empty(), "{plugin} declares no hosts");
        let mut declared_capabilities: Vec<String> = info
            .capabilities
            .iter()
            .map(|capability| format!("{capability:?}"))
            .collect();
        let mut exercised: Vec<String> = subject
            .calls
            .iter()
            .map(|(call, _)| format!("{:?}", capability_of(*call)))
            .collect();
        declared_capabilities.sort();
        exercised.sort();
        assert_eq!(
            declared_capabilities, exercised,
            "{plugin}: the suite calls every declared capability, and only those"
        );

        // With base_url on the fake, every call succeeds there: no request goes
        // anywhere else (it would be refused: the fake's host is the only one added).
        for (_, operation) in subject.calls {
            succeeds(provider, operation).await;
        }
        let seen = subject.api.seen();
        assert!(!seen.is_empty(), "{plugin} sent nothing to its base_url");
        assert!(
            seen.iter().all(|request| request.status < 400),
            "{plugin}: {seen:?}"
        );

        // Without base_url (so without keys: a key needs an origin the operator named)
        // and with the allowlist narrowed to nothing, each call's first request is
        // refused before it leaves the host: its host must be one the plugin declared.
        let (_spool, providers) = one_provider(
            &plugin,
            "",
            &[],
            &format!(
                "{}allow_hosts = [\"compliance-probe.invalid\"]\n",
                subject.settings
            ),
        )
        .await;
        let narrowed = providers.get(&plugin).unwrap();
        let calls = self::subject(&plugin, &[]).await.calls;
        for (call, operation) in calls {
            let failure = call_once(narrowed, operation)
                .await
                .expect_err("nothing may leave the host");
            let CallFailure::Provider(error) = &failure else {
                panic!("{plugin} {call:?}: {failure}")
            };
            let (_, message) = error_kind(error);
            let host = message
                .split("the host refused: ")
                .nth(1)
                .and_then(|rest| rest.split(" is not on this plugin's allowlist").next())
                .unwrap_or_else(|| {
                    panic!("{plugin} {call:?}: not an allowlist refusal: {message}")
                });
            assert!(
                declared_covers(&info.hosts, host),
                "{plugin} {call:?} calls {host}, which it does not declare ({:?})",
                info.hosts
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_failures_every_api_shares_map_to_the_same_provider_errors() {
    // Rate limits rest a key and refusals disable it: a fresh key per row.
    let keys: Vec<String> = (0..8)
        .map(|n| format!("compliance-row-key-{n:02}-0000000000"))
        .collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    for plugin in shipped() {
        let subject = subject(&plugin, &keys).await;
        for (call, operation) in &subject.calls {
            let table: Vec<(Fault, &str)> = vec![
                (Fault::RateLimited(Duration::from_secs(7)), "rate-limited"),
                (Fault::QuotaExhausted, "quota-exhausted"),
                (Fault::Unauthorized, "unauthorized"),
                (Fault::Forbidden, "unauthorized"),
                (Fault::Internal, "unavailable"),
                (Fault::Unavailable, "unavailable"),
            ];
            for (row, (fault, want)) in table.into_iter().enumerate() {
                let (_spool, providers) = one_provider(
                    &plugin,
                    subject.api.url(),
                    &[keys[row]],
                    &subject.settings(None),
                )
                .await;
                let provider = providers.get(&plugin).unwrap();
                subject.api.faults().script_for(*call, [fault.clone()]);
                let failure = call_once(provider, operation.clone())
                    .await
                    .expect_err("the fault fails the call");
                let CallFailure::Provider(error) = &failure else {
                    panic!(
                        "{plugin} {call:?} {fault:?}: the plugin failed instead of mapping: {failure}"
                    )
                };
                let (got, message) = error_kind(error);
                assert_eq!(got, want, "{plugin} {call:?} {fault:?}: {message}");
                if let ProviderError::RateLimited(hint) = error {
                    assert!(
                        hint.is_some_and(|ms| (6_000..=8_000).contains(&ms)),
                        "{plugin} {call:?}: the 7 s retry hint became {hint:?}"
                    );
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_however_broken_makes_a_plugin_crash() {
    let garbage = FakeGarbage::start().await;
    // A 429 rests the key it came on: spares keep the next case going.
    let keys: Vec<String> = (0..4)
        .map(|n| format!("compliance-garbage-key-{n}-000000000"))
        .collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    for plugin in shipped() {
        let subject = subject(&plugin, &["compliance-key-000000000000"]).await;
        let (_spool, providers) = one_provider(
            &plugin,
            &garbage.url,
            &keys,
            &subject.settings(Some(&garbage.url)),
        )
        .await;
        let provider = providers.get(&plugin).unwrap();
        // A saved video state, from the real fake, to poll against the garbage.
        let mut states = Vec::new();
        if subject.calls.iter().any(|(call, _)| *call == Call::Submit) {
            let (_spool, real) = one_provider(
                &plugin,
                subject.api.url(),
                &["compliance-key-000000000000"],
                &subject.settings(None),
            )
            .await;
            match succeeds(real.get(&plugin).unwrap(), video()).await {
                Answer::Progress(Progress::Pending(pending)) => states.push(pending.state),
                other => panic!("{plugin}: a submit answered {other:?}"),
            }
        }
        for case in Garbage::all() {
            garbage.answer(case.clone());
            for (call, operation) in &subject.calls {
                match call_once(provider, operation.clone()).await {
                    Err(CallFailure::Provider(_)) => {}
                    other => panic!(
                        "{plugin} {call:?} on {}: expected a provider error, got {other:?}",
                        case.name
                    ),
                }
            }
            for state in &states {
                // An operation answer without `done` is legitimately still running;
                // anything else must be a provider error, never a crash.
                match call_once(provider, Operation::PollVideo(state.clone())).await {
                    Err(CallFailure::Provider(_)) | Ok(Answer::Progress(Progress::Pending(_))) => {}
                    other => panic!("{plugin} poll on {}: {other:?}", case.name),
                }
            }
        }
        // Saved states are plugin-written but stored on disk: a damaged one is refused.
        if !states.is_empty() {
            let long = "x".repeat(100_000);
            for damaged in ["", "../../etc/passwd", "\u{0}\n", long.as_str()] {
                match call_once(provider, Operation::PollVideo(damaged.into())).await {
                    Err(CallFailure::Provider(_)) => {}
                    other => panic!("{plugin} poll of the damaged state {damaged:.40?}: {other:?}"),
                }
            }
        }
    }
    assert!(!garbage.seen().is_empty());
}
