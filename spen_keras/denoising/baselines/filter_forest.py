"""Filter Forest (Fanello, Keskin, Kohli, Izadi, Shotton, Criminisi,
Pattacini & Paek, "Filter Forests for Learning Data-Dependent Convolutional
Kernels", CVPR 2014) as the Table 1 row "FilterForest".

A regression forest picks, for every pixel, a learned linear filter from the
pixel's local patch:

* Input: the noisy, hole-filled normalised depth `x` (millimetres / 5000), as
  for every other row. Each pixel's `patch_size` x `patch_size` patch is read
  with reflect padding at the borders (`sliding_window_view`).
* Split features (`patch_features`): the values of the central
  `feature_size` x `feature_size` window minus the centre value, then the
  centre depth itself (the benchmark's noise grows with depth, so the forest
  can pick stronger filters far away), the mean of the whole patch minus the
  centre and the patch's standard deviation.
* Trees: scikit-learn `ExtraTreesRegressor` (default) or
  `RandomForestRegressor`, grown on the features to predict the residual
  `clean centre - noisy centre` with a large `min_samples_leaf`. This is the
  approximation of the paper's split objective (the paper scores splits by the
  fit of the leaf filters; scikit-learn scores them by the variance of the
  residual): the tree groups pixels of similar local structure and depth.
* Leaves: each leaf holds a linear filter over the whole patch plus a bias,
  fitted by ridge least squares (`numpy.linalg.lstsq` on the system augmented
  with `sqrt(lambda_j) e_j` rows, `lambda_j = ridge * sum_i A_ij^2`, i.e. a
  ridge relative to each column's energy) on all training pixels that reach
  the leaf, predicting the clean centre value; targets are valid pixels only.
  The filter is fitted as `y - c = w . (p - c) + a c + b` (c the centre value),
  so the ridge shrinks towards the identity filter, and stored as the
  equivalent plain filter `f` with `y = f . p + b`.
* Prediction: the average over trees of each tree's leaf filter applied to
  the patch.

Training pixels are sampled from the embedded 7-Scenes training frames with
`noise_realizations` seeded draws of the pipeline's noise per frame
(`make_noisy_input`, `noise_seed(seed, sequence, frame, r)`), uniformly over
the valid pixels. The trees are grown on the first `tree_pixels` of the
sample; the leaf filters are fitted on all `filter_pixels`.

Measured on the 6 embedded test frames (480x640, noisy input 29.03 dB; this
machine's 2 cores shared with other jobs), mean PSNR / fit time / prediction
time per frame / leaves:

    one leaf (one global 11x11 ridge filter)    41.48 dB
    4 extra trees, 200k/600k px, leaf 400       43.58 dB  23 s  0.9 s  1153
    the same, RandomForestRegressor             43.53 dB  35 s  0.9 s   964
    4 extra trees, 7x7 filters, 5x5 features    42.61 dB   7 s  0.5 s   883
    4 extra trees, 15x15 filters                43.42 dB  41 s  1.2 s  1129
    8 extra trees, 500k/1.5M px, leaf 300 (*)   44.00 dB 115 s  1.0 s  6424
    (*) shipped

The shipped forest.npz is 2.97 MB. The leaf filters are fitted with one BLAS
thread (`threadpoolctl`): thousands of small least-squares problems ran ~20x
slower with OpenBLAS threads on busy cores.

Storage, without pickle: `forest.npz` holds the tree arrays of scikit-learn
(`children_left`, `children_right`, `feature`, `threshold`, padded to one
width per tree) and, per leaf node, an index into `filters` (the leaf
filters, float32) and `bias`; `config.json` holds the patch geometry and the
fitting settings. A loaded forest routes pixels through the trees with vectorised numpy
(no scikit-learn at load time), exactly as `DecisionTreeRegressor.apply`:
the float32 feature value, widened to float64, goes left when it is
`<= threshold`.
"""

import json
import pathlib
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

