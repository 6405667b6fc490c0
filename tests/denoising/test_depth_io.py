"""Tests for reading and writing 16-bit depth PNGs."""

import io

import numpy as np
import pytest
from PIL import Image

from spen_keras.datasets.seven_scenes import seven_scenes_archives
from spen_keras.denoising import DepthImageError
from spen_keras.denoising import depth_io
from spen_keras.denoising import embedded_frames_dir
from spen_keras.denoising import read_depth_png
from spen_keras.denoising import write_depth_png


def test_round_trip_keeps_every_uint16_value(tmp_path):
    rng = np.random.default_rng(0)
    depth = rng.integers(0, 65536, size=(37, 53), dtype=np.uint16)
    depth[0, :3] = [0, 1, 65535]
    path = tmp_path / "frame.depth.png"

    write_depth_png(path, depth)
    loaded = read_depth_png(path)

    assert loaded.dtype == np.uint16
    assert loaded.shape == (37, 53)
    np.testing.assert_array_equal(loaded, depth)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.mode.startswith("I;16")


def test_read_accepts_str_path_and_returns_writable_copy(tmp_path):
    depth = np.arange(12, dtype=np.uint16).reshape(3, 4)
    path = tmp_path / "small.png"
    write_depth_png(str(path), depth)
    loaded = read_depth_png(str(path))
    loaded[0, 0] = 7  # must not raise: the array is not Pillow's buffer
    assert loaded[0, 0] == 7


def test_reads_embedded_seven_scenes_frame():
    path = embedded_frames_dir() / "seq-01" / "frame-000000.depth.png"
    depth = read_depth_png(path)
    assert depth.dtype == np.uint16
    assert depth.shape == (480, 640)
    valid = depth[(depth > 0) & (depth < 65535)]
    # Kinect stairs frames: readings between 0.5 m and 5 m.
    assert 500 < valid.min() and valid.max() < 5000


def test_missing_file_raises_file_not_found(tmp_path):
    path = tmp_path / "nope.depth.png"
    with pytest.raises(FileNotFoundError, match="nope.depth.png"):
        read_depth_png(path)


def test_directory_raises_naming_it(tmp_path):
    folder = tmp_path / "frame-000000.depth.png"
    folder.mkdir()
    with pytest.raises(DepthImageError) as info:
        read_depth_png(folder)
    assert str(info.value) == (
        f"Depth image {folder} is a directory, not a depth PNG.")


def test_depth_image_error_is_the_dataset_layers_class():
    # One class, defined beside the one decoder, re-exported by depth_io.
    assert DepthImageError is seven_scenes_archives.DepthImageError
    assert depth_io.DepthImageError is seven_scenes_archives.DepthImageError
    assert issubclass(DepthImageError, ValueError)


def test_empty_file_raises(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(DepthImageError, match="empty") as info:
        read_depth_png(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_corrupt_bytes_raise(tmp_path):
    path = tmp_path / "corrupt.png"
    path.write_bytes(b"this is not an image, just some bytes" * 10)
    with pytest.raises(DepthImageError, match="corrupt") as info:
        read_depth_png(path)
    assert str(path) in str(info.value)


def test_truncated_png_raises(tmp_path):
    source = embedded_frames_dir() / "seq-01" / "frame-000000.depth.png"
    path = tmp_path / "truncated.png"
    path.write_bytes(source.read_bytes()[:300])
    with pytest.raises(DepthImageError, match="truncated.png"):
        read_depth_png(path)


def test_eight_bit_png_raises(tmp_path):
    path = tmp_path / "gray8.png"
    Image.fromarray(np.full((4, 5), 200, np.uint8)).save(path)
    with pytest.raises(DepthImageError) as info:
        read_depth_png(path)
    message = str(info.value)
    assert "8-bit" in message
    assert "a 16-bit depth PNG is expected" in message
    assert str(path) in message


def test_rgb_png_raises(tmp_path):
    path = tmp_path / "color.png"
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(path)
    with pytest.raises(DepthImageError, match="3 channels") as info:
        read_depth_png(path)
    assert str(path) in str(info.value)


def test_sixteen_bit_tiff_is_not_a_png(tmp_path):
    path = tmp_path / "depth.tif"
    Image.fromarray(np.full((4, 5), 1000, np.uint16)).save(path)
    with pytest.raises(DepthImageError, match="not a PNG"):
        read_depth_png(path)


def test_write_rejects_wrong_dtype_and_rank(tmp_path):
    with pytest.raises(TypeError, match="uint16"):
        write_depth_png(tmp_path / "a.png", np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        write_depth_png(tmp_path / "b.png", np.zeros((4, 4, 1), np.uint16))
    assert not (tmp_path / "a.png").exists()
    assert not (tmp_path / "b.png").exists()


def _encoded(array, image_format="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"", "is an empty file"),
        (b"not an image" * 20, "is corrupt or not an image file"),
        (_encoded(np.zeros((4, 5), np.uint16), "TIFF"),
         "is a TIFF file, not a PNG"),
        (_encoded(np.zeros((4, 5), np.uint8)), "is an 8-bit image"),
        (_encoded(np.zeros((4, 5, 3), np.uint8)), "has 3 channels"),
        (_encoded(np.zeros((4, 5, 4), np.uint8)), "has 4 channels"),
    ],
    ids=["empty", "garbage", "tiff", "8-bit", "rgb", "rgba"],
)
def test_decode_depth_png_names_the_origin_in_every_error(data, problem):
    origin = "stairs.zip:stairs/seq-01.zip:seq-01/frame-000000.depth.png"
    with pytest.raises(DepthImageError) as info:
        seven_scenes_archives.decode_depth_png(data, origin)
    assert str(info.value).startswith(f"Depth image {origin} {problem}")


def test_decode_depth_png_equals_read_depth_png(tmp_path):
    path = embedded_frames_dir() / "seq-04" / "frame-000002.depth.png"
    decoded = seven_scenes_archives.decode_depth_png(path.read_bytes(), "x")
    assert decoded.dtype == np.uint16 and decoded.flags.writeable
    np.testing.assert_array_equal(decoded, read_depth_png(path))
