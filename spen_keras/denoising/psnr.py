"""PSNR over valid depth pixels, as in the depth-denoising protocol.

Protocol (README.md, "Protocols"): depth is normalised to millimetres / 5000,
pixels without a reading are 0 in the target and excluded, and
PSNR = 20 log10(max_value / RMSE) is computed per image over its valid pixels
(`y_true > 0`), then averaged over images (not over pixels).

Example:

>>> y_true = np.full((2, 4, 4, 1), 0.5, np.float32)
>>> y_pred = y_true + 0.01                       # RMSE 0.01 -> 40 dB
>>> np.round(np.asarray(psnr(y_true, y_pred)), 3)
array([40., 40.], dtype=float32)
"""

import keras
from keras import ops

from spen_keras.denoising.masked_loss import masked_squared_error_sums


def psnr(y_true, y_pred, max_value=1.0):
    """Peak signal-to-noise ratio per image over valid pixels (`y_true > 0`).

    Args:
        y_true: target tensor of shape `(batch, ...)`, e.g. `(batch, H, W, 1)`;
            values <= 0 mark invalid pixels.
        y_pred: prediction tensor of the same shape.
        max_value: peak signal value (1.0 for normalised depth).

    Returns:
        A tensor of shape `(batch,)`: `20 log10(max_value / RMSE)` in dB, with
        RMSE over the image's valid pixels. It is `inf` for an exact
        prediction and NaN for an image without any valid pixel.
    """
    total, count = masked_squared_error_sums(y_true, y_pred)
    mse = total / ops.maximum(count, 1.0)
    value = 20.0 * ops.log10(
        ops.cast(max_value, mse.dtype)
    ) - 10.0 * ops.log10(mse)
    return ops.where(count > 0, value, ops.full_like(value, float("nan")))


@keras.saving.register_keras_serializable(package="spen_keras")
class PSNR(keras.metrics.Metric):
    """Mean per-image PSNR over valid pixels (`y_true > 0`).

    Accumulates the per-image `psnr` of every image seen (a sum and a count),
    so the result is the average over images across batches, as the
    benchmark protocol asks. Images without any valid pixel are skipped.

    Args:
        max_value: peak signal value (1.0 for normalised depth).
        name: name of the metric.
        dtype: dtype of the accumulators.

    Example:

    >>> metric = PSNR()
    >>> y_true = np.full((1, 4, 4, 1), 0.5, np.float32)
    >>> metric.update_state(y_true, y_true + 0.01)   # 40 dB
    >>> metric.update_state(y_true, y_true + 0.1)    # 20 dB
    >>> round(float(metric.result()), 3)
    30.0
    """

    def __init__(self, max_value=1.0, name="psnr", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.max_value = float(max_value)
        # === Accumulators ===
        self.total = self.add_variable(
            shape=(), initializer="zeros", dtype=self.dtype, name="total"
        )
        self.count = self.add_variable(
            shape=(), initializer="zeros", dtype=self.dtype, name="count"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Adds the per-image PSNR of a batch.

        Args:
            y_true: target tensor of shape `(batch, ...)`.
            y_pred: prediction tensor of the same shape.
            sample_weight: optional per-image weights, shape `(batch,)`.
        """
        y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        y_true = ops.convert_to_tensor(y_true, dtype=self.dtype)
        values = psnr(y_true, y_pred, self.max_value)
        has_valid = ops.logical_not(ops.isnan(values))
        weights = ops.cast(has_valid, self.dtype)
        if sample_weight is not None:
            sample_weight = ops.convert_to_tensor(sample_weight, self.dtype)
            weights = weights * ops.reshape(sample_weight, (-1,))
        weighted = ops.where(
            weights > 0, values * weights, ops.zeros_like(values)
        )
        self.total.assign_add(ops.sum(weighted))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def get_config(self):
        return {"max_value": self.max_value, **super().get_config()}
