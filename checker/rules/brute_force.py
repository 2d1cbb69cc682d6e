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
interval.exp_bounds; stage 3 encloses exp with integer arithmetic (expo.py). Only V*V*K distinct scores and V*K*V OV rows exist, so exp and the
path terms are computed per distinct value, then summed per input.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from checker import expo
from checker.certificate import Certificate, fields
from checker.interval import down, enclose_ints, exp_bounds, inv_sqrt, mul, mul_lower, mul_upper, up
from checker.ops import EXP_OPS, Ops
from checker.paths import Paths
from checker.rules import Reject, semantic_paths
from checker.safetensors import Weights

CHUNK = 1 << 18
MAX_INPUTS = 1 << 31


class TooLarge(Exception):
    pass


def count_correct(p: Paths, ops: Ops) -> int:
    V, K = p.d_vocab, p.k
    if V ** K > MAX_INPUTS:
        raise TooLarge(f"brute force would enumerate {V ** K:,} inputs (limit {MAX_INPUTS:,})")
    win, rival = enclose_ints(p.win.n, p.win.e), enclose_ints(p.rival.n, p.rival.e)
    o = enclose_ints(p.ov.n, p.ov.e)
    tops, (w_lo, w_hi) = exp_table(p, ops)
    correct = 0
    with np.errstate(over="ignore", invalid="ignore"):  # inf/NaN only leave inputs undecided
        ov_gap = down(o[0][:, :, :, None] - o[1][:, :, None, :])      # [t, i, m, j], the same for every q
        ops.add(ov_gap.size)
        for q in range(V):
            dq = ((win[0][q], win[1][q]), (rival[0][q], rival[1][q]))
            correct += _count_query(p, q, dq, o, ov_gap, (w_lo[q], w_hi[q]), int(tops[q]), ops)
    return correct


def exp_table(p: Paths, ops: Ops) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Each query's top score numerator, and enclosures [q, t, i] of w = exp((QK - top_q) / sqrt(d_head))."""
    tops = np.array([max(p.qk.n[q].ravel()) for q in range(p.d_vocab)], dtype=object)
    s_lo, s_hi = enclose_ints(p.qk.n - tops[:, None, None], p.qk.e)    # scores minus the row's top
    w = exp_bounds(*mul((s_lo, s_hi), inv_sqrt(p.d_head)))
    ops.add(w[0].size * EXP_OPS)
    return tops, w


def _count_query(p: Paths, q: int, dq: tuple, o: tuple, ov_gap: np.ndarray, w: tuple, top: int,
                 ops: Ops) -> int:
    V, K = p.d_vocab, p.k
    c_lo = _gap_lower(dq, ov_gap, ops)
    g = c_lo.min(axis=3)                                       # [t, i, m]
    ops.add(c_lo.size)
    correct = 0
    for start in range(0, V ** (K - 1), CHUNK):
        toks = _inputs(V, K, q, start, min(start + CHUNK, V ** (K - 1)))
        correct += _count_chunk(p, q, toks, g, c_lo, (dq, o), w, top, ops)
    return correct


def _gap_lower(dq: tuple, ov_gap: np.ndarray, ops: Ops) -> np.ndarray:
    """Lower bounds of C[t, i, m, j] for this query; +inf on j == m so it never decides.
    dq = (win, rival) enclosures of the query's direct path (paths.Paths)."""
    (win_lo, _), (_, rival_hi) = dq
    V = win_lo.shape[0]
    dd_lo = down(win_lo[:, None] - rival_hi[None, :])          # [m, j]
    c_lo = down(dd_lo + ov_gap)
    diag = np.arange(V)
    c_lo[:, :, diag, diag] = np.inf
    ops.add(c_lo.size + dd_lo.size)
    return c_lo


def _gap_upper(dq: tuple, o: tuple, toks: np.ndarray, m: np.ndarray, ops: Ops) -> np.ndarray:
    """Upper bounds of C[i, j] for the given inputs [n, K, V]; +inf on j == m."""
    (_, win_hi), (rival_lo, _) = dq
    pos = np.arange(toks.shape[1])
    dd_hi = up(win_hi[m][:, None] - rival_lo[None, :])         # [n, j]
    own = o[1][toks, pos, m[:, None]]                           # [n, K]
    c_hi = up(dd_hi[:, None, :] + up(own[:, :, None] - o[0][toks, pos]))
    c_hi[np.arange(len(m)), :, m] = np.inf
    ops.add(2 * c_hi.size)
    return c_hi


def _inputs(V: int, K: int, q: int, start: int, stop: int) -> np.ndarray:
    idx = np.arange(start, stop, dtype=np.int64)
    toks = np.empty((stop - start, K), dtype=np.int64)
    for i in range(K - 2, -1, -1):
        idx, toks[:, i] = np.divmod(idx, V)
    toks[:, K - 1] = q
    return toks


