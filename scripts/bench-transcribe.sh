#!/usr/bin/env bash
# Transcription benchmark: chute's decode + transcribe next to whisper.cpp's own
# command-line tool and faster-whisper, in one run, on the same audio, model and threads.
#
#   scripts/bench-transcribe.sh
#
# What it does (everything it builds or installs is cached and reused; re-running is safe):
#   1. models: faster-whisper tiny.en (CTranslate2) via scripts/fetch-test-models.sh, and
#      its ggml conversion at ~/.cache/chute/models/ggml/whisper-tiny.en.bin (made by the
#      bench target with chute::models::ct2::convert if missing);
#   2. chute: builds the bench target `transcribe` (tests/bench/transcribe.rs, release);
#   3. whisper-cli: whisper.cpp's own CLI, if you point WHISPER_CLI at one built from the
#      whisper.cpp version whisper-rs-sys vendors (Release, OpenMP off). The crates.io copy
#      has no examples/, and this script builds nothing from outside the package
#      registries, so without WHISPER_CLI that comparison is skipped.
#   4. faster-whisper: `pip install faster-whisper==1.2.1` into a venv at
#      $CHUTE_BENCH_CACHE/faster-whisper-venv (PyPI only). It loads the local CTranslate2
#      folder (never a model hub), compute_type="int8", cpu_threads=$CHUTE_BENCH_THREADS,
#      its other settings at their defaults (beam_size 5, best_of 5, temperature fallback,
#      condition_on_previous_text, no VAD).
#   5. audio: a fixed ~160-word English paragraph spoken by espeak-ng at 140 wpm (~62 s),
#      resampled with sox (no dither, so the file is the same every run) to one 16 kHz
#      mono WAV that all three tools read (chute also times decoding an MP3 of it, for
#      the decode stage alone).
#   6. $CHUTE_BENCH_RUNS rounds (default 5), each running chute greedy + beam 5 (one
#      process, model loaded once) and chute's summary of the beam-5 transcript (llama.cpp
#      in a release chute-llm, SmolLM2-135M, built-in template: tokens per second), whisper-cli greedy + beam 5 and faster-whisper, in an
#      order that rotates from round to round. The summary uses the median of each figure
#      over the rounds; ratios of the best (fastest) rounds are shown alongside.
#
# Decoding settings compared: greedy (whisper-cli -bs 1 -bo 1; chute beam_size None, best
# of 1) and beam search 5 (whisper-cli -bs 5 -bo 5; chute Some(5); faster-whisper's
# default). whisper-cli also gets -nfa (chute's whisper-rs context has flash attention
# off) and -l en; it prints timestamps (no -nt: -nt changes decoding, chute keeps them).
#
# Times compared (model loading excluded everywhere, and reported on its own lines):
#   chute:          decode (chute decode child, GStreamer) + transcribe (create state,
#                   read samples, whisper_full), wall clock in the bench process;
#   whisper-cli:    "total time" minus "load time" of its whisper_print_timings (state
#                   init + reading the WAV + whisper_full), process wall time shown too;
#   faster-whisper: WhisperModel.transcribe(wav) with its segments consumed (includes its
#                   own PyAV decode of the file).
# WER: chute's word_error_rate against the paragraph, for all three tools.
#
# Environment: CHUTE_BENCH_CACHE (default ~/.cache/chute/bench), CHUTE_BENCH_RUNS (3),
# CHUTE_BENCH_THREADS (2),
# WHISPER_CLI, PYTHON (python3), CHUTE_MODELS_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${CHUTE_BENCH_CACHE:-$HOME/.cache/chute/bench}"
runs="${CHUTE_BENCH_RUNS:-5}"
threads="${CHUTE_BENCH_THREADS:-2}"
python="${PYTHON:-python3}"
models="${CHUTE_MODELS_DIR:-$HOME/.cache/chute/models}"
ct2="$models/ct2/whisper-tiny.en"
fw_version=1.2.1
mkdir -p "$cache"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for tool in cargo espeak-ng sox soxi gst-launch-1.0 "$python"; do
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

