#!/usr/bin/env bash
# Checks the systemd units: `systemd-analyze security --offline=true` exposure at most
# 2.0 for chute.service and chute@.service, and a one-step install into a scratch
# root (scripts/install.sh with DESTDIR) that lays out the expected tree and passes
# `systemd-analyze verify --root` there without a single warning.
#   scripts/check-systemd.sh [BUILD_DIR]   (default <target>/debug: chute and chute-llm)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
build="${1:-$target/debug}"
max_exposure="2.0"
command -v systemd-analyze >/dev/null || { echo "check-systemd: systemd-analyze is missing (apt-get install systemd)" >&2; exit 1; }

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# Exposure: each unit is analysed as a file (offline, no running systemd needed).
for unit in chute.service chute@.service; do
  cp "systemd/$unit" "$scratch/$unit"
  line="$(cd "$scratch" && systemd-analyze security --offline=true "./$unit" 2>&1 | grep 'Overall exposure level')"
  exposure="$(sed -E 's/.*: ([0-9.]+) .*/\1/' <<<"$line")"
  echo "check-systemd: $unit exposure $exposure (at most $max_exposure)"
  awk -v e="$exposure" -v max="$max_exposure" 'BEGIN { exit !(e != "" && e + 0 <= max + 0) }' \
    || { echo "check-systemd: $unit is too exposed: $line" >&2; exit 1; }
done

# The install step into a scratch root, with the built binaries.
stage="$scratch/build"
mkdir -p "$stage/plugins"
for binary in chute chute-llm; do
  [ -x "$build/$binary" ] || { echo "check-systemd: $build/$binary is missing: cargo build --bins first" >&2; exit 1; }
  cp "$build/$binary" "$stage/$binary"
done
root="$scratch/root"
CHUTE_BUILD_DIR="$stage" DESTDIR="$root" PREFIX=/usr scripts/install.sh >/dev/null
for path in usr/bin/chute usr/bin/chute-llm usr/lib/chute/plugins \
  usr/lib/systemd/system/chute.service usr/lib/systemd/system/chute@.service \
  usr/lib/sysusers.d/chute.conf usr/lib/tmpfiles.d/chute.conf etc/chute/chute.toml \
  usr/share/doc/chute/README.md; do
  [ -e "$root/$path" ] || { echo "check-systemd: the install did not place /$path" >&2; exit 1; }
done
grep -q '^ExecStart=/usr/bin/chute run --config /etc/chute/chute.toml$' "$root/usr/lib/systemd/system/chute.service" \
  || { echo "check-systemd: chute.service does not start /usr/bin/chute with /etc/chute/chute.toml" >&2; exit 1; }
# A second install keeps the operator's config.
echo "# edited" >> "$root/etc/chute/chute.toml"
CHUTE_BUILD_DIR="$stage" DESTDIR="$root" PREFIX=/usr scripts/install.sh >/dev/null
grep -q '^# edited$' "$root/etc/chute/chute.toml" \
  || { echo "check-systemd: a second install overwrote /etc/chute/chute.toml" >&2; exit 1; }

# verify resolves the units' dependencies (targets) and commands (/bin/kill) inside the
# root: give it the host's.
cp -n /usr/lib/systemd/system/*.target "$root/usr/lib/systemd/system/" 2>/dev/null || true
mkdir -p "$root/bin"
cp "$(type -P kill)" "$root/bin/kill"
output="$(systemd-analyze verify --root="$root" chute.service chute@check.service 2>&1)" || {
  echo "check-systemd: systemd-analyze verify failed:" >&2; echo "$output" >&2; exit 1; }
[ -z "$output" ] || { echo "check-systemd: systemd-analyze verify warned:" >&2; echo "$output" >&2; exit 1; }
echo "check-systemd: the install tree is complete and systemd-analyze verify is clean"
