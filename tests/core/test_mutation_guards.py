"""Checks that catch wrong-but-self-consistent changes to the minimiser.

- Finite-difference HVPs: the probe has length `fd_radius` whatever the
  scale of the incoming gradient v (eps = fd_radius / ||v||). Then the
  gradient of c * L is c times the gradient of L for any c, and it matches
  the exact nested-tape gradient in float32 at c = 1e-4 and c = 1e4. A fixed
  eps = fd_radius only passes at c ~ 1 (and in float64, where any small eps
  works), which is all the float64 finite-difference tests look at.
- Checkpointing: each step's recomputation must wait for the gradient coming
  from later steps, else graph mode runs every recomputation during the
  forward pass and the memory saving disappears while the gradients stay
  right. The graph check below looks at the backward graph itself; the
  `large` test measures peak memory.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from spen_keras import (
    DeepPriorEnergy,
    MomentumStep,
    QuadraticDataEnergy,
    SumEnergy,
    UnrolledMinimizer,
)

RNG = np.random.RandomState(0)
X32 = RNG.uniform(0.2, 0.8, (2, 10, 9, 1)).astype("float32")
TARGET32 = (X32 + RNG.normal(0.0, 0.05, X32.shape)).astype("float32")


def deep_prior_minimizer(**options):
    keras.utils.set_random_seed(3)
    energy = SumEnergy([
        QuadraticDataEnergy(0.7),
        DeepPriorEnergy((4, 3), (3, 3), temperature=4.0, padding="reflect"),
    ])
    minimizer = UnrolledMinimizer(energy, num_steps=3,
                                  step_rule=MomentumStep(0.25), step_size=0.2,
                                  learn_step_sizes=True, **options)
    minimizer(X32, X32)
    return minimizer


# === 1. Finite-difference HVPs are invariant to the loss scale ===


def scaled_gradients(minimizer, scale):
    """d(scale * L)/d(weights, x) divided by scale, float32."""
    x = tf.constant(X32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = minimizer(x, x)
        loss = scale * tf.reduce_sum(tf.square(y - TARGET32))
    grads = tape.gradient(loss, minimizer.trainable_variables + [x])
    return [g.numpy().astype("float64") / scale for g in grads]


def relative_error(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.fixture(scope="module")
def exact_reference():
    minimizer = deep_prior_minimizer()
    names = [v.path for v in minimizer.trainable_variables] + ["x"]
    return minimizer.get_weights(), names, scaled_gradients(minimizer, 1.0)


@pytest.mark.parametrize("scale", [1e-4, 1.0, 1e4])
def test_finite_difference_gradients_scale_with_the_loss(scale,
                                                         exact_reference):
    weights, names, exact = exact_reference
    minimizer = deep_prior_minimizer(hvp="finite_difference")  # r = 1e-3
    minimizer.set_weights(weights)
    at_one = scaled_gradients(minimizer, 1.0)
    scaled = scaled_gradients(minimizer, scale)
    # sigma^2, 5 DeepPrior weights, the step sizes and x
    assert len(scaled) == len(exact) == len(names) == 8
    for name, s, one, reference in zip(names, scaled, at_one, exact):
        # Probe direction and length do not depend on the scale: c * g(L)
        # up to float32 rounding of v / ||v||.
        assert relative_error(s, one) < 1e-4, (
            f"{name}: grad(c L) / c differs from grad(L) at c = {scale}")
        # And both match the exact nested-tape gradient: float32 differences
        # over r = 1e-3 are good to 0.2% here (1.5% for SoftPlus at
        # temperature 1); a fixed eps = r is off by 90% at c = 1e4 and by
        # 400% at c = 1e-4.
        assert relative_error(s, reference) < 5e-2, (
            f"{name}: finite-difference vs exact gradient at c = {scale}")


# === 2. Checkpointed recomputation waits for the upstream gradient ===


def _descendants(graph, roots):
    """Every op reachable from `roots` by data or control edges."""
    children = {}
    for op in graph.get_operations():
        for tensor in op.inputs:
            children.setdefault(tensor.op.name, set()).add(op.name)
        for control in op.control_inputs:
            children.setdefault(control.name, set()).add(op.name)
    seen, stack = set(), [r.name for r in roots]
    while stack:
        name = stack.pop()
        for child in children.get(name, ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def _softplus_ops(graph):
    """The DeepPrior's SoftPlus ops (not the step sizes' SoftPlus)."""
    return [op for op in graph.get_operations()
            if op.type == "Softplus" and "deep_prior" in op.name]


@pytest.mark.parametrize("hvp", ["exact", "finite_difference"])
def test_checkpointed_recomputation_waits_for_the_upstream_gradient(hvp):
    """In the backward graph of tf.function, the upstream gradient (an
    explicit input here) must precede every recomputed forward op: the only
    Softplus ops that can run before it are the forward pass's own."""
    minimizer = deep_prior_minimizer(checkpoint=True, hvp=hvp)
    spec = tf.TensorSpec((None, None, None, 1), tf.float32)

    @tf.function(input_signature=[spec])
    def forward(x):
        return minimizer(x, x)

    @tf.function(input_signature=[spec, spec])
    def backward(x, upstream):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = minimizer(x, x)
        return tape.gradient(y, minimizer.trainable_variables + [x],
                             output_gradients=upstream)

    forward_ops = _softplus_ops(forward.get_concrete_function().graph)
    graph = backward.get_concrete_function().graph
    upstream = [op for op in graph.get_operations()
                if op.type == "Placeholder" and op.name == "upstream"]
    assert len(upstream) == 1
    after_upstream = _descendants(graph, upstream)
    softplus = _softplus_ops(graph)
    early = [op.name for op in softplus if op.name not in after_upstream]
    # 3 steps x 2 SoftPlus layers in the forward pass...
    assert len(forward_ops) == 6
    # ...the backward pass recomputes each step (and finite differences add
    # two more energy gradients per step)...
    assert len(softplus) >= 2 * len(forward_ops)
    # ...and none of the recomputations may start before the upstream
    # gradient exists.
    assert len(early) == len(forward_ops), (
        f"{len(early) - len(forward_ops)} recomputed SoftPlus ops do not "
        f"depend on the upstream gradient: {sorted(early)}")


