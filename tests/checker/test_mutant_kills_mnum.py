"""Behaviour that surviving mutants of checker/expo.py, float32.py, interval.py, dyadic.py and
numbers.py showed untested (benchmarks/mutate_checker.py, run3 at commit 14817e0). Each test kills the
mutants named in its docstring (their keys at 14817e0, as in benchmarks/mutation/classes.txt): it
passes on the checker and fails on the mutant. Checker-only: numpy, pytest (and Fractions); no prover.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest


# ---------------------------------------------------------------- expo.py: the series' rounding direction

def test_exp_fixed_of_a_negative_argument_takes_the_series_from_the_other_side():
    """For y < 0, exp(y) = 1 / exp(|y|): its upper bound divides by a LOWER series bound of exp(|y|)
    (floored terms) and its lower bound by an upper one (ceiled terms plus the tail). Ceiled terms stay
    >= 1 longer: for |y| = 8 (p = 0, s = 6 squarings) the floored series stops after 9 terms, the
    ceiled one after 10, so the count n + s + 1 tells the direction apart: 16 ops for y = -8's upper
    bound and 17 for its lower (and the other way round for y = +8). Both bound e^-8 (0 < e^-8 < 1).
    Kills expo.py:37: drop `not` => (upper) (the carried ONE-ULP survivor: the series was then taken
    on the wrong side of exp(|y|) for y < 0)."""
    from checker import expo
    from checker.ops import Ops
    for a, upper, want, value in [(-8, True, 16, 1), (-8, False, 17, 0), (8, True, 17, 2981), (8, False, 16, 2980)]:
        with Ops() as ops:
            assert expo.exp_fixed(a, 0, upper) == value, (a, upper)
        assert ops.count == want, (a, upper)


# ---------------------------------------------------------------- float32.py: the first bounds of logit_error

def _recorded_logit_error(monkeypatch, state: dict) -> tuple[list, list]:
    """logit_error on state, recording every _Work.bounds(a, e) and every _Work.mul(x, y) call."""
    from checker import float32
    from test_float32_reference import ov_upper, Ref
    bounds, muls = [], []
    real_bounds, real_mul = float32._Work.bounds, float32._Work.mul
    monkeypatch.setattr(float32._Work, "bounds", lambda self, a, e: bounds.append((a, e)) or real_bounds(self, a, e))
    monkeypatch.setattr(float32._Work, "mul", lambda self, a, b: muls.append((a, b)) or real_mul(self, a, b))
    ov = ov_upper(Ref(state))
    float32.logit_error(state, np.array([float(x) for x in ov]))
    return bounds, muls


def test_the_residual_bound_is_at_least_the_exact_sum_of_embedding_and_position(monkeypatch):
    """logit_error's first bound a >= |W_E[t] + W_pos[i]| (the exact sum of two float32, which float64
    holds exactly here), e >= u a: checked exactly (Fractions) on the bounds it starts from. Kills
    float32.py:137: up -> down => down (the carried ONE-ULP survivor: ra one ulp below the sum it
    bounds; later upward steps hid it from E, not from ra)."""
    from test_float32_reference import model
    state = model(3, 2, 2, 2, 1, 1.0)
    bounds, _ = _recorded_logit_error(monkeypatch, state)
    a, e = bounds[0]
    W_E, W_pos = state["embed.W_E"], state["pos_embed.W_pos"]
    assert a.shape == (3, 2, 2)
    for t in range(3):
        for i in range(2):
            for r in range(2):
                exact = abs(Fraction(float(W_E[t, r])) + Fraction(float(W_pos[i, r])))
                assert exact > 0 and Fraction(float(a[t, i, r])) >= exact, (t, i, r)
                assert Fraction(float(e[t, i, r])) >= Fraction(1, 2 ** 24) * exact, (t, i, r)


@pytest.mark.parametrize("dh", [2, 3, 5])
def test_the_score_scale_is_at_least_one_over_the_square_root_of_d_head(monkeypatch, dh):
    """The scores' scale c multiplies upper bounds, so it must be >= 1/sqrt(d_head) (inv_sqrt's upper
    end), checked exactly: c^2 d_head >= 1 for the one multiplier of logit_error's products within
    2^-40 of 1/sqrt(d_head) (d_head 2, 3, 5: not powers of 4, so inv_sqrt's ends differ). Kills
    float32.py:147: 1 -> 0 => 0 (the carried ONE-ULP survivor: c = inv_sqrt's lower end)."""
    import math
    from test_float32_reference import model
    state = model(3, 2, 2, dh, 1, 1.0)
    _, muls = _recorded_logit_error(monkeypatch, state)
    scales = [x for x, _ in muls if isinstance(x, float) and abs(x * math.sqrt(dh) - 1) < 2.0 ** -40]
    assert len(scales) == 2  # es's and the spread's
    for c in scales:
        assert Fraction(c) ** 2 * dh >= 1, (dh, c.hex())
