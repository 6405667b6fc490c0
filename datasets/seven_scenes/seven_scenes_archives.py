"""Reading Microsoft 7-Scenes scenes as Microsoft ships them, or extracted.

Microsoft publishes one archive per scene. `<scene>.zip` holds::

    <scene>/TrainSplit.txt      "sequence2" ... one per line (CRLF)
    <scene>/TestSplit.txt
    <scene>/seq-01.zip          holding seq-01/frame-000000.color.png,
    <scene>/seq-02.zip ...              seq-01/frame-000000.depth.png,
                                        seq-01/frame-000000.pose.txt, ...

`open_scene` reads that archive directly (the `<scene>/` member prefix is
optional), a `<scene>/` folder holding the split files and the `seq-NN.zip`
files, or a fully extracted folder with `seq-NN/frame-NNNNNN.depth.png`.
Nothing is extracted to disk: the scenes are several GB each, and the inner
sequence archives are already compressed.

All file access goes through `epath`, so the data may also sit on GCS or any
other filesystem `tf.io.gfile` understands.
"""

import contextlib
import io
import re
import shutil
import tempfile
import zipfile

import numpy as np
from etils import epath
from PIL import Image

SCENES = (
    "chess", "fire", "heads", "office", "pumpkin", "redkitchen", "stairs")
SPLIT_FILES = {"train": "TrainSplit.txt", "test": "TestSplit.txt"}
DOWNLOAD_URL = (
    "http://download.microsoft.com/download/2/8/5/"
    "28564B23-0828-408F-8631-23B1EFF1DAC8/{scene}.zip"
)
DEPTH_SHAPE = (480, 640)

# Pillow modes of a single-channel 16-bit PNG ("I" is how older Pillow
# releases opened them; values are range-checked below).
_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I")
_SEQUENCE_LINE = re.compile(r"^sequence(\d+)$", re.IGNORECASE)
_DEPTH_NAME = re.compile(r"(?:^|/)frame-(\d+)\.depth\.png$")
# Sequence archives are copied to a temporary file before opening: reading a
# zip needs random access, which a member of the scene archive lacks. Small
# ones (the test data) stay in memory.
_SPOOL_BYTES = 64 * 2**20


def download_url(scene):
    """Returns the address of Microsoft's archive for one scene."""
    return DOWNLOAD_URL.format(scene=scene)


def parse_split(text, origin):
    """Parses a TrainSplit.txt/TestSplit.txt file into sequence numbers.

    Args:
        text: file contents; CRLF, LF and stray whitespace are accepted.
        origin: where the text came from, for error messages.

    Returns:
        The sequence numbers in file order.

    Raises:
        ValueError: on a line that is not `sequenceN`.
    """
    sequences = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        match = _SEQUENCE_LINE.match(line)
        if match is None:
            raise ValueError(
                f"{origin}, line {number}: expected 'sequenceN', got {line!r}."
            )
        sequences.append(int(match.group(1)))
    return sequences


def decode_depth_png(data, origin):
    """Decodes a 16-bit single-channel depth PNG to a uint16 array, unchanged.

    Raises:
        ValueError: if the bytes are not a 16-bit greyscale PNG (an 8-bit or
            colour file would silently give wrong millimetres).
    """
    with Image.open(io.BytesIO(data)) as image:
        if image.format != "PNG" or image.mode not in _DEPTH_MODES:
            raise ValueError(
                f"{origin} is a {image.format} image in mode {image.mode!r}; "
                "a single-channel 16-bit depth PNG is expected."
            )
        depth = np.asarray(image)
    if depth.min(initial=0) < 0 or depth.max(initial=0) > 65535:
        raise ValueError(f"{origin} holds values outside [0, 65535].")
    return np.array(depth, dtype=np.uint16)


def parse_pose(text, origin):
    """Parses a `frame-NNNNNN.pose.txt` 4x4 camera-to-world matrix."""
    pose = np.loadtxt(io.StringIO(text), dtype=np.float64)
    if pose.shape != (4, 4):
        raise ValueError(f"{origin} holds shape {pose.shape}, not 4x4.")
    return pose


