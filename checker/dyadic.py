"""Exact dyadic matrices: an object array of Python ints N and one exponent e, value N * 2**e.

Every finite float32 is such a number, so the model's path terms are computed with no rounding.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from checker.ops import counted


@dataclass(frozen=True)
class Dyadic:
    n: np.ndarray  # dtype=object, Python ints
    e: int

    @staticmethod
    def from_floats(x: np.ndarray) -> "Dyadic":
        """Exact: every float64 (hence float32) value is n / d with d a power of two (as_integer_ratio);
        as m * 2**f with m odd, f = v2(n) - log2(d), and e is the least f of a nonzero entry (0 if none)."""
        x = np.asarray(x, dtype=np.float64)
        ratios = [v.as_integer_ratio() for v in x.ravel().tolist()]
        e = min(((n & -n).bit_length() - d.bit_length() for n, d in ratios if n), default=0)
        left, right = max(-e, 0), max(e, 0)  # n / d = N * 2**e, N an integer by the choice of e
        vals = [(n << left) // (d << right) for n, d in ratios]
        return Dyadic(counted(np.array(vals, dtype=object).reshape(x.shape)), e)  # the weights: every op counts

    def align(self, e: int) -> np.ndarray:
        """Numerators at exponent e <= self.e."""
        return self.n * (1 << (self.e - e)) if self.e > e else self.n

    def __add__(self, other: "Dyadic") -> "Dyadic":
        e = min(self.e, other.e)
        return Dyadic(self.align(e) + other.align(e), e)

    def __sub__(self, other: "Dyadic") -> "Dyadic":
        e = min(self.e, other.e)
        return Dyadic(self.align(e) - other.align(e), e)

    def __matmul__(self, other: "Dyadic") -> "Dyadic":
        return Dyadic(np.dot(self.n, other.n), self.e + other.e)

    def __getitem__(self, idx) -> "Dyadic":
        return Dyadic(self.n[idx], self.e)

    def rows(self, n: int) -> "Dyadic":
        """This vector as the n equal rows of a matrix."""
        return Dyadic(np.tile(self.n.reshape(1, -1), (n, 1)), self.e)

    def fraction(self, idx) -> Fraction:
        return Fraction(int(self.n[idx])) * Fraction(2) ** self.e


class Rationals:
    """A Dyadic read entry by entry as exact Fractions (the exact number type of the rules)."""

    def __init__(self, d: Dyadic) -> None:
        self.d = d

    def __getitem__(self, idx) -> Fraction:
        return self.d.fraction(idx)
