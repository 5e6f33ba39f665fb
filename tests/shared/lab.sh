#!/usr/bin/env bash
# GlusterFS lab for chute's shared-spool tests: one "server" network namespace
# running glusterd + a one-brick volume, and up to 3 "hosts" (hosta..hostc),
# each with its own netns and FUSE client.  The hosts' mounts land in the root
# mount namespace at $CHUTE_LAB_DIR/mnt/<host>.  Only 198.18.0.0/24 is used
# (server 198.18.0.1 on a bridge, hosts .11-.13 via veth); IPv6 is disabled in
# the lab namespaces.  All state (incl. glusterd's working/log/run dirs, which
# are bind-mounted over /var/lib/glusterd, /var/log/glusterfs and /run/gluster
# in glusterd's private mount namespace) lives under $CHUTE_LAB_DIR.
# One lab per machine: netns names (chute-*) are fixed.  Extra volume options:
# CHUTE_LAB_VOLUME_OPTS="key=value ..." (e.g. client.strict-locks=on).
#
# Usage: lab.sh check|install|up N|exec X CMD..|server-exec CMD..|kill X|
#               partition X|heal X|status|down
set -euo pipefail

LAB=${CHUTE_LAB_DIR:-/run/chute-lab}
SRV=chute-srv
VOL=chute
SRV_IP=198.18.0.1
HOSTS=(hosta hostb hostc)

die() { echo "lab.sh: $*" >&2; exit 1; }
ns() { echo "chute-$1"; }
valid_host() { case "$1" in hosta|hostb|hostc) ;; *) die "unknown host '$1'";; esac; }
# Run a gluster CLI command inside glusterd's mount+net namespaces (so its
# cli.log goes to the lab's log dir, not /var/log/glusterfs).
gcli() {
  nsenter -t "$(cat "$LAB/server/glusterd.pid")" -m -n -- \
    gluster --mode=script --glusterd-sock="$LAB/server/glusterd.socket" "$@"
}
# Wait up to $1 tenths of a second for command "${@:2}" to succeed.
wait_for() {
  local n=$1; shift
  until "$@" >/dev/null 2>&1; do
    n=$((n - 1)); [ "$n" -gt 0 ] || return 1; sleep 0.1
  done
}
# SIGKILL every process in netns $1 until none is left.
kill_netns() {
  local pids i
  [ -e "/run/netns/$1" ] || return 0
  for i in $(seq 50); do
    pids=$(ip netns pids "$1" 2>/dev/null || true)
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
    sleep 0.1
  done
  echo "lab.sh: processes survive in netns $1: $pids" >&2
}

