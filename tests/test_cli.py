"""The `spen-keras` command line: in-process for the logic, and through real
subprocesses (the console script a user runs) for what only a process
shows: exit codes, log lines, the backend check, the fast help."""

import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import spen_keras
import spen_keras_launcher
from spen_keras import cli
from spen_keras.denoising.depth_io import read_depth_png, write_depth_png
from spen_keras.family import list_commands

FRAME = (pathlib.Path(spen_keras.datasets.__file__).parent / "seven_scenes"
         / "embedded" / "stairs" / "seq-04" / "frame-000001.depth.png")


def run(argv):
    args = cli.build_parser().parse_args(argv)
    return args.handler(args)


def console(args, cwd, env=None):
    """Runs the installed console script's code path in a fresh process."""
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}
    environment.update(env or {})
    code = "import sys, spen_keras_launcher; " \
           "sys.exit(spen_keras_launcher.main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd,
                          env=environment, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def crop(tmp_path_factory):
    """A 40x48 crop of a real frame as a 16-bit PNG (millimetres)."""
    path = tmp_path_factory.mktemp("cli") / "crop.png"
    write_depth_png(path, read_depth_png(FRAME)[200:240, 300:348])
    return path


# === Fast paths: no TensorFlow ===


def test_help_and_version_answer_without_importing_tensorflow(tmp_path):
    code = ("import sys, spen_keras_launcher as l; l.main(['--help']); "
            "l.main(['--version']); "
            "print('tensorflow' in sys.modules, 'spen_keras' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage: spen-keras" in done.stdout
    assert f"spen-keras {spen_keras.__version__}" in done.stdout
    assert done.stdout.strip().endswith("False False")


def test_fast_help_lists_every_registered_command():
    assert spen_keras_launcher.VERSION == spen_keras.__version__
    help_text = spen_keras_launcher.fast_help()
    for name in list(list_commands()) + ["zoo list", "zoo reproduce",
                                         "train"]:
        assert f"  {name} " in help_text, name
    assert set(spen_keras_launcher.FAMILY_COMMANDS) == set(list_commands())


def test_another_keras_backend_is_one_line_exit_2(tmp_path):
    done = console(["zoo", "list"], tmp_path, {"KERAS_BACKEND": "jax"})
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "KERAS_BACKEND='jax'" in \
        done.stderr and "Traceback" not in done.stderr


# === Through the console script: no log lines, exit codes ===


def test_console_prints_no_tensorflow_log_lines(tmp_path):
    done = console(["zoo", "list", "--table", "table1"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "| dp_3 | table1 | DP-3 |" in done.stdout


def test_console_user_error_is_one_line_exit_2(tmp_path, crop):
    done = console(["denoise", str(crop), str(tmp_path / "out.jpg")],
                   tmp_path)
    assert done.returncode == 2
    assert done.stderr == (f"spen-keras: error: Output {tmp_path / 'out.jpg'}"
                           " must end in .png: the output is a 16-bit depth "
                           "PNG.\n")


def test_a_reader_that_goes_away_is_not_a_traceback(tmp_path):
    # `spen-keras zoo list | head -0`: the pipe is closed before the
    # command prints anything.
    code = "import sys, spen_keras_launcher; " \
           "sys.exit(spen_keras_launcher.main(sys.argv[1:]))"
    process = subprocess.Popen([sys.executable, "-c", code, "zoo", "list"],
                               cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=600) == 141
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


# === Argument checks ===


@pytest.mark.parametrize("argv, message", [
    (["demo", "--batch-size", "0"], "argument --batch-size: 0 is below 1"),
    (["demo", "--steps", "0"], "argument --steps: 0 is below 1"),
    (["demo", "--seed", "-1"], "argument --seed: -1 is below 0"),
    (["demo", "--steps", "many"], "argument --steps: 'many' is not an "
                                  "integer"),
    (["train", "--preset", "dp_3", "--steps", "-5"], "-5 is below 1"),
    (["zoo", "reproduce", "table1", "--max-examples", "0"], "0 is below 1"),
    (["zoo", "reproduce", "table9"], "invalid choice: 'table9'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_are_one_line_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_unknown_preset_is_one_line_exit_2(capsys):
    assert cli.main(["train", "--preset", "dp_99"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spen-keras: error: ") and "dp_99" in err
    assert err.count("\n") == 1


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == f"spen-keras {spen_keras.__version__}\n"


def test_family_commands_come_from_the_registry(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("zoo", "train", *list_commands()):
        assert command in out


# === denoise: the user's files ===


@pytest.fixture()
def no_model(monkeypatch):
    """Fails the test if a model is loaded (checks must come first)."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the model was loaded before the checks")

    monkeypatch.setattr(spen_keras.presets, "load_preset", forbidden)


@pytest.mark.parametrize("output, message", [
    ("out.jpg", "must end in .png"),
    ("missing/out.png", "Output folder {tmp}/missing does not exist."),
    ("a_dir", "is a directory; give a file name ending in .png"),
])
def test_denoise_checks_the_output_before_the_model_runs(
        output, message, crop, tmp_path, no_model, capsys):
    (tmp_path / "a_dir").mkdir()
    assert cli.main(["denoise", str(crop), str(tmp_path / output)]) == 2
    err = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in err and err.count("\n") == 1


def test_denoise_never_replaces_its_input(crop, tmp_path, no_model, capsys):
    copy = tmp_path / "in.png"
    shutil.copy(crop, copy)
    before = copy.read_bytes()
    assert cli.main(["denoise", str(copy), str(copy), "--overwrite"]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert copy.read_bytes() == before


def test_denoise_replaces_an_existing_output_only_with_overwrite(
        crop, tmp_path, capsys):
    out = tmp_path / "out.png"
    out.write_bytes(b"mine")
    assert cli.main(["denoise", str(crop), str(out), "--preset",
                     "foe_3"]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"mine"
    assert cli.main(["denoise", str(crop), str(out), "--preset", "foe_3",
                     "--overwrite"]) == 0
    denoised = read_depth_png(out)
    assert denoised.shape == (40, 48)
    assert not list(tmp_path.glob("*.part"))  # written atomically


@pytest.mark.parametrize("kind", ["directory", "missing"])
def test_denoise_names_a_bad_input(kind, tmp_path, no_model, capsys):
    source = tmp_path / "frames"
    if kind == "directory":
        source.mkdir()
    assert cli.main(["denoise", str(source), str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    expected = "is a directory" if kind == "directory" else "not found"
    assert expected in err and str(source) in err


def test_denoise_warns_about_depth_in_metres(crop, tmp_path, capsys):
    metres = tmp_path / "metres.png"
    raw = read_depth_png(crop)
    write_depth_png(metres, np.where(raw > 0, np.maximum(raw // 1000, 1),
                                     0).astype(np.uint16))
    assert cli.main(["denoise", str(metres), str(tmp_path / "o.png"),
                     "--preset", "foe_3"]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"spen-keras: warning: {metres}: median depth ")
    assert "expects millimetres" in err


def test_demo_trains_the_dp3_preset_model_and_reports_psnr(capsys):
    figures = run(["demo", "--steps", "3", "--batch-size", "2"])
    out = capsys.readouterr().out
    assert "| noisy input |" in out and "| SPEN DP-3 after 3 steps" in out
    assert "preset dp_3" in out
    # Seeded Kinect-like noise on the embedded test frames: ~29 dB.
    assert 28.0 < figures["noisy"] < 30.0
    assert figures["before"] == pytest.approx(figures["noisy"], abs=0.5)


@pytest.mark.large
def test_demo_default_run_improves_psnr_by_5_db():
    figures = run(["demo"])
    assert figures["after"] > figures["noisy"] + 5.0
