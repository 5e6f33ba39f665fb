#!/usr/bin/env bash
# Transcription benchmark: chute's decode + transcribe, at the daemon's default settings,
# next to faster-whisper (and whisper.cpp's own command-line tool), in one run, on the
# same audio and threads.
#
#   scripts/bench-transcribe.sh                      the comparison (CHUTE_BENCH_RUNS rounds)
#   CHUTE_BENCH_MATRIX=1 scripts/bench-transcribe.sh  also every weights type × greedy/beam 5
#   CHUTE_BENCH_LONG=1 scripts/bench-transcribe.sh    also a one-hour recording: RTF, memory
#
# What it does (everything it builds or installs is cached and reused; re-running is safe):
#   1. models: faster-whisper tiny.en (CTranslate2) via scripts/fetch-test-models.sh, and
#      its ggml conversion with the default `transcribe.weights` under
#      ~/.cache/chute/models/ggml/ (made by the bench target if missing);
#   2. chute: builds the bench target `transcribe` (tests/bench/transcribe.rs, release).
#      It takes its settings from the library's defaults (`TranscribeConfig::default()`),
#      as the daemon runs them, only the threads set to $CHUTE_BENCH_THREADS: with the
#      Silero model present (fetch-test-models.sh) that includes voice activity detection,
#      and chute runs once more with VAD off;
#   3. whisper-cli: whisper.cpp's own CLI, if you point WHISPER_CLI at one built from the
#      whisper.cpp version whisper-rs-sys vendors (Release, OpenMP off). The crates.io copy
#      has no examples/, and this script builds nothing from outside the package
#      registries, so without WHISPER_CLI that comparison is skipped;
#   4. faster-whisper: `pip install faster-whisper==1.2.1` into a venv at
#      $CHUTE_BENCH_CACHE/faster-whisper-venv (PyPI only). It loads the local CTranslate2
#      folder (never a model hub), compute_type="int8", cpu_threads=$CHUTE_BENCH_THREADS,
#      its other settings at their defaults (beam_size 5, best_of 5, temperature fallback,
#      condition_on_previous_text, no VAD); and once more with vad_filter=True;
#   5. audio, made afresh each run and the same every run (espeak-ng is deterministic,
#      sox runs with -R and without dither), 16 kHz mono WAVs all tools read:
#      - `paragraph`: a fixed ~160-word English paragraph at 140 wpm (~62 s);
#      - `meeting`: a ~3.3-minute meeting of four espeak-ng voices (en-us, en-gb, en-us+f3,
#        en-gb+m7) at 150–170 wpm taking 18 turns, with pauses of 1–4 s between turns and
#        light pink noise mixed under the whole recording; its reference is the turns'
#        text;
#      (chute also times decoding an MP3 of the paragraph, for the decode stage alone);
#   6. $CHUTE_BENCH_RUNS rounds (default 3), each running on both clips: chute (one
#      process per clip, model loaded once, defaults then VAD off; then, with CHUTE_BENCH_LLM, chute's summary of
#      its transcript by llama.cpp in a release chute-llm, SmolLM2-135M, built-in
#      template: tokens per second), faster-whisper without and with VAD, whisper-cli
#      greedy + beam 5, in an order that rotates from round to round. The summary uses
#      the median of each figure over the rounds; ratios of the best (fastest) rounds are
#      shown alongside.
#
# Times compared (model loading excluded everywhere, and reported on its own lines):
#   chute:          decode (chute decode child, GStreamer) + transcribe (create state,
#                   read samples, whisper_full), wall clock in the bench process;
#   whisper-cli:    "total time" minus "load time" of its whisper_print_timings (state
#                   init + reading the WAV + whisper_full), process wall time shown too;
#   faster-whisper: WhisperModel.transcribe(wav) with its segments consumed (includes its
#                   own PyAV decode of the file).
# Ratios, both ways fair: chute's defaults ÷ faster-whisper's defaults (no VAD); chute
# with VAD ÷ faster-whisper with vad_filter; chute without VAD ÷ faster-whisper without.
# WER: chute's word_error_rate against the reference text, for every tool. The summary
# line also gives the share of repeated items and sentences in summary.json (goal 0).
#
# Environment: CHUTE_BENCH_CACHE (default ~/.cache/chute/bench), CHUTE_BENCH_RUNS (3),
# CHUTE_BENCH_THREADS (2), CHUTE_BENCH_MATRIX, CHUTE_BENCH_LONG, WHISPER_CLI,
# PYTHON (python3), CHUTE_MODELS_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${CHUTE_BENCH_CACHE:-$HOME/.cache/chute/bench}"
runs="${CHUTE_BENCH_RUNS:-3}"
threads="${CHUTE_BENCH_THREADS:-2}"
python="${PYTHON:-python3}"
models="${CHUTE_MODELS_DIR:-$HOME/.cache/chute/models}"
ct2="$models/ct2/whisper-tiny.en"
fw_version=1.2.1
mkdir -p "$cache"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for tool in cargo espeak-ng sox soxi bc gst-launch-1.0 "$python"; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is needed" >&2; exit 1; }
done

