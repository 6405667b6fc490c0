"""The semantic role labelling family (Sec. 6.2 of the paper; Table 2).

- data: the CoNLL-2005 layers (`spen_keras.datasets.conll2005`), candidate
  arguments from parse constituents with Xue & Palmer (2004) pruning
  (`candidates`), delexicalised sparse features of each (predicate,
  candidate) arc with a vocabulary fitted on train (`arc_features`), and
  the dense predicates x arguments grid of a sentence (`srl_data`);
- models: the local model of Eq. 17/18 and the SPEN of Sec. 6.2.2, built
  from the library's energies (`srl_layers`, `srl_spen`), used through
  `SrlLabeler`;
- decoding: the constraints Q and the core's decoders H / LP / ILP
  (`srl_decode`, `spen_keras.core.decoding`);
- scoring: the official CoNLL-2005 rules and the props writer
  (`conll_scoring`);
- the presets of Table 2 (`srl_presets`), the table (`table2`) and the
  `srl-label` command for a user's file (`user_files`, `commands`).

Importing this package registers the family (the one call below).
"""

from spen_keras.datasets.conll2005.conll2005_layers import Conll2005DataError
from spen_keras.presets.family import register_family
from spen_keras.srl.commands import COMMANDS
from spen_keras.srl.srl_labeler import SrlLabeler
from spen_keras.srl.srl_presets import SRL_PRESETS
from spen_keras.srl.table2 import TABLE2
from spen_keras.srl.user_files import SrlInputError
from spen_keras.srl.user_files import label_file

register_family("srl", presets=SRL_PRESETS, tables=[TABLE2],
                commands=COMMANDS,
                user_errors=(SrlInputError, Conll2005DataError))

__all__ = ["SRL_PRESETS", "TABLE2", "SrlInputError", "SrlLabeler",
           "label_file"]
