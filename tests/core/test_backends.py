"""The core on every Keras 3 backend: TensorFlow (the reference), JAX and
PyTorch give the same minima, losses, gradients and preset outputs.

Each backend runs in a fresh process (Keras picks its backend once, at
import): this file doubles as the worker script (`--worker BACKEND`), which
prints one JSON line. The checks:

- closed-form minimum: T gradient steps of size eta on the quadratic data
  term ||y - x||^2 / (2 s2) from y_0 give y_T - x = (1 - eta / s2)^T
  (y_0 - x);
- finite-difference Hessian-vector products (`hvp="finite_difference"`)
  give the exact-HVP gradients (float64);
- finite differences (float64): the gradient of an unrolled DeepPrior +
  data-term loss (learned step sizes, momentum, T = 3: second-order terms)
  against central differences of the loss itself, on each backend;
- the same weights and batch on every backend: the SPEN's training loss
  (Eq. 9 over the iterates) and every parameter gradient agree with
  TensorFlow's within 1e-5 relative (float32);
- checkpointed steps give the plain steps' loss and gradients, and early
  stopping (`tolerance`) stops at the same step eagerly, compiled and in
  training, on every backend;
- every shipped Keras preset gives TensorFlow's outputs within 1e-5 on the
  same input (weights files are backend-neutral): the denoisers' frames,
  the multi-label models' probabilities and the SRL models' role
  probabilities (every SRL architecture: local, SPEN, ICNN SPEN, SSVM SPEN;
  the other SRL presets share these weights with another decoder).
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.abspath(__file__)
BACKENDS = ("tensorflow", "jax", "torch")
OTHER_BACKENDS = ("jax", "torch")
PRESETS = ("dp_3", "dp_20", "dp_3_icnn", "dp_3_noise_aware", "foe_3",
           "foe_20", "foe_20_plus", "dp_ssvm", "foe_ssvm", "proximalnet",
           "feedforward_convnet")
MLC_PRESETS = tuple(f"mlc_{data}_{model}" for data in ("bibtex", "delicious")
                    for model in ("br", "mlp", "spen_ssvm", "spen_e2e",
                                  "spen_e2e_icnn"))
SRL_PRESETS = ("srl_local_h", "srl_spen_h", "srl_spen_icnn_lp",
               "srl_spen_ssvm_lp")
TIMEOUT = 600


# === The worker side =======================================================

def _closed_form(keras, spen_keras):
    s2, eta, steps = 0.5, 0.2, 4
    x = np.random.default_rng(0).uniform(size=(2, 5, 6, 1)).astype("float32")
    y0 = np.zeros_like(x)
    minimizer = spen_keras.UnrolledMinimizer(
        spen_keras.QuadraticDataEnergy(s2, trainable_variance=False),
        num_steps=steps, step_size=eta)
    y = keras.ops.convert_to_numpy(minimizer(y0, x))
    expected = x + (1 - eta / s2) ** steps * (y0 - x)
    return float(np.abs(y - expected).max())


def _small_spen(keras, spen_keras, dtype, hvp="exact", **options):
    keras.utils.set_random_seed(3)
    energy = spen_keras.SumEnergy([
        spen_keras.QuadraticDataEnergy(0.7, dtype=dtype),
        spen_keras.DeepPriorEnergy((3, 2), (3, 3), temperature=4.0,
                                   padding="reflect", dtype=dtype)],
        dtype=dtype)
    minimizer = spen_keras.UnrolledMinimizer(
        energy, num_steps=3, step_rule=spen_keras.MomentumStep(0.25),
        step_size=0.2, learn_step_sizes=True, hvp=hvp, dtype=dtype,
        **options)
    model = spen_keras.SPEN(minimizer, dtype=dtype)
    model.build((None, 9, 8, 1))
    rng = np.random.default_rng(7)
    model.set_weights([rng.normal(scale=0.3, size=w.shape).astype(dtype)
                       if w.ndim else np.asarray(rng.uniform(-0.5, 0.5),
                                                 dtype)
                       for w in model.get_weights()])
    model.compile(keras.optimizers.SGD(0.1),
                  loss=keras.losses.MeanSquaredError(dtype=dtype))
    return model


def _data(dtype):
    rng = np.random.default_rng(11)
    x = rng.uniform(size=(2, 9, 8, 1)).astype(dtype)
    return x, (x + rng.normal(scale=0.1, size=x.shape)).astype(dtype)


def _training_loss(model, x, y):
    """Keras' training loss of a forward pass (the compiled loss, Eq. 9)."""
    return model.compute_loss(x, y, model(x, training=True))


