//! `chute plugins new | check | list` through the real binary.

use std::path::Path;
use std::process::{Command, Output};

use crate::harness::{
    built_plugins, install_shipped, private_cache, repo, shipped_names, wasm_build, wasm_target,
};

const BIN: &str = env!("CARGO_BIN_EXE_chute");

fn chute(spool: &Path, args: &[&str]) -> Output {
    private_cache(&mut Command::new(BIN), spool)
        .args(args)
        .arg("--spool")
        .arg(spool)
        .env_remove("CHUTE_CONFIG")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every file under `dir`, with its contents.
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, String)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            let text = std::fs::read_to_string(&path).unwrap();
            files.push((path, text));
        }
    }
    files
}

/// A scaffolded crate refers to nothing in the tree chute was built from: it carries
/// the SDK and the WIT contract, builds offline for wasm32-wasip2, its own tests pass
/// on the host (`cargo test`, no wasm), and the component passes `plugins check`.
#[test]
fn a_scaffolded_plugin_builds_and_passes_check_unchanged() {
    built_plugins(); // the SDK's dependencies are compiled once, shared below
    let base = tempfile::tempdir().unwrap();
    let crate_dir = base.path().join("demo");
    let created = Command::new(BIN)
        .args(["plugins", "new", "demo", "--dir"])
        .arg(&crate_dir)
        .env_remove("CHUTE_PLUGIN_SDK")
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", text(&created));
    let files = files_under(&crate_dir);
    let names: Vec<String> = files
        .iter()
        .map(|(path, _)| path.strip_prefix(&crate_dir).unwrap().display().to_string())
        .collect();
    for expected in [
        "Cargo.toml",
        "Cargo.lock",
        "README.md",
        "src/lib.rs",
        "chute-plugin-sdk/Cargo.toml",
        "chute-plugin-sdk/src/lib.rs",
        "chute-plugin-sdk/wit/provider.wit",
    ] {
        assert!(
            names.iter().any(|name| name == expected),
            "no {expected} in {names:?}"
        );
    }
    let build_tree = [repo(), repo().canonicalize().unwrap(), wasm_target()];
    for (path, contents) in &files {
        for tree in &build_tree {
            let tree = tree.display().to_string();
            assert!(
                !contents.contains(&tree),
                "{} refers to the build tree {tree}",
                path.display()
            );
        }
    }
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("chute-plugin-sdk = { path = \"chute-plugin-sdk\" }"),
        "{manifest}"
    );
    let lib = std::fs::read_to_string(crate_dir.join("src/lib.rs")).unwrap();
    assert!(lib.contains("#[cfg(test)]"), "{lib}");

    // The crate's own tests run on the host, with no wasm and no network.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tested = Command::new(&cargo)
        .args(["test", "--offline", "--target-dir"])
        .arg(wasm_target())
        .current_dir(&crate_dir)
        .output()
        .unwrap();
    let said = text(&tested);
    assert!(tested.status.success(), "{said}");
    assert!(
        said.contains("test tests::builds_the_request_the_api_takes ... ok")
            && said.contains("test result: ok. 3 passed"),
        "{said}"
    );

    let build = wasm_build()
        .arg("--offline")
        .current_dir(&crate_dir)
        .status()
        .unwrap();
    assert!(build.success(), "the scaffold does not build offline");
    let spool = base.path().join("spool");
    std::fs::create_dir_all(spool.join("plugins")).unwrap();
    std::fs::copy(
        wasm_target().join("wasm32-wasip2/release/demo.wasm"),
        spool.join("plugins/demo.wasm"),
    )
    .unwrap();

    let check = chute(&spool, &["plugins", "check", "demo"]);
    let said = text(&check);
    assert!(check.status.success(), "{said}");
    assert!(
        said.contains("demo: ok") && said.contains("describes     demo 0.1.0 — text"),
        "{said}"
    );
    assert!(
        said.contains("allowlist     api.example.com") && said.contains("header x-api-key"),
        "{said}"
    );
    // The second load comes from the compile cache.
    let list = chute(&spool, &["plugins", "list"]);
    assert!(
        list.status.success() && text(&list).contains("demo             demo"),
        "{}",
        text(&list)
    );
    let again = chute(&spool, &["plugins", "check", "demo"]);
    assert!(text(&again).contains("from the cache"), "{}", text(&again));
    // A name that is not a plugin name is a usage error.
    let bad = Command::new(BIN)
        .args(["plugins", "new", "Bad_Name", "--dir"])
        .arg(base.path().join("x"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}

#[test]
fn check_explains_broken_and_pinned_plugins() {
    let base = tempfile::tempdir().unwrap();
    let spool = base.path().join("spool");
    std::fs::create_dir_all(spool.join("plugins")).unwrap();
    std::fs::write(spool.join("plugins/broken.wasm"), b"\0asm not really").unwrap();
    std::fs::copy(
        built_plugins().join("chute_test_echo.wasm"),
        spool.join("plugins/echo.wasm"),
    )
    .unwrap();
    let config = base.path().join("chute.toml");
    std::fs::write(
        &config,
        format!("[providers.echo]\nsha256 = \"{}\"\n", "ab".repeat(32)),
    )
    .unwrap();

    let broken = chute(&spool, &["plugins", "check", "broken"]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        text(&broken).contains("is not a valid WebAssembly component"),
        "{}",
        text(&broken)
    );

    let pinned = private_cache(&mut Command::new(BIN), &spool)
        .args(["plugins", "check", "echo", "--config"])
        .arg(&config)
        .arg("--spool")
        .arg(&spool)
        .output()
        .unwrap();
    assert_eq!(pinned.status.code(), Some(1));
    assert!(
        text(&pinned).contains("but the config pins abab"),
        "{}",
        text(&pinned)
    );

    std::fs::copy(
        built_plugins().join("chute_test_future.wasm"),
        spool.join("plugins/future.wasm"),
    )
    .unwrap();
    let future = chute(&spool, &["plugins", "check", "future"]);
    assert_eq!(future.status.code(), Some(1));
    assert!(
        text(&future).contains("built for chute:provider@0.3.0, this chute speaks @0.2.0"),
        "{}",
        text(&future)
    );

    let unpinned = chute(&spool, &["plugins", "check", "echo"]);
    assert!(unpinned.status.success(), "{}", text(&unpinned));
    assert!(
        text(&unpinned).contains("allowlist     (none: no network)"),
        "{}",
        text(&unpinned)
    );
}

/// A chute installed by the scripts the README's set-up runs: a release folder as
/// `scripts/build.sh` leaves it (the binaries, here hard links to the one under test,
/// and the shipped plugins in `plugins/`), then `scripts/install.sh PREFIX`. Returns
/// the temporary folder holding it all, the prefix and the installed binary.
fn installed_chute() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let base = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let release = base.path().join("target/release");
    std::fs::create_dir_all(&release).unwrap();
    // chute-llm is only installed here, never run: the chute binary stands in for it.
    for name in ["chute", "chute-llm"] {
        if std::fs::hard_link(BIN, release.join(name)).is_err() {
            std::fs::copy(BIN, release.join(name)).unwrap();
        }
    }
    install_shipped(&release.join("plugins"));
    let prefix = base.path().join("prefix");
    let installed = Command::new(repo().join("scripts/install.sh"))
        .arg(&prefix)
        .env("CARGO_TARGET_DIR", base.path().join("target"))
        .output()
        .unwrap();
    assert!(installed.status.success(), "{}", text(&installed));
    let chute = prefix.join("bin/chute");
    assert!(chute.is_file() && prefix.join("bin/chute-llm").is_file());
    (base, prefix, chute)
}

