"""The seven_scenes TFDS builder: full builds on dummy_data, layouts, errors.

The TFDS conformance tests live beside the builder, as TFDS lays builders
out (datasets/seven_scenes/seven_scenes_dataset_builder_test.py); the
default run collects them through tests/datasets/test_seven_scenes_conformance.py.
"""

import contextlib
import io
import shutil
import time
import types
import zipfile
from unittest import mock

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from spen_keras.datasets.seven_scenes import make_dummy_data
from spen_keras.datasets.seven_scenes import proximalnet_pairs
from spen_keras.datasets.seven_scenes import (
    seven_scenes_dataset_builder as ssb)
from spen_keras.denoising import DepthImageError
from spen_keras.denoising import embedded_frames_dir
from spen_keras.denoising import load_frames
from spen_keras.denoising import read_depth_png
from spen_keras.denoising import write_depth_png

DUMMY = make_dummy_data.HERE / "dummy_data"
STAIRS = embedded_frames_dir()


def _build(tmp_path, config, manual_dir, **download_kwargs):
    """Builds into a fresh data_dir; returns {split: {key: example}}.

    `manual_dir=None` gives no manual_dir (missing scenes are downloaded).
    """
    builder = ssb.Builder(config=config, data_dir=tmp_path / "data")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=None if manual_dir is None else str(manual_dir),
        compute_stats=tfds.download.ComputeStatsMode.SKIP, **download_kwargs))
    out = {}
    for split in builder.info.splits:
        examples = tfds.as_numpy(builder.as_dataset(split=split))
        if config == "proximalnet":
            out[split] = {ex["id"].decode(): ex for ex in examples}
        else:
            out[split] = {(int(ex["sequence"]), int(ex["frame"])): ex
                          for ex in examples}
    return out


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("official"),
                  ssb.official_config(["stairs"]), DUMMY)


def test_official_splits_follow_trainsplit_and_testsplit(official):
    assert sorted(official["train"]) == [(s, f) for s in (2, 3)
                                         for f in range(3)]
    assert sorted(official["test"]) == [(s, f) for s in (1, 4)
                                        for f in range(3)]


def test_depth_and_pose_equal_the_shipped_files_exactly(official):
    for split in ("train", "test"):
        for (sequence, frame), example in official[split].items():
            stem = STAIRS / f"seq-{sequence:02d}" / f"frame-{frame:06d}"
            assert example["depth"].dtype == np.uint16
            np.testing.assert_array_equal(
                example["depth"][..., 0],
                read_depth_png(f"{stem}.depth.png"))
            np.testing.assert_array_equal(
                example["pose"], np.loadtxt(f"{stem}.pose.txt"))
            assert example["scene"] == ssb.SCENES.index("stairs")


def _extracted_scene(tmp_path):
    root = tmp_path / "manual"
    shutil.copytree(STAIRS, root / "stairs")
    return root


def _scene_folder_with_sequence_zips(tmp_path):
    root = tmp_path / "manual"
    with zipfile.ZipFile(DUMMY / "stairs.zip") as archive:
        archive.extractall(root)
    return root


def _archive_without_prefix(tmp_path):
    root = tmp_path / "manual"
    root.mkdir()
    with zipfile.ZipFile(DUMMY / "stairs.zip") as src, zipfile.ZipFile(
            root / "stairs.zip", "w") as dst:
        for name in src.namelist():
            dst.writestr(name.split("/", 1)[1], src.read(name))
    return root


@pytest.mark.parametrize("layout", [_extracted_scene,
                                    _scene_folder_with_sequence_zips,
                                    _archive_without_prefix])
def test_other_manual_dir_layouts_give_the_same_examples(
        tmp_path, official, layout):
    built = _build(tmp_path, ssb.official_config(["stairs"]),
                   layout(tmp_path))
    for split in ("train", "test"):
        assert built[split].keys() == official[split].keys()
        for key, example in built[split].items():
            np.testing.assert_array_equal(example["depth"],
                                          official[split][key]["depth"])


def test_dummy_zip_holds_the_shipped_files_byte_for_byte():
    with zipfile.ZipFile(DUMMY / "stairs.zip") as scene:
        assert scene.read("stairs/TrainSplit.txt") == (
            STAIRS / "TrainSplit.txt").read_bytes()
        for sequence in range(1, 5):
            name = f"stairs/seq-{sequence:02d}.zip"
            assert scene.getinfo(name).compress_type == zipfile.ZIP_STORED
            with zipfile.ZipFile(io.BytesIO(scene.read(name))) as inner:
                assert len(inner.namelist()) == 6
                for member in inner.namelist():
                    assert inner.read(member) == (STAIRS / member).read_bytes()


