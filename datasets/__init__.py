"""TFDS dataset builders of spen-keras (installed as `spen_keras.datasets`).

Importing this package imports every builder module, which registers its
builder with TFDS, so that after `import spen_keras.datasets` (or
`import spen_keras`) `tfds.builder("seven_scenes")`,
`tfds.load("seven_scenes/official", ...)`, `tfds.builder("conll2005")` and
`tfds.builder("mulan/delicious")` find them (where TFDS is installed). A new builder in
`datasets/<name>/` is imported here too
(`tests/datasets/test_datasets_registration.py` checks that every
`*_dataset_builder.py` is).
"""

# Absolute imports: the builder must be defined (and registered) once, under
# its installed name, even if this folder is imported as a top-level package.
from importlib.util import find_spec

try:  # Any file system (GCS, ...) where etils is installed (with TFDS):
    from etils import epath  # noqa: F401  (the readers' `epath.Path`)
except ImportError:  # local files only (JAX or PyTorch without TFDS).
    import pathlib as epath  # noqa: F401

#: Whether TFDS and TensorFlow are installed. Without them (spen-keras on
#: JAX or PyTorch only) the builders are not imported; the plain readers
#: (`seven_scenes_archives`, `conll2005_layers`, `mulan_arff`) still are.
TFDS_INSTALLED = all(find_spec(name) is not None
                     for name in ("tensorflow", "tensorflow_datasets"))

if TFDS_INSTALLED:
    from spen_keras.datasets.conll2005 import conll2005_dataset_builder
    from spen_keras.datasets.mulan import mulan_dataset_builder
    from spen_keras.datasets.seven_scenes import seven_scenes_dataset_builder

    BUILDER_MODULES = (seven_scenes_dataset_builder,
                       conll2005_dataset_builder, mulan_dataset_builder)
else:
    BUILDER_MODULES = ()
