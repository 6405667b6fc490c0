"""Training under tf.distribute: MirroredStrategy over two logical CPU
devices and MultiWorkerMirroredStrategy over two processes on 127.0.0.1 give
the single-device losses on the same global batch; checkpoints restore
across strategies; the CLI refuses what cannot work with one line.

Logical CPU devices must be configured before TensorFlow initialises its
devices, and a cluster needs one process per worker, so the training runs in
fresh subprocesses: this file doubles as their script (`--worker ...`).

Tolerances (relative, on the loss after each of N = 3 steps): 1e-5 for the
exact nested-tape step, the checkpointed step and SSVM training (observed
~1e-7: only the summation order differs); 3e-4 for the finite-difference HVP
(observed 4e-5), whose central difference divides a difference of batch sums
by a small probe and so amplifies float32 rounding. Under a strategy each
replica sizes its probe from its own slice of the cotangent
(eps = fd_radius / ||v_replica||); sizing it from the global norm (an
all-reduce in the backward pass) was tried and gave the same order of
difference (6e-5), so `unrolled_minimizer.py` is unchanged.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.abspath(__file__)
STEPS, BATCH, SIZE = 3, 4, 16
MODES = ("exact", "checkpoint", "finite_difference", "ssvm")
RTOL = {"exact": 1e-5, "checkpoint": 1e-5, "finite_difference": 3e-4,
        "ssvm": 1e-5}
TIMEOUT = 240
# Plain SGD, not Adam: Adam is invariant to the scale of the gradient, so
# only SGD shows a gradient that is not the global batch's (e.g. summed
# over replicas instead of averaged). The SSVM hinge is ~1e3 times larger.
SGD_RATE = {"ssvm": 1e-3}


# === The subprocess side ===================================================

def _toy_data():
    rng = np.random.default_rng(0)
    y = rng.uniform(0.2, 0.8, (BATCH * 4, SIZE, SIZE, 1)).astype("float32")
    x = (y + 0.05 * rng.normal(size=y.shape)).astype("float32")
    return x, y


def _toy_model(strategy, mode, adam=False):
    """A tiny SPEN (quadratic data term + 4 FoE experts, T = 3), built and
    compiled under the strategy's scope."""
    import keras

    from spen_keras import (SPEN, FieldOfExpertsEnergy, QuadraticDataEnergy,
                            SumEnergy, UnrolledMinimizer)

    options = {"exact": {}, "checkpoint": {"checkpoint": True},
               "finite_difference": {"hvp": "finite_difference"},
               "ssvm": {}}[mode]
    with strategy.scope():
        keras.utils.set_random_seed(0)
        energy = SumEnergy([QuadraticDataEnergy(), FieldOfExpertsEnergy(4, 3)])
        model = SPEN(UnrolledMinimizer(energy, num_steps=3, step_size=0.1,
                                       learn_step_sizes=True, **options),
                     training_mode="ssvm" if mode == "ssvm" else "unrolled")
        model.build((None, SIZE, SIZE, 1))
        optimizer = (keras.optimizers.Adam(1e-2) if adam else
                     keras.optimizers.SGD(SGD_RATE.get(mode, 0.5)))
        model.compile(optimizer=optimizer, loss="mse")
    return model


def _toy_fit(strategy, mode, callbacks=(), steps=STEPS, adam=False):
    model = _toy_model(strategy, mode, adam)
    return model, _fit_global_batches(strategy, model, *_toy_data(), BATCH,
                                      callbacks, steps)


def _fit_global_batches(strategy, model, x, y, batch, callbacks, steps):
    """`steps` steps of `fit` on global batches of (x, y), split across the
    strategy's replicas; the loss of every step."""
    import tensorflow as tf

    from spen_keras.presets.distribute import distribute_global_batches

    def batches():
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(
            batch, drop_remainder=True).repeat()

    dataset = (batches() if strategy.num_replicas_in_sync == 1
               else distribute_global_batches(strategy, batches, batch))
    history = model.fit(dataset, steps_per_epoch=1, epochs=steps, verbose=0,
                        callbacks=list(callbacks))
    return history.history["loss"]


def _state(model):
    import keras

    from spen_keras.presets.resumable import _variables

    return [keras.ops.convert_to_numpy(v) for v in _variables(model)]


