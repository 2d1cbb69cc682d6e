"""Float64 interval enclosures with outward rounding by one ulp (np.nextafter).

Soundness: IEEE-754 round-to-nearest returns the float nearest the exact result, so the exact
result lies strictly between the neighbours of the computed float; stepping one ulp down (up) gives
a lower (upper) bound. Overflow to +-inf steps to +-max-float, still on the correct side, and NaN
compares false, so it only ever makes a filter undecided. This needs IEEE float64 arithmetic with
gradual underflow, which assert_ieee_float64 checks at start-up.
"""
from __future__ import annotations

import numpy as np

NEG, POS = -np.inf, np.inf


class FloatEnvironmentError(Exception):
    pass


def assert_ieee_float64() -> None:
    """Refuse to run under flush-to-zero / denormals-are-zero or a non-IEEE float64."""
    tiny = np.float64(2.2250738585072014e-308)
    sub = np.array([tiny]) / np.float64(4.0)
    if not (sub[0] > 0 and np.nextafter(np.float64(0), np.float64(1)) > 0
            and np.finfo(np.float64).eps == 2.0**-52 and (np.float64(1) + 2.0**-53) == 1.0
            and (np.float64(1) + 2.0**-52) > 1.0):
        raise FloatEnvironmentError("float64 arithmetic is not IEEE round-to-nearest "
                                    "with gradual underflow; refusing to use the float filter")


def down(x: np.ndarray) -> np.ndarray:
    return np.nextafter(x, NEG)


def up(x: np.ndarray) -> np.ndarray:
    return np.nextafter(x, POS)


def enclose_ints(nums: np.ndarray, e: int) -> tuple[np.ndarray, np.ndarray]:
    """Enclose the exact values nums * 2**e (object array of ints) by float64 arrays (lo, hi)."""
    flat = [_nearest(int(n), e) for n in nums.ravel()]
    mid = np.array(flat, dtype=np.float64).reshape(nums.shape)
    return down(mid), up(mid)


def _nearest(n: int, e: int) -> float:
    """A float within half an ulp of n * 2**e (Python's int true division rounds correctly)."""
    try:
        return float(n << e) if e >= 0 else n / (1 << -e)
    except OverflowError:
        return np.inf if n > 0 else -np.inf


def mul_lower(c_lo: np.ndarray, w_lo: np.ndarray, w_hi: np.ndarray) -> np.ndarray:
    """Lower bound of c * w for c >= c_lo and w in [w_lo, w_hi] with w_lo >= 0."""
    return down(c_lo * np.where(c_lo >= 0, w_lo, w_hi))


def mul_upper(c_hi: np.ndarray, w_lo: np.ndarray, w_hi: np.ndarray) -> np.ndarray:
    """Upper bound of c * w for c <= c_hi and w in [w_lo, w_hi] with w_lo >= 0."""
    return up(c_hi * np.where(c_hi >= 0, w_hi, w_lo))
