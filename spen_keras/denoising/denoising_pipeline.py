"""Training and evaluation data for depth denoising (Belanger et al., Table 1).

Both entry points turn frames from `load_frames` into `(x, y)` pairs of
shape `(..., H, W, 1)`, float32, in normalised depth (millimetres / 5000):

* `y` is the clean frame, exactly 0 on pixels without a reading. The masked
  loss and PSNR (`spen_keras.denoising.masked_loss`, `spen_keras.denoising.psnr`) skip `y == 0`.
* `x` is the frame with seeded `KinectNoiseModel` noise and missing pixels,
  whose holes (the raw frame's and the synthetic ones) are filled with the
  nearest valid noisy pixel (`fill_invalid`), so a model never sees a hole.

Noise seeds come from `noise_seed(seed, sequence, frame, ...)`, so a frame's
noise depends only on the seed and the frame's identity, not on which other
frames are loaded.

`make_training_dataset(..., augmentation=Augmentation())` instead draws every
crop's depth scale and offset, rotation, flips and noise level at random
(`spen_keras.denoising.augmentation`), in numpy, from a generator seeded by
`(seed, element index)`; the stream is still a deterministic function of
its arguments.

Example:

>>> frames = load_frames("train")
>>> dataset = make_training_dataset(frames, batch_size=2)
>>> x, y = next(iter(dataset))
>>> x.shape, y.shape
(TensorShape([2, 96, 128, 1]), TensorShape([2, 96, 128, 1]))
>>> x_eval, y_eval = make_evaluation_arrays(load_frames("test"))
>>> x_eval.shape
(6, 480, 640, 1)
"""

import numpy as np

from spen_keras.core.backend import require_tensorflow
from spen_keras.core.backend import tensorflow_installed
from spen_keras.denoising.augmentation import Augmentation
from spen_keras.denoising.augmentation import augment_crop
from spen_keras.denoising.depth_normalization import fill_invalid
from spen_keras.denoising.kinect_noise import KinectNoiseModel
from spen_keras.presets.training import IndexedStream
from spen_keras.presets.training import pass_order


def noise_seed(seed, sequence, frame, realization=None):
    """Derives the numpy noise seed of one frame deterministically.

    Args:
        seed: non-negative int, the seed of the whole run.
        sequence: the frame's sequence number.
        frame: the frame's number within its sequence.
        realization: optional index of one of several noise draws per frame.

    Returns:
        A non-negative int from `np.random.SeedSequence`.
    """
    entropy = [seed, sequence, frame]
    if realization is not None:
        entropy.append(realization)
    state = np.random.SeedSequence(entropy).generate_state(1, np.uint64)
    return int(state[0])


def make_noisy_input(depth, mask, noise, seed):
    """Adds noise to one clean frame and fills every hole.

    Args:
        depth: clean normalised depth, `(H, W)`, 0 on invalid pixels.
        mask: boolean `(H, W)`, True on valid pixels.
        noise: a `KinectNoiseModel`.
        seed: int seed for `noise.apply_numpy`.

    Returns:
        `np.float32` `(H, W)`: the noisy frame with every pixel that is invalid
        or was dropped by the noise set to its nearest valid noisy pixel.
    """
    noisy, noisy_mask = noise.apply_numpy(depth, mask, seed)
    return fill_invalid(noisy, noisy_mask)


def frame_input(frame, noise, seed):
    """The model input of one frame: its real noisy reading, filled, when
    the frame has one (`noisy` and `noisy_mask`, a user's noisy/clean pair,
    `spen_keras.denoising.user_data`), else `make_noisy_input` of its
    clean depth with `noise` at `seed`."""
    if "noisy" in frame:
        return fill_invalid(frame["noisy"], frame["noisy_mask"])
    return make_noisy_input(frame["depth"], frame["mask"], noise, seed)


def _frame_shape(frames):
    if not frames:
        raise ValueError("No frames given.")
    shapes = {frame["depth"].shape for frame in frames}
    if len(shapes) != 1:
        raise ValueError(f"All frames must have one shape, got {shapes}.")
    return shapes.pop()


