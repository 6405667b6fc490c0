"""Experiments run with spen_keras: studies whose answers the docs cite
(which presets to ship, how they hold up, what a user's own data gains).
Not installed with the wheel; experiments/README.md says what each one is.

Each script runs from the repository root as `python -m experiments.NAME`
and uses the library through its public API only. Results go to
`experiments/results/NAME.json`, with a Markdown section appended to
`experiments/RESULTS.md` (`record_results`, the benchmarks' way of recording
theirs: `benchmarks.common`).
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(HERE, "results")
RESULTS_MD = os.path.join(HERE, "RESULTS.md")


def record_results(doc, name, markdown_text):
    """Writes `doc` to results/NAME.json and appends `markdown_text` to
    RESULTS.md."""
    from benchmarks import common

    common.record_results(doc, os.path.join(RESULTS_DIR, f"{name}.json"),
                          markdown_text, results_md=RESULTS_MD,
                          title="Experiment results")
