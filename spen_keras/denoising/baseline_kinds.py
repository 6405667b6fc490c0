"""Preset kinds of the numpy/sklearn comparison systems: BM3D, Filter Forest.

The algorithms live in `spen_keras.denoising.baselines`; this module only
turns them into presets: `load` reads a preset folder into a callable
`denoise(x)` ((n, H, W, 1) float32 -> same shape), `train` fits (or, for
BM3D, configures) the system, evaluates it on the embedded test frames and
writes the preset folder through `spen_keras.presets.write_preset_dir`
(written beside the destination, reloaded, then moved into place).
"""

import dataclasses
import pathlib
import time
from typing import Optional

from spen_keras import presets
from spen_keras.denoising.baselines import bm3d_denoiser
from spen_keras.denoising.baselines import filter_forest
from spen_keras.denoising.denoising_task import evaluate_on_test_frames
from spen_keras.denoising.training_noise import spec_training_noise
from spen_keras.presets.training import preset_metadata
from spen_keras.presets import CONFIG_FILE, METADATA_FILE, PresetError

BM3D_KIND = "bm3d"
FILTER_FOREST_KIND = "filter_forest"


@dataclasses.dataclass(frozen=True)
class BM3DRecipe:
    """A BM3D row: how sigma is chosen, BM3D profile and stage."""

    sigma_mode: str
    profile: str = bm3d_denoiser.DEFAULT_PROFILE
    stage: str = bm3d_denoiser.DEFAULT_STAGE
    steps: Optional[int] = None  # nothing to train


@dataclasses.dataclass(frozen=True)
class FilterForestRecipe:
    """A Filter Forest row: `filter_forest.DEFAULT_CONFIG` plus overrides;
    `steps` is the number of trees."""

    steps: int = filter_forest.DEFAULT_CONFIG["n_trees"]
    overrides: tuple = ()


class _Timed:
    """Wraps a denoiser and records seconds per frame of its first call."""

    def __init__(self, denoise):
        self.denoise, self.seconds_per_frame = denoise, None

    def __call__(self, x):
        started = time.perf_counter()
        out = self.denoise(x)
        if self.seconds_per_frame is None:
            self.seconds_per_frame = (time.perf_counter() - started) / len(x)
        return out


def load_bm3d(directory, config):
    try:
        bm3d_denoiser.check_config(config, source=str(
            pathlib.Path(directory) / CONFIG_FILE))
    except ValueError as error:
        raise PresetError(str(error)) from error
    return bm3d_denoiser.make_denoiser(config)


def train_bm3d(spec, output_dir, backup_dir=None, steps=None, command=None,
               verbose=1, overwrite=False, **unused):
    """Configures BM3D, evaluates it on the test frames, writes the preset.

    Nothing is trained, so `backup_dir` and `steps` are ignored.
    """
    recipe = spec.recipe
    presets.check_writable_preset_dir(output_dir, overwrite)
    config = bm3d_denoiser.preset_config(recipe.sigma_mode, recipe.profile,
                                         recipe.stage)
    timed = _Timed(bm3d_denoiser.make_denoiser(config))
    started = time.perf_counter()
    evaluation = evaluate_on_test_frames(timed)
    record = spec_training_noise(spec)
    if record is not None:
        evaluation["training_noise"] = record
    metadata = preset_metadata(
        spec, evaluation, time.perf_counter() - started,
        command or f"spen-keras train --preset {spec.name}",
        sigma_mode=recipe.sigma_mode, profile=recipe.profile,
        stage=recipe.stage, steps=None,
        seconds_per_frame=round(timed.seconds_per_frame, 2),
        training_data="none (BM3D is not trained)")

    def write_files(folder):
        presets.write_json(folder / CONFIG_FILE, config)
        presets.write_json(folder / METADATA_FILE, metadata)

    presets.write_preset_dir(
        output_dir, write_files,
        verify=lambda folder: load_bm3d(folder, presets.read_json(
            folder / CONFIG_FILE, "config")), overwrite=overwrite)
    if verbose:
        print(f"[{spec.name}] {evaluation['our_value']:.2f} dB, "
              f"{timed.seconds_per_frame:.1f} s per frame")
    return metadata


def load_filter_forest(directory, config=None):
    try:
        return filter_forest.load_forest(directory)
    except (FileNotFoundError, ValueError) as error:
        raise PresetError(str(error)) from error


def train_filter_forest(spec, output_dir, backup_dir=None, steps=None,
                        command=None, verbose=1, overwrite=False, **unused):
    """Fits the forest on the training frames, evaluates, writes the preset.

    `steps` is the number of trees; `backup_dir` is unused (a fit takes
    minutes and has no resumable state).
    """
    from spen_keras.denoising.seven_scenes_frames import load_frames

    recipe = spec.recipe
    presets.check_writable_preset_dir(output_dir, overwrite)
    config = {**filter_forest.DEFAULT_CONFIG, **dict(recipe.overrides)}
    config["n_trees"] = int(steps or recipe.steps)
    started = time.perf_counter()
    patches, targets = filter_forest.sample_training_pixels(
        load_frames("train"), config, config["filter_pixels"])
    forest, _ = filter_forest.fit_forest(
        patches, targets, config, tree_rows=config["tree_pixels"],
        verbose=verbose)
    wall = time.perf_counter() - started
    del patches, targets
    timed = _Timed(forest)
    evaluation = {**evaluate_on_test_frames(timed),
                  "training_noise": spec_training_noise(spec)}
    metadata = preset_metadata(
        spec, evaluation, wall,
        command or f"spen-keras train --preset {spec.name}",
        seed=config["seed"], steps=config["n_trees"],
        seconds_per_frame=round(timed.seconds_per_frame, 2),
        n_leaves=int(len(forest.arrays["filters"])),
        training_data=(
            "embedded 7-Scenes stairs train frames (seq 2, 3), "
            f"{config['noise_realizations']} KinectNoiseModel() draws per "
            f"frame, {config['filter_pixels']} valid pixels "
            f"({config['tree_pixels']} for the tree splits)"))

    def write_files(folder):
        forest.save(folder)
        presets.write_json(folder / METADATA_FILE, metadata)

    presets.write_preset_dir(output_dir, write_files,
                             verify=load_filter_forest, overwrite=overwrite)
    if verbose:
        size = (pathlib.Path(output_dir) / filter_forest.FOREST_FILE).stat()
        print(f"[{spec.name}] {evaluation['our_value']:.2f} dB; fit "
              f"{wall:.0f} s; {timed.seconds_per_frame:.2f} s per frame; "
              f"{filter_forest.FOREST_FILE} {size.st_size / 1e6:.2f} MB")
    return metadata


presets.register_preset_kind(presets.PresetKindFunctions(
    name=BM3D_KIND, load_fn=load_bm3d, train_fn=train_bm3d))
presets.register_preset_kind(presets.PresetKindFunctions(
    name=FILTER_FOREST_KIND, load_fn=load_filter_forest,
    train_fn=train_filter_forest))
