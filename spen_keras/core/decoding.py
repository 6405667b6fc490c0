"""Constrained decoding: soft scores over arcs x labels -> a discrete
assignment that satisfies pairwise (at-most-one) constraints.

Task-neutral. A problem has `num_arcs` arcs, each of which takes exactly one
of `num_labels` labels, one of them the *empty* label (SRL: an arc is a
(predicate, candidate span) pair; labels are {empty, A0, A1, ..., AM-TMP,
...}). `scores[a, l]` is what assigning label l to arc a is worth (log
probabilities, the relaxed y of an SPEN, any score to maximise); the
objective of an assignment is the sum of its arcs' scores.

Constraints Q (Belanger et al. 2017, Sec. 6.2) are *forbidden pairs*: an
(arc_a, label_a, arc_b, label_b) row says the two may not both be on. Large
families of pairs are better given as *at-most-one groups*: a set of
(arc, label) nodes of which at most one may be on, which forbids every pair
of its nodes on different arcs. Both are kept internally as groups (a pair
is a group of two). For SRL:

- two overlapping candidate spans of a predicate may not both be non-empty:
  `overlap_pairs(spans, roles)` gives the pairs, `overlap_groups(spans,
  roles)` one group per maximal set of spans sharing a token (exactly the
  same integer solutions, far fewer LP rows, a tighter LP);
- a core role (A0-A5) is taken by at most one arc of a predicate:
  `unique_label_pairs(num_arcs, core)` / `unique_label_groups(num_arcs,
  core)`.

A constraint may never involve the empty label, so "all arcs empty" is
always feasible and every decoder always succeeds.

Decoders:

- `decode_greedy` (H): argmax per arc, then greedy repair (exact rule in its
  docstring);
- `decode_lp` / `decode_lp_batch`: the LP relaxation, solved by HiGHS
  (`scipy.optimize.linprog`) with sparse matrices, a batch of independent
  problems stacked block-diagonally into one LP; rounded by H run on the
  fractional solution;
- `decode_ilp` / `decode_ilp_batch`: the exact constrained MAP
  (`scipy.optimize.milp`; the batch version solves the LP first and sends
  only the problems whose LP optimum is fractional to the MILP, an integral
  LP optimum being an ILP optimum).

Measures: `objective`, `violations` (number of violated pairs; for a group,
the number of its nodes on beyond one), `soft_violations` (its relaxation
for a soft z, sum over constraints of max(0, sum z - 1)).

>>> scores = np.log([[0.2, 0.8], [0.3, 0.7], [0.3, 0.7]])
>>> problem = ConstrainedProblem(scores, [[0, 1, 1, 1], [0, 1, 2, 1]])
>>> decode_greedy(problem).tolist()
[1, 0, 0]
>>> decode_ilp(problem).tolist()
[0, 1, 1]
>>> violations(problem, [1, 1, 1])
2
"""

import dataclasses

import numpy as np
import scipy.optimize
import scipy.sparse