cmd_check() {
  local miss=()
  [ "$(id -u)" = 0 ] || miss+=("root")
  [ -c /dev/fuse ] || miss+=("/dev/fuse")
  command -v ip >/dev/null && ip netns list >/dev/null 2>&1 || miss+=("ip netns")
  unshare --uts --pid --fork --mount-proc true 2>/dev/null || miss+=("unshare --uts --pid")
  command -v nsenter >/dev/null || miss+=("nsenter")
  for b in glusterd glusterfs gluster; do command -v "$b" >/dev/null || miss+=("$b"); done
  [ -d /var/lib/glusterd ] && [ -d /var/log/glusterfs ] && [ -d /run/gluster ] ||
    miss+=("glusterfs-server dirs")
  if [ ${#miss[@]} -gt 0 ]; then
    echo "GlusterFS lab unavailable: missing ${miss[*]}"; exit 2
  fi
}

cmd_install() {
  command -v glusterd >/dev/null && command -v glusterfs >/dev/null && return 0
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    glusterfs-server glusterfs-client >/dev/null
  # Debian may enable a system glusterd unit; the lab never wants it running.
  if [ -d /run/systemd/system ]; then systemctl disable --now glusterd >/dev/null 2>&1 || true; fi
}

cmd_down() {
  local h m
  for h in "${HOSTS[@]}"; do kill_execs "$h"; kill_netns "$(ns "$h")"; done
  kill_netns "$SRV"                       # glusterd, brick (glusterfsd), servers
  # Lazy-unmount anything left under the lab dir (deepest first).
  if [ -d "$LAB" ]; then
    awk -v p="$LAB/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
  fi
  for h in "${HOSTS[@]}" srv; do
    [ -e "/run/netns/chute-$h" ] && ip netns del "chute-$h"
  done
  # --one-file-system: never recurse into a mount that somehow survived.
  rm -rf --one-file-system "$LAB"
  if [ "$(cat /run/chute-lab.dir 2>/dev/null)" = "$LAB" ]; then rm -f /run/chute-lab.dir; fi
}

netns_add() {
  ip netns add "$1"
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$1" link set lo up
}

up_server() {
  mkdir -p "$LAB"/server/{lib,log,run,brick} "$LAB/mnt" "$LAB/hosts"
  cp -a /var/lib/glusterd/. "$LAB/server/lib/"      # groups/, hooks/ from the package
  netns_add "$SRV"
  ip -n "$SRV" link add chute-br type bridge
  ip -n "$SRV" addr add "$SRV_IP/24" dev chute-br
  ip -n "$SRV" link set chute-br up
  # glusterd in the server netns and a private mount namespace whose
  # /var/lib/glusterd, /var/log/glusterfs and /run/gluster are lab dirs; the
  # bricks it spawns inherit both.  The volfile moves its state dirs and its
  # CLI socket (default /run/glusterd.socket) into the lab.
  cat >"$LAB/server/glusterd.vol" <<EOF
volume management
    type mgmt/glusterd
    option working-directory $LAB/server/lib
    option run-directory $LAB/server/run
    option glusterd-sockfile $LAB/server/glusterd.socket
    option transport-type socket
    option transport.socket.listen-port 24007
    option ping-timeout 0
    option event-threads 1
end-volume
EOF
  # shellcheck disable=SC2016
  ip netns exec "$SRV" sh -ec '
    mount --bind "$1/lib" /var/lib/glusterd
    mount --bind "$1/log" /var/log/glusterfs
    mount --bind "$1/run" /run/gluster
    exec glusterd -f "$1/glusterd.vol" -p "$1/glusterd.pid" -l "$1/log/glusterd.log"
  ' sh "$LAB/server"
  wait_for 300 gcli pool list || die "glusterd did not come up (see $LAB/server/log)"
  gcli volume create "$VOL" "$SRV_IP:$LAB/server/brick" force >/dev/null
  # Small lock-release times (defaults: 42 s).  A partitioned client's ops fail
  # with ENOTCONN after ping-timeout (5 s: not 3, so a busy 2-core box cannot
  # time out a live brick and silently drop its locks); the brick drops a silent
  # client, releasing its locks, after ~5 s (kernel keepalive 2 s + 3 x 1 s, or
  # TCP_USER_TIMEOUT 5 s for unacked data).  A killed client's locks go at once.
  # Caches that hide other hosts' changes are off (chute relies on rescans
  # seeing peers' renames); write-behind off so write errors surface at write().
  local kv
  for kv in network.ping-timeout=5 \
            server.tcp-user-timeout=5 server.keepalive-time=2 \
            server.keepalive-interval=1 server.keepalive-count=3 \
            client.tcp-user-timeout=5 client.keepalive-time=2 \
            client.keepalive-interval=1 client.keepalive-count=3 \
            performance.stat-prefetch=off performance.quick-read=off \
            performance.readdir-ahead=off performance.io-cache=off \
            performance.write-behind=off performance.open-behind=off \
            performance.read-ahead=off performance.nl-cache=off \
            ${CHUTE_LAB_VOLUME_OPTS:-}; do
    gcli volume set "$VOL" "${kv%%=*}" "${kv#*=}" >/dev/null
  done
  gcli volume start "$VOL" >/dev/null
}

up_host() {
  local h=$1 i=$2 n; n=$(ns "$h")
  mkdir -p "$LAB/hosts/$h" "$LAB/mnt/$h"
  netns_add "$n"
  ip -n "$SRV" link add "v$h" type veth peer name eth0 netns "$n"
  ip -n "$SRV" link set "v$h" master chute-br up
  ip -n "$n" addr add "198.18.0.$((10 + i))/24" dev eth0
  ip -n "$n" link set eth0 up
  # FUSE client runs in the host's netns; the mount lands in OUR mount ns.
  # Kernel attr/entry caching is left at glusterfs defaults (1 s).
  nsenter --net="/run/netns/$n" -- glusterfs --volfile-server="$SRV_IP" \
    --volfile-id="$VOL" --log-file="$LAB/hosts/$h/fuse.log" \
    --pid-file="$LAB/hosts/$h/fuse.pid" "$LAB/mnt/$h"
  if ! wait_for 200 mountpoint -q "$LAB/mnt/$h" || ! wait_for 200 stat "$LAB/mnt/$h/."; then
    die "mount for $h failed (see $LAB/hosts/$h/fuse.log)"
  fi
}

# Show gluster's error lines before a failed `up` deletes the logs.
up_failed_logs() {
  cat "$LAB"/server/log/*.log "$LAB"/server/log/bricks/*.log "$LAB"/hosts/*/fuse.log \
    2>/dev/null | grep -E '^\[[^]]*\] [EC] ' | grep -v 'Dict get failed' | tail -n 5 >&2 || true
}

cmd_up() {
  local n=${1:-} i
  case "$n" in 1|2|3) ;; *) die "usage: up N (N = 1..3)";; esac
  local msg; msg=$( (cmd_check) ) || die "$msg"
  [ ! -e "/run/netns/$SRV" ] || die "a lab is already up (run: lab.sh down)"
  # Any failure from here on tears down what was built.
  # shellcheck disable=SC2154
  trap 'st=$?; [ "$st" = 0 ] || { up_failed_logs; cmd_down; }' EXIT
  # Where this lab lives, so a later `down` can clear it after a killed test run.
  echo "$LAB" >/run/chute-lab.dir
  up_server
  for ((i = 0; i < n; i++)); do up_host "${HOSTS[$i]}" $((i + 1)); done
}

