"""Behaviour of checker/rules/{brute_force,cubic,hybrid}.py that mutation testing showed untested
(benchmarks/mutate_checker.py; which test kills which mutant: benchmarks/mutation/classes.txt). Small
path tables built here, each count checked against an independent exact one; no prover.
"""
from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

import mpmath
import numpy as np
import pytest

from checker.certificate import Certificate
from checker.dyadic import Dyadic
from checker.ops import Ops
from checker.paths import Paths
from checker.rules import brute_force as bf, cubic, hybrid


def _float_below(x: mpmath.mpf) -> Fraction:
    """The largest float64 strictly below the real x (x not a float), exactly."""
    f = float(x)
    return Fraction(float(np.nextafter(f, -np.inf)) if f > x else f)


def _dyadic(values: np.ndarray) -> Dyadic:
    """An object array of Fractions with power-of-two denominators, as one Dyadic."""
    e = -max(Fraction(v).denominator.bit_length() - 1 for v in values.flat)
    return Dyadic(np.vectorize(lambda v: int(Fraction(v) * 2 ** -e), otypes=[object])(values), e)


# ---------------------------------------------------------------- brute_force.py

def _sub_ulp_gap_paths() -> Paths:
    """V = 2, K = 2, d_head = 1, no direct path. Input (key 1, query 0): m = 1, j = 0, the key scores
    the query's top (weight 1) with C = A, the query scores -3 (weight e^-3) with C = -1, and A is
    the float64 just below e^-3: the gap A - e^-3 is negative by less than an ulp of either term,
    wrong. (0, 0) and (1, 1) are correct (gaps e^-3 and A, times Z), (0, 1) is a tie: the exact
    count is 2."""
    with mpmath.workprec(200):
        A = _float_below(mpmath.exp(-3))
    ov = np.zeros((2, 2, 2), dtype=object)
    ov[1, 0] = [0, A]          # key position, token 1: OV[1, 0, 1] - OV[1, 0, 0] = A
    ov[0, 1] = [1, 0]          # query position, token 0: OV[0, 1, 1] - OV[0, 1, 0] = -1
    qk = np.zeros((2, 2, 2), dtype=object)
    qk[0, 0, 1] = -3           # query 0's score of itself at the query position
    z = Dyadic(np.zeros((2, 2), dtype=object), 0)
    return Paths(k=2, d_vocab=2, d_head=1, qk=Dyadic(qk, 0), ov=_dyadic(ov), direct=z, win=z, rival=z)


def test_brute_force_stage_1_takes_the_weights_upper_end_for_a_negative_coefficient():
    """Stage 1's lower bound of sum_i G_i w_i must take w's upper end where G_i < 0: from its lower
    end (e^-3 enclosed a few ulps wide) the bound of the wrong input's gap A - e^-3 (below 0 by less
    than an ulp) is positive, and it is counted correct: 3, unsound."""
    assert bf.count_correct(_sub_ulp_gap_paths()) == 2


def _paths(direct, ov, qk=None, e: int = 0, qk_e: int = 0) -> Paths:
    """Paths of d_head 1 from nested lists or object arrays of ints: DIRECT [q, v] (also win and rival)
    and OV [t, i, v] in units of 2^e, scores QK [q, t, i] in units of 2^qk_e (default all 0: every
    attention weight exactly 1, as exp_bounds(0) is [1, 1])."""
    direct, ov = np.array(direct, dtype=object), np.array(ov, dtype=object)
    V, K = ov.shape[0], ov.shape[1]
    qk = np.zeros((V, V, K), dtype=object) if qk is None else np.array(qk, dtype=object)
    d = Dyadic(direct, e)
    return Paths(k=K, d_vocab=V, d_head=1, qk=Dyadic(qk, qk_e), ov=Dyadic(ov, e), direct=d, win=d, rival=d)


