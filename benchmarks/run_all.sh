#!/usr/bin/env bash
# Every CPU benchmark in sequence, as recorded in RESULTS.md: run it on an
# otherwise idle machine (nothing else on the cores), since the peer
# comparison and the roofline fractions are ratios of times measured here.
# About 25 minutes on 2 cores. Each script appends its own section to
# RESULTS.md and writes its JSON under results/. (The quality studies are
# experiments/run_all.sh.)
#
#   bash benchmarks/run_all.sh            # with the project's .venv
#   PYTHON=python3 bash benchmarks/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
export TF_CPP_MIN_LOG_LEVEL=2
# Each script runs as a module of the `benchmarks` package, from the root.
run() { echo "== $(date -u +%H:%M:%S) $*" >&2; "$PY" -m "$@"; }
run benchmarks.roofline > /dev/null
run benchmarks.profile_step > /dev/null
run benchmarks.profile_step --inference > /dev/null
run benchmarks.peer_pytorch > /dev/null      # needs: pip install torch==2.13.0
run benchmarks.inference --dtype-policy float32 mixed_bfloat16 --mixed-modes tf_function > /dev/null
run benchmarks.scaling > /dev/null
run benchmarks.distributed_training > /dev/null
echo "== $(date -u +%H:%M:%S) done" >&2