# 1. models
scripts/fetch-test-models.sh >/dev/null

# 2. chute's bench target (release); run directly afterwards so every round uses one build.
echo "bench: building the chute bench target (cargo bench --bench transcribe --no-run)"
bench=$(cargo bench --bench transcribe --no-run 2>&1 | tee "$tmp/cargo.log" |
  sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -1)
if [ -z "$bench" ] || [ ! -x "$bench" ]; then
  cat "$tmp/cargo.log" >&2
  echo "bench: cargo did not report the bench executable" >&2
  exit 1
fi
model=$("$bench" --bench model)
echo "bench: building chute-llm (release) for the summary figures"
cargo build --release --workspace --bins --quiet
export CHUTE_BENCH_LLM="$PWD/target/release/chute-llm"
[ -n "${CARGO_TARGET_DIR:-}" ] && CHUTE_BENCH_LLM="$CARGO_TARGET_DIR/release/chute-llm"

# 3. whisper-cli: whisper.cpp's own command-line tool, supplied by you (the whisper.cpp
#    sources on crates.io have no examples/, and this script builds nothing from outside
#    the package registries). Point WHISPER_CLI at a whisper-cli built from the whisper.cpp
#    version that whisper-rs-sys vendors (see Cargo.lock), Release, OpenMP off.
sys_version=$(sed -n '/^name = "whisper-rs-sys"$/{n;s/^version = "\(.*\)"$/\1/p;}' Cargo.lock)
wcpp_version="(whisper-rs-sys $sys_version)"
whisper_cli="${WHISPER_CLI:-}"
if [ -n "$whisper_cli" ] && [ ! -x "$whisper_cli" ]; then
  echo "bench: WHISPER_CLI=$whisper_cli is not an executable" >&2
  exit 1
fi
[ -n "$whisper_cli" ] || echo "bench: whisper-cli not measured (set WHISPER_CLI to compare with whisper.cpp's own CLI)"

# 4. faster-whisper in its own venv
venv="$cache/faster-whisper-venv"
if [ "$(cat "$venv/.chute-stamp" 2>/dev/null)" != "faster-whisper==$fw_version" ]; then
  echo "bench: installing faster-whisper $fw_version into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "faster-whisper==$fw_version"
  echo "faster-whisper==$fw_version" >"$venv/.chute-stamp"
fi

# 5. the audio (made afresh each run; espeak-ng and sox -R are deterministic)
work="$cache/run"
rm -rf "$work"
mkdir -p "$work/paragraph" "$work/meeting"
cat >"$work/paragraph/reference.txt" <<'TEXT'
The town library opened a new reading room last spring. It has tall windows, long wooden tables and quiet corners where people can study for hours. Every morning the staff sort the returned books and place them back on the shelves. Children come after school to read stories and play simple word games. On weekends the room is often full of students preparing for their exams. The library also offers free classes on using computers and finding information on the internet. Many older visitors learn how to send messages to their families and read the news. The head librarian says that the best part of her job is helping someone find exactly the book they need. She hopes the city will give them more money next year so they can stay open later in the evening. Volunteers from the neighborhood help to run a small coffee shop near the entrance, and the money they raise pays for new books and magazines.
TEXT
espeak-ng -s 140 -w "$work/paragraph/espeak.wav" -f "$work/paragraph/reference.txt"
sox -R -D "$work/paragraph/espeak.wav" -r 16000 -c 1 -b 16 "$work/paragraph/speech.wav"
(cd "$work/paragraph" && gst-launch-1.0 -q filesrc location=speech.wav ! wavparse ! audioconvert ! \
  lamemp3enc ! filesink location=speech.mp3)

