#!/usr/bin/env bash
# Prepared GPU check: run from the repository root on a CUDA machine.
#
#   bash benchmarks/gpu_check.sh            # results under $OUT or
#                                           # benchmarks/results/gpu
#
# 1. nvidia-smi;
# 2. a fresh venv (/tmp/gpuvenv, or $GPU_VENV) with the GPU TensorFlow wheel:
#    tensorflow[and-cuda]==2.21.0, keras==3.15.1, the package's other
#    dependencies and pytest, then the package itself with --no-deps (its
#    install_requires names tensorflow-cpu on x86_64, which would overwrite
#    the GPU wheel's files). If pip fails (no registry), it says so and exits 2;
#    with GPU_REUSE_VENV=1 an existing $GPU_VENV is used as it is;
# 3. checks that TensorFlow sees a GPU (exits 3 if not);
# 4. the fast test subset on the GPU (not the `large` tests);
# 5. python -m benchmarks.unrolled_training --only 3:exact 20:exact (plain
#    and checkpointed; float32);
# 6. python -m benchmarks.inference, dp_3, 480x640 frames, float32
#    (tf.function and SavedModel, with and without early stop) and
#    mixed_float16 (tf.function, with and without early stop); it reports PSNR of each against the clean
#    frames, whether mixed precision stays within 0.05 dB of float32 and
#    whether DP-3 reaches the target of 60 frames/s in float32;
# 7. copies benchmarks/results/*.json, benchmarks/RESULTS.md and the new
#    RESULTS.md sections (RESULTS_gpu_sections.md) to $OUT.
#
# Every step runs under `timeout`; the whole script is meant to finish in
# under ~8 minutes (the pip install dominates when the wheels are not
# cached). Log: $OUT/gpu_check.log. Exit status: 0 when every step passed,
# 1 when a step failed or timed out (later steps still run), 2 when the venv
# could not be made, 3 without a GPU.

set -u

OUT="${OUT:-benchmarks/results/gpu}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
LOG="$OUT/gpu_check.log"
VENV="${GPU_VENV:-/tmp/gpuvenv}"
PY="$VENV/bin/python"
STATUS=0
START=$SECONDS
# Time budget for the whole script (seconds): steps are skipped once it is
# spent, so that what was measured still comes back.
BUDGET="${GPU_CHECK_BUDGET_S:-480}"

exec > >(tee -a "$LOG") 2>&1

log() { echo "[gpu_check $(date -u +%H:%M:%S) +$((SECONDS - START))s] $*"; }

left() { echo $((BUDGET - (SECONDS - START))); }

# step NAME LIMIT_S CMD...: runs CMD under timeout (the smaller of LIMIT_S and
# the time left), logs its status, records failures.
step() {
    local name="$1" limit="$2"
    shift 2
    local remaining
    remaining=$(left)
    if [ "$remaining" -lt 20 ]; then
        log "SKIP $name: time budget spent"
        STATUS=1
        return 1
    fi
    [ "$limit" -gt "$remaining" ] && limit=$remaining
    log "BEGIN $name (timeout ${limit}s): $*"
    timeout --kill-after=10 "$limit" "$@"
    local rc=$?
    if [ $rc -eq 0 ]; then
        log "OK $name"
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        log "TIMEOUT $name after ${limit}s"
        STATUS=1
    else
        log "FAIL $name (exit $rc)"
        STATUS=1
    fi
    return $rc
}

collect() {
    mkdir -p "$OUT/results"
    cp -f benchmarks/results/unrolled_training.json \
        benchmarks/results/inference.json "$OUT/results/" 2>/dev/null
    cp -f benchmarks/RESULTS.md "$OUT/RESULTS.md" 2>/dev/null
    if [ -f benchmarks/RESULTS.md ]; then
        tail -n +"$((RESULTS_LINES + 1))" benchmarks/RESULTS.md \
            > "$OUT/RESULTS_gpu_sections.md"
    fi
}

RESULTS_LINES=0
[ -f benchmarks/RESULTS.md ] && RESULTS_LINES=$(wc -l < benchmarks/RESULTS.md)

log "repository: $(pwd); results: $OUT; venv: $VENV; budget ${BUDGET}s"
if [ ! -f benchmarks/inference.py ] || [ ! -f setup.cfg ]; then
    log "run this from the spen_keras repository root"
    exit 2
fi

# --- 1. the GPU ---------------------------------------------------------
if command -v nvidia-smi > /dev/null; then
    timeout 30 nvidia-smi
    timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total \
        --format=csv > "$OUT/nvidia_smi.csv"
else
    log "nvidia-smi not found: no NVIDIA driver on this machine?"
fi

# --- 2. the venv ----------------------------------------------------------
if [ "${GPU_REUSE_VENV:-0}" = 1 ] && [ -x "$PY" ]; then
    log "reusing $VENV"
