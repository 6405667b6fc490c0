#!/usr/bin/env bash
# Prepares what benchmarks/gpu_check_jax.sh needs on a CUDA machine that has
# JAX and PyTorch but no TensorFlow and no package index. Run here, from the
# repository root, in the dev environment (TensorFlow installed):
#
#   bash benchmarks/gpu_wheels.sh [DIR]          # default .whl
#
# DIR then holds (about 14 MB; .whl is ignored by git, so copy or carry it
# to the GPU machine with the checkout):
# - wheels for CPython 3.12 (GPU_PYTHON_VERSION) on manylinux x86-64 of what the GPU image lacks:
#   keras 3.15.1 and its needs (namex, optree, typing-extensions, packaging),
#   spen-keras' own light dependencies (pillow, tqdm, liac-arff, built here
#   as a wheel since it ships as a source archive) and setuptools + wheel
#   (to install spen-keras from the source tree there, offline);
# - gpu_reference.npz: TensorFlow's CPU output of dp_3 and dp_20 on the
#   embedded test frame (python -m benchmarks.gpu_backends --reference).
# numpy, scipy (a JAX dependency), h5py, ml-dtypes, absl-py and rich are on
# the GPU image already.
set -euo pipefail
DIR="${1:-.whl}"
mkdir -p "$DIR"
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
           --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
download() {
    python3 -m pip download -q --no-deps --only-binary=:all: \
        --python-version "${GPU_PYTHON_VERSION:-3.12}" --implementation cp "${PLATFORMS[@]}" \
        -d "$DIR" "$@"
}
download keras==3.15.1 namex optree typing-extensions packaging pillow tqdm \
    setuptools wheel
python3 -m pip wheel -q --no-deps -w "$DIR" liac-arff
PY="${PYTHON:-.venv/bin/python}"
env -u KERAS_BACKEND TF_CPP_MIN_LOG_LEVEL=2 "$PY" -m benchmarks.gpu_backends \
    --reference "$DIR/gpu_reference.npz"
ls -la "$DIR"
du -sh "$DIR"
