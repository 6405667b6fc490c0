"""Evaluation data for `spen-keras zoo reproduce table1 --data-dir DIR`.

DIR is either a ProximalNet-style folder (with `val.lst` listing int16
noisy/clean pairs: the paper's exact protocol) or a 7-Scenes folder holding
Microsoft's per-scene archives or their extracted folders. From a 7-Scenes
folder the evaluation follows the paper's cross-scene protocol: the presets
were trained on one scene (`training_scene`, "stairs" for Table 1), so every
*other* scene found is used (its official test sequences, with the same
seeded Kinect-like noise as the embedded benchmark); a folder holding only
the training scene is refused. Both are read through the `seven_scenes`
TFDS builder.

The built TFDS data is cached, one folder per source, under
`$SPEN_KERAS_CACHE_DIR/tfds/` (default: `$XDG_CACHE_HOME/spen_keras`, or
`~/.cache/spen_keras`; `%LOCALAPPDATA%\\spen_keras` on Windows). A cache is
keyed by everything it was built from: DIR's resolved path, a fingerprint of
the files the build reads (path, size and modification time of every file
in the scenes' `<scene>.zip` and `<scene>/`, or of `train.lst`, `val.lst`
and the files they name), the builder's name, version and config (kind and
scenes) and the cache format. A different folder, or the same folder with
one of those files added, removed or changed, builds a new cache; it never
reuses another's. The cache
holds the whole split: `max_frames` only picks frames from it, so it is not
part of the key. Each cache is built in a temporary folder beside it and
renamed into place when complete, so a build that is killed or fails leaves
nothing that a later run would read (its leftovers are removed by the next
build of the same key). Delete the cache folder at any time to reclaim the
space.
"""

import glob
import hashlib
import json
import os
import pathlib
import shutil
import socket
import tempfile

import numpy as np

from spen_keras.denoising.denoising_pipeline import make_evaluation_arrays
from spen_keras.denoising.depth_normalization import fill_invalid
from spen_keras.denoising.depth_normalization import normalize_depth
from spen_keras.denoising.depth_normalization import valid_mask

CACHE_DIR_ENV = "SPEN_KERAS_CACHE_DIR"
PROXIMALNET_LABEL = "ProximalNet val.lst"
# Bump when the cache's layout or what goes into its key changes.
_CACHE_FORMAT = 1
_COMPLETE = "spen_keras_cache.json"
_PARTIAL = ".partial-"


def cache_dir():
    """Returns the folder of spen-keras' caches (it may not exist yet).

    `$SPEN_KERAS_CACHE_DIR` when set (tests point it at a temporary folder);
    otherwise the per-user cache folder: `$XDG_CACHE_HOME/spen_keras` or
    `~/.cache/spen_keras` (`%LOCALAPPDATA%\\spen_keras` on Windows).
    """
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return pathlib.Path(configured).expanduser()
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return pathlib.Path(os.environ["LOCALAPPDATA"]) / "spen_keras"
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "spen_keras"


def _stat_entries(paths):
    """(path, size, mtime in ns) of every file under `paths` (files or
    folders); a path that does not exist is listed as (path, None, None)."""
    entries = []
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.exists():
            files = [path]
        else:
            entries.append((path.as_posix(), None, None))
            continue
        for file in files:
            stat = file.stat()
            entries.append((file.as_posix(), stat.st_size, stat.st_mtime_ns))
    return entries


def _source_files(config, data_dir):
    """The files and folders of data_dir that a build of `config` reads."""
    from spen_keras.datasets.seven_scenes import proximalnet_pairs

    if config.kind == "proximalnet":
        paths = []
        for name in proximalnet_pairs.PAIR_LISTS.values():
            path = data_dir / name
            paths.append(path)
            if path.is_file():
                paths += [data_dir / file for _, noisy, clean in
                          proximalnet_pairs.parse_pair_list(
                              path.read_text(), str(path))
                          for file in (noisy, clean)]
        return paths
    return [data_dir / name for scene in config.scenes
            for name in (f"{scene}.zip", scene)]


def cache_key(config, data_dir):
    """The cache folder name of a build of `config` from `data_dir`.

    Args:
        config: a `SevenScenesConfig`.
        data_dir: the resolved source folder (`pathlib.Path`).

    Returns:
        "<config name>-<24 hex digits>": a SHA-256 over the source folder,
        the fingerprint of the files the build reads (path, size and
        modification time of each, `_stat_entries`), the builder's name,
        version and config, and the cache format.
    """
    from spen_keras.datasets.seven_scenes import Builder

    record = {
        "format": _CACHE_FORMAT,
        "source": str(data_dir),
        "files": sorted(set(_stat_entries(_source_files(config, data_dir))),
                        key=str),
        "builder": Builder.name,
        "version": str(Builder.VERSION),
        "config": {"name": config.name, "kind": config.kind,
                   "scenes": list(config.scenes)},
    }
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode())
    return f"{config.name}-{digest.hexdigest()[:24]}"


def _partial_prefix(key):
    """Names a build in progress: its key, host and process id."""
    return f".{key}{_PARTIAL}{socket.gethostname()}@{os.getpid()}-"