# The meeting: one turn a line, "voice words-per-minute pause-after-seconds text".
cat >"$work/meeting/turns.txt" <<'TEXT'
en-us 160 2.0 Good morning everyone, thanks for joining the weekly planning meeting. We have a lot to cover today, so let us start with the release schedule for the mobile app.
en-gb 150 1.5 Thanks. The release candidate is ready for testing. We fixed the login problem that customers reported last week, and the crash on older phones is gone as well.
en-us+f3 170 3.0 That is good news. Did the support team confirm that the payment screen works with the new bank cards? Several people wrote to us about failed payments on Sunday.
en-gb+m7 155 1.0 Yes, they tested it yesterday afternoon with twelve different cards. Every payment went through, but the receipt email still arrives about ten minutes late.
en-us 160 2.5 We should look at the email queue before the launch. Can someone from the backend team take that task and report back on Thursday?
en-gb 150 4.0 I can do it. I think the delay comes from the retry settings of the mail service, which we changed during the holiday sale in December.
en-us+f3 170 1.5 Great. The next topic is the marketing budget for the summer campaign. We planned to spend forty thousand dollars, mostly on video advertising.
en-gb+m7 155 2.0 I would move part of that money to search ads. Our numbers from the spring show that search brought twice as many new customers for the same price.
en-us 160 3.5 That makes sense to me. Please prepare a short comparison with the costs and the results of both channels, so we can decide at the next meeting.
en-gb 150 1.0 Sure. I will also ask the design team for three new banners, because the old ones still show last year's prices and the wrong phone number.
en-us+f3 170 2.0 Speaking of the design team, they are moving to the second floor next month. The meeting rooms on the first floor will be closed for two weeks while the painters work.
en-gb+m7 155 2.5 Where should we hold the customer interviews then? We have six interviews planned for the middle of the month, and the guests expect a quiet room.
en-us 160 1.5 We can book the library room across the street. It costs a little money, but it has good chairs, a large table and a coffee machine.
en-gb 150 3.0 Fine. One more thing from my side: the new laptops arrive on Monday. Everyone should back up their files before the old machines are collected on Friday.
en-us+f3 170 1.0 Will the help desk install the software for us, or do we have to do it ourselves? Last time it took me a whole day to set everything up again.
en-gb+m7 155 2.0 The help desk will prepare the laptops with the standard tools. You only need to install the special programs that your own team uses.
en-us 160 1.5 All right. Let me summarize the action items. The backend team checks the email delay, marketing compares the two channels, and we book the library room for the interviews.
en-gb 150 0 Sounds good. Thank you all, and see you next week at the same time.
TEXT
(
  cd "$work/meeting"
  : >reference.txt
  parts=()
  turn=0
  while read -r voice wpm pause text; do
    turn=$((turn + 1))
    espeak-ng -v "$voice" -s "$wpm" -w "turn$turn.espeak.wav" "$text"
    sox -R -D "turn$turn.espeak.wav" -r 16000 -c 1 -b 16 "turn$turn.wav"
    parts+=("turn$turn.wav")
    if [ "$pause" != 0 ]; then
      sox -R -D -n -r 16000 -c 1 -b 16 "pause$turn.wav" trim 0 "$pause"
      parts+=("pause$turn.wav")
    fi
    echo "$text" >>reference.txt
  done <turns.txt
  sox -R -D "${parts[@]}" voices.wav
  sox -R -D -n -r 16000 -c 1 -b 16 noise.wav synth "$(soxi -D voices.wav)" pinknoise vol 0.02
  sox -R -D -m -v 1 voices.wav -v 1 noise.wav speech.wav
  rm -f turn*.wav pause*.wav voices.wav noise.wav
)
clips=(paragraph meeting)

cat >"$work/faster_whisper_run.py" <<'PY'
"""One faster-whisper run: load the local CTranslate2 model, transcribe, print times."""
import sys
import time

from faster_whisper import WhisperModel

