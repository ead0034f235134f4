# Sourced by scripts/reproduce.sh and scripts/test.sh: make .venv (once) and install the project into it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
# torch is pinned to 2.13.0 in pyproject.toml: pip takes the CPU build from this machine's disk
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
