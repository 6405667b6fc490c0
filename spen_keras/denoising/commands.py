"""The denoising family's `spen-keras` commands: `denoise`, `demo`,
`denoise-eval` (presets' PSNR on a user's frames) and `equal-effort` (Table
1's training protocol: `train` its runs, `select` the presets)."""

from spen_keras.presets.family import FamilyCommand
from spen_keras.presets.family import add_data_options
from spen_keras.presets.family import non_negative_int
from spen_keras.presets.family import positive_int


def _configure_denoise(parser):
    parser.add_argument("input", help="a 16-bit depth PNG (millimetres)")
    parser.add_argument("output", help="the denoised 16-bit PNG to write")
    parser.add_argument("--preset", default="dp_3",
                        help="a denoising preset name or a preset folder "
                             "path (default dp_3)")
    parser.add_argument("--overwrite", "--force", action="store_true",
                        dest="overwrite",
                        help="replace an existing output file (never the "
                             "input)")
    parser.add_argument("--noise-sigma", type=float, default=None,
                        metavar="MM", dest="noise_sigma",
                        help="the input's noise standard deviation in "
                             "millimetres at the frame's median depth, for "
                             "a noise-aware preset (default: estimated "
                             "from the frame)")
    parser.add_argument("--allow-implausible", action="store_true",
                        dest="allow_implausible",
                        help="write the output even when the plausibility "
                             "check refuses it (median change above 3 s + 10 "
                             "mm or 95th percentile above 10 s + 50 mm, s the "
                             "frame's noise; docs/denoising_safety.md)")
    parser.add_argument("--always-denoise", action="store_true",
                        dest="always_denoise",
                        help="denoise a frame far quieter than the preset's "
                             "training noise (below 0.2x; 0.12x for BM3D and "
                             "the Filter Forest; `zoo list` shows it) with "
                             "the model anyway, instead of passing it "
                             "through")


def _run_denoise(args):
    from spen_keras.denoising.denoise import DenoisingError
    from spen_keras.denoising.denoise import denoise_file
    from spen_keras.presets.family import check_preset_family

    def report(sigma_mm, depth_mm, given):
        source = "given" if given else "estimated"
        print(f"Noise level of {args.input} ({source}): {sigma_mm:.2f} mm "
              f"at its median depth {depth_mm:.0f} mm.")

    # An SRL or multi-label preset would fail inside the model call.
    check_preset_family(args.preset, "denoising", "denoising",
                        DenoisingError)
    result = denoise_file(args.input, args.output, preset=args.preset,
                          overwrite=args.overwrite,
                          noise_sigma_mm=getattr(args, "noise_sigma", None),
                          on_noise_level=report,
                          allow_implausible=args.allow_implausible,
                          always_denoise=args.always_denoise)
    verb = ("Passed through (unchanged)" if result.action == "passed through"
            else "Denoised")
    print(f"{verb} {args.input} -> {args.output} with preset "
          f"{args.preset} ({result.valid_pixels} valid pixels; median change "
          f"{result.median_change_mm:.0f} mm, frame noise "
          f"{result.noise_mm:.1f} mm).")


def _configure_demo(parser):
    parser.add_argument("--steps", type=positive_int, default=150,
                        help="training steps (default 150)")
    parser.add_argument("--batch-size", type=positive_int, default=4,
                        help="crops per training step (default 4)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="random seed of the initial weights and the "
                             "training crops (default 0)")


def _run_demo(args):
    from spen_keras.denoising.demo import run_demo

    return run_demo(steps=args.steps, batch_size=args.batch_size,
                    seed=args.seed)


