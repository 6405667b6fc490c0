"""`spen-keras zoo reproduce table1`: Table 1 side by side with the paper.

Every row is evaluated on the same frames, noise and PSNR protocol: whole
480x640 test frames, one at a time, from the shipped pretrained presets (or
retrained ones with `--retrain`). The command prints a Markdown table and
writes it, a JSON record, a Figure-1-style panel and a plot of PSNR against
unrolled iteration for the T = 20 rows into the output folder.
"""

import json
import pathlib
import time

import numpy as np

from spen_keras.metrics import psnr
from spen_keras.zoo import PRESETS, load_preset, preset_path
from spen_keras.zoo.denoising_presets import DENOISING_PRESETS
from spen_keras.zoo.baseline_preset import BaselinePreset
from spen_keras.zoo.preset_io import PresetError
from spen_keras.zoo.preset_training import evaluate_denoiser, train_preset

# Table 1 in the paper's order; rows without a preset yet are printed with
# the paper's value and no measurement.
PAPER_ROWS = [
    ("BM3D", 35.46), ("FilterForest", 35.63), ("ProximalNet", 36.31),
    ("FOE-20", 36.41), ("FOE-20+", 37.34), ("FOE-3", 37.62),
    ("DP-20", 40.3), ("DP-3", 40.4), ("FOE-SSVM", 37.7), ("DP-SSVM", 38.7),
    ("Feed-forward convnet", 37.0),
]
FIGURE_ROWS = ["foe_20", "foe_20_plus", "dp_20", "dp_3"]


def _row_presets():
    by_row = {spec.row: name for name, spec in PRESETS.items()}
    rows = [(label, paper, by_row.get(label)) for label, paper in PAPER_ROWS]
    listed = {name for _, _, name in rows if name}
    rows += [(spec.row, spec.paper_psnr, name)
             for name, spec in PRESETS.items() if name not in listed]
    return rows


def ordering_checks(measured, noisy):
    """The paper's qualitative claims, checked on our measurements."""
    def get(name):
        return measured.get(name)

    checks = []
    spen = {k: v for k, v in measured.items() if k in DENOISING_PRESETS}
    if spen:
        worst = min(spen, key=spen.get)
        checks.append((f"every SPEN row >= noisy input + 5 dB "
                       f"(lowest: {worst} {spen[worst]:.2f})",
                       spen[worst] >= noisy + 5.0))
    foe = [v for k, v in measured.items() if k.startswith("foe")]
    dp = {k: v for k, v in measured.items() if k.startswith("dp")
          and k in ("dp_20", "dp_3")}
    if foe and dp:
        checks.append(("DeepPrior rows (DP-20, DP-3) above every FOE row",
                       min(dp.values()) > max(foe)))
    if get("dp_3") is not None and get("dp_20") is not None:
        checks.append(("DP-3 >= DP-20", get("dp_3") >= get("dp_20")))
    if get("dp_ssvm") is not None and dp:
        checks.append(("end-to-end DP above DP-SSVM",
                       min(dp.values()) > get("dp_ssvm")))
    baselines = {k: v for k, v in measured.items()
                 if k in ("bm3d", "filter_forest", "proximalnet",
                          "feedforward_convnet")}
    if baselines and spen:
        best = max(baselines, key=baselines.get)
        checks.append((f"best SPEN row above every comparison system "
                       f"(best comparison: {best} {baselines[best]:.2f})",
                       max(spen.values()) > baselines[best]))
    return checks


def _figure(path, x, y, predictions, frame=0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("ground truth", y), ("noisy", x)] + [
        (PRESETS[name].row, predictions[name]) for name in FIGURE_ROWS
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
                  label=PRESETS[name].row)
    axis.axhline(noisy, color="gray", linestyle="--", label="noisy input")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("unrolled iteration t")
    axis.set_ylabel("PSNR of y_t (dB)")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def reproduce_table1(x, y, output_dir, retrain=False, data_label="embedded",
                     log=print):
    """Evaluates every Table 1 row; returns the Markdown table.

    Args:
        x, y: noisy inputs and clean targets, (n, H, W, 1), 0 = invalid.
        output_dir: where table1.md, table1.json and the figures go.
        retrain: retrain every preset into output_dir/presets first.
        data_label: a description of the evaluation data for the header.
        log: where progress lines go.
    """
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    noisy = float(np.nanmean(psnr(y, x)))
    measured, seconds, predictions, curves, notes = {}, {}, {}, {}, {}
    retrained_root = output_dir / "presets"
    if retrain:
        # Presets that warm-start from another one train after it.
        for name in sorted(PRESETS, key=lambda n: bool(
                getattr(PRESETS[n], "warm_start", None))):
            spec = PRESETS[name]
            log(f"[{name}] retraining ...")
            command = "spen-keras zoo reproduce table1 --retrain"
            backup = output_dir / "backup" / name
            if isinstance(spec, BaselinePreset):
                spec.fit(retrained_root / name, backup, command=command)
            else:
                train_preset(spec, retrained_root / name, backup,
                             command=command, presets_root=str(retrained_root))
    for name, spec in PRESETS.items():
        source = retrained_root / name if retrain else name
        try:
            if isinstance(spec, BaselinePreset):
                model = spec.load(preset_path(source))
            else:
                model = load_preset(source)
        except PresetError as error:
            notes[name] = str(error)
            log(f"[{name}] skipped: {error}")
            continue
        if isinstance(spec, BaselinePreset):
            started = time.perf_counter()
            prediction, curve = model(x), None
            secs = time.perf_counter() - started
            value = float(np.nanmean(psnr(y, prediction)))
        else:
            plot_curve = (hasattr(model, "predict_iterates")
                          and model.minimizer.num_steps == 20)
            value, secs, prediction, curve = evaluate_denoiser(
                model, x, y, with_iterates=plot_curve)
        measured[name], seconds[name] = value, secs
        if name in FIGURE_ROWS:
            predictions[name] = prediction
        if curve is not None:
            curves[name] = curve
        log(f"[{name}] {value:.2f} dB in {secs:.1f} s")

    lines = [f"Table 1, depth denoising PSNR (dB) on {data_label} frames "
             f"(n = {len(x)}); noisy input {noisy:.2f} dB",
             "", "| row | paper PSNR | our PSNR | seconds |", "|---|---|---|---|"]
    for label, paper, name in _row_presets():
        paper_text = "-" if paper is None else f"{paper:.2f}"
        if name in measured:
            lines.append(f"| {label} | {paper_text} | {measured[name]:.2f} | "
                         f"{seconds[name]:.1f} |")
        else:
            lines.append(f"| {label} | {paper_text} | not measured | - |")
    lines.append("")
    for claim, holds in ordering_checks(measured, noisy):
        lines.append(f"- {'agrees' if holds else 'DISAGREES'}: {claim}")
    table = "\n".join(lines)
    (output_dir / "table1.md").write_text(table + "\n")
    (output_dir / "table1.json").write_text(json.dumps(
        {"noisy_input_psnr": noisy, "psnr": measured, "seconds": seconds,
         "skipped": notes, "data": data_label,
         "psnr_by_iteration": {k: list(map(float, v))
                               for k, v in curves.items()}}, indent=2))
    if predictions:
        _figure(output_dir / "figure1.png", x, y, predictions)
    if curves:
        _iteration_plot(output_dir / "psnr_by_iteration.png", curves, noisy)
    return table
