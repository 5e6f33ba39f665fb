//! `chute doctor`: checks what chute needs — GStreamer elements, models, the spool's
//! disk, inotify limits — and says what to do about each problem.

use gstreamer as gst;

use super::{Cli, CliError};
use crate::spool::{Spool, disk};

mod models;

/// Elements the decode stage needs (at least one of each group).
const ELEMENT_GROUPS: &[(&str, &[&str])] = &[
    (
        "core",
        &[
            "filesrc",
            "decodebin",
            "audioconvert",
            "audioresample",
            "appsink",
            "typefind",
        ],
    ),
    ("wav", &["wavparse"]),
    ("mp3", &["mpg123audiodec", "avdec_mp3"]),
    ("ogg", &["oggdemux"]),
    ("vorbis", &["vorbisdec"]),
    ("opus", &["opusdec"]),
    ("flac", &["flacdec", "avdec_flac"]),
    ("m4a/mp4", &["qtdemux"]),
    ("aac", &["avdec_aac", "faad", "fdkaacdec"]),
    ("webm/mkv", &["matroskademux"]),
];

/// What the sales-video render needs from GStreamer: what it is for, the elements
/// (all of them, or any one when `any`), and the Debian packages that bring them.
const RENDER_ELEMENTS: &[(&str, &[&str], bool, &str)] = &[
    (
        "H.264 encoder",
        &["x264enc"],
        false,
        "gstreamer1.0-plugins-ugly",
    ),
    ("caption overlay", &["textoverlay"], false, "gstreamer1.0-x"),
    (
        "AAC encoder",
        &["avenc_aac", "voaacenc"],
        true,
        "gstreamer1.0-libav",
    ),
    (
        "MP4 output",
        &["mp4mux", "h264parse"],
        false,
        "gstreamer1.0-plugins-good and gstreamer1.0-plugins-bad",
    ),
    (
        "frames in and out",
        &["appsrc", "queue", "capsfilter", "videoconvert"],
        false,
        "gstreamer1.0-plugins-base",
    ),
    (
        "cards and thumbnails",
        &["pngenc"],
        false,
        "gstreamer1.0-plugins-good",
    ),
    (
        "H.264 clip decoder",
        &["avdec_h264", "openh264dec"],
        true,
        "gstreamer1.0-libav",
    ),
    (
        "scene composition",
        &[
            "compositor",
            "imagefreeze",
            "videoscale",
            "videorate",
            "videobox",
        ],
        false,
        "gstreamer1.0-plugins-base, -good and -bad",
    ),
];

/// Checks the render's GStreamer elements, one line per need with its package.
fn check_render_elements(check: &mut impl FnMut(bool, String, &str)) {
    for (purpose, elements, any, package) in RENDER_ELEMENTS {
        let missing: Vec<&str> = elements
            .iter()
            .copied()
            .filter(|name| gst::ElementFactory::find(name).is_none())
            .collect();
        let ok = if *any {
            missing.len() < elements.len()
        } else {
            missing.is_empty()
        };
        let what = if ok {
            format!("render {purpose}: {}", elements.join(", "))
        } else {
            format!("render {purpose}: missing {}", missing.join(", "))
        };
        check(ok, what, &format!("install {package} (apt)"));
    }
}

