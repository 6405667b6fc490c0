"""The PyTorch backend's share of the core (see `spen_keras.core.backend`)."""

import keras
import torch
import torch.utils.checkpoint


def can_read(*values):
    """PyTorch runs eagerly: values can always be read."""
    return True


def energy_gradient(total_energy, y):
    """dE/dy by `torch.autograd.grad`, with `create_graph` whenever the
    caller records gradients (training), so that `loss.backward()` reaches
    the second-order terms; evaluated with gradients enabled even under
    `torch.no_grad()` (Keras' predict), and then detached."""
    outer = torch.is_grad_enabled()
    with torch.enable_grad():
        if not y.requires_grad:
            y = y.detach().requires_grad_(True)
        energy = total_energy(y)
        (grad,) = torch.autograd.grad(energy, y, create_graph=outer)
    return grad if outer else grad.detach()


def checkpointed(step, *args):
    """`step(*args)` with its internals recomputed in the backward pass."""
    if not torch.is_grad_enabled():
        return step(*args)
    return torch.utils.checkpoint.checkpoint(step, *args,
                                             use_reentrant=False)


def single_channel_conv(x, kernel):
    return keras.ops.conv(x, kernel, strides=1, padding="valid")


def finite_difference_gradient(minimizer, y, features):
    """dE/dy whose backward pass takes central differences of first-order
    gradients (Domke 2012; `UnrolledMinimizer(hvp="finite_difference")`):
    a `torch.autograd.Function` whose inputs are y, the features' tensors
    and the minimiser's trainable weights, so that the backward pass hands
    each its share."""
    flat = keras.tree.flatten(features) if features is not None else []
    weights = [v.value for v in minimizer.trainable_variables]
    return _FiniteDifference.apply(minimizer, features, len(flat), y,
                                   *flat, *weights)


def _first_order(minimizer, structure, point, flat, sources):
    """dE/d(point and `sources`) at `point` (None where unconnected)."""
    with torch.enable_grad():
        point = point.detach().requires_grad_(True)
        features = (None if structure is None
                    else keras.tree.pack_sequence_as(structure, flat))
        energy = minimizer.total_energy(point, features, None)
        wanted = [point] + [s for s in sources if s.requires_grad]
        grads = iter(torch.autograd.grad(energy, wanted, allow_unused=True))
        first = next(grads)
        rest = [next(grads) if s.requires_grad else None for s in sources]
    return [first] + rest


class _FiniteDifference(torch.autograd.Function):

    @staticmethod
    def forward(ctx, minimizer, structure, count, y, *tensors):
        # The weights are inputs only so that the backward pass can hand
        # them their gradients; the energy reads the Keras variables.
        ctx.minimizer, ctx.structure = minimizer, structure
        flat = list(tensors[:count])
        ctx.save_for_backward(y, *flat)
        return _first_order(minimizer, structure, y, flat, [])[0].detach()

    @staticmethod
    def backward(ctx, v):
        y, *flat = ctx.saved_tensors
        # Differentiate with respect to the floating features and weights.
        features = [t.detach().requires_grad_(True)
                    if t.is_floating_point() else t for t in flat]
        eps = ctx.minimizer.fd_radius / torch.clamp(torch.linalg.norm(v),
                                                    min=1e-30)
        # The weights as the energy reads them: the Keras variables' own
        # tensors.
        weights = [v.value for v in ctx.minimizer.trainable_variables]
        probes = []
        for sign in (1.0, -1.0):
            probes.append(_first_order(
                ctx.minimizer, ctx.structure, y + sign * eps * v, features,
                list(features) + list(weights)))
        grads = [None if p is None else (p - m) / (2.0 * eps)
                 for p, m in zip(*probes)]
        return (None, None, None, *grads)


def no_grad():
    """Inference: no autograd graph (an eager call otherwise records one,
    second-order terms included, and keeps it alive with the output)."""
    return torch.no_grad()
