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

This module is the one reader of 7-Scenes data in the package: the TFDS
builder and `spen_keras.denoising.load_frames` both read through it, and
`decode_depth_png` is the one 16-bit depth PNG decoder
(`spen_keras.denoising.read_depth_png` calls it on a file's bytes). It must
not import `spen_keras.denoising`, which imports it.
"""

import contextlib
import io
import re
import shutil
import tempfile
import typing
import zipfile
import zlib

import numpy as np
from PIL import Image, UnidentifiedImageError

from spen_keras.datasets import epath

SCENES = (
    "chess", "fire", "heads", "office", "pumpkin", "redkitchen", "stairs")
SPLIT_FILES = {"train": "TrainSplit.txt", "test": "TestSplit.txt"}
DOWNLOAD_URL = (
    "http://download.microsoft.com/download/2/8/5/"
    "28564B23-0828-408F-8631-23B1EFF1DAC8/{scene}.zip"
)
DEPTH_SHAPE = (480, 640)

# Pillow modes accepted for a decoded depth PNG: one 16-bit (or wider
# integer) channel. Pillow opens a 16-bit greyscale PNG as "I;16" (older
# releases used "I", a 32-bit mode, whose values are range-checked).
DEPTH_PNG_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_EIGHT_BIT_MODES = ("1", "L", "P")
_SEQUENCE_LINE = re.compile(r"^sequence(\d+)$", re.IGNORECASE)
_DEPTH_NAME = re.compile(r"(?:^|/)frame-(\d+)\.depth\.png$")
# Sequence archives are copied to a temporary file before opening: reading a
# zip needs random access, which a member of the scene archive lacks. Small
# ones (the test data) stay in memory.
_SPOOL_BYTES = 64 * 2**20


def download_url(scene):
    """Returns the address of Microsoft's archive for one scene."""
    return DOWNLOAD_URL.format(scene=scene)


class SevenScenesDataError(ValueError):
    """Raised for 7-Scenes (or ProximalNet) data that is present but unusable.

    A malformed split, pose or pair-list file, or a corrupt or truncated
    archive. The message is one line naming the file (a path, or
    `archive:member`) and what to do about it.
    """


# What zipfile raises for a damaged archive: a bad or missing end record or
# local header, a CRC mismatch, or a compressed member cut short.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError)


def _redownload_hint(path):
    """Tells how to replace the damaged archive `path` (or one inside it)."""
    path = epath.Path(path)
    scene = path.stem if path.suffix == ".zip" and path.stem in SCENES else (
        path.parent.name if path.parent.name in SCENES else None)
    if path.stem.startswith("seq-") and scene is not None:
        return (f"re-extract {path.name} from Microsoft's {scene}.zip, or "
                f"re-download {download_url(scene)}")
    if scene is not None:
        return f"re-download it from {download_url(scene)}"
    return ("re-download Microsoft's <scene>.zip from "
            + DOWNLOAD_URL.format(scene="<scene>"))


@contextlib.contextmanager
def _zip_errors(origin, path):
    """Turns zipfile's errors into a `SevenScenesDataError` naming `origin`.

    Args:
        origin: the damaged file for the message (`path`, or `path:member`).
        path: the archive on disk, for the re-download hint.
    """
    try:
        yield
    except _ZIP_ERRORS as error:
        raise SevenScenesDataError(
            f"{origin} is corrupt or truncated ({type(error).__name__}: "
            f"{error}); {_redownload_hint(path)}."
        ) from error


def _open_zip(file, origin, path):
    """Opens a zip archive, refusing a damaged or truncated one.

    A truncated archive whose end record is lost usually fails to open; but
    when its tail holds a whole stored zip (a scene archive stores its
    `seq-NN.zip` files uncompressed), zipfile finds that inner end record
    and opens the inner archive instead, as if data were prepended. Every
    archive of the dataset starts with its first entry, so a first entry
    anywhere else means a damaged file.
    """
    try:
        archive = zipfile.ZipFile(file)
    except _ZIP_ERRORS as error:
        raise SevenScenesDataError(
            f"{origin} is not a readable zip archive ({type(error).__name__}:"
            f" {error}): it is truncated or corrupt (an interrupted "
            f"download?), or not a zip file; {_redownload_hint(path)}."
        ) from error
    offsets = [info.header_offset for info in archive.infolist()]
    if offsets and min(offsets) != 0:
        archive.close()
        raise SevenScenesDataError(
            f"{origin} is corrupt or truncated (its first zip entry is not at "
            f"the start of the file); {_redownload_hint(path)}."
        )
    return archive


def parse_split(text, origin):
    """Parses a TrainSplit.txt/TestSplit.txt file into sequence numbers.

    Args:
        text: file contents; CRLF, LF and stray whitespace are accepted.
        origin: where the text came from, for error messages.

    Returns:
        The sequence numbers in file order.

    Raises:
        SevenScenesDataError: on a line that is not `sequenceN`.
    """
    sequences = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        match = _SEQUENCE_LINE.match(line)
        if match is None:
            raise SevenScenesDataError(
                f"{origin}, line {number}: expected 'sequenceN', got {line!r}."
            )
        sequences.append(int(match.group(1)))
    return sequences


class DepthImageError(ValueError):
    """Raised for data that is not a single-channel 16-bit depth PNG."""


def decode_depth_png(data, origin):
    """Decodes a single-channel 16-bit depth PNG to a uint16 array, unchanged.

    Reading a colour frame, an 8-bit visualisation or a half-written file by
    mistake would otherwise give silently wrong millimetres, so the format is
    checked and every error names the problem and `origin`.

    Args:
        data: the PNG file's bytes.
        origin: where the bytes came from (a path, or `archive:member`), for
            error messages.

    Returns:
        A writable `np.uint16` array of shape `(height, width)` holding the
        raw values (millimetres for Kinect/7-Scenes; 0 and 65535 mean "no
        reading").

    Raises:
        DepthImageError: if the data is empty, is not a readable PNG (corrupt,
            truncated or another format), is an 8-bit image, has more than one
            channel, has a pixel mode outside `DEPTH_PNG_MODES`, or holds
            values outside [0, 65535].
    """
    if len(data) == 0:
        raise DepthImageError(
            f"Depth image {origin} is an empty file (0 bytes); a 16-bit depth "
            "PNG is expected."
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format
            mode = image.mode
            bands = image.getbands()
            if image_format != "PNG":
                raise DepthImageError(
                    f"Depth image {origin} is a {image_format} file, not a "
                    "PNG; a 16-bit depth PNG is expected."
                )
            # `load` decodes the pixel data: a truncated or damaged PNG whose
            # header still parses fails here, not in `Image.open`.
            image.load()
            pixels = np.asarray(image)
    except UnidentifiedImageError as error:
        raise DepthImageError(
            f"Depth image {origin} is corrupt or not an image file "
            "(Pillow cannot identify it); a 16-bit depth PNG is expected."
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, DepthImageError):
            raise
        raise DepthImageError(
            f"Depth image {origin} is corrupt or truncated: {error}"
        ) from error

    if len(bands) > 1:
        raise DepthImageError(
            f"Depth image {origin} has {len(bands)} channels (mode {mode!r}, "
            f"bands {''.join(bands)}); a single-channel 16-bit depth PNG is "
            "expected. Is this a colour frame?"
        )
    if mode in _EIGHT_BIT_MODES:
        raise DepthImageError(
            f"Depth image {origin} is an 8-bit image (mode {mode!r}); a "
            "16-bit depth PNG is expected. 8-bit depth loses the millimetre "
            "values."
        )
    if mode not in DEPTH_PNG_MODES:
        raise DepthImageError(
            f"Depth image {origin} has unsupported pixel mode {mode!r}; a "
            "single-channel 16-bit depth PNG is expected."
        )
    if pixels.ndim != 2:
        raise DepthImageError(
            f"Depth image {origin} decoded to shape {pixels.shape}; a 2-D "
            "depth map is expected."
        )
    if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
        raise DepthImageError(
            f"Depth image {origin} holds values outside the 16-bit range "
            f"[0, 65535] (mode {mode!r})."
        )
    # A native-order copy: `np.asarray` may share Pillow's read-only buffer,
    # and "I;16B" decodes big-endian.
    return np.array(pixels, dtype=np.uint16, copy=True)


def parse_pose(text, origin):
    """Parses a `frame-NNNNNN.pose.txt` 4x4 camera-to-world matrix."""
    try:
        pose = np.loadtxt(io.StringIO(text), dtype=np.float64)
    except ValueError as error:
        raise SevenScenesDataError(
            f"{origin} is not a 4x4 pose matrix: {error}") from error
    if pose.shape != (4, 4):
        raise SevenScenesDataError(
            f"{origin} holds shape {pose.shape}, not 4x4.")
    return pose


class SequenceFrame(typing.NamedTuple):
    """One frame of a sequence, as stored: undecoded, with where it lies.

    `depth_origin` and `pose_origin` name the files for error messages: a
    path, `archive:member`, or `scene.zip:seq-NN.zip:member`.
    """

    frame: int
    depth_png: bytes
    pose_text: str
    depth_origin: str
    pose_origin: str


def split_file_name(split):
    """Returns the split file of `split` ("train" or "test").

    Raises:
        ValueError: for another split name; the message lists the valid ones.
    """
    if split not in SPLIT_FILES:
        raise ValueError(
            f"split must be one of {sorted(SPLIT_FILES)}, got {split!r}."
        )
    return SPLIT_FILES[split]


def _zip_frames(archive, origin, path, folder=None):
    """Yields the `SequenceFrame`s of an open zip, by frame.

    `origin` names the zip in messages; `path` is the file on disk holding
    it (the same, or the scene archive it is stored in).
    """
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
            with _zip_errors(origin, path):
                pose = archive.read(pose_name).decode("utf-8")
        except KeyError:
            raise FileNotFoundError(
                f"{origin}: {depth_name} has no pose file {pose_name}."
            ) from None
        with _zip_errors(origin, path):
            depth_png = archive.read(depth_name)
        yield SequenceFrame(frame, depth_png, pose,
                            f"{origin}:{depth_name}", f"{origin}:{pose_name}")


@contextlib.contextmanager
def _open_nested_zip(outer, name, origin, path):
    """Opens the zip stored as member `name` of the open zip `outer`.

    `origin` names `outer` in messages; `path` is the file on disk.
    """
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as copy:
        # The member's CRC is checked as it is read: a mismatch means the
        # outer archive is damaged.
        with _zip_errors(origin, path), outer.open(name) as member:
            shutil.copyfileobj(member, copy, 2**20)
        copy.seek(0)
        with _open_zip(copy, f"{origin}:{name}", path) as inner:
            yield inner


class _FolderScene:
    """A scene folder with the split files and seq-NN/ or seq-NN.zip."""

    def __init__(self, root):
        self.root = root

    def read_text(self, name):
        path = self.root / name
        if not path.is_file():
            raise FileNotFoundError(
                f"7-Scenes split file not found. Expected {path} (one "
                f"'sequenceN' per line) under the scene folder {self.root}."
            )
        return path.read_text(encoding="utf-8-sig")

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
                    depth_path = depth_paths[frame]
                    pose_path = folder / f"frame-{frame:06d}.pose.txt"
                    if not pose_path.is_file():
                        raise FileNotFoundError(
                            f"Pose file missing for {depth_path}: expected "
                            f"{pose_path}."
                        )
                    yield SequenceFrame(
                        frame, depth_path.read_bytes(), pose_path.read_text(),
                        str(depth_path), str(pose_path))
                return
        if archive_path.exists():
            with archive_path.open("rb") as file, _open_zip(
                    file, str(archive_path), archive_path) as zf:
                yield from _zip_frames(zf, str(archive_path), archive_path)
            return
        raise FileNotFoundError(
            f"Sequence {sequence} not found: expected {archive_path} or "
            f"{folder / 'frame-000000.depth.png'} with "
            f"{folder / 'frame-000000.pose.txt'} (and the other frames)."
        )


class _ArchiveScene:
    """An official `<scene>.zip`, with or without the `<scene>/` prefix."""

    def __init__(self, archive, origin, path):
        self.archive = archive
        self.origin = origin
        self.path = path
        # The shallowest split file marks the scene's root inside the zip.
        split_names = [n for n in archive.namelist()
                       if n.rsplit("/", 1)[-1] in SPLIT_FILES.values()]
        if not split_names:
            raise FileNotFoundError(
                f"{origin} holds neither {' nor '.join(SPLIT_FILES.values())}"
                "; is it one of Microsoft's 7-Scenes scene archives?"
            )
        shallowest = min(split_names, key=len)
        self.prefix = shallowest[: len(shallowest)
                                 - len(shallowest.rsplit("/", 1)[-1])]

    def read_text(self, name):
        try:
            with _zip_errors(self.origin, self.path):
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
            with _open_nested_zip(self.archive, nested, self.origin,
                                  self.path) as inner:
                yield from _zip_frames(inner, f"{self.origin}:{nested}",
                                       self.path)
        elif any(name.startswith(folder) for name in names):
            yield from _zip_frames(self.archive, self.origin, self.path,
                                   folder)
        else:
            raise FileNotFoundError(
                f"{self.origin} has neither {nested} nor a {folder} folder."
            )


@contextlib.contextmanager
def open_scene(location):
    """Opens one scene: a `<scene>.zip` archive or an extracted folder.

    Args:
        location: `epath.Path` (or str, or `os.PathLike`) of the archive or
            the folder.

    Yields:
        A reader with `read_text(name)` (e.g. "TrainSplit.txt") and
        `sequence_frames(sequence)`, which yields a `SequenceFrame`
        `(frame, depth PNG bytes, pose text, depth origin, pose origin)` per
        frame, in frame order.

    Raises:
        FileNotFoundError: if `location` does not exist, or a zip holds no
            split file.
        SevenScenesDataError: if `location` is a file but not a zip archive,
            or a corrupt or truncated one (raised when the damaged part is
            read: a `seq-NN.zip` inside it, or a frame). The message names
            the file and where to download it again.
    """
    location = epath.Path(location)
    if location.is_dir():
        yield _FolderScene(location)
        return
    if not location.exists():
        raise FileNotFoundError(
            f"7-Scenes scene not found: {location} does not exist. Expected "
            f"a scene folder ({', '.join(SPLIT_FILES.values())}, seq-NN/ or "
            "seq-NN.zip) or Microsoft's <scene>.zip archive."
        )
    with location.open("rb") as file:
        with _open_zip(file, str(location), location) as archive:
            yield _ArchiveScene(archive, str(location), location)


def read_splits(scene_reader, origin, splits=tuple(SPLIT_FILES)):
    """Returns {split: sequence numbers} of a scene, e.g. {"train": [2, 3]}.

    Args:
        scene_reader: a reader from `open_scene`.
        origin: the scene's location, for error messages.
        splits: the splits to read (default both); only their split files
            are read.

    Raises:
        ValueError: for an unknown split name.
        SevenScenesDataError: for a malformed split file, or a damaged
            archive.
        FileNotFoundError: for a missing split file.
    """
    if isinstance(splits, str):
        splits = (splits,)
    names = {split: split_file_name(split) for split in splits}
    return {
        split: parse_split(scene_reader.read_text(name), f"{origin}/{name}")
        for split, name in names.items()
    }
