"""Fast checks of the benchmark scripts' own logic (no benchmark is run)."""

import os
import shutil
import subprocess
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "benchmarks")


@pytest.fixture(scope="module")
def scaling():
    sys.path.insert(0, BENCHMARKS)
    try:
        import scaling
        yield scaling
    finally:
        sys.path.remove(BENCHMARKS)


def _fit(scaling, xs, ys):
    fit = scaling.fit_line(xs, ys)
    fit["t_range"] = (min(xs), max(xs))
    return fit


def test_fit_line_recovers_a_line(scaling):
    fit = scaling.fit_line([1, 2, 5, 10], [1.5 + 0.25 * t for t in
                                           (1, 2, 5, 10)])
    assert fit["slope"] == pytest.approx(0.25)
    assert fit["intercept"] == pytest.approx(1.5)
    assert fit["r2"] == pytest.approx(1.0)
    assert scaling.fit_line([3], [1.0])["slope"] is None


def test_verdicts_on_synthetic_points(scaling):
    Ts = [1, 2, 5, 10, 20, 30, 40]
    fits = {
        "step_time": {
            "plain": _fit(scaling, Ts, [0.1 + 0.2 * t for t in Ts]),
            # Quadratic: not linear.
            "checkpointed": _fit(scaling, Ts, [0.01 * t ** 3 for t in Ts]),
        },
        "peak_rss": {
            "plain": _fit(scaling, Ts, [700 + 30 * t for t in Ts]),
            "checkpointed": _fit(scaling, Ts, [700 + 1 + 0.5 * (t % 2)
                                               for t in Ts]),
            "finite_difference": _fit(scaling, Ts, [700 + 25 * t
                                                    for t in Ts]),
        },
        "inference": scaling.fit_line([0.02, 0.08, 0.31, 1.23],
                                      [0.01 + 5 * p for p in
                                       (0.02, 0.08, 0.31, 1.23)]),
    }
    v = scaling.verdicts(fits)
    assert v["step_time_linear_plain"] is True
    assert v["step_time_linear_checkpointed"] is False
    assert v["peak_rss_linear_plain"] is True
    assert v["peak_rss_flat_checkpointed"] is True
    assert v["peak_rss_flat_finite_difference"] is False
    assert v["inference_linear"] is True
    assert "NOT linear" in v["step_time_checkpointed"]


def test_inference_size_parsing_and_configurations():
    sys.path.insert(0, BENCHMARKS)
    try:
        import inference
    finally:
        sys.path.remove(BENCHMARKS)
    assert inference.parse_size("960x1280") == (960, 1280)

    class Args:
        no_grid = False
        presets = ["dp_3"]
        reps, reps_dp20, reps_sizes = 6, 2, 3
        dtype_policy = ["float32", "mixed_float16"]
        mixed_modes = ["tf_function"]
        tolerance = 5e-4
        frame = "480x640"
        sizes = ["120x160", "480x640"]

    configs = inference.configurations(Args)
    # float32: 2 modes x early stop off/on; mixed: tf_function x off/on;
    # sizes: 120x160 only (480x640 tf_function float32 is in the grid).
    assert len(configs) == 4 + 2 + 1
    assert ("dp_3", "tf_function", None, "120x160", 3, "float32") in configs


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_gpu_check_script_parses():
    subprocess.run(["bash", "-n", os.path.join(BENCHMARKS, "gpu_check.sh")],
                   check=True)