FOREST_FILE = "forest.npz"
CONFIG_FILE = "config.json"
ARRAY_KEYS = ("children_left", "children_right", "feature", "threshold",
              "leaf_index", "filters", "bias")
TREE_LEAF = -1  # scikit-learn's children_* value at a leaf
ROWS_PER_CHUNK = 48  # image rows per prediction chunk (bounds memory)

DEFAULT_CONFIG = {
    "baseline": "filter_forest",
    "patch_size": 11,
    "feature_size": 7,
    "forest": "extra_trees",
    "n_trees": 8,
    "max_depth": 14,
    "min_samples_leaf": 300,
    "max_features": 0.5,
    "tree_pixels": 500_000,
    "filter_pixels": 1_500_000,
    "noise_realizations": 4,
    "ridge": 1e-3,
    "seed": 0,
}


# === Patches and features ===


def _check_geometry(patch_size, feature_size):
    if patch_size < 1 or patch_size % 2 == 0:
        raise ValueError(f"patch_size must be odd and >= 1, got {patch_size}.")
    if feature_size < 1 or feature_size % 2 == 0 or feature_size > patch_size:
        raise ValueError(f"feature_size must be odd, >= 1 and <= patch_size "
                         f"({patch_size}), got {feature_size}.")


def patch_windows(frame, patch_size):
    """A read-only (H, W, P, P) view of the reflect-padded frame's patches."""
    frame = np.asarray(frame, np.float32)
    if frame.ndim != 2:
        raise ValueError(f"Expected an (H, W) frame, got {frame.shape}.")
    half = patch_size // 2
    if half and min(frame.shape) <= half:
        raise ValueError(f"Frame {frame.shape} is too small for reflect "
                         f"padding by {half}.")
    padded = np.pad(frame, half, mode="reflect")
    return sliding_window_view(padded, (patch_size, patch_size))


def patch_features(patches, patch_size, feature_size):
    """Split features of flattened patches.

    Args:
        patches: (n, patch_size**2) float32 patches, row-major.
        patch_size, feature_size: odd window sizes.

    Returns:
        (n, feature_size**2 + 2) float32: the central feature_size window
        minus the centre value (centre itself left out), the centre value,
        the patch mean minus the centre value and the patch standard
        deviation.
    """
    patches = np.asarray(patches, np.float32)
    half, inner = patch_size // 2, feature_size // 2
    square = patches.reshape(-1, patch_size, patch_size)
    centre = square[:, half, half][:, None]
    window = square[:, half - inner:half + inner + 1,
                    half - inner:half + inner + 1].reshape(len(patches), -1)
    middle = window.shape[1] // 2
    offsets = np.delete(window, middle, axis=1) - centre
    mean = patches.mean(axis=1, keepdims=True)
    std = patches.std(axis=1, keepdims=True)
    return np.concatenate([offsets, centre, mean - centre, std],
                          axis=1).astype(np.float32)


def num_features(feature_size):
    return feature_size ** 2 + 2


# === Leaf filters ===


def _filter_design(patches):
    """Design matrix [p_j - c for j != centre, c, 1] (float64) and c."""
    patches = np.asarray(patches, np.float64)
    middle = patches.shape[1] // 2
    centre = patches[:, middle:middle + 1]
    others = np.delete(patches, middle, axis=1) - centre
    return np.concatenate([others, centre, np.ones_like(centre)], axis=1), \
        centre[:, 0]