class ConstrainedProblem:
    """Scores over arcs x labels plus at-most-one constraints.

    scores: (num_arcs, num_labels) finite floats, to maximise.
    forbidden_pairs: (m, 4) ints (arc_a, label_a, arc_b, label_b), two
        different arcs, neither label empty. Duplicates are dropped.
    empty_label: the label that is always allowed.
    groups: optional sequence of (k, 2) int arrays of (arc, label) nodes, at
        most one of which may be on (nodes on one arc never conflict with
        each other; duplicate nodes are dropped).
    """

    def __init__(self, scores, forbidden_pairs=None, empty_label=0,
                 groups=None):
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim != 2 or scores.shape[1] == 0:
            raise ValueError(f"scores must be (num_arcs, num_labels) with "
                             f"num_labels >= 1, got shape {scores.shape}")
        if not np.all(np.isfinite(scores)):
            raise ValueError("scores contain NaN or inf (clip -inf "
                             "log-probabilities to a finite floor)")
        num_arcs, num_labels = scores.shape
        if not (isinstance(empty_label, (int, np.integer))
                and 0 <= empty_label < num_labels):
            raise ValueError(f"empty_label must be an int in "
                             f"[0, {num_labels}), got {empty_label!r}")
        self.scores = scores
        self.empty_label = int(empty_label)
        pairs = _as_int_array(forbidden_pairs, 4, "forbidden_pairs")
        self._check_nodes(pairs[:, 0], pairs[:, 1], "forbidden_pairs")
        self._check_nodes(pairs[:, 2], pairs[:, 3], "forbidden_pairs")
        if np.any(pairs[:, 0] == pairs[:, 2]):
            raise ValueError("forbidden_pairs must join two different arcs")
        # Canonical order (smaller node first), duplicates dropped.
        first = pairs[:, 0] * num_labels + pairs[:, 1]
        second = pairs[:, 2] * num_labels + pairs[:, 3]
        pair_nodes = np.unique(np.sort(np.stack([first, second], 1), 1),
                               axis=0) if len(pairs) else np.zeros((0, 2),
                                                                   np.int64)
        node_lists = [pair_nodes.reshape(-1)]
        sizes = [np.full(len(pair_nodes), 2, np.int64)]
        for index, group in enumerate([] if groups is None else groups):
            group = _as_int_array(group, 2, f"groups[{index}]")
            self._check_nodes(group[:, 0], group[:, 1], f"groups[{index}]")
            nodes = np.unique(group[:, 0] * num_labels + group[:, 1])
            if len(nodes) < 2:  # can never be violated
                continue
            node_lists.append(nodes)
            sizes.append(np.array([len(nodes)], np.int64))
        sizes = np.concatenate(sizes)
        #: CSR of the constraints: group g holds nodes
        #: group_nodes[group_ptr[g]:group_ptr[g + 1]], node = arc * L + label.
        self.group_ptr = np.concatenate([[0], np.cumsum(sizes)])
        self.group_nodes = np.concatenate(node_lists).astype(np.int64)

    def _check_nodes(self, arcs, labels, what):
        num_arcs, num_labels = self.scores.shape
        if np.any((arcs < 0) | (arcs >= num_arcs)):
            raise ValueError(f"{what}: arc index out of [0, {num_arcs})")
        if np.any((labels < 0) | (labels >= num_labels)):
            raise ValueError(f"{what}: label index out of [0, {num_labels})")
        if np.any(labels == self.empty_label):
            raise ValueError(f"{what}: a constraint may not involve the "
                             f"empty label {self.empty_label}")

    @property
    def num_arcs(self):
        return self.scores.shape[0]

    @property
    def num_labels(self):
        return self.scores.shape[1]

    @property
    def num_constraints(self):
        return len(self.group_ptr) - 1

    def _group_ids(self):
        return np.repeat(np.arange(self.num_constraints),
                         np.diff(self.group_ptr))

    def __repr__(self):
        return (f"ConstrainedProblem(num_arcs={self.num_arcs}, "
                f"num_labels={self.num_labels}, "
                f"num_constraints={self.num_constraints}, "
                f"empty_label={self.empty_label})")


def _as_int_array(value, width, what):
    if value is None:
        return np.zeros((0, width), np.int64)
    array = np.asarray(value)
    if array.size == 0:
        return np.zeros((0, width), np.int64)
    if array.ndim != 2 or array.shape[1] != width:
        raise ValueError(f"{what} must have shape (m, {width}), got "
                         f"{array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        if not (np.all(np.isfinite(array)) and np.all(array == np.round(array))):
            raise ValueError(f"{what} must hold integers")
    return array.astype(np.int64)


# ----------------------------------------------------------------- SRL helpers

def _check_spans(spans):
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2) \
        if np.size(spans) else np.zeros((0, 2), np.int64)
    if np.any(spans[:, 1] < spans[:, 0]):
        raise ValueError("spans must be (start, end inclusive) with "
                         "end >= start")
    return spans


