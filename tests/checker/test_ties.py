"""Exact ties count wrong; near ties invisible to float64 are decided exactly; exp enclosures are sound."""
from __future__ import annotations

import itertools
import random
from fractions import Fraction

import mpmath
import numpy as np
import pytest

from certify.model import Config
from checker import expo
from conftest import (checker_count, float64_count, oracle_count, prover_count, random_state,
                      write_state, zero_state)

TINY = 2.0 ** -70
EPS = 2.0 ** -60


def _direct_only(V: int, K: int, W_U: np.ndarray, row_v: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Attention contributes nothing (W_O = 0): logits = W_E[q] @ W_U, a function of the last token.

    d_model = V + 2. W_E = identity with 2**-60 off the diagonal, then two all-ones coordinates:
    coordinate V carries W_U row `row_v` (default 2**-60 everywhere), coordinate V+1 adds 1 to every
    logit so all logits are ~1 and float64 loses anything below 2**-52. (No exact zeros in W_E and a
    tiny entry in W_U: see the Dyadic.from_floats bug test in test_brute_force_differential.py.)
    """
    s = zero_state(Config(K, V, V + 2, 4))
    s["embed.W_E"][:, :V] = np.where(np.eye(V) > 0, 1.0, EPS)
    s["embed.W_E"][:, V:] = 1.0
    U = np.zeros((V + 2, V))
    U[:V] = W_U
    U[V] = EPS if row_v is None else row_v
    U[V + 1] = 1.0
    s["unembed.W_U"] = U.astype(np.float32)
    assert np.all(s["unembed.W_U"].astype(np.float64) == U)  # float32-exact
    rng = np.random.default_rng(0)               # attention itself is non-trivial but unused
    for n in "QKV":
        s[f"blocks.0.attn.W_{n}"] = rng.normal(size=s[f"blocks.0.attn.W_{n}"].shape).astype(np.float32)
    return s


def exact_direct_count(s: dict[str, np.ndarray]) -> int:
    """Exact Fraction logits of a model whose attention output is zero (W_O = 0, b_O = 0)."""
    assert not s["blocks.0.attn.W_O"].any() and not s["blocks.0.attn.b_O"].any()
    V, K = s["embed.W_E"].shape[0], s["pos_embed.W_pos"].shape[0]
    F = lambda a: [[Fraction(float(x)) for x in row] for row in np.atleast_2d(a)]
    E, P, U, bU = F(s["embed.W_E"]), F(s["pos_embed.W_pos"]), F(s["unembed.W_U"]), F(s["unembed.b_U"])[0]
    n = 0
    for toks in itertools.product(range(V), repeat=K):
        q, m = toks[-1], max(toks)
        r = [E[q][c] + P[K - 1][c] for c in range(len(E[0]))]
        lg = [sum(r[c] * U[c][j] for c in range(len(r))) + bU[j] for j in range(V)]
        n += all(lg[m] > lg[j] for j in range(V) if j != m)
    return n


def test_exact_tie_in_direct_model_counts_wrong(tmp_path):
    V, K = 5, 3
    W_U = np.eye(V)
    W_U[:, 4] = W_U[:, 3]  # column 4 duplicates column 3: logits 3 and 4 always tie exactly
    s = _direct_only(V, K, W_U)
    hand = 1 + 2 ** 2 + 3 ** 2  # only q in {0,1,2} win, and max == q needs all tokens <= q
    assert exact_direct_count(s) == hand
    path = write_state(s, tmp_path / "tie.safetensors")
    assert checker_count(path) == hand
    assert prover_count(path) == hand
    assert oracle_count(s) == hand


def test_exact_tie_with_attention_counts_wrong(tmp_path):
    """Random full model, W_U column 2 := column 4 and b_U equal: inputs with max 2 or 4 all wrong."""
    V, K = 6, 3
    s = random_state(Config(K, V, 6, 4), 11, biases=True)
    s["unembed.W_U"][:, 2] = s["unembed.W_U"][:, 4]
    s["unembed.b_U"][2] = s["unembed.b_U"][4]
    path = write_state(s, tmp_path / "tie2.safetensors")
    oracle = oracle_count(s)
    checked = checker_count(path)
    assert checked == oracle
    assert prover_count(path) == oracle
    # no input whose max is 2 or 4 can be correct
    assert checked <= V ** K - (3 ** K - 2 ** K) - (5 ** K - 4 ** K)


def test_near_tie_direct_model_decided_exactly(tmp_path):
    """W_U[:, 4] = W_U[:, 3] + 2**-70 e_V and resid[V] = 1: logit 4 beats logit 3 by exactly 2**-70."""
    V, K = 5, 3
    W_U = np.eye(V)
    W_U[:, 4] = W_U[:, 3]
    row_v = np.full(V, EPS)
    row_v[4] += TINY
    s = _direct_only(V, K, W_U, row_v)
    # q=0,1,2: q wins (1, 4, 9 inputs); q=3: logit 4 wins by 2**-70, right iff max is 4 (25-16);
    # q=4: all logits ~ 1 + 2**-59, logit 4 wins by 2**-70, all 25 inputs have max 4
    hand = 1 + 4 + 9 + 9 + 25
    assert exact_direct_count(s) == hand
    assert float64_count(s) == 1 + 4 + 9, "float64 must miss the 2**-70 gaps"
    path = write_state(s, tmp_path / "near.safetensors")
    assert checker_count(path) == hand
    assert oracle_count(s, dps=100) == hand
    assert prover_count(path) == hand


def test_near_tie_other_sign_counts_wrong(tmp_path):
    """logit 3 = logit 4 + 2**-70 for every input: max-4 inputs are all wrong, exactly."""
    V, K = 5, 2
    W_U = np.eye(V)
    W_U[:, 3] = W_U[:, 4]
    row_v = np.full(V, EPS)
    row_v[3] += TINY
    s = _direct_only(V, K, W_U, row_v)
    # q=0,1,2: q wins (1+2+3); q=3: logit 3 = 1 + 2**-59 + 2**-70 wins, max 3 for 4 inputs; q=4: 3 wins
    hand = 1 + 2 + 3 + 4
    assert exact_direct_count(s) == hand
    assert float64_count(s) != hand
    path = write_state(s, tmp_path / "near3.safetensors")
    assert checker_count(path) == hand
    assert oracle_count(s, dps=100) == hand
    assert prover_count(path) == hand


def test_near_tie_with_attention(tmp_path):
    """Full random model; coordinate c has final residual ~1 > 0 and W_U[c, m] = W_U[c, j] + 2**-70,
    columns m, j otherwise equal and large, so logit m - logit j = resid_c * 2**-70 > 0 exactly."""
    V, K, d = 6, 3, 7
    s = random_state(Config(K, V, d, 4), 21)
    c, m, j = d - 1, V - 1, V - 2
    s["embed.W_E"][:, c] = 1.0
    s["pos_embed.W_pos"][:, c] = EPS
    s["blocks.0.attn.W_O"][0][:, c] *= EPS   # attention writes only ~2**-60 into coordinate c
    s["embed.W_E"][:, 0] = 1.0                # coordinate 0 makes logits m and j the largest
    s["unembed.W_U"][0, :] *= 0.1
    s["unembed.W_U"][0, j] = 8.0
    s["unembed.W_U"][c, j] = EPS
    s["unembed.W_U"][:, m] = s["unembed.W_U"][:, j]
    s["unembed.W_U"][c, m] = EPS + TINY
    assert float(s["unembed.W_U"][c, m]) - float(s["unembed.W_U"][c, j]) == TINY
    oracle = oracle_count(s, dps=100)
    assert oracle > 0
    assert float64_count(s) != oracle, "float64 must disagree with the exact answer here"
    path = write_state(s, tmp_path / "near2.safetensors")
    assert checker_count(path) == oracle
    assert prover_count(path) == oracle


# ------------------------------------------------------------------ checker.expo unit tests

def _exact_exp(num: int, e: int, d: int, p: int) -> mpmath.mpf:
    with mpmath.workdps(200):
        return mpmath.exp(mpmath.mpf(num) * mpmath.mpf(2) ** e / mpmath.sqrt(d)) * mpmath.mpf(2) ** p


def test_exp_enclosure_brackets_200_digit_exp():
    rng = random.Random(1234)
    for _ in range(400):
        num = rng.randint(-(1 << 40), 1 << 40)
        e = rng.randint(-45, -30)
        d = rng.choice([1, 2, 3, 4, 7, 8, 32])
        p = rng.choice([10, 53, 64, 100, 200])
        lo, hi = expo.exp_enclosure(num, e, d, p)
        with mpmath.workdps(200):
            x = _exact_exp(num, e, d, p)
            assert lo <= x <= hi, (num, e, d, p)
        assert hi - lo <= max(4, hi >> (p - 8)) if p > 10 else True  # tight, not just sound


def test_exp_enclosure_edge_arguments():
    for num, e, d, p in [(0, 0, 1, 64), (1, 0, 1, 64), (-1, 0, 1, 64), (5000, 0, 1, 64),
                         (-5000, 0, 1, 64), (-(1 << 60), -40, 3, 64), (3, -1, 2, 1), (1, -200, 5, 64)]:
        lo, hi = expo.exp_enclosure(num, e, d, p)
        with mpmath.workdps(200):
            x = _exact_exp(num, e, d, p)
            assert lo <= x <= hi, (num, e, d, p)
        assert 0 <= lo <= hi


def test_sign_sum_exp_exact_cancellation_is_zero():
    # equal arguments merge: 3 e^x - 1 e^x - 2 e^x == 0 exactly
    assert expo.sign_sum_exp([3, -1, -2], [7, 7, 7], -3, 4) == 0
    assert expo.sign_sum_exp([5, 2, -5, -2], [1, -9, 1, -9], -2, 3) == 0
    assert expo.sign_sum_exp([], [], 0, 1) == 0
    assert expo.sign_sum_exp([0, 0], [1, 2], 0, 1) == 0


def test_sign_sum_exp_single_and_simple():
    assert expo.sign_sum_exp([1, 2, -3], [4, 4, 4], 0, 1) == 0
    assert expo.sign_sum_exp([1, 2, -2], [4, 4, 4], 0, 1) == 1
    assert expo.sign_sum_exp([-1], [100], 0, 1) == -1
    assert expo.sign_sum_exp([1, -1], [1, 0], 0, 1) == 1   # e - 1 > 0
    assert expo.sign_sum_exp([-1, 1], [1, 0], 0, 1) == -1


@pytest.mark.parametrize("delta_bits", [60, 120, 300])
def test_sign_sum_exp_tiny_nonzero_differences(delta_bits):
    """c1 e^a - c2 e^b with c1 e^a within 2**-delta_bits (relative) of c2 e^b: correct sign."""
    d, e = 1, -delta_bits
    # exp(x) vs 1 + x (x = 2**-delta): exp(x) - 1 - x > 0 but ~ x**2/2; use integer coeffs:
    # sign(e^{x} - e^{0}) = sign(x)
    assert expo.sign_sum_exp([1, -1], [1, 0], e, d) == 1
    assert expo.sign_sum_exp([1, -1], [-1, 0], e, d) == -1
    # three terms: e^{x} + e^{-x} - 2 = 2(cosh x - 1) > 0, ~ x**2
    assert expo.sign_sum_exp([1, 1, -2], [1, -1, 0], e, d) == 1
    assert expo.sign_sum_exp([-1, -1, 2], [1, -1, 0], e, d) == -1


def test_sign_sum_exp_matches_mpmath_random():
    rng = random.Random(99)
    for _ in range(200):
        n = rng.randint(2, 4)
        coeffs = [rng.randint(-5, 5) for _ in range(n)]
        nums = [rng.randint(-50, 50) for _ in range(n)]
        e, d = rng.randint(-6, 0), rng.choice([1, 2, 3, 4])
        with mpmath.workdps(200):
            val = mpmath.fsum(c * mpmath.exp(mpmath.mpf(x) * mpmath.mpf(2) ** e / mpmath.sqrt(d))
                              for c, x in zip(coeffs, nums))
        merged = {}
        for c, x in zip(coeffs, nums):
            merged[x] = merged.get(x, 0) + c
        if all(c == 0 for c in merged.values()):
            want = 0
        else:
            assert abs(val) > mpmath.mpf(10) ** -150  # Lindemann-Weierstrass: really non-zero
            want = 1 if val > 0 else -1
        assert expo.sign_sum_exp(coeffs, nums, e, d) == want


def test_exact_fallback_work_is_counted_and_grows_with_difficulty():
    """Proof length includes the exact sign decisions: a sum close to zero needs more refinement."""
    from checker.ops import Ops
    easy, hard = Ops(), Ops()
    # exp(0) - exp(-1/2) is far from zero; 2**200 - (2**200 + 1) exp(-2**-200) is about 2**-201
    with easy:
        assert expo.sign_sum_exp([1, -1], [0, -1], -1, 1) == 1
    with hard:
        assert expo.sign_sum_exp([1 << 200, -((1 << 200) + 1)], [0, -1], -200, 1) == 1
    assert 0 < easy.count < hard.count
