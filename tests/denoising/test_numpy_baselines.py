"""Table 1's non-Keras comparison rows: BM3D (two sigma modes) and Filter
Forest: denoising gains, noise levels, tree routing, leaf filters, storage.

BM3D needs `bm3d` (free for non-commercial use only, so possibly an optional
extra), the estimated sigma `scikit-image`, fitting a forest `scikit-learn`;
tests that need a missing one are skipped and say which. Loading a fitted
forest needs numpy only.
"""

import importlib.util
import json

import numpy as np
import pytest

import dataclasses

from spen_keras import presets
from spen_keras.denoising import KinectNoiseModel
from spen_keras.denoising.baseline_kinds import FilterForestRecipe
from spen_keras.denoising.baselines import bm3d_denoiser as bm3d_rows
from spen_keras.denoising.baselines import filter_forest as ff
from spen_keras.presets import PresetError, load_preset


def _psnr(clean, estimate):
    return 20 * np.log10(1.0 / np.sqrt(np.mean((clean - estimate) ** 2)))


needs_bm3d = pytest.mark.skipif(
    importlib.util.find_spec("bm3d") is None, reason="bm3d not installed")
needs_skimage = pytest.mark.skipif(
    importlib.util.find_spec("skimage") is None,
    reason="scikit-image not installed")
needs_sklearn = pytest.mark.skipif(
    importlib.util.find_spec("sklearn") is None,
    reason="scikit-learn not installed")


def _smooth_image(height=96, width=128):
    rows, cols = np.mgrid[0:height, 0:width] / 128.0
    return (0.5 + 0.2 * np.sin(3 * cols) * np.cos(2 * rows)
            + 0.1 * rows).astype(np.float32)


# === BM3D ===


def test_preset_specs():
    specs = {n: presets.get_spec(n)
             for n in ("bm3d", "bm3d_estimated", "filter_forest")}
    assert {n: (s.row, s.paper_value, s.kind) for n, s in specs.items()} == {
        "bm3d": ("BM3D", 35.46, "bm3d"),
        "bm3d_estimated": ("BM3D (sigma estimated)", None, "bm3d"),
        "filter_forest": ("FilterForest", 35.63, "filter_forest")}


@needs_bm3d
@needs_skimage
@pytest.mark.parametrize("sigma_mode", ["noise_model", "estimated"])
def test_bm3d_gains_several_db_on_smooth_image_with_gaussian_noise(
        sigma_mode, tmp_path):
    clean = _smooth_image()
    rng = np.random.default_rng(0)
    noisy = clean + 0.03 * rng.standard_normal(clean.shape).astype(np.float32)
    direct = bm3d_rows.bm3d_frame(noisy, 0.03)
    assert _psnr(clean, direct) > _psnr(clean, noisy) + 8.0  # ~30.5 -> 46 dB

    config = bm3d_rows.preset_config(sigma_mode)
    (tmp_path / "config.json").write_text(json.dumps(config))
    denoise = load_preset(tmp_path)
    out = denoise(noisy[None, ..., None])
    assert out.shape == (1, 96, 128, 1) and out.dtype == np.float32
    assert _psnr(clean, out[0, ..., 0]) > _psnr(clean, noisy) + 5.0


def test_noise_model_sigma_is_rms_of_kinect_sigma_at_the_noisy_depths():
    # Kinect sigma_m(z) = 0.0012 + 0.0019 (z - 0.4)^2 m, scale 27.5, depth
    # normalised by 5 m: at 1 m (0.2) sigma = 27.5 * 0.001884 / 5, at 3 m
    # (0.6) 27.5 * 0.014044 / 5.
    frame = np.full((4, 6), 0.2, np.float32)
    frame[:, :2] = 0.6
    near, far = 27.5 * 0.001884 / 5, 27.5 * 0.014044 / 5
    expected = np.sqrt((2 * far ** 2 + 4 * near ** 2) / 6)
    assert bm3d_rows.noise_model_sigma(frame) == pytest.approx(expected,
                                                              rel=1e-5)
    assert bm3d_rows.noise_model_sigma(frame[..., None]) == pytest.approx(
        expected, rel=1e-5)
    # It reads the noise model it is given.
    doubled = KinectNoiseModel(scale=55.0)
    assert bm3d_rows.noise_model_sigma(frame, doubled) == pytest.approx(
        2 * expected, rel=1e-5)


@needs_skimage
@pytest.mark.parametrize("sigma", [0.01, 0.03, 0.06])
def test_estimated_sigma_is_within_30_percent_of_gaussian_sigma(sigma):
    clean = _smooth_image(240, 320)
    rng = np.random.default_rng(1)
    noisy = clean + sigma * rng.standard_normal(clean.shape)
    assert bm3d_rows.estimated_sigma(noisy) == pytest.approx(sigma, rel=0.3)


