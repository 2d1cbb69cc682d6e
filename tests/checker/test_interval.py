"""The vectorised float64 exp enclosure brackets a 60-digit oracle and is tight."""
from __future__ import annotations

import mpmath
import numpy as np

from checker.interval import exp_bounds


def test_exp_bounds_bracket_high_precision_exp():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-745, 0, 3000), rng.uniform(-5, 5, 3000), rng.uniform(-800, 700, 500),
                        [0.0, -745.1, -744.0, -740.0, 700.0, 1e-300, -1e-300, 0.3465, -0.3466]])
    lo, hi = exp_bounds(x, x)
    with mpmath.workdps(60):
        for xi, l, h in zip(x, lo, hi):
            v = mpmath.exp(mpmath.mpf(float(xi)))
            assert mpmath.mpf(float(l)) <= v <= mpmath.mpf(float(h)), xi
            if v > 1e-300:
                assert h - l <= 1e-12 * float(v), xi


def test_exp_bounds_on_an_interval_use_its_ends():
    lo, hi = exp_bounds(np.array([-2.0]), np.array([1.0]))
    assert lo[0] <= np.exp(-2.0) and hi[0] >= np.exp(1.0) and hi[0] < np.exp(1.0) * (1 + 1e-12)
