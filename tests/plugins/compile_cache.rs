//! The compile cache is not a way to run native code: a compiled plugin planted under
//! a real plugin's name (another plugin's authentic artifact, or a bare wasmtime one),
//! a link in place of an artifact, or a cache folder others may write is never used;
//! the real plugin is what runs, and the log names the file and why. An artifact chute
//! wrote itself is used on the next load.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chute::provider::{Answer, Operation};
use sha2::{Digest, Sha256};

use crate::harness::{built_plugin, capturing_logs, load, spool_with};
use crate::spool_harness::{BIN, Config, Route, Spool, secs};

/// The cache file chute gives the component at `wasm`.
fn artifact_of(cache: &Path, wasm: &Path) -> PathBuf {
    let sha = Sha256::digest(std::fs::read(wasm).unwrap());
    let hex: String = sha.iter().map(|byte| format!("{byte:02x}")).collect();
    cache.join(format!("{hex}.cwasm"))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_compiled_plugin_planted_under_the_real_ones_name_is_not_run() {
    let base = tempfile::tempdir().unwrap();
    let cache = base.path().join("compiled");
    let key = base.path().join("state/compile-cache.key");
    let config = format!(
        "[plugins]\ncompile_cache = \"{}\"\ncompile_cache_key = \"{}\"\nattempts = 1\n",
        cache.display(),
        key.display()
    );
    // chute compiles the hostile plugin: an authentic artifact, MAC and all.
    let hostile = spool_with(&["hostile"]);
    let (loaded, _) = capturing_logs(load(&hostile, &config));
    assert!(loaded.get("hostile").is_some(), "{:?}", loaded.problems);
    let hostiles = std::fs::read(artifact_of(&cache, &built_plugin("hostile"))).unwrap();
    let bare = chute::provider::engine::engine()
        .precompile_component(&std::fs::read(built_plugin("hostile")).unwrap())
        .unwrap();
    let planted = artifact_of(&cache, &built_plugin("echo"));

    for (what, bytes) in [
        ("the hostile plugin's authentic artifact", hostiles),
        ("a bare wasmtime compile of the hostile plugin", bare),
    ] {
        std::fs::write(&planted, &bytes).unwrap();
        let echo = spool_with(&["echo"]);
        let ((from_cache, name, answer), logs) = capturing_logs(async {
            let providers = load(&echo, &config).await;
            let provider = providers.get("echo").expect("echo loads");
            let served = provider
                .call(Operation::text("the real echo answers"), None)
                .await;
            (
                provider.plugin.from_cache,
                provider.info.name.clone(),
                served.map(|served| served.answer),
            )
        });
        assert!(!from_cache, "{what} was loaded");
        assert_eq!(name, "echo", "{what} described itself");
        match answer {
            Ok(Answer::Text(result)) => assert_eq!(result.text, "the real echo answers"),
            other => panic!("{what} answered: {other:?}"),
        }
        assert!(
            logs.contains("WARN")
                && logs.contains(&format!(
                    "Ignoring the compiled plugin {}",
                    planted.display()
                ))
                && logs.contains("It is not run"),
            "{what}: {logs}"
        );
        assert_ne!(std::fs::read(&planted).unwrap(), bytes, "{what} stayed");

        // What chute wrote in its place is used next time.
        let (again, logs) = capturing_logs(load(&echo, &config));
        let provider = again.get("echo").expect("echo loads again");
        assert!(provider.plugin.from_cache, "{logs}");
        assert!(!logs.contains("Ignoring"), "{logs}");
    }
}

/// Through the daemon: a planted artifact is logged and the real plugin serves the
/// job; through `chute plugins check` and `chute doctor`: a linked artifact and a
/// shared cache folder are not used, and doctor says where the cache is and why not.
#[test]
fn the_daemon_and_the_cli_use_only_what_chute_wrote_in_a_private_cache() {
    let spool = Spool::new(&Config::with_route(Route {
        pipeline: "generate".into(),
        ..Route::passthrough("make")
    }));
    let env = spool.compile_cache_env();
    let cache = env[0].1.join("components");
    let plugins = spool.root.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(built_plugin("echo"), plugins.join("echo.wasm")).unwrap();
    let other_spool = spool.outside.join("other-spool");
    std::fs::create_dir_all(other_spool.join("plugins")).unwrap();
    std::fs::copy(
        built_plugin("hostile"),
        other_spool.join("plugins/hostile.wasm"),
    )
    .unwrap();
    let cli = |spool_root: &Path, args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .arg("--spool")
            .arg(spool_root)
            .env_remove("CHUTE_CONFIG")
            .envs(spool.compile_cache_env())
            .output()
            .unwrap()
    };
    let hostile = cli(&other_spool, &["plugins", "check", "hostile"]);
    assert!(hostile.status.success(), "{}", text(&hostile));
    let hostiles = artifact_of(&cache, &built_plugin("hostile"));
    let planted = artifact_of(&cache, &built_plugin("echo"));
    std::fs::copy(&hostiles, &planted).unwrap();

    let daemon = spool.start_daemon();
    spool.drop_file(
        "make",
        "hello.toml",
        b"kind = \"text\"\nprompt = \"the real echo answers\"\nproviders = [\"echo\"]\n",
    );
    spool.wait_until(secs(60), "the request to end", || {
        spool.delivered_count("make") + spool.failed_count("make") == 1
    });
    let log = daemon.log();
    daemon.terminate(secs(10));
    let delivered = spool.deliveries("make");
    assert_eq!(delivered.len(), 1, "{}\n{log}", spool.summary());
    let answer = std::fs::read_to_string(delivered[0].dir.join("answer.txt")).unwrap();
    assert_eq!(answer.trim(), "the real echo answers");
    assert!(
        log.contains("Ignoring the compiled plugin")
            && log.contains(&planted.display().to_string()),
        "{log}"
    );
    assert_ne!(
        std::fs::read(&planted).unwrap(),
        std::fs::read(&hostiles).unwrap()
    );

    let check = |expect: &str| {
        let output = cli(&spool.root, &["plugins", "check", "echo"]);
        let said = text(&output);
        assert!(output.status.success(), "{said}");
        assert!(said.contains("describes     echo"), "{said}");
        assert!(said.contains(expect), "expected {expect:?}: {said}");
    };
    check("compiled earlier, from the cache");

    // A link in place of the artifact, to the hostile plugin's authentic one.
    std::fs::remove_file(&planted).unwrap();
    std::os::unix::fs::symlink(&hostiles, &planted).unwrap();
    check("compiled now");
    assert!(
        std::fs::symlink_metadata(&planted)
            .unwrap()
            .file_type()
            .is_file(),
        "the link was kept"
    );
    check("compiled earlier, from the cache");

    // A cache folder its group may write is neither read nor written.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o770)).unwrap();
    check("compiled now");
    check("compiled now");
    let doctor = text(&cli(&spool.root, &["doctor"]));
    assert!(
        doctor.contains(&format!(
            "FAIL  compile cache {} is not used: {} is writable by its group or others (mode 0770)",
            cache.display(),
            cache.display()
        )) && doctor.contains(&format!("run `chmod go-w {}`", cache.display())),
        "{doctor}"
    );
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    check("compiled earlier, from the cache");
    let doctor = text(&cli(&spool.root, &["doctor"]));
    assert!(
        doctor.contains(&format!(
            "ok    compile cache {}: usable, 2 compiled plugin(s)",
            cache.display()
        )),
        "{doctor}"
    );
    // Nothing compiled is left in the spool.
    assert!(!spool.root.join("cache/components").exists());
}
