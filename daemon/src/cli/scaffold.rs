//! The crate `chute plugins new NAME` writes: `Cargo.toml`, `src/lib.rs` with host-run
//! tests, a README, the `Cargo.lock` the SDK is tested with, and the SDK itself.
//!
//! The SDK (`chute-plugin-sdk`) is not published, so a crate outside chute's sources
//! could only reach it by an absolute path into the tree this binary was built from
//! (gone on another machine) or a git checkout of the sources. Instead the crate carries
//! a copy: the SDK's sources and the WIT contract, embedded in this binary, so the
//! plugin speaks exactly the contract of the host that created it and builds anywhere
//! with crates.io dependencies only. A crate created inside chute's own `plugins/` folder
//! depends on `plugins/sdk` by a relative path instead (`--sdk PATH` likewise, relative).

use std::path::{Component, Path, PathBuf};

/// The SDK's sources, as `chute-plugin-sdk/src/…` of a vendored copy.
const SDK_SOURCES: [(&str, &str); 6] = [
    ("lib.rs", include_str!("../../../plugins/sdk/src/lib.rs")),
    ("http.rs", include_str!("../../../plugins/sdk/src/http.rs")),
    (
        "errors.rs",
        include_str!("../../../plugins/sdk/src/errors.rs"),
    ),
    ("text.rs", include_str!("../../../plugins/sdk/src/text.rs")),
    ("wav.rs", include_str!("../../../plugins/sdk/src/wav.rs")),
    ("mp3.rs", include_str!("../../../plugins/sdk/src/mp3.rs")),
];
/// The contract, as `chute-plugin-sdk/wit/provider.wit`.
const WIT: &str = include_str!("../../../wit/provider.wit");
/// The SDK's manifest, whose `workspace = true` entries are filled from the workspace's.
const SDK_MANIFEST: &str = include_str!("../../../plugins/sdk/Cargo.toml");
/// The plugins workspace: package fields and dependency versions the SDK inherits.
const WORKSPACE_MANIFEST: &str = include_str!("../../../plugins/Cargo.toml");
/// The versions the SDK is built and tested with (cargo drops the entries it does not need).
const WORKSPACE_LOCK: &str = include_str!("../../../plugins/Cargo.lock");
/// How the SDK's bindings find the WIT folder in chute's sources, and in a copy.
const WIT_PATH_IN_SOURCES: &str = "path: \"../../wit\"";
const WIT_PATH_IN_COPY: &str = "path: \"wit\"";
/// The folder of the vendored SDK inside a new crate.
const SDK_DIR: &str = "chute-plugin-sdk";

/// Where the new crate gets the SDK from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sdk {
    /// A copy inside the crate (`chute-plugin-sdk/`).
    Vendored,
    /// An SDK elsewhere, by a path relative to the crate (inside chute's `plugins/`, or
    /// as `--sdk` asked).
    Relative {
        /// The path from the crate to the SDK.
        path: PathBuf,
        /// Whether the crate sits in chute's own `plugins/` folder (else: `--sdk`).
        in_sources: bool,
    },
}

/// Chooses the SDK for a crate at `target` (an existing folder, canonical): `--sdk`
/// when given, `plugins/sdk` when `target` is inside `plugins_root` (chute's
/// `plugins/`, when this binary's sources are still there), else a copy.
pub fn choose_sdk(
    target: &Path,
    explicit: Option<&Path>,
    plugins_root: Option<&Path>,
) -> Result<Sdk, String> {
    if let Some(sdk) = explicit {
        let sdk = sdk
            .canonicalize()
            .map_err(|error| format!("{}: {error}", sdk.display()))?;
        if !sdk.join("Cargo.toml").is_file() {
            return Err(format!(
                "{} is not the chute-plugin-sdk crate (no Cargo.toml)",
                sdk.display()
            ));
        }
        return Ok(Sdk::Relative {
            path: relative(target, &sdk),
            in_sources: false,
        });
    }
    match plugins_root {
        Some(root) if target.starts_with(root) && root.join("sdk/Cargo.toml").is_file() => {
            Ok(Sdk::Relative {
                path: relative(target, &root.join("sdk")),
                in_sources: true,
            })
        }
        _ => Ok(Sdk::Vendored),
    }
}

/// The path from folder `from` to `to`, both absolute and canonical.
pub fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path: PathBuf = from[common..]
        .iter()
        .map(|_| Component::ParentDir)
        .collect();
    path.extend(&to[common..]);
    if path.as_os_str().is_empty() {
        path.push(".");
    }
    path
}