def _unrolled_objective(model, x, y):
    """sum_t w_t mean((y_t - y)^2) in float64, without Keras' compiled loss
    and `keras.ops.mean` (which reduce in float32 on JAX and PyTorch)."""
    import keras

    from spen_keras import iterate_weights

    iterates = model._forward(x, training=True).iterates
    y = keras.ops.convert_to_tensor(y, "float64")
    weights = iterate_weights(len(iterates))
    size = float(np.prod(y.shape))
    return sum(w * keras.ops.sum(keras.ops.square(iterates[t] - y)) / size
               for t, w in enumerate(weights))


def _loss_and_gradients(keras, model, objective, x, y):
    """`objective(model, x, y)` and its gradient in every trainable
    variable, by the backend's own autodiff."""
    backend = keras.backend.backend()
    variables = model.trainable_variables
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = objective(model, x, y)
        grads = tape.gradient(loss, variables)
    elif backend == "jax":
        import jax

        fixed = list(zip(model.non_trainable_variables,
                         [v.value for v in model.non_trainable_variables]))

        def loss_of(values):
            with keras.StatelessScope(
                    state_mapping=list(zip(variables, values)) + fixed):
                return objective(model, x, y)

        loss, grads = jax.value_and_grad(loss_of)([v.value
                                                    for v in variables])
    else:
        loss = objective(model, x, y)
        loss.backward()
        grads = [v.value.grad for v in variables]
    return (float(keras.ops.convert_to_numpy(loss)),
            [keras.ops.convert_to_numpy(g) for g in grads])


def _finite_differences(keras, spen_keras):
    """Worst relative error of autodiff against central differences."""
    model = _small_spen(keras, spen_keras, "float64")
    x, y = _data("float64")
    _, grads = _loss_and_gradients(keras, model, _unrolled_objective, x, y)
    worst, h = 0.0, 1e-6
    for variable, grad in zip(model.trainable_variables, grads):
        value = keras.ops.convert_to_numpy(variable).copy()
        for index in list(np.ndindex(value.shape))[:3]:
            losses = []
            for sign in (1, -1):
                probe = value.copy()
                probe[index] += sign * h
                variable.assign(keras.ops.convert_to_tensor(probe, "float64"))
                losses.append(float(keras.ops.convert_to_numpy(
                    _unrolled_objective(model, x, y))))
            variable.assign(keras.ops.convert_to_tensor(value, "float64"))
            numeric = (losses[0] - losses[1]) / (2 * h)
            worst = max(worst, abs(numeric - grad[index])
                        / max(abs(numeric), 1e-3))
    return worst


def _finite_difference_hvp(keras, spen_keras):
    """Worst relative difference between the loss gradients with
    finite-difference Hessian-vector products (Domke 2012) and exact ones,
    same weights, float64."""
    x, y = _data("float64")
    grads = [_loss_and_gradients(
        keras, _small_spen(keras, spen_keras, "float64", hvp),
        _unrolled_objective, x, y)[1] for hvp in ("finite_difference",
                                                 "exact")]
    return max(float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))
               for a, b in zip(*grads))


def _early_stopping(keras, spen_keras):
    """The small SPEN with `tolerance` between its first and second steps'
    RMS changes (0.0186 and 0.0083 on these weights, so it stops after two
    of its three steps): the steps taken and the output of an eager call
    and of `predict` (compiled on TensorFlow and JAX), the training loss
    and gradients (JAX: traced by its `jax.value_and_grad`, so the masked
    form), and the iterates without a tolerance."""
    x, y = _data("float32")
    plain = _small_spen(keras, spen_keras, "float32")
    iterates = plain._forward(x, training=False).iterates
    model = _small_spen(keras, spen_keras, "float32", tolerance=0.01)
    result = model._forward(x, training=False)
    loss, grads = _loss_and_gradients(keras, model, _training_loss, x, y)
    return {"num_steps": int(keras.ops.convert_to_numpy(result.num_steps)),
            "eager": keras.ops.convert_to_numpy(result.y).tolist(),
            "predict": model.predict(x, verbose=0).tolist(),
            "iterates": keras.ops.convert_to_numpy(iterates).tolist(),
            "loss": loss, "gradients": [g.tolist() for g in grads]}


def _served_gradient_error(model, loaded, x):
    """JAX: the loaded SavedModel's gradient of sum(y_T^2) in x, by a
    TensorFlow tape, against `jax.grad` of the model (relative)."""
    import jax
    import tensorflow as tf

    x_tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        total = tf.reduce_sum(loaded.serve(x_tensor) ** 2)
    served = tape.gradient(total, x_tensor).numpy()
    exact = np.asarray(jax.grad(lambda v: (model(v) ** 2).sum())(x))
    return float(np.abs(served - exact).max() / np.abs(exact).max())


