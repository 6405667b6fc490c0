"""The `spen-keras` command line: argument parsing and calls, nothing else.

The tables offered by `zoo reproduce` and the family commands (here
`denoise` and `demo` from the denoising family, `srl-label` from the srl
family) come from the registry.

    spen-keras zoo list [--table TABLE]
        The registered presets: table, row, paper and measured value.
    spen-keras zoo reproduce TABLE [--retrain] [--data-dir DIR] [--output-dir DIR]
        Evaluates every row of a registered table and prints it beside the
        paper's numbers, with the paper's claims checked and figures.
    spen-keras train --preset NAME [--output-dir DIR] [--steps N] [--force]
                     [--data-dir DIR] [--strategy default|mirrored|multiworker]
                     [--init-from PRESET] [--learning-rate R]
                     [--noise-scale S] [--holdout-every K]
        Trains one preset into a user preset folder (never the shipped one),
        with progress, checkpoints and resume; on every local GPU (or
        logical CPU) with --strategy mirrored, or on a cluster named by
        TF_CONFIG with --strategy multiworker (one command per worker).
        With --data-dir on the user's data, and with --init-from starting
        from every weight of a preset (fine-tuning).
    spen-keras denoise IN.png OUT.png [--preset dp_3] [--force]
        (denoising family) Denoises a 16-bit depth PNG with any denoising
        preset.
    spen-keras demo [--steps N] [--batch-size B] [--seed S]
        (denoising family) Trains the DP-3 preset's model briefly on the
        embedded 7-Scenes frames and prints the test PSNR before and after.
    spen-keras srl-label IN OUT [--preset srl_spen_lp] [--decoder h|lp|ilp]
        (srl family) Labels the predicates of a CoNLL-format file and writes
        the props format; scores it when the file has gold columns.
"""

import argparse
import os
import sys
import time
import warnings

from spen_keras.presets.family import DATA_OPTIONS
from spen_keras.presets.family import DEFAULT_USER_PRESETS
from spen_keras.presets.family import load_hint
from spen_keras.presets.family import add_data_options
from spen_keras.presets.family import positive_int
from spen_keras.presets.family import run_folders

#: The exit status of a command stopped by Ctrl-C (128 + SIGINT, as shells
#: report it).
INTERRUPTED = 130


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, with every usage error on one line and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see "
                     f"`{self.prog} --help`)\n")


def _one_line_warning(message, category, filename, lineno, file=None,
                      line=None):
    print(f"spen-keras: warning: {message}", file=sys.stderr)


def run_zoo_list(args):
    from spen_keras import presets
    from spen_keras.presets.family import list_footer, preset_note

    print("| preset | table | row | metric | paper | ours | suits | "
          "description |")
    print("|---|---|---|---|---|---|---|---|")
    families = []
    for name in presets.list_presets(table=args.table):
        spec = presets.get_spec(name)
        try:
            ours = f"{presets.read_metadata(name)['our_value']:.2f}"
        except (presets.PresetError, KeyError):
            ours = "not trained"
        paper = "-" if spec.paper_value is None else f"{spec.paper_value:.2f}"
        print(f"| {name} | {spec.table} | {spec.row} | {spec.metric} | "
              f"{paper} | {ours} | {preset_note(spec.family, name)} | "
              f"{spec.description} |")
        if spec.family not in families:
            families.append(spec.family)
    footers = [list_footer(family) for family in families]
    for footer in filter(None, footers):
        print(f"\n{footer}")


def run_zoo_reproduce(args):
    from spen_keras.zoo.reproduce import reproduce_table

    output_dir = args.output_dir or os.path.join("outputs", args.table)
    started = time.perf_counter()
    table = reproduce_table(args.table, output_dir, retrain=args.retrain,
                            data_dir=args.data_dir,
                            max_examples=args.max_examples,
                            log=lambda line: print(line, file=sys.stderr))
    print(table)
    print(f"\nWrote {output_dir}/{args.table}.md, {args.table}.json and "
          f"figures in {time.perf_counter() - started:.0f} s.")