def test_make_dummy_data_reproduces_the_committed_files():
    files = make_dummy_data.build()
    committed = {p.relative_to(DUMMY).as_posix(): p.read_bytes()
                 for p in DUMMY.rglob("*") if p.is_file()}
    assert files == committed


def test_proximalnet_build_reads_the_pairs_exactly(tmp_path):
    built = _build(tmp_path, "proximalnet", DUMMY)
    assert {s: len(v) for s, v in built.items()} == {"train": 2,
                                                      "validation": 1}
    for split in built.values():
        for noisy_name, example in split.items():
            clean_name = noisy_name.replace("/noisy/", "/clean/")
            for feature, name in (("noisy", noisy_name),
                                  ("clean", clean_name)):
                expected = proximalnet_pairs.decode_int16_depth(
                    (DUMMY / name).read_bytes(), name)
                assert example[feature].dtype == np.int16
                np.testing.assert_array_equal(example[feature][..., 0],
                                              expected)


@contextlib.contextmanager
def _no_download():
    """Fails the test on any download attempt; yields the recorded calls."""
    calls = []

    def forbidden(*args, **kwargs):
        calls.append((args, kwargs))
        raise AssertionError(f"download attempted: {args} {kwargs}")

    with mock.patch.object(tfds.download.DownloadManager, "download",
                           forbidden), mock.patch(
            "tensorflow_datasets.core.download.downloader._open_url",
            forbidden):
        yield calls


def _assert_lists_every_path_and_address(message, manual, scenes):
    for scene in scenes:
        assert str(manual / f"{scene}.zip") in message
        assert str(manual / scene) in message
        assert ssb.archives.download_url(scene) in message


