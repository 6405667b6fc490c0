"""Tiled inference: a large image through a SPEN in overlapping tiles, exactly.

Whole-input inference keeps every intermediate of one energy gradient (for a
DeepPrior energy, two 32-channel activations and their SoftPlus derivatives
per pixel) alive at once, so its memory grows with the image: a 1920x1080
frame through the `dp_3` preset peaks at 4.3 GB of RSS called eagerly and at
1.8 GB inside a `tf.function`. `predict_tiled` runs the model on
overlapping tiles instead and keeps only the centre of each (0.84 GB for
that frame in 512-pixel tiles, `benchmarks/tiled_inference.py`).

Why it is exact. dE/dy at a pixel depends on y and the features only within
`energy.gradient_radius()` = r pixels of it (along every spatial axis). One
unrolled step (any of the per-pixel step rules) therefore moves information
by at most r pixels, and T steps by T r. A tile that extends
margin = T r (+ the receptive radii of the feature and init networks, if
any) pixels beyond the part it keeps computes that part exactly as the whole
input would, up to floating-point rounding: its y_T there only ever depended
on pixels inside the tile. Sides of a tile on the input's own border need no
margin, since the whole-input computation sees that border too.
`receptive_margin(model)` computes the margin; `predict_tiled` refuses models
for which no finite margin exists:
- a minimiser with `tolerance` early stopping decides when to stop from the
  RMS change over the whole input, a global quantity no tile can see;
- an energy whose `gradient_radius()` is None (e.g. an MLP over the
  flattened y) is not spatially local;
- a feature or init network that does not report its radius (a
  `receptive_radius()` method returning an int); pass `margin=` yourself
  then.

>>> from spen_keras import SPEN
>>> model = SPEN.from_preset("dp_3")
>>> receptive_margin(model)   # T = 3 steps x radius 12 (two 7x7 convs)
36
>>> x = np.random.default_rng(0).uniform(0.2, 0.8, (1, 200, 260, 1))
>>> y = predict_tiled(model, x.astype("float32"), tile_size=128)
>>> y.shape
(1, 200, 260, 1)
"""

import math
import weakref

import numpy as np

#: Default side, in pixels, of the largest tile the model sees at once,
#: margins included. Denoising a 1920x1080 frame with `dp_3` in such tiles
#: peaks at 0.84 GB of RSS for the whole process, of which about 0.6 GB is
#: TensorFlow itself (whole frame: 1.8 GB in a `tf.function`, 4.3 GB
#: eagerly), for about 1.1x the CPU time (benchmarks/tiled_inference.py).
#: The model's share is bounded by the tile, whatever the frame size.
DEFAULT_TILE_SIZE = 512


class TilingError(ValueError):
    """The model cannot be run in tiles that reproduce the whole-input
    result, or the tile size leaves no room inside the margins."""


def _network_radius(network, role):
    if network is None:
        return 0
    radius = getattr(network, "receptive_radius", None)
    if callable(radius):
        radius = radius()
    if radius is None:
        raise TilingError(
            f"Cannot compute the tiling margin: the {role} "
            f"{type(network).__name__} does not report how far its output at "
            "a pixel reaches into its input (give it a receptive_radius() "
            "method, or pass margin= explicitly).")
    return int(radius)


def _terms_without_radius(energy):
    """Names of the terms (inside sums) whose gradient radius is None."""
    terms = getattr(energy, "energies", None)
    if not terms:
        return [type(energy).__name__]
    names = [name for term in terms
             if getattr(term, "gradient_radius", lambda: None)() is None
             for name in _terms_without_radius(term)]
    return names or [type(energy).__name__]


def check_tileable(model):
    """Raises a `TilingError` if the model's result depends on the whole
    input in a way no tiling can reproduce (early stopping on a global
    criterion). Models without an unrolled minimiser pass."""
    minimizer = getattr(model, "minimizer", None)
    if minimizer is not None and getattr(minimizer, "tolerance", None) is not None:
        raise TilingError(
            f"Cannot tile {type(model).__name__}: its minimiser stops early "
            f"(tolerance={minimizer.tolerance}) on the RMS change over the "
            "whole input, which no tile sees; run it untiled, or without "
            "tolerance.")


def receptive_margin(model):
    """Pixels of context a tile needs on each side for an exact result.

    margin = T x energy.gradient_radius() + the feature network's receptive
    radius + the init network's (each 0 when absent). See the module
    docstring for why.

    Args:
        model: a SPEN (anything with `minimizer.num_steps`, `energy`, and
            optional `feature_network` / `init_network`).

    Returns:
        The margin, an int >= 0.

    Raises:
        TilingError: the model stops early on a tolerance, its energy has no
            gradient radius, or a feature/init network reports no radius.
    """
    check_tileable(model)
    minimizer = getattr(model, "minimizer", None)
    if minimizer is None:
        raise TilingError(
            f"Cannot compute a tiling margin for {type(model).__name__}: it "
            "has no unrolled minimiser; pass margin= explicitly.")
    energy = minimizer.energy
    radius = energy.gradient_radius() if hasattr(energy, "gradient_radius") \
        else None
    if radius is None:
        culprits = ", ".join(_terms_without_radius(energy))
        raise TilingError(
            f"Cannot tile {type(model).__name__}: its energy term {culprits} "
            "has no gradient radius (dE/dy is not spatially local), so no "
            "finite margin reproduces the whole-input result.")
    return (minimizer.num_steps * int(radius)
            + _network_radius(getattr(model, "feature_network", None),
                              "feature network")
            + _network_radius(getattr(model, "init_network", None),
                              "init network"))