def _label_list(labels):
    labels = np.unique(np.asarray(labels, dtype=np.int64).reshape(-1))
    return labels


def overlap_pairs(spans, labels):
    """Forbidden pairs: two overlapping spans may not both take a label of
    `labels` (the non-empty ones), one (m, 4) row per overlapping arc pair
    and label pair. spans: (num_arcs, 2) (start, end inclusive).

    >>> overlap_pairs([[0, 2], [2, 3], [4, 4]], [1]).tolist()
    [[0, 1, 1, 1]]
    """
    spans = _check_spans(spans)
    labels = _label_list(labels)
    a, b = np.triu_indices(len(spans), 1)
    keep = (spans[a, 0] <= spans[b, 1]) & (spans[b, 0] <= spans[a, 1])
    a, b = a[keep], b[keep]
    la, lb = np.meshgrid(labels, labels, indexing="ij")
    la, lb = la.reshape(-1), lb.reshape(-1)
    rows = np.stack([np.repeat(a, len(la)), np.tile(la, len(a)),
                     np.repeat(b, len(la)), np.tile(lb, len(a))], 1)
    return rows.reshape(-1, 4)


def overlap_groups(spans, labels):
    """At-most-one groups equivalent to `overlap_pairs(spans, labels)`: for
    each maximal set of spans sharing a token, all their `labels` nodes.
    Two spans overlap iff they share a token, so these groups forbid exactly
    the same assignments.

    >>> [g.tolist() for g in overlap_groups([[0, 2], [2, 3], [4, 4]], [1])]
    [[[0, 1], [1, 1]]]
    """
    spans = _check_spans(spans)
    labels = _label_list(labels)
    if len(spans) == 0 or len(labels) == 0:
        return []
    sets = []
    for token in np.unique(spans):  # a maximal clique contains an endpoint
        members = np.flatnonzero((spans[:, 0] <= token)
                                 & (token <= spans[:, 1]))
        if len(members) >= 2:
            sets.append(frozenset(members.tolist()))
    sets = set(sets)
    maximal = sorted(sorted(s) for s in sets
                     if not any(s < other for other in sets))
    return [np.stack([np.repeat(m, len(labels)),
                      np.tile(labels, len(m))], 1) for m in maximal]


def unique_label_pairs(num_arcs, labels):
    """Forbidden pairs: each label of `labels` (e.g. the core roles A0-A5) is
    taken by at most one of the `num_arcs` arcs.

    >>> unique_label_pairs(3, [2]).tolist()
    [[0, 2, 1, 2], [0, 2, 2, 2], [1, 2, 2, 2]]
    """
    labels = _label_list(labels)
    a, b = np.triu_indices(int(num_arcs), 1)
    return np.stack([np.tile(a, len(labels)), np.repeat(labels, len(a)),
                     np.tile(b, len(labels)), np.repeat(labels, len(a))],
                    1).reshape(-1, 4)


def unique_label_groups(num_arcs, labels):
    """At-most-one groups equivalent to `unique_label_pairs`: one group
    {(arc, label) for every arc} per label."""
    labels = _label_list(labels)
    if num_arcs < 2:
        return []
    arcs = np.arange(int(num_arcs))
    return [np.stack([arcs, np.full_like(arcs, label)], 1)
            for label in labels]


# ------------------------------------------------------------------- measures

def _check_assignment(problem, assignment):
    assignment = np.asarray(assignment)
    if assignment.shape != (problem.num_arcs,):
        raise ValueError(f"assignment must have shape ({problem.num_arcs},), "
                         f"got {assignment.shape}")
    if assignment.size and (not np.issubdtype(assignment.dtype, np.integer)
                            or assignment.min() < 0
                            or assignment.max() >= problem.num_labels):
        raise ValueError(f"assignment must hold labels in "
                         f"[0, {problem.num_labels})")
    return assignment.astype(np.int64)