def test_missing_scenes_error_lists_every_path_and_address(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    shutil.copy(DUMMY / "stairs.zip", manual)
    with _no_download() as calls, pytest.raises(
            ssb.SevenScenesDataMissingError) as info:
        _build(tmp_path, "official", manual)
    assert calls == []
    message = str(info.value)
    _assert_lists_every_path_and_address(message, manual, ssb.SCENES)
    assert "[found]" in message and message.count("[MISSING]") == 6
    assert "nothing was downloaded because a manual_dir was given" in message


@pytest.mark.parametrize("state", ["does not exist", "is empty"])
def test_given_manual_dir_without_the_data_fails_fast_without_download(
        tmp_path, state):
    manual = tmp_path / "manual"
    if state == "is empty":
        manual.mkdir()
    config = ssb.official_config(["chess", "stairs"])
    start = time.monotonic()
    with _no_download() as calls, pytest.raises(
            ssb.SevenScenesDataMissingError) as info:
        _build(tmp_path, config, manual)
    seconds = time.monotonic() - start
    assert calls == []
    # It was 204 s of download retries without network.
    assert seconds < 15, seconds
    message = str(info.value)
    assert f"not in manual_dir {manual} ({state})" in message
    _assert_lists_every_path_and_address(message, manual, config.scenes)
    assert message.count("[MISSING]") == 2


def test_without_manual_dir_a_failed_download_is_reported(tmp_path):
    offline = mock.patch.object(tfds.download.DownloadManager, "download",
                                side_effect=ConnectionError("offline"))
    with offline as download, pytest.raises(
            ssb.SevenScenesDataMissingError) as info:
        _build(tmp_path, ssb.official_config(["stairs"]), None)
    assert download.call_count == 1
    message = str(info.value)
    assert "the download failed (ConnectionError: offline)" in message
    _assert_lists_every_path_and_address(
        message, tmp_path / "data" / "downloads" / "manual", ["stairs"])


def test_missing_proximalnet_manual_dir_is_reported_not_crashed_on(tmp_path):
    with pytest.raises(ssb.SevenScenesDataMissingError) as info:
        _build(tmp_path, "proximalnet", tmp_path / "nope")
    assert "train.lst" in str(info.value) and "val.lst" in str(info.value)


def test_proximalnet_error_lists_missing_pair_files(tmp_path):
    (tmp_path / "train.lst").write_text("_  a/noisy.bin   a/clean.bin \r\n")
    (tmp_path / "val.lst").write_text("\n")
    with pytest.raises(ssb.SevenScenesDataMissingError) as info:
        _build(tmp_path, "proximalnet", tmp_path)
    assert str(tmp_path / "a/noisy.bin") in str(info.value)
    assert str(tmp_path / "a/clean.bin") in str(info.value)


def test_restricting_scenes():
    config = ssb.official_config(["stairs", "chess"])
    assert config.scenes == ("chess", "stairs")
    assert config.name == "official_chess_stairs"
    assert ssb.Builder.builder_configs["official"].scenes == ssb.SCENES
    with pytest.raises(ValueError, match="kitchen"):
        ssb.official_config(["kitchen"])


@contextlib.contextmanager
def _serve(url_to_file):
    """Answers TFDS's HTTP requests from local files: no network needed."""
    @contextlib.contextmanager
    def fake_open_url(url, **kwargs):
        del kwargs
        data = url_to_file[url].read_bytes()
        yield types.SimpleNamespace(url=url, headers={}), [data]

    with mock.patch("tensorflow_datasets.core.download.downloader._open_url",
                    fake_open_url):
        yield


def test_download_with_unregistered_checksum_succeeds(tmp_path):
    url = ssb.archives.download_url("stairs")
    assert ssb.Builder.url_infos == {}  # checksums.tsv: comments only.
    with _serve({url: DUMMY / "stairs.zip"}):
        built = _build(tmp_path, ssb.official_config(["stairs"]), None)
    assert len(built["train"]) == 6 and len(built["test"]) == 6


def test_forced_checksum_validation_refuses_the_unregistered_url(tmp_path):
    url = ssb.archives.download_url("stairs")
    with _serve({url: DUMMY / "stairs.zip"}), pytest.raises(
            ssb.SevenScenesDataMissingError, match="Missing checksums url"):
        _build(tmp_path, ssb.official_config(["stairs"]), None,
               force_checksums_validation=True)


def test_pair_list_parsing_and_header_detection():
    text = "_ n1 c1\r\n\n  _\tn2   c2  \nn3 c3\n"
    assert proximalnet_pairs.parse_pair_list(text, "x") == [
        (1, "n1", "c1"), (3, "n2", "c2"), (4, "n3", "c3")]
    with pytest.raises(ValueError, match="x, line 1"):
        proximalnet_pairs.parse_pair_list("a b c d\n", "x")
    depth = np.array([[-1, 0, 32767], [5, 6, 7]], np.int16)
    for header in ("<i4", "<i2"):
        data = proximalnet_pairs.encode_int16_depth(depth, header)
        np.testing.assert_array_equal(
            proximalnet_pairs.decode_int16_depth(data, "f"), depth)
    with pytest.raises(ValueError, match="neither an int32"):
        proximalnet_pairs.decode_int16_depth(data + b"\0", "f")


def test_the_package_exports_the_builder():
    import spen_keras.datasets.seven_scenes as package
    assert package.Builder is ssb.Builder
    assert package.official_config is ssb.official_config
    assert package.SevenScenesDataError is ssb.archives.SevenScenesDataError


# Raw byte layout of each Pillow mode in the decoder's list.
_MODE_DTYPES = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2",
                "I;16N": "=u2", "I": "=i4", "F": "=f4"}


def _open_as(monkeypatch, mode, values):
    """Makes Image.open give a PNG image in `mode` holding `values`."""
    real_open = Image.open

    def open_as_mode(fp, *args, **kwargs):
        real_open(fp, *args, **kwargs).close()  # still a real PNG on disk
        image = Image.frombytes(mode, values.shape[::-1],
                                values.astype(_MODE_DTYPES[mode]).tobytes())
        image.format = "PNG"
        return image

    monkeypatch.setattr(Image, "open", open_as_mode)


def _both_decoders(path):
    """What read_depth_png and the builder's decoder make of one file."""
    results = []
    for decode in (read_depth_png, lambda p: ssb.archives.decode_depth_png(
            p.read_bytes(), str(p))):
        try:
            results.append(decode(path))
        except DepthImageError as error:
            results.append(error)
    return results


def test_a_real_sixteen_bit_png_opens_in_a_listed_mode(tmp_path):
    path = tmp_path / "frame.depth.png"
    write_depth_png(path, np.zeros((2, 3), np.uint16))
    with Image.open(path) as image:
        assert image.mode in ssb.archives.DEPTH_PNG_MODES


