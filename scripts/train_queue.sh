#!/usr/bin/env bash
# Train many runs with W one-thread workers sharing one queue: each worker takes the next run id (under a lock) and
# trains it with `python -m problem2 runs run ID --predictions`, until the queue is empty. Finished runs are reused
# and interrupted ones resume, so the same command continues after a stop. On a 2-core CPU two one-thread workers
# train about twice as fast as one two-thread process (docs/running.md).
#
#   bash scripts/train_queue.sh outputs/factorial 2 factor_pool_do50_const_rf46_seed2 ...   # in the background:
#   nohup bash scripts/train_queue.sh outputs/factorial 2 $(cat ids.txt) > queue.log 2>&1 &
#
# The queue is RESULTS/queue.txt (what is left); each worker logs to RESULTS/queue_worker_N.log. RUN_ARGS adds options
# to every `runs run` (e.g. RUN_ARGS="--data-dir DIR --epochs 2").
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 3 ]; then
  echo "usage: bash scripts/train_queue.sh RESULTS WORKERS RUN_ID..." >&2
  exit 2
fi
results=$1 workers=$2
shift 2
mkdir -p "$results"
queue="$results/queue.txt"
printf '%s\n' "$@" > "$queue"
python=".venv/bin/python"
[ -x "$python" ] || python=python

worker() {
  local n=$1 id
  while true; do
    id=$(flock "$queue.lock" bash -c "head -n 1 '$queue'; sed -i 1d '$queue'")
    [ -z "$id" ] && break
    echo "$(date -u +%FT%TZ) start $id"
    local rc=0
    OMP_NUM_THREADS=1 "$python" -m problem2 runs run "$id" --results "$results" --predictions --no-progress \
      ${RUN_ARGS:-} || rc=$?
    if [ "$rc" -eq 0 ]; then
      echo "$(date -u +%FT%TZ) done $id"
    else
      echo "$(date -u +%FT%TZ) FAILED $id (exit $rc)"
    fi
  done
}

for n in $(seq 1 "$workers"); do
  worker "$n" >> "$results/queue_worker_$n.log" 2>&1 &
done
wait
echo "queue empty: every run in $results trained or failed (see $results/queue_worker_*.log)"
