"""Microsoft 7-Scenes: the TFDS builder and the embedded real frames.

`embedded/stairs/` holds 12 real frames used by `spen_keras.denoising`.
The TFDS builder lives in `seven_scenes_dataset_builder`; importing this
package (or `spen_keras.datasets`) imports it, which registers it with TFDS
as "seven_scenes".
"""

from spen_keras.datasets.seven_scenes.seven_scenes_archives import (
    SevenScenesDataError)
from spen_keras.datasets import TFDS_INSTALLED

__all__ = ["SevenScenesDataError"]

if TFDS_INSTALLED:  # the builder needs TFDS and TensorFlow
    from spen_keras.datasets.seven_scenes.seven_scenes_dataset_builder import (
        Builder)
    from spen_keras.datasets.seven_scenes.seven_scenes_dataset_builder import (
        SevenScenesConfig)
    from spen_keras.datasets.seven_scenes.seven_scenes_dataset_builder import (
        SevenScenesDataMissingError)
    from spen_keras.datasets.seven_scenes.seven_scenes_dataset_builder import (
        official_config)
    __all__ += ["Builder",
                "SevenScenesConfig",
                "SevenScenesDataMissingError",
                "official_config"]
