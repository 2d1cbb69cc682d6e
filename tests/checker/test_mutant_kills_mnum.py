"""Behaviour of checker/expo.py, float32.py, interval.py, dyadic.py and numbers.py that mutation
testing showed untested (benchmarks/mutate_checker.py; which test kills which mutant:
benchmarks/mutation/classes.txt). numpy, pytest and mpmath only: no prover.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest


def up(v: float) -> float:
    return math.nextafter(v, math.inf)


def down(v: float) -> float:
    return math.nextafter(v, -math.inf)


# ---------------------------------------------------------------- expo.py: the series' rounding direction

def test_exp_fixed_of_a_negative_argument_takes_the_series_from_the_other_side():
    """For y < 0, exp(y) = 1 / exp(|y|): its upper bound divides by a LOWER series bound of exp(|y|)
    (floored terms) and its lower bound by an upper one (ceiled terms plus the tail). Ceiled terms
    stay >= 1 longer: for |y| = 8 (p = 0, s = 6 squarings) the floored series stops after 9 terms,
    the ceiled one after 10, so the count n + s + 1 tells the direction apart: 16 ops for y = -8's
    upper bound and 17 for its lower (and the other way round for y = +8). Both bound e^-8 (0 < e^-8
    < 1). Catches the series taken on the wrong side of exp(|y|) for y < 0 (a one-ulp-unsound
    bound)."""
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
    """logit_error's first bound a >= |W_E[t] + W_pos[i]| (the exact sum of two float32, which
    float64 holds exactly here), e >= u a: checked exactly (Fractions) on the bounds it starts from.
    Catches the first bound rounded down: one ulp below the sum it bounds (later upward steps hide
    it from E, not from a)."""
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
    """The scores' scale c multiplies upper bounds, so it must be >= 1/sqrt(d_head) (inv_sqrt's
    upper end), checked exactly: c^2 d_head >= 1 for the one multiplier of logit_error's products
    within 2^-40 of 1/sqrt(d_head) (d_head 2, 3, 5: not powers of 4, so inv_sqrt's ends differ).
    Catches c taken as inv_sqrt's lower end."""
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
    up(1/4 / down(3/4))), n = 2^22 + 1 is refused. Catches the refusal dropped."""
    from checker.errors import Reject
    from checker.float32 import gamma
    assert gamma(1 << 22) == math.nextafter(0.25 / math.nextafter(0.75, 0), math.inf)
    with pytest.raises(Reject, match="4194305 terms is too long"):
        gamma((1 << 22) + 1)


def test_work_sums_round_upward():
    """_Work.sum bounds the exact sum from above: 1 + 2^-60 (not a float64) becomes the float after
    1. Catches the sum rounded down."""
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
    """docs/semantics.md: every bounded intermediate must stay below 2^126 (float32 overflows at
    2^128). With every weight 0 but one embedding entry x, the largest magnitude is the residual's
    up(x (1 + u)): x = 1.5 2^125 is admitted (and E is then made of the n eta terms, finite), x =
    1.5 2^126 is refused although E stays finite. Catches a cap of 2^125 (the first refused) and a
    guard that needs only one of its two conditions (the second admitted: a float32 execution of
    that model overflows)."""
    from checker.errors import Reject
    from checker.float32 import logit_error
    E = logit_error(_embedding_only(1.5 * 2.0 ** 125), np.zeros(3))
    assert E.shape == (3, 3) and np.all(np.isfinite(E)) and np.all(E > 0) and np.all(E < 2.0 ** -130)
    with pytest.raises(Reject, match="could overflow"):
        logit_error(_embedding_only(1.5 * 2.0 ** 126), np.zeros(3))


# ---------------------------------------------------------------- interval.py: the environment guard

def test_the_float64_guard_refuses_a_wrong_epsilon_and_flushed_subnormals(monkeypatch):
    """assert_ieee_float64 refuses (Malformed) an environment whose float64 epsilon is not 2^-52,
    and one whose nextafter(0, 1) is flushed to zero (simulated: numpy's finfo / nextafter replaced
    for the call). Catches the refusal dropped and a subnormal test that a flushed nextafter passes
    (>= 0, > -1, or nextafter(1, 1))."""
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
    """A single integer is checked as an array is: 2^53 + 1 has no exact float64. Catches a size-1
    array taken for an empty one (lifted to 2^53: an interval missing its value)."""
    from checker.interval import Interval
    with pytest.raises(TypeError, match="no exact float64 interval"):
        Interval.lift(x)
    assert Interval.lift(1 << 53).lo == 2.0 ** 53


def test_exp_at_700_is_finite_and_beyond_700_refused():
    """Interval.exp handles upper ends up to 700 itself (exp_bounds' range: 700 included) and sends
    larger ones to +inf; exp_bounds refuses arguments above 700. Catches an infinite upper end at
    700, a Reject at 700, and 700.5 accepted."""
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
    multiplication by 2^0, which on Counted numerators would count). Catches an alignment at equal
    exponents (2 ops an entry)."""
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
    holds (the sum starts at exactly 0 and is compared with exactly 0). Catches a sum started at -1
    or 1, and a comparison with -1 or 1."""
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
    lower sum is exactly 0 (not > 0) and the first round decides nothing: the sign comes from p =
    128, 53 ops in all; likewise its negation, whose upper sum is exactly 0 (not < 0). Catches a
    bound of exactly 0 taken as a strict sign (decided in the first round: fewer ops)."""
    from checker.expo import sign_sum_exp
    from checker.ops import Ops
    for coeffs, want in [([1, -1], 1), ([-1, 1], -1)]:
        with Ops() as ops:
            assert sign_sum_exp(coeffs, [0, -1], -80, 1) == want
        assert ops.count == 53, coeffs


def test_holds_reads_the_arguments_at_scale_one():
    """holds(terms, d) is sum c exp(a / sqrt(d)) > 0 exactly: 2 - e < 0 although 2 - e^(1/2) > 0
    (the arguments are not halved), and a sum whose merged coefficients all cancel is 0, which does
    not hold. Catches sign_sum_exp called at exponent -1 (reading a / (2 sqrt(d)))."""
    from checker.expo import holds
    assert holds([(Fraction(2), Fraction(0)), (Fraction(-1), Fraction(1))], 1) is False
    assert holds([(Fraction(2), Fraction(0)), (Fraction(-1), Fraction(1, 2))], 1) is True
    assert holds([(Fraction(1), Fraction(1, 3)), (Fraction(-1), Fraction(1, 3))], 2) is False


# ---------------------------------------------------------------- interval.py: subnormal numerators, 1/sqrt(d)

def test_a_subnormal_value_is_rounded_once():
    """enclose_ints' fast path (ldexp of float(n)) rounds twice below the normal range, so such
    entries take the slow path (one correct rounding): n = 8 (2^51 + 1) + 3 at 2^-1077 is (2^51 + 1
    + 3/8) 2^-1074, whose nearest float is (2^51 + 1) 2^-1074, but float(n) = 2^54 + 12 and ldexp
    then ties (2^51 + 1.5) to even, (2^51 + 2) 2^-1074. The enclosure is one step either side of the
    nearest float, exactly. Catches the fast path taken down to 2^-1023 (the value lies in [2^-1023,
    2^-1022))."""
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
    """For these d the 60-bit bounds k / 2^60 < 1/sqrt(d) < (k + 1) / 2^60 round to 1/sqrt(d)'s
    nearest float f (mpmath, 60 digits), so inv_sqrt(d) is exactly (down(f), up(f)) (and (k + 2) /
    2^60 would round to the float after f). Catches an upper bound of (k + 2) / 2^60 (one step
    looser)."""
    import mpmath
    from checker.interval import inv_sqrt
    with mpmath.workdps(60):
        f = float(1 / mpmath.sqrt(d))
    lo, hi = inv_sqrt(d)
    assert (float(lo), float(hi)) == (math.nextafter(f, -math.inf), math.nextafter(f, math.inf))
    assert Fraction(float(lo)) ** 2 * d < 1 < Fraction(float(hi)) ** 2 * d


# ---------------------------------------------------------------- numbers.py: a scalar enclosed coefficient

def test_the_float_filter_takes_a_coefficient_enclosed_from_a_fraction():
    """A Fraction constant's enclosure (Interval.of_fraction: Python float ends) as a coefficient:
    its zero test is a Python bool, which takes the scalar branch. Catches the scalar branch missed
    (bool has no .ndim: an internal error)."""
    from checker.interval import Interval
    from checker.numbers import Float
    w = Interval(np.array([3.0, -3.0]), np.array([3.0, -3.0]))
    assert Float.holds([(Interval.of_fraction(Fraction(1, 3)), w)]).tolist() == [True, False]
    assert Float.holds([(Interval.of_fraction(Fraction(0)), w), (1, w)]).tolist() == [True, False]


# ---------------------------------------------------------------- float32.py: attention_error, step by step

def _alpha_steps(es: float, spread: float, k: int) -> float:
    """attention_error's docstring formula evaluated one scalar float64 operation at a time, each
    directed step written out (up: the next float above, down: below; the rest round to nearest)."""
    U, ETA, REL = 2.0 ** -24, 2.0 ** -149, 2.0 ** -21
    gamma = lambda n: up(n * U / down(1 - n * U))
    x = up(U * spread)
    g = gamma(k - 1) if k > 1 else 0.0
    rho_hi = up((1 + REL) / down(1 - x))                       # >= (1 + 2^-21) e^x
    rho_lo = down((1 - REL) * down(1 - x))                     # <= (1 - 2^-21) e^-x
    grow, shrink = up(1 / down(1 - 2 * es)), down(1 - 2 * es)  # >= e^(2 es), <= e^(-2 es)
    hi = up(grow * up(up(rho_hi * (1 + gamma(2))) / down(down(rho_lo - k * ETA) * (1 - g))))
    lo = down(shrink * down(down(rho_lo * (1 - gamma(2))) / up(up(rho_hi + k * ETA) * (1 + g))))
    return max(up(hi - 1), up(1 - lo))


def test_attention_error_rounds_every_step_of_its_upper_ratio_outward():
    """alpha = max(hi - 1, 1 - lo) where hi's chain (rho_hi, rho_lo, grow and their quotient) rounds
    each step away from the exact value: on 600 inputs (score errors 0 .. 1/8, spreads 0 .. 2^22, K
    1 .. 2^20) the result is at least the docstring formula evaluated one scalar step at a time, each
    step rounded outward. Catches any step of hi's chain rounded inward: alpha stays above the exact
    formula by the other steps' slack (test_mutant_kills_core's
    test_attention_error_is_its_formula_rounded_outward_by_a_few_ulps), but drops below this
    evaluation on some input. (lo's side never reaches the maximum here.) A rewrite of the chain
    that is sound but tighter than the formula step by step fails this test: update _alpha_steps."""
    from checker.float32 import attention_error
    rng = np.random.default_rng(7)
    es = np.concatenate([[0.0, 2.0 ** -40, 1e-9, 0.01, 0.125], rng.uniform(0, 0.125, 295),
                         rng.uniform(0, 1e-6, 300)])
    spread = np.concatenate([[0.0, 1e-3, 3.0, 2.0 ** 21, 2.0 ** 22 * (1 - 2.0 ** -40)], rng.uniform(0, 2.0 ** 22, 295),
                             rng.uniform(0, 10.0, 300)])
    for k in (1, 2, 3, 7, 1000, 1 << 20):
        got = attention_error(es, spread, k)
        want = np.array([_alpha_steps(float(a), float(b), k) for a, b in zip(es, spread)])
        assert np.all(got >= want), (k, np.flatnonzero(got < want)[:5])


def test_exp_at_minus_740_has_a_positive_lower_end():
    """exp_bounds clamps arguments below -740 (lower end 0 there), not -740 itself: exp(-740) ~
    4.2e-322 is a positive subnormal, enclosed by positive floats. Catches -740 itself clamped (a
    lower end of 0 at -740)."""
    import mpmath
    from checker.interval import exp_bounds
    lo, hi = exp_bounds(np.array([-740.0, -740.5]), np.array([-740.0, -740.5]))
    assert lo[0] > 0 and lo[1] == 0
    with mpmath.workdps(40):
        assert mpmath.mpf(float(lo[0])) <= mpmath.exp(-740) <= mpmath.mpf(float(hi[0]))


def test_exp_fixed_of_the_smallest_positive_argument_takes_the_series_on_its_own_side():
    """y = 1 / 2^6 > 0: the upper bound sums ceiled terms (7 of them here, plus the tail: 8 ops with
    the +1), the lower bound floored ones (6 terms: 7 ops); 2^6 e^(1/64) = 65.0079 gives 66 and 65.
    Catches a = 1 taken as non-positive (the series from the other side)."""
    from checker import expo
    from checker.ops import Ops
    for upper, want, value in [(True, 8, 66), (False, 7, 65)]:
        with Ops() as ops:
            assert expo.exp_fixed(1, 6, upper) == value
        assert ops.count == want, upper


def test_a_lower_sum_of_exactly_one_decides_in_the_first_round():
    """1 - exp(-2^-63) > 0: at p = 64 exp(-2^-63) 2^64 is enclosed with upper end 2^64 - 1, so the
    lower sum is exactly 1 > 0 and the first round decides: 27 ops (its negation: upper sum exactly
    -1 < 0). Catches sums started at -1 and a comparison with 1 instead of 0 (both refined to p =
    128: more ops)."""
    from checker.expo import exp_fixed, sign_sum_exp
    from checker.ops import Ops
    assert exp_fixed(-2, 64, True) == (1 << 64) - 1
    for coeffs, want in [([1, -1], 1), ([-1, 1], -1)]:
        with Ops() as ops:
            assert sign_sum_exp(coeffs, [0, -2], -64, 1) == want
        assert ops.count == 27, coeffs


# ---------------------------------------------------------------- interval.py: exp_bounds, step by step

def _exp_steps(x: float, upper: bool) -> float:
    """exp_bounds' one end as its docstring describes it, one scalar float64 operation at a time, each
    directed step written out: ln 2 and 1/n! enclosed by the floats either side of their nearest floats
    (Fractions, correctly rounded), r = x - k ln 2 (k = x / ln 2 to nearest), the degree-18 Horner
    form in intervals, the tail 1e-20, the scaling by 2^k stepped outward."""
    from math import factorial
    enclose = lambda q: (down(float(q)), up(float(q)))
    digits = 6931471805599453094172321214581765680755
    ln2 = (enclose(Fraction(digits, 10 ** 40))[0], enclose(Fraction(digits + 1, 10 ** 40))[1])
    inv = [enclose(Fraction(1, factorial(n))) for n in range(19)]
    xc = max(x, -740.0)
    k = float(round(xc / 0.6931471805599453))
    kl = (down(min(k * ln2[0], k * ln2[1])), up(max(k * ln2[0], k * ln2[1])))
    r = up(xc - kl[0]) if upper else down(xc - kl[1])
    acc = inv[18]
    for n in range(17, -1, -1):
        c1, c2 = acc[0] * r, acc[1] * r
        acc = (down(down(min(c1, c2)) + inv[n][0]), up(up(max(c1, c2)) + inv[n][1]))
    val = up(acc[1] + 1e-20) if upper else max(down(acc[0] - 1e-20), 0.0)
    scaled = math.ldexp(val, int(k))
    return up(scaled) if upper else (0.0 if x < -740.0 else max(down(scaled), 0.0))


def test_exp_bounds_round_every_step_outward():
    """exp_bounds encloses the scalar step-by-step evaluation of its docstring (each step rounded
    outward) on 3,006 arguments (|x| <= 0.36, where r = x; -745 .. 700; -5 .. 5). Catches either
    end's series coefficients or tail rounded inward: such a step stays inside the other steps'
    slack (test_interval's mpmath enclosure holds), but not outside this evaluation. A sound rewrite
    tighter than _exp_steps fails this test: update _exp_steps."""
    from checker.interval import exp_bounds
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(-0.36, 0.36, 1000), rng.uniform(-745, 700, 1000), rng.uniform(-5, 5, 1000),
                        [0.0, -740.0, -740.5, 700.0, 0.3465, -0.3466]])
    lo, hi = exp_bounds(x, x)
    want_lo, want_hi = (np.array([_exp_steps(float(v), upper) for v in x]) for upper in (False, True))
    assert np.all(lo <= want_lo), x[lo > want_lo][:5]
    assert np.all(hi >= want_hi), x[hi < want_hi][:5]


