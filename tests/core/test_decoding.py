"""spen_keras.core.decoding: constrained decoding, checked against brute force.

`python tests/core/test_decoding.py` times decode_lp_batch / decode_ilp_batch on
a batch shaped like the SRL devel set (not a unit test).
"""

import itertools
import time

import numpy as np
import pytest

from spen_keras.core.decoding import (ConstrainedProblem, decode_greedy,
                                 decode_ilp, decode_ilp_batch, decode_lp,
                                 decode_lp_batch, objective, overlap_groups,
                                 overlap_pairs, soft_violations,
                                 unique_label_groups, unique_label_pairs,
                                 violations)


def random_problem(rng, num_arcs=None, num_labels=3, use_groups=False):
    num_arcs = num_arcs or int(rng.integers(3, 6))
    scores = rng.normal(size=(num_arcs, num_labels))
    pairs = []
    for a, b in itertools.combinations(range(num_arcs), 2):
        for la in range(1, num_labels):
            for lb in range(1, num_labels):
                if rng.random() < 0.3:
                    pairs.append((a, la, b, lb))
    groups = None
    if use_groups:
        groups = [np.stack([rng.choice(num_arcs, 3),
                            rng.integers(1, num_labels, 3)], 1)
                  for _ in range(2)]
    return ConstrainedProblem(scores, np.array(pairs).reshape(-1, 4),
                              groups=groups)


def brute_force(problem):
    best, best_value = None, -np.inf
    for labels in itertools.product(range(problem.num_labels),
                                    repeat=problem.num_arcs):
        if violations(problem, labels) == 0:
            value = objective(problem, labels)
            if value > best_value:
                best, best_value = np.array(labels), value
    return best, best_value


def pairwise_violations(problem, pairs, assignment):
    """The definition in the brief: forbidden pairs both on."""
    assignment = np.asarray(assignment)
    return int(sum(assignment[a] == la and assignment[b] == lb
                   for a, la, b, lb in pairs))


@pytest.mark.parametrize("use_groups", [False, True])
def test_ilp_is_brute_force_optimum_and_lp_bounds_it(use_groups):
    rng = np.random.default_rng(0)
    integral_seen = fractional_seen = 0
    for _ in range(40):
        problem = random_problem(rng, use_groups=use_groups)
        _, best_value = brute_force(problem)
        ilp = decode_ilp(problem)
        assert violations(problem, ilp) == 0
        assert objective(problem, ilp) == pytest.approx(best_value, abs=1e-7)
        lp = decode_lp(problem)
        assert violations(problem, lp.assignment) == 0
        assert lp.lp_objective >= best_value - 1e-7
        assert objective(problem, lp.assignment) <= best_value + 1e-9
        if lp.integral:
            integral_seen += 1
            assert lp.lp_objective == pytest.approx(best_value, abs=1e-6)
            assert objective(problem, lp.assignment) == pytest.approx(
                best_value, abs=1e-6)
        else:
            fractional_seen += 1
        greedy = decode_greedy(problem)
        assert violations(problem, greedy) == 0
        assert objective(problem, greedy) <= best_value + 1e-9
    assert integral_seen > 0


def test_greedy_is_argmax_without_conflicts():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(6, 4))
    assert decode_greedy(ConstrainedProblem(scores)).tolist() == \
        np.argmax(scores, 1).tolist()
    # Constraints present but the argmax violates none of them.
    argmax = np.argmax(scores, 1)
    pairs = [(a, la, b, lb) for a, b in itertools.combinations(range(6), 2)
             for la in range(1, 4) for lb in range(1, 4)
             if not (la == argmax[a] and lb == argmax[b])]
    problem = ConstrainedProblem(scores, pairs)
    assert violations(problem, argmax) == 0
    assert decode_greedy(problem).tolist() == argmax.tolist()


def test_greedy_rule_and_a_case_the_ilp_fixes():
    # Arc 0 is most confident in label 1 and blocks label 1 on arcs 1 and 2;
    # H keeps it (3 + 0 + 0), the optimum drops it (0 + 2 + 2).
    scores = np.array([[0.0, 3.0], [0.0, 2.0], [0.0, 2.0]])
    problem = ConstrainedProblem(scores, [[0, 1, 1, 1], [0, 1, 2, 1]])
    assert decode_greedy(problem).tolist() == [1, 0, 0]
    assert decode_ilp(problem).tolist() == [0, 1, 1]
    lp = decode_lp(problem)
    assert lp.integral and lp.assignment.tolist() == [0, 1, 1]
    assert lp.lp_objective == pytest.approx(4.0)
    # Repair moves a blocked arc to its best non-conflicting label, not
    # necessarily empty.
    scores = np.array([[0.0, 5.0, 0.0], [0.0, 4.0, 3.0]])
    problem = ConstrainedProblem(scores, [[0, 1, 1, 1]])
    assert decode_greedy(problem).tolist() == [1, 2]