def _remove_dead_partials(root, key):
    """Removes leftovers of builds of `key`, on this host, whose process has
    ended (killed builds). Others' builds in progress are left alone."""
    if os.name != "posix":  # os.kill(pid, 0) would not just probe there.
        return
    host = f".{key}{_PARTIAL}{socket.gethostname()}@"
    for partial in root.glob(glob.escape(host) + "*"):
        try:
            pid = int(partial.name[len(host):].split("-", 1)[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(partial, ignore_errors=True)
        except (ValueError, OSError):
            pass  # Not ours to judge, or the process is alive.


def _build(config, data_dir):
    """A prepared builder of `config` from the folder `data_dir`, cached.

    Args:
        config: a `SevenScenesConfig`.
        data_dir: the source folder, resolved.

    Returns:
        A `Builder` whose data_dir is the complete cache folder.
    """
    import tensorflow_datasets as tfds

    from spen_keras.datasets.seven_scenes import Builder
    from spen_keras.datasets.seven_scenes import SevenScenesDataError

    root = cache_dir() / "tfds"
    key = cache_key(config, data_dir)
    final = root / key
    if not (final / _COMPLETE).is_file():
        root.mkdir(parents=True, exist_ok=True)
        _remove_dead_partials(root, key)
        partial = pathlib.Path(tempfile.mkdtemp(prefix=_partial_prefix(key),
                                                dir=root))
        try:
            builder = Builder(config=config, data_dir=str(partial))
            builder.download_and_prepare(
                download_config=tfds.download.DownloadConfig(
                    manual_dir=str(data_dir),
                    compute_stats=tfds.download.ComputeStatsMode.SKIP))
            if cache_key(config, data_dir) != key:
                raise SevenScenesDataError(
                    f"--data-dir {data_dir} changed while it was being read "
                    "(files added, removed or modified); run again once it "
                    "is complete.")
            (partial / _COMPLETE).write_text(json.dumps(
                {"key": key, "source": str(data_dir), "config": config.name,
                 "version": str(Builder.VERSION)}, indent=1))
            if final.exists() and not (final / _COMPLETE).is_file():
                # No completion record: not a cache, never reused; replaced.
                shutil.rmtree(final)
            try:
                os.rename(partial, final)
            except OSError:
                # Another process completed the same key first: use its.
                if not (final / _COMPLETE).is_file():
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return Builder(config=config, data_dir=str(final))


def _evenly(items, max_frames):
    if max_frames is None or len(items) <= max_frames:
        return items
    keep = np.linspace(0, len(items) - 1, max_frames).round().astype(int)
    return [items[i] for i in keep]


def load_evaluation_data(data_dir, max_frames=60, training_scene=None):
    """Returns (x, y, description) for a full data folder.

    Args:
        data_dir: a ProximalNet or 7-Scenes folder (see the module docstring).
        max_frames: evaluate at most this many frames, evenly spaced over the
            test split (whole 7-Scenes test splits hold thousands of frames,
            and a 20-step DeepPrior takes seconds per frame on a CPU).
        training_scene: the 7-Scenes scene the evaluated models were trained
            on; it is left out (cross-scene protocol). None: every scene.

    Raises:
        FileNotFoundError: when DIR holds neither layout (the message lists
            what was looked for), or a file the data names is missing.
        SevenScenesDataError: for data that is present but unreadable (a
            corrupt or truncated archive, a malformed list or split file);
            the message names the file.
    """
    import tensorflow_datasets as tfds

    from spen_keras.datasets.seven_scenes import Builder
    from spen_keras.datasets.seven_scenes import official_config
    from spen_keras.datasets.seven_scenes.seven_scenes_archives import SCENES

    data_dir = pathlib.Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise FileNotFoundError(f"--data-dir {data_dir} is not a directory.")
    data_dir = data_dir.resolve()
    if (data_dir / "val.lst").is_file():
        builder = _build(Builder.builder_configs["proximalnet"], data_dir)
        pairs = _evenly(list(tfds.as_numpy(
            builder.as_dataset(split="validation"))), max_frames)
        xs, ys = [], []
        for pair in pairs:
            clean = np.clip(pair["clean"][..., 0], 0, None).astype(np.uint16)
            noisy = np.clip(pair["noisy"][..., 0], 0, None).astype(np.uint16)
            y = normalize_depth(clean)
            noisy_mask = valid_mask(noisy)
            xs.append(fill_invalid(normalize_depth(noisy), noisy_mask))
            ys.append(y)
        return (np.stack(xs)[..., None].astype(np.float32),
                np.stack(ys)[..., None].astype(np.float32),
                f"{PROXIMALNET_LABEL} ({data_dir})")

    scenes = [s for s in SCENES if (data_dir / f"{s}.zip").is_file()
              or (data_dir / s).is_dir()]
    if not scenes:
        expected = [str(data_dir / "val.lst")] + [
            str(data_dir / name) for s in SCENES
            for name in (f"{s}.zip", f"{s}/")]
        raise FileNotFoundError(
            f"--data-dir {data_dir} holds neither ProximalNet pairs nor "
            "7-Scenes scenes. Looked for:\n  " + "\n  ".join(expected))
    if training_scene in scenes:
        scenes.remove(training_scene)
        if not scenes:
            raise FileNotFoundError(
                f"--data-dir {data_dir} holds only the {training_scene} "
                f"scene, which the presets were trained on; the cross-scene "
                f"protocol tests on the other scenes: add at least one of "
                f"{', '.join(s for s in SCENES if s != training_scene)} "
                f"(<scene>.zip or <scene>/).")
    builder = _build(official_config(scenes), data_dir)
    examples = list(tfds.as_numpy(builder.as_dataset(split="test")))
    frames = []
    for example in _evenly(examples, max_frames):
        raw = example["depth"][..., 0]
        frames.append({"depth": normalize_depth(raw), "mask": valid_mask(raw),
                       "sequence": int(example["sequence"]),
                       "frame": int(example["frame"])})
    x, y = make_evaluation_arrays(frames)
    return x, y, (f"7-Scenes test sequences of {', '.join(scenes)} "
                  f"({len(frames)} of their {len(examples)} frames, evenly "
                  f"spaced; {data_dir})")
