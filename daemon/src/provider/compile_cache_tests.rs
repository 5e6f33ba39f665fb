//! The compile cache with real wasmtime compiles of two tiny components (the plugins'
//! own tests, in tests/plugins/compile_cache.rs, plant real plugins).
#![allow(clippy::unwrap_used)]

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;
use crate::provider::engine::{self, Compiled};

/// The smallest component: the preamble alone.
const EMPTY: &[u8] = b"\0asm\x0d\x00\x01\x00";
/// Another component: the preamble and a custom section `abcd`.
const OTHER: &[u8] = b"\0asm\x0d\x00\x01\x00\x00\x05\x04abcd";

struct Fixture {
    base: tempfile::TempDir,
    cache: PathBuf,
    key: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let base = tempfile::tempdir().unwrap();
        let cache = base.path().join("cache/chute/components");
        let key = base.path().join("state/chute/compile-cache.key");
        for (name, bytes) in [("empty.wasm", EMPTY), ("other.wasm", OTHER)] {
            std::fs::write(base.path().join(name), bytes).unwrap();
        }
        Fixture { base, cache, key }
    }

    fn wasm(&self, name: &str) -> PathBuf {
        self.base.path().join(format!("{name}.wasm"))
    }

    /// Loads a plugin as a fresh process would (a new cache handle).
    fn load(&self, name: &str) -> Compiled {
        let cache = CompileCache::at(&self.cache, &self.key);
        engine::load(&self.wasm(name), &cache, None).unwrap()
    }

    /// The cache file of a plugin.
    fn artifact(&self, name: &str) -> PathBuf {
        let sha = crate::digest::hex(&<Sha256 as sha2::Digest>::digest(
            std::fs::read(self.wasm(name)).unwrap(),
        ));
        self.cache.join(format!("{sha}.cwasm"))
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_second_load_comes_from_the_cache_and_the_key_is_private() {
    let fixture = Fixture::new();
    assert!(!fixture.load("empty").from_cache);
    assert!(fixture.load("empty").from_cache);
    assert!(fixture.load("empty").from_cache);
    assert_eq!(mode(&fixture.cache), 0o700);
    assert_eq!(mode(&fixture.key), 0o600);
    assert_eq!(std::fs::read(&fixture.key).unwrap().len(), KEY_BYTES);
    assert_eq!(mode(&fixture.artifact("empty")), 0o600);
    assert!(
        std::fs::read(fixture.artifact("empty"))
            .unwrap()
            .starts_with(MAGIC)
    );
    // Only the artifact: no temporary file left in the cache.
    assert_eq!(std::fs::read_dir(&fixture.cache).unwrap().count(), 1);
}

#[test]
fn another_plugins_artifact_or_a_forged_one_is_not_loaded_and_is_replaced() {
    let fixture = Fixture::new();
    assert!(!fixture.load("other").from_cache);
    let others = std::fs::read(fixture.artifact("other")).unwrap();
    let target = fixture.artifact("empty");
    let engine_artifact = engine::engine().precompile_component(OTHER).unwrap();
    let mut flipped = others.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let mut foreign_key = others.clone();
    foreign_key[MAGIC.len() + DIGEST] ^= 1;
    for (what, planted) in [
        ("another plugin's authentic artifact", others.clone()),
        ("a bare wasmtime artifact", engine_artifact),
        ("an artifact changed by one bit", flipped),
        ("an artifact with another tag", foreign_key),
    ] {
        std::fs::create_dir_all(&fixture.cache).unwrap();
        std::fs::write(&target, &planted).unwrap();
        assert!(!fixture.load("empty").from_cache, "{what} was loaded");
        let now = std::fs::read(&target).unwrap();
        assert_ne!(now, planted, "{what} was left in place");
        assert!(fixture.load("empty").from_cache, "after {what}");
    }
}

#[test]
fn a_shared_cache_folder_is_neither_read_nor_written() {
    let fixture = Fixture::new();
    assert!(!fixture.load("empty").from_cache);
    std::fs::set_permissions(&fixture.cache, std::fs::Permissions::from_mode(0o770)).unwrap();
    assert!(!fixture.load("empty").from_cache);
    std::fs::remove_file(fixture.artifact("empty")).unwrap();
    assert!(!fixture.load("empty").from_cache);
    assert!(
        !fixture.artifact("empty").exists(),
        "it wrote into a shared folder"
    );
    assert!(matches!(
        CompileCache::at(&fixture.cache, &fixture.key).health(),
        Health::Unusable(
            _,
            Unusable {
                why: Distrust::Writable { mode: 0o770 },
                ..
            }
        )
    ));
    std::fs::set_permissions(&fixture.cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(!fixture.load("empty").from_cache);
    assert!(fixture.load("empty").from_cache);
}

#[test]
fn links_are_not_followed_to_a_cache_or_an_artifact() {
    let fixture = Fixture::new();
    assert!(!fixture.load("other").from_cache);
    assert!(!fixture.load("empty").from_cache);
    // The artifact a link points at is authentic: only the link is at fault.
    let kept = fixture.base.path().join("kept.cwasm");
    std::fs::rename(fixture.artifact("empty"), &kept).unwrap();
    std::os::unix::fs::symlink(&kept, fixture.artifact("empty")).unwrap();
    assert!(!fixture.load("empty").from_cache);
    let replaced = std::fs::symlink_metadata(fixture.artifact("empty")).unwrap();
    assert!(replaced.file_type().is_file(), "the link was kept");
    assert!(fixture.load("empty").from_cache);

    // A cache folder that is a link to a private folder is not used either.
    let real = fixture.base.path().join("real");
    std::fs::rename(&fixture.cache, &real).unwrap();
    std::os::unix::fs::symlink(&real, &fixture.cache).unwrap();
    assert!(!fixture.load("other").from_cache);
    assert!(matches!(
        CompileCache::at(&fixture.cache, &fixture.key).health(),
        Health::Unusable(
            _,
            Unusable {
                why: Distrust::Symlink,
                ..
            }
        )
    ));
}

#[test]
fn a_key_others_can_read_or_a_short_one_turns_the_cache_off() {
    let fixture = Fixture::new();
    assert!(!fixture.load("empty").from_cache);
    std::fs::set_permissions(&fixture.key, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(!fixture.load("empty").from_cache);
    std::fs::set_permissions(&fixture.key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(fixture.load("empty").from_cache);
    std::fs::write(&fixture.key, b"short").unwrap();
    assert!(!fixture.load("empty").from_cache);
    // A new key (the old one deleted) makes every artifact stale, never trusted.
    std::fs::remove_file(&fixture.key).unwrap();
    assert!(!fixture.load("empty").from_cache);
    assert!(fixture.load("empty").from_cache);
}

#[test]
fn files_of_another_user_are_not_trusted() {
    if rustix::process::geteuid().as_raw() != 0 {
        return; // Only root can give a file away; the check itself is the same.
    }
    let fixture = Fixture::new();
    assert!(!fixture.load("empty").from_cache);
    let nobody = Some(65534);
    std::os::unix::fs::chown(fixture.artifact("empty"), nobody, nobody).unwrap();
    assert!(!fixture.load("empty").from_cache);
    assert!(fixture.load("empty").from_cache);
    std::os::unix::fs::chown(&fixture.cache, nobody, nobody).unwrap();
    assert!(!fixture.load("empty").from_cache);
    assert!(!fixture.load("empty").from_cache);
    std::os::unix::fs::chown(&fixture.cache, Some(0), Some(0)).unwrap();
    std::os::unix::fs::chown(&fixture.key, nobody, nobody).unwrap();
    assert!(!fixture.load("empty").from_cache);
}

#[test]
fn doctor_health_says_where_the_cache_is_and_whether_it_is_usable() {
    let fixture = Fixture::new();
    let cache = CompileCache::at(&fixture.cache, &fixture.key);
    assert!(matches!(cache.health(), Health::Unmade(_)));
    assert!(!fixture.key.exists(), "looking made a key");
    fixture.load("empty");
    fixture.load("other");
    match cache.health() {
        Health::Usable(place, 2) => assert_eq!(place.dir, fixture.cache),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        CompileCache::off().health(),
        Health::Off(Off::Configured)
    ));
}

#[test]
fn the_default_place_follows_systemd_then_xdg_then_home() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| OsString::from(value))
        }
    };
    let place = |pairs: &'static [(&'static str, &'static str)]| {
        resolve(&CompileCacheSetting::Default, Path::new(""), &env(pairs))
    };
    let systemd = place(&[
        ("CACHE_DIRECTORY", "/var/cache/chute:/var/cache/other"),
        ("STATE_DIRECTORY", "/var/lib/chute"),
        ("XDG_CACHE_HOME", "/x/cache"),
        ("HOME", "/home/u"),
    ])
    .unwrap();
    assert_eq!(systemd.dir, Path::new("/var/cache/chute/components"));
    assert_eq!(systemd.key, Path::new("/var/lib/chute/compile-cache.key"));
    let xdg = place(&[
        ("XDG_CACHE_HOME", "/x/cache"),
        ("XDG_STATE_HOME", "/x/state"),
        ("HOME", "/home/u"),
    ])
    .unwrap();
    assert_eq!(xdg.dir, Path::new("/x/cache/chute/components"));
    assert_eq!(xdg.key, Path::new("/x/state/chute/compile-cache.key"));
    let home = place(&[("XDG_CACHE_HOME", "relative"), ("HOME", "/home/u")]).unwrap();
    assert_eq!(home.dir, Path::new("/home/u/.cache/chute/components"));
    assert_eq!(
        home.key,
        Path::new("/home/u/.local/state/chute/compile-cache.key")
    );
    assert_eq!(place(&[]), Err(Off::Unplaced));
    assert_eq!(
        resolve(&CompileCacheSetting::Off, Path::new(""), &env(&[])),
        Err(Off::Configured)
    );
    let inside = resolve(
        &CompileCacheSetting::Dir("/c".into()),
        Path::new("/c/key"),
        &env(&[]),
    );
    assert_eq!(inside, Err(Off::KeyInside("/c/key".into())));
}

