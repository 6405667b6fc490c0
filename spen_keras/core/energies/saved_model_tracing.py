"""Tracing for a SavedModel: custom gradients one level deep.

A SavedModel keeps the backward function of every custom gradient in the
traced graph (`tf.saved_model.SaveOptions(experimental_custom_gradients=True)`,
the default), but it traces each backward once, at save time, and keeps
nothing of the custom gradients *inside* it: every `tf.custom_gradient` call
mints a new gradient op type, and those minted while a backward is traced for
saving are not saved. spen-keras nests them: `single_channel_conv`'s backward
is itself a custom gradient (DeepPrior's fast second derivatives), and a
checkpointed step's or a finite-difference gradient's backward recomputes the
energy with its custom gradients. A loaded model then logged absl's
"Importing a function ... with ops with unsaved custom gradients" for every
step, and a second derivative of it failed.

`SPEN.export` traces inside `tracing_for_saved_model()`. There those
backwards build what they differentiate from plain ops (the same values:
the same forward ops, only without a custom gradient of their own), the
minimiser neither checkpoints its steps nor replaces second derivatives by
finite differences (both only change the backward pass; a SavedModel serves
the forward one), and everything traced is saved. Training never traces
inside it: there the custom second derivatives are the fast ones.
"""

import contextlib
import threading

_STATE = threading.local()


@contextlib.contextmanager
def tracing_for_saved_model():
    """Within it, traced functions use custom gradients one level deep.

    >>> with tracing_for_saved_model():
    ...     print(is_tracing_for_saved_model())
    True
    >>> is_tracing_for_saved_model()
    False
    """
    previous = is_tracing_for_saved_model()
    _STATE.active = True
    try:
        yield
    finally:
        _STATE.active = previous


def is_tracing_for_saved_model():
    """Whether the current thread traces inside `tracing_for_saved_model`."""
    return getattr(_STATE, "active", False)