def make_evaluation_arrays(frames, noise=KinectNoiseModel(), seed=1234):
    """Builds whole-frame noisy inputs and clean targets for evaluation.

    Args:
        frames: list of frame dicts from `load_frames` (keys `depth`, `mask`,
            `sequence`, `frame`), all of one shape `(H, W)`; a frame with a
            real noisy reading (`frame_input`) keeps it.
        noise: the `KinectNoiseModel` to apply.
        seed: run seed; frame `(sequence, frame)` is noised with
            `noise_seed(seed, sequence, frame)`.

    Returns:
        `(x, y)`, `np.float32` arrays of shape `(n, H, W, 1)`: `x` noisy and
        filled, `y` clean with 0 at invalid pixels.
    """
    _frame_shape(frames)
    x = [
        frame_input(f, noise, noise_seed(seed, f["sequence"], f["frame"]))
        for f in frames
    ]
    y = [np.where(f["mask"], f["depth"], 0.0) for f in frames]
    return (
        np.stack(x)[..., None].astype(np.float32),
        np.stack(y)[..., None].astype(np.float32),
    )


def _pass_frame_index(tf, index, seed, num_frames, per_pass):
    """Frame of stream element `index`: passes of `per_pass` elements, each
    visiting every frame `per_pass / num_frames` times in an order seeded by
    `(seed, pass)` (stateless ops of `tf`, traced by tf.data)."""
    order_key = tf.constant([seed, 1], tf.int64)
    fold_in = tf.random.experimental.stateless_fold_in
    pass_seed = fold_in(order_key, index // per_pass)
    order = tf.argsort(tf.random.stateless_uniform([per_pass], pass_seed))
    return order[index % per_pass] % num_frames


def _numpy_pass_frame_index(index, seed, num_frames, per_pass):
    """`_pass_frame_index` in numpy (the stream without TensorFlow): the same
    passes, each pass's order drawn from `SeedSequence([seed, 1, pass])`."""
    order = pass_order((seed, 1, index // per_pass), per_pass)
    return int(order[index % per_pass]) % num_frames


# Last entropy word of the per-element generators of augmented streams.
_AUGMENTATION_STREAM = 7
# Regions drawn per augmented crop until one holds a valid pixel.
_REGION_TRIES = 10


def _augmented_pair(frames, crop_size, noise, seed, augmentation):
    """Returns `pair(index, frame_index) -> (x, y)` for augmented streams,
    in numpy (inside `tf.numpy_function` on the tf.data stream), every draw
    from `np.random.default_rng(SeedSequence([seed, index, 7]))`."""
    depths = np.stack([np.asarray(f["depth"], np.float32) for f in frames])
    masks = np.stack([np.asarray(f["mask"], bool) for f in frames])
    crop_height, crop_width = crop_size
    side = max(crop_height, crop_width)
    height, width = depths.shape[1:]

    def numpy_pair(index, frame_index):
        rng = np.random.default_rng(
            np.random.SeedSequence([seed, int(index), _AUGMENTATION_STREAM]))
        for _ in range(_REGION_TRIES):
            top = int(rng.integers(height - side + 1))
            left = int(rng.integers(width - side + 1))
            window = (int(frame_index), slice(top, top + side),
                      slice(left, left + side))
            if masks[window].any():
                break
        x, y = augment_crop(depths[window], masks[window], rng, noise,
                            augmentation, crop_size)
        return x[..., None], y[..., None]

    return numpy_pair


def make_training_dataset(
    frames,
    crop_size=(96, 128),
    batch_size=8,
    noise=KinectNoiseModel(),
    seed=0,
    flips=True,
    crops_per_frame=16,
    noise_realizations=4,
    shard=None,
    augmentation=None,
):
    """Builds an endless, deterministic stream of random noisy/clean crops.

    Each frame is noised `noise_realizations` times up front (numpy, seeds
    `noise_seed(seed, sequence, frame, r)`) and each noisy frame is filled
    before cropping, so no crop has holes. The stream is made of passes:
    each pass visits every frame `crops_per_frame` times in a seeded random
    order, and each visit takes one random noise realisation, a random crop
    and, with `flips`, random left-right and up-down flips. All randomness is
    stateless TensorFlow ops keyed on `(seed, element index)`, so the stream
    is identical for the same arguments, whatever the global TF seed.
    Without TensorFlow (spen-keras on JAX or PyTorch only) the same stream
    is made in numpy, `IndexedStream` (`spen_keras.presets.training`), its draws from `np.random` keyed
    the same way (same distribution, other draws).

    With an `augmentation`, nothing is precomputed: element `index` visits
    the frame the pass order above gives it, and everything else is drawn in
    numpy (`tf.numpy_function`) from `np.random.default_rng(
    np.random.SeedSequence([seed, index, 7]))`: a random square region of
    side max(crop_size) of the clean frame (redrawn, up to 10 times, while
    it has no valid pixel), then `augment_crop` (rotation, flips, depth
    scale and offset, noise at a random level, hole filling, centre crop;
    see `spen_keras.denoising.augmentation`). The stream is still a
    deterministic function of the arguments, so `.skip(n)` resumes it
    exactly.

    Args:
        frames: list of frame dicts from `load_frames`, all of one shape;
            a frame with a real noisy reading (`frame_input`) is not
            noised: each of its realisations is that reading, filled.
        crop_size: `(height, width)` of the crops.
        batch_size: crops per batch.
        noise: the `KinectNoiseModel` to apply.
        seed: non-negative int seed of the stream.
        flips: whether to flip crops at random. Ignored with an
            `augmentation`, which has its own `flips`.
        crops_per_frame: visits per frame in each pass over the frames.
        noise_realizations: noisy versions precomputed per frame. Ignored
            with an `augmentation`, which noises every crop afresh.
        shard: optional `(first_row, rows)`: build only these rows of every
            batch of `batch_size` (batches of `rows` crops, the very crops
            the unsharded stream has there), so that each worker of a
            distributed run makes only its own examples.
        augmentation: None (the stream above) or an `Augmentation`; then the
            frames must be at least max(crop_size) on both sides.

    Returns:
        A `tf.data.Dataset` (a `IndexedStream` (`spen_keras.presets.training`) without TensorFlow)
        repeating forever, of `(x, y)` float32 batches of shape
        `(batch_size, crop_height, crop_width, 1)`: `x` noisy and filled,
        `y` clean with 0 at invalid pixels; `.skip(n)` drops n batches.
    """
    height, width = _frame_shape(frames)
    crop_height, crop_width = crop_size
    if not (0 < crop_height <= height and 0 < crop_width <= width):
        raise ValueError(
            f"crop_size {crop_size} does not fit frames of shape "
            f"{(height, width)}."
        )
    if crops_per_frame < 1 or noise_realizations < 1 or batch_size < 1:
        raise ValueError(
            "crops_per_frame, noise_realizations and batch_size must be >= 1."
        )
    first_row, rows = (0, batch_size) if shard is None else map(int, shard)
    if not (0 <= first_row and rows >= 1 and first_row + rows <= batch_size):
        raise ValueError(
            f"shard {shard} is not a (first_row, rows) range inside a batch "
            f"of {batch_size}."
        )
    num_frames = len(frames)
    per_pass = num_frames * crops_per_frame
    if augmentation is not None:
        if any("noisy" in f for f in frames):
            raise ValueError("augmentation noises clean frames; frames with "
                             "a real noisy reading cannot be augmented.")
        if not isinstance(augmentation, Augmentation):
            raise TypeError(f"augmentation must be None or an Augmentation, "
                            f"got {augmentation!r}.")
        side = max(crop_height, crop_width)
        if side > min(height, width):
            raise ValueError(
                f"augmentation needs frames of at least max(crop_size) = "
                f"{side} on both sides, got frames of shape "
                f"{(height, width)}."
            )
        pair = _augmented_pair(frames, (crop_height, crop_width), noise,
                               seed, augmentation)

        if not tensorflow_installed():
            return IndexedStream(lambda index: pair(
                index, _numpy_pass_frame_index(index, seed, num_frames,
                                               per_pass)),
                batch_size, first_row, rows)
        tf = _tensorflow()
        shape = (crop_height, crop_width, 1)

        def crop_pair(index):
            frame_index = _pass_frame_index(tf, index, seed, num_frames,
                                            per_pass)
            x, y = tf.numpy_function(pair, [index, frame_index],
                                     [tf.float32, tf.float32], stateful=False)
            return tf.ensure_shape(x, shape), tf.ensure_shape(y, shape)

        return _batched_stream(crop_pair, batch_size, first_row, rows)

    x_pool = np.stack(
        [
            [
                frame_input(
                    f, noise, noise_seed(seed, f["sequence"], f["frame"], r)
                )
                for r in range(noise_realizations)
            ]
            for f in frames
        ]
    )[..., None]
    y_pool = np.stack([np.where(f["mask"], f["depth"], 0.0) for f in frames])
    if not tensorflow_installed():
        x_pool = x_pool.astype(np.float32)
        y_pool = y_pool[..., None].astype(np.float32)

        def numpy_crop_pair(index):
            frame_index = _numpy_pass_frame_index(index, seed, num_frames,
                                                  per_pass)
            rng = np.random.default_rng(
                np.random.SeedSequence([seed, int(index), 2]))
            realization = int(rng.integers(noise_realizations))
            top = int(rng.integers(height - crop_height + 1))
            left = int(rng.integers(width - crop_width + 1))
            window = (slice(top, top + crop_height),
                      slice(left, left + crop_width))
            x = x_pool[(frame_index, realization) + window]
            y = y_pool[(frame_index,) + window]
            if flips:
                left_right, up_down = rng.random(2) < 0.5
                if left_right:
                    x, y = x[:, ::-1], y[:, ::-1]
                if up_down:
                    x, y = x[::-1], y[::-1]
            return x, y

        return IndexedStream(numpy_crop_pair, batch_size, first_row, rows)
    tf = _tensorflow()
    x_pool = tf.constant(x_pool, tf.float32)
    y_pool = tf.constant(y_pool[..., None], tf.float32)

    crop_key = tf.constant([seed, 2], tf.int64)

    def crop_pair(index):
        fold_in = tf.random.experimental.stateless_fold_in
        frame_index = _pass_frame_index(tf, index, seed, num_frames,
                                        per_pass)
        seeds = tf.random.experimental.stateless_split(
            fold_in(crop_key, index), num=5
        )

        def draw(i, upper):
            return tf.random.stateless_uniform(
                [], seeds[i], minval=0, maxval=upper, dtype=tf.int32
            )

        realization = draw(0, noise_realizations)
        top = draw(1, height - crop_height + 1)
        left = draw(2, width - crop_width + 1)
        rows = slice(top, top + crop_height)
        cols = slice(left, left + crop_width)
        pair = tf.concat(
            [
                x_pool[frame_index, realization, rows, cols],
                y_pool[frame_index, rows, cols],
            ],
            axis=-1,
        )
        if flips:
            pair = tf.image.stateless_random_flip_left_right(pair, seeds[3])
            pair = tf.image.stateless_random_flip_up_down(pair, seeds[4])
        pair = tf.ensure_shape(pair, (crop_height, crop_width, 2))
        return pair[..., :1], pair[..., 1:]

    return _batched_stream(crop_pair, batch_size, first_row, rows)


def _batched_stream(crop_pair, batch_size, first_row, rows):
    """Maps global element indices (only rows `first_row`..`first_row + rows`
    of every batch of `batch_size` when sharded) through `crop_pair` and
    batches them by `rows`."""
    tf = _tensorflow()
    dataset = tf.data.Dataset.counter(dtype=tf.int64)
    if (first_row, rows) != (0, batch_size):
        # Local element c is row first_row + c % rows of global batch
        # c // rows: element index (c // rows) * batch_size + that row.
        dataset = dataset.map(
            lambda c: (c // rows) * batch_size + first_row + c % rows)
    dataset = dataset.map(
        crop_pair, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    dataset = dataset.batch(rows, drop_remainder=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _tensorflow():
    return require_tensorflow("The denoising training stream (tf.data)")