model_dir, audio, out, threads, vad = sys.argv[1:6]
started = time.perf_counter()
model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=int(threads))
loaded = time.perf_counter()
segments, info = model.transcribe(audio, vad_filter=(vad == "vad"))
text = "\n".join(segment.text.strip() for segment in segments)
done = time.perf_counter()
with open(out, "w", encoding="utf-8") as file:
    file.write(text + "\n")
print(f"load_s={loaded - started:.4f} work_s={done - loaded:.4f} audio_s={info.duration:.3f}")
PY

# 6. the rounds
results="$work/results.txt"
: >"$results"
now() { date +%s.%N; }
echo "bench: $runs rounds on $(for clip in "${clips[@]}"; do printf '%s %.1f s, ' "$clip" "$(soxi -D "$work/$clip/speech.wav")"; done)" \
  "$threads threads, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (results in $work)"
run_chute() { # round out
  local clip decode_only
  for clip in "${clips[@]}"; do
    decode_only=()
    [ "$clip" = paragraph ] && decode_only=("$work/paragraph/speech.mp3")
    "$bench" --bench run "$clip" "$work/$clip/speech.wav" "$work/$clip/reference.txt" "$2" "${decode_only[@]}" |
      sed -n "s/^result /result round=$1 /p; /^note /p" >>"$results"
  done
}
run_whisper_cli() { # round out
  local clip mode beam started ended load_ms total_ms wer
  for clip in "${clips[@]}"; do
    for mode in greedy beam5; do
      if [ "$mode" = greedy ]; then beam=(-bs 1 -bo 1); else beam=(-bs 5 -bo 5); fi
      started=$(now)
      "$whisper_cli" -m "$model" -f "$work/$clip/speech.wav" -t "$threads" -l en "${beam[@]}" -nfa \
        -otxt -of "$2/whisper-cli-$clip-$mode" >"$2/whisper-cli.stdout" 2>"$2/whisper-cli-$clip-$mode.stderr"
      ended=$(now)
      load_ms=$(sed -n 's/.*load time = *\([0-9.]*\) ms.*/\1/p' "$2/whisper-cli-$clip-$mode.stderr")
      total_ms=$(sed -n 's/.*total time = *\([0-9.]*\) ms.*/\1/p' "$2/whisper-cli-$clip-$mode.stderr")
      wer=$("$bench" --bench wer "$work/$clip/reference.txt" "$2/whisper-cli-$clip-$mode.txt")
      awk -v r="$1" -v c="$clip" -v m="$mode" -v l="$load_ms" -v t="$total_ms" -v s="$started" -v e="$ended" -v w="$wer" \
        'BEGIN { printf "result round=%s tool=whisper-cli clip=%s mode=%s load_s=%.4f work_s=%.4f total_s=%.4f wall_s=%.4f wer=%s\n", r, c, m, l / 1000, (t - l) / 1000, t / 1000, e - s, w }' >>"$results"
    done
  done
}
run_faster_whisper() { # round out
  local clip vad wer
  for clip in "${clips[@]}"; do
    for vad in novad vad; do
      HF_HUB_OFFLINE=1 "$venv/bin/python" "$work/faster_whisper_run.py" "$ct2" "$work/$clip/speech.wav" \
        "$2/faster-whisper-$clip-$vad.txt" "$threads" "$vad" >"$2/faster-whisper.stdout" 2>"$2/faster-whisper.stderr"
      wer=$("$bench" --bench wer "$work/$clip/reference.txt" "$2/faster-whisper-$clip-$vad.txt")
      echo "result round=$1 tool=faster-whisper clip=$clip mode=$vad $(cat "$2/faster-whisper.stdout") wer=$wer" >>"$results"
    done
  done
}
# The order rotates from round to round, so no tool always runs first (or last).
tools=(run_chute run_faster_whisper)
[ -n "$whisper_cli" ] && tools+=(run_whisper_cli)
for round in $(seq 1 "$runs"); do
  out="$work/r$round"
  mkdir -p "$out"
  for index in "${!tools[@]}"; do
    "${tools[$(((index + round - 1) % ${#tools[@]}))]}" "$round" "$out"
  done
  echo "bench: round $round of $runs done"
done

