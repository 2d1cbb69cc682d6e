"""Sound enclosures of exp(x) for x = num * 2**e / sqrt(d), in integer fixed point, and the exact
sign of sum_i c_i * exp(x_i). No floating point anywhere: every rounding is directed by hand.
"""
from __future__ import annotations

import math

from checker.errors import OutOfBudget
from checker.ops import charge, poll

MAX_PRECISION_BITS = 1 << 16  # refinement cap: reaching it fails closed (OutOfBudget, never expected)


def scaled_sqrt_floor(num: int, e: int, d: int, p: int, den: int = 1) -> int:
    """floor(|num| * 2**e / (den * sqrt(d)) * 2**p) via floor(sqrt(floor(y))) = floor(sqrt(y)), y >= 0."""
    shift = 2 * (e + p)
    a = num * num
    dd = d * den * den
    return math.isqrt((a << shift) // dd) if shift >= 0 else math.isqrt(a // (dd << -shift))


def exp_fixed(a: int, p: int, upper: bool) -> int:
    """Bound on 2**p * exp(a / 2**p): a lower bound if not upper, else an upper bound.

    exp(y) = exp(z)**(2**s) with z = |y| / 2**s <= 1/4. Series for exp(z): truncated terms computed
    with floors give a lower bound (every term and the dropped tail are >= 0); terms with ceilings
    plus the tail bound sum_{n>N} z**n/n! <= t_N * z/(1-z) <= t_N / 3 give an upper bound. For y < 0
    invert (exp(-z) = 1/exp(z), rounding the quotient outward); squaring a nonnegative bound keeps
    its direction when rounded the same way. Ops: one per series term and per squaring.
    """
    if a == 0:
        return 1 << p
    s = max(0, abs(a).bit_length() - p + 2)
    w = p + s + 40
    z = abs(a) << (w - p - s)  # exactly |a| / 2**(p + s), over 2**w: w - p - s = 40 guard bits
    want_series_upper = upper if a > 0 else not upper
    one = 1 << w
    total, term, n = one, one, 0
    while True:
        n += 1
        term = -((-term * z) // (n << w)) if want_series_upper else (term * z) // (n << w)
        total += term
        if term <= 1:
            break
        if n % 64 == 0:
            poll()  # at the precision cap one series takes seconds: keep the time limit tight
    if want_series_upper:
        total += term  # the tail is at most a third of the last term
    if a < 0:
        total = -((-(one << w)) // total) if upper else (one << w) // total
    for _ in range(s):
        total = -((-total * total) >> w) if upper else (total * total) >> w
    charge(n + s + 1)
    return -((-total) >> (w - p)) if upper else total >> (w - p)


def exp_enclosure(num: int, e: int, d: int, p: int, den: int = 1) -> tuple[int, int]:
    """(lo, hi) with lo <= 2**p * exp(num * 2**e / (den * sqrt(d))) <= hi, den > 0."""
    m = scaled_sqrt_floor(num, e, d, p, den)  # |x| * 2**p lies in [m, m + 1]
    charge(4)
    lo, hi = (m, m + 1) if num >= 0 else (-m - 1, -m)  # x * 2**p lies in [lo, hi]
    return exp_fixed(lo, p, upper=False), exp_fixed(hi, p, upper=True)


def sign_sum_exp(coeffs: list[int], nums: list[int], e: int, d: int, den: int = 1) -> int:
    """Exact sign of sum_i coeffs[i] * exp(nums[i] * 2**e / (den * sqrt(d))).

    Equal exponents are merged first. By Lindemann-Weierstrass, exponentials of distinct algebraic
    numbers are linearly independent over the algebraic numbers, so the sum is zero iff every merged
    coefficient is zero; otherwise refining the enclosures eventually separates it from zero.
    """
    merged: dict[int, int] = {}
    for c, x in zip(coeffs, nums):
        merged[x] = merged.get(x, 0) + c
    terms = [(c, x) for x, c in merged.items() if c != 0]
    if not terms:
        return 0
    if len(terms) == 1:
        return 1 if terms[0][0] > 0 else -1
    top = max(x for _, x in terms)  # factor out exp(top) > 0: all arguments become <= 0
    p = 64
    while p <= MAX_PRECISION_BITS:
        lo = hi = 0
        for c, x in terms:
            elo, ehi = exp_enclosure(x - top, e, d, p, den)
            lo += c * (elo if c > 0 else ehi)
            hi += c * (ehi if c > 0 else elo)
        charge(4 * len(terms) + 2)
        if lo > 0:
            return 1
        if hi < 0:
            return -1
        p *= 2
    raise OutOfBudget("sign of a sum of exponentials undecided at the precision cap")


Obligation = list  # [(coefficient, argument), ...] as Fractions: sum c * exp(a / sqrt(d)) > 0


def holds(terms: Obligation, d: int) -> bool:
    """Whether sum c * exp(a / sqrt(d)) > 0, exactly, for rational c and a."""
    cden = math.lcm(*(c.denominator for c, _ in terms))
    aden = math.lcm(*(a.denominator for _, a in terms))
    return sign_sum_exp([int(c * cden) for c, _ in terms], [int(a * aden) for _, a in terms], 0, d, aden) > 0