def test_lp_fractional_case_is_rounded_feasibly():
    # Odd cycle of pairwise conflicts: the LP puts 1/2 everywhere.
    scores = np.array([[0.0, 1.0]] * 3)
    pairs = [[0, 1, 1, 1], [1, 1, 2, 1], [0, 1, 2, 1]]
    problem = ConstrainedProblem(scores, pairs)
    lp = decode_lp(problem)
    assert not lp.integral
    assert lp.lp_objective == pytest.approx(1.5)
    np.testing.assert_allclose(lp.z[:, 1], 0.5, atol=1e-7)
    assert violations(problem, lp.assignment) == 0
    assert objective(problem, decode_ilp(problem)) == pytest.approx(1.0)
    # The same constraint as one group is tight: the LP is integral.
    grouped = ConstrainedProblem(scores, groups=[[[0, 1], [1, 1], [2, 1]]])
    lp = decode_lp(grouped)
    assert lp.integral and lp.lp_objective == pytest.approx(1.0)


def test_batch_equals_one_by_one():
    rng = np.random.default_rng(2)
    problems = [random_problem(rng, use_groups=bool(i % 2))
                for i in range(12)]
    lps = decode_lp_batch(problems)
    ilps = decode_ilp_batch(problems)
    for problem, lp, ilp in zip(problems, lps, ilps):
        single = decode_lp(problem)
        assert lp.lp_objective == pytest.approx(single.lp_objective,
                                                abs=1e-7)
        assert lp.integral == single.integral
        if single.integral:
            assert lp.assignment.tolist() == single.assignment.tolist()
        assert objective(problem, ilp) == pytest.approx(
            objective(problem, decode_ilp(problem)), abs=1e-7)
        assert violations(problem, ilp) == 0
    # H on the block-diagonal merge is H on each block.
    from spen_keras.core.decoding import _merge
    merged, offsets = _merge(problems)
    together = decode_greedy(merged)
    for problem, start, stop in zip(problems, offsets[:-1], offsets[1:]):
        assert together[start:stop].tolist() == \
            decode_greedy(problem).tolist()


def srl_problem(rng, num_candidates, num_labels=21, core=range(1, 7),
                use_groups=True, sentence_length=25):
    starts = rng.integers(0, sentence_length, num_candidates)
    lengths = rng.geometric(0.35, num_candidates) - 1
    spans = np.stack([starts, np.minimum(starts + lengths,
                                         sentence_length - 1)], 1)
    logits = rng.normal(size=(num_candidates, num_labels)) * 2.0
    logits[:, 0] += 2.0  # most candidates are empty
    scores = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    roles = np.arange(1, num_labels)
    if use_groups:
        return ConstrainedProblem(
            scores, groups=overlap_groups(spans, roles)
            + unique_label_groups(num_candidates, core))
    pairs = np.concatenate([overlap_pairs(spans, roles),
                            unique_label_pairs(num_candidates, core)])
    return ConstrainedProblem(scores, pairs)


def test_srl_helpers_groups_and_pairs_agree():
    rng = np.random.default_rng(3)
    for _ in range(5):
        state = rng.bit_generator.state
        grouped = srl_problem(rng, 5, num_labels=4, core=[1, 2])
        rng.bit_generator.state = state
        paired = srl_problem(rng, 5, num_labels=4, core=[1, 2],
                             use_groups=False)
        pairs_best = objective(paired, brute_force(paired)[0])
        for labels in itertools.product(range(4), repeat=5):
            assert (violations(grouped, labels) == 0) == \
                (violations(paired, labels) == 0)
        assert objective(grouped, decode_ilp(grouped)) == pytest.approx(
            pairs_best)
        assert decode_lp(grouped).lp_objective <= \
            decode_lp(paired).lp_objective + 1e-7


