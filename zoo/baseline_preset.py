"""Table 1's comparison systems as zoo rows (BM3D, Filter Forest,
ProximalNet, the feed-forward convnet).

A baseline is not a SPEN, so its spec says how to fit it and how to load a
fitted copy; everything else (the frames, the noise, PSNR, the table) is
shared with the SPEN rows. A baseline preset folder holds `config.json`,
`metadata.json` (the same keys as a SPEN preset's) and whatever fitted
parameters it needs (Keras weights, an `.npz`), written by `fit` and read by
`load` without any retraining.
"""

import dataclasses
from typing import Callable, Optional


@dataclasses.dataclass(frozen=True)
class BaselinePreset:
    """How to fit, save and load one comparison row of Table 1.

    Attributes:
        name: preset name (folder under zoo/presets).
        row: the row's label in Table 1.
        paper_psnr: the paper's PSNR for the row (None where it has none).
        description: one line for `spen-keras zoo list`.
        fit: `fit(output_dir, backup_dir, steps=None, verbose=1) -> metadata`
            trains/fits on the embedded training frames, evaluates on the
            test frames and writes the preset folder (metadata included).
        load: `load(preset_dir) -> denoise`, where `denoise(x)` maps noisy,
            hole-filled frames (n, H, W, 1) float32 to estimates of the same
            shape.
        steps: training steps or fitting iterations (None: nothing to fit).
    """

    name: str
    row: str
    paper_psnr: Optional[float]
    description: str
    fit: Callable
    load: Callable
    steps: Optional[int] = None