/// Every file of the new crate: (path inside the crate, contents).
pub fn files(name: &str, sdk: &Sdk) -> Result<Vec<(PathBuf, String)>, String> {
    let crate_name = name.replace('-', "_");
    let (sdk_path, sdk_note) = match sdk {
        Sdk::Vendored => (PathBuf::from(SDK_DIR), VENDORED_NOTE.to_owned()),
        Sdk::Relative { path, in_sources } => (
            path.clone(),
            if *in_sources {
                IN_SOURCES_NOTE
            } else {
                EXPLICIT_NOTE
            }
            .replace("{{sdk}}", &path.display().to_string()),
        ),
    };
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{crate}}", &crate_name)
            .replace("{{sdk}}", &sdk_path.display().to_string())
            .replace("{{sdk_note}}", sdk_note.trim_end())
    };
    let mut files = vec![
        (
            PathBuf::from("Cargo.toml"),
            fill(include_str!("scaffold/Cargo.toml.in")),
        ),
        (
            PathBuf::from("src/lib.rs"),
            fill(include_str!("scaffold/lib.rs.in")),
        ),
        (
            PathBuf::from("README.md"),
            fill(include_str!("scaffold/README.md.in")),
        ),
        (PathBuf::from("Cargo.lock"), WORKSPACE_LOCK.to_owned()),
        (PathBuf::from(".gitignore"), "/target\n".to_owned()),
    ];
    if *sdk == Sdk::Vendored {
        files.extend(vendored_sdk()?);
    }
    Ok(files)
}

/// The SDK's files under `chute-plugin-sdk/`, made to build on their own.
fn vendored_sdk() -> Result<Vec<(PathBuf, String)>, String> {
    let dir = Path::new(SDK_DIR);
    let mut files = vec![
        (dir.join("Cargo.toml"), sdk_manifest()?),
        (dir.join("wit/provider.wit"), WIT.to_owned()),
    ];
    for (file, text) in SDK_SOURCES {
        let text = if file == "lib.rs" {
            if !text.contains(WIT_PATH_IN_SOURCES) {
                return Err("the SDK no longer names its WIT folder as ../../wit".into());
            }
            text.replace(WIT_PATH_IN_SOURCES, WIT_PATH_IN_COPY)
        } else {
            text.to_owned()
        };
        files.push((dir.join("src").join(file), text));
    }
    Ok(files)
}

/// The SDK's manifest with every `workspace = true` replaced by the workspace's value.
fn sdk_manifest() -> Result<String, String> {
    let broken = |what: &str| format!("the embedded SDK manifest is broken: {what}");
    let mut sdk: toml::Table = SDK_MANIFEST.parse().map_err(|_| broken("Cargo.toml"))?;
    let workspace: toml::Table = WORKSPACE_MANIFEST
        .parse()
        .map_err(|_| broken("plugins/Cargo.toml"))?;
    let inherited = |section: &str| {
        workspace
            .get("workspace")
            .and_then(|workspace| workspace.get(section))
            .and_then(toml::Value::as_table)
            .cloned()
            .unwrap_or_default()
    };
    for (section, from) in [
        ("package", inherited("package")),
        ("dependencies", inherited("dependencies")),
    ] {
        let Some(table) = sdk.get_mut(section).and_then(toml::Value::as_table_mut) else {
            continue;
        };
        for (key, value) in table.iter_mut() {
            let inherits = value
                .get("workspace")
                .and_then(toml::Value::as_bool)
                .unwrap_or(false);
            if inherits {
                *value = from
                    .get(key)
                    .cloned()
                    .ok_or_else(|| broken(&format!("{section}.{key} is not in the workspace")))?;
            }
        }
    }
    // [package] first, as people write it (a table serializes its keys sorted).
    let package = toml::Table::from_iter(
        sdk.remove("package")
            .map(|value| ("package".to_owned(), value)),
    );
    let mut text = String::from(
        "# chute-plugin-sdk, copied by `chute plugins new` from the chute that made this crate.\n",
    );
    for part in [&package, &sdk] {
        text.push_str(&toml::to_string(part).map_err(|error| broken(&error.to_string()))?);
        text.push('\n');
    }
    Ok(text)
}

const VENDORED_NOTE: &str = "\
`chute-plugin-sdk/` is a copy of chute's plugin SDK, made by `chute plugins new` from the
chute binary that created this crate, with the WIT contract it speaks
(`chute-plugin-sdk/wit/provider.wit`, `chute:provider@0.2.0`). The SDK is not published
on crates.io, and a path or git dependency would tie this crate to a checkout of chute's
sources; with its own copy the crate builds anywhere, with crates.io dependencies only
(`wit-bindgen`, `serde_json`, `base64`). `Cargo.lock` pins the versions the SDK is tested
with. For a newer SDK, run `chute plugins new` with the newer chute and copy its
`chute-plugin-sdk/` over this one (the WIT package version says which hosts load the
plugin).";

