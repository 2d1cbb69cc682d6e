"""Brute force: count exactly how many of the d_vocab**K inputs the model classifies correctly.

An input is correct iff for every j != m (m = the max token) the logit gap
  logit_m - logit_j = sum_i a_i * C[i, j],  C[i, j] = DIRECT[q, m] - DIRECT[q, j] + OV[t_i, i, m] - OV[t_i, i, j]
is > 0 (a tie is wrong). With a_i = exp(s_i) / Z and Z > 0 its sign is the sign of
sum_i C[i, j] * exp(s_i - S) for any constant S: a sum of rationals times exponentials.

Three stages, each sound by itself, the later ones only for inputs the earlier left undecided:
 1. filter: G[t, i, m] <= min_{j != m} C (per position); sum_i G_i w_i > 0 with w_i's lower/upper
    bounds proves every gap positive at once (the min of a sum is >= the sum of the mins).
 2. per-j float64 intervals: all lower bounds > 0 -> correct; some upper bound <= 0 -> wrong.
 3. exact sign of the remaining gaps (expo.sign_sum_exp, Lindemann-Weierstrass).
Stages 1-2 use float64 enclosures rounded outward by one ulp, exp enclosed by
interval.exp_bounds; stage 3 encloses exp with integer arithmetic (expo.py). The differences
DIRECT[q, m] - DIRECT[q, j] and OV[t, i, m] - OV[t, i, j] are formed exactly and only then rounded:
rounding each term first would let an offset common to all logits (b_U = 2**60) swamp them and leave
every input to stage 3. Only V*V*K distinct scores and V*K*V OV rows exist, so exp and the
path terms are computed per distinct value, then summed per input.
"""
from __future__ import annotations

from fractions import Fraction
from math import prod
from typing import Iterator

import numpy as np

from checker import expo
from checker.certificate import Certificate, fields
from checker.dyadic import Dyadic
from checker.errors import Malformed, OutOfBudget, Reject
from checker.interval import down, enclose_ints, exp_bounds, inv_sqrt, mul, mul_lower, mul_upper, up
from checker.ops import counted
from checker.paths import Paths
from checker.rules import semantic_paths
from checker.safetensors import Weights

CHUNK = 1 << 18
MAX_INPUTS = 1 << 31  # inputs enumerated, d_vocab**K
MAX_TABLE = 1 << 24   # entries of the per-query table of gap bounds [t, i, m, j], d_vocab**3 * K


def check_size(V: int, K: int) -> None:
    """The caps, before anything is allocated (OutOfBudget names the one exceeded)."""
    if V ** K > MAX_INPUTS:
        raise OutOfBudget(f"brute force would enumerate {V ** K:,} inputs (cap MAX_INPUTS = {MAX_INPUTS:,})")
    if V ** 3 * K > MAX_TABLE:
        raise OutOfBudget(f"brute force would tabulate d_vocab^3 K = {V ** 3 * K:,} gap bounds "
                          f"(cap MAX_TABLE = {MAX_TABLE:,})")


def count_correct(p: Paths) -> int:
    V, K = p.d_vocab, p.k
    check_size(V, K)
    # (lo, hi) [t, i, m, j] of OV[t, i, m] - OV[t, i, j], the same for every query; one key token at a
    # time keeps the exact integers at O(K V^2)
    ov_lo, ov_hi = counted(np.empty((V, K, V, V))), counted(np.empty((V, K, V, V)))
    for t in range(V):
        ov_lo[t], ov_hi[t] = enclose_ints(p.ov.n[t][:, :, None] - p.ov.n[t][:, None, :], p.ov.e)
    w_lo, w_hi = exp_table(p)
    correct = 0
    diag = np.arange(V)
    with np.errstate(over="ignore", invalid="ignore"):  # inf/NaN only leave inputs undecided
        for q in range(V):  # dq: (lo, hi) [m, j] of DIRECT[q, m] - DIRECT[q, j] (win and rival, paths.Paths)
            d = Dyadic(p.win.n[q][:, None], p.win.e) - Dyadic(p.rival.n[q][None, :], p.rival.e)
            dq = enclose_ints(d.n, d.e)
            c_lo = down(dq[0] + ov_lo)                                 # [t, i, m, j]: lower bounds of C
            c_lo[:, :, diag, diag] = np.inf                            # j == m never decides
            g = c_lo.min(axis=3)                                       # [t, i, m]
            for toks in product_rows([np.arange(V)] * (K - 1) + [np.array([q])], CHUNK):  # query last
                correct += _count_chunk(p, q, toks, g, c_lo, dq[1], ov_hi, (w_lo[q], w_hi[q]))
    return correct