def _export_and_bad_input(keras, spen_keras):
    """dp_3 exported to a SavedModel (TensorFlow is installed here) with a
    free and with a fixed image size: |served - model| or the ExportError's
    message; and the errors a frame with NaN gets, called and predicted."""
    import tempfile

    import tensorflow as tf

    from spen_keras.core.spen import ExportError

    model = spen_keras.load_preset("dp_3")
    x = np.random.default_rng(4).uniform(0.2, 0.8, (2, 24, 32, 1)).astype(
        "float32")
    expected = keras.ops.convert_to_numpy(model(x))
    found = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, signature in (
                ("free", None),
                ("fixed", [tf.TensorSpec((None, 24, 32, 1), "float32")])):
            path = os.path.join(folder, name)
            try:
                model.export(path, verbose=False, input_signature=signature)
            except ExportError as error:
                found[name] = str(error)
                continue
            loaded = tf.saved_model.load(path)  # kept: it owns the weights
            served = loaded.serve(x).numpy()
            found[name] = float(np.abs(served - expected).max())
            if name == "fixed" and keras.backend.backend() == "jax":
                found["fixed_gradient"] = _served_gradient_error(
                    model, loaded, x)
    bad = np.where(x > 0.7, np.nan, x)
    for name, run in (("nan_call", lambda: model(bad)),
                      ("nan_predict", lambda: model.predict(bad, verbose=0))):
        try:
            run()
            found[name] = "no error"
        except Exception as error:  # TensorFlow's InvalidArgumentError or not
            found[name] = f"{type(error).__name__}: {error}"
    return found


def _presets(keras, spen_keras):
    x = np.random.default_rng(5).uniform(0.2, 0.8, (1, 24, 32, 1)).astype(
        "float32")
    outputs = {}
    for name in PRESETS:
        model = spen_keras.load_preset(name)
        outputs[name] = keras.ops.convert_to_numpy(model(x)).tolist()
    rng = np.random.default_rng(6)
    for name in MLC_PRESETS:
        classifier = spen_keras.load_preset(name)
        rows = rng.integers(0, 2, (6, classifier.num_features))
        outputs[name] = classifier.probabilities(
            rows.astype("float32")).tolist()
    from itertools import islice

    from spen_keras.srl.arc_features import read_sentences

    sentences = [s for s in islice(read_sentences("devel"), 40)
                 if s.predicates][:6]
    for name in SRL_PRESETS:
        labeler = spen_keras.load_preset(name)
        soft = labeler.soft_predictions(labeler.prepare(sentences))
        outputs[name] = np.concatenate(
            [p for sentence in soft for p in sentence]).tolist()
    return outputs


def _worker(backend):
    os.environ["KERAS_BACKEND"] = backend
    if backend == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
    import keras

    import spen_keras

    assert keras.backend.backend() == backend
    model = _small_spen(keras, spen_keras, "float32")
    loss, grads = _loss_and_gradients(keras, model, _training_loss,
                                      *_data("float32"))
    checkpointed = _loss_and_gradients(
        keras, _small_spen(keras, spen_keras, "float32", checkpoint=True),
        _training_loss, *_data("float32"))
    return {"checkpointed": {"loss": checkpointed[0], "gradients": [
                g.tolist() for g in checkpointed[1]]},
            "early_stopping": _early_stopping(keras, spen_keras),
            "export": _export_and_bad_input(keras, spen_keras),
"backend": keras.backend.backend(),
            "closed_form": _closed_form(keras, spen_keras),
            "finite_differences": _finite_differences(keras, spen_keras),
            "finite_difference_hvp": _finite_difference_hvp(keras,
                                                            spen_keras),
            "loss": loss, "gradients": [g.tolist() for g in grads],
            "presets": _presets(keras, spen_keras)}


# === The test side =========================================================

def _available(backend):
    return importlib.util.find_spec(backend) is not None


