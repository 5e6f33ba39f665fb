#!/usr/bin/env bash
# Builds the provider plugins chute ships (every crate in plugins/ but the SDK and the
# test plugins) for wasm32-wasip2 and installs them as DEST/NAME.wasm, each with its
# NAME.toml manifest when it has one. The daemon finds them there by default when DEST
# is `plugins/` beside the chute binary or `../lib/chute/plugins` of an install.
#   scripts/build-plugins.sh DEST
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:?usage: scripts/build-plugins.sh DEST}"
target="${CARGO_TARGET_DIR:-target}"
# The tests point this at the folder their own plugin build uses.
wasm_target="${CHUTE_WASM_TARGET:-$target/wasm-plugins}"

names=()
for crate in plugins/*/Cargo.toml; do
  name=$(basename "$(dirname "$crate")")
  [ "$name" = sdk ] || names+=("$name")
done
packages=()
for name in "${names[@]}"; do packages+=(-p "chute-$name"); done
cargo build --release --locked --target wasm32-wasip2 --manifest-path plugins/Cargo.toml \
  --target-dir "$wasm_target" "${packages[@]}"

mkdir -p "$dest"
for name in "${names[@]}"; do
  built="$wasm_target/wasm32-wasip2/release/chute_${name//-/_}.wasm"
  # Replaced whole (a copy then a rename), so a running daemon never reads half a file.
  cp "$built" "$dest/.$name.wasm.new" && mv -f "$dest/.$name.wasm.new" "$dest/$name.wasm"
  if [ -f "plugins/$name/$name.toml" ]; then
    cp "plugins/$name/$name.toml" "$dest/.$name.toml.new" && mv -f "$dest/.$name.toml.new" "$dest/$name.toml"
  fi
done
echo "shipped plugins in $dest: ${names[*]}"