def exp_table(p: Paths) -> tuple[np.ndarray, np.ndarray]:
    """Enclosures (lo, hi) [q, t, i] of w = exp((QK - top_q) / sqrt(d_head)), top_q the query's top score."""
    tops = p.qk.n.reshape(p.d_vocab, -1).max(axis=1)
    scores = enclose_ints(p.qk.n - tops[:, None, None], p.qk.e)    # scores minus the row's top
    return exp_bounds(*mul(scores, inv_sqrt(p.d_head)))


def product_rows(lists: list[np.ndarray], chunk: int) -> Iterator[np.ndarray]:
    """The Cartesian product of the lists as rows (the last list varying fastest), chunk rows at a time."""
    sizes = [len(v) for v in lists]
    total = prod(sizes)
    for start in range(0, total, chunk):
        idx, cols = np.arange(start, min(total, start + chunk), dtype=np.int64), []
        for v, size in zip(lists[::-1], sizes[::-1]):
            idx, digit = np.divmod(idx, size)
            cols.append(v[digit])
        yield np.stack(cols[::-1], axis=1)


def _count_chunk(p: Paths, q: int, toks: np.ndarray, g: np.ndarray, c_lo: np.ndarray,
                 dq_hi: np.ndarray, ov_hi: np.ndarray, w: tuple) -> int:
    """How many of these inputs (query q) are correct: stage 1 for all, stages 2-3 (per_logit) for
    the rest, with their lower and upper bounds of C[i, j] (+inf at j = m); dq_hi, ov_hi: the
    upper ends of count_correct's enclosures dq and (ov_lo, ov_hi)."""
    pos = np.arange(toks.shape[1])
    m = toks.max(axis=1)
    wl, wh = w[0][toks, pos], w[1][toks, pos]                  # [n, K]
    lower = rounded_sum(mul_lower(g[toks, pos, m[:, None]], wl, wh))  # stage 1: sum_i G_i w_i, rounded down
    undecided = np.flatnonzero(~(lower > 0))
    correct = len(toks) - undecided.size
    for start in range(0, undecided.size, 4096):
        rows = undecided[start:start + 4096]
        t, mr = toks[rows], m[rows]
        hi_c = up(dq_hi[mr][:, None, :] + ov_hi[t, pos, mr[:, None]])  # [n, K, V]
        hi_c[np.arange(len(rows)), :, mr] = np.inf
        correct += per_logit(p, q, t, mr, c_lo[t, pos, mr[:, None]], hi_c, wl[rows], wh[rows])
    return correct


def per_logit(p: Paths, q: int, toks: np.ndarray, m: np.ndarray, lo_c: np.ndarray,
              hi_c: np.ndarray, wl: np.ndarray, wh: np.ndarray) -> int:
    """How many of these inputs (query q, maxima m) are correct, by stages 2 and 3; lo_c and hi_c
    [n, K, V] are lower and upper bounds of C[i, j] (+inf at j = m)."""
    lower = rounded_sum(mul_lower(lo_c, wl[:, :, None], wh[:, :, None]))    # [n, V]
    upper = rounded_sum(mul_upper(hi_c, wl[:, :, None], wh[:, :, None]), up)
    wrong = (upper <= 0).any(axis=1)
    undecided = ~(lower > 0) & ~wrong[:, None]
    undecided[np.arange(len(m)), m] = False  # j = m is no competitor (its bounds may be inf * 0 = NaN)
    correct = int((~wrong & ~undecided.any(axis=1)).sum())
    exact = (all(_exact_gap_sign(p, q, toks[r], int(m[r]), int(j)) > 0 for j in np.flatnonzero(undecided[r]))
             for r in np.flatnonzero(undecided.any(axis=1)))  # stage 3: each undecided input, gap by gap
    return correct + sum(exact)


