"""The `spen-keras` command line.

    spen-keras zoo list
        The presets, their Table 1 rows, paper and measured PSNR.
    spen-keras zoo reproduce table1 [--retrain] [--output-dir DIR]
        Evaluates every Table 1 row on the embedded 7-Scenes test frames and
        prints a Markdown table beside the paper's numbers, with a figure.
    spen-keras denoise IN.png OUT.png [--preset dp_3]
        Denoises a 16-bit depth PNG; invalid pixels stay invalid.
    spen-keras train --preset NAME [--output-dir DIR] [--steps N]
        Retrains one preset with progress output, checkpoints and resume.
    spen-keras demo [--steps N] [--batch-size B] [--seed S]
        Trains a small DeepPrior SPEN (T = 3) for a few steps on random crops
        of the embedded 7-Scenes training frames and prints the PSNR of the
        noisy input and of the SPEN's output on the embedded test frames,
        before and after training.
"""

import argparse
import os
import sys
import time


def _quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_demo(args):
    """Trains and evaluates the small demo SPEN; returns the PSNR figures."""
    import keras
    import numpy as np

    from spen_keras import (
        SPEN, DeepPriorEnergy, MomentumStep, QuadraticDataEnergy, SumEnergy,
        UnrolledMinimizer,
    )
    from spen_keras.denoising import (
        load_frames, make_evaluation_arrays, make_training_dataset,
    )
    from spen_keras.losses import MaskedMeanSquaredError
    from spen_keras.metrics import PSNR, psnr

    keras.utils.set_random_seed(args.seed)
    train_frames, test_frames = load_frames("train"), load_frames("test")
    print(f"7-Scenes stairs (embedded): {len(train_frames)} training frames, "
          f"{len(test_frames)} test frames, seeded Kinect-like noise.")
    dataset = make_training_dataset(train_frames, crop_size=(96, 128),
                                    batch_size=args.batch_size, seed=args.seed)
    x_test, y_test = make_evaluation_arrays(test_frames)

    energy = SumEnergy([QuadraticDataEnergy(initial_variance=1e-3),
                        DeepPriorEnergy(filters=(16, 16), kernel_sizes=(5, 5))])
    model = SPEN(UnrolledMinimizer(energy, num_steps=3,
                                   step_rule=MomentumStep(0.25),
                                   step_size=1e-4, learn_step_sizes=True))
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=MaskedMeanSquaredError(), metrics=[PSNR()])

    def test_psnr(prediction):
        return float(np.nanmean(psnr(y_test, prediction)))

    noisy = test_psnr(x_test)
    before = test_psnr(model.predict(x_test, batch_size=1, verbose=0))
    epochs = max(1, args.steps // 25)
    started = time.perf_counter()
    model.fit(dataset, steps_per_epoch=max(1, args.steps // epochs),
              epochs=epochs, verbose=2, shuffle=False)
    seconds = time.perf_counter() - started
    after = test_psnr(model.predict(x_test, batch_size=1, verbose=0))

    print()
    print("| test frames (480x640, seq 1 and 4) | PSNR (dB) |")
    print("|---|---|")
    print(f"| noisy input | {noisy:.2f} |")
    print(f"| SPEN DP-3 before training | {before:.2f} |")
    print(f"| SPEN DP-3 after {args.steps} steps ({seconds:.0f} s) | "
          f"{after:.2f} |")
    return {"noisy": noisy, "before": before, "after": after,
            "train_seconds": seconds}


def run_zoo_list(args):
    from spen_keras.zoo import PRESETS, PresetError, read_metadata

    print("| preset | row | paper PSNR | our PSNR | description |")
    print("|---|---|---|---|---|")
    for name, spec in PRESETS.items():
        try:
            ours = f"{read_metadata(name)['our_psnr']:.2f}"
        except PresetError:
            ours = "not trained"
        paper = "-" if spec.paper_psnr is None else f"{spec.paper_psnr:.2f}"
        print(f"| {name} | {spec.row} | {paper} | {ours} | "
              f"{spec.description} |")


def run_zoo_reproduce(args):
    from spen_keras.denoising import load_frames, make_evaluation_arrays
    from spen_keras.zoo.table1 import reproduce_table1

    if args.data_dir:
        from spen_keras.zoo.evaluation_data import load_evaluation_data

        x, y, label = load_evaluation_data(args.data_dir, args.max_frames)
    else:
        x, y = make_evaluation_arrays(load_frames("test"))
        label = "embedded 7-Scenes stairs test"
    started = time.perf_counter()
    table = reproduce_table1(x, y, args.output_dir, retrain=args.retrain,
                             data_label=label,
                             log=lambda line: print(line, file=sys.stderr))
    print(table)
    print(f"\nWrote {args.output_dir}/table1.md, figure1.png and "
          f"psnr_by_iteration.png in {time.perf_counter() - started:.0f} s.")


def run_denoise(args):
    import numpy as np

    from spen_keras.denoising import (
        denormalize_depth, fill_invalid, normalize_depth, read_depth_png,
        valid_mask, write_depth_png,
    )
    from spen_keras.zoo import load_preset

    raw = read_depth_png(args.input)
    mask = valid_mask(raw)
    if not mask.any():
        raise SystemExit(f"spen-keras: {args.input} has no valid depth pixel.")
    x = fill_invalid(normalize_depth(raw), mask)[None, ..., None]
    model = load_preset(args.preset)
    y = model(x.astype(np.float32)).numpy()[0, ..., 0]
    # Pixels without a reading keep their original code (0 or 65535).
    out = np.where(mask, denormalize_depth(y, mask), raw).astype(np.uint16)
    write_depth_png(args.output, out)
    print(f"Denoised {args.input} -> {args.output} with preset "
          f"{args.preset} ({int(mask.sum())} valid pixels).")


def run_train(args):
    import pathlib

    from spen_keras.zoo import PRESETS_DIR, get_spec
    from spen_keras.zoo.baseline_preset import BaselinePreset
    from spen_keras.zoo.preset_training import train_preset

    spec = get_spec(args.preset)
    output = pathlib.Path(args.output_dir or PRESETS_DIR / spec.name)
    backup = pathlib.Path(args.backup_dir or
                          pathlib.Path("runs") / "backup" / spec.name)
    command = " ".join(["spen-keras"] + sys.argv[1:]) if args.record_argv \
        else f"spen-keras train --preset {spec.name}"
    steps = args.steps or spec.steps
    print(f"Training {spec.name} ({spec.row})"
          + (f" for {steps} steps" if steps else "")
          + f"; resumable backup in {backup}.")
    if isinstance(spec, BaselinePreset):
        metadata = spec.fit(output, backup, steps=args.steps, command=command)
    else:
        metadata = train_preset(spec, output, backup, steps=args.steps,
                                command=command)
    print(f"{spec.row}: {metadata['our_psnr']:.2f} dB on the test frames "
          f"(paper {spec.paper_psnr}); {metadata['wall_time_s']:.0f} s. "
          f"Preset written to {output}.")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="spen-keras",
        description="Structured Prediction Energy Networks in Keras.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="train a small denoising SPEN on the embedded 7-Scenes "
                     "frames and print PSNR before/after",
    )
    demo.add_argument("--steps", type=int, default=150,
                      help="training steps (default 150, about a minute)")
    demo.add_argument("--batch-size", type=int, default=4)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(handler=run_demo)

    zoo = commands.add_parser("zoo", help="pretrained presets")
    zoo_commands = zoo.add_subparsers(dest="zoo_command", required=True)
    zoo_commands.add_parser("list", help="list the presets").set_defaults(
        handler=run_zoo_list)
    reproduce = zoo_commands.add_parser(
        "reproduce", help="reproduce a table of the paper")
    reproduce.add_argument("table", choices=["table1"])
    reproduce.add_argument("--retrain", action="store_true",
                           help="retrain every row first (about 70 min)")
    reproduce.add_argument("--data-dir", default=None,
                           help="a full 7-Scenes or ProximalNet data folder "
                                "instead of the embedded frames")
    reproduce.add_argument("--max-frames", type=int, default=60,
                           help="with --data-dir: evaluate at most this many "
                                "test frames, evenly spaced (default 60)")
    reproduce.add_argument("--output-dir", default="outputs/table1")
    reproduce.set_defaults(handler=run_zoo_reproduce)

    denoise = commands.add_parser("denoise", help="denoise a 16-bit depth PNG")
    denoise.add_argument("input")
    denoise.add_argument("output")
    denoise.add_argument("--preset", default="dp_3")
    denoise.set_defaults(handler=run_denoise)

    train = commands.add_parser("train", help="(re)train one preset")
    train.add_argument("--preset", required=True)
    train.add_argument("--output-dir", default=None,
                       help="preset folder to write (default: the shipped one)")
    train.add_argument("--backup-dir", default=None,
                       help="resumable checkpoint folder "
                            "(default runs/backup/NAME)")
    train.add_argument("--steps", type=int, default=None,
                       help="override the preset's training steps")
    train.add_argument("--record-argv", action="store_true",
                       help="record this exact command line in the metadata")
    train.set_defaults(handler=run_train)
    return parser


def main(argv=None):
    _quiet_tensorflow()
    args = build_parser().parse_args(argv)
    steps = getattr(args, "steps", None)
    if steps is not None and steps < 1:
        print("spen-keras: --steps must be >= 1", file=sys.stderr)
        return 2
    from spen_keras.denoising import DepthImageError
    from spen_keras.zoo import PresetError

    try:
        args.handler(args)
    except (DepthImageError, PresetError, FileNotFoundError) as error:
        print(f"spen-keras: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
