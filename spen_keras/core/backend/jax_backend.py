"""The JAX backend's share of the core (see `spen_keras.core.backend`)."""

import jax
import keras


def executing_eagerly():
    """Whether values can be read now (not inside a JAX trace)."""
    from keras.src.backend.jax.core import is_in_jax_tracing_scope

    return not is_in_jax_tracing_scope()


def energy_gradient(total_energy, y):
    """dE/dy by `jax.grad`; differentiable again by the trainer's
    `jax.value_and_grad` (closed-over parameters are its tracers)."""
    return jax.grad(total_energy)(y)


def checkpointed(step, *args):
    """`step(*args)` with its internals recomputed in the backward pass."""
    return jax.checkpoint(step)(*args)


def single_channel_conv(x, kernel):
    return keras.ops.conv(x, kernel, strides=1, padding="valid")
