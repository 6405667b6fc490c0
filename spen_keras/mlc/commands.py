"""The multi-label family's `spen-keras` commands: `predict-labels` and
`train-labels` (a multi-label recipe on a user's own ARFF/CSV file)."""

from spen_keras.presets.family import DEFAULT_USER_PRESETS
from spen_keras.presets.family import FamilyCommand
from spen_keras.presets.family import load_hint
from spen_keras.presets.family import non_negative_int
from spen_keras.presets.family import positive_int
from spen_keras.presets.family import run_folders


def _configure(parser):
    parser.add_argument("input", help="rows to label: an ARFF file (dense or "
                                      "sparse, e.g. Mulan's) or a CSV of "
                                      "numeric features")
    parser.add_argument("output", nargs="?", default=None,
                        help="CSV to write (row, labels, scores); default: "
                             "print the labels")
    parser.add_argument("--preset", default="mlc_bibtex_spen_e2e",
                        help="a multi-label preset name or folder (default "
                             "mlc_bibtex_spen_e2e; a folder written by "
                             "train-labels reads its own columns)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="override the preset's decision threshold")
    parser.add_argument("--overwrite", "--force", action="store_true",
                        dest="overwrite",
                        help="replace an existing output file")


def _run(args):
    from spen_keras.mlc.user_files import predict_file

    rows, path = predict_file(args.input, args.output, preset=args.preset,
                              threshold=args.threshold,
                              overwrite=args.overwrite)
    if path is not None:
        print(f"Labelled {rows} rows of {args.input} with preset "
              f"{args.preset} -> {path}.")


def _configure_train(parser):
    parser.add_argument("train", help="the training file: ARFF (dense or "
                                      "sparse) or CSV (a first row without "
                                      "numbers names the columns)")
    parser.add_argument("--labels", required=True,
                        help="which columns are the labels: N or last:N (the "
                             "last N, Mulan's layout), first:N (MEKA's), "
                             "prefix:TEXT (the names starting with TEXT) or "
                             "a Mulan labels FILE.xml; the rest are features")
    parser.add_argument("--recipe", default="spen_e2e",
                        help="br, mlp, spen_ssvm, spen_e2e (default) or "
                             "spen_e2e_icnn with Bibtex's epochs, or a "
                             "multi-label preset name (its recipe, e.g. "
                             "mlc_delicious_mlp)")
    parser.add_argument("--validation", default=None,
                        help="validation file with the same columns (epoch "
                             "and threshold); default: the training file's "
                             "rows i %% 10 == 9 (0-based), the rest fitted")
    parser.add_argument("--test", default=None,
                        help="test file with the same columns, only scored "
                             "(into the preset's metadata)")
    parser.add_argument("--name", default=None,
                        help="the data's name in the preset (default: the "
                             "training file's stem)")
    parser.add_argument("--output-dir", default=None,
                        help=f"preset folder to write (default "
                             f"{DEFAULT_USER_PRESETS}/NAME_RECIPE)")
    parser.add_argument("--backup-dir", default=None,
                        help="resumable checkpoint folder (default "
                             "runs/backup/NAME_RECIPE)")
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="cap optimizer steps per training phase and "
                             "train the first seed only (a quick run)")
    parser.add_argument("--seeds", type=non_negative_int, nargs="+",
                        default=None,
                        help="seeds to train (default the recipe's 0 1 2); "
                             "the first one's model is saved")
    parser.add_argument("--overwrite", "--force", action="store_true",
                        dest="force", help="replace an existing preset "
                                           "folder")


def _run_train(args):
    from spen_keras import presets
    from spen_keras.mlc import own_data

    recipe = own_data.recipe_spec(args.recipe)  # an unknown one: at once
    data = own_data.load_files(args.train, args.labels, args.validation,
                               args.test, args.name)
    spec = own_data.own_spec(recipe, data)
    output, backup = run_folders(spec.name, args.output_dir, args.backup_dir)
    presets.check_writable_preset_dir(output, args.force, probe=True)
    args.interrupted = (f"Training {spec.row} was interrupted; run the same "
                        f"command again to resume from its backup in "
                        f"{backup}.")
    print(f"Training {spec.row} ({recipe.name}'s recipe; "
          f"{data.num_features} features, {data.num_labels} labels, "
          f"{len(data.fit[0])} fitted and {len(data.validation[0])} "
          f"validation rows) into {output}; resumable backup in {backup}.")
    metadata = own_data.train_preset(
        data, output, args.recipe, steps=args.steps, seeds=args.seeds,
        overwrite=args.force, backup_dir=backup,
        command=" ".join(["spen-keras", *getattr(args, "argv", [])]))
    split = "test" if args.test else "validation"
    hint = load_hint(output)
    print(f"{spec.row}: {split} example-F1 {metadata['our_value']:.2f}; "
          f"{metadata['wall_time_s']:.0f} s. Preset written to {output}; "
          f"label rows with `spen-keras predict-labels ROWS.arff --preset "
          f"{hint}` or load_preset({hint!r}).")


COMMANDS = [
    FamilyCommand("predict-labels", "label the rows of an ARFF/CSV file with "
                                    "a multi-label preset",
                  _configure, _run),
    FamilyCommand("train-labels", "train a multi-label recipe (SPEN, MLP, "
                                  "BR) on your own ARFF/CSV file",
                  _configure_train, _run_train),
]
