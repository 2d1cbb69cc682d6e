"""Proof length, counted by construction: every array the checker derives from the weights is a
`Counted` array, and each arithmetic operation or comparison on one counts itself; the count also
polls the time budget.

Convention (docs/soundness.md#proof-length-ops): one op per scalar result of an arithmetic or
comparison ufunc applied to a Counted array (a reduction or running extreme: one per entry read; a
matrix product: a multiply and an add per term), on float64 intervals and exact dyadic numerators
alike; the integer exp enclosures of expo.py count one op per series term and per squaring.
Outward rounding (nextafter), selection (indexing, where, sorting), copying, conversions between
representations, and arithmetic on single entries in Python loops or on Fractions are not counted.
The count depends only on the certificate and the weights, never on timing.

The counter in use is the active one (`with ops:`; check.py activates it for the whole check), held
per thread and context (contextvars), so concurrent checks on Dask worker threads count apart.

Budget: the rules' arithmetic runs on Counted arrays, so checking the clock in `charge` bounds the
whole check's wall time on any thread (no signals); the stretches between two counts are bounded by
the size caps (docs/certificate.md#resource-caps).
"""
from __future__ import annotations

import time
from contextvars import ContextVar

import numpy as np

from checker.errors import OutOfBudget


class Ops:
    def __init__(self, seconds: float | None = None) -> None:
        self.count = 0
        self.seconds = seconds
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self._tokens: list = []

    def poll(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OutOfBudget(f"time limit of {self.seconds:g} s exceeded: the check did not finish "
                              f"(fails closed; nothing was established)")

    def __enter__(self) -> "Ops":
        self._tokens.append(_active.set(self))
        return self

    def __exit__(self, *exc) -> None:
        _active.reset(self._tokens.pop())


_active: ContextVar[Ops | None] = ContextVar("checker_ops", default=None)


def charge(n: int) -> None:
    """Count n ops on the active counter (none active, e.g. for the exporters: not counted)."""
    if (ops := _active.get()) is not None:
        ops.count += int(n)
        ops.poll()


def poll() -> None:
    if (ops := _active.get()) is not None:
        ops.poll()


_COUNTED = {np.add, np.subtract, np.multiply, np.true_divide, np.floor_divide, np.negative, np.absolute,
            np.maximum, np.minimum, np.left_shift, np.right_shift, np.ldexp, np.rint, np.greater,
            np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal}


class Counted(np.ndarray):
    """An ndarray whose arithmetic counts itself; whatever is computed from it is Counted too."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out")
        if out:
            kwargs["out"] = tuple(o.view(np.ndarray) if type(o) is Counted else o for o in out)
        result = getattr(ufunc, method)(*[x.view(np.ndarray) if type(x) is Counted else x for x in inputs],
                                        **kwargs)
        if ufunc in _COUNTED:
            charge(np.size(inputs[0]) if method in ("reduce", "accumulate", "reduceat", "at") else np.size(result))
        if out:  # as numpy: the out arrays themselves, not views of them
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        result = super().__array_function__(func, types, args, kwargs)
        if func is np.dot:  # object-dtype products do not pass through ufuncs
            charge(2 * np.shape(args[0])[-1] * np.size(result))
        elif func in (np.partition, np.argpartition):  # k order statistics: k passes of a minimum
            charge(np.size(args[0]) * np.size(kwargs.get("kth", args[1:2])))
        return _wrap(result)


def counted(x) -> Counted:
    """x (an array of numbers derived from the weights) as a Counted array."""
    return np.asarray(x).view(Counted)


def _wrap(x):
    if type(x) is np.ndarray:
        return x.view(Counted)
    return tuple(_wrap(y) for y in x) if isinstance(x, tuple) else x
