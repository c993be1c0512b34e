#!/usr/bin/env bash
# Create .venv (if missing) and install pebal with every extra and the test tools.
# torch is pinned to the CPU build that this project's machines carry; the package itself
# only asks for torch>=2.3.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet -e ".[all,test]"
