#!/usr/bin/env bash
# The core install, no extras: a second, minimal venv with `pip install .`, then the main job.
# Proves that `pebal demo` needs nothing from the optional extras (data, export, logging).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${BARE_VENV:-$ROOT/.venv-bare}
PYTHON=${PYTHON:-python3}
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "torch==2.13.0"
"$VENV/bin/python" -m pip install --quiet "$ROOT"
for optional in pycocotools h5py onnx onnxruntime tensorboard imageio_ffmpeg sklearn pytest; do
  if "$VENV/bin/python" -c "import $optional" 2>/dev/null; then
    echo "bare install: $optional is installed, but it belongs to an extra" >&2
    exit 1
  fi
done
# from another working directory: shipped weights and the cache must not depend on it
WORK=$(mktemp -d)
cd "$WORK"
"$VENV/bin/pebal" demo --out demo --quiet
test -s "$WORK/demo/results.json"
echo "bare install: pebal demo (run in $WORK) wrote $WORK/demo/results.json"
