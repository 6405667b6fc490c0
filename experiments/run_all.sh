#!/usr/bin/env bash
# The experiments whose figures the docs quote, in sequence (not the
# equal-effort queue: hours of training, see experiments/README.md; nor
# augmentation_effect, which needs its runs folder). Each appends its own
# section to RESULTS.md (own_data_finetuning: its JSON only) and writes its
# JSON under results/. About 35 minutes on 2 cores.
#
#   bash experiments/run_all.sh            # with the project's .venv
#   PYTHON=python3 bash experiments/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
export TF_CPP_MIN_LOG_LEVEL=2
# Each script runs as a module of the `experiments` package, from the root.
run() { echo "== $(date -u +%H:%M:%S) $*" >&2; "$PY" -m "$@"; }
run experiments.noise_levels > /dev/null       # presets at 0.5x / 1x / 2x noise
run experiments.denoising_safety --split test > /dev/null  # quiet frames, raw frames, the plausibility guard
run experiments.mlc_own_data > /dev/null       # multi-label, own data: SPEN-E2E vs MLP, 3 seeds
run experiments.own_data_finetuning > /dev/null  # denoising, own data: fine-tuning dp_3 on procedural rooms
echo "== $(date -u +%H:%M:%S) done" >&2
