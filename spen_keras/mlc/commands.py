"""The multi-label family's `spen-keras` command: `predict-labels`."""

from spen_keras.family import FamilyCommand


def _configure(parser):
    parser.add_argument("input", help="rows to label: an ARFF file (dense or "
                                      "sparse, e.g. Mulan's) or a CSV of "
                                      "numeric features")
    parser.add_argument("output", nargs="?", default=None,
                        help="CSV to write (row, labels, scores); default: "
                             "print the labels")
    parser.add_argument("--preset", default="mlc_bibtex_spen_e2e",
                        help="a multi-label preset name or folder (default "
                             "mlc_bibtex_spen_e2e)")
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


COMMANDS = [
    FamilyCommand("predict-labels", "label the rows of an ARFF/CSV file with "
                                    "a multi-label preset",
                  _configure, _run),
]
