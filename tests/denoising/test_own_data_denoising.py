"""Denoising on a user's own depth frames (issue 22): `spen-keras train
--data-dir` on clean frames and on noisy/clean pairs, fine-tuning with
--init-from, resume through the one trainer, refusals, one-line errors
naming the file, `denoise-eval`'s table, and docs/own_data_denoising.md's
commands run verbatim. Frames are tiny (32x40), runs a few steps."""

import json
import os
import pathlib
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from spen_keras import cli, load_preset, presets
from spen_keras.denoising import KinectNoiseModel
from spen_keras.denoising import normalize_depth
from spen_keras.denoising import read_depth_png
from spen_keras.denoising import write_depth_png
from spen_keras.denoising.denoising_pipeline import make_evaluation_arrays
from spen_keras.denoising.depth_normalization import denormalize_depth
from spen_keras.denoising.synthetic_depth import write_scene_frames
from spen_keras.denoising.user_data import UserDataError, UserDepthData
from spen_keras.presets.training import build_for_training
from spen_keras.presets.training import for_user_training
from spen_keras.presets.resumable import CHECKPOINT, BackupError

SHAPE = (32, 40)
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """Four clean frames: three to train on, the 4th held out."""
    folder = tmp_path_factory.mktemp("clean")
    write_scene_frames(folder, 4, SHAPE, seed=3)
    return folder


@pytest.fixture(scope="module")
def pairs(tmp_path_factory, frames):
    """noisy/NAME.png + clean/NAME.png of the same frames (Kinect-like noise
    at 2x, as a stand-in for a sensor's)."""
    folder = tmp_path_factory.mktemp("pairs")
    (folder / "noisy").mkdir()
    (folder / "clean").mkdir()
    noise = KinectNoiseModel(scale=55.0)
    for index, path in enumerate(sorted(frames.glob("*.png"))):
        raw = read_depth_png(path)
        noisy, mask = noise.apply_numpy(normalize_depth(raw), raw > 0, index)
        write_depth_png(folder / "noisy" / path.name,
                        denormalize_depth(noisy, mask))
        write_depth_png(folder / "clean" / path.name, raw)
    return folder


def _train(tmp_path, data_dir, *options):
    output = tmp_path / "preset"
    status = cli.main(["train", "--preset", "dp_3", "--data-dir",
                       str(data_dir), "--output-dir", str(output),
                       "--backup-dir", str(tmp_path / "backup"), *options])
    assert status == 0
    return output, json.loads((output / "metadata.json").read_text())


def _outputs(model, frames_dir, **options):
    x, _ = UserDepthData(frames_dir, **options).evaluation_arrays()
    return keras.ops.convert_to_numpy(model(x))


def test_fine_tuning_on_clean_frames_starts_from_the_init_preset(
        frames, tmp_path):
    output, metadata = _train(tmp_path, frames, "--init-from", "dp_3",
                              "--steps", "1", "--learning-rate", "1e-7",
                              "--noise-scale", "1.5")
    assert metadata["init_from"] == "dp_3" and metadata["steps"] == 1
    data = metadata["user_data"]
    assert data["layout"] == "clean" and data["noise_scale"] == 1.5
    assert data["held_out_frames"] == ["frame-003.png"]
    assert len(data["training_frames"]) == 3
    assert "x 1.5" in metadata["training_noise"]["noise_model"]
    noisy = metadata["reference_values"]["noisy input"]
    assert metadata["our_value"] > noisy  # dp_3 denoises these frames
    # One step at a tiny rate: the outputs are dp_3's.
    shipped = _outputs(load_preset("dp_3"), frames, noise_scale=1.5)
    tuned = _outputs(load_preset(str(output)), frames, noise_scale=1.5)
    assert np.abs(tuned - shipped).max() < 1e-4


def test_init_from_sets_every_weight_of_the_model(frames):
    spec = for_user_training(presets.get_spec("dp_3"), data_dir=frames,
                             init_from="dp_3")
    model = build_for_training(spec)
    for mine, shipped in zip(model.get_weights(),
                             load_preset("dp_3").get_weights()):
        np.testing.assert_array_equal(mine, shipped)


def test_training_on_pairs_records_their_real_noise(pairs, tmp_path):
    _, metadata = _train(tmp_path, pairs, "--steps", "2")
    assert metadata["user_data"]["layout"] == "pairs"
    assert metadata["user_data"]["noise_scale"] is None
    assert "init_from" not in metadata
    record = metadata["training_noise"]
    assert record["noise_model"].startswith("real sensor noise")
    # The pairs' noise (2x the benchmark's) is what the record measures.
    from spen_keras.denoising.training_noise import training_noise_record

    expected = training_noise_record(
        UserDepthData(pairs / "clean").training_frames(), (2.0, 2.0))
    ratio = record["estimated_mm"][0] / expected["estimated_mm"][0]
    assert 0.7 < ratio < 1.4


