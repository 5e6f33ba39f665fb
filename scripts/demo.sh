#!/usr/bin/env bash
# The offline demo: start chute on a fresh spool, drop the bundled sample brief and
# sample audio (plus this README into an archive route), wait for every job to end,
# and show what was delivered. Leaves the spool in ./demo-spool for you to look at.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"
chute="$target_dir/release/chute"
[ -x "$chute" ] || chute="$target_dir/debug/chute"
[ -x "$chute" ] || { echo "demo: build chute first (scripts/build.sh)" >&2; exit 1; }

spool="$PWD/demo-spool"
rm -rf "$spool"
config="$PWD/config/demo.toml"
"$chute" config check "$config" >/dev/null

CHUTE_LOG="${CHUTE_LOG:-info}" "$chute" run --spool "$spool" --config "$config" 2>"$spool.log" &
daemon=$!
trap 'kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -d "$spool/inbox/archive" ] && break; sleep 0.1; done

status=0
# The recording becomes a transcript (whisper.cpp, tiny.en) and a summary (llama.cpp,
# SmolLM2-135M), both from PyPI via .ci/install.
"$chute" --spool "$spool" --config "$config" submit --wait samples/meeting.ogg || status=$?
# The sample brief becomes a 9:16 sales video offline: the template writer's script,
# scene cards, Ken-Burns moves, espeak-ng's voice, burned-in captions, H.264 + AAC.
"$chute" --spool "$spool" --config "$config" submit --wait samples/brief.json || status=$?
"$chute" --spool "$spool" --config "$config" submit --wait --route archive README.md || status=$?

echo
"$chute" --spool "$spool" --config "$config" jobs
echo
echo "Delivered (outbox) and refused (failed) results under $spool:"
find "$spool/outbox" "$spool/failed" -mindepth 2 -maxdepth 3 -not -path '*/.job*' | sed "s|$spool/||" | sort
transcript=$(find "$spool/outbox/audio" -name transcript.txt | head -n 1)
if [ -n "$transcript" ]; then
  echo
  echo "Transcript of samples/meeting.ogg:"
  cat "$transcript"
fi
summary=$(find "$spool/outbox/audio" -name summary.json | head -n 1)
if [ -n "$summary" ]; then
  echo
  echo "Summary (SmolLM2-135M, the tiny offline model: structure, not prose):"
  cat "$summary"
fi
video=$(find "$spool/outbox/briefs" -name final.mp4 | head -n 1)
if [ -n "$video" ]; then
  echo
  echo "Sales video of samples/brief.json (play it with any player):"
  echo "  $video"
else
  echo "demo: no final.mp4 was delivered; see $spool/failed/briefs and $spool.log" >&2
  status=1
fi
echo "Daemon log: $spool.log"
exit "$status"
