"""The `spen-keras` command line."""

import pytest

from spen_keras import cli


def run(argv):
    args = cli.build_parser().parse_args(argv)
    return args.handler(args)


def test_demo_trains_the_dp3_preset_model_and_reports_psnr(capsys):
    figures = run(["demo", "--steps", "3", "--batch-size", "2"])
    out = capsys.readouterr().out
    assert "| noisy input |" in out and "| SPEN DP-3 after 3 steps" in out
    assert "preset dp_3" in out
    # Seeded Kinect-like noise on the embedded test frames: ~29 dB.
    assert 28.0 < figures["noisy"] < 30.0
    assert figures["before"] == pytest.approx(figures["noisy"], abs=0.5)


def test_bad_arguments_exit_with_usage_errors(capsys):
    assert cli.main(["demo", "--steps", "0"]) == 2
    assert "--steps must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["frobnicate"])


def test_family_commands_come_from_the_registry(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("zoo", "train", "denoise", "demo"):
        assert command in out


@pytest.mark.large
def test_demo_default_run_improves_psnr_by_5_db():
    figures = run(["demo"])
    assert figures["after"] > figures["noisy"] + 5.0