def _zip_frames(archive, origin, folder=None):
    """Yields (frame, depth bytes, pose text) from an open zip, by frame."""
    depth_members = {}
    for name in archive.namelist():
        match = _DEPTH_NAME.search(name)
        if match and (folder is None or name.startswith(folder)):
            depth_members[int(match.group(1))] = name
    if not depth_members:
        where = f"{origin}:{folder}" if folder else origin
        raise FileNotFoundError(
            f"No frame-NNNNNN.depth.png files in {where}."
        )
    for frame in sorted(depth_members):
        depth_name = depth_members[frame]
        pose_name = depth_name[: -len("depth.png")] + "pose.txt"
        try:
            pose = archive.read(pose_name).decode("utf-8")
        except KeyError:
            raise FileNotFoundError(
                f"{origin}: {depth_name} has no pose file {pose_name}."
            ) from None
        yield frame, archive.read(depth_name), pose


@contextlib.contextmanager
def _open_nested_zip(outer, name):
    """Opens the zip stored as member `name` of the open zip `outer`."""
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as copy:
        with outer.open(name) as member:
            shutil.copyfileobj(member, copy, 2**20)
        copy.seek(0)
        with zipfile.ZipFile(copy) as inner:
            yield inner


class _FolderScene:
    """A scene folder with the split files and seq-NN/ or seq-NN.zip."""

    def __init__(self, root):
        self.root = root

    def read_text(self, name):
        return (self.root / name).read_text(encoding="utf-8-sig")

    def sequence_frames(self, sequence):
        folder = self.root / f"seq-{sequence:02d}"
        archive_path = self.root / f"seq-{sequence:02d}.zip"
        if folder.is_dir():
            depth_paths = {}
            for path in folder.iterdir():
                if match := _DEPTH_NAME.search(path.name):
                    depth_paths[int(match.group(1))] = path
            if depth_paths:
                for frame in sorted(depth_paths):
                    pose_path = folder / f"frame-{frame:06d}.pose.txt"
                    if not pose_path.exists():
                        raise FileNotFoundError(
                            f"Pose file missing: {pose_path}")
                    yield (frame, depth_paths[frame].read_bytes(),
                           pose_path.read_text())
                return
        if archive_path.exists():
            with archive_path.open("rb") as file, zipfile.ZipFile(file) as zf:
                yield from _zip_frames(zf, str(archive_path))
            return
        raise FileNotFoundError(
            f"Sequence {sequence} not found: expected {archive_path} or "
            f"{folder / 'frame-000000.depth.png'} (and the other frames)."
        )


class _ArchiveScene:
    """An official `<scene>.zip`, with or without the `<scene>/` prefix."""

    def __init__(self, archive, origin):
        self.archive = archive
        self.origin = origin
        split_names = [n for n in archive.namelist()
                       if n.rsplit("/", 1)[-1] == SPLIT_FILES["train"]]
        if not split_names:
            raise FileNotFoundError(
                f"{origin} holds no {SPLIT_FILES['train']}; is it one of "
                "Microsoft's 7-Scenes scene archives?"
            )
        # The shallowest split file marks the scene's root inside the zip.
        self.prefix = min(split_names, key=len)[: -len(SPLIT_FILES["train"])]

    def read_text(self, name):
        try:
            data = self.archive.read(self.prefix + name)
        except KeyError:
            raise FileNotFoundError(
                f"{self.origin} has no member {self.prefix + name}."
            ) from None
        return data.decode("utf-8-sig")

    def sequence_frames(self, sequence):
        nested = f"{self.prefix}seq-{sequence:02d}.zip"
        folder = f"{self.prefix}seq-{sequence:02d}/"
        names = self.archive.namelist()
        if nested in names:
            with _open_nested_zip(self.archive, nested) as inner:
                yield from _zip_frames(inner, f"{self.origin}:{nested}")
        elif any(name.startswith(folder) for name in names):
            yield from _zip_frames(self.archive, self.origin, folder)
        else:
            raise FileNotFoundError(
                f"{self.origin} has neither {nested} nor a {folder} folder."
            )


@contextlib.contextmanager
def open_scene(location):
    """Opens one scene: a `<scene>.zip` archive or an extracted folder.

    Args:
        location: `epath.Path` (or str) of the archive or the folder.

    Yields:
        A reader with `read_text(name)` (e.g. "TrainSplit.txt") and
        `sequence_frames(sequence)`, which yields `(frame, depth PNG bytes,
        pose text)` in frame order.
    """
    location = epath.Path(location)
    if location.is_dir():
        yield _FolderScene(location)
        return
    with location.open("rb") as file, zipfile.ZipFile(file) as archive:
        yield _ArchiveScene(archive, str(location))


def read_splits(scene_reader, origin):
    """Returns {"train": [...], "test": [...]} sequence numbers of a scene."""
    return {
        split: parse_split(scene_reader.read_text(name), f"{origin}/{name}")
        for split, name in SPLIT_FILES.items()
    }
