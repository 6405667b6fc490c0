"""Loading Microsoft 7-Scenes depth frames, with their official splits.

The package embeds 12 frames of the 7-Scenes "stairs" scene (sequences 1-4,
frames 0-2; `spen_keras.datasets.seven_scenes`, folder `embedded/stairs`). The
same loader reads a full copy of the scene laid out as Microsoft ships it::

    <root>/TrainSplit.txt            "sequence2", "sequence3" (one per line)
    <root>/TestSplit.txt             "sequence1", "sequence4"
    <root>/seq-01/frame-000000.depth.png   640x480 uint16 millimetres
    <root>/seq-01/frame-000000.pose.txt    4x4 camera-to-world matrix
    ...

or, unextracted, Microsoft's `<scene>.zip` itself, or a `<scene>/` folder
holding the split files and the `seq-NN.zip` archives. Everything is read
through the 7-Scenes TFDS builder's reader
(`spen_keras.datasets.seven_scenes.seven_scenes_archives`), so both see the
same frames, splits and depth-format checks.

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

from spen_keras.datasets.seven_scenes import seven_scenes_archives as archives
from spen_keras.denoising.depth_normalization import normalize_depth
from spen_keras.denoising.depth_normalization import valid_mask

# The split files' names, {"train": "TrainSplit.txt", "test": "TestSplit.txt"}.
SPLIT_FILES = archives.SPLIT_FILES


def embedded_frames_dir():
    """Returns the folder of the 7-Scenes "stairs" frames in the package.

    Returns:
        A `pathlib.Path` to the installed
        `spen_keras/datasets/seven_scenes/embedded/stairs` (in a source
        checkout, `datasets/seven_scenes/embedded/stairs`).
    """
    package = importlib.resources.files("spen_keras.datasets.seven_scenes")
    return pathlib.Path(os.fspath(package / "embedded" / "stairs"))


def _scene_location(root):
    return embedded_frames_dir() if root is None else root


def _split_sequences(reader, split, location):
    return archives.read_splits(reader, str(location), [split])[split]


def read_split(split, root=None):
    """Reads the sequence numbers of a split file.

    Args:
        split: "train" or "test".
        root: scene folder or scene `.zip` (see the module docstring);
            defaults to `embedded_frames_dir()`.

    Returns:
        The sequence numbers listed in the split file, in file order.

    Raises:
        ValueError: for an unknown split or a malformed line.
        FileNotFoundError: if the scene or the split file is missing.
    """
    archives.split_file_name(split)  # An unknown split fails before any I/O.
    location = _scene_location(root)
    with archives.open_scene(location) as reader:
        return _split_sequences(reader, split, location)


def load_frames(split="train", root=None):
    """Loads every depth frame of the sequences in a split.

    Args:
        split: "train" (sequences in TrainSplit.txt) or "test" (TestSplit.txt).
        root: the scene, laid out as in the module docstring: a folder with
            `seq-NN/` folders or `seq-NN.zip` archives, or Microsoft's
            `<scene>.zip`; defaults to the frames embedded in the package
            (`embedded_frames_dir()`).

    Returns:
        A list of dicts, ordered by sequence (split-file order) then frame:
        `raw` (`np.uint16` (H, W) millimetres), `depth` (`np.float32` (H, W),
        millimetres / 5000, exactly 0 on invalid pixels), `mask` (bool (H, W),
        True on valid pixels), `sequence` (int), `frame` (int) and `pose`
        (`np.float64` (4, 4) camera-to-world).

    Raises:
        FileNotFoundError: if the scene, the split file, a sequence, its depth
            frames or a pose file is missing; the message names the paths
            (or archive members) that were expected.
        ValueError: for an unknown split or a malformed split or pose file.
        spen_keras.denoising.DepthImageError: for a depth file that is not a
            16-bit depth PNG; the message names the file.
    """
    archives.split_file_name(split)  # An unknown split fails before any I/O.
    location = _scene_location(root)
    frames = []
    with archives.open_scene(location) as reader:
        for sequence in _split_sequences(reader, split, location):
            for stored in reader.sequence_frames(sequence):
                raw = archives.decode_depth_png(
                    stored.depth_png, stored.depth_origin)
                frames.append(
                    {
                        "raw": raw,
                        "depth": normalize_depth(raw),
                        "mask": valid_mask(raw),
                        "sequence": sequence,
                        "frame": stored.frame,
                        "pose": archives.parse_pose(
                            stored.pose_text, stored.pose_origin),
                    }
                )
    return frames
