"""Float64 interval enclosures with outward rounding by one ulp (np.nextafter).

Soundness: IEEE-754 round-to-nearest returns the float nearest the exact result, so the exact
result lies strictly between the neighbours of the computed float; stepping one ulp down (up) gives
a lower (upper) bound. Overflow to +-inf steps to +-max-float, still on the correct side, and NaN
compares false, so it only ever makes a filter undecided. This needs IEEE float64 arithmetic with
gradual underflow, which assert_ieee_float64 checks at start-up.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from checker.errors import Malformed, Reject
from checker.ops import Counted, counted

NEG, POS = -np.inf, np.inf


def assert_ieee_float64() -> None:
    """Refuse to run under flush-to-zero / denormals-are-zero or a non-IEEE float64: an error of
    the environment (Malformed, exit 2: the checker cannot run here; the claim is not refuted)."""
    sub = np.array([2.0 ** -1022]) / np.float64(4.0)  # the least normal float64 over 4: subnormal, not 0
    if not (sub[0] > 0 and np.nextafter(np.float64(0), np.float64(1)) > 0
            and np.finfo(np.float64).eps == 2.0**-52 and (np.float64(1) + 2.0**-53) == 1.0
            and (np.float64(1) + 2.0**-52) > 1.0):
        raise Malformed("float64 arithmetic is not IEEE round-to-nearest with gradual underflow "
                        "(flush-to-zero?): the checker cannot run in this environment")


def down(x: np.ndarray) -> np.ndarray:
    return math.nextafter(x, NEG) if isinstance(x, float) else _step(x, NEG)  # scalars: fast path


def up(x: np.ndarray) -> np.ndarray:
    return math.nextafter(x, POS) if isinstance(x, float) else _step(x, POS)


def _step(x: np.ndarray, to: float) -> np.ndarray:
    """One ulp towards `to`; a Counted array stays Counted without a pass through the counter's
    hook (rounding is not counted, and the step is most of the filter's ufunc calls)."""
    if type(x) is Counted:
        return np.nextafter(x.view(np.ndarray), to).view(Counted)
    return np.nextafter(x, to)


def enclose_ints(nums: np.ndarray, e: int) -> tuple[np.ndarray, np.ndarray]:
    """Enclose the exact values nums * 2**e (object array of ints) by float64 arrays (lo, hi).

    float(n) is correctly rounded (CPython), and scaling by 2**e is exact while the result stays
    normal, so that is the float nearest n * 2**e; entries that overflow or leave the normal range
    are rounded one at a time by _nearest.
    """
    flat = np.asarray(nums, dtype=object).reshape(-1)
    try:
        with np.errstate(over="ignore"):  # an overflow to inf is not the user's news: the slow path rounds it
            mid = np.ldexp(flat.astype(np.float64), e) if abs(e) < 2048 else np.full(flat.shape, np.nan)
    except OverflowError:  # some |n| >= 2**1024
        mid = np.full(flat.shape, np.nan)
    slow = ~(np.abs(mid) >= 2.0 ** -1022) & (flat != 0) | ~np.isfinite(mid)
    for i in np.flatnonzero(slow):
        mid[i] = _nearest(int(flat[i]), e)
    mid = mid.reshape(np.shape(nums))
    return counted(down(mid)), counted(up(mid))  # numbers from the weights: their ops count


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


def add(a: tuple, b: tuple) -> tuple[np.ndarray, np.ndarray]:
    return down(a[0] + b[0]), up(a[1] + b[1])


def sub(a: tuple, b: tuple) -> tuple[np.ndarray, np.ndarray]:
    return down(a[0] - b[1]), up(a[1] - b[0])


def mul(a: tuple, b: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Interval product: the exact product of any two members lies between min and max of corners."""
    c1, c2, c3, c4 = a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]  # NaN (0 * inf) stays NaN: undecided
    lo = np.minimum(np.minimum(c1, c2), np.minimum(c3, c4))
    return down(lo), up(np.maximum(np.maximum(c1, c2), np.maximum(c3, c4)))


def div_pos(a: tuple, b: tuple) -> tuple[np.ndarray, np.ndarray]:
    """a / b for a divisor enclosed in b. Where b's lower end is not > 0 (the divisor's enclosure
    may contain 0 or be NaN) or a corner is NaN (inf / inf), nothing is known: (-inf, inf)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        corners = [a[0] / b[0], a[0] / b[1], a[1] / b[0], a[1] / b[1]]
        lo, hi = down(np.minimum.reduce(corners)), up(np.maximum.reduce(corners))
    ok = (b[0] > 0) & ~np.isnan(lo) & ~np.isnan(hi)
    return np.where(ok, lo, NEG), np.where(ok, hi, POS)


class Interval:
    """The filter's number type: float64 arrays lo <= exact <= hi, every operation rounded outward.
    Operands may be Intervals or small integers (Python or numpy, scalars or arrays: exact in float64)."""

    __slots__ = ("lo", "hi")
    __array_ufunc__ = None  # numpy operands defer to Interval's operators (array * Interval)

    def __init__(self, lo, hi) -> None:
        self.lo, self.hi = lo, hi

    @staticmethod
    def of(nums, e: int) -> "Interval":
        """Enclose the exact values nums * 2**e (Python ints, scalar or object array)."""
        return Interval(*enclose_ints(nums, e))

    @staticmethod
    def of_fraction(x: Fraction) -> "Interval":
        return Interval(*_enclose_fraction(x.numerator, x.denominator))

    @staticmethod
    def lift(x) -> "Interval":
        if isinstance(x, Interval):
            return x
        v = np.asarray(x)
        if v.dtype.kind in "biu" and (v.size == 0 or int(np.abs(v).max()) <= 1 << 53):
            f = v.astype(np.float64) if v.ndim else np.float64(v)
            return Interval(f, f)
        raise TypeError(f"no exact float64 interval for {x!r:.40}")

    def __getitem__(self, idx) -> "Interval":
        return Interval(self.lo[idx], self.hi[idx])

    def _op(f):
        """An operator from a (lo, hi)-pair function above, the other operand lifted."""
        def op(self, other) -> "Interval":
            o = Interval.lift(other)
            return Interval(*f((self.lo, self.hi), (o.lo, o.hi)))
        return op

    __add__ = __radd__ = _op(add)
    __mul__ = __rmul__ = _op(mul)
    __truediv__ = _op(div_pos)  # a divisor whose enclosure is not > 0 gives (-inf, inf)
    del _op

    def __neg__(self) -> "Interval":
        return Interval(-self.hi, -self.lo)

    def __sub__(self, other) -> "Interval":
        return self + -Interval.lift(other)

    def max0(self) -> "Interval":
        return Interval(np.maximum(self.lo, 0.0), np.maximum(self.hi, 0.0))

    def exp(self) -> "Interval":
        """Encloses exp of every member (exp_bounds); above its range (> 700) or NaN, up to +inf."""
        big = ~(self.hi <= 700)
        lo, hi = exp_bounds(np.where(np.isnan(self.lo), -np.inf, np.minimum(self.lo, 700.0)),
                            np.where(big, 0.0, self.hi))
        return Interval(lo, np.where(big, np.inf, hi))


def _enclose_fraction(numer: int, denom: int) -> tuple[float, float]:
    mid = numer / denom  # correctly rounded (CPython's int true division)
    return down(mid), up(mid)


_LN2_DIGITS = 6931471805599453094172321214581765680755  # ln 2 to 40 decimals (truncated)
_LN2 = (_enclose_fraction(_LN2_DIGITS, 10 ** 40)[0], _enclose_fraction(_LN2_DIGITS + 1, 10 ** 40)[1])
_INV_FACT = [_enclose_fraction(1, math.factorial(n)) for n in range(19)]
# Lagrange remainder of the degree-18 polynomial: |exp(r) - T_18(r)| <= |r|^19/19! * e^|r|, and for
# |r| <= 0.36 (checked at run time) that is <= 0.36^19 / 19! * e^0.36 < 3.7e-9 / 1.2e17 * 1.5 < 5e-26.
_TAIL = 1e-20


def exp_bounds(x_lo: np.ndarray, x_hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """lo <= exp(x) <= hi for every x in [x_lo, x_hi] (float64 arrays, x_hi <= 700).

    exp(x) = 2**k exp(r), r = x - k ln2 with ln2 enclosed by its two neighbouring floats; exp(r) by the
    degree-18 Taylor polynomial in interval Horner form, widened by _TAIL on each side: the Lagrange
    remainder is |exp(r) - T_18(r)| <= |r|^19 / 19! e^|r| <= 0.36^19 / 19! e^0.36 < 5e-26 for |r| <= 0.36
    (which _exp_side refuses to exceed), so 1e-20 bounds it, not a tolerance; then an exact scaling by
    2**k (ldexp, stepped outward in case of subnormal rounding). exp is increasing, so the lower
    bound is taken at x_lo and the upper at x_hi.
    """
    return _exp_side(np.asanyarray(x_lo, dtype=np.float64), False), _exp_side(np.asanyarray(x_hi, dtype=np.float64), True)


def _exp_side(x: np.ndarray, upper: bool) -> np.ndarray:
    if not np.all(x <= 700):
        raise Reject("exp argument above 700 (outside the float filter's range)")
    xc = np.maximum(x, -740.0)  # below: lower bound 0; exp(-740) bounds exp(x) from above
    k = np.rint(xc / 0.6931471805599453)
    kl = mul((k, k), (np.float64(_LN2[0]), np.float64(_LN2[1])))
    r_lo, r_hi = sub((xc, xc), kl)
    r = r_hi if upper else r_lo
    if not np.all(np.abs(r) <= 0.36):
        raise Reject("argument reduction out of range")
    acc = (np.full_like(r, _INV_FACT[18][0]), np.full_like(r, _INV_FACT[18][1]))
    for n in range(17, -1, -1):
        acc = add(_times_point(acc, r), (np.float64(_INV_FACT[n][0]), np.float64(_INV_FACT[n][1])))
    val = up(acc[1] + _TAIL) if upper else np.maximum(down(acc[0] - _TAIL), 0.0)
    scaled = np.ldexp(val, k.astype(np.int64))
    out = up(scaled) if upper else down(scaled)
    return out if upper else np.where(x < -740.0, 0.0, np.maximum(out, 0.0))


def _times_point(a: tuple, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """mul(a, (r, r)) in half the operations: the four corners are these two, each twice."""
    c1, c2 = a[0] * r, a[1] * r
    return down(np.minimum(c1, c2)), up(np.maximum(c1, c2))


def inv_sqrt(d: int) -> tuple[np.float64, np.float64]:
    """Floats enclosing 1/sqrt(d): floor(2**60 / sqrt(d)) = isqrt(2**120 // d)."""
    k = math.isqrt((1 << 120) // d)
    return down(np.float64(k / (1 << 60))), up(np.float64((k + 1) / (1 << 60)))