def _count_chunk(p: Paths, q: int, toks: np.ndarray, g: np.ndarray, c_lo: np.ndarray,
                 terms: tuple, w: tuple, top: int, ops: Ops) -> int:
    n, K = toks.shape
    pos = np.arange(K)
    m = toks.max(axis=1)
    wl, wh = w[0][toks, pos], w[1][toks, pos]                  # [n, K]
    gi = g[toks, pos, m[:, None]]
    lower = _sum_down(mul_lower(gi, wl, wh))
    ops.add(4 * n * K)
    undecided = np.flatnonzero(~(lower > 0))
    correct = n - undecided.size
    for start in range(0, undecided.size, 4096):
        rows = undecided[start:start + 4096]
        lo_c = c_lo[toks[rows], pos, m[rows, None]]                # [n, K, V]
        correct += per_logit(p, q, toks[rows], m[rows], lo_c, terms, wl[rows], wh[rows], top, ops)
    return correct


def per_logit(p: Paths, q: int, toks: np.ndarray, m: np.ndarray, lo_c: np.ndarray,
              terms: tuple, wl: np.ndarray, wh: np.ndarray, top: int, ops: Ops) -> int:
    """How many of these inputs (query q, maxima m) are correct, by stages 2 and 3; lo_c [n, K, V]
    are lower bounds of C[i, j] (+inf at j = m), terms = (direct, OV) enclosures for _gap_upper."""
    hi_c = _gap_upper(*terms, toks, m, ops)
    lower = _sum_down(mul_lower(lo_c, wl[:, :, None], wh[:, :, None]))    # [n, V]
    upper = _sum_up(mul_upper(hi_c, wl[:, :, None], wh[:, :, None]))
    ops.add(4 * lo_c.size)
    wrong = (upper <= 0).any(axis=1)
    undecided = ~(lower > 0) & ~wrong[:, None]
    undecided[np.arange(len(m)), m] = False  # j = m is no competitor (its bounds may be inf * 0 = NaN)
    correct = int((~wrong & ~undecided.any(axis=1)).sum())
    for r in np.flatnonzero(undecided.any(axis=1)):
        if all(_exact_gap_sign(p, q, toks[r], int(m[r]), int(j), top, ops) > 0
               for j in np.flatnonzero(undecided[r])):
            correct += 1
    return correct


def _exact_gap_sign(p: Paths, q: int, toks: np.ndarray, m: int, j: int, top: int, ops: Ops) -> int:
    e = min(p.win.e, p.ov.e)
    dd = (p.win.n[q, m] - p.rival.n[q, j]) << (p.win.e - e)
    coeffs = [dd + ((p.ov.n[t, i, m] - p.ov.n[t, i, j]) << (p.ov.e - e)) for i, t in enumerate(toks)]
    nums = [int(p.qk.n[q, t, i]) - top for i, t in enumerate(toks)]
    ops.add(4 * len(toks))
    return expo.sign_sum_exp([int(c) for c in coeffs], nums, p.qk.e, p.d_head, ops=ops)


def _sum_down(x: np.ndarray) -> np.ndarray:
    """Lower bound of the exact sum over axis 1, rounding each partial sum down."""
    acc = x[:, 0]
    for i in range(1, x.shape[1]):
        acc = down(acc + x[:, i])
    return acc


def _sum_up(x: np.ndarray) -> np.ndarray:
    acc = x[:, 0]
    for i in range(1, x.shape[1]):
        acc = up(acc + x[:, i])
    return acc


def rule(cert: Certificate, w: Weights, ops: Ops) -> Fraction:
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
    try:
        correct = count_correct(semantic_paths(cert, w, ops), ops)
    except TooLarge as e:
        raise Reject(str(e)) from None
    return settle(cert, claimed, correct)


COUNTS = ("correct_inputs", "total_inputs")  # the evidence fields of a count of correct inputs


def claimed_count(ev: dict, w: Weights) -> int:
    """The evidence's correct_inputs, after checking total_inputs is the model's d_vocab**K."""
    total = w.d_vocab ** w.k
    if ev["total_inputs"] != total or type(ev["total_inputs"]) is not int:
        raise Reject(f"evidence.total_inputs is {ev['total_inputs']!r}, the model has {total} inputs")
    claimed = ev["correct_inputs"]
    if type(claimed) is not int or claimed < 0:
        raise Reject(f"evidence.correct_inputs is {claimed!r}, not a count")
    return claimed


def settle(cert: Certificate, claimed: int, correct: int) -> Fraction:
    """correct / d_vocab**K, if the claimed count is exactly it (exact-real) or at most it (float32)."""
    exact = cert.semantics == "exact-real"
    if claimed > correct or (exact and claimed != correct):
        raise Reject(f"evidence.correct_inputs is {claimed}, but {'exactly' if exact else 'at most'} "
                     f"{correct} inputs are classified correctly under {cert.semantics} semantics")
    return Fraction(correct, cert.d_vocab ** cert.k)