def tile_windows(length, tile_size, margin):
    """Splits one axis of `length` pixels into overlapping windows.

    The kept parts ("cores") partition [0, length) into
    n = ceil(length / (tile_size - 2 margin)) nearly equal pieces; each
    window is its core widened by `margin` on both sides, clipped to the
    axis, so no window is longer than `tile_size`. An axis of at most
    `tile_size` pixels is one window.

    Returns:
        A list of (start, stop, core_start, core_stop), window then core,
        in input coordinates.

    Raises:
        TilingError: `tile_size` leaves no core inside two margins.
    """
    length, tile_size, margin = int(length), int(tile_size), int(margin)
    if length <= tile_size:
        return [(0, length, 0, length)]
    core = tile_size - 2 * margin
    if core < 1:
        raise TilingError(
            f"tile_size {tile_size} leaves nothing inside two margins of "
            f"{margin} pixels; use a tile_size of at least {2 * margin + 1} "
            f"(a few times {2 * margin} wastes less work).")
    count = math.ceil(length / core)
    bounds = [round(i * length / count) for i in range(count + 1)]
    return [(max(0, a - margin), min(length, b + margin), a, b)
            for a, b in zip(bounds[:-1], bounds[1:])]


# One traced function per (model, iterates?, channels, dtype), kept while
# the model lives: a new tf.function per call retraced on every frame a user
# denoised (about a second each, and TensorFlow's retracing warning after
# five).
_COMPILED = weakref.WeakKeyDictionary()


def compiled_forward(model, with_iterates=False):
    """numpy (batch, H, W, C) -> numpy `model(x)` (or with `with_iterates`
    its iterates, (T, batch, H, W, C)), compiled once for every shape.

    On TensorFlow one `tf.function` per channel count and dtype whose batch
    and spatial axes are free (no retracing per frame or tile size), cached
    while the model lives; on JAX and PyTorch Keras' own
    `predict_on_batch` (JAX compiles once per distinct shape) or the
    iterates eagerly. A callable that is not a Keras model runs as is.
    """
    import keras

    if not isinstance(model, keras.Model):
        return lambda x: np.asarray(model(x))
    if keras.backend.backend() != "tensorflow":
        if with_iterates:
            return lambda x: keras.ops.convert_to_numpy(
                model.predict_iterates(x))
        return lambda x: np.asarray(model.predict_on_batch(x))
    import tensorflow as tf

    functions = _COMPILED.setdefault(model, {})
    # A weak reference: a function holding the model would keep its own
    # dictionary key alive, and every model used would leak.
    ref = weakref.ref(model)

    def forward(x):
        x = np.asarray(x)
        key = (bool(with_iterates), x.shape[-1], x.dtype.name)
        if key not in functions:
            spec = tf.TensorSpec((None, None, None, x.shape[-1]), x.dtype)
            if with_iterates:
                def call(x):
                    return ref().predict_iterates(x)
            else:
                def call(x):
                    return ref()(x, training=False)
            functions[key] = tf.function(call, input_signature=[spec])
        return functions[key](tf.constant(x)).numpy()

    return forward


def predict_tiled(model, x, tile_size=DEFAULT_TILE_SIZE, margin=None):
    """Runs `model` on x in overlapping tiles; equals `model(x)` up to
    floating-point rounding.

    Each tile is at most `tile_size` x `tile_size` pixels, margins included,
    so the peak memory is that of one such tile whatever the size of x. The
    tiles run one after another, each on the whole batch, through one
    compiled function (on TensorFlow a `tf.function` whose spatial axes are
    free: no retracing per tile shape). An x no larger than one tile runs
    in one piece.

    Args:
        model: a SPEN (or, with `margin` given, any Keras model or callable
            mapping (batch, H, W, C) to (batch, H, W, C') pixel for pixel).
        x: (batch, H, W, C) array.
        tile_size: the largest tile side in pixels, margins included (an
            int, or an (H, W) pair). Must exceed 2 x margin; every tile's
            kept centre is tile_size - 2 x margin pixels at most.
        margin: pixels of context on each side of a tile's kept centre;
            None computes the exact one, `receptive_margin(model)`.

    Returns:
        (batch, H, W, C') numpy array.

    Raises:
        TilingError (a ValueError): the model cannot be tiled exactly (see
            `receptive_margin`), or the tile size is too small for the
            margin.
    """
    check_tileable(model)
    if margin is None:
        margin = receptive_margin(model)
    margin = int(margin)
    if margin < 0:
        raise TilingError(f"margin must be >= 0; got {margin}.")
    x = np.asarray(x)
    if x.ndim != 4:
        raise TilingError(f"predict_tiled expects x of shape (batch, H, W, C);"
                          f" got shape {x.shape}.")
    if np.ndim(tile_size) == 0:
        tile_size = (tile_size, tile_size)
    tile_h, tile_w = (int(t) for t in tile_size)
    rows = tile_windows(x.shape[1], tile_h, margin)
    cols = tile_windows(x.shape[2], tile_w, margin)
    forward = compiled_forward(model)
    output = None
    for top, bottom, core_top, core_bottom in rows:
        for left, right, core_left, core_right in cols:
            tile = np.ascontiguousarray(x[:, top:bottom, left:right])
            result = forward(tile)
            if result.shape[:3] != tile.shape[:3]:
                raise TilingError(
                    "predict_tiled needs a model that keeps the batch and "
                    f"spatial shape; a tile of shape {tile.shape} gave "
                    f"{result.shape}.")
            if output is None:
                output = np.empty(x.shape[:3] + result.shape[3:],
                                  result.dtype)
            output[:, core_top:core_bottom, core_left:core_right] = result[
                :, core_top - top:core_bottom - top,
                core_left - left:core_right - left]
    return output