# exec X CMD...: run as host X (its netns; new UTS ns with hostname X; new PID
# ns with its own /proc).  The pid recorded is unshare's; its child is the PID
# namespace's init.  With CHUTE_LAB_NET=root the command keeps the root network
# namespace instead (the tests' fake provider APIs listen on its loopback): the
# host's storage traffic still goes through its FUSE client in its own netns, so
# `partition X` cuts the host off the spool while it can still reach the APIs.
cmd_exec() {
  local h=${1:-}; valid_host "$h"; shift
  [ -e "/run/netns/$(ns "$h")" ] || die "$h is not up"
  [ ! -e "$LAB/hosts/$h/killed" ] || die "$h was killed"
  echo $$ >>"$LAB/hosts/$h/pids"
  local net=(nsenter --net="/run/netns/$(ns "$h")" --)
  [ "${CHUTE_LAB_NET:-host}" != root ] || net=()
  # shellcheck disable=SC2016
  exec "${net[@]}" unshare --uts --pid --fork --mount-proc --kill-child -- \
    sh -c 'hostname "$0" && exec "$@"' "$h" "$@"
}

# SIGKILL the processes `exec X` started (each recorded unshare and its PID
# namespace, whose init takes every process of the namespace with it).
kill_execs() {
  local pid child
  [ -f "$LAB/hosts/$1/pids" ] || return 0
  while read -r pid; do
    for child in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do
      kill -9 "$child" 2>/dev/null || true
    done
    kill -9 "$pid" 2>/dev/null || true
  done <"$LAB/hosts/$1/pids"
}

cmd_server_exec() {
  [ -e "/run/netns/$SRV" ] || die "lab is not up"
  # shellcheck disable=SC2016
  exec nsenter --net="/run/netns/$SRV" -- "$@"
}

cmd_kill() {
  local h=${1:-}; valid_host "$h"
  [ -e "/run/netns/$(ns "$h")" ] || die "$h is not up"
  touch "$LAB/hosts/$h/killed"
  kill_execs "$h"                         # its daemons, in whichever netns
  kill_netns "$(ns "$h")"                 # exec'd processes + its FUSE client
  umount -l "$LAB/mnt/$h" 2>/dev/null || true
}

set_link() {
  local h=${1:-}; valid_host "$h"
  [ -e "/run/netns/$(ns "$h")" ] || die "$h is not up"
  ip -n "$(ns "$h")" link set eth0 "$2"
  ip -n "$SRV" link set "v$h" "$2"
}

cmd_status() {
  local h
  for h in "${HOSTS[@]}"; do
    [ -d "$LAB/hosts/$h" ] || continue
    if [ -e "$LAB/hosts/$h/killed" ]; then echo "$h killed"
    elif ip -n "$(ns "$h")" link show eth0 2>/dev/null | grep -q 'state DOWN'; then echo "$h partitioned"
    elif mountpoint -q "$LAB/mnt/$h"; then echo "$h mounted"
    else echo "$h unmounted"; fi
  done
}

case "${1:-}" in
  check) cmd_check ;;
  install) cmd_install ;;
  up) cmd_up "${2:-}" ;;
  exec) shift; cmd_exec "$@" ;;
  server-exec) shift; cmd_server_exec "$@" ;;
  kill) cmd_kill "${2:-}" ;;
  partition) set_link "${2:-}" down ;;
  heal) set_link "${2:-}" up ;;
  status) cmd_status ;;
  down) cmd_down ;;
  *) die "usage: lab.sh check|install|up N|exec X CMD..|server-exec CMD..|kill X|partition X|heal X|status|down" ;;
esac