# 7. the long recording (opt-in): the meeting and the paragraph repeated to an hour.
if [ "${CHUTE_BENCH_LONG:-0}" = 1 ]; then
  long_parts=()
  total=0
  while [ "$(echo "$total < 3600" | bc)" = 1 ]; do
    long_parts+=("$work/meeting/speech.wav" "$work/paragraph/speech.wav")
    total=$(echo "$total + $(soxi -D "$work/meeting/speech.wav") + $(soxi -D "$work/paragraph/speech.wav")" | bc)
  done
  sox -R -D "${long_parts[@]}" "$work/long.wav"
  echo "bench: the long recording, $(soxi -D "$work/long.wav") s"
  "$bench" --bench long "$work/long.wav" "$work/long" | sed -n 's/^result /result round=1 /p' >>"$results"
fi

# 8. the summary
"$python" - "$results" "$wcpp_version" "$fw_version" "$threads" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import statistics
import sys

results, wcpp, fw, threads, load_after = sys.argv[1:6]
rows, notes = {}, set()
for line in open(results, encoding="utf-8"):
    if line.startswith("note "):
        notes.add(line.split(" ", 2)[2].strip())
        continue
    fields = {name: value for name, value in (part.split("=", 1) for part in line.split()[1:])}
    if fields["tool"] == "chute" and fields["mode"] == "matrix":
        key = ("matrix", fields["clip"], fields["weights"] + " " + fields["decoding"])
    else:
        key = (fields["tool"], fields.get("clip") or fields.get("file"), fields.get("mode", ""))
    rows.setdefault(key, []).append(fields)
for (tool, _, _), group in rows.items():
    if tool in ("chute", "matrix"):
        for row in group:
            row["work_s"] = float(row["decode_s"]) + float(row["transcribe_s"])


def values(key, field):
    return [float(row[field]) for row in rows[key]]


def med(key, field):
    return statistics.median(values(key, field))


def best(key, field):
    return min(values(key, field))


def ratio_line(label, mine, theirs, goal):
    ratio = med(mine, "work_s") / med(theirs, "work_s")
    best_ratio = best(mine, "work_s") / best(theirs, "work_s")
    verdict = "met" if ratio <= goal else "NOT met"
    mine_wer, their_wer = med(mine, "wer"), med(theirs, "wer")
    wer = "equal or better" if mine_wer <= their_wer else "WORSE"
    print(f"RATIO {label:<58} {ratio:.3f}  (best rounds {best_ratio:.3f})  goal <= {goal}: {verdict}"
          f" | WER {mine_wer:.4f} vs {their_wer:.4f}: {wer}")


clips = [clip for clip in ("paragraph", "meeting") if ("chute", clip, "defaults") in rows]
runs = len(rows[("chute", clips[0], "defaults")])
print()
print(f"== transcription benchmark: whisper tiny.en, {threads} threads, median of {runs} rounds;"
      f" load average after the rounds: {load_after} ==")
print("   model load excluded from the compared times; WER = chute's word_error_rate against the"
      " reference text")