def test_a_pairs_folder_is_evaluated_on_its_own_noisy_frames(pairs):
    data = UserDepthData(pairs)
    x, y = data.evaluation_arrays()
    noisy = read_depth_png(pairs / "noisy" / "frame-003.png")
    assert np.allclose(x[0, ..., 0][noisy > 0],
                       normalize_depth(noisy)[noisy > 0])
    assert np.array_equal(y[0, ..., 0] > 0,
                          read_depth_png(pairs / "clean" /
                                         "frame-003.png") > 0)


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_an_interrupted_run_resumes_and_only_on_the_same_data(
        frames, pairs, tmp_path):
    def train(data_dir, **options):
        return presets.train_preset(
            "dp_3", tmp_path / "out", tmp_path / "backup", steps=2,
            steps_per_epoch=1, verbose=0, data_dir=str(data_dir),
            init_from="dp_3", **options)

    with pytest.raises(KeyboardInterrupt):
        train(frames, callbacks=[_Interrupt()])
    assert (tmp_path / "backup" / CHECKPOINT).is_file()
    with pytest.raises(BackupError, match="another run"):
        train(pairs)  # another data folder: not this backup's run
    metadata = train(frames)
    assert metadata["resumed_at_steps"] == [1]
    assert not (tmp_path / "backup").exists()