fn installed(chute: &Path, spool: &Path, args: &[&str]) -> Output {
    private_cache(&mut Command::new(chute), spool)
        .args(args)
        .arg("--spool")
        .arg(spool)
        .env_remove("CHUTE_CONFIG")
        .output()
        .unwrap()
}

/// The shipped plugins are found beside an installed binary with no configuration,
/// listed as available, and every one of them passes `plugins check`; a provider
/// table uses one by name, and a plugin of the same name in the spool replaces it.
#[test]
fn every_shipped_plugin_is_found_beside_the_binary_and_passes_check() {
    let (_installed, prefix, chute) = installed_chute();
    let shipped_dir = prefix.join("lib/chute/plugins");
    let names = shipped_names();
    for expected in ["elevenlabs", "gemini", "google-tts", "veo"] {
        assert!(names.iter().any(|name| name == expected), "{names:?}");
    }
    for name in &names {
        assert!(shipped_dir.join(format!("{name}.wasm")).is_file(), "{name}");
    }
    // A manifest the package ships travels with its plugin.
    assert!(shipped_dir.join("whisk.toml").is_file());
    let spool = tempfile::tempdir().unwrap();

    let listed = installed(&chute, spool.path(), &["plugins", "list"]);
    let listing = text(&listed);
    assert!(listed.status.success(), "{listing}");
    let canonical = shipped_dir.canonicalize().unwrap();
    assert!(
        listing.contains(&format!("shipped plugins: {}", canonical.display())),
        "{listing}"
    );
    for name in &names {
        // A plugin whose manifest ships it disabled says so, and why.
        let shipped_off =
            std::fs::read_to_string(repo().join(format!("plugins/{name}/{name}.toml")))
                .is_ok_and(|manifest| manifest.contains("disabled"));
        let status = if shipped_off {
            "shipped disabled: ".to_owned()
        } else {
            format!("shipped, not configured: add [providers.{name}] to use it")
        };
        assert!(
            listing
                .lines()
                .any(|line| line.starts_with(&format!("{name:<16} {name:<16}"))
                    && line.contains(&status)),
            "{name} is not listed as {status:?}:\n{listing}"
        );
    }

    let checked = installed(&chute, spool.path(), &["plugins", "check"]);
    let report = text(&checked);
    assert!(checked.status.success(), "{report}");
    for name in &names {
        assert!(report.contains(&format!("{name}: ok")), "{name}:\n{report}");
        assert!(
            report.contains(&format!("/lib/chute/plugins/{name}.wasm")),
            "{name} was not loaded from the shipped folder:\n{report}"
        );
    }

    // A provider table names a shipped plugin; its key reference is only a reference.
    let config = spool.path().join("chute.toml");
    std::fs::write(
        &config,
        "[providers.voice]\nplugin = \"google-tts\"\nbase_url = \"https://texttospeech.googleapis.com\"\nkeys = [\"env:CHUTE_TEST_NO_SUCH_KEY\"]\n",
    )
    .unwrap();
    let checked = private_cache(&mut Command::new(&chute), spool.path())
        .args(["plugins", "check", "voice", "--config"])
        .arg(&config)
        .arg("--spool")
        .arg(spool.path())
        .output()
        .unwrap();
    let report = text(&checked);
    assert!(report.contains("voice: ok"), "{report}");
    assert!(report.contains("google-tts.wasm"), "{report}");

    // The operator's own gemini.wasm in the spool replaces the shipped one.
    std::fs::create_dir_all(spool.path().join("plugins")).unwrap();
    std::fs::copy(
        built_plugins().join("chute_test_echo.wasm"),
        spool.path().join("plugins/gemini.wasm"),
    )
    .unwrap();
    let checked = installed(&chute, spool.path(), &["plugins", "check", "gemini"]);
    let report = text(&checked);
    assert!(report.contains("gemini: ok"), "{report}");
    assert!(
        report.contains(&format!(
            "{}",
            spool.path().join("plugins/gemini.wasm").display()
        )),
        "{report}"
    );
    assert!(report.contains("describes     echo"), "{report}");

    // A table naming a plugin that is nowhere says where it looked.
    std::fs::write(&config, "[providers.ghost]\nkeys = []\n").unwrap();
    let checked = private_cache(&mut Command::new(&chute), spool.path())
        .args(["plugins", "check", "ghost", "--config"])
        .arg(&config)
        .arg("--spool")
        .arg(spool.path())
        .output()
        .unwrap();
    let report = text(&checked);
    assert!(!checked.status.success(), "{report}");
    assert!(report.contains("no plugin ghost.wasm"), "{report}");
    assert!(report.contains("lib/chute/plugins"), "{report}");
}

