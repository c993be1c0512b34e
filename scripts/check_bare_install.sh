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

# the first hour: the demo's calibrated model on clean images it never saw, on anomaly test
# images and on a short clip made from them, then a check that the mask is usable
SYNTH=$("$VENV/bin/python" -c "from pebal.paths import default_benchmark_root; print(default_benchmark_root())")
MODEL="$WORK/demo/calibrated.safetensors"
"$VENV/bin/python" - "$SYNTH/test/road-obstacles/original" clip.mp4 <<'PY'
import sys
from pathlib import Path
import cv2
frames = sorted(Path(sys.argv[1]).glob("*.png"))[:8]
first = cv2.imread(str(frames[0]))
writer = cv2.VideoWriter(sys.argv[2], cv2.VideoWriter_fourcc(*"mp4v"), 4.0, (first.shape[1], first.shape[0]))
for frame in frames:
    writer.write(cv2.imread(str(frame)))
writer.release()
PY
"$VENV/bin/pebal" predict --checkpoint "$MODEL" "$SYNTH/inlier/train/images/000[0-3]*.png" --out clean
# the first 300 road-obstacles images (of 1,000) and the clip
"$VENV/bin/pebal" predict --checkpoint "$MODEL" "$SYNTH/test/road-obstacles/original/00[0-2]*.png" clip.mp4 --out test
test -s "$WORK/test/clip_scores.npy" && test -s "$WORK/test/clip_overlay.mp4"
"$VENV/bin/python" "$ROOT/scripts/check_first_hour.py" --clean clean --test test \
  --labels "$SYNTH/test/road-obstacles/labels" --json "$WORK/first_hour.json"
echo "bare install: the first hour (demo -> predict on clean images, test images and a clip, from $WORK) passed"