def _check_z(problem, z):
    z = np.asarray(z, dtype=np.float64)
    if z.shape != problem.scores.shape:
        raise ValueError(f"z must have shape {problem.scores.shape}, got "
                         f"{z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("z contains NaN or inf")
    return z


def objective(problem, assignment):
    """Sum of the scores of the assignment's (arc, label) nodes."""
    assignment = _check_assignment(problem, assignment)
    return float(problem.scores[np.arange(problem.num_arcs), assignment].sum())


def violations(problem, assignment):
    """Number of violated constraints, counted per pair: for each group, the
    number of its nodes that are on beyond the first (for a forbidden pair,
    1 when both are on)."""
    assignment = _check_assignment(problem, assignment)
    on = np.zeros(problem.num_arcs * problem.num_labels)
    on[np.arange(problem.num_arcs) * problem.num_labels + assignment] = 1.0
    return int(round(_excess(problem, on)))


def soft_violations(problem, z):
    """Soft constraint violation of z (num_arcs, num_labels): the sum over
    constraints of max(0, sum of z over its nodes - 1); for forbidden pairs
    sum max(0, z_a + z_b - 1). Equals `violations` for a one-hot z."""
    z = _check_z(problem, z)
    return float(_excess(problem, z.reshape(-1)))


def _excess(problem, values):
    if problem.num_constraints == 0:
        return 0.0
    # Every group holds >= 2 nodes, so reduceat's segments are all non-empty.
    totals = np.add.reduceat(values[problem.group_nodes],
                             problem.group_ptr[:-1])
    return np.maximum(totals - 1.0, 0.0).sum()


# ---------------------------------------------------------------- greedy (H)

def decode_greedy(problem, scores=None, tiebreak=None):
    """H: argmax per arc, then greedy repair. Exactly:

    1. Arcs are visited once each, in decreasing order of confidence
       max_l scores[a, l] (ties: by `tiebreak`'s max, then lower arc index).
    2. A visited arc takes its best label, by score (ties: by `tiebreak`,
       then lower label index), among those not in conflict with a label
       already kept on an earlier-visited arc. The empty label never
       conflicts, so every arc gets a label; an arc whose argmax conflicts
       with nothing kept keeps its argmax.

    The result has no violations, and equals the per-arc argmax when that
    has none. `scores` (default problem.scores) replaces the scores used,
    e.g. a fractional LP solution; `tiebreak` is a secondary score.
    """
    scores = problem.scores if scores is None else _check_z(problem, scores)
    if tiebreak is not None:
        tiebreak = _check_z(problem, tiebreak)
    num_arcs, num_labels = scores.shape
    if num_arcs == 0:
        return np.zeros(0, np.int64)
    best = scores.max(1)
    keys = (np.arange(num_arcs),) if tiebreak is None else (
        np.arange(num_arcs), -tiebreak.max(1))
    order = np.lexsort(keys + (-best,))
    if problem.num_constraints == 0 and tiebreak is None:
        return np.argmax(scores, 1).astype(np.int64)
    # node -> groups containing it (CSR over nodes).
    group_ids = problem._group_ids()
    by_node = np.argsort(problem.group_nodes, kind="stable")
    node_groups = group_ids[by_node]
    node_of_entry = problem.group_nodes[by_node]
    node_ptr = np.searchsorted(node_of_entry,
                               np.arange(num_arcs * num_labels + 1))
    count_on = np.zeros(problem.num_constraints, np.int64)
    assignment = np.empty(num_arcs, np.int64)
    for arc in order:
        row = scores[arc]
        lo, hi = node_ptr[arc * num_labels], node_ptr[(arc + 1) * num_labels]
        if hi > lo:
            groups = node_groups[lo:hi]
            blocked_labels = node_of_entry[lo:hi][count_on[groups] > 0] \
                - arc * num_labels
            if len(blocked_labels):
                row = row.copy()
                row[blocked_labels] = -np.inf
        top = row.max()
        if tiebreak is None:
            label = int(np.argmax(row))
        else:
            tied = np.flatnonzero(row == top)
            label = int(tied[np.argmax(tiebreak[arc, tied])])
        assignment[arc] = label
        node = arc * num_labels + label
        count_on[node_groups[node_ptr[node]:node_ptr[node + 1]]] += 1
    return assignment


# ----------------------------------------------------------------------- LP

@dataclasses.dataclass
class LPDecoding:
    """decode_lp's result: `assignment` (num_arcs,) ints, H-rounded; `z` the
    LP solution (num_arcs, num_labels); `lp_objective` = scores . z (an
    upper bound on the ILP optimum); `integral`: z was integral (then
    `assignment` is its argmax and is ILP-optimal)."""
    assignment: np.ndarray
    z: np.ndarray
    lp_objective: float
    integral: bool


def _merge(problems):
    """One block-diagonal problem from independent ones (same num_labels and
    empty_label), plus the arc offsets to split results."""
    problems = list(problems)
    for p in problems:
        if not isinstance(p, ConstrainedProblem):
            raise ValueError(f"expected ConstrainedProblem, got "
                             f"{type(p).__name__}")
    if not problems:
        raise ValueError("empty batch of problems")
    num_labels, empty = problems[0].num_labels, problems[0].empty_label
    if any(p.num_labels != num_labels or p.empty_label != empty
           for p in problems):
        raise ValueError("a batch needs one num_labels and empty_label")
    arc_offsets = np.concatenate(
        [[0], np.cumsum([p.num_arcs for p in problems])])
    merged = ConstrainedProblem.__new__(ConstrainedProblem)
    merged.scores = np.concatenate([p.scores for p in problems])
    merged.empty_label = empty
    merged.group_nodes = np.concatenate(
        [p.group_nodes + off * num_labels
         for p, off in zip(problems, arc_offsets)])
    merged.group_ptr = np.concatenate(
        [[0], np.cumsum(np.concatenate([np.diff(p.group_ptr)
                                        for p in problems]))]).astype(np.int64)
    return merged, arc_offsets


def _matrices(problem):
    """Sparse (A_eq, b_eq, A_ub, b_ub) of the relaxation.

    Row of group g: sum of its nodes <= 1. Where a group holds more than
    half of one arc's labels, those are rewritten with the arc's equality
    (sum_l z[a, l] = 1) as 1 - (the arc's other labels): the same LP, far
    fewer nonzeros (an overlap group then costs one z[a, empty] per arc)."""
    num_arcs, num_labels = problem.scores.shape
    n = num_arcs * num_labels
    a_eq = scipy.sparse.csr_matrix(
        (np.ones(n), (np.repeat(np.arange(num_arcs), num_labels),
                      np.arange(n))), shape=(num_arcs, n))
    b_eq = np.ones(num_arcs)
    groups = problem._group_ids()
    nodes = problem.group_nodes
    arcs = nodes // num_labels
    key = groups * num_arcs + arcs
    keys, inverse, counts = np.unique(key, return_inverse=True,
                                      return_counts=True)
    flip_key = counts > num_labels - counts
    flipped = flip_key[inverse]
    # Kept entries: +1 on the node itself.
    rows = [groups[~flipped]]
    cols = [nodes[~flipped]]
    vals = [np.ones(int((~flipped).sum()))]
    b_ub = np.ones(problem.num_constraints)
    if flip_key.any():
        flip_keys = keys[flip_key]
        fg, fa = flip_keys // num_arcs, flip_keys % num_arcs
        member = np.zeros((len(flip_keys), num_labels), bool)
        position = np.searchsorted(flip_keys, key[flipped])
        member[position, nodes[flipped] % num_labels] = True
        k, label = np.nonzero(~member)
        rows.append(fg[k])
        cols.append(fa[k] * num_labels + label)
        vals.append(-np.ones(len(k)))
        np.subtract.at(b_ub, fg, 1.0)
    a_ub = scipy.sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(problem.num_constraints, n))
    return a_eq, b_eq, a_ub, b_ub


