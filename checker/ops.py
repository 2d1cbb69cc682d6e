"""Proof length: the checker counts the arithmetic operations it performs.

Counting convention (docs/soundness.md): one op per scalar arithmetic operation or comparison the
checker executes on numbers derived from the weights, whether in float64, on Python ints, or in an
integer exp enclosure (counted as one op per series term or squaring). Outward-rounding steps (nextafter),
indexing, copying and parsing are not counted. The count depends only on the certificate and the
weights, never on timing.
"""
from __future__ import annotations


class Ops:
    def __init__(self) -> None:
        self.count = 0

    def add(self, n: int) -> None:
        self.count += int(n)


EXP_OPS = 64  # ops counted per exp enclosure (a degree-18 Horner evaluation plus range reduction)
