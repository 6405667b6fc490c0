"""Smooth activations for energies that are differentiated twice.

The unrolled minimiser back-propagates through dE/dy, so every energy needs a
useful second derivative. ReLU and |.| have none; the paper (Sec. 5, Eq. 13-14)
replaces them by a SoftPlus with a high temperature and SoftAbs built from it.
"""

import keras


def softplus_with_temperature(x, temperature):
    """SoftPlus sharpened by `temperature`: log(1 + exp(t x)) / t.

    As the temperature grows it approaches ReLU, while its second derivative
    stays non-zero near the kink.

    Args:
        x: a float tensor.
        temperature: a positive Python float.

    Returns:
        A tensor like `x`.
    """
    return keras.ops.softplus(temperature * x) / temperature


def soft_abs(x, temperature):
    """SoftAbs(x) = 0.5 SoftPlus_t(x) + 0.5 SoftPlus_t(-x) (Eq. 14).

    A smooth, convex surrogate of |x| / 2 (the paper's definition, so the
    factor 1/2 is kept): it tends to |x| / 2 for |x| >> 1/t and equals
    log(2) / t at x = 0.

    Args:
        x: a float tensor.
        temperature: a positive Python float.

    Returns:
        A tensor like `x`.
    """
    return 0.5 * (
        softplus_with_temperature(x, temperature)
        + softplus_with_temperature(-x, temperature)
    )
