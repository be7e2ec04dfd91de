# Sourced by scripts/demo.sh and scripts/test.sh: make .venv with the package and its test
# extras when missing or when pyproject.toml changed. Needs only python3 (>= 3.11) and pip.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "twoqs_jax needs Python >= 3.11")'
STAMP=".venv/.twoqs-installed-$(cksum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$STAMP" ]; then
  echo "[twoqs] setting up .venv (first run only)..." >&2
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >&2 || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]" >&2
  rm -f .venv/.twoqs-installed-*
  touch "$STAMP"
fi
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
export MPLBACKEND="${MPLBACKEND:-Agg}"