def _solve_lp(problem):
    a_eq, b_eq, a_ub, b_ub = _matrices(problem)
    ub = dict(A_ub=a_ub, b_ub=b_ub) if problem.num_constraints else {}
    result = scipy.optimize.linprog(
        -problem.scores.reshape(-1), A_eq=a_eq, b_eq=b_eq, bounds=(0, 1),
        method="highs", **ub)
    if result.status != 0:
        raise RuntimeError(f"linprog failed: {result.message}")
    return np.clip(result.x, 0.0, 1.0).reshape(problem.scores.shape)


def decode_lp_batch(problems, tol=1e-6):
    """decode_lp over independent problems (same num_labels and empty_label)
    solved as one block-diagonal LP; a list of LPDecoding."""
    merged, offsets = _merge(problems)
    if merged.num_arcs == 0:
        z = merged.scores.copy()
    else:
        z = _solve_lp(merged)
    rounded = decode_greedy(merged, scores=z, tiebreak=merged.scores)
    out = []
    for start, stop in zip(offsets[:-1], offsets[1:]):
        zi = z[start:stop]
        out.append(LPDecoding(
            assignment=rounded[start:stop], z=zi,
            lp_objective=float((merged.scores[start:stop] * zi).sum()),
            integral=bool(np.all(np.abs(zi - np.round(zi)) <= tol))))
    return out