for clip in clips:
    chute = ("chute", clip, "defaults")
    audio = med(chute, "audio_s")
    first = rows[chute][0]
    print(f"-- {clip}: {audio:.1f} s")
    decode, transcribe = med(chute, "decode_s"), med(chute, "transcribe_s")
    print(f"chute defaults ({first['weights']}, {first['decoding']}, VAD {first['vad']})  load {med(chute, 'load_s'):.3f} s | "
          f"decode {decode:.3f} s + transcribe {transcribe:.3f} s = {med(chute, 'work_s'):.3f} s "
          f"(best {best(chute, 'work_s'):.3f}) | RTF decode {decode / audio:.4f}, transcribe {transcribe / audio:.4f} | "
          f"WER {med(chute, 'wer'):.4f}")
    key = ("chute", clip, "novad")
    if key in rows:
        print(f"chute defaults, VAD off   decode + transcribe {med(key, 'work_s'):.3f} s (best {best(key, 'work_s'):.3f}) | "
              f"RTF {med(key, 'work_s') / audio:.4f} | WER {med(key, 'wer'):.4f}")
    for mode, label in (("novad", "defaults"), ("vad", "vad_filter")):
        key = ("faster-whisper", clip, mode)
        print(f"faster-whisper {label:<10} load {med(key, 'load_s'):.3f} s | decode+transcribe {med(key, 'work_s'):.3f} s "
              f"(best {best(key, 'work_s'):.3f}) | RTF {med(key, 'work_s') / audio:.4f} | WER {med(key, 'wer'):.4f}"
              f"  [faster-whisper {fw}, int8, beam 5]")
    for mode in ("greedy", "beam5"):
        key = ("whisper-cli", clip, mode)
        if key in rows:
            print(f"whisper-cli {mode:<6}       load {med(key, 'load_s'):.3f} s | total-load {med(key, 'work_s'):.3f} s "
                  f"(best {best(key, 'work_s'):.3f}; process wall {med(key, 'wall_s'):.3f} s) | "
                  f"RTF {med(key, 'work_s') / audio:.4f} | WER {med(key, 'wer'):.4f}  [whisper.cpp {wcpp}]")
    summary = ("chute-summary", clip, "")
    if summary in rows:
        print(f"chute summarize           load {med(summary, 'load_s'):.3f} s | {med(summary, 'summarize_s'):.3f} s | "
              f"prompt {med(summary, 'prompt_tokens'):.0f} tokens at {med(summary, 'prompt_tok_s'):.1f} tokens/s, "
              f"generated {med(summary, 'generated_tokens'):.0f} tokens at {med(summary, 'tok_s'):.1f} tokens/s"
              f" | repeated share {med(summary, 'repeated'):.3f} (goal 0)  [SmolLM2-135M Q4_1, built-in template]")
    matrix = sorted(key for key in rows if key[0] == "matrix" and key[1] == clip)
    for key in matrix:
        print(f"   matrix {key[2]:<14} transcribe {med(key, 'transcribe_s'):.3f} s (RTF {med(key, 'transcribe_s') / audio:.4f})"
              f" | load {med(key, 'load_s'):.3f} s | WER {med(key, 'wer'):.4f}")
for (tool, name, _) in sorted(rows):
    if tool == "chute-decode":
        key = (tool, name, "")
        print(f"chute decode stage alone, {name}: {med(key, 'decode_s'):.3f} s, RTF {med(key, 'decode_s') / med(key, 'audio_s'):.4f}")
long = ("chute-long", None, "")
if long in rows:
    row = rows[long][0]
    audio = float(row["audio_s"])
    first, end = int(row["hwm_first_chunk_kib"]), int(row["hwm_end_kib"])
    flat = end <= first * 1.1
    print(f"long recording ({row['weights']}, {row['decoding']}): {audio:.0f} s in {row['chunks']} chunks, decode "
          f"{float(row['decode_s']):.1f} s + transcribe {float(row['transcribe_s']):.1f} s, RTF "
          f"{(float(row['decode_s']) + float(row['transcribe_s'])) / audio:.4f} (transcribe {float(row['transcribe_s']) / audio:.4f}) | "
          f"peak RSS after the first chunk {first / 1024:.0f} MiB, at the end {end / 1024:.0f} MiB: "
          f"{'flat' if flat else 'NOT flat'}")

print()
for clip in clips:
    ratio_line(f"{clip}: chute (defaults) / faster-whisper (defaults):", ("chute", clip, "defaults"),
               ("faster-whisper", clip, "novad"), 0.8)
for clip in clips:
    chute = ("chute", clip, "defaults")
    if rows[chute][0]["vad"] == "on":
        ratio_line(f"{clip}: chute (defaults, VAD) / faster-whisper vad_filter:", chute,
                   ("faster-whisper", clip, "vad"), 0.8)
    if ("chute", clip, "novad") in rows:
        ratio_line(f"{clip}: chute (VAD off) / faster-whisper (defaults):", ("chute", clip, "novad"),
                   ("faster-whisper", clip, "novad"), 0.8)
    else:
        print(f"RATIO {clip + ': chute with and without VAD:':<58} only one measured ({'; '.join(sorted(notes)) or 'no rows'})")
for clip in clips:
    for mode in ("greedy", "beam5"):
        chute = ("chute", clip, "defaults")
        if ("whisper-cli", clip, mode) in rows and rows[chute][0]["decoding"] == mode:
            ratio_line(f"{clip}: chute / whisper-cli, {mode}:", chute, ("whisper-cli", clip, mode), 1.05)
PY