@pytest.mark.parametrize("mode", ssb.archives.DEPTH_PNG_MODES)
def test_builder_and_read_depth_png_accept_every_listed_mode(
        tmp_path, monkeypatch, mode):
    values = np.array([[0, 1200, 65535], [4000, 1, 65534]])
    path = tmp_path / "frame.depth.png"
    write_depth_png(path, values.astype(np.uint16))
    _open_as(monkeypatch, mode, values)
    for decoded in _both_decoders(path):
        assert isinstance(decoded, np.ndarray), decoded
        assert decoded.dtype == np.dtype(np.uint16)  # native byte order
        np.testing.assert_array_equal(decoded, values)


@pytest.mark.parametrize("mode, values, problem", [
    ("F", np.ones((2, 3)), "has unsupported pixel mode 'F'"),
    ("I", np.array([[0, 65536, 1]]), "holds values outside the 16-bit range"),
    ("I", np.array([[0, -1, 1]]), "holds values outside the 16-bit range"),
])
def test_builder_and_read_depth_png_reject_the_same_modes_and_values(
        tmp_path, monkeypatch, mode, values, problem):
    path = tmp_path / "frame.depth.png"
    write_depth_png(path, np.zeros(values.shape, np.uint16))
    _open_as(monkeypatch, mode, values)
    for error in _both_decoders(path):
        assert isinstance(error, DepthImageError)
        assert str(error).startswith(f"Depth image {path} {problem}")


def _bad_png_cases():
    rng = np.random.default_rng(7)
    depth16 = rng.integers(0, 65536, size=(480, 640), dtype=np.uint16)
    return {
        "8-bit": (np.full((480, 640), 200, np.uint8), "is an 8-bit image"),
        "rgb": (np.zeros((480, 640, 3), np.uint8), "has 3 channels"),
        "I;16": (depth16, None),
    }


@pytest.mark.parametrize("case", sorted(_bad_png_cases()))
def test_every_reader_rejects_the_same_bad_pngs_naming_the_file(
        tmp_path, case):
    pixels, problem = _bad_png_cases()[case]
    manual = _extracted_scene(tmp_path)
    path = manual / "stairs" / "seq-02" / "frame-000001.depth.png"
    Image.fromarray(pixels).save(path)
    if pixels.dtype == np.uint16:
        with Image.open(path) as image:
            assert image.mode == "I;16"
    readers = {
        "read_depth_png": lambda: read_depth_png(path),
        "load_frames": lambda: load_frames("train", root=manual / "stairs"),
        "builder": lambda: _build(
            tmp_path, ssb.official_config(["stairs"]), manual),
    }
    results = {}
    for name, read in readers.items():
        if problem is None:
            results[name] = read()
            continue
        with pytest.raises(DepthImageError) as info:
            read()
        assert f"Depth image {path} {problem}" in str(info.value), name
    if problem is None:
        np.testing.assert_array_equal(results["read_depth_png"], pixels)
        loaded = {(f["sequence"], f["frame"]): f["raw"]
                  for f in results["load_frames"]}
        np.testing.assert_array_equal(loaded[(2, 1)], pixels)
        np.testing.assert_array_equal(
            results["builder"]["train"][(2, 1)]["depth"][..., 0], pixels)


