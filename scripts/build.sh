#!/usr/bin/env bash
# The release build: chute and its chute-llm worker, and the provider plugins chute
# ships, installed beside the binary (<target>/release/plugins) where the daemon finds
# them by default.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked --bins
scripts/build-plugins.sh "$target/release/plugins"