def fit_linear_filter(patches, targets, ridge):
    """Ridge least-squares filter f and bias b with targets ~ patches @ f + b.

    Fitted as `t - c = w . (p - c) + a c + b` (c = centre value), with a
    ridge `lambda_j = ridge * sum_i A_ij^2` on every column but the bias, so
    it shrinks towards the identity filter.

    Returns:
        (f float64 (P*P,), b float).
    """
    design, centre = _filter_design(patches)
    target = np.asarray(targets, np.float64) - centre
    if ridge > 0:
        energy = np.sum(design[:, :-1] ** 2, axis=0)
        penalty = np.zeros((design.shape[1] - 1, design.shape[1]))
        penalty[:, :-1] = np.diag(np.sqrt(ridge * np.maximum(energy, 1e-30)))
        design = np.concatenate([design, penalty])
        target = np.concatenate([target, np.zeros(len(penalty))])
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    w, a, b = coef[:-2], coef[-2], coef[-1]
    middle = len(w) // 2
    filt = np.insert(w, middle, 1.0 - w.sum() + a)
    return filt, float(b)


# === Routing ===


def route(tree, features):
    """Leaf node id of every row, as `DecisionTreeRegressor.apply`.

    Args:
        tree: dict of `children_left`, `children_right`, `feature`,
            `threshold` (1-D arrays of one tree; padding after the last node
            is never reached).
        features: (n, d) features; cast to float32 as scikit-learn does.

    Returns:
        (n,) int64 node ids.
    """
    features = np.asarray(features, np.float32)
    left = np.asarray(tree["children_left"])
    right = np.asarray(tree["children_right"])
    feature = np.asarray(tree["feature"])
    threshold = np.asarray(tree["threshold"], np.float64)
    node = np.zeros(len(features), np.int64)
    active = np.arange(len(features))
    for _ in range(len(left) + 1):
        if not active.size:
            return node
        current = node[active]
        inner = left[current] != TREE_LEAF
        active, current = active[inner], current[inner]
        goes_left = (features[active, feature[current]].astype(np.float64)
                     <= threshold[current])
        node[active] = np.where(goes_left, left[current], right[current])
    raise ValueError("Tree routing did not reach a leaf: the tree arrays "
                      "hold a cycle.")


# === The forest ===


