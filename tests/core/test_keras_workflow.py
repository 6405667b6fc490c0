"""The Keras workflow in the order a user runs it: fit -> export,
fit -> save -> load_model (fresh process, only `import spen_keras`) ->
export / fit with the optimizer's state restored; bad inputs after good
calls raise the same clear errors as on a fresh model."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from spen_keras import (SPEN, DeepPriorEnergy, MomentumStep,
                        QuadraticDataEnergy, SumEnergy, UnrolledMinimizer)
from spen_keras.denoising import PSNR, MaskedMeanSquaredError


def small_spen():
    energy = SumEnergy([QuadraticDataEnergy(initial_variance=1e-3),
                        DeepPriorEnergy(filters=(4, 4), kernel_sizes=(3, 3))])
    model = SPEN(UnrolledMinimizer(energy, num_steps=2,
                                   step_rule=MomentumStep(0.25),
                                   step_size=1e-4, learn_step_sizes=True))
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=MaskedMeanSquaredError(), metrics=[PSNR()])
    return model


def data(n=4, size=24, channels=1, seed=0):
    rng = np.random.RandomState(seed)
    y = rng.uniform(0.2, 0.6, (n, size, size, channels)).astype("float32")
    x = y + rng.normal(0, 0.02, y.shape).astype("float32")
    return x, y


def run_python(code, cwd):
    """Runs `code` in a fresh interpreter; returns (rc, stdout + stderr)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model fitted without any explicit build, saved as .keras."""
    folder = tmp_path_factory.mktemp("workflow")
    model = small_spen()
    x, y = data()
    model.fit(x, y, epochs=2, batch_size=2, verbose=0)
    model.save(folder / "m.keras")
    np.savez(folder / "state.npz",
             *[v.numpy() for v in model.optimizer.variables])
    return model, folder


def test_fit_then_export_serves_the_same_prediction(trained, tmp_path):
    model, _ = trained
    x, _ = data(n=2, size=20, seed=1)
    model.export(str(tmp_path / "served"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "served"))
    np.testing.assert_allclose(served.serve(x).numpy(),
                               model.predict(x, verbose=0), atol=1e-6)


def test_save_records_the_build_shape(trained):
    model, _ = trained
    assert model.built
    assert model.get_build_config() == {"input_shape": [None, None, None, 1]}


def test_load_model_in_fresh_process_restores_optimizer_then_exports_and_fits(
        trained, tmp_path):
    model, folder = trained
    x, y = data(n=2, seed=2)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "expected.npy", model.predict(x, verbose=0))
    code = f"""
        import warnings
        warnings.simplefilter("error", UserWarning)  # no "Skipping variable"
        import numpy as np, keras, tensorflow as tf
        import spen_keras
        folder, out = {str(folder)!r}, {str(tmp_path)!r}
        m = keras.saving.load_model(folder + "/m.keras")
        saved = np.load(folder + "/state.npz")
        state = [v.numpy() for v in m.optimizer.variables]
        assert len(state) == len(saved.files), (len(state), len(saved.files))
        for a, name in zip(state, saved.files):
            np.testing.assert_array_equal(a, saved[name])
        x, y = np.load(out + "/x.npy"), np.load(out + "/y.npy")
        np.testing.assert_allclose(m.predict(x, verbose=0),
                                   np.load(out + "/expected.npy"), atol=1e-6)
        m.export(out + "/served", verbose=False)
        served = tf.saved_model.load(out + "/served")
        np.testing.assert_allclose(served.serve(x).numpy(),
                                   m.predict(x, verbose=0), atol=1e-6)
        before = int(m.optimizer.iterations)
        m.fit(x, y, epochs=1, batch_size=2, verbose=0)
        assert int(m.optimizer.iterations) == before + 1
        print("OK", before)
    """
    rc, output = run_python(code, tmp_path)
    assert rc == 0, output
    assert "OK 4" in output  # 2 epochs x 2 batches before the reload


BAD_AFTER_GOOD = """
    import numpy as np
    import spen_keras
    from spen_keras import SPEN
    m = SPEN.from_preset("dp_3")
    x = np.full((2, 24, 24, 1), 0.4, "float32")
    m.predict(x, verbose=0)
    m.predict(np.full((1, 30, 28, 1), 0.4, "float32"), verbose=0)
    for bad in (x[0], np.repeat(x, 3, -1), x.astype("int32"),
                np.full((2, 24, 24), 0.4, "float32"),
                np.full((1, 12, 40, 1), 0.4, "float32")):
        try:
            m.predict(bad, verbose=0)
        except (ValueError, TypeError) as error:
            print(type(error).__name__, "|", error)
        else:
            print("NO ERROR", bad.shape, bad.dtype)
"""


def test_bad_inputs_after_good_calls_raise_clear_errors(tmp_path):
    # In a fresh process: before the fix a rank change aborted the process.
    rc, output = run_python(BAD_AFTER_GOOD, tmp_path)
    assert rc == 0, output
    lines = [l for l in output.splitlines() if "|" in l or "NO ERROR" in l]
    assert lines == [
        "ValueError | SPEN was built for x of rank 4 (shape (None, None, "
        "None, 1)); got x of shape (24, 24, 1).",
        "ValueError | SPEN was built for x with 1 channel(s) on the last "
        "axis; got x of shape (2, 24, 24, 3).",
        "TypeError | SPEN expects a floating-point x; got int32 (convert it "
        "with x.astype('float32')).",
        "ValueError | SPEN was built for x of rank 4 (shape (None, None, "
        "None, 1)); got x of shape (2, 24, 24).",
        "ValueError | SPEN input x is too small for its energy: every "
        "spatial axis needs at least 13 pixels (13x13); got x of shape "
        "(1, 12, 40, 1).",
    ], output


def test_fit_and_evaluate_check_their_input_too():
    model, (x, y) = small_spen(), data()
    model.fit(x, y, epochs=1, batch_size=2, verbose=0)
    with pytest.raises(ValueError, match="channel"):
        model.fit(np.repeat(x, 2, -1), y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="rank 4"):
        model.evaluate(x[:, :, :, 0], y, verbose=0)
    dataset = tf.data.Dataset.from_tensor_slices((x[..., 0], y)).batch(2)
    with pytest.raises(ValueError, match="rank 4"):
        model.fit(dataset, epochs=1, verbose=0)


def test_unknown_rank_trace_checks_the_rank_at_run_time():
    model, (x, _) = small_spen(), data()
    model(x)

    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32)])
    def serve(t):
        return model(t)

    np.testing.assert_allclose(serve(x), model(x), atol=1e-6)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
        serve(x[0])