/// Checks that fontconfig knows a font covering Vietnamese for burned-in captions.
fn check_caption_font(check: &mut impl FnMut(bool, String, &str)) {
    let families = std::process::Command::new("fc-list")
        .args([":lang=vi", "family"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    let mut names: Vec<&str> = families
        .lines()
        .filter_map(|line| line.split(',').next())
        .filter(|name| !name.trim().is_empty())
        .collect();
    names.sort_unstable();
    names.dedup();
    let noto = names.iter().any(|name| name.starts_with("Noto Sans"));
    check(
        noto,
        if names.is_empty() {
            "caption font: no font covers Vietnamese (fontconfig)".to_owned()
        } else {
            format!(
                "caption font: {} of {} fonts covering Vietnamese",
                if noto { "Noto Sans" } else { "not Noto Sans" },
                names.len()
            )
        },
        "install fonts-noto-core and fontconfig (apt): captions are drawn in Noto Sans",
    );
    // Chinese and Japanese captions need a CJK font; most briefs never ask for one.
    let cjk = std::process::Command::new("fc-list")
        .args([":lang=zh", "family"])
        .output()
        .is_ok_and(|output| !output.stdout.is_empty());
    if !cjk {
        println!(
            "info  no font covers Chinese or Japanese: such captions would show boxes (install fonts-noto-cjk)"
        );
    }
}

/// Starts the trampoline children start through (`chute confine --probe`) and says
/// what the kernel granted: a warning when Landlock or seccomp is missing (children
/// still run), a failure when children cannot be started confined at all.
fn check_confinement(check: &mut impl FnMut(bool, String, &str)) {
    let remedy = "children that read untrusted files cannot start: run `chute confine --cpu-seconds 10 --file-size 0 --probe` to see why";
    let probed = crate::confine::own_executable()
        .map_err(|error| error.to_string())
        .and_then(|executable| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?
                .block_on(crate::confine::probe(&executable))
                .map_err(|error| error.to_string())
        });
    match probed {
        Ok(achieved) => match achieved.remedy() {
            None => check(true, format!("children: confined ({achieved})"), ""),
            Some(missing) => {
                println!("warn  children: partly confined ({achieved})\n      -> {missing}")
            }
        },
        Err(error) => check(
            false,
            format!("children: cannot be confined: {error}"),
            remedy,
        ),
    }
}

/// Runs every check, prints one line per check, fails (exit 1) if any check failed.
pub fn execute(cli: &Cli) -> Result<(), CliError> {
    let config = cli.load_config()?;
    let mut problems = 0;
    let mut check = |ok: bool, what: String, remedy: &str| {
        if ok {
            println!("ok    {what}");
        } else {
            problems += 1;
            println!("FAIL  {what}\n      -> {remedy}");
        }
    };

    match gst::init() {
        Ok(()) => {
            let (major, minor, micro, _) = gst::version();
            check(true, format!("GStreamer {major}.{minor}.{micro}"), "");
            for (group, elements) in ELEMENT_GROUPS {
                let core = *group == "core";
                let present: Vec<&str> = elements
                    .iter()
                    .copied()
                    .filter(|name| gst::ElementFactory::find(name).is_some())
                    .collect();
                let ok = if core {
                    present.len() == elements.len()
                } else {
                    !present.is_empty()
                };
                check(
                    ok,
                    format!(
                        "GStreamer {group}: {}",
                        if present.is_empty() {
                            "missing".into()
                        } else {
                            present.join(", ")
                        }
                    ),
                    "install gstreamer1.0-plugins-base, -good, -bad and gstreamer1.0-libav",
                );
            }
            check_render_elements(&mut check);
            check_caption_font(&mut check);
            check_confinement(&mut check);
        }
        Err(error) => check(
            false,
            format!("GStreamer: {error}"),
            "install libgstreamer1.0-0 and its plugins",
        ),
    }

    models::check_whisper(&config, &mut check);
    models::check_vad(&config, &mut check);
    if config.summarize.enabled {
        let (ok, what) = models::check_language_model(&config);
        check(
            ok,
            what,
            "run `chute models pull smollm2-135m-instruct` (scripts/fetch-test-models.sh) or another model, and set summarize.model; the chute-llm binary must sit next to chute (or set summarize.worker)",
        );
    } else {
        println!("info  summaries are off (summarize.enabled = false)");
    }

    check_plugins(&config, &mut check);
    check_compile_cache(&config, &mut check);

    let spool = Spool::new(config.spool.root.clone());
    let root = spool.root();
    match disk::usage(root) {
        Ok(usage) => {
            let remedy = format!(
                "free space on the spool's filesystem: delete result folders you no longer need from {} and {} (`chute jobs --json` gives each job's folder), or give the spool a bigger filesystem",
                spool.outbox_root().display(),
                spool.failed_root().display()
            );
            check(
                usage.used_percent < u64::from(config.disk.warn_percent),
                format!(
                    "spool disk {}: {}% used, {} free",
                    root.display(),
                    usage.used_percent,
                    bytesize::ByteSize(usage.free_bytes)
                ),
                &remedy,
            );
        }
        Err(error) => check(
            false,
            format!("spool {}: {error}", root.display()),
            "create it or pass --spool",
        ),
    }
    shared_spool(&config, root, &mut check);
    // No daemon yet is normal before the first start: said, not failed.
    match super::daemon_problem(&config, &spool) {
        None => check(true, format!("a daemon runs on {}", root.display()), ""),
        Some(super::DaemonProblem::NoneRunning(message)) => println!("info  {message}"),
        Some(super::DaemonProblem::SeveralHere(message)) => {
            check(false, message, "run one chute daemon per host")
        }
    }
    // The operator's mode: not a failure, but a paused spool claims nothing.
    let (_, daemons) = super::controls::spool_mode(&config, &spool);
    for daemon in &daemons {
        let held = matches!(daemon.mode.as_str(), "paused" | "draining" | "drained");
        println!(
            "info  daemon {} pid {}: {}{}",
            super::text::escape(&daemon.owner.host),
            daemon.owner.pid,
            super::controls::describe(daemon),
            if held {
                " — `chute resume` ends it"
            } else {
                ""
            }
        );
    }
    if let Ok(text) = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches") {
        let watches: u64 = text.trim().parse().unwrap_or(0);
        check(
            watches >= 1024,
            format!("inotify max_user_watches = {watches}"),
            "raise fs.inotify.max_user_watches (sysctl)",
        );
    }
    println!(
        "info  GPU: {}",
        if cfg!(feature = "cuda") {
            "CUDA build"
        } else {
            "CPU-only build (cargo feature `cuda` enables GPU)"
        }
    );
    if problems == 0 {
        Ok(())
    } else {
        Err(CliError::failure(format!("{problems} check(s) failed")))
    }
}