class FilterForest:
    """A fitted filter forest: tree arrays plus one linear filter per leaf.

    Args:
        config: dict with at least `patch_size` and `feature_size`.
        arrays: dict of `ARRAY_KEYS`: `children_left`, `children_right`,
            `feature`, `leaf_index` int (n_trees, max_nodes); `threshold`
            float64 (n_trees, max_nodes); `filters` float32
            (n_leaves, patch_size**2); `bias` float32 (n_leaves,).
    """

    def __init__(self, config, arrays):
        self.config = dict(config)
        self.patch_size = int(config["patch_size"])
        self.feature_size = int(config["feature_size"])
        _check_geometry(self.patch_size, self.feature_size)
        self.arrays = {k: np.asarray(arrays[k]) for k in ARRAY_KEYS}
        self._validate()

    @property
    def n_trees(self):
        return self.arrays["children_left"].shape[0]

    def _tree(self, t):
        return {k: self.arrays[k][t] for k in
                ("children_left", "children_right", "feature", "threshold")}

    def _validate(self):
        a = self.arrays
        shape = a["children_left"].shape
        problems = []
        if len(shape) != 2 or shape[0] < 1 or shape[1] < 1:
            problems.append(f"children_left has shape {shape}")
        for key in ("children_right", "feature", "threshold", "leaf_index"):
            if a[key].shape != shape:
                problems.append(f"{key} has shape {a[key].shape}, not {shape}")
        n_filters = self.patch_size ** 2
        if a["filters"].ndim != 2 or a["filters"].shape[1] != n_filters:
            problems.append(f"filters has shape {a['filters'].shape}, "
                            f"expected (n_leaves, {n_filters})")
        if a["bias"].shape != a["filters"].shape[:1]:
            problems.append(f"bias has shape {a['bias'].shape}")
        if problems:
            raise ValueError("; ".join(problems))
        nodes = shape[1]
        inner = a["children_left"] != TREE_LEAF
        for key in ("children_left", "children_right"):
            children = a[key][inner]
            if children.size and (children.min() < 1
                                  or children.max() >= nodes):
                problems.append(f"{key} points outside the tree")
        feats = a["feature"][inner]
        if feats.size and (feats.min() < 0
                           or feats.max() >= num_features(self.feature_size)):
            problems.append("feature indices outside the feature vector")
        # Walk every tree from its root: each node is reached at most once
        # (so routing always ends in a leaf) and every reached leaf must name
        # a filter.
        reached = np.zeros(shape, bool)
        for t in range(shape[0] if not problems else 0):
            frontier = np.array([0])
            while frontier.size:
                if (reached[t, frontier].any()
                        or len(np.unique(frontier)) != len(frontier)):
                    problems.append(f"tree {t} reaches a node twice")
                    break
                reached[t, frontier] = True
                inner_now = a["children_left"][t, frontier] != TREE_LEAF
                frontier = frontier[inner_now]
                frontier = np.concatenate([a["children_left"][t, frontier],
                                           a["children_right"][t, frontier]])
        index = a["leaf_index"][reached & ~inner]
        if index.size and (index.min() < 0
                           or index.max() >= len(a["filters"])):
            problems.append("a reachable leaf names no filter")
        if not (np.isfinite(a["filters"]).all()
                and np.isfinite(a["bias"]).all()
                and np.isfinite(a["threshold"][inner]).all()):
            problems.append("non-finite filters, bias or thresholds")
        if problems:
            raise ValueError("; ".join(problems))

    def leaves(self, features):
        """(n_trees, n) leaf node ids of feature rows."""
        return np.stack([route(self._tree(t), features)
                         for t in range(self.n_trees)])

    def predict_patches(self, patches):
        """Average over trees of each tree's leaf filter applied to the patch.

        Args:
            patches: (n, patch_size**2) patches (row-major).

        Returns:
            (n,) float32 estimates of the clean centre values.
        """
        patches = np.asarray(patches, np.float32)
        features = patch_features(patches, self.patch_size, self.feature_size)
        filters = np.zeros(patches.shape, np.float32)
        bias = np.zeros(len(patches), np.float32)
        for t, nodes in enumerate(self.leaves(features)):
            index = self.arrays["leaf_index"][t][nodes]
            if np.any(index < 0):
                raise ValueError("A pixel reached a leaf without a filter.")
            filters += self.arrays["filters"][index]
            bias += self.arrays["bias"][index]
        out = np.einsum("ij,ij->i", filters, patches) + bias
        return (out / self.n_trees).astype(np.float32)

    def denoise_frame(self, frame):
        """Denoises one (H, W) frame, ROWS_PER_CHUNK rows at a time."""
        windows = patch_windows(frame, self.patch_size)
        height, width = windows.shape[:2]
        out = np.empty((height, width), np.float32)
        for top in range(0, height, ROWS_PER_CHUNK):
            chunk = windows[top:top + ROWS_PER_CHUNK]
            patches = chunk.reshape(-1, self.patch_size ** 2)
            out[top:top + len(chunk)] = self.predict_patches(patches).reshape(
                len(chunk), width)
        return out

    def __call__(self, x):
        """`denoise(x)` for (n, H, W, 1) float32 frames."""
        x = np.asarray(x, np.float32)
        if x.ndim != 4 or x.shape[-1] != 1:
            raise ValueError(f"denoise expects (n, H, W, 1) frames, got "
                             f"{x.shape}.")
        return np.stack([self.denoise_frame(f[..., 0]) for f in x])[..., None]

    def save(self, directory):
        """Writes config.json and forest.npz (no pickle) into directory."""
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(directory / FOREST_FILE, **self.arrays)
        (directory / CONFIG_FILE).write_text(
            json.dumps(self.config, indent=2, sort_keys=True) + "\n")


# === Fitting ===


