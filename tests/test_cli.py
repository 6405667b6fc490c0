"""The `spen-keras` command line: in-process for the logic, and through real
subprocesses (the console script a user runs) for what only a process
shows: exit codes, log lines, the backend check, the fast help."""

import argparse
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import spen_keras
import spen_keras_launcher
from spen_keras import cli
from spen_keras.denoising.depth_io import read_depth_png, write_depth_png
from spen_keras.presets.family import list_commands

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


def test_a_backend_that_cannot_differentiate_is_one_line_exit_2(tmp_path):
    done = console(["zoo", "list"], tmp_path, {"KERAS_BACKEND": "numpy"})
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "KERAS_BACKEND='numpy'" in \
        done.stderr and "Traceback" not in done.stderr


@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="JAX is not installed")
def test_the_cli_runs_on_the_jax_backend(tmp_path):
    done = console(["zoo", "list"], tmp_path, {"KERAS_BACKEND": "jax"})
    assert done.returncode == 0, done.stderr
    assert "dp_3" in done.stdout


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
    with subprocess.Popen([sys.executable, "-c", code, "zoo", "list"],
                          cwd=tmp_path, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as process:
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
    (["equal-effort"], "the following arguments are required: "
                       "{train,select}"),
    (["equal-effort", "sweep"], "invalid choice: 'sweep'"),
    (["equal-effort", "train"], "the following arguments are required: "
                                "--runs-dir"),
    (["equal-effort", "train", "--runs-dir", "runs", "--threads", "-1"],
     "argument --threads: -1 is below 0"),
    (["equal-effort", "select", "--runs-dir", "runs"],
     "the following arguments are required: --presets-dir"),
])
def test_bad_arguments_are_one_line_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_equal_effort_help_lists_train_and_select(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["equal-effort", "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: spen-keras equal-effort")
    assert "    train " in out and "    select " in out


@pytest.mark.parametrize("argv, message", [
    (["train", "--rows", "dp_3", "dp_99"],
     "Not a row of the equal-effort protocol: dp_99; its rows: "),
    (["select", "--presets-dir", "{tmp}/out"],
     "No finished run of any row in {tmp}/runs: train first "
     "(spen-keras equal-effort train --runs-dir {tmp}/runs)."),
    (["select", "--presets-dir", "{tmp}/out", "--rows", "dp_3"],
     "No finished run of dp_3 in {tmp}/runs: "),
])
def test_equal_effort_user_errors_are_one_line_exit_2(argv, message,
                                                       tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert cli.main(["equal-effort", argv[0], "--runs-dir",
                     str(tmp_path / "runs"), *argv[1:]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spen-keras: error: " + message.format(
        tmp=tmp_path)), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


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


# === Issue 20: every fault a user meets is one line ===

SRL_SENTENCE = ("The NN (S1(S(NP*) * -\nate VBD (VP* * eat\n"
                "fish NN (NP*)))) * -\n\n")


def one_error_line(capsys, *expected, warnings_too=False):
    """The command's stderr: exactly one line, with every expected piece
    (after any warning lines, with `warnings_too`)."""
    err = capsys.readouterr().err
    if warnings_too:
        err = "".join(line for line in err.splitlines(keepends=True)
                      if not line.startswith("spen-keras: warning: "))
    assert err.startswith("spen-keras: error: ") and err.count("\n") == 1, err
    for piece in expected:
        assert piece in err, err
    return err


@pytest.fixture()
def conll(tmp_path):
    path = tmp_path / "in.conll"
    path.write_text(SRL_SENTENCE)
    return path


@pytest.fixture()
def rows(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(",".join(["0"] * 1836) + "\n")
    return path


@pytest.mark.parametrize("preset, family", [("srl_spen_lp", "srl (table2)"),
                                            ("mlc_bibtex_br", "mlc (mlc)")])
def test_denoise_refuses_another_familys_preset_before_loading_it(
        preset, family, crop, tmp_path, no_model, capsys):
    assert cli.main(["denoise", str(crop), str(tmp_path / "o.png"),
                     "--preset", preset]) == 2
    one_error_line(capsys, f"Preset '{preset}' is not a denoising preset: "
                           f"it belongs to the {family.split()[0]} family",
                   "`spen-keras zoo list --table table1`")
    assert not (tmp_path / "o.png").exists()


def test_a_preset_folders_family_comes_from_its_metadata(crop, tmp_path,
                                                         no_model, capsys):
    folder = tmp_path / "my_srl"
    folder.mkdir()  # its metadata is enough to tell; no model is loaded
    shutil.copy(presets_root() / "srl_spen_h" / "metadata.json", folder)
    assert cli.main(["denoise", str(crop), str(tmp_path / "o.png"),
                     "--preset", str(folder)]) == 2
    one_error_line(capsys, f"Preset '{folder}' is not a denoising preset")


def presets_root():
    from spen_keras import presets

    return presets.shipped_preset_dir("dp_3").parent


def test_srl_label_and_predict_labels_refuse_a_denoising_preset(
        conll, rows, tmp_path, no_model, capsys):
    assert cli.main(["srl-label", str(conll), str(tmp_path / "o.props"),
                     "--preset", "dp_3"]) == 2
    one_error_line(capsys, "Preset 'dp_3' is not a semantic role labelling "
                           "preset", "--table table2")
    assert cli.main(["predict-labels", str(rows), str(tmp_path / "o.csv"),
                     "--preset", "dp_3"]) == 2
    one_error_line(capsys, "Preset 'dp_3' is not a multi-label preset",
                   "--table mlc")


def test_a_read_only_output_folder_is_refused_before_the_model_loads(
        crop, conll, rows, tmp_path, no_model, monkeypatch, capsys):
    from spen_keras.presets import user_files

    # Simulated: root (as in CI containers) may write into any folder.
    monkeypatch.setattr(user_files, "folder_is_writable",
                        lambda folder: pathlib.Path(folder) != tmp_path)
    for argv in (["srl-label", str(conll), str(tmp_path / "o.props")],
                 ["predict-labels", str(rows), str(tmp_path / "o.csv")],
                 ["denoise", str(crop), str(tmp_path / "o.png")]):
        assert cli.main(argv) == 2
        one_error_line(capsys, f"Output folder {tmp_path} is not writable.")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
@pytest.mark.parametrize("command", ["denoise", "srl-label",
                                     "predict-labels"])
def test_an_output_that_cannot_be_written_names_the_users_path(
        command, crop, conll, rows, capsys):
    # /proc passes the permission check as root but refuses new files:
    # found only at write time, after the model ran.
    if command == "denoise":
        argv = [str(crop), "/proc/o.png", "--preset", "foe_3"]
    elif command == "srl-label":
        argv = [str(conll), "/proc/o.props"]
    else:
        argv = [str(rows), "/proc/o.csv", "--preset", "mlc_bibtex_br"]
    assert cli.main([command, *argv]) == 2
    # (denoise may first warn that the crop is quieter than foe_3's noise)
    err = one_error_line(capsys, argv[1], warnings_too=True)
    assert ".part" not in err and "/proc/." not in err


def test_ctrl_c_while_training_is_one_line_naming_the_backup(
        tmp_path, monkeypatch, capsys):
    from spen_keras import presets

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(presets, "train_preset", interrupted)
    assert cli.main(["train", "--preset", "foe_3", "--backup-dir",
                     str(tmp_path / "b")]) == cli.INTERRUPTED == 130
    err = capsys.readouterr().err
    assert err == (f"spen-keras: Training foe_3 was interrupted; run the same "
                   f"command again to resume from its backup in "
                   f"{tmp_path / 'b'}.\n")


def test_ctrl_c_in_any_command_is_one_line_exit_130(monkeypatch, capsys):
    from spen_keras import presets

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(presets, "list_presets", interrupted)
    assert cli.main(["zoo", "list"]) == 130
    assert capsys.readouterr().err == "spen-keras: interrupted.\n"
    # Before any command runs (while TensorFlow loads), in the launcher.
    monkeypatch.setattr(spen_keras_launcher, "_run", interrupted)
    assert spen_keras_launcher.main(["zoo", "list"]) == 130
    assert capsys.readouterr().err == "spen-keras: interrupted.\n"


def test_ctrl_c_during_a_real_training_run(tmp_path):
    import signal

    code = "import sys, spen_keras_launcher; " \
           "sys.exit(spen_keras_launcher.main(sys.argv[1:]))"
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        # Far more steps than can finish before the interrupt, however
        # loaded the machine (500 once finished first under load).
        [sys.executable, "-c", code, "train", "--preset", "foe_3", "--steps",
         "1000000", "--output-dir", "out"], cwd=tmp_path, env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A test run started in the background by a non-interactive shell
        # inherits SIGINT ignored, and Python then installs no
        # KeyboardInterrupt handler: restore the terminal's default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # Interrupt once the first checkpoint is written (training is running).
    checkpoint = tmp_path / "runs" / "backup" / "foe_3" / "checkpoint.npz"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and process.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert err == ("spen-keras: Training foe_3 was interrupted; run the same "
                   "command again to resume from its backup in "
                   "runs/backup/foe_3.\n")
    assert checkpoint.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("output, hint", [
    ("my_br", "./my_br"), ("runs/my_br", "runs/my_br"),
    ("./my_br", "./my_br"), ("../my_br", "../my_br"),
    ("/abs/my_br", "/abs/my_br"), ("dp_3", "./dp_3"), ("~x", "./~x"),
])
def test_load_hint_names_the_folder_as_a_path(output, hint):
    assert cli.load_hint(pathlib.Path(output)) == hint
    assert cli.load_hint(output) == hint


def test_the_printed_load_hint_loads_the_trained_folder(tmp_path,
                                                       monkeypatch, capsys):
    from spen_keras import presets

    # What `train --preset mlc_bibtex_br --output-dir my_br` writes, without
    # training: the shipped folder, copied.
    shutil.copytree(presets_root() / "mlc_bibtex_br", tmp_path / "my_br")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(presets, "train_preset", lambda *a, **k: {
        "our_value": 30.0, "wall_time_s": 1.0})
    assert cli.main(["train", "--preset", "mlc_bibtex_br", "--output-dir",
                     "my_br"]) == 0
    out = capsys.readouterr().out
    assert "load it with load_preset('./my_br')." in out
    assert type(presets.load_preset("./my_br")).__name__ == \
        "MultiLabelClassifier"
    with pytest.raises(presets.PresetError, match="named by a path"):
        presets.load_preset("my_br")  # what the old hint said


# --- every subcommand's --help: complete, and without TensorFlow ---


def subcommand_parsers(parser, path=()):
    """(command words, parser) for the parser and every subcommand."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from subcommand_parsers(sub, path + (name,))


SUBCOMMANDS = [("zoo",), ("zoo", "list"), ("zoo", "reproduce"), ("train",),
               ("denoise",), ("demo",), ("denoise-eval",),
               ("equal-effort",), ("equal-effort", "train"),
               ("equal-effort", "select"), ("srl-label",),
               ("predict-labels",), ("train-labels",)]


def test_every_option_of_every_subcommand_has_help():
    found = []
    for path, parser in subcommand_parsers(cli.build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                assert set(helps) == set(action.choices), path
                missing = [name for name, text in helps.items() if not text]
            else:
                missing = [] if action.help and action.help.strip() and \
                    action.help != argparse.SUPPRESS else [action.dest]
            found.extend(" ".join(path + (name,)) for name in missing)
        assert path == () or path in SUBCOMMANDS, path
    assert found == []


def test_the_fast_help_parser_is_the_registrys():
    from spen_keras.presets.tables import list_tables

    assert {name: list(info["tables"]) for name, info in
            spen_keras.presets.family.list_families().items()} == {
        name: list(tables) for name, tables in
        spen_keras_launcher.FAMILY_TABLES.items()}
    assert list_tables() == [t for f in spen_keras.presets.family.list_families()
                             for t in spen_keras_launcher.FAMILY_TABLES[f]]
    fast = dict(subcommand_parsers(spen_keras_launcher.command_help_parser()))
    full = dict(subcommand_parsers(cli.build_parser()))
    assert set(fast) == set(full) == {(), *SUBCOMMANDS}
    for path, parser in full.items():
        assert fast[path].format_help() == parser.format_help(), path


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_subcommand_help_answers_without_tensorflow(command, tmp_path):
    code = ("import sys, time; started = time.perf_counter()\n"
            "import spen_keras_launcher\n"
            "try:\n"
            "    spen_keras_launcher.main(sys.argv[1:])\n"
            "except SystemExit as done:\n"
            "    status = done.code\n"
            "print(status, 'tensorflow' in sys.modules,\n"
            "      'spen_keras' in sys.modules,\n"
            "      round(time.perf_counter() - started, 2), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *command, "--help"],
                          capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert done.stdout.startswith(f"usage: spen-keras {' '.join(command)}")
    status, tensorflow, package, seconds = done.stderr.split()
    print(f"spen-keras {' '.join(command)} --help: {seconds} s")
    assert (status, tensorflow, package) == ("0", "False", "False")


def test_srl_label_prints_no_onednn_log_line(tmp_path, conll):
    done = console(["srl-label", str(conll), str(tmp_path / "out.props")],
                   tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "Labelled 1 predicates in 1 sentences" in done.stdout