def _exact_gap_sign(p: Paths, q: int, toks: np.ndarray, m: int, j: int) -> int:
    """The exact sign of the gap logit_m - logit_j of one input (stage 3): of sum_i C[i, j] exp(s_i),
    which sign_sum_exp normalises by the largest score itself."""
    e = min(p.win.e, p.rival.e, p.ov.e)
    dd = (p.win.n[q, m] << (p.win.e - e)) - (p.rival.n[q, j] << (p.rival.e - e))
    coeffs = [dd + ((p.ov.n[t, i, m] - p.ov.n[t, i, j]) << (p.ov.e - e)) for i, t in enumerate(toks)]
    nums = [int(p.qk.n[q, t, i]) for i, t in enumerate(toks)]
    return expo.sign_sum_exp([int(c) for c in coeffs], nums, p.qk.e, p.d_head)


def rounded_sum(x: np.ndarray, step=down) -> np.ndarray:
    """A bound of the exact sum over axis 1, each partial sum rounded by step: down a lower bound,
    up an upper bound."""
    acc = x[:, 0]
    for i in range(1, x.shape[1]):
        acc = step(acc + x[:, i])
    return acc


def rule(cert: Certificate, w: Weights) -> Fraction:
    """Brute force: the bound is (counted correct inputs) / d_vocab**K.

    Soundness: count_correct decides the sign of every (adjusted) logit gap of every input exactly
    (see the module docstring). Under exact-real semantics the count is the exact accuracy's
    numerator and the evidence must state exactly it: a wrong count is refused, not corrected.
    Under float32 every gap is first lowered by the float32 error bound (semantic_paths), so the
    count is of inputs that the exact model and every conforming float32 execution classify
    correctly; the evidence may state any number up to it (the prover's own error bound may be
    more conservative than the checker's).
    """
    fields(cert.parameters, "strategy.parameters", set())
    claimed = claimed_count(fields(cert.evidence, "evidence", set(COUNTS)), w)
    check_size(w.d_vocab, w.k)
    return settle(cert, w, claimed, count_correct(semantic_paths(cert, w)))


COUNTS = ("correct_inputs", "total_inputs")  # the evidence fields of a count of correct inputs


def claimed_count(ev: dict, w: Weights) -> int:
    """The evidence's correct_inputs, after checking total_inputs is the model's d_vocab**K."""
    claimed, total = ev["correct_inputs"], w.d_vocab ** w.k
    if not (type(claimed) is int and type(ev["total_inputs"]) is int and claimed >= 0):
        raise Malformed("evidence.correct_inputs and evidence.total_inputs must be non-negative integers")
    if ev["total_inputs"] != total:
        raise Reject(f"evidence.total_inputs is {ev['total_inputs']!r}, the model has {total} inputs")
    return claimed


def settle(cert: Certificate, w: Weights, claimed: int, correct: int) -> Fraction:
    """correct / d_vocab**K, if the claimed count is exactly it (exact-real) or at most it (float32);
    d_vocab and K are the weights' own, the inputs counted (check.py also refuses a claim of others)."""
    exact = cert.semantics == "exact-real"
    if claimed > correct or (exact and claimed != correct):
        raise Reject(f"evidence.correct_inputs is {claimed}, but {'exactly' if exact else 'at most'} "
                     f"{correct} inputs are classified correctly under {cert.semantics} semantics")
    return Fraction(correct, w.d_vocab ** w.k)