def run_train(args):
    from spen_keras.presets import distribute
    from spen_keras import presets

    spec = presets.get_spec(args.preset)
    if args.strategy == "multiworker":
        distribute.check_tf_config()  # before anything starts
    output, backup = run_folders(spec.name, args.output_dir, args.backup_dir)
    steps = args.steps or getattr(spec.recipe, "steps", None)
    # Ctrl-C from here on: one line saying how to resume (see main).
    args.interrupted = (f"Training {spec.name} was interrupted; run the same "
                        f"command again to resume from its backup in "
                        f"{backup}.")
    print(f"Training {spec.name} ({spec.row})"
          + (f" for {steps} steps" if steps else "")
          + f" into {output}; resumable backup in {backup}.")
    extra = {} if args.data_dir is None else {"data_dir": args.data_dir}
    data_options = {name: getattr(args, name) for name in DATA_OPTIONS
                    if getattr(args, name) is not None}
    extra.update(init_from=args.init_from, learning_rate=args.learning_rate,
                 data_options=data_options or None)
    if args.strategy != "default":
        extra["strategy"] = args.strategy
    metadata = presets.train_preset(
        spec, output, backup, steps=args.steps, overwrite=args.force,
        command=" ".join(["spen-keras", *args.argv]), **extra)
    if metadata is None:  # a non-chief worker of a cluster
        print("This worker's share of the training is done; the chief "
              "worker writes the preset.")
        return
    paper = "-" if spec.paper_value is None else spec.paper_value
    # On a user's data the paper's number is not comparable.
    where = (f"paper {paper}" if args.data_dir is None
             else f"on {metadata.get('evaluation', args.data_dir)}")
    print(f"{spec.row}: {metadata['our_value']:.2f} ({spec.metric}, {where}"
          f"); {metadata['wall_time_s']:.0f} s. Preset written to "
          f"{output}; load it with load_preset({load_hint(output)!r}).")


