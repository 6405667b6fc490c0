"""Microsoft 7-Scenes depth frames, and ProximalNet's noisy/clean pairs.

Configs:
    official (default): raw uint16 Kinect depth, camera-to-world pose, scene,
        sequence and frame of every frame in Microsoft's per-scene archives,
        split by each scene's TrainSplit.txt / TestSplit.txt. `official_config`
        makes a config restricted to some scenes.
    proximalnet: the pre-processed noisy/clean pairs listed in `train.lst` /
        `val.lst` (Wang, Fidler & Urtasun 2016), for the paper's protocol.

Example:

>>> import spen_keras.datasets  # registers "seven_scenes" with TFDS
>>> ds = tfds.load("seven_scenes/official", split="test")  # doctest: +SKIP
>>> builder = Builder(config=official_config(["stairs"]))  # doctest: +SKIP

References:
    Shotton, Glocker, Zach, Izadi, Criminisi & Fitzgibbon. "Scene Coordinate
    Regression Forests for Camera Relocalization in RGB-D Images." CVPR 2013.
    Wang, Fidler & Urtasun. "Proximal Deep Structured Models." NIPS 2016.
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from spen_keras.datasets.seven_scenes import proximalnet_pairs
from spen_keras.datasets.seven_scenes import seven_scenes_archives as archives

SCENES = archives.SCENES


SevenScenesDataError = archives.SevenScenesDataError


class SevenScenesDataMissingError(FileNotFoundError):
    """Raised when the data of a requested config cannot be found."""


def _canonical_scenes(scenes):
    """Validates scene names; returns them in `SCENES` order, deduplicated."""
    unknown = sorted(set(scenes) - set(SCENES))
    if unknown or not scenes:
        raise ValueError(
            f"scenes must be a non-empty subset of {SCENES}; unknown: "
            f"{unknown}."
        )
    # One order for one subset, so equal subsets read identical examples.
    return tuple(s for s in SCENES if s in set(scenes))


@dataclasses.dataclass(eq=False)
class SevenScenesConfig(tfds.core.BuilderConfig):
    """Config: `kind` "official" or "proximalnet", and the scenes to read.

    `scenes` is used by the "official" kind only.
    """

    kind: str = "official"
    scenes: tuple = SCENES

    def __post_init__(self):
        if self.kind not in ("official", "proximalnet"):
            raise ValueError(
                f"kind must be 'official' or 'proximalnet', got {self.kind!r}."
            )
        self.scenes = _canonical_scenes(self.scenes)


def official_config(scenes):
    """A config reading only `scenes`, named e.g. "official_chess_stairs".

    Its name (hence its data directory) differs per subset, so builds of
    different subsets never share a cache.

    Args:
        scenes: iterable of names from `SCENES`.

    Returns:
        A `SevenScenesConfig` for `Builder(config=...)`.

    Raises:
        ValueError: for an empty list or an unknown scene name.
    """
    scenes = _canonical_scenes(tuple(scenes))
    return SevenScenesConfig(
        name="official_" + "_".join(scenes),
        scenes=scenes,
        description=f"Official splits of the 7-Scenes scenes {list(scenes)}.",
    )


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for Microsoft 7-Scenes depth (and ProximalNet pairs)."""

    # TFDS infers these from the module name (spen_keras/datasets/...), but
    # setup.cfg maps the folder `datasets/` to `spen_keras.datasets`, so in a
    # source checkout that path does not exist. Without them TFDS would find
    # neither README/CITATIONS/TAGS, checksums.tsv nor dummy_data/.
    code_path = epath.Path(__file__)
    pkg_dir_path = epath.Path(__file__).parent

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        SevenScenesConfig(
            name="official",
            description="Raw depth and pose of all 7 scenes, official "
            "train/test sequence splits.",
        ),
        SevenScenesConfig(
            name="proximalnet", kind="proximalnet",
            description="ProximalNet pre-processed noisy/clean depth pairs "
            "from train.lst / val.lst.",
        ),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "official"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    official: nothing to do when download.microsoft.com is reachable. Otherwise
    put, for each scene (chess fire heads office pumpkin redkitchen stairs),
    either Microsoft's archive `<manual_dir>/<scene>.zip` or an extracted
    `<manual_dir>/<scene>/` folder (TrainSplit.txt, TestSplit.txt and
    seq-NN.zip or seq-NN/frame-NNNNNN.{depth.png,pose.txt}). Archives:
    http://download.microsoft.com/download/2/8/5/28564B23-0828-408F-8631-23B1EFF1DAC8/<scene>.zip
    proximalnet: put train.lst and val.lst (lines "_ noisy clean", paths
    relative to manual_dir) and the int16 files they name in manual_dir.
    When a manual_dir is given, nothing is downloaded: scenes missing from it
    are an error at once.
    """

    # `DownloadConfig.manual_dir` of the running `download_and_prepare`: None
    # when the user gave none (TFDS then uses <download_dir>/manual).
    _given_manual_dir = None

    def download_and_prepare(self, *, download_config=None, **kwargs):
        """`tfds.core.DatasetBuilder.download_and_prepare`; notes manual_dir.

        TFDS passes `_split_generators` a manual_dir in every case (its
        default is <download_dir>/manual), so the one given by the user is
        noted here: with it, missing scenes are reported at once instead of
        downloaded (a download without network retries for minutes).
        """
        self._given_manual_dir = (None if download_config is None
                                  else download_config.manual_dir)
        try:
            return super().download_and_prepare(
                download_config=download_config, **kwargs)
        finally:
            self._given_manual_dir = None

    def _info(self):
        if self.builder_config.kind == "proximalnet":
            pair = tfds.features.Tensor(shape=(None, None, 1), dtype=np.int16,
                                        encoding="zlib")
            features = {"noisy": pair, "clean": pair,
                        "id": tfds.features.Text()}
            supervised_keys = ("noisy", "clean")
        else:
            features = {
                # PNG stores uint16 losslessly and compactly.
                "depth": tfds.features.Image(
                    shape=archives.DEPTH_SHAPE + (1,), dtype=np.uint16,
                    encoding_format="png"),
                # tf.train.Example holds floats as float32; bytes encoding
                # keeps the pose files' float64 values exactly.
                "pose": tfds.features.Tensor(shape=(4, 4), dtype=np.float64,
                                             encoding="bytes"),
                # Always all 7 names, so labels agree across scene subsets.
                "scene": tfds.features.ClassLabel(names=SCENES),
                "sequence": np.int32,
                "frame": np.int32,
            }
            supervised_keys = None
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(features),
            supervised_keys=supervised_keys,
            homepage="https://www.microsoft.com/en-us/research/project/"
            "rgb-d-dataset-7-scenes/",
        )

    def _split_generators(self, dl_manager):
        if self.builder_config.kind == "proximalnet":
            return self._proximalnet_splits(dl_manager)
        return self._official_splits(dl_manager)

    def _generate_examples(self, parts=None, manual_path=None, pairs=None):
        if self.builder_config.kind == "proximalnet":
            return self._proximalnet_examples(manual_path, pairs)
        return self._official_examples(parts)

    # === official ===

    def _official_splits(self, dl_manager):
        manual_dir, manual_path = _manual_dir_or_none(dl_manager)
        scenes = self.builder_config.scenes
        locations, missing = {}, []
        for scene in scenes:
            folder, archive = manual_path / scene, manual_path / f"{scene}.zip"
            if manual_dir is not None and any(
                    (folder / name).exists()
                    for name in archives.SPLIT_FILES.values()):
                locations[scene] = folder
            elif manual_dir is not None and archive.exists():
                locations[scene] = archive
            else:
                missing.append(scene)
        if missing and self._given_manual_dir is not None:
            # The user pointed at their copy: downloading instead would hide
            # a wrong path behind minutes of retries (or a surprise download
            # of several GB).
            raise SevenScenesDataMissingError(
                _missing_message(manual_path, scenes, missing, None))
        if missing:
            try:
                downloaded = dl_manager.download(
                    {s: archives.download_url(s) for s in missing})
            except Exception as error:  # pylint: disable=broad-except
                # Any failure (no network, proxy, HTTP error) gets the same
                # remedy, so it is reported with the full list of paths.
                raise SevenScenesDataMissingError(
                    _missing_message(manual_path, scenes, missing, error)
                ) from error
            locations.update(downloaded)
        sources = [(scene, epath.Path(locations[scene])) for scene in scenes]
        # Read every split file now, so a broken scene fails before writing.
        splits = {"train": [], "test": []}
        for scene, location in sources:
            with archives.open_scene(location) as reader:
                for split, sequences in archives.read_splits(
                        reader, str(location)).items():
                    splits[split].append((scene, location, sequences))
        return {split: self._generate_examples(parts=parts)
                for split, parts in splits.items()}

    def _official_examples(self, parts):
        for scene, location, sequences in parts:
            with archives.open_scene(location) as reader:
                for sequence in sequences:
                    for stored in reader.sequence_frames(sequence):
                        frame = stored.frame
                        key = f"{scene}/seq-{sequence:02d}/frame-{frame:06d}"
                        # Errors name the file (path or archive member).
                        depth = archives.decode_depth_png(
                            stored.depth_png, stored.depth_origin)
                        yield key, {
                            "depth": depth[..., None],
                            "pose": archives.parse_pose(stored.pose_text,
                                                        stored.pose_origin),
                            "scene": scene,
                            "sequence": sequence,
                            "frame": frame,
                        }

    # === proximalnet ===

    def _proximalnet_splits(self, dl_manager):
        manual_dir, manual_path = _manual_dir_or_none(dl_manager)
        lists = {split: manual_path / name
                 for split, name in proximalnet_pairs.PAIR_LISTS.items()}
        missing = [p for p in lists.values()
                   if manual_dir is None or not p.exists()]
        pairs = {}
        if not missing:
            for split, path in lists.items():
                pairs[split] = proximalnet_pairs.parse_pair_list(
                    path.read_text(), str(path))
                missing += [manual_path / name for _, noisy, clean
                            in pairs[split] for name in (noisy, clean)
                            if not (manual_path / name).exists()]
        if missing:
            raise SevenScenesDataMissingError(
                "ProximalNet pair data not found in manual_dir "
                f"{manual_path}. Missing:\n"
                + "".join(f"  {path}\n" for path in missing)
                + "Expected train.lst and val.lst (lines '_ noisy clean', "
                "paths relative to manual_dir) and every file they name "
                "(int16 with a [rows, cols] header); see the dataset README."
            )
        return {split: self._generate_examples(manual_path=manual_path,
                                               pairs=split_pairs)
                for split, split_pairs in pairs.items()}

    def _proximalnet_examples(self, manual_path, pairs):
        for line, noisy_name, clean_name in pairs:
            noisy, clean = (proximalnet_pairs.decode_int16_depth(
                (manual_path / name).read_bytes(), str(manual_path / name))
                for name in (noisy_name, clean_name))
            if noisy.shape != clean.shape:
                raise SevenScenesDataError(
                    f"{manual_path / noisy_name} has shape {noisy.shape} but "
                    f"its clean target {manual_path / clean_name} has shape "
                    f"{clean.shape}.")
            # The line number keeps keys unique if a file is listed twice.
            yield f"{line:07d}:{noisy_name}", {
                "noisy": noisy[..., None], "clean": clean[..., None],
                "id": noisy_name,
            }


def _manual_dir_or_none(dl_manager):
    """Returns (manual_dir or None if absent/empty, its path for messages)."""
    try:
        manual_dir = epath.Path(dl_manager.manual_dir)
        return manual_dir, manual_dir
    except (AssertionError, ValueError):
        # TFDS refuses an absent or empty manual_dir; for the official config
        # that is normal (data is downloaded), so keep only its path for
        # error messages.
        path = dl_manager._manual_dir  # pylint: disable=protected-access
        return None, epath.Path(path)


def _missing_message(manual_path, scenes, missing, error):
    """The missing-data message; `error` is None when nothing was downloaded
    because the user gave manual_dir."""
    if error is None:
        state = ("does not exist" if not manual_path.exists() else
                 "is not a folder" if not manual_path.is_dir() else
                 "is empty" if not any(manual_path.iterdir()) else
                 "lacks them")
        reason = (f"not in manual_dir {manual_path} ({state}); nothing was "
                  "downloaded because a manual_dir was given (build without "
                  "manual_dir to download them).")
    else:
        reason = (f"not in manual_dir {manual_path} and the download failed "
                  f"({type(error).__name__}: {error}).")
    lines = [
        f"7-Scenes data missing for scenes {missing}: {reason}",
        "Expected, for each requested scene, one of:",
    ]
    for scene in scenes:
        state = "MISSING" if scene in missing else "found"
        lines.append(f"  [{state}] {manual_path / (scene + '.zip')}  or  "
                     f"{manual_path / scene}/ (TrainSplit.txt, TestSplit.txt, "
                     "seq-NN.zip or seq-NN/)")
    lines.append("Download addresses (Microsoft Research licence, "
                 "non-commercial use):")
    lines += [f"  {archives.download_url(scene)}" for scene in scenes]
    return "\n".join(lines)