const IN_SOURCES_NOTE: &str = "\
This crate sits in chute's `plugins/` folder and depends on the SDK there by a relative
path (`{{sdk}}`), so it always builds against the SDK and WIT contract of these sources.
A crate meant to live elsewhere should be made with `chute plugins new` outside chute's
sources: it then carries its own copy of the SDK.";

const EXPLICIT_NOTE: &str = "\
This crate depends on the SDK at `{{sdk}}` (relative to this folder), as `chute plugins
new --sdk` asked. Without `--sdk`, the crate would carry its own copy of the SDK and
build anywhere.";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn relative_paths_climb_to_the_common_folder() {
        let path = |from: &str, to: &str| relative(Path::new(from), Path::new(to));
        assert_eq!(
            path("/r/plugins/acme", "/r/plugins/sdk"),
            Path::new("../sdk")
        );
        assert_eq!(
            path("/r/plugins/x/acme", "/r/plugins/sdk"),
            Path::new("../../sdk")
        );
        assert_eq!(path("/a/b", "/a/b/c"), Path::new("c"));
        assert_eq!(path("/a", "/a"), Path::new("."));
    }

    #[test]
    fn the_sdk_is_copied_unless_the_crate_is_in_chutes_plugins_folder() {
        let sources = tempfile::tempdir().unwrap();
        let root = sources.path().canonicalize().unwrap().join("plugins");
        std::fs::create_dir_all(root.join("sdk")).unwrap();
        std::fs::write(root.join("sdk/Cargo.toml"), "").unwrap();
        std::fs::create_dir_all(root.join("acme")).unwrap();
        assert_eq!(
            choose_sdk(&root.join("acme"), None, Some(&root)).unwrap(),
            Sdk::Relative {
                path: PathBuf::from("../sdk"),
                in_sources: true
            }
        );
        let elsewhere = tempfile::tempdir().unwrap();
        let elsewhere = elsewhere.path().canonicalize().unwrap();
        assert_eq!(
            choose_sdk(&elsewhere, None, Some(&root)).unwrap(),
            Sdk::Vendored
        );
        assert_eq!(choose_sdk(&elsewhere, None, None).unwrap(), Sdk::Vendored);
        let Sdk::Relative { path, in_sources } =
            choose_sdk(&elsewhere, Some(&root.join("sdk")), None).unwrap()
        else {
            panic!("--sdk is not honoured");
        };
        assert!(path.is_relative() && !in_sources, "{}", path.display());
        assert!(choose_sdk(&elsewhere, Some(&root), None).is_err());
    }

    /// Every source file of the SDK is in the copy, and the copy's manifest inherits
    /// nothing from a workspace it will not have.
    #[test]
    fn the_vendored_sdk_is_complete_and_standalone() {
        let sdk_src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk/src");
        let mut on_disk: Vec<String> = std::fs::read_dir(sdk_src)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut copied: Vec<&str> = SDK_SOURCES.iter().map(|(file, _)| *file).collect();
        copied.sort();
        assert_eq!(on_disk, copied);

        let files = files("acme-text", &Sdk::Vendored).unwrap();
        let file = |name: &str| {
            files
                .iter()
                .find(|(path, _)| path == Path::new(name))
                .map(|(_, text)| text.as_str())
                .unwrap()
        };
        let manifest: toml::Table = file("chute-plugin-sdk/Cargo.toml").parse().unwrap();
        assert!(!file("chute-plugin-sdk/Cargo.toml").contains("workspace"));
        assert_eq!(
            manifest["package"]["name"].as_str(),
            Some("chute-plugin-sdk")
        );
        assert!(manifest["dependencies"].get("wit-bindgen").is_some());
        assert!(file("chute-plugin-sdk/src/lib.rs").contains("path: \"wit\""));
        assert!(file("Cargo.toml").contains("chute-plugin-sdk = { path = \"chute-plugin-sdk\" }"));
        assert!(file("src/lib.rs").contains("#[cfg(test)]"));
        assert!(file("README.md").contains("builds anywhere"));
        for (path, text) in &files {
            assert!(
                !text.contains("{{"),
                "{} has an unfilled placeholder",
                path.display()
            );
        }
    }
}