def _local_worker(folder):
    """Two logical CPUs: losses per mode under default and mirrored, and a
    checkpoint round trip mirrored -> default -> mirrored."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from spen_keras.presets.distribute import get_strategy
    from spen_keras.presets.resumable import TrainingCheckpoint

    default, mirrored = get_strategy("default"), get_strategy("mirrored")
    result = {"replicas": mirrored.num_replicas_in_sync, "losses": {}}
    for mode in MODES:
        result["losses"][mode] = {
            "default": _toy_fit(default, mode)[1],
            "mirrored": _toy_fit(mirrored, mode)[1]}

    identity = {"toy": True}
    result["restored_equal"] = {}
    for writer, reader, strategies in (
            ("mirrored", "default", (mirrored, default)),
            ("default", "mirrored", (default, mirrored))):
        backup = os.path.join(folder, f"{writer}_to_{reader}")
        os.makedirs(backup)
        checkpoint = TrainingCheckpoint(backup, identity, 1)
        trained, _ = _toy_fit(strategies[0], "exact", [checkpoint], steps=2,
                              adam=True)
        expected = _state(trained)
        fresh = _toy_model(strategies[1], "exact", adam=True)
        with strategies[1].scope():
            done = TrainingCheckpoint(backup, identity, 1).restore(fresh)
        restored = _state(fresh)
        result["restored_equal"][f"{writer}->{reader}"] = bool(
            done == 2 and len(expected) == len(restored) and all(
                np.array_equal(a, b) for a, b in zip(expected, restored)))
    result["mlc"] = _mlc_seed_per_strategy(default, mirrored)
    return result


def _mlc_seed_per_strategy(default, mirrored):
    """A multi-label SPEN (MLP pretraining, then its clamped and free
    phases, 2 steps each; no dropout, whose masks differ per replica)
    trained through the one loop on one device and mirrored."""
    import dataclasses

    from spen_keras import presets
    from spen_keras.mlc import mlc_data
    from spen_keras.mlc import mlc_training

    recipe = dataclasses.replace(
        presets.get_spec("mlc_bibtex_spen_e2e").recipe, steps=2,
        pretrain_epochs=1, epochs=2, clamp_epochs=1, dropout=0.0,
        seeds=(0,))
    x = mlc_data.load("bibtex").test[0][:8]
    return {name: mlc_training.train_one_seed(
        recipe, 0, log=None, strategy=strategy)[0].probabilities(x).tolist()
        for name, strategy in (("default", default),
                               ("mirrored", mirrored))}


# --- A SPEN with layer losses ----------------------------------------------
#
# F(x) = k x (a 1x1 Dense kernel with an L2 regulariser, l2 k^2), then a layer
# that adds rate * mean(F(x)^2) with `add_loss`; y_0 = Init(F) = a F; the
# energy ||y - F||^2 / (2 sigma^2) alone, so T gradient steps of size eta
# give y_t = F + (1 - eta / sigma^2)^t (y_0 - F) in closed form. The step's
# loss is Eq. 9's unrolled loss plus both layer losses (a third of it here).

LAYER = {"k": 0.8, "a": 0.3, "l2": 0.05, "rate": 0.1, "eta": 0.5,
         "steps": 3, "sgd": 0.1, "batch": 8, "fits": 2}


def _layer_loss_data():
    rng = np.random.default_rng(1)
    y = rng.uniform(0.2, 0.8, (LAYER["batch"] * 2, 4, 4, 1)).astype("float32")
    x = (y + 0.05 * rng.normal(size=y.shape)).astype("float32")
    return x, y


def _layer_loss_closed_form(k, a, variance, x, y):
    """(unrolled loss, layer losses) of the layer-loss toy in float64, on
    the batch (x, y) and at the weights k, a, sigma^2."""
    x, y = np.float64(x), np.float64(y)
    features = k * x
    contraction = 1.0 - LAYER["eta"] / variance
    steps = LAYER["steps"]
    weights = [1.0 / (steps * (steps - t + 1)) for t in range(1, steps + 1)]
    unrolled = sum(
        w * np.mean((features + contraction ** t * (a - 1.0) * features - y)
                    ** 2) for t, w in zip(range(1, steps + 1), weights))
    layer = LAYER["l2"] * k ** 2 + LAYER["rate"] * np.mean(features ** 2)
    return unrolled, layer


def _layer_loss_model(strategy):
    """The layer-loss toy, built and compiled (SGD) under the strategy."""
    import keras

    from spen_keras import SPEN, QuadraticDataEnergy, UnrolledMinimizer

    class ActivityPenalty(keras.layers.Layer):
        def call(self, x):
            self.add_loss(LAYER["rate"] * keras.ops.mean(keras.ops.square(x)))
            return x

    constant = keras.initializers.Constant
    with strategy.scope():
        features = keras.Sequential([
            keras.layers.Dense(1, use_bias=False,
                               kernel_initializer=constant(LAYER["k"]),
                               kernel_regularizer=keras.regularizers.L2(
                                   LAYER["l2"])),
            ActivityPenalty()])
        init = keras.layers.Dense(1, use_bias=False,
                                  kernel_initializer=constant(LAYER["a"]))
        model = SPEN(UnrolledMinimizer(QuadraticDataEnergy(1.0),
                                       num_steps=LAYER["steps"],
                                       step_size=LAYER["eta"]),
                     feature_network=features, init_network=init)
        model.build((None, 4, 4, 1))
        model.compile(optimizer=keras.optimizers.SGD(LAYER["sgd"]),
                      loss="mse")
    return model


def _layer_loss_weights(model):
    """k, a and sigma^2 as floats."""
    import keras

    value = keras.ops.convert_to_numpy
    return [float(value(model.feature_network.layers[0].kernel).item()),
            float(value(model.init_network.kernel).item()),
            float(np.exp(value(model.energy.log_variance)).item())]


def _layer_loss_fit(strategy):
    """The layer-loss toy's step losses and its weights before every step
    and after the last."""
    import keras

    model = _layer_loss_model(strategy)
    weights = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs=None: weights.append(
            _layer_loss_weights(model)))
    losses = _fit_global_batches(strategy, model, *_layer_loss_data(),
                                 LAYER["batch"], [record], LAYER["fits"])
    return {"losses": losses,
            "weights": weights + [_layer_loss_weights(model)]}


def _layer_loss_worker():
    """Two logical CPUs: the layer-loss toy on one device and mirrored."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from spen_keras.presets.distribute import get_strategy

    mirrored = get_strategy("mirrored")
    return {"replicas": mirrored.num_replicas_in_sync,
            "default": _layer_loss_fit(get_strategy("default")),
            "mirrored": _layer_loss_fit(mirrored)}


