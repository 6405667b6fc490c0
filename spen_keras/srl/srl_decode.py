"""From soft role scores to scored CoNLL-2005 propositions.

Per predicate, its candidates' scores (log-probabilities of the local model,
or log of the SPEN's relaxed y) become a `decoding.ConstrainedProblem` with
the constraints Q of Sec. 6.2: overlapping candidates may not both take a
role (`overlap_groups`), a core role A0-A5 is taken at most once
(`unique_label_groups`). The decoders are the core's: "h" (greedy repair),
"lp" (the exact LP relaxation, what AD3 solves, by HiGHS, then H) and
"ilp" (exact, `milp`).
"""

import numpy as np

from spen_keras.core import decoding
from spen_keras.srl import conll_scoring

DECODERS = ("h", "lp", "ilp")
DECODER_NAMES = {"h": "H (greedy repair)", "lp": "LP relaxation (AD3) + H",
                 "ilp": "exact ILP"}
#: log-probabilities are floored here so that every score is finite.
LOG_FLOOR = -30.0


def check_decoder(decoder):
    if decoder not in DECODERS:
        raise ValueError(f"Unknown decoder {decoder!r}; expected one of "
                         f"{DECODERS}.")
    return decoder


def predicate_problem(log_probs, spans, role_set):
    """The `ConstrainedProblem` of one predicate's (K, R) log-probabilities
    over its K candidate spans."""
    scores = np.maximum(np.asarray(log_probs, np.float64), LOG_FLOOR)
    non_empty = list(range(1, len(role_set)))
    groups = []
    if len(spans):
        groups = (decoding.overlap_groups(spans, non_empty)
                  + decoding.unique_label_groups(len(spans),
                                                 role_set.core_ids))
    return decoding.ConstrainedProblem(scores, empty_label=0, groups=groups)


def decode_problems(problems, decoder):
    """Assignments (role ids) of a list of problems."""
    check_decoder(decoder)
    if decoder == "h":
        return [decoding.decode_greedy(p) for p in problems]
    if decoder == "lp":
        return [d.assignment for d in decoding.decode_lp_batch(problems)]
    return decoding.decode_ilp_batch(problems)


def assignment_spans(assignment, spans, role_set):
    """[(start, end, role)] of the arcs that took a role other than "O"."""
    return [(int(s[0]), int(s[1]), role_set.roles[r])
            for s, r in zip(spans, assignment) if r > 0]


def decode_sentences(sentences, log_probs, role_set, decoder):
    """Predicted spans per predicate of every sentence.

    Args:
        sentences: `arc_features.SentenceArcs`.
        log_probs: per sentence, per predicate a (K, R) array over its
            candidates (in `PredicateArcs.spans` order).
        decoder: "h", "lp" or "ilp".

    Returns:
        per sentence, per predicate a list of (start, end, role).
    """
    problems, where = [], []
    for s, (sentence, scores) in enumerate(zip(sentences, log_probs)):
        for p, (arcs, lp) in enumerate(zip(sentence.predicates, scores)):
            problems.append(predicate_problem(lp, arcs.spans, role_set))
            where.append((s, p))
    assignments = decode_problems(problems, decoder) if problems else []
    out = [[[] for _ in sentence.predicates] for sentence in sentences]
    for (s, p), assignment in zip(where, assignments):
        out[s][p] = assignment_spans(assignment,
                                     sentences[s].predicates[p].spans,
                                     role_set)
    return out


def score_sentences(sentences, predicted):
    """`conll_scoring.score` of predicted spans against the sentences' gold
    props."""
    return conll_scoring.score([s.gold for s in sentences], predicted)


def props_sentences(sentences, predicted):
    """(lemmas, spans per predicate) per sentence, for
    `conll_scoring.write_props`."""
    return [(s.lemmas, spans) for s, spans in zip(sentences, predicted)]
