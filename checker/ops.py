"""Proof length: the checker counts the arithmetic operations it performs; the count also polls the
time budget.

Counting convention (docs/soundness.md): one op per scalar arithmetic operation or comparison the
checker executes on numbers derived from the weights, whether in float64, on Python ints, or in an
integer exp enclosure (counted as one op per series term or squaring). Outward-rounding steps (nextafter),
indexing, copying and parsing are not counted. The count depends only on the certificate and the
weights, never on timing.

Budget: every rule's loops count ops as they go, so checking the clock in `add` bounds the whole
check's wall time on any thread (no signals); the stretches between two counts are bounded by the
size caps (docs/certificate.md#resource-caps).
"""
from __future__ import annotations

import time

from checker.errors import OutOfBudget


class Ops:
    def __init__(self, seconds: float | None = None) -> None:
        self.count = 0
        self.seconds = seconds
        self.deadline = None if seconds is None else time.monotonic() + seconds

    def add(self, n: int) -> None:
        self.count += int(n)
        self.poll()

    def poll(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OutOfBudget(f"time limit of {self.seconds:g} s exceeded: the check did not finish "
                              f"(fails closed; nothing was established)")


EXP_OPS = 64  # ops counted per exp enclosure (a degree-18 Horner evaluation plus range reduction)
