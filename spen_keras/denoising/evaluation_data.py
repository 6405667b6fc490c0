"""Evaluation data for `spen-keras zoo reproduce table1 --data-dir DIR`.

DIR is either a ProximalNet-style folder (with `val.lst` listing int16
noisy/clean pairs: the paper's exact protocol) or a 7-Scenes folder holding
Microsoft's per-scene archives or their extracted folders (every scene found
is used, test split, with the same seeded Kinect-like noise as the embedded
benchmark). Both are read through the `seven_scenes` TFDS builder.
"""

import pathlib
import tempfile

import numpy as np

from spen_keras.denoising.denoising_pipeline import make_evaluation_arrays
from spen_keras.denoising.depth_normalization import fill_invalid
from spen_keras.denoising.depth_normalization import normalize_depth
from spen_keras.denoising.depth_normalization import valid_mask


def _build(config, data_dir):
    import tensorflow_datasets as tfds

    from spen_keras.datasets.seven_scenes import Builder

    cache = pathlib.Path(tempfile.gettempdir()) / "spen_keras_tfds"
    builder = Builder(config=config, data_dir=str(cache))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(data_dir),
        compute_stats=tfds.download.ComputeStatsMode.SKIP))
    return builder


def _evenly(items, max_frames):
    if max_frames is None or len(items) <= max_frames:
        return items
    keep = np.linspace(0, len(items) - 1, max_frames).round().astype(int)
    return [items[i] for i in keep]


def load_evaluation_data(data_dir, max_frames=60):
    """Returns (x, y, description) for a full data folder.

    Args:
        data_dir: a ProximalNet or 7-Scenes folder (see the module docstring).
        max_frames: evaluate at most this many frames, evenly spaced over the
            test split (whole 7-Scenes test splits hold thousands of frames,
            and a 20-step DeepPrior takes seconds per frame on a CPU).

    Raises:
        FileNotFoundError: when DIR holds neither layout; the message lists
            what was looked for.
    """
    import tensorflow_datasets as tfds

    from spen_keras.datasets.seven_scenes import official_config
    from spen_keras.datasets.seven_scenes.seven_scenes_archives import SCENES

    data_dir = pathlib.Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"--data-dir {data_dir} is not a directory.")
    if (data_dir / "val.lst").is_file():
        builder = _build("proximalnet", data_dir)
        pairs = _evenly(list(tfds.as_numpy(
            builder.as_dataset(split="validation"))), max_frames)
        xs, ys = [], []
        for pair in pairs:
            clean = np.clip(pair["clean"][..., 0], 0, None).astype(np.uint16)
            noisy = np.clip(pair["noisy"][..., 0], 0, None).astype(np.uint16)
            y = normalize_depth(clean)
            noisy_mask = valid_mask(noisy)
            xs.append(fill_invalid(normalize_depth(noisy), noisy_mask))
            ys.append(y)
        return (np.stack(xs)[..., None].astype(np.float32),
                np.stack(ys)[..., None].astype(np.float32),
                f"ProximalNet val.lst ({data_dir})")

    scenes = [s for s in SCENES if (data_dir / f"{s}.zip").is_file()
              or (data_dir / s).is_dir()]
    if not scenes:
        expected = [str(data_dir / "val.lst")] + [
            str(data_dir / name) for s in SCENES
            for name in (f"{s}.zip", f"{s}/")]
        raise FileNotFoundError(
            f"--data-dir {data_dir} holds neither ProximalNet pairs nor "
            "7-Scenes scenes. Looked for:\n  " + "\n  ".join(expected))
    builder = _build(official_config(scenes), data_dir)
    frames = []
    for example in _evenly(list(tfds.as_numpy(builder.as_dataset(
            split="test"))), max_frames):
        raw = example["depth"][..., 0]
        frames.append({"depth": normalize_depth(raw), "mask": valid_mask(raw),
                       "sequence": int(example["sequence"]),
                       "frame": int(example["frame"])})
    x, y = make_evaluation_arrays(frames)
    return x, y, f"7-Scenes test split ({', '.join(scenes)}; {data_dir})"