# 5. the audio (made afresh each run; espeak-ng output is deterministic)
work="$cache/run"
rm -rf "$work"
mkdir -p "$work"
cat >"$work/reference.txt" <<'TEXT'
The town library opened a new reading room last spring. It has tall windows, long wooden tables and quiet corners where people can study for hours. Every morning the staff sort the returned books and place them back on the shelves. Children come after school to read stories and play simple word games. On weekends the room is often full of students preparing for their exams. The library also offers free classes on using computers and finding information on the internet. Many older visitors learn how to send messages to their families and read the news. The head librarian says that the best part of her job is helping someone find exactly the book they need. She hopes the city will give them more money next year so they can stay open later in the evening. Volunteers from the neighborhood help to run a small coffee shop near the entrance, and the money they raise pays for new books and magazines.
TEXT
espeak-ng -s 140 -w "$work/espeak.wav" -f "$work/reference.txt"
sox -R -D "$work/espeak.wav" -r 16000 -c 1 -b 16 "$work/speech.wav"
(cd "$work" && gst-launch-1.0 -q filesrc location=speech.wav ! wavparse ! audioconvert ! \
  lamemp3enc ! filesink location=speech.mp3)
cat >"$work/faster_whisper_run.py" <<'PY'
"""One faster-whisper run: load the local CTranslate2 model, transcribe, print times."""
import sys
import time

from faster_whisper import WhisperModel

model_dir, audio, out, threads = sys.argv[1:5]
started = time.perf_counter()
model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=int(threads))
loaded = time.perf_counter()
segments, info = model.transcribe(audio)
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
echo "bench: $runs rounds on $(soxi -D "$work/speech.wav") s of speech, $threads threads," \
  "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (results in $work)"