def decode_lp(problem, tol=1e-6):
    """LP relaxation of the constrained MAP: z[a, l] in [0, 1], sum_l z[a, l]
    = 1, sum of z over each group's nodes <= 1 (z_a + z_b <= 1 for a pair);
    maximise scores . z with HiGHS. Rounded by H on z (ties by the scores).
    `integral` is True when every |z - round(z)| <= tol."""
    return decode_lp_batch([problem], tol=tol)[0]


# ---------------------------------------------------------------------- ILP

def _solve_ilp(problem):
    a_eq, b_eq, a_ub, b_ub = _matrices(problem)
    constraints = [scipy.optimize.LinearConstraint(a_eq, b_eq, b_eq)]
    if problem.num_constraints:
        constraints.append(scipy.optimize.LinearConstraint(a_ub, -np.inf,
                                                           b_ub))
    n = problem.scores.size
    result = scipy.optimize.milp(
        -problem.scores.reshape(-1), constraints=constraints,
        integrality=np.ones(n), bounds=scipy.optimize.Bounds(0, 1),
        options={"mip_rel_gap": 0.0})
    if result.status != 0:
        raise RuntimeError(f"milp failed: {result.message}")
    return np.argmax(result.x.reshape(problem.scores.shape), 1)


def decode_ilp(problem):
    """Exact constrained MAP by scipy.optimize.milp (HiGHS): the LP of
    decode_lp with integral z. Returns the (num_arcs,) assignment."""
    if not isinstance(problem, ConstrainedProblem):
        raise ValueError(f"expected ConstrainedProblem, got "
                         f"{type(problem).__name__}")
    if problem.num_arcs == 0:
        return np.zeros(0, np.int64)
    return _solve_ilp(problem).astype(np.int64)


def decode_ilp_batch(problems, tol=1e-6):
    """decode_ilp over independent problems: one block-diagonal LP first;
    problems whose LP optimum is integral take it (it is ILP-optimal), the
    rest are merged into one MILP. A list of assignments."""
    problems = list(problems)
    lp = decode_lp_batch(problems, tol=tol)
    out = [np.argmax(d.z, 1).astype(np.int64) if d.integral else None
           for d in lp]
    pending = [i for i, a in enumerate(out) if a is None]
    if pending:
        merged, offsets = _merge([problems[i] for i in pending])
        assignment = _solve_ilp(merged).astype(np.int64)
        for i, start, stop in zip(pending, offsets[:-1], offsets[1:]):
            out[i] = assignment[start:stop]
    return out
