#!/usr/bin/env bash
# Installs a release build (scripts/build.sh) under PREFIX (default /usr/local): the
# binaries in PREFIX/bin and the shipped plugins in PREFIX/lib/chute/plugins, where the
# installed chute finds them by default.
#   scripts/install.sh [PREFIX]
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-/usr/local}"
target="${CARGO_TARGET_DIR:-target}"
release="$target/release"
for binary in chute chute-llm; do
  [ -x "$release/$binary" ] || { echo "install: $release/$binary is missing: run scripts/build.sh first" >&2; exit 1; }
done
[ -d "$release/plugins" ] || { echo "install: $release/plugins is missing: run scripts/build.sh first" >&2; exit 1; }
install -d "$prefix/bin" "$prefix/lib/chute/plugins"
install -m 0755 "$release/chute" "$release/chute-llm" "$prefix/bin/"
install -m 0644 "$release"/plugins/*.wasm "$prefix/lib/chute/plugins/"
for manifest in "$release"/plugins/*.toml; do
  [ -e "$manifest" ] && install -m 0644 "$manifest" "$prefix/lib/chute/plugins/"
done
echo "installed chute in $prefix/bin and its plugins in $prefix/lib/chute/plugins"