@pytest.fixture(scope="module")
def results():
    """One worker per installed backend, run side by side."""
    processes = {}
    for backend in BACKENDS:
        if not _available(backend):
            continue
        env = dict(os.environ, KERAS_BACKEND=backend)
        processes[backend] = subprocess.Popen(
            [sys.executable, HERE, "--worker", backend], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found = {}
    for backend, process in processes.items():
        output, _ = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, output[-3000:]
        line = [l for l in output.splitlines() if l.startswith("RESULT ")][-1]
        found[backend] = json.loads(line[len("RESULT "):])
    return found


def _result(results, backend):
    if backend not in results:
        pytest.skip(f"{backend} is not installed")
    return results[backend]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_backend_is_the_one_asked_for(results, backend):
    assert _result(results, backend)["backend"] == backend


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_steps_reach_the_closed_form_minimum(results, backend):
    assert _result(results, backend)["closed_form"] < 1e-6


@pytest.mark.parametrize("backend", BACKENDS)
def test_unrolled_gradients_match_finite_differences(results, backend):
    assert _result(results, backend)["finite_differences"] < 1e-6


@pytest.mark.parametrize("backend", BACKENDS)
def test_finite_difference_hvps_give_the_exact_gradients(results, backend):
    """hvp="finite_difference" (central differences of first-order
    gradients, probe length 1e-3) against nested autodiff, float64."""
    assert _result(results, backend)["finite_difference_hvp"] < 1e-5


def relative_difference(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def assert_same_loss_and_gradients(found, reference, tolerance=1e-5):
    assert relative_difference(found["loss"], reference["loss"]) < tolerance
    assert len(found["gradients"]) == len(reference["gradients"])
    worst = max(relative_difference(a, b) for a, b in zip(
        found["gradients"], reference["gradients"]))
    assert worst < tolerance, worst


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_loss_and_every_gradient_equal_tensorflows(results, backend):
    assert_same_loss_and_gradients(_result(results, backend),
                                   _result(results, "tensorflow"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_checkpointed_steps_give_the_same_loss_and_gradients(results,
                                                             backend):
    """`checkpoint=True` (tf.recompute_grad-style custom gradient,
    `jax.checkpoint`, `torch.utils.checkpoint`) against the plain steps."""
    plain = _result(results, backend)
    assert_same_loss_and_gradients(plain["checkpointed"], plain)


@pytest.mark.parametrize("backend", BACKENDS)
def test_early_stopping_stops_at_the_tolerance(results, backend):
    """Eager (a Python loop that breaks), compiled `predict` (TensorFlow:
    `tf.cond` per step; JAX: masked steps) and training all stop after the
    second step, whose iterate they return."""
    found = _result(results, backend)["early_stopping"]
    assert found["num_steps"] == 2
    second = np.asarray(found["iterates"])[1]
    assert np.abs(np.subtract(found["eager"], second)).max() < 1e-6
    assert np.abs(np.subtract(found["predict"], second)).max() < 1e-6
    assert np.abs(np.subtract(found["eager"],
                              np.asarray(found["iterates"])[2])).max() > 1e-4


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_early_stopping_equals_tensorflows(results, backend):
    reference = _result(results, "tensorflow")["early_stopping"]
    other = _result(results, backend)["early_stopping"]
    assert np.abs(np.subtract(other["eager"],
                              reference["eager"])).max() < 1e-5
    assert_same_loss_and_gradients(other, reference)


@pytest.mark.parametrize("backend", BACKENDS)
def test_export_serves_the_model_or_says_why_not(results, backend):
    """TensorFlow exports any image size; JAX a fixed one (a free size is a
    one-line ExportError naming the fix), whose loaded model gives JAX's
    gradient in x; PyTorch cannot (one line naming
    the TensorFlow backend)."""
    found = _result(results, backend)["export"]
    if backend == "torch":
        for name in ("free", "fixed"):
            assert "not on PyTorch" in found[name]
            assert "KERAS_BACKEND=tensorflow" in found[name]
        return
    assert found["fixed"] < 1e-5
    if backend == "jax":
        assert "needs the image size fixed" in found["free"]
        assert "input_signature" in found["free"]
        assert found["fixed_gradient"] < 1e-5  # first order, as served
    else:
        assert found["free"] < 1e-5


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("how", ["nan_call", "nan_predict"])
def test_non_finite_input_is_refused(results, backend, how):
    """A frame with NaN, called or through `predict` (compiled on
    TensorFlow and JAX, whose traced step cannot read it): an error naming
    it, never a NaN output."""
    message = _result(results, backend)["export"][how]
    assert "NaN or Inf" in message, message


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("preset", PRESETS + MLC_PRESETS + SRL_PRESETS)
def test_shipped_presets_give_tensorflows_outputs(results, backend, preset):
    reference = _result(results, "tensorflow")["presets"][preset]
    other = _result(results, backend)["presets"][preset]
    assert np.abs(np.subtract(other, reference)).max() < 1e-5


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    print("RESULT " + json.dumps(_worker(sys.argv[2])), flush=True)