else
    rm -rf "$VENV"
    if ! timeout 60 python3 -m venv "$VENV"; then
        log "ERROR: python3 -m venv $VENV failed (python3-venv missing?)"
        exit 2
    fi
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    if ! step "pip install (GPU TensorFlow)" 300 "$PY" -m pip install -q \
            'tensorflow[and-cuda]==2.21.0' 'keras==3.15.1' \
            'tensorflow-datasets>=4.9' 'numpy>=1.26' 'scipy>=1.11' \
            'pillow>=10' 'tqdm>=4.66' 'pytest>=8' 'dill>=0.3' \
            'setuptools>=64' wheel; then
        log "ERROR: pip could not install the GPU TensorFlow wheel (no" \
            "package registry reachable from this machine, or no wheel for" \
            "this Python)."
        # Fallback: a TensorFlow already installed on the machine that sees
        # a GPU (not the pinned wheel; its version is logged).
        if timeout 90 python3 -c 'import sys, tensorflow as tf, keras
print("preinstalled TensorFlow", tf.__version__, "Keras", keras.__version__)
sys.exit(0 if tf.config.list_physical_devices("GPU") else 1)'; then
            log "FALLBACK: using python3's preinstalled TensorFlow through" \
                "a --system-site-packages venv (not the pinned" \
                "tensorflow[and-cuda]==2.21.0)"
            rm -rf "$VENV"
            timeout 60 python3 -m venv --system-site-packages "$VENV" || exit 2
        else
            log "ERROR: no preinstalled GPU TensorFlow either. Nothing was" \
                "measured."
            exit 2
        fi
    fi
    if ! step "pip install -e . --no-deps" 120 "$PY" -m pip install -q \
            --no-deps --no-build-isolation -e .; then
        log "ERROR: could not install the package into $VENV"
        exit 2
    fi
fi
"$PY" -m pip list 2>/dev/null | grep -iE 'tensorflow|keras|nvidia-cudnn' \
    > "$OUT/pip_list.txt"

# --- 3. TensorFlow sees the GPU -------------------------------------------
if ! step "GPU visible to TensorFlow" 90 "$PY" -c '
import sys
import tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
print("TensorFlow", tf.__version__, "built with CUDA:",
      tf.test.is_built_with_cuda(), "GPUs:", gpus)
if gpus:
    print(tf.config.experimental.get_device_details(gpus[0]))
sys.exit(0 if gpus else 1)
'; then
    log "ERROR: TensorFlow lists no GPU (CPU-only wheel, or CUDA/driver" \
        "mismatch: see the log above). Stopping."
    exit 3
fi

export TF_CPP_MIN_LOG_LEVEL=2

# --- 4. fast test subset on the GPU ----------------------------------------
step "tests (fast subset)" 150 "$PY" -m pytest -q -x -p no:cacheprovider \
    --junitxml="$OUT/tests.xml" \
    tests/core/test_energies.py tests/core/test_unrolled_minimizer.py \
    tests/core/test_unrolled_gradients.py tests/core/test_spen.py \
    tests/core/test_step_rules.py > "$OUT/tests.log" 2>&1
tail -n 30 "$OUT/tests.log"

# --- 5. training benchmark --------------------------------------------------
step "unrolled_training 3:exact 20:exact" 180 "$PY" \
    -m benchmarks.unrolled_training --only 3:exact 20:exact --steps 5 \
    > "$OUT/unrolled_training.stdout"
collect

# --- 6. inference benchmark, float32 and mixed precision ---------------------
step "inference dp_3 float32 + mixed_float16" 200 "$PY" \
    -m benchmarks.inference --presets dp_3 --no-sizes --reps 30 \
    --dtype-policy float32 mixed_float16 --mixed-modes tf_function \
    --child-timeout 90 --no-roofline > "$OUT/inference.stdout"
collect

# --- 7. image-size scaling on the GPU, if time is left ---------------------
# (optional: its failure or timeout does not change the exit status)
if [ "$(left)" -gt 150 ]; then
    SAVED_STATUS=$STATUS
    cp -f benchmarks/results/inference.json "$OUT/results/inference_480x640.json"
    step "inference sizes" 120 "$PY" -m benchmarks.inference --no-grid \
        --reps-sizes 20 --child-timeout 40 --no-roofline \
        > "$OUT/inference_sizes.stdout"
    collect
    cp -f benchmarks/results/inference.json \
        "$OUT/results/inference_sizes.json" 2>/dev/null
    cp -f "$OUT/results/inference_480x640.json" "$OUT/results/inference.json"
    STATUS=$SAVED_STATUS
fi

log "done in $((SECONDS - START)) s, status $STATUS"
grep -E '^\[gpu_check.*(OK|FAIL|TIMEOUT|SKIP) ' "$LOG" > "$OUT/summary.txt"
grep -hE 'Target|within|SavedModel vs|Early stop' \
    "$OUT/RESULTS_gpu_sections.md" >> "$OUT/summary.txt" 2>/dev/null
exit $STATUS
