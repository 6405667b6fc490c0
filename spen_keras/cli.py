"""The `spen-keras` command line.

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
    return parser


def main(argv=None):
    _quiet_tensorflow()
    args = build_parser().parse_args(argv)
    if getattr(args, "steps", 1) < 1:
        print("spen-keras: --steps must be >= 1", file=sys.stderr)
        return 2
    args.handler(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
