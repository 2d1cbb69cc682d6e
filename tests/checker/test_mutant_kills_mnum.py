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


# ---------------------------------------------------------------- float32.py: gamma, sums, the overflow guard

def test_gamma_refuses_more_than_2_to_the_22_terms():
    """gamma(n) = n u / (1 - n u) needs n u <= 1/4: n = 2^22 is the last one allowed (exactly 1/4:
    up(1/4 / down(3/4))), n = 2^22 + 1 is refused. Kills float32.py:48: raise -> pass => pass."""
    import math
    from checker.errors import Reject
    from checker.float32 import gamma
    assert gamma(1 << 22) == math.nextafter(0.25 / math.nextafter(0.75, 0), math.inf)
    with pytest.raises(Reject, match="4194305 terms is too long"):
        gamma((1 << 22) + 1)


def test_work_sums_round_upward():
    """_Work.sum bounds the exact sum from above: 1 + 2^-60 (not a float64) becomes the float after 1.
    Kills float32.py:71: up -> down => down."""
    from checker.float32 import _Work
    got = _Work().sum(np.array([1.0]), np.array([2.0 ** -60]))
    assert got.tolist() == [1 + 2.0 ** -52]


def _embedding_only(magnitude: float) -> dict:
    """The reference's zero model (V = 3, K = 2, d_model = d_head = 2) with one embedding entry set."""
    from test_float32_reference import model
    state = model(3, 2, 2, 2, 0, 0.0)
    state["embed.W_E"][1, 0] = np.float32(magnitude)
    return state


def test_the_overflow_guard_admits_magnitudes_below_2_to_the_126_and_refuses_the_rest():
    """docs/semantics.md: every bounded intermediate must stay below 2^126 (float32 overflows at 2^128).
    With every weight 0 but one embedding entry x, the largest magnitude is the residual's up(x (1 + u)):
    x = 1.5 2^125 is admitted (and E is then made of the n eta terms, finite), x = 1.5 2^126 is refused
    although E stays finite. Kills float32.py:42: 126 -> 125 => 125 (refused the first) and :169
    `np.all(np.isfinite(total)) and all(s < MAX_MAGNITUDE ...)` -> `or` (admitted the second: a float32
    execution of that model overflows)."""
    from checker.errors import Reject
    from checker.float32 import logit_error
    E = logit_error(_embedding_only(1.5 * 2.0 ** 125), np.zeros(3))
    assert E.shape == (3, 3) and np.all(np.isfinite(E)) and np.all(E > 0) and np.all(E < 2.0 ** -130)
    with pytest.raises(Reject, match="could overflow"):
        logit_error(_embedding_only(1.5 * 2.0 ** 126), np.zeros(3))


# ---------------------------------------------------------------- interval.py: the environment guard

def test_the_float64_guard_refuses_a_wrong_epsilon_and_flushed_subnormals(monkeypatch):
    """assert_ieee_float64 refuses (Malformed) an environment whose float64 epsilon is not 2^-52, and one
    whose nextafter(0, 1) is flushed to zero (simulated: numpy's finfo / nextafter replaced for the
    call). Kills interval.py:30: raise -> pass => pass, and the carried UNREACHABLE :27 `> 0` -> `>= 0`,
    (4th) `0 -> -1` (`> -1`) and (3rd) `0 -> 1` (nextafter(1, 1): never flushed)."""
    from types import SimpleNamespace
    from checker.errors import Malformed
    from checker.interval import assert_ieee_float64
    assert_ieee_float64()
    with monkeypatch.context() as m:
        m.setattr(np, "finfo", lambda t: SimpleNamespace(eps=2.0 ** -23))
        with pytest.raises(Malformed, match="not IEEE"):
            assert_ieee_float64()
    real = np.nextafter
    flushed = lambda x, to: np.float64(0.0) if abs(real(x, to)) < 2.0 ** -1022 else real(x, to)
    with monkeypatch.context() as m:
        m.setattr(np, "nextafter", flushed)
        with pytest.raises(Malformed, match="flush-to-zero"):
            assert_ieee_float64()


# ---------------------------------------------------------------- interval.py: lift, exp at its range's end

