"""Table 1 of the paper (7-Scenes depth denoising, PSNR) as data.

Every row is evaluated on the same frames, noise and PSNR protocol: whole
480x640 test frames, one at a time (the embedded 7-Scenes "stairs" test
frames, or `--data-dir` data through the `seven_scenes` TFDS builder). The
generic `spen-keras zoo reproduce table1` prints the table beside the
paper's numbers, checks the paper's claims below, and writes a
Figure-1-style panel and a plot of PSNR against unrolled iteration for the
T = 20 rows.
"""

import numpy as np

from spen_keras.denoising.denoising_presets import DENOISING_PRESETS, TABLE
from spen_keras.denoising.denoising_task import NOISY_INPUT
from spen_keras.denoising.denoising_task import evaluate_denoiser
from spen_keras.denoising.denoising_task import is_keras_model
from spen_keras.denoising.psnr import psnr
from spen_keras.presets import get_spec
from spen_keras.tables import Claim, EvaluationData, RowResult
from spen_keras.tables import TableDescription

FIGURE_ROWS = ["foe_20", "foe_20_plus", "dp_20", "dp_3"]
NOISE_MARGIN_DB = 5.0


def _rows(measured, specs, *tags, exclude=()):
    """Measured values of the rows carrying every tag (and none of
    `exclude`). Rows trained with augmentation (beyond the paper) never
    enter the paper's claims."""
    exclude = set(exclude) | {"augmented"}
    return {name: value for name, value in measured.items()
            if set(tags) <= specs[name].tags
            and not exclude & specs[name].tags}


def _end_to_end_dp(measured, specs):
    return _rows(measured, specs, "deep_prior", "end_to_end",
                 exclude=("input_convex",))


def spens_beat_noise(measured, specs, data):
    spen = _rows(measured, specs, "spen")
    if not spen:
        return None
    noisy = data.reference_values[NOISY_INPUT]
    worst = min(spen, key=spen.get)
    return (f"every SPEN row >= noisy input + {NOISE_MARGIN_DB:.0f} dB "
            f"(lowest: {worst} {spen[worst]:.2f})",
            spen[worst] >= noisy + NOISE_MARGIN_DB)


def deep_prior_beats_foe(measured, specs, data):
    foe, dp = _rows(measured, specs, "foe"), _end_to_end_dp(measured, specs)
    if not (foe and dp):
        return None
    return ("DeepPrior rows (DP-20, DP-3) above every FOE row",
            min(dp.values()) > max(foe.values()))


def few_steps_suffice(measured, specs, data):
    if "dp_3" not in measured or "dp_20" not in measured:
        return None
    return "DP-3 >= DP-20", measured["dp_3"] >= measured["dp_20"]


def end_to_end_beats_ssvm(measured, specs, data):
    dp = _end_to_end_dp(measured, specs)
    if "dp_ssvm" not in measured or not dp:
        return None
    return ("end-to-end DP above DP-SSVM",
            min(dp.values()) > measured["dp_ssvm"])


def spens_beat_comparisons(measured, specs, data):
    spen = _rows(measured, specs, "spen")
    comparison = _rows(measured, specs, "comparison")
    if not (spen and comparison):
        return None
    best = max(comparison, key=comparison.get)
    return (f"best SPEN row above every comparison system "
            f"(best comparison: {best} {comparison[best]:.2f})",
            max(spen.values()) > comparison[best])


CLAIMS = tuple(Claim(check) for check in (
    spens_beat_noise, deep_prior_beats_foe, few_steps_suffice,
    end_to_end_beats_ssvm, spens_beat_comparisons))


DEFAULT_MAX_FRAMES = 60


def evaluation_data(data_dir=None, max_examples=None):
    """The embedded test frames, or a full data folder (`--data-dir`; at
    most `max_examples` frames, 60 by default)."""
    from spen_keras.denoising.denoising_pipeline import make_evaluation_arrays
    from spen_keras.denoising.seven_scenes_frames import load_frames

    if data_dir is None:
        x, y = make_evaluation_arrays(load_frames("test"))
        label = "embedded 7-Scenes stairs test"
    else:
        from spen_keras.denoising.evaluation_data import load_evaluation_data

        x, y, label = load_evaluation_data(
            data_dir, max_examples or DEFAULT_MAX_FRAMES)
    return arrays_as_evaluation_data(x, y, label)


def arrays_as_evaluation_data(x, y, label):
    noisy = float(np.nanmean(psnr(y, x)))
    return EvaluationData(arrays=(x, y), label=label, size=len(x),
                          reference_values={NOISY_INPUT: noisy})


def evaluate(model, spec, data):
    """PSNR of one row on whole frames; per-iterate PSNR for T = 20 SPENs."""
    x, y = data.arrays
    with_iterates = (is_keras_model(model)
                     and hasattr(model, "predict_iterates")
                     and model.minimizer.num_steps == 20)
    value, seconds, prediction, curve = evaluate_denoiser(
        model, x, y, with_iterates=with_iterates)
    extras = {"prediction": prediction} if spec.name in FIGURE_ROWS else {}
    return RowResult(value=value, seconds=seconds, extras=extras,
                     curve=None if curve is None else list(map(float, curve)))


