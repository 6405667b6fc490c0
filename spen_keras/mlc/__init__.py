"""The multi-label classification family (Belanger & McCallum, ICML 2016).

- data: Mulan Bibtex and Delicious (`spen_keras.datasets.mulan`, shipped),
  with a fixed validation slice of train (`mlc_data`);
- models from the library's layers: an MLP feature network, the local
  energy sum_i y_i b_i^T F(x) (`LocalLinearEnergy`), the global label
  energy c2^T SoftPlus(C1 y) (`MLPGlobalEnergy`, ICNN option), Bernoulli
  entropy; unrolled inference in logit space, by entropic mirror descent
  or projected gradient on [0, 1]; end-to-end or SSVM training
  (`mlc_models`); the BR and MLP baselines;
- metrics: example-averaged F1 with a validation-chosen threshold, Hamming
  loss, micro/macro F1, a Keras `ExampleF1` metric (`mlc_metrics`);
- the recipe (`mlc_recipe`), the preset kind (`mlc_kind`), the trainer
  (`mlc_training`), the presets (`mlc_presets`, data only), the table
  (`mlc_table`) and the
  `predict-labels` command (`user_files`, `commands`);
- your own data (`own_data`): any ARFF/CSV file or numpy arrays, any
  multi-label recipe trained on it into a user preset
  (`train_classifier`, `own_data.load_files`, `own_data.train_preset`,
  the `train-labels` command).

Importing this package registers the family (the one call below).
"""

from spen_keras.datasets.mulan.mulan_arff import MulanDataError
from spen_keras.presets.family import register_family
from spen_keras.mlc.commands import COMMANDS
from spen_keras.mlc.mlc_metrics import ExampleF1
from spen_keras.mlc.mlc_metrics import example_f1
from spen_keras.mlc.mlc_models import MultiLabelSpen
from spen_keras.mlc.mlc_presets import MLC_PRESETS
from spen_keras.mlc.mlc_table import MLC_TABLE
from spen_keras.mlc.multi_label_classifier import MultiLabelClassifier
from spen_keras.mlc.own_data import train_classifier
from spen_keras.mlc.user_files import MlcInputError
from spen_keras.mlc.user_files import predict_file

register_family("mlc", presets=MLC_PRESETS, tables=[MLC_TABLE],
                commands=COMMANDS,
                user_errors=(MlcInputError, MulanDataError))

__all__ = ["ExampleF1", "MLC_PRESETS", "MLC_TABLE", "MlcInputError",
           "MultiLabelClassifier", "MultiLabelSpen", "example_f1",
           "predict_file", "train_classifier"]