@pytest.mark.parametrize("x", [(1 << 53) + 1, np.int64((1 << 53) + 1), np.array((1 << 53) + 1), -(1 << 53) - 1])
def test_lift_refuses_a_single_integer_beyond_2_to_the_53(x):
    """A single integer is checked as an array is: 2^53 + 1 has no exact float64. Kills interval.py:137
    `v.size == 0` -> `v.size == 1` (which lifted it to 2^53: an interval missing its value)."""
    from checker.interval import Interval
    with pytest.raises(TypeError, match="no exact float64 interval"):
        Interval.lift(x)
    assert Interval.lift(1 << 53).lo == 2.0 ** 53


def test_exp_at_700_is_finite_and_beyond_700_refused():
    """Interval.exp handles upper ends up to 700 itself (exp_bounds' range: 700 included) and sends
    larger ones to +inf; exp_bounds refuses arguments above 700. Kills interval.py:168 `self.hi <= 700`
    -> `< 700` (an infinite upper end at 700), :201 `700 -> 699` (Reject at 700) and `700 -> 701`
    (700.5 accepted)."""
    import mpmath
    from checker.errors import Reject
    from checker.interval import Interval, exp_bounds
    e = Interval(np.array([700.0, 699.5]), np.array([700.0, 700.5])).exp()
    assert np.isfinite(e.hi[0]) and e.hi[1] == np.inf
    with mpmath.workdps(40):
        v = mpmath.exp(700)
        assert mpmath.mpf(float(e.lo[0])) <= v <= mpmath.mpf(float(e.hi[0])) <= v * (1 + mpmath.mpf(2) ** -40)
    with pytest.raises(Reject, match="above 700"):
        exp_bounds(np.array([0.0]), np.array([700.5]))


# ---------------------------------------------------------------- dyadic.py: aligning counts only when it scales

def test_adding_dyadics_of_one_exponent_costs_one_op_an_entry():
    """Dyadic + Dyadic at the same exponent adds the numerators as they are: one op per entry (no
    multiplication by 2^0, which on Counted numerators would count). Kills dyadic.py:37 `self.e > e`
    -> `>=`."""
    from checker.dyadic import Dyadic
    from checker.ops import Ops
    a, b = Dyadic.from_floats(np.array([1.5, 3.0, 0.5])), Dyadic.from_floats(np.array([0.5, 2.5, 1.0]))
    assert a.e == b.e == -1
    with Ops() as ops:
        s = a + b
    assert ops.count == 3 and s.e == -1 and list(s.n) == [4, 11, 3]


# ---------------------------------------------------------------- numbers.py: the filter's sum starts at 0

def test_the_float_filter_decides_a_sign_against_exactly_zero():
    """Float.holds proves sum > 0 from the enclosure's lower end: 1/2 holds, -1/2 does not, 2^-1000
    holds (the sum starts at exactly 0 and is compared with exactly 0). Kills numbers.py:84
    `Interval.lift(0)` -> `lift(-1)` and -> `lift(1)` and :93 `total.lo > 0` -> `> -1` and -> `> 1`."""
    from checker.interval import Interval
    from checker.numbers import Float
    one = lambda v: Interval(np.array([v]), np.array([v]))
    assert Float.holds([(1, one(0.5))]).tolist() == [True]
    assert Float.holds([(1, one(-0.5))]).tolist() == [False]
    assert Float.holds([(1, one(2.0 ** -1000))]).tolist() == [True]
    assert Float.holds([(1, one(0.25)), (-1, one(0.75))]).tolist() == [False]


# ---------------------------------------------------------------- expo.py: a round decides only a strict sign

def test_a_sum_whose_bound_is_exactly_zero_is_refined():
    """exp(0) - exp(-2^-80): at p = 64 the enclosure of exp(-2^-80) 2^64 is [2^64 - 2, 2^64], so the
    lower sum is exactly 0 (not > 0) and the first round decides nothing: the sign comes from p = 128,
    53 ops in all; likewise its negation, whose upper sum is exactly 0 (not < 0). Kills expo.py:91
    `lo > 0` -> `lo >= 0` and :93 `hi < 0` -> `hi < 1` (both decided in the first round: fewer ops)."""
    from checker.expo import sign_sum_exp
    from checker.ops import Ops
    for coeffs, want in [([1, -1], 1), ([-1, 1], -1)]:
        with Ops() as ops:
            assert sign_sum_exp(coeffs, [0, -1], -80, 1) == want
        assert ops.count == 53, coeffs


