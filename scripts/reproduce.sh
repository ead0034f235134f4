#!/usr/bin/env bash
# The main command: the assignment's deliverables by default, --full for the whole study, --quick for a smoke test.
# Arguments go to `python -m problem2 all` (e.g. --full, --quick, --plan-only, --data-dir DIR).
source "$(dirname "$0")/env.sh"
exec .venv/bin/python -m problem2 all "$@"