def _configure_denoise_eval(parser):
    parser.add_argument("--data-dir", required=True,
                        help="16-bit depth PNGs in millimetres: DIR/*.png "
                             "clean frames (noise added) or DIR/noisy/NAME"
                             ".png + DIR/clean/NAME.png pairs")
    parser.add_argument("--presets", nargs="+", default=["dp_3"],
                        metavar="PRESET",
                        help="denoising preset names or folders to compare "
                             "(default dp_3)")
    add_data_options(parser)
    parser.add_argument("--all-frames", action="store_true",
                        dest="all_frames",
                        help="evaluate every frame of the folder (a test "
                             "folder no preset was trained on)")


def _run_denoise_eval(args):
    from spen_keras.denoising.denoise import DenoisingError
    from spen_keras.denoising.user_data import UserDepthData
    from spen_keras.denoising.user_data import evaluate_presets
    from spen_keras.denoising.user_data import psnr_table
    from spen_keras.presets.family import check_preset_family

    data = UserDepthData(args.data_dir, args.noise_scale,
                         args.holdout_every, all_frames=args.all_frames,
                         noise_sigma=args.noise_sigma,
                         validation_dir=args.validation_dir)
    for preset in args.presets:
        check_preset_family(preset, "denoising", "denoising",
                            DenoisingError)
    print(psnr_table(data, evaluate_presets(data, args.presets)))


def _configure_equal_effort(parser):
    steps = parser.add_subparsers(dest="equal_effort_command", required=True,
                                  metavar="{train,select}")
    train = steps.add_parser(
        "train", help="train the protocol's runs (resumable; several "
                      "workers may share one --runs-dir)")
    train.add_argument("--runs-dir", required=True, metavar="RUNS",
                       help="the runs folder: RUNS/ROW/lr_RATE per run, "
                            "each with its preset, backup and validation "
                            "curve")
    train.add_argument("--rows", nargs="+", default=None, metavar="ROW",
                       help="only these rows (default: every learned "
                            "Table 1 row at both its rates, then the "
                            "augmented and noise-aware variants)")
    train.add_argument("--threads", type=non_negative_int, default=0,
                       help="TensorFlow threads of this worker (default 0: "
                            "TensorFlow's choice; 1 with one worker per "
                            "core)")
    select = steps.add_parser(
        "select", help="write each row's chosen run as a preset, with its "
                       "protocol record")
    select.add_argument("--runs-dir", required=True, metavar="RUNS",
                        help="the runs folder `train` wrote")
    select.add_argument("--presets-dir", required=True, metavar="OUT",
                        help="where the presets go (OUT/ROW)")
    select.add_argument("--rows", nargs="+", default=None, metavar="ROW",
                        help="only these rows (default: every row the "
                             "protocol trains)")
    select.add_argument("--force", action="store_true",
                        help="replace an existing preset folder (kept "
                             "until the new one has loaded)")
    select.add_argument("--partial", action="store_true",
                        help="also select rows whose rate sweep is "
                             "incomplete")


def _run_equal_effort(args):
    from spen_keras.denoising import equal_effort

    rows = args.rows or equal_effort.PROTOCOL_ROWS
    if args.equal_effort_command == "select":
        equal_effort.select(args.runs_dir, args.presets_dir, rows,
                            force=args.force, partial=args.partial)
        return
    runs = equal_effort.protocol_runs(rows)  # checks the rows first
    equal_effort.limit_threads(args.threads)
    equal_effort.work_queue(args.runs_dir, runs)


COMMANDS = [
    FamilyCommand("denoise", "denoise a 16-bit depth PNG with a preset",
                  _configure_denoise, _run_denoise),
    FamilyCommand("demo", "train the DP-3 preset's model briefly on the "
                          "embedded 7-Scenes frames and print PSNR "
                          "before/after", _configure_demo, _run_demo),
    FamilyCommand("denoise-eval", "PSNR of denoising presets on your own "
                                  "depth frames (held-out frames)",
                  _configure_denoise_eval, _run_denoise_eval),
    FamilyCommand("equal-effort", "Table 1's equal-effort training protocol: "
                                  "train the runs, select the presets",
                  _configure_equal_effort, _run_equal_effort),
]
