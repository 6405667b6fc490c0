"""The SRL family's `spen-keras` command: `srl-label`."""

from spen_keras.presets.family import FamilyCommand


def _configure_label(parser):
    parser.add_argument("input", help="a CoNLL-format file: WORD POS PARSE NE "
                                      "LEMMA [gold ARG columns] per token")
    parser.add_argument("output", help="the props file to write (.gz for "
                                       "gzip)")
    parser.add_argument("--preset", default="srl_spen_lp",
                        help="an SRL preset name or folder (default "
                             "srl_spen_lp)")
    parser.add_argument("--decoder", choices=("h", "lp", "ilp"), default=None,
                        help="override the preset's decoder")
    parser.add_argument("--overwrite", "--force", action="store_true",
                        dest="overwrite",
                        help="replace an existing output file (never the "
                             "input)")


def _run_label(args):
    from spen_keras.srl.user_files import label_file

    sentences, predicates, score = label_file(
        args.input, args.output, preset=args.preset, decoder=args.decoder,
        overwrite=args.overwrite)
    print(f"Labelled {predicates} predicates in {sentences} sentences of "
          f"{args.input} with preset {args.preset} -> {args.output}.")
    if score is not None:
        print(f"Against the file's gold columns (official CoNLL-2005 rules): "
              f"precision {score.precision:.2f}, recall {score.recall:.2f}, "
              f"F1 {score.f1:.2f}.")


COMMANDS = [
    FamilyCommand("srl-label", "label the predicates of a CoNLL-format file "
                               "with an SRL preset (props output)",
                  _configure_label, _run_label),
]