def test_bm3d_load_errors_name_the_file(tmp_path):
    with pytest.raises(PresetError, match="config.json"):
        load_preset(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(PresetError, match="config.json"):
        load_preset(tmp_path)
    config = bm3d_rows.preset_config("noise_model")
    config["profile"] = "fastest"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(PresetError, match="profile"):
        load_preset(tmp_path)


# === Filter Forest ===


def _random_forest_data(n=3000, d=6, seed=0):
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, d)).astype(np.float32)
    features[:, 0] = np.round(features[:, 0], 1)  # many tied values
    target = np.sin(features[:, 0]) + features[:, 1] * features[:, 2]
    return features, target


@needs_sklearn
@pytest.mark.parametrize("kind", ["extra_trees", "random_forest"])
def test_numpy_routing_equals_sklearn_apply(kind):
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

    features, target = _random_forest_data()
    cls = {"extra_trees": ExtraTreesRegressor,
           "random_forest": RandomForestRegressor}[kind]
    forest = cls(n_estimators=3, min_samples_leaf=5, random_state=0).fit(
        features, target)
    probe, _ = _random_forest_data(n=2000, seed=1)
    for estimator in forest.estimators_:
        tree = estimator.tree_
        # Rows lying exactly on thresholds (as float32) test the `<=` edge.
        on_threshold = probe[:50].copy()
        inner = np.flatnonzero(tree.children_left != -1)[:50]
        on_threshold[np.arange(len(inner)), tree.feature[inner]] = (
            tree.threshold[inner].astype(np.float32))
        rows = np.concatenate([features, probe, on_threshold])
        arrays = {"children_left": tree.children_left,
                  "children_right": tree.children_right,
                  "feature": tree.feature, "threshold": tree.threshold}
        np.testing.assert_array_equal(ff.route(arrays, rows),
                                      estimator.apply(rows))


def _patches_from_images(count, patch_size, seed):
    rng = np.random.default_rng(seed)
    image = rng.random((64, 64)).astype(np.float32)
    windows = ff.patch_windows(image, patch_size)
    rows = rng.integers(0, 64, count)
    cols = rng.integers(0, 64, count)
    return np.ascontiguousarray(
        windows[rows, cols].reshape(count, -1)), image


def _tiny_config(**overrides):
    return {**ff.DEFAULT_CONFIG, "patch_size": 3, "feature_size": 3,
            "n_trees": 2, "max_depth": 4, "min_samples_leaf": 100,
            "max_features": 1.0, **overrides}


@needs_sklearn
def test_leaf_filters_recover_a_known_linear_filter():
    rng = np.random.default_rng(3)
    true_filter = rng.normal(0.0, 0.3, 9)
    true_filter[4] += 0.5
    true_bias = 0.05
    patches, _ = _patches_from_images(4000, 3, seed=4)
    targets = patches.astype(np.float64) @ true_filter + true_bias
    forest, estimator = ff.fit_forest(patches, targets,
                                      _tiny_config(ridge=0.0))
    leaves = forest.arrays["leaf_index"] >= 0
    assert leaves.sum() > 4 * 2  # several leaves per tree, each with a filter
    np.testing.assert_allclose(
        forest.arrays["filters"],
        np.broadcast_to(true_filter, forest.arrays["filters"].shape),
        atol=1e-4)
    np.testing.assert_allclose(forest.arrays["bias"], true_bias, atol=1e-4)
    fresh, _ = _patches_from_images(500, 3, seed=5)
    np.testing.assert_allclose(forest.predict_patches(fresh),
                               fresh @ true_filter + true_bias, atol=1e-4)
    # Our routing reaches the leaves scikit-learn reaches.
    features = ff.patch_features(patches, 3, 3)
    for t, e in enumerate(estimator.estimators_):
        np.testing.assert_array_equal(forest.leaves(features)[t],
                                      e.apply(features))


def test_ridge_filter_is_exact_without_ridge_and_shrinks_to_identity():
    patches, _ = _patches_from_images(600, 3, seed=6)
    true_filter = np.linspace(-0.2, 0.4, 9)
    targets = patches.astype(np.float64) @ true_filter - 0.1
    filt, bias = ff.fit_linear_filter(patches, targets, ridge=0.0)
    np.testing.assert_allclose(filt, true_filter, atol=1e-8)
    assert bias == pytest.approx(-0.1, abs=1e-8)
    filt, bias = ff.fit_linear_filter(patches, targets, ridge=1e8)
    identity = np.eye(9)[4]
    np.testing.assert_allclose(filt, identity, atol=1e-5)


def test_patch_features_by_hand():
    patch = np.arange(25, dtype=np.float32)[None]  # 5x5, centre 12
    features = ff.patch_features(patch, 5, 3)
    inner = [6, 7, 8, 11, 13, 16, 17, 18]
    expected = [v - 12 for v in inner] + [12, 0.0, np.arange(25).std()]
    np.testing.assert_allclose(features[0], expected, rtol=1e-6)
    assert features.shape[1] == ff.num_features(3)


def _fitted_tiny_forest(seed=7):
    patches, _ = _patches_from_images(3000, 5, seed=seed)
    targets = patches.mean(axis=1) + 0.01 * np.sin(20 * patches[:, 12])
    forest, _ = ff.fit_forest(patches, targets, _tiny_config(
        patch_size=5, feature_size=3, max_depth=5, min_samples_leaf=60))
    return forest