def build_parser(tables=None, commands=None, version=None):
    """The `spen-keras` argument parser.

    Args:
        tables: the names `zoo` offers; None: the registry's.
        commands: the families' `FamilyCommand`s; None: the registry's.
        version: the version `--version` prints; None: the package's.

    When any is None, all three come from `spen_keras`, imported here
    (TensorFlow and every family's registration). `spen_keras_launcher`
    passes all three to answer `COMMAND --help` without TensorFlow;
    tests/test_cli.py checks that both parsers print the same help.
    """
    if tables is None or commands is None or version is None:
        import spen_keras  # registers families, tables, presets
        from spen_keras.presets.family import list_commands
        from spen_keras.presets.tables import list_tables

        tables, commands = list_tables(), list_commands().values()
        version = spen_keras.__version__

    parser = OneLineErrorParser(
        prog="spen-keras",
        description="Structured Prediction Energy Networks in Keras.",
    )
    parser.add_argument("--version", action="version",
                        version=f"spen-keras {version}")
    subcommands = parser.add_subparsers(dest="command", required=True,
                                        parser_class=OneLineErrorParser)
    zoo = subcommands.add_parser("zoo", help="pretrained presets and tables")
    zoo_commands = zoo.add_subparsers(dest="zoo_command", required=True,
                                      parser_class=OneLineErrorParser)
    zoo_list = zoo_commands.add_parser("list", help="list the presets")
    zoo_list.add_argument("--table", choices=tables, default=None,
                          help="only this table's presets (default: all)")
    zoo_list.set_defaults(handler=run_zoo_list)
    reproduce = zoo_commands.add_parser(
        "reproduce", help="reproduce a table of the paper")
    reproduce.add_argument("table", choices=tables,
                           help="the table to reproduce")
    reproduce.add_argument("--retrain", action="store_true",
                           help="retrain every row first (into "
                                "OUTPUT_DIR/presets)")
    reproduce.add_argument("--data-dir", default=None,
                           help="a full data folder instead of the embedded "
                                "data (table1: 7-Scenes scenes or "
                                "ProximalNet pairs; table2: a CoNLL-2005 "
                                "release folder)")
    reproduce.add_argument("--max-examples", "--max-frames", type=positive_int,
                           default=None, dest="max_examples",
                           help="with --data-dir: evaluate at most this many "
                                "examples (table1: frames, evenly spaced, "
                                "default 60; table2: sentences per split, "
                                "default all)")
    reproduce.add_argument("--output-dir", default=None,
                           help="default outputs/TABLE")
    reproduce.set_defaults(handler=run_zoo_reproduce)

    train = subcommands.add_parser(
        "train", help="train one preset into a user preset folder")
    train.add_argument("--preset", required=True,
                       help="the registered preset to train (see "
                            "`spen-keras zoo list`)")
    train.add_argument("--output-dir", default=None,
                       help=f"preset folder to write (default "
                            f"{DEFAULT_USER_PRESETS}/NAME)")
    train.add_argument("--backup-dir", default=None,
                       help="resumable checkpoint folder "
                            "(default runs/backup/NAME)")
    train.add_argument("--data-dir", default=None,
                       help="train on this data folder instead of the "
                            "shipped data (table2 rows: a CoNLL-2005 release; "
                            "with its words/ layer the local model also "
                            "embeds words; table1 Keras rows: 16-bit depth "
                            "PNGs, DIR/*.png clean or DIR/noisy/ + "
                            "DIR/clean/ pairs, docs/own_data_denoising.md)")
    train.add_argument("--steps", type=positive_int, default=None,
                       help="override the preset's training steps")
    train.add_argument("--strategy", default="default",
                       choices=["default", "mirrored", "multiworker"],
                       help="tf.distribute strategy (Keras presets): one "
                            "device (default), every local GPU or logical "
                            "CPU (mirrored), or the cluster in TF_CONFIG "
                            "(multiworker, run on every worker); the "
                            "preset's batch size stays the global batch")
    train.add_argument("--overwrite", "--force", action="store_true",
                       dest="force",
                       help="replace an existing preset folder")
    train.add_argument("--init-from", default=None, metavar="PRESET",
                       help="fine-tune: start from every weight of this "
                            "preset (a name or a folder of the same "
                            "architecture; Keras presets)")
    train.add_argument("--learning-rate", type=float, default=None,
                       help="Adam's initial rate (default the preset's; "
                            "Keras presets)")
    add_data_options(train)
    train.set_defaults(handler=run_train)

    # The families' own commands (e.g. denoise, demo).
    for command in commands:
        sub = subcommands.add_parser(command.name, help=command.help)
        command.configure(sub)
        sub.set_defaults(handler=command.run)
    return parser


def main(argv=None):
    """Runs one command; returns the exit status (2 for a user error).

    The console script enters through `spen_keras_launcher`, which sets
    the TensorFlow log level before TensorFlow is imported.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    warnings.showwarning = _one_line_warning
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:  # while TensorFlow loads
        print("spen-keras: interrupted.", file=sys.stderr)
        return INTERRUPTED
    args.argv = argv  # recorded in the metadata of what it trains
    from spen_keras.presets.distribute import StrategyError
    from spen_keras.presets.family import user_errors
    from spen_keras.presets.training import TrainingDivergedError
    from spen_keras.presets import PresetError
    from spen_keras.presets.resumable import BackupError
    from spen_keras.core.backend import TensorFlowRequiredError

    try:
        args.handler(args)
    except (PresetError, BackupError, FileNotFoundError, StrategyError,
            TensorFlowRequiredError, *user_errors()) as error:
        print(f"spen-keras: error: {error}", file=sys.stderr)
        return 2
    except TrainingDivergedError as error:
        print(f"spen-keras: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Ctrl-C is the user's choice, not a fault: one line (how to resume,
        # where a command set one), not a traceback.
        message = getattr(args, "interrupted", "interrupted.")
        print(f"spen-keras: {message}", file=sys.stderr)
        return INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