run_chute() { # round out
  "$bench" --bench run "$work/speech.wav" "$work/reference.txt" "$2" "$work/speech.mp3" |
    sed -n "s/^result /result round=$1 /p" >>"$results"
}
run_whisper_cli() { # round out
  local mode beam started ended load_ms total_ms wer
  for mode in greedy beam5; do
    if [ "$mode" = greedy ]; then beam=(-bs 1 -bo 1); else beam=(-bs 5 -bo 5); fi
    started=$(now)
    "$whisper_cli" -m "$model" -f "$work/speech.wav" -t "$threads" -l en "${beam[@]}" -nfa \
      -otxt -of "$2/whisper-cli-$mode" >"$2/whisper-cli-$mode.stdout" 2>"$2/whisper-cli-$mode.stderr"
    ended=$(now)
    load_ms=$(sed -n 's/.*load time = *\([0-9.]*\) ms.*/\1/p' "$2/whisper-cli-$mode.stderr")
    total_ms=$(sed -n 's/.*total time = *\([0-9.]*\) ms.*/\1/p' "$2/whisper-cli-$mode.stderr")
    wer=$("$bench" --bench wer "$work/reference.txt" "$2/whisper-cli-$mode.txt")
    awk -v r="$1" -v m="$mode" -v l="$load_ms" -v t="$total_ms" -v s="$started" -v e="$ended" -v w="$wer" \
      'BEGIN { printf "result round=%s tool=whisper-cli mode=%s load_s=%.4f work_s=%.4f total_s=%.4f wall_s=%.4f wer=%s\n", r, m, l / 1000, (t - l) / 1000, t / 1000, e - s, w }' >>"$results"
  done
}
run_faster_whisper() { # round out
  local wer
  HF_HUB_OFFLINE=1 "$venv/bin/python" "$work/faster_whisper_run.py" "$ct2" "$work/speech.wav" \
    "$2/faster-whisper-beam5.txt" "$threads" >"$2/faster-whisper.stdout" 2>"$2/faster-whisper.stderr"
  wer=$("$bench" --bench wer "$work/reference.txt" "$2/faster-whisper-beam5.txt")
  echo "result round=$1 tool=faster-whisper mode=beam5 $(cat "$2/faster-whisper.stdout") wer=$wer" >>"$results"
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

# 7. the summary
"$python" - "$results" "$wcpp_version" "$fw_version" "$threads" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import statistics
import sys

results, wcpp, fw, threads, load_after = sys.argv[1:6]
rows = {}
for line in open(results, encoding="utf-8"):
    fields = {name: value for name, value in (part.split("=", 1) for part in line.split()[1:])}
    key = (fields["tool"], fields.get("mode") or fields.get("file"))
    rows.setdefault(key, []).append(fields)
# The compared time of each round: chute decode + transcribe; whisper-cli total - load;
# faster-whisper transcribe (with its own decode).
for key in (("chute", "greedy"), ("chute", "beam5")):
    for row in rows[key]:
        row["work_s"] = float(row["decode_s"]) + float(row["transcribe_s"])
CHUTE_G, CHUTE_B = ("chute", "greedy"), ("chute", "beam5")
CLI_G, CLI_B = ("whisper-cli", "greedy"), ("whisper-cli", "beam5")
FW = ("faster-whisper", "beam5")


def values(key, field):
    return [float(row[field]) for row in rows[key]]


def med(key, field):
    return statistics.median(values(key, field))


def best(key, field):
    return min(values(key, field))


runs = len(rows[CHUTE_G])
audio = med(CHUTE_G, "audio_s")
print()
print(f"== transcription benchmark: {audio:.1f} s of espeak-ng speech at 140 wpm, whisper tiny.en, "
      f"{threads} threads, median of {runs} rounds ==")
print("   one 16 kHz mono WAV for all three tools; model load excluded from the compared times;")
print("   WER = chute's word_error_rate against the spoken paragraph;"
      f" load average after the rounds: {load_after}")
for key in (CHUTE_G, CHUTE_B):
    decode, transcribe = med(key, "decode_s"), med(key, "transcribe_s")
    print(f"chute {key[1]:<6}          load {med(key, 'load_s'):.3f} s | decode {decode:.3f} s + "
          f"transcribe {transcribe:.3f} s, per round {med(key, 'work_s'):.3f} s (best {best(key, 'work_s'):.3f}) | "
          f"RTF decode {decode / audio:.4f}, transcribe {transcribe / audio:.4f} | WER {med(key, 'wer'):.4f}")
for key in [k for k in (CLI_G, CLI_B) if k in rows]:
    print(f"whisper-cli {key[1]:<6}    load {med(key, 'load_s'):.3f} s | total-load {med(key, 'work_s'):.3f} s "
          f"(best {best(key, 'work_s'):.3f}; total {med(key, 'total_s'):.3f} s, process wall {med(key, 'wall_s'):.3f} s) | "
          f"RTF {med(key, 'work_s') / audio:.4f} | WER {med(key, 'wer'):.4f}  [whisper.cpp {wcpp}, same sources]")
print(f"faster-whisper beam5   load {med(FW, 'load_s'):.3f} s | decode+transcribe {med(FW, 'work_s'):.3f} s "
      f"(best {best(FW, 'work_s'):.3f}) | RTF {med(FW, 'work_s') / audio:.4f} | WER {med(FW, 'wer'):.4f}"
      f"  [faster-whisper {fw}, int8]")
SUMMARY = ("chute-summary", "summary")
if SUMMARY in rows:
    wall = med(SUMMARY, "summarize_s")
    print(f"chute summarize        load {med(SUMMARY, 'load_s'):.3f} s | {wall:.3f} s for the beam-5 transcript | "
          f"prompt {med(SUMMARY, 'prompt_tokens'):.0f} tokens at {med(SUMMARY, 'prompt_tok_s'):.1f} tokens/s, "
          f"generated {med(SUMMARY, 'generated_tokens'):.0f} tokens at {med(SUMMARY, 'tok_s'):.1f} tokens/s | "
          f"RTF {wall / audio:.4f}  [SmolLM2-135M Q4_1, built-in template]")
for (tool, name) in sorted(rows):
    if tool == "chute-decode":
        decode = med((tool, name), "decode_s")
        print(f"chute decode stage alone, {name}: {decode:.3f} s, RTF {decode / med((tool, name), 'audio_s'):.4f}")


def ratio_line(label, mine, theirs, goal):
    ratio = med(mine, "work_s") / med(theirs, "work_s")
    best_ratio = best(mine, "work_s") / best(theirs, "work_s")
    verdict = "met" if ratio <= goal else "NOT met"
    print(f"RATIO {label:<44} {ratio:.3f}  (best rounds {best_ratio:.3f})  goal <= {goal}: {verdict}")


print()
if CLI_G in rows:
    ratio_line("chute / whisper-cli, greedy:", CHUTE_G, CLI_G, 1.05)
    ratio_line("chute / whisper-cli, beam 5:", CHUTE_B, CLI_B, 1.05)
ratio_line("chute / faster-whisper, both beam 5:", CHUTE_B, FW, 0.8)
chute_wer, fw_wer = med(CHUTE_B, "wer"), med(FW, "wer")
print(f"WER chute beam 5 {chute_wer:.4f} vs faster-whisper {fw_wer:.4f}: "
      f"{'equal or better' if chute_wer <= fw_wer else 'WORSE'}")
print(f"(reference) chute greedy / faster-whisper beam 5:   "
      f"{med(CHUTE_G, 'work_s') / med(FW, 'work_s'):.3f}, WER chute greedy {med(CHUTE_G, 'wer'):.4f}")
chute_total = med(CHUTE_B, "load_s") + med(CHUTE_B, "work_s")
if CLI_B in rows:
    print(f"(reference) with model load, beam 5: chute / whisper-cli {chute_total / med(CLI_B, 'total_s'):.3f}")
print(f"(reference) with model load, beam 5: chute / faster-whisper "
      f"{chute_total / (med(FW, 'load_s') + med(FW, 'work_s')):.3f}")
PY
