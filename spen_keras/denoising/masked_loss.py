"""Masked losses for targets with missing values (depth denoising).

Depth targets mark pixels without a reading by the value 0 (every valid
normalised depth is > 0; see `spen_keras.denoising.depth_normalization`), so
the mask is read off the target itself: `y_true > 0`. Missing pixels then
contribute nothing to the loss and no gradient to the prediction.

Example:

>>> y_true = np.array([[[[0.0], [0.5]]]], np.float32)   # (1, 1, 2, 1)
>>> y_pred = np.array([[[[9.0], [0.7]]]], np.float32)
>>> loss = masked_mean_squared_error(y_true, y_pred)  # only 0.5 vs 0.7
>>> round(float(loss[0]), 6)
0.04
"""

import keras
from keras import ops


def masked_squared_error_sums(y_true, y_pred):
    """Sums squared errors and counts valid pixels (`y_true > 0`) per example.

    Shared by `masked_mean_squared_error` and `spen_keras.denoising.psnr.psnr`.

    Args:
        y_true: target tensor of shape `(batch, ...)`; values <= 0 are invalid.
        y_pred: prediction tensor of the same shape.

    Returns:
        `(total, count)`, two tensors of shape `(batch,)` in `y_pred`'s dtype:
        the sum of `(y_pred - y_true)**2` over valid pixels, and their number.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    batch = ops.shape(y_true)[0]
    valid = ops.reshape(ops.greater(y_true, 0), (batch, -1))
    squared = ops.reshape(ops.square(y_pred - y_true), (batch, -1))
    # `where`, not a product with the mask, so that a non-finite prediction on
    # an invalid pixel cannot leak into the sum as NaN (inf * 0).
    squared = ops.where(valid, squared, ops.zeros_like(squared))
    total = ops.sum(squared, axis=-1)
    count = ops.sum(ops.cast(valid, y_pred.dtype), axis=-1)
    return total, count


@keras.saving.register_keras_serializable(package="spen_keras")
def masked_mean_squared_error(y_true, y_pred):
    """Mean squared error per example over the valid pixels (`y_true > 0`).

    Args:
        y_true: target tensor of shape `(batch, ...)`, e.g. `(batch, H, W, 1)`;
            values <= 0 mark invalid pixels.
        y_pred: prediction tensor of the same shape.

    Returns:
        A tensor of shape `(batch,)`: for each example, the mean of
        `(y_pred - y_true)**2` over its valid pixels, or 0 for an example that
        has no valid pixel.
    """
    total, count = masked_squared_error_sums(y_true, y_pred)
    return ops.divide_no_nan(total, count)


@keras.saving.register_keras_serializable(package="spen_keras")
class MaskedMeanSquaredError(keras.losses.Loss):
    """Mean squared error over valid target pixels (`y_true > 0`).

    Each example's loss is the mean over its valid pixels
    (`masked_mean_squared_error`); the batch is then reduced as usual
    (by default, the mean over examples).

    Args:
        name: name of the loss.
        reduction: Keras reduction over the batch.
        dtype: dtype of the loss computation.

    Example:

    >>> loss = MaskedMeanSquaredError()
    >>> y_true = np.array([[[[0.0], [0.5]]]], np.float32)
    >>> y_pred = np.array([[[[9.0], [0.7]]]], np.float32)
    >>> round(float(loss(y_true, y_pred)), 6)
    0.04
    """

    def __init__(
        self,
        name="masked_mean_squared_error",
        reduction="sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return masked_mean_squared_error(y_true, y_pred)

    def get_config(self):
        config = super().get_config()
        config["dtype"] = self.dtype
        return config