def header(data):
    return (f"Table 1, depth denoising PSNR (dB) on {data.label} frames "
            f"(n = {data.size}); noisy input "
            f"{data.reference_values[NOISY_INPUT]:.2f} dB")


def _figure(path, x, y, predictions, frame=0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("ground truth", y), ("noisy", x)] + [
        (get_spec(name).row, predictions[name]) for name in FIGURE_ROWS
        if name in predictions]
    valid = y[frame, ..., 0] > 0
    low, high = np.percentile(y[frame, ..., 0][valid], [1, 99])
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.8))
    for axis, (title, images) in zip(np.atleast_1d(axes), panels):
        image = np.where(valid, images[frame, ..., 0], np.nan)
        axis.imshow(image, cmap="viridis", vmin=low, vmax=high)
        if title not in ("ground truth",):
            value = float(psnr(y[frame:frame + 1], images[frame:frame + 1])[0])
            title = f"{title}\n{value:.2f} dB"
        axis.set_title(title, fontsize=9)
        axis.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _iteration_plot(path, curves, noisy):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axis = plt.subplots(figsize=(5, 3.5))
    for name, curve in curves.items():
        axis.plot(np.arange(1, len(curve) + 1), curve, marker=".",
                  label=get_spec(name).row)
    axis.axhline(noisy, color="gray", linestyle="--", label="noisy input")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("unrolled iteration t")
    axis.set_ylabel("PSNR of y_t (dB)")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def training_facts(spec, metadata):
    """How a row's preset was trained: examples seen, steps, learning rate
    and whether the equal-effort protocol's convergence criterion was met
    (`spen_keras.denoising.equal_effort`)."""
    if spec.kind != "keras":
        return {"examples seen": "-", "steps": "-", "lr": "-",
                "validation PSNR": "-",
                "converged": "fitted" if spec.name == "filter_forest"
                else "no training"}
    if metadata is None:
        return {"examples seen": "?", "steps": "?", "lr": "?",
                "validation PSNR": "?", "converged": "?"}
    protocol = metadata.get("protocol")
    steps = metadata.get("steps")
    batch = metadata.get("batch_size")
    seen = protocol["examples_seen"] if protocol else (
        steps * batch if steps and batch else None)
    if protocol is None:
        verdict = "not checked"
    elif protocol["converged"] is None:
        verdict = "n/a (short curve)"
    else:
        verdict = (f"{'yes' if protocol['converged'] else 'NO'} "
                   f"(+{protocol['gain_in_last_window_db']:.2f} dB)")
    if metadata.get("warm_start"):
        verdict += f", warm-started from {metadata['warm_start']}"
    validation = "-"
    if protocol:
        chosen = protocol["learning_rates_tried"].get(
            f"{protocol['chosen_learning_rate']:g}", {})
        if "final_validation_psnr" in chosen:
            validation = f"{chosen['final_validation_psnr']:.2f}"
    return {"examples seen": "?" if seen is None else f"{seen:,}",
            "steps": "?" if steps is None else str(steps),
            "lr": f"{metadata.get('learning_rate', 0):g}",
            "validation PSNR": validation, "converged": verdict}


def figures(output_dir, data, results):
    """figure1.png (Figure-1-style panel), psnr_by_iteration.png and, for
    presets trained by the equal-effort protocol, training_curves.png
    (validation PSNR against training crops seen, every rate tried)."""
    from spen_keras.denoising.equal_effort import training_curves_figure

    x, y = data.arrays
    written = []
    records = {name: (r.extras.get("metadata") or {}).get("protocol")
               for name, r in results.items()}
    records = {name: record for name, record in records.items() if record}
    if records:
        path = training_curves_figure(
            output_dir / "training_curves.png", records,
            labels={name: get_spec(name).row for name in records})
        written.append(path)
    predictions = {name: r.extras["prediction"] for name, r in results.items()
                   if "prediction" in r.extras}
    curves = {name: r.curve for name, r in results.items()
              if r.curve is not None}
    if predictions:
        written.append(output_dir / "figure1.png")
        _figure(written[-1], x, y, predictions)
    if curves:
        written.append(output_dir / "psnr_by_iteration.png")
        _iteration_plot(written[-1], curves,
                        data.reference_values[NOISY_INPUT])
    return written


TABLE1 = TableDescription(
    name=TABLE, family="denoising", title="Table 1, depth denoising",
    metric="PSNR", unit="dB", rows=tuple(s.name for s in DENOISING_PRESETS),
    evaluation_data=evaluation_data, evaluate=evaluate, claims=CLAIMS,
    figures=figures, header=header, retrain_minutes=100,
    training_facts=training_facts)
