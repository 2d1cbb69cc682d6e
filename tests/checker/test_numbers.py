"""The two number types (checker/numbers.py) and the Interval operations they rest on, directly:
Float.holds proves exactly the sums whose lower end is > 0, treating only a coefficient that is
exactly 0 as contributing nothing; smallest() encloses order statistics; Interval.exp is an
enclosure everywhere, infinite above its range; where/max0 select as the exact reading does."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.dyadic import Dyadic
from checker.interval import Interval
from checker.numbers import Exact, Float

ONE = Interval(np.float64(1.0), np.float64(1.0))


def _iv(lo: float, hi: float) -> Interval:
    return Interval(np.float64(lo), np.float64(hi))


def test_holds_needs_the_lower_end_positive():
    assert Float.holds([(ONE, ONE)])
    assert not Float.holds([(ONE, ONE), (_iv(-2.0, 0.0), ONE)])        # could be 1 - 2 < 0
    assert not Float.holds([(ONE, ONE), (_iv(-1.0, -0.0), ONE)])       # could be exactly 0
    assert not Float.holds([(ONE, ONE), (_iv(-1.0, 0.0), _iv(1.0, math.inf))])
    assert Float.holds([(ONE, ONE), (_iv(-0.5, 0.0), ONE)])
    assert not Float.holds([(0, ONE)]) and not Float.holds([])          # a sum that is exactly 0


def test_an_exact_zero_coefficient_contributes_nothing():
    huge = _iv(1.0, math.inf)  # a weight whose enclosure is unbounded (argument above 700)
    assert Float.holds([(ONE, ONE), (_iv(0.0, 0.0), huge)])
    assert Float.holds([(ONE, ONE), (0, huge)])
    lo = np.array([0.0, -1.0, 0.0])
    hi = np.array([0.0, 0.0, 1e-300])
    got = Float.holds([(ONE, ONE), (Interval(lo, hi), Interval(np.ones(3), np.full(3, math.inf)))])
    assert got.tolist() == [True, False, False]


def test_smallest_encloses_order_statistics():
    ws = [_iv(3.0, 4.0), _iv(1.0, 5.0), _iv(2.0, 2.5)]
    got = Float.smallest(ws, 2)
    assert [(float(w.lo), float(w.hi)) for w in got] == [(1.0, 2.5), (2.0, 4.0)]
    assert Exact.smallest([Fraction(3), Fraction(1), Fraction(2)], 2) == [1, 2]


def test_smallest_reads_a_nan_end_as_unknown():
    """An enclosure end that is NaN says nothing: the smallest values' lower ends must not skip it
    (Python's sorted() leaves [3, nan, 1] as it is, which took 3 as the least lower end)."""
    ws = [_iv(3.0, 4.0), _iv(math.nan, 5.0), _iv(1.0, math.nan)]
    got = Float.smallest(ws, 2)
    assert [(float(w.lo), float(w.hi)) for w in got] == [(-math.inf, 4.0), (1.0, 5.0)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-50, 50), st.integers(0, 20)), min_size=1, max_size=6), st.integers(0, 6))
def test_smallest_contains_the_exact_choice(vals, n):
    exact = [Fraction(a) + Fraction(b, 7) for a, b in vals]
    enc = [Interval.of_fraction(x) for x in exact]
    for x, w in zip(Exact.smallest(exact, n), Float.smallest(enc, n)):
        assert w.lo <= x <= w.hi


def test_exp_encloses_and_is_infinite_above_its_range():
    for lo, hi in [(-800.0, -790.0), (-1.0, 2.0), (0.0, 0.0), (699.0, 700.0)]:
        e = _iv(lo, hi).exp()
        assert e.lo <= math.exp(lo) if lo > -700 else e.lo >= 0
        assert hi > 700 or e.hi >= math.exp(hi) * (1 - 1e-15)
    big = _iv(1.0, 701.0).exp()
    assert big.hi == math.inf and 2.71 < big.lo <= math.e
    nan = Interval(np.float64(math.nan), np.float64(math.nan)).exp()
    assert nan.lo == 0 and nan.hi == math.inf


def test_where_and_max0_select_like_the_exact_reading():
    t = {"a": Dyadic(np.array([3, -5], dtype=object), -1), "b": Dyadic(np.array([-7, 9], dtype=object), 0)}
    E, F = Exact(2, 4, t), Float(2, 4, t)
    for i in range(2):
        for cond in (True, False):
            x = E.max0(E.where(cond, E.a[i], E.b[i]))
            y = F.max0(F.where(cond, F.a[i], F.b[i]))
            assert y.lo <= x <= y.hi
    z = F.where(np.array([True, False]), 0, F.a[np.arange(2)])
    assert z.lo[0] == z.hi[0] == 0.0 and z.lo[1] <= -2.5 <= z.hi[1]


def test_an_exact_zero_coefficient_of_an_array_adds_exactly_zero():
    """An array sum whose only positive part would be a zero coefficient's term is not proven: the
    term adds 0, not 1 or its weight. Kills numbers.py:90's `where(zero, 0, ...)` -> `where(zero, 1, ...)`."""
    zero = Interval(np.zeros(2), np.zeros(2))
    half = Interval(np.full(2, -0.5), np.full(2, -0.5))
    assert Float.holds([(zero, ONE), (half, ONE)]).tolist() == [False, False]
    assert Float.holds([(zero, ONE), (-half, ONE)]).tolist() == [True, True]