/// Loads every provider plugin and shows the key counters the running daemons
/// publish in `daemons/*.keys.json` (keys by fingerprint only).
fn check_plugins(config: &crate::config::Config, check: &mut impl FnMut(bool, String, &str)) {
    let providers = match super::plugins::load_providers(config) {
        Ok(providers) => providers,
        Err(error) => {
            return check(
                false,
                format!("plugins: {}", error.message),
                "check the system's thread limits",
            );
        }
    };
    for (name, (_, why)) in &providers.disabled {
        println!("info  provider {name} is disabled: {why}");
    }
    if providers.providers.is_empty()
        && providers.problems.is_empty()
        && providers.disabled.is_empty()
    {
        println!(
            "info  no provider plugins in {} (the offline pipelines need none)",
            providers.dir.display()
        );
    }
    for (name, provider) in &providers.providers {
        let keys = provider.keys.report();
        let unreadable = keys
            .iter()
            .filter(|key| key.state.starts_with("unreadable"))
            .count();
        check(
            unreadable == 0,
            format!(
                "provider {name}: plugin {} {} loads, {} key(s)",
                provider.plugin.name,
                provider.info.version,
                keys.len()
            ),
            "fix the key references in [providers.NAME] keys (env:, file:, credential:); `chute plugins check NAME` shows which",
        );
    }
    for (name, why) in &providers.problems {
        check(
            false,
            format!("provider {name}: {why}"),
            "run `chute plugins check NAME` for details",
        );
    }
    let spool = Spool::new(config.spool.root.clone());
    for entry in std::fs::read_dir(spool.daemons())
        .into_iter()
        .flatten()
        .flatten()
    {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(daemon) = file.strip_suffix(".keys.json") else {
            continue;
        };
        if !spool.daemon_file(&format!("{daemon}.json")).is_file() {
            continue;
        }
        let Ok(Some(health)) = crate::spool::fsutil::read_json::<
            std::collections::BTreeMap<String, Vec<crate::provider::keys::KeyReport>>,
        >(&entry.path()) else {
            continue;
        };
        for (provider, keys) in health {
            for key in keys {
                let healthy =
                    !key.state.starts_with("disabled") && !key.state.starts_with("unreadable");
                check(
                    healthy,
                    format!(
                        "daemon {daemon}: {provider} {} {} — {} requests, {} ok, {} failed, {} rate limited{}",
                        key.key,
                        key.state,
                        key.requests,
                        key.successes,
                        key.failures,
                        key.rate_limited,
                        key.last_error
                            .map(|error| format!(", last error {error}"))
                            .unwrap_or_default()
                    ),
                    "replace the key (the provider refused it), then restart chute",
                );
            }
        }
    }
}

/// Where compiled plugins are cached for this user, and whether that cache is used.
fn check_compile_cache(config: &crate::config::Config, check: &mut impl FnMut(bool, String, &str)) {
    use crate::provider::compile_cache::{CompileCache, Health};
    match CompileCache::from_config(&config.plugins).health() {
        Health::Off(why) => {
            println!("info  compile cache {why}: plugins are compiled at every start")
        }
        Health::Unmade(place) => check(
            true,
            format!(
                "compile cache {} (made at the first plugin compile; key {})",
                place.dir.display(),
                place.key.display()
            ),
            "",
        ),
        Health::Usable(place, artifacts) => check(
            true,
            format!(
                "compile cache {}: usable, {artifacts} compiled plugin(s) (key {})",
                place.dir.display(),
                place.key.display()
            ),
            "",
        ),
        Health::Unusable(place, unusable) => check(
            false,
            format!(
                "compile cache {} is not used: {unusable}; plugins are compiled at every start",
                place.dir.display()
            ),
            &format!(
                "{}, or set plugins.compile_cache to a folder of this user's own (or false)",
                unusable.remedy()
            ),
        ),
    }
}

/// The node name, the spool's filesystem and whether several hosts may share it.
fn shared_spool(
    config: &crate::config::Config,
    root: &std::path::Path,
    check: &mut impl FnMut(bool, String, &str),
) {
    println!(
        "info  node {} (spool.node{})",
        super::text::escape(&crate::spool::owner::Owner::current().host),
        if config.spool.node.trim().is_empty() {
            " not set: the host name"
        } else {
            ""
        }
    );
    let Ok(mount) =
        std::fs::canonicalize(root).and_then(|root| crate::spool::mount::mount_of(&root))
    else {
        return;
    };
    let verdict = mount.verdict(&config.spool, config.watch.settle);
    let kind = verdict.network.map_or_else(
        || "a local filesystem".to_owned(),
        |needs| format!("{}, shared = {}", needs.name, config.spool.shared),
    );
    match &verdict.refusal {
        Some(refusal) => check(false, refusal.clone(), "see docs/scaling.md"),
        None => check(
            true,
            format!("spool filesystem: {} ({kind})", mount.describe()),
            "",
        ),
    }
    for warning in &verdict.warnings {
        println!("warn  {warning}");
    }
}