def _exact_count(direct, ov, qk=None, qk_e: int = 0) -> int:
    """The exact count of a _paths model, independently of the checker: the gap to j times Z is
    sum_i exp(s_i) C_i, C_i = DIRECT[q, m] - DIRECT[q, j] + OV[t_i, i, m] - OV[t_i, i, j], s_i =
    QK[q, t_i, i] 2^qk_e; the exps of distinct rationals are linearly independent over the rationals
    (Lindemann-Weierstrass), so the sum is 0 exactly when each score's coefficients sum to 0, and
    otherwise mpmath at 60 digits has its sign (a few terms of size <= 10^3: no cancellation to
    10^-50). The unit 2^e of DIRECT and OV scales every gap alike and plays no part."""
    direct, ov = np.array(direct, dtype=object), np.array(ov, dtype=object)
    V, K = ov.shape[0], ov.shape[1]
    qk = np.zeros((V, V, K), dtype=object) if qk is None else np.array(qk, dtype=object)
    correct = 0
    with mpmath.workdps(60):
        for toks in np.ndindex(*(V,) * K):
            q, m = toks[-1], max(toks)
            ok = True
            for j in (j for j in range(V) if j != m):
                by_score: dict[int, int] = {}
                for i, t in enumerate(toks):
                    c = int(direct[q, m]) - int(direct[q, j]) + int(ov[t, i, m]) - int(ov[t, i, j])
                    by_score[int(qk[q, t, i])] = by_score.get(int(qk[q, t, i]), 0) + c
                gap = mpmath.fsum(c * mpmath.exp(mpmath.mpf(s) * mpmath.mpf(2) ** qk_e) for s, c in by_score.items())
                ok &= any(by_score.values()) and gap > 0
            correct += ok
    return correct


def _residue_ops(p: Paths) -> tuple[int, int]:
    """hybrid.count_residue(p) and the ops it counted."""
    with Ops() as ops:
        n = hybrid.count_residue(p, {})
    return n, ops.count


def _cubic_ops(p: Paths, cases: list) -> tuple[list, int]:
    """cubic.proven's answer for these cases of p (a certificate of bound 0), and the ops it counted."""
    cert = Certificate(p.k, p.d_vocab, "exact-real", Fraction(0), "0" * 64, "m", "cubic", {}, {"cases": cases})
    with Ops() as ops:
        got = list(cubic.proven(cert, SimpleNamespace(k=p.k, d_vocab=p.d_vocab), p))
    return got, ops.count


# ---------------------------------------------------------------- hybrid.py

