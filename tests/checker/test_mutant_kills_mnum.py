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
