"""Loading Microsoft 7-Scenes depth frames, with their official splits.

The package embeds 12 frames of the 7-Scenes "stairs" scene (sequences 1-4,
frames 0-2; `spen_keras.datasets.seven_scenes`, folder `embedded/stairs`). The
same loader reads a full copy of the scene laid out as Microsoft ships it::

    <root>/TrainSplit.txt            "sequence2", "sequence3" (one per line)
    <root>/TestSplit.txt             "sequence1", "sequence4"
    <root>/seq-01/frame-000000.depth.png   640x480 uint16 millimetres
    <root>/seq-01/frame-000000.pose.txt    4x4 camera-to-world matrix
    ...

Example:

>>> frames = load_frames("test")
>>> [(f["sequence"], f["frame"]) for f in frames][:2]
[(1, 0), (1, 1)]
>>> frames[0]["depth"].shape, frames[0]["depth"].dtype
((480, 640), dtype('float32'))

References:
    Shotton, Glocker, Zach, Izadi, Criminisi & Fitzgibbon. "Scene Coordinate
    Regression Forests for Camera Relocalization in RGB-D Images." CVPR 2013.
"""

import importlib.resources
import os
import pathlib
import re

import numpy as np

from spen_keras.datasets.seven_scenes.seven_scenes_archives import parse_pose
from spen_keras.datasets.seven_scenes.seven_scenes_archives import parse_split
from spen_keras.denoising.depth_io import read_depth_png
from spen_keras.denoising.depth_normalization import normalize_depth
from spen_keras.denoising.depth_normalization import valid_mask

SPLIT_FILES = {"train": "TrainSplit.txt", "test": "TestSplit.txt"}
_DEPTH_FILE = re.compile(r"^frame-(\d+)\.depth\.png$")


def embedded_frames_dir():
    """Returns the folder of the 7-Scenes "stairs" frames in the package.

    Returns:
        A `pathlib.Path` to the installed
        `spen_keras/datasets/seven_scenes/embedded/stairs` (in a source
        checkout, `datasets/seven_scenes/embedded/stairs`).
    """
    package = importlib.resources.files("spen_keras.datasets.seven_scenes")
    return pathlib.Path(os.fspath(package / "embedded" / "stairs"))


def read_split(split, root=None):
    """Reads the sequence numbers of a split file.

    Args:
        split: "train" or "test".
        root: scene folder; defaults to `embedded_frames_dir()`.

    Returns:
        The sequence numbers listed in the split file, in file order.

    Raises:
        ValueError: for an unknown split or a malformed line.
        FileNotFoundError: if the split file is missing.
    """
    if split not in SPLIT_FILES:
        raise ValueError(
            f"split must be one of {sorted(SPLIT_FILES)}, got {split!r}."
        )
    root = embedded_frames_dir() if root is None else pathlib.Path(root)
    split_path = root / SPLIT_FILES[split]
    if not split_path.is_file():
        raise FileNotFoundError(
            f"7-Scenes split file not found. Expected {split_path} (one "
            f"'sequenceN' per line) under the scene folder {root}."
        )
    # Microsoft's split files end lines with CRLF; the shared parser accepts
    # CRLF, LF and stray whitespace alike.
    return parse_split(split_path.read_text(encoding="utf-8-sig"), split_path)


def load_frames(split="train", root=None):
    """Loads every depth frame of the sequences in a split.

    Args:
        split: "train" (sequences in TrainSplit.txt) or "test" (TestSplit.txt).
        root: scene folder laid out as in the module docstring; defaults to
            the frames embedded in the package (`embedded_frames_dir()`).

    Returns:
        A list of dicts, ordered by sequence (split-file order) then frame:
        `raw` (`np.uint16` (H, W) millimetres), `depth` (`np.float32` (H, W),
        millimetres / 5000, exactly 0 on invalid pixels), `mask` (bool (H, W),
        True on valid pixels), `sequence` (int), `frame` (int) and `pose`
        (`np.float64` (4, 4) camera-to-world).

    Raises:
        FileNotFoundError: if the split file, a sequence folder, its depth
            frames or a pose file is missing; the message lists the paths
            that were expected.
        ValueError: for an unknown split or a malformed split or pose file.
        spen_keras.denoising.DepthImageError: for a depth file that is not a
            16-bit depth PNG.
    """
    root = embedded_frames_dir() if root is None else pathlib.Path(root)
    frames = []
    for sequence in read_split(split, root):
        sequence_dir = root / f"seq-{sequence:02d}"
        depth_files = []
        if sequence_dir.is_dir():
            depth_files = sorted(
                (int(match.group(1)), path)
                for path in sequence_dir.iterdir()
                if (match := _DEPTH_FILE.match(path.name))
            )
        if not depth_files:
            raise FileNotFoundError(
                f"No depth frames for sequence {sequence} of the {split!r} "
                f"split ({root / SPLIT_FILES[split]}). Expected files like "
                f"{sequence_dir / 'frame-000000.depth.png'} and "
                f"{sequence_dir / 'frame-000000.pose.txt'}."
            )
        for frame, depth_path in depth_files:
            pose_path = sequence_dir / f"frame-{frame:06d}.pose.txt"
            if not pose_path.is_file():
                raise FileNotFoundError(
                    f"Pose file missing for {depth_path}: expected "
                    f"{pose_path}."
                )
            raw = read_depth_png(depth_path)
            frames.append(
                {
                    "raw": raw,
                    "depth": normalize_depth(raw),
                    "mask": valid_mask(raw),
                    "sequence": sequence,
                    "frame": frame,
                    "pose": parse_pose(pose_path.read_text(), pose_path),
                }
            )
    return frames
