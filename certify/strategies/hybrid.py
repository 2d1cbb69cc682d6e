"""Hybrid proof: the cubic proof's cases, plus brute force on exactly the inputs they leave out.

Only cases worth their checking cost are claimed (_worth): a case covering a handful of inputs
costs the checker more than deciding those inputs one by one.

The certified bound is the exact accuracy. The residue is enumerated by the checker's own
`residue` (checker/rules/hybrid.py, pure combinatorics from the case structure) from this prover's
case sets, and counted by the brute-force prover's Counter. The checker recounts from its own sets.
"""
from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np

from certify.paths import FloatModel
from certify.strategies import brute_force, cubic
from certify.strategies.base import Proof, Strategy, needs_two_positions
from checker.rules.hybrid import MAX_RESIDUE, residue, residue_size

MAX_INPUTS = 1 << 40  # beyond this even a few percent of the inputs is out of reach


def applies(m: FloatModel) -> str | None:
    if m.d_vocab ** m.k > MAX_INPUTS:
        return (f"{m.d_vocab}^{m.k} inputs: the residue of a compact proof would still be too many "
                f"to enumerate; use cubic or subcubic")
    return needs_two_positions(m)


def prove(m: FloatModel) -> Proof:
    return proof(m, [case for case in cubic.case_sets(m) if _worth(*case, m.k, m.d_vocab)])


def proof(m: FloatModel, found: list[tuple[int, int, int, list]]) -> Proof:
    """The hybrid proof claiming these cubic cases (q, max, c, passing values)."""
    V, K = m.d_vocab, m.k
    sets = {(q, mx, c): xs for q, mx, c, xs in found}
    left = residue_size(V, K, sets)
    if left > MAX_RESIDUE:
        raise ValueError(f"the cubic proof leaves {left:,} inputs, more than the limit of "
                         f"{MAX_RESIDUE:,} to enumerate")
    covered = sum(comb(K - 1, c) * len(xs) ** c for _, _, c, xs in found)
    counter = brute_force.Counter(m)
    correct = covered
    for q, I, mx, X in residue(V, K, sets):
        toks = np.repeat(mx[:, None], K, axis=1)
        toks[:, K - 1] = q
        toks[:, list(I)] = X
        correct += counter.count(q, toks)
    evidence = {"cases": [[q, mx, c, len(xs)] for q, mx, c, xs in found],
                "correct_inputs": correct, "total_inputs": V ** K}
    return Proof("hybrid", Fraction(correct, V ** K), {"compact": "cubic"}, evidence, m.semantics)


def _worth(q: int, mx: int, c: int, xs: list, K: int, V: int) -> bool:
    """Whether claiming the case costs the checker fewer ops than deciding its inputs as residue:
    its cubic check (about 3 K V + 5 m (K - 1) ops, checker/rules/cubic.py) against about 4c + 1
    ops per input of the residue's first stage (the bound is exact either way)."""
    return comb(K - 1, c) * len(xs) ** c * (4 * c + 1) > 3 * K * V + 5 * mx * (K - 1)


STRATEGY = Strategy("hybrid", "O(V^3 K + residue K V)",
                    "cubic cases, then brute force on exactly the inputs they leave; the bound is the "
                    "exact accuracy", prove, default=False, applies=applies,
                    semantics=("exact-real", "float32"))
