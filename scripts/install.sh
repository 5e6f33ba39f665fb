#!/usr/bin/env bash
# Installs a release build (scripts/build.sh) in one step:
#   PREFIX/bin/chute, PREFIX/bin/chute-llm        the daemon and its llama.cpp worker
#   PREFIX/lib/chute/plugins/                     the shipped provider plugins
#   PREFIX/lib/systemd/system/chute.service, chute@.service
#   PREFIX/lib/sysusers.d/chute.conf, PREFIX/lib/tmpfiles.d/chute.conf
#   PREFIX/share/doc/chute/README.md
#   SYSCONFDIR/chute/chute.toml                   the example config (an existing one is kept)
#
#   scripts/install.sh [PREFIX]          (or PREFIX=... DESTDIR=... scripts/install.sh)
#
# PREFIX defaults to /usr/local; DESTDIR (default empty) stages everything under a
# scratch root, as packagers do. SYSCONFDIR defaults to /etc. The units' paths are
# rewritten to PREFIX. Installing into the real root (no DESTDIR) as root on a machine
# running systemd also creates the chute user and folders and reloads systemd, so
# `systemctl enable --now chute` works next. CHUTE_BUILD_DIR (default
# <target>/release) is where the binaries and plugins/ are taken from.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-${PREFIX:-/usr/local}}"
destdir="${DESTDIR:-}"
sysconfdir="${SYSCONFDIR:-/etc}"
target="${CARGO_TARGET_DIR:-target}"
build="${CHUTE_BUILD_DIR:-$target/release}"
case "$prefix" in /*) ;; *) echo "install: PREFIX must be an absolute path, not $prefix" >&2; exit 2 ;; esac

for binary in chute chute-llm; do
  [ -x "$build/$binary" ] || { echo "install: $build/$binary is missing: run scripts/build.sh first" >&2; exit 1; }
done
[ -d "$build/plugins" ] || { echo "install: $build/plugins is missing: run scripts/build.sh first" >&2; exit 1; }

root="$destdir$prefix"
unitdir="$root/lib/systemd/system"
install -d "$root/bin" "$root/lib/chute/plugins" "$unitdir" "$root/lib/sysusers.d" \
  "$root/lib/tmpfiles.d" "$root/share/doc/chute" "$destdir$sysconfdir/chute"
install -m 0755 "$build/chute" "$build/chute-llm" "$root/bin/"
shopt -s nullglob
for plugin in "$build"/plugins/*.wasm "$build"/plugins/*.toml; do
  install -m 0644 "$plugin" "$root/lib/chute/plugins/"
done
shopt -u nullglob

# The units name /usr/bin/chute, /etc/chute and /usr/share/doc: point them at this install.
for unit in chute.service chute@.service; do
  sed -e "s|/usr/bin/chute|$prefix/bin/chute|g" \
      -e "s|/usr/share/doc/chute|$prefix/share/doc/chute|g" \
      -e "s|/etc/chute|$sysconfdir/chute|g" \
      "systemd/$unit" > "$unitdir/$unit.tmp"
  chmod 0644 "$unitdir/$unit.tmp"
  mv "$unitdir/$unit.tmp" "$unitdir/$unit"
done
install -m 0644 systemd/sysusers.d/chute.conf "$root/lib/sysusers.d/chute.conf"
sed -e "s|/etc/chute|$sysconfdir/chute|g" systemd/tmpfiles.d/chute.conf > "$root/lib/tmpfiles.d/chute.conf"
chmod 0644 "$root/lib/tmpfiles.d/chute.conf"
install -m 0644 README.md "$root/share/doc/chute/README.md"

config="$destdir$sysconfdir/chute/chute.toml"
if [ -e "$config" ]; then
  echo "install: kept the existing $config (the new example is $config.example)"
  install -m 0640 config/chute.toml "$config.example"
else
  install -m 0640 config/chute.toml "$config"
fi

if [ -z "$destdir" ] && [ "$(id -u)" -eq 0 ] && [ -d /run/systemd/system ]; then
  systemd-sysusers "$root/lib/sysusers.d/chute.conf"
  systemd-tmpfiles --create "$root/lib/tmpfiles.d/chute.conf"
  systemctl daemon-reload
  echo "installed chute under $prefix; start it with: systemctl enable --now chute"
else
  echo "installed chute under $destdir$prefix (units in $unitdir, config in $destdir$sysconfdir/chute)"
fi