def _wide_ov_paths(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """V = 3, K = 2, no direct path, weights 1. OV[2, 0] = (0, 2^60, 2^60 + a): at the key, token 2
    beats j = 1 by a, but the float enclosures of 2^60 and 2^60 + a are 128 and 256 wide (the
    rebased row's first entry, 0, is tight); OV[1, 1] = (0, b, 0): at the query, token 1 loses b to
    j = 1. Input (key 2, query 1): gap a - b."""
    ov = np.zeros((3, 2, 3), dtype=object)
    ov[2, 0] = [0, 1 << 60, (1 << 60) + a]
    ov[1, 1] = [0, b, 0]
    return np.zeros((3, 3), dtype=object), ov


@pytest.mark.parametrize("a, b", [(200, 220), (129, 130)])
def test_hybrid_lower_bound_of_an_ov_difference_takes_the_max_entrys_lower_end(a, b):
    """ovd[t, i, m, j] <= OV[t, i, m] - OV[t, i, j] must take the lower end of m's enclosure and the
    upper end of j's: 2^60 + a's nearest float is 2^60 + 256, and from its upper end (2^60 + 512)
    minus 2^60's (2^60 + 256) ovd is 256 less an ulp, > b, so the wrong input (key 2, query 1),
    gap a - b < 0, is counted correct (5 of 9 instead of 4), unsound."""
    direct, ov = _wide_ov_paths(a, b)
    p = _paths(direct, ov)
    assert hybrid.count_residue(p, {}) == bf.count_correct(p) == _exact_count(direct, ov) == 4



@pytest.mark.parametrize("b", [1, 300, 381])
def test_hybrid_lower_bound_of_an_ov_difference_takes_the_competitors_upper_end(b):
    """V = 3, K = 2, no direct path, weights 1. OV[2, 0] = (0, J, M), J = 2^61 + 255 (nearest float
    2^61, lower end 2^61 - 256: 511 below J), M = 2^61 - 127 (nearest 2^61, lower end 2^61 - 256:
    129 below M): at the key token 2 loses M - J = -382 to j = 1; OV[1, 1] = (0, 0, b): at the query
    token 1 wins b. Input (key 2, query 1) is wrong (gap b - 382 < 0), and so is every other: count 0.
    ovd <= OV[m] - OV[j] must subtract j's upper end: from both lower ends the key's ovd is 0 (less
    an ulp), the gap's bound b > 0, and the input is counted correct, unsound."""
    B = 1 << 61
    ov = np.zeros((3, 2, 3), dtype=object)
    ov[2, 0] = [0, B + 255, B - 127]
    ov[1, 1] = [0, 0, b]
    direct = np.zeros((3, 3), dtype=object)
    p = _paths(direct, ov)
    assert hybrid.count_residue(p, {}) == bf.count_correct(p) == _exact_count(direct, ov) == 0


SUBNORMAL_V4 = ([[4, 8, -12, 8], [-1, 0, 3, -5], [12, -11, -6, -3], [2, -2, -9, -11]],
                [[[-12, -11, -9, 12], [-8, 4, 6, -7]], [[-5, -2, -6, 12], [-8, 10, 7, 9]],
                 [[-10, -3, 3, 0], [4, 4, 4, -11]], [[11, 1, 10, -6], [-3, 9, -8, -11]]])


def test_hybrid_residue_rounds_each_bound_outward_op_count_of_a_subnormal_model():
    """V = 4, K = 2, weights 1, path terms a few units of 2^-1074 (numpy's default_rng(5) integers
    in [-12, 12]): 1 of the 16 inputs is correct (brute force's count and an independent exact sum
    agree), and the residue's stages decide the others with 10363 counted ops. Every bound here is
    exact up to its outward steps of one unit, so a step turned inward decides an input in a
    different stage (the count stays, as no bound crosses the exact value by more than the steps
    it lost): the op count moves. Catches stages A-C's lower bound of DIRECT[q, m] - DIRECT[q, j]
    stepped up (two units higher: 10341 ops) and stage B's upper bounds stepped down (wrong inputs
    proven wrong before stage C)."""
    p = _paths(*SUBNORMAL_V4, e=-1074)
    assert _residue_ops(p) == (bf.count_correct(p), 10363) == (_exact_count(*SUBNORMAL_V4), 10363) == (1, 10363)


# ---------------------------------------------------------------- cubic.py

def test_cubic_filter_of_a_subnormal_model_op_count():
    """V = 3, K = 3, d_head 1, direct and OV paths a few units of 2^-1074 (numpy's default_rng(78)
    integers in [-20, 20]), scores small integers: the cases (q, m, c) = (0, 2, 0) and (0, 2, 1)
    hold (values {0, 1}), with 2752 counted ops: the float filter leaves (0, 2, 0) and both values
    of (0, 2, 1) to the exact decision. Every float enclosure is exact up to outward steps of one
    unit; with _max_sum's upper end stepped down instead of up, good[0, 2]'s lower end is two units
    higher and the filter proves (0, 2, 0) itself (2681 ops; a true case, so only the work shows)."""
    direct = np.array([[-3, -13, 17], [-17, 1, -13], [14, -19, -5]], dtype=object)
    ov = np.array([[[-3, 3, -7], [-5, -15, -7], [6, 3, 0]], [[7, -4, 14], [13, -10, 17], [9, -16, 9]],
                   [[5, 15, -7], [-11, -12, 17], [-20, -16, -15]]], dtype=object)
    qk = np.array([[[0, -1, 2], [-2, 0, -2], [-1, 2, 0]], [[-2, 0, -1], [1, -1, 0], [2, 2, 0]],
                   [[0, 0, -1], [2, 2, 1], [2, 0, 0]]], dtype=object)
    p = _paths(direct, ov, qk, e=-1074)
    assert _cubic_ops(p, [[0, 2, 0, 1], [0, 2, 1, 2]]) == ([(0, 2, 0, 1, [None]), (0, 2, 1, 2, [0, 1])], 2752)


SUBNORMAL_SCORED = {  # numpy default_rng(seed) integers: (direct, ov, qk), path terms in units of 2^-1074, scores qk / 2
    "V4-K3": ([[18, 16, 0, 18], [20, 19, -17, -2], [4, -9, -5, 5], [12, 3, -13, 7]],
              [[[15, -11, 2, -7], [16, -18, -1, 16], [-3, -15, 12, 19]], [[20, 18, -5, 10], [19, 3, 18, 4], [-13, -1, 4, -8]],
               [[8, -4, 18, -12], [7, -17, -15, 1], [0, 0, 0, 15]], [[0, -6, 19, 16], [-6, -12, -11, -14], [1, 3, 6, 16]]],
              [[[2, 0, 0], [-2, -1, 2], [2, -2, 0], [0, 1, -2]], [[0, -1, -1], [2, 1, -2], [1, 0, -2], [1, 0, 0]],
               [[-1, 2, -2], [2, -1, 2], [2, -2, 2], [-2, -1, 0]], [[1, -2, -2], [-1, 2, -1], [0, -2, 2], [2, -1, 2]]]),
    "V3-K2": ([[1, 0, -3], [8, -2, 3], [-2, -1, 8]],
              [[[-5, 2, -1], [3, 4, -3]], [[3, 3, -1], [-6, 2, -8]], [[7, 6, 6], [-8, 8, 8]]],
              [[[0, 2], [1, 1], [-2, -2]], [[-1, -1], [0, 2], [1, 0]], [[0, 1], [1, -2], [1, -2]]]),
}


@pytest.mark.parametrize("name, want", [("V4-K3", (20, 23956, 20, 20875)), ("V3-K2", (3, 6316, 3, 5834))])
def test_residue_and_brute_force_op_counts_of_scored_subnormal_models(name, want):
    """Two models whose path terms are a few units of 2^-1074 (every enclosure and outward step one
    unit) with scores in {-1, -1/2, 0, 1/2, 1}: the hybrid residue's and brute force's counts agree
    with an independent exact count, and their op counts are these. An outward step turned inward
    (or a bound's comparison loosened) decides inputs in another stage, so the count stays but the
    op count moves; so does R's r = min(R, V - 2) at V = 3, and an upper bound compared with 1
    instead of 0 (all bounds here being tiny: 4 inputs instead of 20). Catches, in both rules, lower
    bounds stepped up, upper bounds stepped down, and comparisons of a bound with 0 loosened to >= or
    < (sound: a 0.0 from down() bounds a positive value, but a stage is skipped)."""
    # Small integer rows tie: which of them stage B ranks first is np.argpartition's choice, so the op
    # counts are exact for numpy's introselect (another valid tie order gives 6300, not 6316, at V3-K2).
    p = _paths(*SUBNORMAL_SCORED[name], e=-1074, qk_e=-1)
    with Ops() as ops:
        n = bf.count_correct(p)
    assert _residue_ops(p) + (n, ops.count) == want and n == _exact_count(*SUBNORMAL_SCORED[name], qk_e=-1)


@pytest.mark.parametrize("K", [2, 3])
def test_hybrid_residue_of_a_one_token_vocabulary(K):
    """V = 1: the one input (all tokens 0) has no competitor, so it is correct (as brute force
    counts it), and stage B ranks no competitors: r = max(0, min(R, V - 2)) = 0, not -1 (which
    makes _Ranks allocate a negative-width table: ValueError)."""
    p = _paths(np.zeros((1, 1), dtype=object), np.ones((1, K, 1), dtype=object))
    assert hybrid.count_residue(p, {}) == bf.count_correct(p) == 1


@pytest.mark.parametrize("g, ops", [(4, 1124), (5, 1124), (6, 1187)])
def test_cubic_good_of_a_float_lower_end_exactly_0_is_enclosed_exactly(g, ops):
    """V = 2, K = 2, OV[1, i] = (0, g) units of 2^-1074 at both positions, no direct path; query 1
    scores 1/2 at the key holding 1 (so the exact decision costs counted exp work). good[1, 1] = g
    units, and its float enclosure from the tables is (g - 5, g + 5) units: for g = 5 the lower end
    is exactly 0.0, a sign left open, so the exact value is enclosed instead (4, 6) and the float
    filter proves the case (1, 1, 0) (1124 ops, as for g = 4); for g = 6 the lower end 1 > 0 is kept
    and the filter leaves the case to the exact decision (1187 ops).
    Catches a lower end of 0.0 taken as a proven sign (1187 ops at g = 5)."""
    ov = [[[0, 0], [0, 0]], [[0, g], [0, g]]]
    qk = [[[0, 0], [0, 0]], [[0, 0], [1, 0]]]
    p = _paths(np.zeros((2, 2), dtype=object), ov, qk, e=-1074, qk_e=-1)
    assert _cubic_ops(p, [[1, 1, 0, 1]]) == ([(1, 1, 0, 1, [None])], ops)


def _stage_b_rest_rows(a: tuple, d: tuple, o: tuple) -> tuple[np.ndarray, np.ndarray]:
    """V = 6, K = 2, weights 1, units of 2^-1074. Input (key 0, query 5): m = 5, one non-max value
    (x = 0 at position 0), and for each competitor j < 5 stage B's three rows: the fixed (query)
    position's C[j] = a_j, DIRECT[5, 5] - DIRECT[5, j] = d_j and OV[0, 0, 5] - OV[0, 0, j] = o_j
    (the query's OV row is a - d). All else 0."""
    direct, ov = np.zeros((6, 6), dtype=object), np.zeros((6, 2, 6), dtype=object)
    for j in range(5):
        direct[5, j], ov[5, 1, j], ov[0, 0, j] = -d[j], d[j] - a[j], -o[j]
    return direct, ov


@pytest.mark.parametrize("s, ops", [(6, 26133), (7, 26133), (8, 26018)])
def test_hybrid_stage_b_rest_bound_of_exactly_0_decides_nothing(s, ops):
    """Rows a = (-50, s, s, 100, 100), d = (100, 100, -50, 5, 5), o = (5, -50, 100, 5, 5): every
    competitor's gap is >= 55 units (each j has a 100 somewhere), but each row's third smallest is
    small, so stage B's bound for the j outside the candidates, the sum of the rows' third smallest
    (s + 5 + 5 less its outward steps), is 0.0 exactly at s = 7, and positive only from s = 8: at s
    = 7 the input is left to stage C (26133 ops, as at s = 6), from s = 8 stage B proves it (26018).
    The count is 2 (= brute force = an independent exact sum) throughout. Catches the rest bound
    of 0.0 taken as > 0 (s = 7 proven in stage B) and the rest bound stepped up instead of down (two
    units higher: positive at s = 6 and 7)."""
    # Rows tie (the other inputs' are all 0): stage B's ranking is np.argpartition's choice, so the op
    # counts are exact for numpy's introselect (another valid tie order gives 26144, not 26133).
    direct, ov = _stage_b_rest_rows((-50, s, s, 100, 100), (100, 100, -50, 5, 5), (5, -50, 100, 5, 5))
    p = _paths(direct, ov, e=-1074)
    assert _residue_ops(p) == (bf.count_correct(p), ops) == (_exact_count(direct, ov), ops) == (2, ops)


@pytest.mark.parametrize("pen, score, want", [(800, 0, ([0, 1], 1756)), (500, 1, ([0, 1], 1756))])
def test_cubic_good_is_rebased_on_the_rows_best_rival(pen, score, want):
    """V = 3, K = 2, DIRECT[2] = (2^60, 0, 2^60), OV[2, i] = (-1000, 0, 0) (both positions), OV[0,
    0] = (pen, 0, 0), query 2 scoring score/2 at the key holding 0. good[2, 2] = 2^60 - (2^60 - 1000)
    = 1000; rebased on the row's best rival R = 2^60 its ingredients are W = 0 and A[0] + B[0] =
    -1000, exact, and good's float lower end is 1000 less an ulp; rebased on the row's least (0) they
    are 2^60 and 2^60 - 1000, 128 and 256 wide, and the lower end is 512. Case (2, 2, 1): value 1's
    inequality has no penalty and passes in the float filter either way; value 0's, good e^0 - pen
    w(0) > 0, passes in the float filter with the lower end 1000 and is left to the exact decision
    with 512: S is [0, 1] in the filter's order, and at score 1 the exact decision costs counted exp
    work. Catches good rebased on the row's least rival (S = [1, 0], and 1819 ops at score 1)."""
    H = 1 << 60
    direct = np.zeros((3, 3), dtype=object)
    direct[2] = [H, 0, H]
    ov = np.zeros((3, 2, 3), dtype=object)
    ov[2, 0] = ov[2, 1] = [-1000, 0, 0]
    ov[0, 0] = [pen, 0, 0]
    qk = np.zeros((3, 3, 2), dtype=object)
    qk[2, 0, 0] = score
    ((*_, S),), ops = _cubic_ops(_paths(direct, ov, qk, qk_e=-1), [[2, 2, 1, 2]])
    assert (S, ops) == want