/// A plugin whose manifest ships it disabled (whisk, with its own whisk.toml) is
/// listed and checked with the reason, serves nothing until its table says
/// `enabled = true`, and `enabled = false` turns off a plugin that ships enabled.
#[test]
fn a_plugin_shipped_disabled_is_listed_and_checked_but_enabled_only_by_the_config() {
    let base = tempfile::tempdir().unwrap();
    let spool = base.path().join("spool");
    let plugins = spool.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(
        built_plugins().join("chute_whisk.wasm"),
        plugins.join("whisk.wasm"),
    )
    .unwrap();
    std::fs::copy(
        repo().join("plugins/whisk/whisk.toml"),
        plugins.join("whisk.toml"),
    )
    .unwrap();
    std::fs::copy(
        built_plugins().join("chute_test_echo.wasm"),
        plugins.join("echo.wasm"),
    )
    .unwrap();
    let reason = "disabled: unofficial Google Labs API, reported shut down on 2026-04-30";

    let list = chute(&spool, &["plugins", "list"]);
    let said = text(&list);
    assert!(list.status.success(), "{said}");
    let line = said
        .lines()
        .find(|line| line.starts_with("whisk "))
        .unwrap();
    assert!(line.contains("image") && line.contains(reason), "{said}");
    assert!(
        line.contains("set enabled = true in [providers.whisk]"),
        "{said}"
    );
    assert!(
        said.lines()
            .any(|line| line.starts_with("echo ") && line.ends_with("ok")),
        "{said}"
    );

    let check = chute(&spool, &["plugins", "check", "whisk"]);
    let said = text(&check);
    assert!(
        check.status.success(),
        "a disabled plugin that validates passes: {said}"
    );
    assert!(said.contains("whisk: ok, but disabled"), "{said}");
    assert!(said.contains("describes     whisk 0.1.0 — image"), "{said}");
    assert!(said.contains("auth          header cookie"), "{said}");
    assert!(
        said.contains("allowlist     aisandbox-pa.googleapis.com, labs.google"),
        "{said}"
    );

    // The operator enables whisk and turns echo off.
    let config = base.path().join("chute.toml");
    std::fs::write(
        &config,
        "[providers.whisk]\nenabled = true\n\n[providers.echo]\nenabled = false\n",
    )
    .unwrap();
    let configured = |args: &[&str]| {
        private_cache(&mut Command::new(BIN), &spool)
            .args(args)
            .arg("--config")
            .arg(&config)
            .arg("--spool")
            .arg(&spool)
            .output()
            .unwrap()
    };
    let list = configured(&["plugins", "list"]);
    let said = text(&list);
    assert!(list.status.success(), "{said}");
    let whisk = said
        .lines()
        .find(|line| line.starts_with("whisk "))
        .unwrap();
    assert!(whisk.ends_with("ok"), "{said}");
    let echo = said.lines().find(|line| line.starts_with("echo ")).unwrap();
    assert!(
        echo.contains("disabled: enabled = false in [providers.echo]"),
        "{said}"
    );
    let check = configured(&["plugins", "check", "whisk"]);
    assert!(text(&check).contains("whisk: ok\n"), "{}", text(&check));

    // A broken manifest is still an error, not a silent default.
    std::fs::write(plugins.join("whisk.toml"), "disabled = 3\n").unwrap();
    let broken = chute(&spool, &["plugins", "check", "whisk"]);
    assert_eq!(broken.status.code(), Some(1), "{}", text(&broken));
    assert!(text(&broken).contains("whisk.toml"), "{}", text(&broken));
}
