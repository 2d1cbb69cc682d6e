"""Cubic proof, O(d_vocab^3 K): cases (query q, max m, c non-max copies) with convexity counting.

The prover evaluates, in float64, the inequality that checker/rules/cubic.py states and proves:
  W_min * good - qpen - c * P(x) > 0
and puts every value x that passes with a relative margin into the case's set S. Only claims with
a margin are made, so float rounding here cannot make the checker reject (it would, soundly).
"""
from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np

from certify.paths import FloatModel
from certify.strategies.base import Proof, Strategy, needs_two_positions

MARGIN = 1e-9


def prove(model: FloatModel) -> Proof:
    cases, count = [], 0
    for q, m, c, xs in case_sets(model):
        cases.append([q, m, c, len(xs)])
        count += comb(model.k - 1, c) * len(xs) ** c
    return Proof("cubic", Fraction(count, model.d_vocab ** model.k), {}, {"cases": cases}, model.semantics)


def case_sets(model: FloatModel) -> list[tuple[int, int, int, list]]:
    """Every case (q, max, c) with a nonempty set S of passing values ([None] for c = 0)."""
    V, K = model.d_vocab, model.k
    qk = model.qk() / np.sqrt(model.d_head)
    w = np.exp(qk - qk.max(axis=(1, 2), keepdims=True))                 # [q, t, i] attention weights
    D, OV = model.direct_win_rival(), model.ov()                             # (win, rival) direct paths
    maxdd = _max_except(D[1]) - D[0]                                    # [q, m]: max_{j != m} rival[q, j] - win[q, m]
    maxovd = _max_except(OV) - OV                                        # [x, i, m]: max_{j != m} OV[x, i, j] - OV[x, i, m]
    out = []
    for q in range(V):
        out += [(q, m, c, xs) for m in range(q, V) for c, xs in _case_sets(q, m, K, w, D, OV, maxdd, maxovd)]
        model.tick(q + 1, V)
    return out


def _case_sets(q, m, K, w, D, OV, maxdd, maxovd):
    pos = list(range(K - 1)) + ([K - 1] if q == m else [])
    gap = (D[0][q, m] - D[1][q])[None, :] + OV[m, pos, m][:, None] - OV[m, pos]
    gap[:, m] = np.inf
    good = gap.min()
    if good <= 0:
        return
    qpen = 0.0 if q == m else w[q, q, K - 1] * max(0.0, maxdd[q, m] + maxovd[q, K - 1, m])
    worst = (w[q, :m, :K - 1] * np.maximum(0.0, maxdd[q, m] + maxovd[:m, :K - 1, m])).max(axis=1)
    smallest = np.sort(w[q, m, :K - 1])
    for c in range(K if q == m else K - 1):
        w_min = smallest[:K - 1 - c].sum() + (w[q, m, K - 1] if q == m else 0.0)
        base = w_min * good - qpen
        scale = abs(w_min * good) + qpen
        if c == 0:
            if base > MARGIN * scale:
                yield 0, [None]
            continue
        ok = base - c * worst > MARGIN * (scale + c * worst)
        xs = [int(x) for x in np.flatnonzero(ok)]
        if xs:
            yield c, xs


def _max_except(a: np.ndarray) -> np.ndarray:
    """out[..., m] = max_{j != m} a[..., j]: the row's best, or its second best at the best. (Float
    subtraction is monotone, so max_j fl(a_j - b) = fl(max_j a_j - b): the same as forming every
    difference, in O(V^2 K) instead of O(V^3 K) time and memory.)"""
    best = a.argmax(axis=-1)[..., None]
    top2 = np.sort(a, axis=-1)[..., -2:]
    out = np.repeat(top2[..., 1:], a.shape[-1], axis=-1)
    np.put_along_axis(out, best, top2[..., :1], axis=-1)
    return out


STRATEGY = Strategy("cubic", "O(d_vocab^3 K)",
                    "cases (query, max, copies); pessimal attention; convexity counting", prove,
                    applies=needs_two_positions, semantics=("exact-real", "float32"))