def test_holds_reads_the_arguments_at_scale_one():
    """holds(terms, d) is sum c exp(a / sqrt(d)) > 0 exactly: 2 - e < 0 although 2 - e^(1/2) > 0 (the
    arguments are not halved), and a sum whose merged coefficients all cancel is 0, which does not
    hold. Kills expo.py:106 the exponent `0` -> `-1` (sign_sum_exp read a / (2 sqrt(d)))."""
    from checker.expo import holds
    assert holds([(Fraction(2), Fraction(0)), (Fraction(-1), Fraction(1))], 1) is False
    assert holds([(Fraction(2), Fraction(0)), (Fraction(-1), Fraction(1, 2))], 1) is True
    assert holds([(Fraction(1), Fraction(1, 3)), (Fraction(-1), Fraction(1, 3))], 2) is False


# ---------------------------------------------------------------- interval.py: subnormal numerators, 1/sqrt(d)

def test_a_subnormal_value_is_rounded_once():
    """enclose_ints' fast path (ldexp of float(n)) rounds twice below the normal range, so such entries
    take the slow path (one correct rounding): n = 8 (2^51 + 1) + 3 at 2^-1077 is (2^51 + 1 + 3/8)
    2^-1074, whose nearest float is (2^51 + 1) 2^-1074, but float(n) = 2^54 + 12 and ldexp then ties
    (2^51 + 1.5) to even, (2^51 + 2) 2^-1074. The enclosure is one step either side of the nearest
    float, exactly. Kills interval.py:63 `2.0 ** -1022` -> `2.0 ** -1023` (the value lies in
    [2^-1023, 2^-1022))."""
    import math
    from checker.interval import enclose_ints
    N = (1 << 51) + 1
    n = 8 * N + 3
    lo, hi = enclose_ints(np.array([n, -n], dtype=object), -1077)
    x = N * 2.0 ** -1074
    assert Fraction(x) == Fraction(N, 2 ** 1074)
    assert lo.tolist() == [math.nextafter(x, 0), -math.nextafter(x, 1)]
    assert hi.tolist() == [math.nextafter(x, 1), -math.nextafter(x, 0)]


@pytest.mark.parametrize("d", [30, 81, 120, 141, 162, 198])
def test_inv_sqrt_is_one_step_either_side_of_the_nearest_float(d):
    """For these d the 60-bit bounds k / 2^60 < 1/sqrt(d) < (k + 1) / 2^60 round to 1/sqrt(d)'s nearest
    float f (mpmath, 60 digits), so inv_sqrt(d) is exactly (down(f), up(f)) (and (k + 2) / 2^60 would
    round to the float after f). Kills interval.py:228 `(k + 1)` -> `(k + 2)` (one step looser)."""
    import math
    import mpmath
    from checker.interval import inv_sqrt
    with mpmath.workdps(60):
        f = float(1 / mpmath.sqrt(d))
    lo, hi = inv_sqrt(d)
    assert (float(lo), float(hi)) == (math.nextafter(f, -math.inf), math.nextafter(f, math.inf))
    assert Fraction(float(lo)) ** 2 * d < 1 < Fraction(float(hi)) ** 2 * d


# ---------------------------------------------------------------- numbers.py: a scalar enclosed coefficient

def test_the_float_filter_takes_a_coefficient_enclosed_from_a_fraction():
    """A Fraction constant's enclosure (Interval.of_fraction: Python float ends) as a coefficient: its
    zero test is a Python bool, which takes the scalar branch. Kills numbers.py:89
    `isinstance(zero, np.ndarray) and zero.ndim` -> `or` (bool has no .ndim: an internal error)."""
    from checker.interval import Interval
    from checker.numbers import Float
    w = Interval(np.array([3.0, -3.0]), np.array([3.0, -3.0]))
    assert Float.holds([(Interval.of_fraction(Fraction(1, 3)), w)]).tolist() == [True, False]
    assert Float.holds([(Interval.of_fraction(Fraction(0)), w), (1, w)]).tolist() == [True, False]
