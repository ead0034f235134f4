#!/usr/bin/env bash
# The test suite (a few minutes on 2 cores). Arguments go to pytest.
source "$(dirname "$0")/env.sh"
exec .venv/bin/python -m pytest "$@"