def test_violation_counts():
    scores = np.zeros((3, 3))
    pairs = [[0, 1, 1, 1], [0, 1, 2, 2], [1, 1, 2, 2]]
    problem = ConstrainedProblem(scores, pairs)
    for labels in itertools.product(range(3), repeat=3):
        assert violations(problem, labels) == \
            pairwise_violations(problem, pairs, labels)
        onehot = np.eye(3)[list(labels)]
        assert soft_violations(problem, onehot) == violations(problem, labels)
    z = np.array([[0.2, 0.8, 0.0], [0.3, 0.7, 0.0], [0.0, 0.0, 1.0]])
    # (0.8 + 0.7 - 1) + (0.8 + 1 - 1) + (0.7 + 1 - 1)
    assert soft_violations(problem, z) == pytest.approx(2.0)
    assert soft_violations(problem, np.full((3, 3), 1 / 3)) == 0.0


@pytest.mark.parametrize("build, message", [
    (lambda: ConstrainedProblem(np.zeros(3)), "num_arcs, num_labels"),
    (lambda: ConstrainedProblem([[0.0, np.nan]]), "NaN"),
    (lambda: ConstrainedProblem(np.zeros((2, 2)), [[0, 1, 1]]), r"\(m, 4\)"),
    (lambda: ConstrainedProblem(np.zeros((2, 2)), [[0, 1, 2, 1]]),
     "arc index"),
    (lambda: ConstrainedProblem(np.zeros((2, 2)), [[0, 1, 1, 3]]),
     "label index"),
    (lambda: ConstrainedProblem(np.zeros((2, 2)), [[0, 1, 0, 1]]),
     "different arcs"),
    (lambda: ConstrainedProblem(np.zeros((2, 2)), [[0, 0, 1, 1]]),
     "empty label"),
    (lambda: ConstrainedProblem(np.zeros((2, 2)), [[0, 1.5, 1, 1]]),
     "integers"),
    (lambda: ConstrainedProblem(np.zeros((2, 2)), empty_label=2),
     "empty_label"),
    (lambda: ConstrainedProblem(np.zeros((2, 2)), groups=[[0, 1]]),
     r"groups\[0\]"),
    (lambda: violations(ConstrainedProblem(np.zeros((2, 2))), [0, 2]),
     "assignment"),
    (lambda: soft_violations(ConstrainedProblem(np.zeros((2, 2))),
                             np.zeros((2, 3))), "z must have shape"),
    (lambda: decode_lp_batch([ConstrainedProblem(np.zeros((2, 2))),
                              ConstrainedProblem(np.zeros((2, 3)))]),
     "num_labels"),
    (lambda: overlap_pairs([[3, 1]], [1]), "end >= start"),
])
def test_bad_input_is_a_one_line_value_error(build, message):
    with pytest.raises(ValueError, match=message) as info:
        build()
    assert "\n" not in str(info.value)


def test_empty_and_trivial_problems():
    empty = ConstrainedProblem(np.zeros((0, 3)))
    assert decode_greedy(empty).shape == (0,)
    assert decode_ilp(empty).shape == (0,)
    assert decode_lp(empty).assignment.shape == (0,)
    single = ConstrainedProblem([[0.0, 1.0, 2.0]])
    assert decode_lp(single).assignment.tolist() == [2]
    assert decode_ilp(single).tolist() == [2]


def benchmark(num_predicates=3248, seed=0):
    rng = np.random.default_rng(seed)
    for use_groups in (True, False):
        start = time.perf_counter()
        problems = [srl_problem(rng, int(rng.integers(5, 16)),
                                use_groups=use_groups)
                    for _ in range(num_predicates)]
        built = time.perf_counter() - start
        arcs = sum(p.num_arcs for p in problems)
        rows = sum(p.num_constraints for p in problems)
        start = time.perf_counter()
        lps = decode_lp_batch(problems)
        lp_time = time.perf_counter() - start
        start = time.perf_counter()
        ilps = decode_ilp_batch(problems)
        ilp_time = time.perf_counter() - start
        fractional = sum(not d.integral for d in lps)
        start = time.perf_counter()
        greedy = [decode_greedy(p) for p in problems]
        greedy_time = time.perf_counter() - start
        gap = sum(objective(p, i) - objective(p, d.assignment)
                  for p, i, d in zip(problems, ilps, lps))
        h_gap = sum(objective(p, i) - objective(p, g)
                    for p, i, g in zip(problems, ilps, greedy))
        print(f"{'groups' if use_groups else 'pairs '}: {num_predicates} "
              f"predicates, {arcs} arcs, {rows} constraints; build "
              f"{built:.1f}s, LP batch {lp_time:.1f}s "
              f"({fractional} fractional), ILP batch {ilp_time:.1f}s, "
              f"H one-by-one {greedy_time:.1f}s; objective lost vs ILP: "
              f"LP+H {gap:.3f}, H {h_gap:.3f}")


if __name__ == "__main__":
    benchmark()
