"""The equal-effort runs behind the shipped Table 1 presets and the
augmentation study, in the order they were trained.

Table 1's protocol (`spen_keras.denoising.equal_effort`; the command
`spen-keras equal-effort train|select`) trains every learned row at its two
rates and the variants beyond the paper (`dp_3_augmented`,
`dp_3_noise_aware`, `feedforward_convnet_augmented`) at their row's chosen
rate. This experiment adds two things to it:

- the order (`QUEUE`): the rows the paper's claims rest on first, so that a
  sweep cut short already answers them;
- the second fold of the leave-one-sequence-out comparison (`VARIANTS`):
  DP-3 and the feed-forward convnet, each with and without augmentation,
  trained on training sequence 3 and validated on sequence 2 (the protocol
  trains on 2 and validates on 3). `experiments/augmentation_effect.py`
  reads these runs; none of them is shipped.

Resumable like the protocol (kill it and start it again; several workers
can share one runs folder, each takes the next run nobody holds)::

    python -m experiments.equal_effort_queue --runs-dir RUNS --threads 1
    spen-keras equal-effort select --runs-dir RUNS --presets-dir OUT
"""

import argparse
import dataclasses
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from spen_keras.denoising import equal_effort  # noqa: E402
from spen_keras.denoising.denoising_task import protocol_task  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Variant:
    """A run beyond the presets: a protocol preset's model and training
    data (with its augmentation, if any) on other sequences, trained at the
    rate chosen for its Table 1 row."""

    preset: str
    train_sequences: tuple = (3,)
    validation_sequences: tuple = (2,)


VARIANTS = {
    "dp_3_seq3": Variant("dp_3"),
    "dp_3_augmented_seq3": Variant("dp_3_augmented"),
    "feedforward_convnet_seq3": Variant("feedforward_convnet"),
    "feedforward_convnet_augmented_seq3": Variant(
        "feedforward_convnet_augmented"),
}

# The order the workers take runs in: the rows of the paper's claims first.
QUEUE = [
    ("dp_20", 1e-3),
    ("dp_3", 1e-3), ("dp_3", 3e-3),
    ("feedforward_convnet", 1e-3), ("feedforward_convnet", 3e-3),
    ("proximalnet", 1e-3), ("proximalnet", 3e-3),
    ("dp_ssvm", 1e-3), ("dp_ssvm", 3e-3),
    ("dp_20", 3e-3),
    "dp_3_augmented", "dp_3_seq3", "dp_3_augmented_seq3",
    "feedforward_convnet_augmented", "feedforward_convnet_seq3",
    "feedforward_convnet_augmented_seq3",
    ("foe_3", 3e-3), ("foe_3", 1e-2),
    ("foe_3_icnn", 3e-3), ("foe_3_icnn", 1e-2),
    ("dp_3_icnn", 1e-3), ("dp_3_icnn", 3e-3),
    "dp_3_noise_aware",
    ("foe_20_plus", 3e-3), ("foe_20_plus", 1e-2),
    ("foe_20", 3e-3), ("foe_20", 1e-2),
    ("foe_ssvm", 3e-3), ("foe_ssvm", 1e-2),
    ("dp_3_icnn_paper", 1e-3), ("dp_3_icnn_paper", 3e-3),
]


def item_name(item):
    """The row or variant a queue item trains."""
    return item[0] if isinstance(item, tuple) else item


def train_item(item, runs_dir, validation):
    """Trains one queue item: a protocol run (`equal_effort.train_item`) or
    one of `VARIANTS`."""
    if item not in VARIANTS:
        return equal_effort.train_item(item, runs_dir, validation)
    from spen_keras.presets import get_spec

    variant = VARIANTS[item]
    spec = get_spec(variant.preset)
    task = protocol_task(augmentation=spec.recipe.task.augmentation,
                         train_sequences=variant.train_sequences)
    rate = equal_effort.variant_rate(runs_dir,
                                     equal_effort.base_row(variant.preset))
    return equal_effort.train_run(
        spec, rate, runs_dir, validation(variant.validation_sequences),
        task=task, name=item,
        command=f"python -m experiments.equal_effort_queue --rows {item}")


def main(argv=None):
    names = list(dict.fromkeys(item_name(item) for item in QUEUE))
    parser = argparse.ArgumentParser(
        prog="python -m experiments.equal_effort_queue",
        description="Train the equal-effort protocol's runs and the "
                    "leave-one-sequence-out folds, in the queue's order.")
    parser.add_argument("--runs-dir", required=True,
                        help="the runs folder (shared with `spen-keras "
                             "equal-effort select`)")
    parser.add_argument("--rows", nargs="+", default=None, choices=names,
                        metavar="ROW",
                        help="only these rows/variants (default: the whole "
                             "queue)")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow threads of this worker (0: its "
                             "default)")
    args = parser.parse_args(argv)
    equal_effort.limit_threads(args.threads)
    items = [item for item in QUEUE
             if args.rows is None or item_name(item) in args.rows]
    equal_effort.work_queue(args.runs_dir, items, train=train_item)
    return 0


if __name__ == "__main__":
    sys.exit(main())
