"""benchmarks.peer_pytorch: the PyTorch peer benchmark.

PyTorch is an optional, benchmark-only dependency (the `peer` extra) and CI
does not install it: the tests that need it skip without it. Without torch
the script must stop at once with a one-line error naming the pinned wheel;
with torch, its equivalence check must pass on a tiny model built from the
same preset pieces, and must fail when the peer computes something else.
"""

import importlib
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def peer_module():
    sys.path.insert(0, str(ROOT))  # as `python -m` from the root has it
    try:
        yield importlib.import_module("benchmarks.peer_pytorch")
    finally:
        sys.path.remove(str(ROOT))


def test_without_torch_exits_with_one_line_naming_the_pinned_wheel():
    # `sys.modules["torch"] = None` makes `import torch` raise ImportError,
    # as if torch were not installed, whether or not it is. Run as
    # `python -m benchmarks.peer_pytorch --quick --no-record` from the root.
    hide_torch = (
        "import runpy, sys; sys.modules['torch'] = None; "
        "sys.argv = ['peer_pytorch', '--quick', '--no-record']; "
        "runpy.run_module('benchmarks.peer_pytorch', run_name='__main__', "
        "alter_sys=True)")
    proc = subprocess.run([sys.executable, "-c", hide_torch], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].endswith("pip install torch==2.13.0"), lines[0]


def test_ratios_and_verdicts(peer_module):
    summary = [
        {"T": 3, "form": "ours", "s_per_step_median": 1.0,
         "cpu_s_per_step": 2.0, "peak_rss_train_mb": 900.0,
         "train_rss_increment_mb": 300.0},
        {"T": 3, "form": "ours_checkpointed", "s_per_step_median": 1.2,
         "cpu_s_per_step": 2.4, "peak_rss_train_mb": 600.0,
         "train_rss_increment_mb": 100.0},
        {"T": 3, "form": "eager", "s_per_step_median": 1.5,
         "cpu_s_per_step": 3.0, "peak_rss_train_mb": 700.0,
         "train_rss_increment_mb": 400.0},
        {"T": 3, "form": "compiled", "s_per_step_median": 1.1,
         "cpu_s_per_step": 2.2, "peak_rss_train_mb": 500.0,
         "train_rss_increment_mb": 200.0},
    ]
    ratios = {q["form"]: q for q in peer_module.ratios(summary)}
    assert ratios["eager"]["peer_over_ours_step"] == pytest.approx(1.5)
    assert ratios["eager"]["speedup_pass"] is True  # 1.5 >= 1.3
    assert "speedup_pass" not in ratios["compiled"]  # target is vs eager
    assert ratios["eager"]["ours_checkpointed_over_peer_rss"] == \
        pytest.approx(600 / 700)
    assert ratios["eager"]["rss_pass"] is True
    assert ratios["eager"]["ours_checkpointed_over_peer_rss_increment"] == \
        pytest.approx(0.25)
    assert ratios["compiled"]["rss_pass"] is False  # 600 MB > 500 MB
    assert peer_module.best_forms(summary) == {"3": "compiled"}
    summary[2]["s_per_step_median"] = 1.2
    eager = [q for q in peer_module.ratios(summary) if q["form"] == "eager"]
    assert eager[0]["speedup_pass"] is False  # 1.2 < 1.3


def tiny_model_and_batch():
    """A small DP SPEN from the preset's own builder, and one batch with
    some invalid (zero) target pixels."""
    import keras
    from spen_keras.denoising.denoising_models import denoiser
    from spen_keras.denoising.masked_loss import MaskedMeanSquaredError
    from spen_keras.core.energies import DeepPriorEnergy

    keras.utils.set_random_seed(1)
    model = denoiser(DeepPriorEnergy(filters=(4, 4), kernel_sizes=(3, 3),
                                     temperature=25.0), num_steps=2,
                     momentum=0.25)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=MaskedMeanSquaredError())
    rng = np.random.default_rng(0)
    y = rng.uniform(0.3, 0.7, (2, 12, 14, 1)).astype(np.float32)
    y[0, :3, :4] = 0.0  # missing depth
    x = (y + rng.normal(0, 0.03, y.shape)).astype(np.float32)
    x[y == 0] = 0.5
    model(x)
    return model, x, y


def test_equivalence_check_passes_and_detects_a_different_peer(
        peer_module, monkeypatch):
    pytest.importorskip("torch")
    model, x, y = tiny_model_and_batch()
    weights = peer_module.keras_weights(model)
    for form in ("eager", "channels_last"):
        result = peer_module.compare(model, weights, 2, form, x, y,
                                     "float32", 3e-3)
        assert result["passed"], result
        assert result["max_relative_error"] < 1e-4
        assert set(result["relative_errors"]) == {
            "loss", *peer_module.PARAM_NAMES}
    # A peer with another momentum computes another function: caught.
    monkeypatch.setattr(peer_module, "MOMENTUM", 0.5)
    result = peer_module.compare(model, weights, 2, "eager", x, y,
                                 "float32", 3e-3)
    assert not result["passed"]
    assert result["relative_errors"]["raw_step_sizes"] > 1e-3
