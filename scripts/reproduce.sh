#!/usr/bin/env bash
# Every deliverable and the report: data -> training -> evaluation -> ablations -> failures -> studies -> report.
# Arguments go to `python -m problem2 all` (e.g. --quick, --data-dir DIR, --skip-studies).
source "$(dirname "$0")/env.sh"
exec .venv/bin/python -m problem2 all "$@"