def _multiworker_worker():
    """One worker of a TF_CONFIG cluster: the exact toy's losses."""
    from spen_keras.presets.distribute import get_strategy, is_chief

    strategy = get_strategy("multiworker")
    _, losses = _toy_fit(strategy, "exact")
    return {"losses": losses, "replicas": strategy.num_replicas_in_sync,
            "chief": is_chief(strategy)}


def _worker_main(argv):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if argv[0] == "local":
        result = _local_worker(argv[1])
    elif argv[0] == "layer_losses":
        result = _layer_loss_worker()
    else:
        result = _multiworker_worker()
    print("RESULT " + json.dumps(result), flush=True)


# === The test side =========================================================

def _run_script(args, env=None, timeout=TIMEOUT):
    environment = dict(os.environ)
    environment.update(env or {})
    return subprocess.Popen([sys.executable, HERE, "--worker", *args],
                            env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _result(process, timeout=TIMEOUT):
    try:
        output = process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        output = process.communicate()[0]
        raise AssertionError(f"worker timed out:\n{output[-3000:]}")
    assert process.returncode == 0, output[-3000:]
    line = [l for l in output.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The local (two logical CPUs) run and a two-worker cluster, started
    together (their start-up and collective waits overlap)."""
    folder = tmp_path_factory.mktemp("distribute")
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    processes = [_run_script(["local", str(folder)])] + [
        _run_script(["multiworker"], env={"TF_CONFIG": json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": i}})})
        for i in range(2)]
    try:
        results = [_result(p) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.communicate()
    return {"local": results[0], "workers": results[1:]}


@pytest.fixture(scope="module")
def local(runs):
    return runs["local"]


def _free_ports(count):
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_mirrored_uses_two_logical_cpus(local):
    assert local["replicas"] == 2


@pytest.mark.parametrize("mode", MODES)
def test_mirrored_loss_equals_one_device(local, mode):
    losses = local["losses"][mode]
    assert len(losses["default"]) == STEPS
    np.testing.assert_allclose(losses["mirrored"], losses["default"],
                               rtol=RTOL[mode], atol=0)
    assert losses["default"][-1] < losses["default"][0]  # it trains


@pytest.mark.parametrize("direction", ["mirrored->default",
                                       "default->mirrored"])
def test_checkpoint_restores_across_strategies(local, direction):
    assert local["restored_equal"][direction]


def test_the_multi_label_trainer_mirrored_equals_one_device(local):
    np.testing.assert_allclose(local["mlc"]["mirrored"],
                               local["mlc"]["default"], rtol=1e-4, atol=1e-6)


def test_two_workers_agree_with_one_process(runs):
    workers = runs["workers"]
    assert [r["replicas"] for r in workers] == [2, 2]
    assert [r["chief"] for r in workers] == [True, False]
    for r in workers:
        np.testing.assert_allclose(
            r["losses"], runs["local"]["losses"]["exact"]["default"],
            rtol=RTOL["exact"], atol=0)


@pytest.fixture(scope="module")
def layer_losses():
    """The layer-loss toy trained on one device and on two mirrored
    logical CPUs (one fresh process)."""
    return _result(_run_script(["layer_losses"]))


def _closed_form_gradient(weights, x, y, probe=1e-6):
    """d(unrolled + layer loss)/d(k, a, log sigma^2) by central
    differences of the float64 closed form."""
    def total(k, a, log_variance):
        return sum(_layer_loss_closed_form(k, a, np.exp(log_variance), x, y))

    point = np.array([weights[0], weights[1], np.log(weights[2])])
    gradient = []
    for i in range(3):
        step = np.zeros(3)
        step[i] = probe
        gradient.append((total(*(point + step)) - total(*(point - step)))
                        / (2 * probe))
    return point, np.array(gradient)


def test_step_loss_adds_the_layer_losses_once_on_one_device(layer_losses):
    """The loss `fit` reports for a step is the unrolled loss plus the L2
    kernel regulariser and the add_loss penalty at the step's starting
    weights (the closed form), and the step moves the weights along the
    gradient of that sum."""
    run = layer_losses["default"]
    x, y = _layer_loss_data()
    for step, loss in enumerate(run["losses"]):
        batch = slice(step * LAYER["batch"], (step + 1) * LAYER["batch"])
        unrolled, layer = _layer_loss_closed_form(*run["weights"][step],
                                                  x[batch], y[batch])
        assert layer > 0.3 * (unrolled + layer)  # a large part of it
        np.testing.assert_allclose(loss, unrolled + layer, rtol=1e-5)
    point, gradient = _closed_form_gradient(run["weights"][0],
                                            x[:LAYER["batch"]],
                                            y[:LAYER["batch"]])
    after = run["weights"][1]
    np.testing.assert_allclose(
        [after[0], after[1], np.log(after[2])],
        point - LAYER["sgd"] * gradient, rtol=1e-4, atol=1e-7)


def test_mirrored_layer_losses_equal_one_device(layer_losses):
    """Two replicas, each with half of the global batch: the same step
    losses and the same weights after every step as one device (the layer
    losses counted once per step, not once per replica)."""
    assert layer_losses["replicas"] == 2
    one, two = layer_losses["default"], layer_losses["mirrored"]
    assert len(one["losses"]) == LAYER["fits"]
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-5,
                               atol=0)
    np.testing.assert_allclose(two["weights"], one["weights"], rtol=1e-5,
                               atol=0)


# --- CLI and API ------------------------------------------------------------

def _cli(args, cwd, env):
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("TF_CONFIG",)}
    environment.update(env)
    code = ("import sys, spen_keras_launcher; "
            "sys.exit(spen_keras_launcher.main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd,
                          env=environment, capture_output=True, text=True,
                          timeout=300)


def test_multiworker_without_tf_config_is_one_line_from_the_console(
        tmp_path):
    done = _cli(["train", "--preset", "foe_3", "--strategy", "multiworker"],
                tmp_path, {})
    assert done.returncode == 2
    lines = [l for l in done.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, done.stderr
    assert "needs the TF_CONFIG environment variable" in lines[0]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("tf_config, expected", [
    ("{not json", "TF_CONFIG is not valid JSON"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", '
     '"index": 2}}', "TF_CONFIG task index 2 is not in 0..0"),
])
def test_bad_tf_config_is_one_cli_line(tmp_path, monkeypatch, capsys,
                                       tf_config, expected):
    from spen_keras import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TF_CONFIG", tf_config)
    assert cli.main(["train", "--preset", "foe_3", "--strategy",
                     "multiworker"]) == 2
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and expected in lines[0], err
    assert not (tmp_path / "runs").exists()


def test_strategy_for_a_numpy_preset_is_one_cli_line(tmp_path, monkeypatch,
                                                    capsys):
    from spen_keras import cli

    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--preset", "bm3d", "--strategy",
                     "mirrored"]) == 2
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and "does not train with tf.distribute" in err


@pytest.mark.parametrize("tf_config, expected", [
    ('[1, 2]', "must be a JSON object"),
    ('{"task": {"type": "worker", "index": 0}}', "no \"cluster\""),
    ('{"cluster": {"worker": ["nohost"]}, "task": {"type": "worker", '
     '"index": 0}}', "host:port"),
    ('{"cluster": {"worker": ["a:1"]}}', "no \"task\""),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", '
     '"index": 0}}', "task type 'chief' is not a job"),
])
def test_malformed_tf_config_names_the_problem(tf_config, expected):
    from spen_keras.presets.distribute import StrategyError, check_tf_config

    with pytest.raises(StrategyError, match=expected.replace("(", r"\(")):
        check_tf_config(tf_config)


@pytest.mark.parametrize("preset", ["bm3d", "srl_local_h"])
def test_strategy_is_refused_where_a_kind_does_not_distribute(tmp_path, preset):
    from spen_keras import presets

    with pytest.raises(presets.PresetError,
                       match="does not train with tf.distribute"):
        presets.train_preset(preset, tmp_path / "out", tmp_path / "backup",
                             strategy="mirrored")


def test_unknown_strategy_name_is_refused():
    from spen_keras.presets.distribute import StrategyError, get_strategy

    with pytest.raises(StrategyError, match="Unknown strategy 'tpu'"):
        get_strategy("tpu")


def test_train_keras_preset_with_mirrored_writes_a_preset(tmp_path):
    """The Python API end to end (one logical CPU here: one replica)."""
    from spen_keras import load_preset, presets

    metadata = presets.train_preset(
        "foe_3", tmp_path / "out", tmp_path / "backup", steps=2,
        steps_per_epoch=1, verbose=0, strategy="mirrored")
    assert metadata["distribution"]["strategy"] == "mirrored"
    assert metadata["steps"] == 2
    assert not (tmp_path / "backup").exists()
    model = load_preset(tmp_path / "out")
    assert np.isfinite(model(np.full((1, 32, 32, 1), 0.5, "float32"))).all()


@pytest.mark.large
def test_two_worker_cli_run_writes_one_preset_like_one_process(tmp_path):
    """`spen-keras train --strategy multiworker` on two local workers: only
    the chief writes the preset (and its backup), and it is the preset one
    process writes."""
    args = ["train", "--preset", "foe_3", "--steps", "2"]
    single = _cli(args + ["--output-dir", "single", "--backup-dir", "b1"],
                  tmp_path, {})
    assert single.returncode == 0, single.stderr[-3000:]
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    code = ("import sys, spen_keras_launcher; "
            "sys.exit(spen_keras_launcher.main(sys.argv[1:]))")
    workers = []
    for i in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": i}}))
        workers.append(subprocess.Popen(
            [sys.executable, "-c", code, *args, "--strategy", "multiworker",
             "--output-dir", "cluster", "--backup-dir", "b2"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True))
    try:
        outputs = [w.communicate(timeout=900)[0] for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.communicate()
    assert [w.returncode for w in workers] == [0, 0], outputs
    assert "the chief worker writes the preset" in outputs[1]
    assert not (tmp_path / "b2").exists()
    a = json.loads((tmp_path / "single" / "metadata.json").read_text())
    b = json.loads((tmp_path / "cluster" / "metadata.json").read_text())
    assert b["distribution"] == {"strategy": "multiworker", "replicas": 2,
                                 "workers": 2}
    assert abs(a["our_value"] - b["our_value"]) <= 0.01
    from spen_keras import load_preset

    probe = np.linspace(0.2, 0.6, 32 * 32, dtype="float32").reshape(
        1, 32, 32, 1)
    np.testing.assert_allclose(load_preset(tmp_path / "single")(probe),
                               load_preset(tmp_path / "cluster")(probe),
                               rtol=1e-4, atol=1e-5)


if __name__ == "__main__" and "--worker" in sys.argv:
    _worker_main(sys.argv[sys.argv.index("--worker") + 1:])
