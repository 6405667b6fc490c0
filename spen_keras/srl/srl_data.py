"""Sentences as tensors: the dense predicates x arguments grid of the SRL SPEN.

One sentence with P predicates becomes a grid of P rows and A columns, A the
union of the Xue & Palmer candidate spans of its predicates (sorted). Cell
(p, a) is an *arc* when span a is a candidate of predicate p, else it is
invalid and clamped to the empty role "O" (Belanger et al. 2017, Sec. 6.2).

Per sentence (`SentenceGrid`):

- ``ids`` (P, A, K) int32: the arc's feature ids (`FeatureVocabulary`), -1
  in every template for an invalid cell;
- ``roles`` (P, A) int32: the gold role id (`RoleSet`), 0 ("O") for a
  candidate no gold argument piece matches, -1 for an invalid cell;
- ``overlap_pairs`` (M, 2, 2) int32: [[p, a], [p, b]] for every two
  overlapping candidates a < b of predicate p (they may not both take a
  role);
- ``core_pairs`` (N, 2, 3) int32: [[p, a, r], [p, b, r]] for every two
  candidates a < b of predicate p and every core role r (A0-A5): a core role
  is taken at most once per predicate.

`batches` pads sentences to the largest P, A, M and N of a batch (ids and
roles with -1, pairs with -1 rows, which the constraint energies ignore) and
gives the SPEN's input dict plus one-hot float targets (B, P, A, R), where
every invalid or padded cell is one-hot "O": the clamped cells then cost
nothing in the loss and count nowhere in the metric.
"""

import collections

import numpy as np

from spen_keras.srl.arc_features import NO_ROLE

CORE_ROLES = ("A0", "A1", "A2", "A3", "A4", "A5")
#: Roles seen fewer times than this in train are not predicted (their
#: candidates are trained as "O").
MIN_ROLE_COUNT = 10


class RoleSet:
    """The roles a model predicts: "O" (id 0) then the train roles seen at
    least `MIN_ROLE_COUNT` times, most frequent first."""

    def __init__(self, roles):
        roles = [str(r) for r in roles]
        if not roles or roles[0] != NO_ROLE or len(set(roles)) != len(roles):
            raise ValueError(f"a RoleSet starts with {NO_ROLE!r} and has no "
                             f"duplicates; got {roles[:5]}...")
        self.roles = tuple(roles)
        self.ids = {r: i for i, r in enumerate(self.roles)}

    @classmethod
    def fit(cls, sentences, min_count=MIN_ROLE_COUNT):
        counts = collections.Counter(
            role for sentence in sentences for arcs in sentence.predicates
            for role in arcs.roles if role != NO_ROLE)
        kept = [r for r, n in sorted(counts.items(), key=lambda x: (-x[1],
                                                                    x[0]))
                if n >= min_count]
        return cls([NO_ROLE] + kept)

    def __len__(self):
        return len(self.roles)

    def id(self, role):
        """The role's id; 0 ("O") for a role the set does not predict."""
        return self.ids.get(role, 0)

    @property
    def core_ids(self):
        return [self.ids[r] for r in CORE_ROLES if r in self.ids]

    def __eq__(self, other):
        return isinstance(other, RoleSet) and self.roles == other.roles


SentenceGrid = collections.namedtuple(
    "SentenceGrid", ["spans", "ids", "roles", "overlap_pairs", "core_pairs"])


def _overlapping(spans):
    spans = np.asarray(spans, np.int64).reshape(-1, 2)
    a, b = np.triu_indices(len(spans), 1)
    keep = (spans[a, 0] <= spans[b, 1]) & (spans[b, 0] <= spans[a, 1])
    return a[keep], b[keep]