_PEAK_MEMORY_CHILD = textwrap.dedent("""
    import json, os, resource, sys
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import keras
    import tensorflow as tf
    from spen_keras import (DeepPriorEnergy, MomentumStep,
                            QuadraticDataEnergy, SumEnergy, UnrolledMinimizer)

    checkpoint = sys.argv[1] == "1"
    keras.utils.set_random_seed(0)
    energy = SumEnergy([QuadraticDataEnergy(0.5),
                        DeepPriorEnergy((16, 16), (5, 5), temperature=25.0)])
    minimizer = UnrolledMinimizer(energy, num_steps=24,
                                  step_rule=MomentumStep(0.25),
                                  step_size=1e-3, learn_step_sizes=True,
                                  checkpoint=checkpoint)
    spec = tf.TensorSpec((None, None, None, 1), tf.float32)

    @tf.function(input_signature=[spec])
    def gradients(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(minimizer(x, x) - x))
        return tape.gradient(loss, minimizer.trainable_variables)

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    small = np.random.RandomState(0).rand(1, 16, 16, 1).astype("float32")
    minimizer(small, small)
    gradients(small)  # trace and warm up on a tiny input
    base = peak_mb()
    big = np.random.RandomState(1).rand(4, 96, 128, 1).astype("float32")
    grads = gradients(big)
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    print("PEAK " + json.dumps({"increase_mb": peak_mb() - base}))
""")


def _peak_increase_mb(checkpoint):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_MEMORY_CHILD, "1" if checkpoint else "0"],
        env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    line = [l for l in result.stdout.splitlines() if l.startswith("PEAK ")][-1]
    return json.loads(line[5:])["increase_mb"]


@pytest.mark.large
def test_checkpointing_lowers_peak_memory_in_graph_mode():
    """24 steps of a 16-channel DeepPrior on 4 x 96 x 128: the plain
    backward pass keeps every step's internals, the checkpointed one only
    the iterates (one process per configuration: peak RSS only grows)."""
    plain = _peak_increase_mb(checkpoint=False)
    checkpointed = _peak_increase_mb(checkpoint=True)
    assert plain > 200.0, f"plain peak increase only {plain:.0f} MB"
    assert checkpointed < 0.5 * plain, (
        f"checkpointed {checkpointed:.0f} MB vs plain {plain:.0f} MB")
