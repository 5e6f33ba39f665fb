#!/usr/bin/env bash
# Every check CI runs: formatting, clippy with warnings denied, the systemd units,
# and every test (unit tests and the end-to-end suites that spawn the real binary).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo fmt --all --check
cargo fmt --all --check --manifest-path plugins/Cargo.toml
cargo clippy --all-targets --locked -- -D warnings
# The plugin SDK and the test plugins are a wasm32-wasip2 workspace of their own.
cargo clippy --locked --target wasm32-wasip2 --manifest-path plugins/Cargo.toml \
  --target-dir "$target/wasm-plugins" -- -D warnings
# The tests spawn the real binaries (chute, and the chute-llm worker it starts), and
# `cargo test` only builds the binaries of the package whose tests run.
cargo build --bins --locked
# The systemd units: exposure at most 2.0, and the install step into a scratch root
# passes `systemd-analyze verify` there.
scripts/check-systemd.sh "$target/debug"
cargo test --all-targets --locked
# The shipped plugins' own unit tests (text splitting, WAV joining, alignment checks)
# run on the host; the plugins' behaviour through the host is in tests/plugins.
cargo test --locked --manifest-path plugins/Cargo.toml --target-dir "$target/plugins-host" \
  -p chute-plugin-sdk -p chute-elevenlabs -p chute-google-tts -p chute-whisk \
  -p chute-seedance -p chute-openai