def sentence_grid(sentence, role_set, num_templates):
    """The `SentenceGrid` of one `arc_features.SentenceArcs` (its predicates'
    ids must have been computed with a vocabulary)."""
    spans = sorted({tuple(s) for arcs in sentence.predicates
                    for s in arcs.spans})
    column = {s: i for i, s in enumerate(spans)}
    num_p, num_a = len(sentence.predicates), len(spans)
    ids = np.full((num_p, num_a, num_templates), -1, np.int32)
    roles = np.full((num_p, num_a), -1, np.int32)
    overlap, core = [], []
    core_ids = role_set.core_ids
    for p, arcs in enumerate(sentence.predicates):
        if arcs.ids is None:
            raise ValueError("sentence_grid needs feature ids: build the "
                             "sentences with a FeatureVocabulary")
        cols = np.array([column[tuple(s)] for s in arcs.spans], np.int64)
        if len(cols) == 0:
            continue
        ids[p, cols] = arcs.ids
        roles[p, cols] = [role_set.id(r) for r in arcs.roles]
        first, second = _overlapping(arcs.spans)
        overlap.extend([[p, cols[i]], [p, cols[j]]]
                       for i, j in zip(first, second))
        a, b = np.triu_indices(len(cols), 1)
        for r in core_ids:
            core.extend([[p, cols[i], r], [p, cols[j], r]]
                        for i, j in zip(a, b))
    return SentenceGrid(
        np.asarray(spans, np.int32).reshape(-1, 2), ids, roles,
        np.asarray(overlap, np.int32).reshape(-1, 2, 2),
        np.asarray(core, np.int32).reshape(-1, 2, 3))


def grids(sentences, role_set, num_templates):
    """`sentence_grid` of every sentence that has predicates, with the
    indices of those sentences."""
    kept = [i for i, s in enumerate(sentences) if s.predicates]
    return kept, [sentence_grid(sentences[i], role_set, num_templates)
                  for i in kept]


def _pad(arrays, shape_tail_rank, fill):
    """Pads arrays to the largest shape on their first axes."""
    rank = arrays[0].ndim
    free = rank - shape_tail_rank
    largest = [max(max(a.shape[d] for a in arrays), 1) for d in range(free)]
    out = np.full([len(arrays)] + largest + list(arrays[0].shape[free:]),
                  fill, arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[(i,) + tuple(slice(0, n) for n in a.shape[:free])] = a
    return out


def pad_batch(batch, num_roles):
    """(x, y) of a list of `SentenceGrid`s: x = {"ids", "overlap_pairs",
    "core_pairs"} padded with -1, y = one-hot float32 targets (B, P, A, R)
    with invalid and padded cells one-hot "O"."""
    ids = _pad([g.ids for g in batch], 1, -1)
    roles = _pad([g.roles for g in batch], 0, -1)
    x = {"ids": ids,
         "overlap_pairs": _pad([g.overlap_pairs for g in batch], 2, -1),
         "core_pairs": _pad([g.core_pairs for g in batch], 2, -1)}
    y = np.zeros(roles.shape + (num_roles,), np.float32)
    np.put_along_axis(y, np.maximum(roles, 0)[..., None], 1.0, axis=-1)
    return x, y


def batch_indices(grids_, batch_size, shuffle=False, seed=0):
    """Batches of grid indices of similar size (sorted by P x A within
    windows of 50 batches), in random order when shuffling."""
    order = np.arange(len(grids_))
    rng = np.random.default_rng(seed)
    if shuffle:
        rng.shuffle(order)
    window = batch_size * 50
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start:start + window]
        size = [grids_[i].ids.shape[0] * grids_[i].ids.shape[1]
                for i in chunk]
        chunk = chunk[np.argsort(size, kind="stable")]
        batches.extend(chunk[i:i + batch_size]
                       for i in range(0, len(chunk), batch_size))
    if shuffle:
        rng.shuffle(batches)
    return batches


def batches(grids_, num_roles, batch_size, shuffle=False, seed=0):
    """Yields (indices, x, y) padded batches (see `pad_batch`)."""
    for index in batch_indices(grids_, batch_size, shuffle, seed):
        x, y = pad_batch([grids_[i] for i in index], num_roles)
        yield index, x, y


def flat_arcs(sentences, role_set):
    """All arcs of sentences as (ids (N, K) int32, roles (N,) int32), for
    training the local model arc by arc."""
    ids = [arcs.ids for s in sentences for arcs in s.predicates
           if len(arcs.spans)]
    roles = [role_set.id(r) for s in sentences for arcs in s.predicates
             for r in arcs.roles]
    return (np.concatenate(ids).astype(np.int32),
            np.asarray(roles, np.int32))
