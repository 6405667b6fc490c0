"""The semantic role labelling family (Sec. 6.2 of the paper; Table 2).

Work in progress: the CoNLL-2005 data (`spen_keras.datasets.conll2005`),
candidate arguments from parse constituents with Xue & Palmer (2004)
pruning (`candidates`), the delexicalised sparse features of each
(predicate, candidate) arc with a vocabulary fit on train
(`arc_features`), and the official CoNLL-2005 scoring rules with a
props-format writer (`conll_scoring`); the constrained decoders are the
core's `spen_keras.decoding`. The local model, the SPEN, the presets and
Table 2 are not here yet; the family registers no preset or table until
they are.
"""

from spen_keras.family import register_family

register_family("srl")
