"""Behaviour of checker/rules/ that surviving mutants showed untested (benchmarks/mutate_checker.py,
run2 at 13f16b2; every survivor of these files and its class: /work/notes/mut/classes-kr.md). Each
test kills the mutants named in its docstring (file:line at 13f16b2; applied by hand to a copy of
the checker: the test fails there and passes here). Checker-only: committed fixtures or tables
built here, no prover.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest

from checker.certificate import Certificate, parse_certificate
from checker.dyadic import Dyadic
from checker.errors import Malformed, OutOfBudget, Reject
from checker.paths import Params, Paths, exact_paths, exact_weights
from checker.rules import brute_force as bf, cubic, hybrid, subcubic, subcubic_bounds as sb, subcubic_paper
from checker.safetensors import Weights
from conftest import FIXTURES, checker_shapes
from test_mutant_kills import _biased_weights
from test_pinned import PINNED, check_beside_its_model
TINY_CUBIC_CASES = json.loads((FIXTURES / "tiny.cubic.json").read_text())["evidence"]["cases"]


def _pinned(name: str) -> dict:
    """A copy of a pinned certificate (test_pinned.PINNED), for the test to edit."""
    return copy.deepcopy(PINNED[name]["certificate"])


def _tiny_hybrid() -> dict:
    """The tiny model's hybrid certificate with the committed cubic certificate's cases (49 of 125
    inputs correct; the cases cover 1 + 2 + 1 + 1 + 2 * 3 + 3^2 = 20, 105 are left to the residue)."""
    doc = _pinned("tiny.safetensors/hybrid:cubic")
    doc["evidence"]["cases"] = TINY_CUBIC_CASES
    return doc


def _value(d: Dyadic, idx=()) -> Fraction:
    return Fraction(int(d.n[idx])) * Fraction(2) ** d.e


def _floor_root(y: int, r: int) -> int:
    """floor(y^(1/r)) by bisection (independent of root_up's Newton iteration)."""
    lo, hi = 0, 1 << (y.bit_length() // r + 1)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if mid ** r <= y else (lo, mid - 1)
    return lo


# ---------------------------------------------------------------- subcubic_bounds.py: roots rounded up

@pytest.mark.parametrize("num, e, r", [(2, 0, 2), (4, 0, 2), (10 ** 30, -7, 3), (3 ** 128, 5, 128),
                                       (1, -1, 2), (12345, 0, 7), (2 ** 200 + 1, -129, 128)])
def test_root_up_is_one_step_above_the_floor_root(num, e, r):
    """root_up(num, e, r) is the least multiple of its step 2^(e//r - 40) strictly above the r-th root
    of num 2^e when that root is not a multiple (the floor root plus one step otherwise): never below
    the root, never more than a step above. (The run2 survivor in root_up, 177 `x -= 1` -> `x -= 2`,
    is in a loop Newton from above never enters: classes-kr.md.)"""
    got = sb.root_up(num, e, r)
    y = num << (e % r + r * 40)
    step = Fraction(2) ** (e // r - 40)
    assert got == (_floor_root(y, r) + 1) * step
    assert got ** r > num * Fraction(2) ** e >= (got - step) ** r


def test_root_up_of_zero_is_zero():
    """Zero's root is exact (root_up's early return)."""
    assert sb.root_up(0, -3, 128) == 0


@pytest.mark.parametrize("n, e", [([0, 1, 2, 3, 10 ** 20], 0), ([5, 7, 2 ** 61 + 3], -9), ([1, 8], 3), ([9], -2)])
def test_sqrt_up_is_one_step_above_the_square_root(n, e):
    """sqrt_up(x) >= sqrt(x), less than one step 2^(e'//2 - 40) above (e' = e made even downwards).
    Kills subcubic_bounds.py:159's 40 bits -> 39 / 41 (the step)."""
    got = sb.sqrt_up(Dyadic(np.array(n, dtype=object), e))
    step = Fraction(2) ** ((e - e % 2) // 2 - 40)
    assert got.e == (e - e % 2) // 2 - 40
    for i, v in enumerate(n):
        x, s = Fraction(v) * Fraction(2) ** e, _value(got, i)
        assert s * s > x >= (s - step) ** 2 or (x == 0 and s == step)


# ---------------------------------------------------------------- subcubic_bounds.py: the svd residual bound

def _intervals(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    lo = rng.uniform(-4, 4, shape)
    return lo, lo + rng.uniform(0, 1, shape) * (rng.uniform(size=shape) < 0.7)


def test_interval_matmul_encloses_every_product_of_members_rectangular_too():
    """_imatmul's entries enclose the exact product of any members (corners and random points,
    exact rationals), for a 2x3 times 3x4 product (the svd bound multiplies only squares). Kills
    subcubic_bounds.py:183's shapes (a[0].shape[0] -> shape[1], b[0].shape[1] -> shape[0]) and 185's
    slices (k + 1 -> k + 0, a[0] / b[0] -> a[1] / b[1])."""
    rng = np.random.default_rng(5)
    a, b = _intervals(rng, (2, 3)), _intervals(rng, (3, 4))
    lo, hi = sb._imatmul(a, b)
    assert lo.shape == hi.shape == (2, 4)
    for _ in range(40):
        pick = lambda x: np.where(rng.uniform(size=x[0].shape) < 0.5, x[0], x[1]) if rng.uniform() < 0.5 \
            else x[0] + rng.uniform(size=x[0].shape) * (x[1] - x[0])
        pa, pb = pick(a), pick(b)
        for i in range(2):
            for j in range(4):
                exact = sum(Fraction(float(pa[i, k])) * Fraction(float(pb[k, j])) for k in range(3))
                assert Fraction(float(lo[i, j])) <= exact <= Fraction(float(hi[i, j]))
    assert np.all(hi - lo <= 20)  # tight: not an enclosure of everything


@pytest.mark.parametrize("lo, hi, s", [([[-1000.0, 0.0], [0.25, 1e-300]], [[-300.0, 3.0], [0.5, 1e-300]], 10),
                                         ([[-3.0, 0.0], [0.25, 1e-300]], [[-2.0, 1000.0], [0.5, 1e-300]], 10)])
def test_renorm_scales_by_a_power_of_two_to_at_most_one_and_refuses_overflow(lo, hi, s):
    """_renorm(x) = (x', s) with 2^s x' enclosing x and max |x'| in [1/2, 1] (stepped outward), the
    largest magnitude at a lower end (first) or an upper end (second), the other end's largest a
    binade lower; an infinite end is refused. Kills subcubic_bounds.py:191 (max -> min, .max -> .min
    at either end, x[1] -> x[0]), 194's frexp index (1 -> 0) and 195 (down -> up, x[1] -> x[0])."""
    lo, hi = np.array(lo), np.array(hi)
    (nlo, nhi), got = sb._renorm((lo, hi))
    assert got == s
    assert np.all(np.ldexp(nlo, s) <= lo) and np.all(np.ldexp(nhi, s) >= hi)
    assert np.all(nlo < np.ldexp(lo, -s)) and np.all(nhi > np.ldexp(hi, -s))  # stepped outward
    assert 0.5 <= max(np.abs(nlo).max(), np.abs(nhi).max()) <= 1
    for end, inf in ((0, -np.inf), (1, np.inf)):
        x = [lo.copy(), hi.copy()]
        x[end][0, 1] = inf
        with pytest.raises(Reject, match="interval overflow"):
            sb._renorm(tuple(x))


def test_svd_spread_of_the_identity_is_sqrt2_times_the_trace_root():
    """R = I (2 x 2): sigma_1 = 1, M = I, tr(M^64) = 2, so the bound is (2^64 2)^(1/128) = sqrt(2)
    2^(1/128) rounded up by at most a few 2^-40: pins the power k = 64 and the exponent bookkeeping.
    Kills subcubic_bounds.py:224 (the result's exponent, bit_length() - 1 -> - 2)."""
    eye = Dyadic(np.array([[1, 0], [0, 1]], dtype=object), 0)
    got = sb._svd_spread(eye, eye, 3)
    assert got.n.shape == (3,) and len(set(got.n)) == 1
    b = _value(got, 0)
    assert b ** 128 >= 2 ** 65 and b <= Fraction(2 ** 0.5 * 2 ** (1 / 128)) * (1 + Fraction(1, 10 ** 9))


def test_svd_spread_bounds_a_wide_rank_two_residual_from_above_tightly():
    """qres = diag(2^30, 1) with a zero off the diagonal, kres = I: R = diag(2^30, 1), sqrt(2)
    sigma_1 = 2^30.5, and the bound is within a factor 1 + 10^-6 of it: no overflow over 2^3840,
    since the power is renormalised at every squaring."""
    qres = Dyadic(np.array([[1 << 30, 0], [0, 1]], dtype=object), 0)
    eye = Dyadic(np.array([[1, 0], [0, 1]], dtype=object), 0)
    b = _value(sb._svd_spread(qres, eye, 2), 1)
    assert b ** 2 >= 2 * Fraction(2) ** 60 and b <= Fraction(2 ** 30.5) * (1 + Fraction(1, 10 ** 6))



def test_svd_spread_renormalises_powers_below_one_too():
    """A non-normal M: G = diag(1, e^2), H = [[e^2, e], [e, 1]] (e = 2^-20), so M = G H has entries
    up to e but eigenvalues 2 e^2 and 0: scaled to entries about 1 its powers shrink by about 2e per
    squaring, (2e)^64 = 2^-1216 below the float range unless every power is scaled back up. R =
    [[e, 0], [e, 0]]: sqrt(2) sigma_1 = 2e = 2^-19, and the bound is that, rounded up a little.
    Kills subcubic_bounds.py:194 `big > 0` -> `big > 1` (powers below 1 left unscaled: the trace
    underflows to a subnormal, the bound 3.1 times too large)."""
    qres = Dyadic(np.array([[1 << 20, 0], [0, 1]], dtype=object), -20)
    kres = Dyadic(np.array([[1, 1 << 20], [0, 0]], dtype=object), -20)
    b = _value(sb._svd_spread(qres, kres, 2), 0)
    assert Fraction(1, 2 ** 19) <= b <= Fraction(1, 2 ** 19) * (1 + Fraction(1, 10 ** 6))

def test_svd_spread_rounds_up_from_the_traces_upper_end():
    """R = [[1, 0], [1, 0]]: M = G H = [2], tr(M^64) = 2^64 exactly, so the bound (2^64 tr)^(1/128)
    = 2 is a multiple of root_up's step: from the trace's upper end (above 2^64) it is one step above
    2, from its lower end it would be 2 itself. Kills subcubic_bounds.py:220 `hi[1]` -> `hi[0]`."""
    qres = Dyadic(np.array([[1], [1]], dtype=object), 0)
    kres = Dyadic(np.array([[1], [0]], dtype=object), 0)
    b = _value(sb._svd_spread(qres, kres, 2), 0)
    assert 2 < b <= 2 + Fraction(1, 2 ** 30)


def test_svd_spread_of_a_zero_residual_is_exactly_zero():
    """qres = 0: R = 0, the bound is 0 exactly (not the few ulps an interval power would leave).
    Kills subcubic_bounds.py:210 `top == 0` -> `top == -1` / `!=`."""
    qres = Dyadic(np.zeros((3, 2), dtype=object), 0)
    kres = Dyadic(np.array([[1, 2], [3, 4], [5, 6]], dtype=object), 0)
    assert list(sb._svd_spread(qres, kres, 3).n) == [0, 0, 0]




def test_each_elementwise_residual_option_is_its_own_bound():
    """spread's options maxdiff, global-maxdiff, l2 and min-maxdiff-l2 on a residual whose rows have
    different maxdiff bounds, some above and some below l2's: each option is its formula (values per
    row, as Fractions). Kills subcubic_bounds.py:132 `err == "maxdiff"` -> `!=` (maxdiff returned for
    the other three)."""
    qres = Dyadic(np.array([[1, 1], [1, 0], [0, 0], [2, -1]], dtype=object), 0)
    kres = Dyadic(np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], dtype=object), 0)  # l2 radius 2, spans 2
    vals = lambda d: [_value(d, i) for i in range(len(d.n))]
    maxdiff, l2 = vals(sb.split_bound(qres, sb.tr(kres), False)), vals(sb.l2_bound(qres, kres))
    assert len(set(maxdiff)) > 1 and any(a < b for a, b in zip(maxdiff, l2)) and any(a > b for a, b in zip(maxdiff, l2))
    assert vals(sb.spread("maxdiff", qres, kres, [])) == maxdiff
    assert vals(sb.spread("global-maxdiff", qres, kres, [])) == [max(maxdiff)] * 4
    assert vals(sb.spread("l2", qres, kres, [])) == l2
    assert vals(sb.spread("min-maxdiff-l2", qres, kres, [])) == [min(a, b) for a, b in zip(maxdiff, l2)]


def test_exact_direct_penalty_of_a_one_token_vocabulary_is_zero():
    """dpen_from_d "exact" on a 1 x 1 D: no rival, the penalty is 0 (the row's best is its second
    best). Kills subcubic_bounds.py:62 `len(ranked) - 1` -> `+ 1` (index 1 of one entry)."""
    assert sb.dpen_from_d(Dyadic(np.array([[7]], dtype=object), 0), "exact").n.tolist() == [[0]]


# ---------------------------------------------------------------- subcubic.py

def test_the_subcubic_rules_refuse_k_1_first():
    """K = 1 is refused before the variant or the weights are read (the stand-in has neither).
    Kills subcubic.py:92 raise -> pass."""
    cert = Certificate(1, 2, "exact-real", Fraction(0), "0" * 64, "m", "subcubic", {}, {"cases": []})
    with pytest.raises(Reject, match="need K >= 2"):
        subcubic.rule(cert, SimpleNamespace(k=1, d_vocab=2))



def _dyadic_values(d: Dyadic) -> list:
    return [[Fraction(int(v)) * Fraction(2) ** d.e for v in row] for row in d.n]


@pytest.mark.parametrize("attn", ["plain", "mean-query", "rank2-query"])
@pytest.mark.parametrize("scale", [1, 8])
def test_the_residual_chain_multiplies_out_to_its_factors(attn, scale, monkeypatch):
    """The chain handed to the residual bounds is exact: eq1 @ wq = qres and (wk2^T @ E^T)^T = kres,
    on a model with every bias non-zero, its weights quarters (W_EP's exponent < 0) or, times 8,
    even integers (exponent >= 0: the ones column then has exponent 0). Kills subcubic.py:194's ones
    column (its width (V, 1), the 1 of 1 << -e and of `else 1` -> 0 / 2, min(e, 0) -> min(e, 1)) and
    192's centring (o == 0 -> o == -1: Q - b against a chain of Q)."""
    w = _biased_weights(V=3, K=3, dm=2, dh=2, seed=4)
    w = dataclasses.replace(w, tensors={k: (v * scale).astype(np.float32) for k, v in w.tensors.items()})
    seen = []
    spread = sb.spread
    monkeypatch.setattr(sb, "spread", lambda err, qres, kres, chain: seen.append((qres, kres, chain)) or
                        spread(err, qres, kres, chain))
    hints = {"direction": [1, "1/2"], **({"direction2": [0, 1]} if attn == "rank2-query" else {})}
    cert = Certificate(3, 3, "exact-real", Fraction(0), "0" * 64, "m", "subcubic",
                       {"eupu": "exact", "attn": attn, "err": "maxdiff-subproduct"}, {"cases": [], **hints})
    subcubic.tables(cert, w)
    (qres, kres, (eq1, wq, wk2T, ET)), = seen
    assert _dyadic_values(eq1 @ wq) == _dyadic_values(qres)
    assert _dyadic_values(sb.tr(wk2T @ ET)) == _dyadic_values(kres)


def test_subcubic_good_drops_only_j_equal_m_at_two_tokens():
    """V = 2: good's OV part compares the max's own column with the one other column (j != m); this
    model's case (q, m, c, g) = (0, 1, 0, 0) holds, one input of 4. Kills subcubic.py:258's
    `(diag + 1) % V` -> `(diag + 2) % V` and `V > 1` -> `V > 2` (both keep j = m at V = 2: the case
    is refused)."""
    cert = Certificate(2, 2, "exact-real", Fraction(0), "0" * 64, "m", "subcubic",
                       {"eupu": "exact", "attn": "plain", "err": "exact-eqke"},
                       {"cases": [[0, 1, 0, 0]], "direction": [1, 0]})
    assert subcubic.rule(cert, _biased_weights(V=2, K=2, seed=17)) == Fraction(1, 4)

# ---------------------------------------------------------------- hybrid.py: caps and blocks

def test_hybrid_refuses_a_gap_table_above_max_table_before_forming_anything():
    """d_vocab = 256, K = 2: V^3 K = 2^25 > MAX_TABLE = 2^24 is out of budget, decided from the sizes
    alone (the stand-in weights have nothing else). Kills hybrid.py:69 raise -> pass."""
    cert = parse_certificate(json.dumps(_pinned("tiny.safetensors/hybrid:cubic")).encode())
    cert = dataclasses.replace(cert, evidence={"cases": [], "correct_inputs": 0, "total_inputs": 256 ** 2})
    with pytest.raises(OutOfBudget, match=r"d_vocab\^3 K = 33,554,432 entries \(cap brute_force.MAX_TABLE = 16,777,216\)"):
        hybrid.rule(cert, SimpleNamespace(k=2, d_vocab=256))


@pytest.mark.parametrize("cap, verdict", [(375, "accepted"), (374, "error")])
def test_hybrid_gap_table_cap_admits_exactly_max_table_entries(cap, verdict, tmp_path, monkeypatch):
    """The tiny model's gap table has V^3 K = 125 * 3 = 375 entries: at MAX_TABLE = 375 it is formed,
    at 374 the check is out of budget. Kills hybrid.py:68 `>` -> `>=`."""
    monkeypatch.setattr(bf, "MAX_TABLE", cap)
    r = check_beside_its_model(_tiny_hybrid(), tmp_path)
    assert (r.verdict, r.out_of_budget) == (verdict, verdict == "error"), r.reason


def test_hybrid_evidence_of_only_the_counts_lacks_the_compact_proofs_cases(tmp_path):
    """Evidence holding exactly the two counts passes hybrid's own check and is refused by the
    compact rule, for its missing cases. Kills hybrid.py:64 `<=` -> `<` (a strict superset demanded)."""
    doc = _tiny_hybrid()
    del doc["evidence"]["cases"]
    r = check_beside_its_model(doc, tmp_path)
    assert (r.verdict, r.reason) == ("error", "evidence: missing field(s) ['cases']")


@pytest.mark.parametrize("cap, verdict", [(105, "accepted"), (104, "error")])
def test_hybrid_residue_cap_admits_exactly_max_residue_inputs(cap, verdict, tmp_path, monkeypatch):
    """The cap is inclusive: a residue of exactly MAX_RESIDUE inputs is enumerated, one more is out of
    budget (exit 3). Kills hybrid.py:78 `left > MAX_RESIDUE` -> `>=` (and -> `<=`, `<`)."""
    monkeypatch.setattr(hybrid, "MAX_RESIDUE", cap)
    r = check_beside_its_model(_tiny_hybrid(), tmp_path)
    assert (r.verdict, r.bound if verdict == "accepted" else r.out_of_budget) == \
        (verdict, Fraction(49, 125) if verdict == "accepted" else True), r.reason


def test_residue_blocks_hold_at_most_chunk_rows(monkeypatch):
    """With CHUNK = 8, every residue block of the tiny shapes (V = 6, K = 4, nothing covered but a
    few values) has at most 8 rows, and some has 8. Kills hybrid.py:146 `rows = 0` -> -1 (a first
    block of 9), 150 (the reset to -1) and 152 `rows += len(X)` -> `-=` (never cut)."""
    monkeypatch.setattr(hybrid, "CHUNK", 8)
    V, K = 6, 4
    sets = {(0, 3, 1): [0, 2], (1, 4, 2): [1], (2, 5, 2): [0, 1, 3], (0, 5, 3): [4]}
    blocks = [(q, I, len(m)) for q, I, m, _ in hybrid.residue(V, K, sets)]
    assert sum(n for *_, n in blocks) == hybrid.residue_size(V, K, sets)
    assert max(n for *_, n in blocks) == 8
    assert all(n <= 8 for *_, n in blocks)


# ---------------------------------------------------------------- brute_force.py: which end of an enclosure

def _cancelling_paths(sign: int = 1) -> Paths:
    """V = 2, K = 2, d_head = 1, path terms chosen so that one input's gap is a cancellation of
    numbers near 2^60, where float64 enclosures are 128 or 256 wide. Input (key 1, query 0): m = 1,
    j = 0, C = DIRECT[0, 1] - DIRECT[0, 0] + OV[t_i, i, 1] - OV[t_i, i, 0] is 2^60 - (2^60 - 128) = 128
    at the key (weight e^(1/2)) and 2^60 - (2^60 + 256) = -256 at the query (weight 1): the gap
    128 e^(1/2) - 256 < 0, wrong. Taking an upper end where a lower one belongs (either summand of
    C) lifts the key's term to 256 and the query's to -256 or -128: 'proven' positive. The other
    inputs are wrong (a tie at 0, or clearly negative): the exact count is 0.
    sign = -1 negates DIRECT and OV: that input's gap is 256 - 128 e^(1/2) > 0, correct, and an upper
    bound from lower ends is negative; (0, 0) and (1, 1) are clearly correct, (0, 1) a tie: count 3."""
    big = 1 << 60
    obj = lambda rows: np.array(rows, dtype=object) * sign
    direct = Dyadic(obj([[0, big], [0, 0]]), 0)
    ov = Dyadic(obj([[[0, 0], [big + 256, 0]], [[big - 128, 0], [0, 0]]]), 0)  # [t, i, v]
    qk = Dyadic(np.array([[[0, 0], [1, 0]], [[0, 0], [0, 0]]], dtype=object), -1)  # [q, t, i]: 1/2 at (0, 1, 0)
    return Paths(k=2, d_vocab=2, d_head=1, qk=qk, ov=ov, direct=direct, win=direct, rival=direct)


def test_brute_force_takes_lower_ends_for_a_lower_bound_of_a_cancelling_gap():
    """The filter's lower bounds of C must be formed from the lower ends of both enclosures. Kills
    brute_force.py:63 `dq[0]` -> `dq[-1]` / `dq[1]` and `ov_gap[0]` -> `ov_gap[-1]` / `ov_gap[1]`."""
    assert bf.count_correct(_cancelling_paths()) == 0


def test_brute_force_takes_upper_ends_for_an_upper_bound_of_a_cancelling_gap():
    """The mirrored model: an upper bound of a correct input's gap formed from lower ends would call
    it wrong. Kills brute_force.py:67 `dq[1]` / `ov_gap[1]` -> `[0]`."""
    assert bf.count_correct(_cancelling_paths(-1)) == 3


def test_brute_force_decides_every_undecided_input_of_a_long_chunk_once():
    """V = 3, K = 9, uniform attention, no direct path, OV by position only: P[i] = (0, 4, 3) at even
    positions (the query's included), (4, 0, 3) at odd ones. An input with max 2 has C[i, 0] = 3, -1
    and C[i, 1] = -1, 3 (even, odd): both sums are 5 * 3 - 4 = 11 and 5 * -1 + 4 * 3 = 7 > 0, correct,
    but every position's worst competitor gives -1: stage 1 proves none, so per query 6305 (q < 2) or
    6561 (q = 2) correct inputs reach per_logit, in sub-blocks of 4096. Max 1 or 0: wrong (the sums
    for j = 2 or 1 are 5 - 12 and -20 + 16). Count 2 * 6305 + 6561. Kills brute_force.py:113's
    `start + 4096` -> 4095 (a row per sub-block skipped) / 4097 (one counted twice)."""
    P = np.array([[0, 4, 3], [4, 0, 3]] * 4 + [[0, 4, 3]], dtype=object)    # [i, v]
    zeros = Dyadic(np.zeros((3, 3), dtype=object), 0)
    p = Paths(k=9, d_vocab=3, d_head=1, qk=Dyadic(np.zeros((3, 3, 9), dtype=object), 0),
              ov=Dyadic(np.repeat(P[None], 3, axis=0), 0), direct=zeros, win=zeros, rival=zeros)
    assert bf.count_correct(p) == 2 * 6305 + 6561


@pytest.mark.parametrize("sign, correct", [(1, 0), (-1, 3)])
def test_hybrid_residue_of_a_two_token_vocabulary_ranks_no_competitors(sign, correct):
    """V = 2: one competitor per input, so stage B ranks none (r = max(0, min(R, V - 2)) = 0); every
    input is residue and the count is brute force's on both cancelling models. Kills hybrid.py:200
    `V - 2` -> `V + 2` (r = 2 > the row length - 1)."""
    assert hybrid.count_residue(_cancelling_paths(sign), {}) == correct



@pytest.mark.parametrize("seed", [2, 4])
def test_hybrid_residue_counts_as_brute_force_with_competitors_outside_the_candidates(seed):
    """V = 12, K = 3, nothing covered: every input is residue, and with 11 competitors stage B's
    candidates (R = 2 per table) leave others to its `rest` bound. Its count must be brute force's.
    Kills hybrid.py:301 `dd_rest + ov_rest` -> `-` and 312 `rest > 0` -> `<=` (seed 4: 19 inputs too
    many), and 332 `win - rival` -> `+` in stage C's upper bounds (seed 2: 84 too few)."""
    p = exact_paths(_biased_weights(V=12, K=3, seed=seed))
    assert hybrid.count_residue(p, {}) == bf.count_correct(p)

# ---------------------------------------------------------------- cubic.py

def test_the_cubic_rule_takes_a_two_token_vocabulary():
    """d_vocab = 2 is the least the cubic rule takes (a max and one other value): no cases, bound 0.
    Kills cubic.py:87 `d_vocab < 2` -> `< 3`."""
    cert = Certificate(2, 2, "exact-real", Fraction(0), "0" * 64, "m", "cubic", {}, {"cases": []})
    assert cubic.rule(cert, _biased_weights(V=2)) == 0


# ---------------------------------------------------------------- killrules: subcubic_paper.py, subcubic_bounds.py

def test_paper_mean_attention_refuses_ragged_rows_of_the_right_total():
    """Rows of 3 and 1 entries hold V * K = 4 values but are not a [2, 2] table: refused, not reshaped.
    Kills subcubic_paper.py:67 `isinstance(r, list) and len(r) == K` -> `or`."""
    with pytest.raises(Malformed, match="must be 2 lists of 2"):
        subcubic_paper.mean_attention([[1, 2, 3], [4]], 2, 2)


@pytest.mark.parametrize("err, mean, mean_rest", [("maxdiff-recursive", False, False),
                                                  ("mean-maxdiff-recursive", True, False),
                                                  ("mean-recursive-maxdiff-recursive", True, True)])
def test_spread_recursive_takes_the_mean_row_where_its_name_says(err, mean, mean_rest):
    """The recursive options' mean rows: at the top for mean-*, below it too only for
    mean-recursive-*; on this chain the three bounds (and the fourth flag pair) all differ. Kills
    subcubic_bounds.py:145 `err == "mean-recursive-maxdiff-recursive"` -> `!=`."""
    D = lambda rows: Dyadic(np.array(rows, dtype=object), 0)
    chain = [D([[1, 4], [3, -2], [5, 0]]), D([[2, -1], [7, 3]]), D([[1, 6], [-4, 2]]), D([[3, 1, -2], [0, 5, 4]])]
    qres, kres = chain[0] @ chain[1], sb.tr(chain[2] @ chain[3])
    want = {(False, False): [1440, 970, 500], (True, False): [1654, 784, 314], (True, True): [2262, 864, 762]}
    got = sb.spread(err, qres, kres, chain)
    assert got.e == 0 and list(got.n) == want[mean, mean_rest]
    R = (qres @ sb.tr(kres)).n                                    # each is a bound of R's row spans
    assert all(b >= max(r) - min(r) for b, r in zip(got.n, R))
    assert list(sb.recursive_bound(chain, mean, not mean_rest).n) != want[mean, mean_rest]


# ---------------------------------------------------------------- killrules: hybrid.py stage B and C

def _stage_b_rest_paths() -> Paths:
    """V = 8, K = 2, all attention weights 1/2. Input (key 0, query 7): m = 7, gap to j is
    C_j = d_j + o_j / 2 with d = DIRECT[7, 7] - DIRECT[7, j] = (30, 30, 1, 1, 20, 20, 10) and
    o = OV[0, 0, 7] - OV[0, 0, j] = (-40, -40, 0, 0, 0, 0, -30): j = 6 wins (C_6 = -5), yet it is
    ranked third in every table stage B ranks (r = 2: candidates 0-3, all with C_j > 0), so only
    the rest bound (the third smallest of each) sees it: 10/2 + (10 - 30)/2 = -5."""
    V = 8
    ov = np.zeros((V, 2, V), dtype=object)
    ov[0, 0] = [40, 40, 0, 0, 0, 0, 30, 0]
    direct = np.zeros((V, V), dtype=object)
    direct[7] = [-30, -30, -1, -1, -20, -20, -10, 0]
    d = Dyadic(direct, 0)
    return Paths(k=2, d_vocab=V, d_head=1, qk=Dyadic(np.zeros((V, V, 2), dtype=object), 0),
                 ov=Dyadic(ov, 0), direct=d, win=d, rival=d)


def test_hybrid_stage_b_rest_bound_sees_a_competitor_outside_the_candidates():
    """The residue's count is brute force's exact count (7 of 64) when a winning competitor is
    outside stage B's candidates. Kills hybrid.py:301 `dd_rest + ov_rest` -> `-` (the rest bound
    5 + 20 > 0 'proves' the input correct: a count above the exact one)."""
    p = _stage_b_rest_paths()
    assert hybrid.count_residue(p, {}) == bf.count_correct(p) == 7


def _near_tie_paths(direct_row: list[int], ov_row: list[int]) -> Paths:
    """V = 3, K = 2, weights 1/2; DIRECT[2] = direct_row, OV[t, i] = ov_row for every t, i (all else
    0). Query 2's inputs beat j = 1 by 1 per position: a difference of 2 between entries near 2^61
    (one of them inexact: a float enclosure 256 or 512 wide) and an exact -1 from the other path."""
    V = 3
    direct = np.zeros((V, V), dtype=object)
    direct[2] = direct_row
    ov = np.zeros((V, 2, V), dtype=object)
    ov[:, :] = ov_row
    d = Dyadic(direct, 0)
    return Paths(k=2, d_vocab=V, d_head=1, qk=Dyadic(np.zeros((V, V, 2), dtype=object), 0),
                 ov=Dyadic(ov, 0), direct=d, win=d, rival=d)


B61 = 1 << 61


@pytest.mark.parametrize("direct_row, ov_row, correct", [
    ([0, B61, B61 + 2], [0, 1, 0], 6),        # win[2, m] inexact: [2^61, 2^61 + 512]
    ([0, B61 - 2, B61], [0, 1, 0], 6),        # rival[2, j] inexact: [2^61 - 256, 2^61]
    ([0, 1, 0], [0, B61 - 2, B61], 5)])       # OV[t, i, j] inexact: [2^61 - 256, 2^61]
def test_hybrid_upper_bounds_of_a_near_tie_take_the_outer_ends(direct_row, ov_row, correct):
    """The upper bounds that prove an input wrong (stage B's `_upper`, stage C's `hi_c`) must take
    the upper end of the max's enclosure and the lower end of the competitor's: the near end turns
    the inexact difference of 2 into 0 (up: one tiny step), the exact -1 then makes the bound < 0 and
    a correct input is counted wrong. Kills hybrid.py:323 `win[1]` -> `win[0]`, 324 `o[0][.., j]` ->
    `o[-1]`, 332 `rival[0]` -> `rival[1]`, 333 `o[0][toks, pos]` -> `o[1]` (counts 3, 3, 2)."""
    p = _near_tie_paths(direct_row, ov_row)
    assert hybrid.count_residue(p, {}) == bf.count_correct(p) == correct


# ---------------------------------------------------------------- killrules: subcubic.py's residual chain

def _integer_weights(scale: int) -> Params:
    """V = 4, K = 2, d_model 3, d_head 2, every weight scale * an integer in [-3, 3]: W_EP's exponent
    is 0 (scale 1) or 1 (scale 2), the branch of the chain's ones column no float model reaches."""
    V, K, dm, dh = 4, 2, 3, 2
    rng = np.random.default_rng(3)
    t = {n: (scale * rng.integers(-3, 4, size=shape)).astype(np.float32)
         for n, shape in checker_shapes(V, K, dm, dh).items()}
    return exact_weights(Weights("0" * 64, t, K, V, dm, dh))


@pytest.mark.parametrize("scale, err, want", [
    (1, "maxdiff-subproduct", ([253, 1058, 460, 828], 0)),
    (1, "maxdiff-recursive", ([506, 3220, 1196, 3036], 0)),
    (2, "maxdiff-subproduct", ([598, 3818, 1426, 2898], 2)),
    (2, "maxdiff-recursive", ([1196, 12052, 3956, 11316], 2))])
def test_residual_chain_of_integer_weights_bounds_the_exact_spans(scale, err, want):
    """The chain options bound the residual's row spans through its factors [W_EP | 1] [W_Q; b_Q]:
    at least the exact spans (err=exact-maxdiff), and these values. Kills subcubic.py:194's ones
    column for W_EP's exponent >= 0: `else 1` -> `else 0` (the bias dropped: spans below the exact
    ones, unsound), `else 2`, and `min(last.e, 0)` -> `min(last.e, 1)` (the bias doubled)."""
    wt, b = _integer_weights(scale), Dyadic(np.array([1, 2], dtype=object), 0)
    spread = lambda e: subcubic._attention(wt, 2, b, None, {"attn": "plain", "err": e}, None)["spread"]
    got, exact = spread(err), spread("exact-maxdiff")
    assert all(got.fraction(q) >= exact.fraction(q) for q in range(4))
    assert (list(got.n), got.e) == want


@pytest.mark.parametrize("seed, rank, col, q_at", [(3, 1, 0, 3), (1, 2, 1, 2)])
def test_eqke_bound_of_a_negative_u_at_its_grids_least_value_bounds_the_true_maximum(seed, rank, col, q_at):
    """Hints b = (1, 0) (and b2 = (0, 1) for rank 2), integer weights (rank 1: W_K's second column 0):
    EQKE = u v^T (+ u2 w2^T) exactly, a zero residual (spread 0 by err=exact-maxdiff), and
    u[q_at] = Q[q_at, 0] (u2[q_at] = Q[q_at, 1]) = -1, the least negative value of its grid. Every
    a_x of _eqke_bounds must be at least max_{x <= m-g} EQKE[q,x] - EQKE[q,m] (for u < 0 the term is
    u (min v - v[m]), tight). Kills subcubic.py:160 `tables["u"].n >= 0` -> `>= -1` (rank 1) and
    `tables["u2"].n >= 0` -> `>= -1` (rank 2): -1 read as non-negative takes the maximum of v (w2),
    a bound below the true value, unsound."""
    V, K, dm, dh = 4, 2, 2, 2
    rng = np.random.default_rng(seed)
    t = {n: rng.integers(-2, 3, size=shape).astype(np.float32) for n, shape in checker_shapes(V, K, dm, dh).items()}
    if rank == 1:
        t["blocks.0.attn.W_K"][..., 1] = 0
    w = Weights("0" * 64, t, K, V, dm, dh)
    wt = exact_weights(w)
    Q = (wt.W_E + wt.W_pos[K - 1].rows(V)) @ wt.W_Q + wt.b_Q.rows(V)
    Km = wt.W_E @ wt.W_K
    assert Q.e == 0 and Q.n[q_at, col] == -1
    hint = lambda *x: Dyadic(np.array(x, dtype=object), 0)
    par = {"attn": "plain" if rank == 1 else "rank2-query", "err": "exact-maxdiff", "eupu": "exact"}
    tables = subcubic._Tables(w, hint(1, 0), hint(0, 1) if rank == 2 else None, par)
    eqke = lambda q, x: Fraction(int((Q.n[q] * Km.n[x]).sum())) * Fraction(2) ** (Q.e + Km.e)
    for q in range(V):
        for m in range(q, V):
            for g in range(m + 1):
                true = max(eqke(q, x) - eqke(q, m) for x in range(m - g + 1))
                assert subcubic._eqke_bounds(tables.exact, q, m, g)[1] >= true