def test_bad_png_inside_an_archive_is_named_by_its_member(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((480, 640, 3), np.uint8)).save(buffer, "PNG")
    with zipfile.ZipFile(DUMMY / "stairs.zip") as src, zipfile.ZipFile(
            manual / "stairs.zip", "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "stairs/seq-03.zip":
                inner_buffer = io.BytesIO()
                with zipfile.ZipFile(io.BytesIO(data)) as inner, \
                        zipfile.ZipFile(inner_buffer, "w") as new_inner:
                    for member in inner.namelist():
                        new_inner.writestr(
                            member, buffer.getvalue()
                            if member == "seq-03/frame-000002.depth.png"
                            else inner.read(member))
                data = inner_buffer.getvalue()
            dst.writestr(name, data)
    member = (f"{manual / 'stairs.zip'}:stairs/seq-03.zip:"
              "seq-03/frame-000002.depth.png")
    expected = f"Depth image {member} has 3 channels"
    with pytest.raises(DepthImageError, match="3 channels") as info:
        load_frames("train", root=manual / "stairs.zip")
    assert expected in str(info.value)
    with pytest.raises(DepthImageError) as info:
        _build(tmp_path, ssb.official_config(["stairs"]), manual)
    assert expected in str(info.value)


# === damaged archives ===

def _damaged_scene_zip(tmp_path, damage):
    """manual/stairs.zip: the dummy archive with one kind of damage."""
    manual = tmp_path / "manual"
    manual.mkdir(exist_ok=True)
    data = bytearray((DUMMY / "stairs.zip").read_bytes())
    if damage == "flipped byte":
        # Inside the stored seq-03.zip member (train split): a CRC error.
        with zipfile.ZipFile(DUMMY / "stairs.zip") as archive:
            info = archive.getinfo("stairs/seq-03.zip")
        data[info.header_offset + info.compress_size // 2] ^= 0xFF
    elif damage.startswith("truncated"):
        # 30%: the tail holds a whole stored seq-NN.zip, whose end record
        # zipfile would take for the scene archive's.
        data = data[:int(len(data) * float(damage.split()[1]) / 100)]
    elif damage == "not a zip":
        data = b"<html>404 Not Found</html>"
    (manual / "stairs.zip").write_bytes(bytes(data))
    return manual


def _assert_names_file_and_remedy(error, origin, remedy):
    message = str(error)
    assert isinstance(error, ssb.SevenScenesDataError), repr(error)
    assert "\n" not in message
    assert message.startswith(f"{origin} is "), message
    assert remedy in message, message


@pytest.mark.parametrize("damage", ["flipped byte", "truncated 30",
                                    "truncated 70", "truncated 99.9",
                                    "not a zip"])
def test_a_damaged_scene_zip_is_named_with_what_to_do(tmp_path, damage):
    manual = _damaged_scene_zip(tmp_path, damage)
    path = manual / "stairs.zip"
    remedy = f"re-download it from {ssb.archives.download_url('stairs')}"
    with pytest.raises(ssb.SevenScenesDataError) as info:
        load_frames("train", root=path)
    _assert_names_file_and_remedy(info.value, path, remedy)
    assert not isinstance(info.value, zipfile.BadZipFile)


@pytest.mark.parametrize("damage", ["flipped byte", "truncated 30"])
def test_the_builder_reports_a_damaged_scene_zip(tmp_path, damage):
    manual = _damaged_scene_zip(tmp_path, damage)
    with pytest.raises(ssb.SevenScenesDataError) as info:
        _build(tmp_path, ssb.official_config(["stairs"]), manual)
    _assert_names_file_and_remedy(info.value, manual / "stairs.zip",
                                  "re-download it from")


def test_a_damaged_sequence_zip_in_a_scene_folder_is_named(tmp_path):
    manual = _scene_folder_with_sequence_zips(tmp_path)
    sequence_zip = manual / "stairs" / "seq-03.zip"
    sequence_zip.write_bytes(sequence_zip.read_bytes()[:-5000])
    remedy = ("re-extract seq-03.zip from Microsoft's stairs.zip, or "
              f"re-download {ssb.archives.download_url('stairs')}")
    with pytest.raises(ssb.SevenScenesDataError) as info:
        load_frames("train", root=manual / "stairs")
    _assert_names_file_and_remedy(info.value, sequence_zip, remedy)
    with pytest.raises(ssb.SevenScenesDataError) as info:
        _build(tmp_path, ssb.official_config(["stairs"]), manual)
    _assert_names_file_and_remedy(info.value, sequence_zip, remedy)


def test_a_sequence_member_that_is_not_a_zip_is_named(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    with zipfile.ZipFile(DUMMY / "stairs.zip") as src, zipfile.ZipFile(
            manual / "stairs.zip", "w") as dst:
        for name in src.namelist():
            dst.writestr(name, b"garbage" if name == "stairs/seq-02.zip"
                         else src.read(name))
    with pytest.raises(ssb.SevenScenesDataError) as info:
        load_frames("train", root=manual / "stairs.zip")
    _assert_names_file_and_remedy(
        info.value, f"{manual / 'stairs.zip'}:stairs/seq-02.zip",
        f"re-download it from {ssb.archives.download_url('stairs')}")


def test_damaged_data_is_a_user_error_of_the_cli(tmp_path, capsys):
    from spen_keras import cli
    from spen_keras.presets.family import user_errors

    assert ssb.SevenScenesDataError in user_errors()
    manual = _damaged_scene_zip(tmp_path, "truncated 70")
    # A scene other than the presets' training scene (stairs), which the
    # cross-scene evaluation would leave out.
    (manual / "stairs.zip").rename(manual / "chess.zip")
    assert cli.main(["zoo", "reproduce", "table1", "--data-dir", str(manual),
                     "--output-dir", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    assert f"{manual / 'chess.zip'} is not a readable zip archive" in error
