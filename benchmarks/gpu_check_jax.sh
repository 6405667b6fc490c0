#!/usr/bin/env bash
# The GPU check of the JAX (and PyTorch) backends, for a CUDA machine with
# JAX and PyTorch preinstalled, no TensorFlow and no package index. From the
# repository root, with the folder made by benchmarks/gpu_wheels.sh:
#
#   bash benchmarks/gpu_check_jax.sh [DIR]       # default .whl
#
# 1. nvidia-smi; installs DIR's wheels into /tmp/site (--no-index), then
#    spen-keras from this source tree (--no-deps --no-build-isolation);
# 2. KERAS_BACKEND=jax python -m benchmarks.gpu_backends --measure: dp_3 and
#    dp_20 on the embedded frame against TensorFlow's CPU outputs (within
#    1e-4), training ms/step at T = 3 and T = 20 (batch 8, 96x128), whole-
#    frame inference frames/s in float32 and bfloat16 (with the PSNR change);
# 3. the same with KERAS_BACKEND=torch (skipped when the time budget,
#    GPU_CHECK_BUDGET_S, default 420 s, is spent); GPU_CHECK_ARGS adds
#    arguments (e.g. "--train-steps 2 1 --frames 2" for a dry run on a CPU);
# Results: $OUT (default benchmarks/results/gpu): gpu_backends_jax.json,
# gpu_backends_torch.json, RESULTS_gpu_backends.md (a RESULTS.md section),
# gpu_check_jax.log. Exit status: 0 when every step passed, 1 otherwise.
set -u
DIR="${1:-.whl}"
case "$DIR" in /*) DIR="$(realpath --relative-to=. "$DIR")" ;; esac
OUT="${OUT:-benchmarks/results/gpu}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
LOG="$OUT/gpu_check_jax.log"
BUDGET="${GPU_CHECK_BUDGET_S:-420}"
START=$SECONDS
STATUS=0
exec > >(tee -a "$LOG") 2>&1
log() { echo "[gpu_check_jax +$((SECONDS - START))s] $*"; }
left() { echo $((BUDGET - (SECONDS - START))); }

log "start; budget ${BUDGET}s"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
SITE=/tmp/site
PY="${PYTHON:-python3}"
REPO="$(pwd)"
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$SITE" "$DIR"/*.whl || { log "FAIL wheels"; exit 1; }
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -m pip install -q --no-index --no-deps --no-build-isolation \
    --no-compile --no-cache-dir --target "$SITE" . \
    || { log "FAIL spen-keras install"; exit 1; }
log "installed: $(KERAS_BACKEND=jax "$PY" -c 'import keras, jax; print("keras", keras.__version__, "jax", jax.__version__, jax.devices())')"

for backend in jax torch; do
    remaining=$(left)
    if [ "$remaining" -lt 60 ]; then
        log "SKIP $backend: time budget spent"
        STATUS=1
        continue
    fi
    log "RUN $backend (limit ${remaining}s)"
    # Run from /tmp: the installed spen_keras (with its datasets and zoo),
    # not the source folder, and this tree's benchmarks after it.
    if (cd /tmp && KERAS_BACKEND=$backend PYTHONUNBUFFERED=1 \
            PYTHONPATH="$SITE:$REPO" timeout "$remaining" \
            "$PY" -m benchmarks.gpu_backends \
            --measure "$REPO/$DIR/gpu_reference.npz" --out "$OUT" \
            ${GPU_CHECK_ARGS:-}); then
        log "OK $backend"
    else
        log "FAIL $backend (status $?)"
        STATUS=1
    fi
done
log "done, status $STATUS"
exit $STATUS