def test_a_zero_lower_coefficient_bound_times_an_unbounded_weight_is_zero():
    """mul_lower: c >= 0 times w in [w_lo, inf] is at least 0 * w_lo = 0 (stepped down): a finite
    bound, where 0 * inf would be NaN (undecided). Catches c_lo = 0 sent to the general product
    (NaN: fails closed, but decides nothing)."""
    from checker.interval import mul_lower
    got = mul_lower(np.array([0.0, 0.5, -0.5]), np.array([1.0, 1.0, 1.0]), np.array([np.inf, np.inf, 2.0]))
    assert got.tolist() == [-5e-324, np.nextafter(0.5, 0), -1.0 - 2.0 ** -52]


@pytest.mark.parametrize("p", [40, 64, 100])
def test_exp_fixed_of_one_unit_keeps_the_series_tail_in_its_upper_bound(p):
    """2^p e^(2^-p) = 2^p + 1 + 2^-(p+1) + ...: just above an integer, closer than the 40 guard bits
    resolve. The upper series 1 + z + ceil(z^2 / 2) stops at its second term (1 unit of 2^-w) and
    its tail allowance (the last term again) lifts it above the exact value, so the bound is rounded
    up to 2^p + 2; without the allowance the series is 2^w + 2^40 + 0 units, below the exact sum,
    and rounds to 2^p + 1 < 2^p e^(2^-p): an upper bound below the value. The lower bound is 2^p +
    1. Catches the tail allowance subtracted instead of added (an unsound upper bound)."""
    import mpmath
    from checker import expo
    lo, hi = expo.exp_fixed(1, p, False), expo.exp_fixed(1, p, True)
    assert (lo - (1 << p), hi - (1 << p)) == (1, 2)
    with mpmath.workdps(80):
        assert lo < mpmath.exp(mpmath.mpf(2) ** -p) * mpmath.mpf(2) ** p < hi


