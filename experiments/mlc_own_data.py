"""SPEN-E2E against the MLP on a user's own multi-label data (synthetic).

The data: `own_data.synthetic_dataset` (14 correlated labels: two groups of
4 mutually exclusive labels and three parent/child pairs; 40 noisy features
of an 8-value hidden factor), 2000 rows, data seed 2026, split by position
into train (rows 0-1199), validation (1200-1499) and test (1500-1999). Each
recipe (the Bibtex budgets of `mlc_bibtex_spen_e2e` and `mlc_bibtex_mlp`,
full epochs unless --steps) is trained with seeds 0, 1 and 2 through the
public API (`spen_keras.mlc.train_classifier`), choosing its epoch and
threshold on the validation rows; the test rows are only scored. Reports
each seed's test example-F1, and the mean and spread per recipe; the target
is SPEN-E2E at least as good as the MLP.

Run: python -m experiments.mlc_own_data [--steps N]   (about 15 minutes on
2 cores with the full recipes). Prints the table, writes
experiments/results/mlc_own_data.json and appends to RESULTS.md.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import common  # noqa: E402
from experiments import record_results  # noqa: E402

RECIPES = ("spen_e2e", "mlp")
SEEDS = (0, 1, 2)
DATA_SEED = 2026
SPLITS = {"train": (0, 1200), "validation": (1200, 1500),
          "test": (1500, 2000)}


def splits(data_seed=DATA_SEED):
    """{split: (x, y)} and the label names of the benchmark's data."""
    from spen_keras.mlc import own_data

    x, y, _, labels = own_data.synthetic_dataset(
        num_rows=SPLITS["test"][1], num_features=40, num_labels=14,
        seed=data_seed)
    return {name: (x[a:b], y[a:b]) for name, (a, b) in SPLITS.items()}, labels


def measure(recipes=RECIPES, seeds=SEEDS, steps=None, log=print):
    """{recipe: {per-seed and summary figures}}."""
    from spen_keras.mlc import train_classifier

    data, labels = splits()
    results = {}
    for recipe in recipes:
        started = time.perf_counter()
        classifier = train_classifier(
            *data["train"], *data["validation"], label_names=labels,
            recipe=recipe, x_test=data["test"][0], y_test=data["test"][1],
            name="synthetic14", seeds=seeds, steps=steps)
        if steps is not None and len(seeds) > 1:  # --steps trains one seed
            raise SystemExit("--steps trains one seed; give --seeds S")
        metadata = classifier.metadata
        results[recipe] = {
            "seed_summary": metadata["seed_summary"],
            "per_seed": [{"seed": f["seed"],
                          "validation_example_f1": f["validation_example_f1"],
                          "test": f["test"], "threshold": f["threshold"],
                          "wall_time_s": f["wall_time_s"]}
                         for f in metadata["per_seed"]],
            "recipe": metadata["recipe"],
            "wall_time_s": round(time.perf_counter() - started, 1)}
        summary = metadata["seed_summary"]
        log(f"[{recipe}] test example-F1 {summary['test_example_f1']} "
            f"mean {summary['mean']:.2f} std {summary['std']:.2f} "
            f"({results[recipe]['wall_time_s']:.0f} s)")
    return results


def markdown(results, seconds, steps):
    lines = [f"## Multi-label, own data: SPEN-E2E vs MLP "
             f"({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"Machine: {common.machine()}. Synthetic 14-label data (data "
             f"seed {DATA_SEED}; 1200 train / 300 validation / 500 test rows), "
             f"Bibtex recipes, "
             + ("full epochs" if steps is None else f"--steps {steps}")
             + f"; epoch and threshold chosen on validation; {seconds:.0f} s.",
             "", "| recipe | test example-F1 per seed | mean ± std | range |",
             "|---|---|---|---|"]
    for recipe, result in results.items():
        s = result["seed_summary"]
        lines.append(f"| {recipe} | {s['test_example_f1']} | "
                     f"{s['mean']:.2f} ± {s['std']:.2f} | {s['range']:.2f} |")
    if {"spen_e2e", "mlp"} <= set(results):
        gap = (results["spen_e2e"]["seed_summary"]["mean"]
               - results["mlp"]["seed_summary"]["mean"])
        lines += ["", f"SPEN-E2E - MLP (seed means): {gap:+.2f}; target "
                      f"(SPEN-E2E at least as good): "
                      f"{'met' if gap >= 0 else 'not met'}."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--steps", type=int, default=None,
                        help="cap optimizer steps per phase (one seed)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = measure(args.recipes, tuple(args.seeds), args.steps,
                      log=lambda line: print(line, file=sys.stderr,
                                             flush=True))
    seconds = time.perf_counter() - started
    text = markdown(results, seconds, args.steps)
    print(text)
    gap = None
    if {"spen_e2e", "mlp"} <= set(results):
        gap = round(results["spen_e2e"]["seed_summary"]["mean"]
                    - results["mlp"]["seed_summary"]["mean"], 2)
    record_results({"machine": common.machine(), "data_seed": DATA_SEED,
                    "splits": {k: list(v) for k, v in SPLITS.items()},
                    "steps": args.steps, "results": results,
                    "spen_e2e_minus_mlp": gap,
                    "target_met": None if gap is None else gap >= 0,
                    "seconds": round(seconds, 1),
                    "command": " ".join(["python -m experiments.mlc_own_data",
                                         *sys.argv[1:]])},
                   "mlc_own_data", text)


if __name__ == "__main__":
    main()