def test_an_existing_output_is_refused_without_force(frames, tmp_path,
                                                     capsys):
    (tmp_path / "preset").mkdir()
    (tmp_path / "preset" / "keep.txt").write_text("mine")
    assert cli.main(["train", "--preset", "dp_3", "--data-dir", str(frames),
                     "--init-from", "dp_3", "--output-dir",
                     str(tmp_path / "preset")]) == 2
    error = capsys.readouterr().err.strip()
    assert "already exists" in error and "--force" in error
    assert len(error.splitlines()) == 1
    assert (tmp_path / "preset" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("argv, message", [
    (["--preset", "bm3d", "--data-dir", "{frames}"],
     "--data-dir is not supported"),
    (["--preset", "bm3d", "--init-from", "dp_3"], "cannot be fine-tuned"),
    (["--preset", "foe_3", "--data-dir", "{frames}", "--init-from", "dp_3"],
     "cannot initialise foe_3"),
    (["--preset", "dp_3", "--noise-scale", "2"], "go with --data-dir"),
])
def test_runs_that_cannot_be_done_are_refused_in_one_line(
        argv, message, frames, tmp_path, capsys):
    argv = [a.format(frames=frames) for a in argv]
    assert cli.main(["train", *argv, "--output-dir", str(tmp_path / "o"),
                     "--backup-dir", str(tmp_path / "b")]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1


def _bad_folder(kind, root, frames):
    folder = root / kind
    folder.mkdir()
    first = sorted(frames.glob("*.png"))
    for path in first:
        (folder / path.name).write_bytes(path.read_bytes())
    if kind == "eight_bit":
        Image.fromarray(np.full(SHAPE, 9, np.uint8)).save(
            folder / "frame-001.png")
        return folder, "frame-001.png"
    if kind == "other_size":
        write_depth_png(folder / "frame-002.png",
                        np.full((40, 40), 1500, np.uint16))
        return folder, "frame-002.png"
    if kind == "no_reading":
        write_depth_png(folder / "frame-002.png",
                        np.zeros(SHAPE, np.uint16))
        return folder, "frame-002.png"
    if kind == "unpaired":
        (folder / "noisy").mkdir()
        (folder / "clean").mkdir()
        for path in first:
            (folder / "clean" / path.name).write_bytes(path.read_bytes())
            if path.name != "frame-002.png":
                (folder / "noisy" / path.name).write_bytes(path.read_bytes())
        return folder, "frame-002.png"
    if kind == "only_noisy":
        (folder / "noisy").mkdir()
        return folder, "clean"
    if kind == "empty":
        for path in folder.glob("*.png"):
            path.unlink()
        return folder, "no .png depth frames"
    if kind == "too_few":
        for path in first[2:]:
            (folder / path.name).unlink()
        return folder, "needs at least 4"
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["eight_bit", "other_size", "no_reading",
                                  "unpaired", "only_noisy", "empty",
                                  "too_few"])
@pytest.mark.parametrize("command", ["train", "denoise-eval"])
def test_bad_input_is_one_line_naming_the_file(kind, command, frames,
                                               tmp_path, capsys):
    folder, named = _bad_folder(kind, tmp_path, frames)
    argv = (["train", "--preset", "dp_3", "--output-dir",
             str(tmp_path / "o"), "--backup-dir", str(tmp_path / "b")]
            if command == "train" else ["denoise-eval"])
    assert cli.main([*argv, "--data-dir", str(folder)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    assert error.startswith("spen-keras: error:") and named in error
    assert not (tmp_path / "o").exists()


def test_missing_folder_and_noise_scale_on_pairs_are_refused(pairs,
                                                             tmp_path):
    with pytest.raises(UserDataError, match="does not exist"):
        UserDepthData(tmp_path / "nowhere")
    with pytest.raises(UserDataError, match="clean frames only"):
        UserDepthData(pairs, noise_scale=2.0)
    with pytest.raises(UserDataError, match="positive"):
        UserDepthData(pairs / "clean", noise_scale=-1)


def test_noise_sigma_sets_the_noise_at_the_median_depth(frames):
    """--noise-sigma MM scales the benchmark noise so that its standard
    deviation at the frames' median depth is MM millimetres."""
    data = UserDepthData(frames, noise_sigma=12.0)
    depths = np.concatenate([read_depth_png(p)[read_depth_png(p) > 0]
                             for p in sorted(frames.glob("*.png"))])
    median = float(np.median(depths)) / 5000.0
    assert float(data.noise.sigma(median)) * 5000.0 == pytest.approx(12.0)
    assert data.noise_scale == pytest.approx(
        12.0 / (float(KinectNoiseModel().sigma(median)) * 5000.0))
    assert "--noise-sigma 12 mm" in data.noise_description()
    assert data.record()["noise_sigma_mm"] == 12.0
    with pytest.raises(UserDataError, match="not both"):
        UserDepthData(frames, noise_scale=1.0, noise_sigma=12.0)
    with pytest.raises(UserDataError, match="positive"):
        UserDepthData(frames, noise_sigma=0)


def test_a_validation_folder_holds_the_held_out_frames(frames, pairs,
                                                       tmp_path):
    data = UserDepthData(frames, validation_dir=pairs / "clean")
    assert len(data.training_frames()) == 4  # every --data-dir frame trains
    assert [f["name"] for f in data.held_out_frames()] == sorted(
        p.name for p in (pairs / "clean").glob("*.png"))
    assert data.holdout_every is None
    assert data.record()["validation_dir"] == str((pairs / "clean").resolve())
    assert "held-out frames: the 4 of" in data.split_description()
    with pytest.raises(UserDataError, match="not both"):
        UserDepthData(frames, holdout_every=2, validation_dir=pairs / "clean")
    with pytest.raises(UserDataError, match="one layout for both"):
        UserDepthData(frames, validation_dir=pairs)
    # From the command line: trained on every frame, scored on the folder.
    output, metadata = _train(tmp_path, frames, "--steps", "1",
                              "--validation-dir", str(pairs / "clean"),
                              "--noise-sigma", "20")
    assert len(metadata["user_data"]["training_frames"]) == 4
    assert metadata["user_data"]["validation_dir"] == str(
        (pairs / "clean").resolve())
    assert metadata["user_data"]["noise_sigma_mm"] == 20.0


def test_denoise_eval_prints_the_psnr_table(frames, capsys):
    assert cli.main(["denoise-eval", "--data-dir", str(frames), "--presets",
                     "dp_3", "foe_3", "--noise-scale", "1.5"]) == 0
    out = capsys.readouterr().out
    rows = dict(re.findall(r"^\| (\S+(?: input)?) \| ([\d.]+) \|", out,
                           re.M))
    assert set(rows) == {"noisy input", "dp_3", "foe_3"}
    x, y = UserDepthData(frames, noise_scale=1.5).evaluation_arrays()
    from spen_keras.denoising import psnr

    assert float(rows["noisy input"]) == pytest.approx(
        float(np.nanmean(psnr(y, x))), abs=0.006)
    assert float(rows["dp_3"]) > float(rows["noisy input"])
    assert "1 frame(s)" in out and "every 4th frame" in out


def test_all_frames_evaluates_a_whole_test_folder(frames):
    data = UserDepthData(frames, all_frames=True)
    assert len(data.held_out_frames()) == 4
    x, _ = data.evaluation_arrays()
    same, _ = make_evaluation_arrays(data.frames, data.noise, 1234)
    np.testing.assert_array_equal(x, same)


DOC = ROOT / "docs" / "own_data_denoising.md"


def test_the_docs_commands_run_verbatim(tmp_path):
    """docs/own_data_denoising.md's example: the block marked `bash` runs
    as it is, line by line, in a fresh folder."""
    block = re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.S)
    assert len(block) == 1
    bin_dir = pathlib.Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(["bash", "-e", "-c", block[0]], cwd=tmp_path,
                          env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| ./my_dp_3 |" in done.stdout
    metadata = json.loads((tmp_path / "my_dp_3" / "metadata.json")
                          .read_text())
    assert metadata["init_from"] == "dp_3"