#[test]
fn the_settings_parse_and_bad_ones_name_the_key() {
    let parse = |text: &str| crate::config::Config::parse(text, Path::new("chute.toml"));
    let off = parse("[plugins]\ncompile_cache = false\n").unwrap();
    assert_eq!(off.plugins.compile_cache, CompileCacheSetting::Off);
    let dir =
        parse("[plugins]\ncompile_cache = \"/srv/cc\"\ncompile_cache_key = \"/k/key\"\n").unwrap();
    assert_eq!(
        dir.plugins.compile_cache,
        CompileCacheSetting::Dir("/srv/cc".into())
    );
    let default = parse("[plugins]\ncompile_cache = \"\"\n").unwrap();
    assert_eq!(default.plugins.compile_cache, CompileCacheSetting::Default);
    for (text, said) in [
        (
            "[plugins]\ncompile_cache = \"cache\"\n",
            "plugins.compile_cache must be an absolute path",
        ),
        (
            "[plugins]\ncompile_cache_key = \"key\"\n",
            "plugins.compile_cache_key must be an absolute path",
        ),
        (
            "[plugins]\ncompile_cache = \"/c\"\ncompile_cache_key = \"/c/key\"\n",
            "plugins.compile_cache_key must be outside plugins.compile_cache",
        ),
    ] {
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains(said), "{error}");
    }
    let error = parse("[plugins]\ncompile_cache = 3\n")
        .unwrap_err()
        .to_string();
    assert!(error.contains("false"), "{error}");
}
