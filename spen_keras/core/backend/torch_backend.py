"""The PyTorch backend's share of the core (see `spen_keras.core.backend`)."""

import keras
import torch
import torch.utils.checkpoint


def executing_eagerly():
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
