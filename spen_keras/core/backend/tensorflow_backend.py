"""The TensorFlow backend's share of the core (see `spen_keras.core.backend`):
nested `GradientTape`s, the custom gradients of finite-difference
Hessian-vector products and of checkpointed steps, and DeepPrior's fast
single-channel convolution. The reference implementation."""

import contextlib

import tensorflow as tf

from spen_keras.core.energies.saved_model_tracing import is_tracing_for_saved_model


def can_read(*values):
    """Whether these values can be read now: outside a traced function."""
    return tf.executing_eagerly()


def energy_gradient(total_energy, y):
    """dE/dy by an inner tape, recorded by any tape differentiating the
    caller (second-order terms exact)."""
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(y)
        energy = total_energy(y)
    return tape.gradient(energy, y)


def _floating(tensors):
    return [t for t in tensors if t.dtype.is_floating]


def _pack_features(structure, flat):
    if structure is None:
        return None
    return tf.nest.pack_sequence_as(structure, list(flat))


def _gradients_with_nones(tape, target, sources, output_gradients=None):
    """tape.gradient over mixed sources: zeros for unconnected floating ones,
    None for integer ones (they have no gradient)."""
    floating = [s for s in sources if s.dtype.is_floating]
    grads = iter(
        tape.gradient(
            target, floating, output_gradients=output_gradients,
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
    )
    return [next(grads) if s.dtype.is_floating else None for s in sources]



def finite_difference_gradient(minimizer, y, features):
    """dE/dy whose backward pass takes central differences of first-order
    gradients (Domke 2012; `UnrolledMinimizer(hvp="finite_difference")`)."""
    flat_features = tf.nest.flatten(features) if features is not None else []

    @tf.custom_gradient
    def energy_gradient(y, *flat):
        packed = _pack_features(features, flat)
        grad = minimizer.tape_gradient(y, packed, None)

        def backward(v, variables=None):
            variables = list(variables or [])
            norm = tf.norm(tf.reshape(v, [-1]))
            eps = minimizer.fd_radius / tf.maximum(norm, tf.constant(1e-30, v.dtype))
            probe = eps * v

            def first_order(point):
                sources = [point] + list(flat) + variables
                with tf.GradientTape(watch_accessed_variables=False) as tape:
                    tape.watch(_floating(sources))
                    energy = minimizer.total_energy(point, packed, None)
                return _gradients_with_nones(tape, energy, sources)

            plus, minus = first_order(y + probe), first_order(y - probe)
            grads = [
                None if p is None else (p - m) / (2.0 * eps)
                for p, m in zip(plus, minus)
            ]
            n_inputs = 1 + len(flat)
            if variables:
                return grads[:n_inputs], grads[n_inputs:]
            return grads[:n_inputs]

        return grad, backward

    return energy_gradient(y, *flat_features)



def checkpointed_step(minimizer, state, features, t):
    """One step of `minimizer` that keeps only its inputs and recomputes
    the step, inner gradient included, under a fresh tape in the backward
    pass (`UnrolledMinimizer(checkpoint=True)`)."""
    flat_features = tf.nest.flatten(features) if features is not None else []
    n_state = len(state)

    @tf.custom_gradient
    def step(*args):
        saved_state, saved_features = args[:n_state], args[n_state:]
        new_state = minimizer.step(
            saved_state, _pack_features(features, saved_features), t, None
        )

        def backward(*upstream, variables=None):
            variables = list(variables or [])
            upstream = [
                tf.zeros_like(s) if u is None else u
                for u, s in zip(upstream, new_state)
            ]
            # Recompute only once the gradient from later steps exists;
            # otherwise graph mode runs every recomputation up front.
            with tf.control_dependencies(upstream):
                inputs = [tf.identity(a) for a in args]
            sources = inputs + variables
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(_floating(sources))
                recomputed = minimizer.step(
                    tuple(inputs[:n_state]),
                    _pack_features(features, inputs[n_state:]), t, None,
                )
            grads = _gradients_with_nones(
                tape, list(recomputed), sources, output_gradients=upstream
            )
            if variables:
                return grads[:len(args)], grads[len(args):]
            return grads[:len(args)]

        return new_state, backward

    return tuple(step(*state, *flat_features))



def _transposed_conv(g, kernel):
    """sum_c full-correlation(g_c, flipped kernel_c), as a depthwise conv."""
    size_h, size_w = kernel.shape[0], kernel.shape[1]
    padded = tf.pad(g, [[0, 0], [size_h - 1, size_h - 1],
                        [size_w - 1, size_w - 1], [0, 0]])
    flipped = tf.reshape(tf.reverse(kernel, [0, 1]), [size_h, size_w, -1, 1])
    return tf.reduce_sum(tf.nn.depthwise_conv2d(
        padded, flipped, [1, 1, 1, 1], "VALID"), axis=-1, keepdims=True)


@tf.custom_gradient
def _transposed_single_channel_conv(g, kernel):
    """The input gradient of a 'valid' conv of a single-channel input:
    sum_c full-correlation(g_c, flipped kernel_c), as a depthwise conv.

    Its own gradients (what the unrolled minimiser's second derivatives
    need) are the forward conv (in g) and the conv's kernel gradient (in
    the kernel), both fast kernels; TensorFlow's gradients of the depthwise
    conv (its kernel gradient ran at a third of the speed) are not used.
    """
    dx = _transposed_conv(g, kernel)

    def grad(v):
        dg = tf.nn.conv2d(v, kernel, 1, "VALID")
        dkernel = tf.raw_ops.Conv2DBackpropFilter(
            input=v, filter_sizes=tf.shape(kernel), out_backprop=g,
            strides=[1, 1, 1, 1], padding="VALID")
        return dg, dkernel

    return dx, grad


@tf.custom_gradient
def single_channel_conv(x, kernel):
    """'valid' conv2d of a single-channel x, whose input gradient runs as a
    depthwise conv of the output gradient summed over channels.

    TensorFlow's input gradient of a conv with one input channel
    (`Conv2DBackpropInput` to 1 channel) ran at about 20 GFLOP/s on oneDNN
    against 350 for the 32 -> 32 convs: the largest single loss in a DP
    training step and in whole-frame inference (`benchmarks/roofline.py`
    times each op alone). The depthwise form of the same sum runs at about
    100 GFLOP/s, and its own gradients (second derivatives, for the unrolled
    minimiser's Hessian-vector products) are a forward conv and a kernel
    gradient (`_transposed_single_channel_conv`).
    """
    out = tf.nn.conv2d(x, kernel, 1, "VALID")

    def grad(g):
        dkernel = tf.raw_ops.Conv2DBackpropFilter(
            input=x, filter_sizes=tf.shape(kernel), out_backprop=g,
            strides=[1, 1, 1, 1], padding="VALID")
        # Exported, plain ops: a custom gradient inside this backward would
        # not be saved (`saved_model_tracing`).
        transposed = (_transposed_conv if is_tracing_for_saved_model()
                      else _transposed_single_channel_conv)
        return transposed(g, kernel), dkernel

    return out, grad


def no_grad():
    """Inference: TensorFlow records gradients only inside a tape."""
    return contextlib.nullcontext()