class _Short(float):
    """A simulated float64 with a shorter significand: an addend of at most 2^-52 |x| is lost."""

    def __add__(self, other):
        return float(self) if abs(other) <= 2.0 ** -52 * abs(self) else float(self) + other


class _TiesAway(float):
    """A simulated float64 rounding to nearest with ties away from zero (1 + 2^-53 -> 1 + 2^-52)."""

    def __add__(self, other):
        exact = Fraction(float(self)) + Fraction(other)
        r = float(exact)
        if exact != r:
            n = math.nextafter(r, math.inf if exact > r else -math.inf)
            if abs(exact - Fraction(r)) == abs(Fraction(n) - exact) and abs(n) > abs(r):
                r = n
        return r


@pytest.mark.parametrize("fake", [_Short, _TiesAway])
def test_the_float64_guard_refuses_a_float64_of_other_precision_or_rounding(monkeypatch, fake):
    """assert_ieee_float64 checks 1 + 2^-53 == 1 and 1 + 2^-52 > 1 (round-to-nearest-even with a
    53-bit significand), simulated by float64 types whose addition loses an addend of 2^-52 (a
    shorter significand) or rounds the tie 1 + 2^-53 away from zero. Catches each of those two
    conditions loosened (>= 1, 2^-51, 1 + 2^-54, or 2 in place of 1)."""
    from types import SimpleNamespace
    from checker.errors import Malformed
    from checker.interval import assert_ieee_float64
    real = np.float64
    with monkeypatch.context() as m:
        m.setattr(np, "finfo", lambda t: SimpleNamespace(eps=2.0 ** -52))
        m.setattr(np, "float64", lambda v=0.0: fake(v) if v in (1, 2) else real(v))
        with pytest.raises(Malformed, match="not IEEE"):
            assert_ieee_float64()
    assert_ieee_float64()
