"""The JAX backend's share of the core (see `spen_keras.core.backend`)."""

import contextlib

import jax
import keras


def can_read(*values):
    """Whether these values (nested structures of arrays, Keras variables)
    can be read now: none of them is a JAX tracer (under `jax.jit` or a
    transformation such as the trainer's `jax.value_and_grad`, a variable's
    value in the stateless scope is one)."""
    return not any(
        isinstance(v.value if isinstance(v, keras.Variable) else v,
                   jax.core.Tracer)
        for v in keras.tree.flatten(values))


def energy_gradient(total_energy, y):
    """dE/dy by `jax.grad`; differentiable again by the trainer's
    `jax.value_and_grad` (closed-over parameters are its tracers)."""
    return jax.grad(total_energy)(y)


def checkpointed(step, *args):
    """`step(*args)` with its internals recomputed in the backward pass."""
    return jax.checkpoint(step)(*args)


def single_channel_conv(x, kernel):
    return keras.ops.conv(x, kernel, strides=1, padding="valid")


def finite_difference_gradient(minimizer, y, features):
    """dE/dy whose backward pass takes central differences of first-order
    gradients (Domke 2012; `UnrolledMinimizer(hvp="finite_difference")`):
    a `jax.custom_vjp` over y, the features and the energy's parameters
    (hoisted out of the closure by `jax.closure_convert`, since under the
    Keras trainer they are the tracers it differentiates)."""
    import jax.numpy as jnp

    leaves, treedef = jax.tree_util.tree_flatten(features)

    def energy(point, *flat):
        return minimizer.total_energy(
            point, jax.tree_util.tree_unflatten(treedef, flat), None)

    closed, consts = jax.closure_convert(energy, y, *leaves)
    radius = minimizer.fd_radius

    @jax.custom_vjp
    def gradient(point, *rest):
        return jax.grad(closed)(point, *rest)

    def forward(point, *rest):
        return gradient(point, *rest), (point, rest)

    def backward(saved, v):
        point, rest = saved
        inputs = (point,) + tuple(rest)
        floating = tuple(i for i, a in enumerate(inputs)
                         if jnp.issubdtype(jnp.result_type(a), jnp.floating))
        eps = radius / jnp.maximum(jnp.linalg.norm(v.ravel()), 1e-30)
        first_order = jax.grad(closed, argnums=floating)
        plus = first_order(point + eps * v, *rest)
        minus = first_order(point - eps * v, *rest)
        by_input = {i: (p - m) / (2.0 * eps)
                    for i, p, m in zip(floating, plus, minus)}
        return tuple(by_input.get(i) for i in range(len(inputs)))

    gradient.defvjp(forward, backward)
    return gradient(y, *leaves, *consts)


def no_grad():
    """Inference: JAX records nothing outside a transformation."""
    return contextlib.nullcontext()
