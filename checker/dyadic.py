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
        """Exact: a float64 (hence float32) value m * 2**f with integer m of at most 53 bits."""
        x = np.asarray(x, dtype=np.float64)
        mant, expo = np.frexp(x)
        ints = (mant * 2.0**53).astype(np.int64)  # exact: mant has 53 significant bits
        expo = expo.astype(np.int64) - 53
        nz = ints != 0
        low = np.abs(ints) & -np.abs(ints)  # lowest set bit, a power of two below 2**53 (0 for a zero)
        tz = np.where(nz, np.log2(np.maximum(low, 1)), 0).astype(np.int64)  # trailing zero bits
        ints, expo = ints >> tz, expo + tz  # odd mantissas: the smallest exact exponent
        e = int(expo[nz].min()) if nz.any() else 0
        vals = [int(m) << int(f - e) if m else 0 for m, f in zip(ints.ravel(), expo.ravel())]
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