def fit_forest(patches, targets, config, tree_rows=None, verbose=0):
    """Grows the trees with scikit-learn and fits a filter in every leaf.

    Args:
        patches: (n, patch_size**2) noisy patches (row-major).
        targets: (n,) clean centre values (valid pixels only).
        config: dict of `DEFAULT_CONFIG` keys.
        tree_rows: grow the trees on the first `tree_rows` rows only (all by
            default); the leaf filters always use every row.
        verbose: print progress.

    Returns:
        (FilterForest, the fitted scikit-learn estimator).
    """
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

    config = {**DEFAULT_CONFIG, **config}
    patch_size, feature_size = config["patch_size"], config["feature_size"]
    _check_geometry(patch_size, feature_size)
    patches = np.asarray(patches, np.float32)
    targets = np.asarray(targets, np.float64)
    if patches.ndim != 2 or patches.shape[1] != patch_size ** 2:
        raise ValueError(f"patches must be (n, {patch_size ** 2}), got "
                         f"{patches.shape}.")
    features = patch_features(patches, patch_size, feature_size)
    centre = patches[:, patch_size ** 2 // 2].astype(np.float64)
    rows = slice(None, tree_rows)
    kinds = {"extra_trees": ExtraTreesRegressor,
             "random_forest": RandomForestRegressor}
    if config["forest"] not in kinds:
        raise ValueError(f"forest must be one of {sorted(kinds)}.")
    estimator = kinds[config["forest"]](
        n_estimators=config["n_trees"], max_depth=config["max_depth"],
        min_samples_leaf=config["min_samples_leaf"],
        max_features=config["max_features"], random_state=config["seed"],
        n_jobs=1)
    started = time.perf_counter()
    estimator.fit(features[rows], (targets - centre)[rows])
    if verbose:
        print(f"  grew {config['n_trees']} trees on "
              f"{len(features[rows])} pixels in "
              f"{time.perf_counter() - started:.1f} s")

    trees = [e.tree_ for e in estimator.estimators_]
    width = max(t.node_count for t in trees)

    def padded(values, fill, dtype):
        out = np.full((len(trees), width), fill, dtype)
        for i, v in enumerate(values):
            out[i, :len(v)] = v
        return out

    arrays = {
        "children_left": padded([t.children_left for t in trees],
                                TREE_LEAF, np.int32),
        "children_right": padded([t.children_right for t in trees],
                                 TREE_LEAF, np.int32),
        "feature": padded([t.feature for t in trees], -2, np.int32),
        "threshold": padded([t.threshold for t in trees], -2.0, np.float64),
        "leaf_index": np.full((len(trees), width), -1, np.int32),
    }
    filters, biases = [], []
    started = time.perf_counter()
    with _single_threaded_blas():
        _fit_leaves(trees, arrays, features, patches, targets, config,
                    filters, biases)
    if verbose:
        print(f"  fitted {len(filters)} leaf filters on {len(patches)} pixels "
              f"in {time.perf_counter() - started:.1f} s")
    arrays["filters"] = np.asarray(filters, np.float32)
    arrays["bias"] = np.asarray(biases, np.float32)
    return FilterForest(config, arrays), estimator


def _single_threaded_blas():
    """One BLAS thread: thousands of small least-squares problems run ~20x
    slower when OpenBLAS spreads each over busy cores."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def _fit_leaves(trees, arrays, features, patches, targets, config, filters,
                biases):
    """Fits one filter per leaf of every tree (in place: `arrays`,
    `filters`, `biases`)."""
    patch_size = config["patch_size"]
    width = arrays["children_left"].shape[1]
    for t in range(len(trees)):
        tree = {k: arrays[k][t] for k in ("children_left", "children_right",
                                          "feature", "threshold")}
        nodes = route(tree, features)
        order = np.argsort(nodes, kind="stable")
        leaf_ids, starts = np.unique(nodes[order], return_index=True)
        ends = np.append(starts[1:], len(order))
        for leaf, lo, hi in zip(leaf_ids, starts, ends):
            members = order[lo:hi]
            filt, bias = fit_linear_filter(patches[members], targets[members],
                                           config["ridge"])
            arrays["leaf_index"][t, leaf] = len(filters)
            filters.append(filt)
            biases.append(bias)
        # Leaves that no filter pixel reached (none when the tree rows are
        # part of the filter rows) fall back to the identity filter.
        is_leaf = np.zeros(width, bool)
        is_leaf[:trees[t].node_count] = trees[t].children_left == TREE_LEAF
        for leaf in np.flatnonzero(is_leaf & (arrays["leaf_index"][t] < 0)):
            identity = np.zeros(patch_size ** 2)
            identity[patch_size ** 2 // 2] = 1.0
            arrays["leaf_index"][t, leaf] = len(filters)
            filters.append(identity)
            biases.append(0.0)


def sample_training_pixels(frames, config, count):
    """`count` (noisy patch, clean centre) pairs from the training frames.

    Each frame is noised `noise_realizations` times with the pipeline's
    noise (`make_noisy_input`, seeds `noise_seed(seed, sequence, frame, r)`);
    from every noisy frame, the same number of valid target pixels is drawn
    uniformly without replacement, and the pairs are shuffled.

    Returns:
        (patches (count, P*P) float32, targets (count,) float32).
    """
    from spen_keras.denoising.denoising_pipeline import (make_noisy_input,
                                                         noise_seed)
    from spen_keras.denoising.kinect_noise import KinectNoiseModel

    noise = KinectNoiseModel()
    seed, patch_size = config["seed"], config["patch_size"]
    rng = np.random.default_rng([seed, 7])
    draws = [(f, r) for f in frames
             for r in range(config["noise_realizations"])]
    per_draw = -(-count // len(draws))
    patches, targets = [], []
    for frame, r in draws:
        noisy = make_noisy_input(
            frame["depth"], frame["mask"], noise,
            noise_seed(seed, frame["sequence"], frame["frame"], r))
        windows = patch_windows(noisy, patch_size)
        valid = np.flatnonzero(frame["mask"].ravel())
        pick = rng.choice(valid, size=min(per_draw, len(valid)),
                          replace=False)
        rows, cols = np.unravel_index(pick, frame["mask"].shape)
        patches.append(windows[rows, cols].reshape(len(pick), -1))
        targets.append(frame["depth"][rows, cols])
    patches = np.concatenate(patches)
    targets = np.concatenate(targets).astype(np.float32)
    order = rng.permutation(len(patches))[:count]
    return patches[order], targets[order]


def load_forest(directory):
    """The fitted `FilterForest` stored in a folder (config.json, forest.npz).

    Raises:
        FileNotFoundError: naming a missing file.
        ValueError: naming the file when it is unreadable or inconsistent.
    """
    import zipfile

    directory = pathlib.Path(directory)
    config_path, forest_path = directory / CONFIG_FILE, directory / FOREST_FILE
    for path in (config_path, forest_path):
        if not path.is_file():
            raise FileNotFoundError(f"Filter Forest file missing: {path}")
    try:
        config = json.loads(config_path.read_text())
        int(config["patch_size"]), int(config["feature_size"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError,
            ValueError) as error:
        raise ValueError(f"Filter Forest config {config_path} is unusable: "
                         f"{error!r}") from error
    try:
        # Opened here, not by np.load: np.load leaks the file it opened
        # when the zip is unreadable (a ResourceWarning).
        with open(forest_path, "rb") as file, \
                np.load(file, allow_pickle=False) as data:
            arrays = {k: data[k] for k in ARRAY_KEYS}
    except (OSError, ValueError, KeyError, EOFError,
            zipfile.BadZipFile) as error:
        raise ValueError(f"Filter Forest arrays {forest_path} are "
                         f"unreadable: {error!r}") from error
    try:
        return FilterForest(config, arrays)
    except (ValueError, IndexError) as error:
        raise ValueError(f"Filter Forest {forest_path} is inconsistent: "
                         f"{error}") from error