@needs_sklearn
def test_frame_prediction_equals_per_pixel_patch_prediction(monkeypatch):
    forest = _fitted_tiny_forest()
    monkeypatch.setattr(ff, "ROWS_PER_CHUNK", 7)  # chunk edges inside
    rng = np.random.default_rng(8)
    frame = rng.random((20, 17)).astype(np.float32)
    out = forest(frame[None, ..., None])
    assert out.shape == (1, 20, 17, 1) and out.dtype == np.float32
    padded = np.pad(frame, 2, mode="reflect")
    for r, c in [(0, 0), (0, 16), (19, 0), (19, 16), (6, 3), (7, 3), (13, 9)]:
        patch = padded[r:r + 5, c:c + 5].reshape(1, 25)
        np.testing.assert_allclose(out[0, r, c, 0],
                                   forest.predict_patches(patch)[0],
                                   rtol=1e-6)


@needs_sklearn
def test_save_load_round_trip_is_identical_and_pickle_free(tmp_path):
    forest = _fitted_tiny_forest()
    forest.save(tmp_path)
    with np.load(tmp_path / ff.FOREST_FILE, allow_pickle=False) as data:
        assert set(data.files) == set(ff.ARRAY_KEYS)
    loaded = load_preset(tmp_path)
    assert loaded.config == forest.config
    frames = np.random.default_rng(9).random((2, 24, 30, 1)).astype(
        np.float32)
    np.testing.assert_array_equal(loaded(frames), forest(frames))


@needs_sklearn
def test_forest_load_errors_name_the_file(tmp_path):
    with pytest.raises(PresetError, match="config.json"):
        load_preset(tmp_path)
    forest = _fitted_tiny_forest()
    forest.save(tmp_path)
    good = (tmp_path / ff.FOREST_FILE).read_bytes()

    (tmp_path / ff.FOREST_FILE).unlink()
    with pytest.raises(PresetError, match="forest.npz"):
        load_preset(tmp_path)

    (tmp_path / ff.FOREST_FILE).write_bytes(good[:len(good) // 2])
    with pytest.raises(PresetError, match="forest.npz"):
        load_preset(tmp_path)

    arrays = dict(forest.arrays)
    arrays["feature"] = np.where(arrays["feature"] >= 0, 99,
                                 arrays["feature"])
    np.savez(tmp_path / ff.FOREST_FILE, **arrays)
    with pytest.raises(PresetError, match="forest.npz"):
        load_preset(tmp_path)

    np.savez(tmp_path / ff.FOREST_FILE, **forest.arrays)
    (tmp_path / "config.json").write_text("[1, 2")
    with pytest.raises(PresetError, match="config.json"):
        load_preset(tmp_path)


# === fit: evaluate on the test frames, write the preset folder ===


@needs_sklearn
def test_filter_forest_fit_writes_a_loadable_preset(tmp_path):
    spec = dataclasses.replace(
        presets.get_spec("filter_forest"), recipe=FilterForestRecipe(
            steps=1, overrides=tuple(dict(
                patch_size=5, feature_size=3, max_depth=3,
                min_samples_leaf=200, tree_pixels=2000, filter_pixels=4000,
                noise_realizations=1).items())))
    metadata = presets.train_preset(
        spec, tmp_path / "filter_forest", tmp_path / "backup", verbose=0,
        command="spen-keras train x")
    assert metadata["row"] == "FilterForest" and metadata["steps"] == 1
    assert metadata["command"] == "spen-keras train x"
    assert metadata["kind"] == "filter_forest"
    assert metadata["our_value"] > (
        metadata["reference_values"]["noisy input"] + 3.0)
    assert sorted(p.name for p in (tmp_path / "filter_forest").iterdir()) == [
        "config.json", "forest.npz", "metadata.json"]
    forest = load_preset(tmp_path / "filter_forest")
    assert forest.n_trees == 1 and forest.config["patch_size"] == 5


def test_bm3d_fit_writes_config_and_metadata(tmp_path, monkeypatch):
    # The real BM3D takes seconds per 480x640 frame; check the plumbing with
    # a stand-in that records the sigma it is given.
    sigmas = []

    def fake_bm3d(frame, sigma, profile, stage):
        sigmas.append(sigma)
        return np.asarray(frame, np.float32)

    monkeypatch.setattr(bm3d_rows, "bm3d_frame", fake_bm3d)
    # Called as `spen-keras train` calls every preset.
    metadata = presets.train_preset(
        "bm3d", tmp_path / "bm3d", tmp_path / "backup", steps=None,
        command="spen-keras train --preset bm3d")
    assert metadata["our_value"] == metadata["reference_values"][
        "noisy input"]
    assert metadata["row"] == "BM3D" and metadata["profile"] == "lc"
    assert len(sigmas) == 6 and all(0.02 < s < 0.06 for s in sigmas)
    config = json.loads((tmp_path / "bm3d" / "config.json").read_text())
    assert config["sigma_mode"] == "noise_model"
    assert json.loads((tmp_path / "bm3d" / "metadata.json").read_text())[
        "name"] == "bm3d"
