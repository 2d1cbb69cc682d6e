"""The two number types every rule's inequality is written over (CGAL's filtered predicates).

A rule computes its exact ingredients once, as Dyadic tables, and writes each case's inequality
once, as a function of a number type N: terms (coefficient, weight) whose sum must be > 0, a weight
standing for exp(a / sqrt(d_head)). The tables are then read through
  * Float: outward-rounded float64 Intervals of the same exact values, a weight enclosed
    (Interval.exp): the filter, vectorised over many cases; it can only say "holds" or "undecided";
  * Exact: Fractions, a weight kept symbolic (its argument a), the sign decided by expo.holds: the
    fallback, and what the exporters read (rules.Case).
Both read the same table names: N.name[idx]. Conditions that select a term (which of two tables)
are computed from the exact tables, never from intervals.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from checker import expo
from checker.dyadic import Dyadic, Rationals
from checker.interval import Interval, inv_sqrt


class Exact:
    """Rationals; a weight exp(a / sqrt(d)) is its argument a."""
    max0 = staticmethod(lambda v: max(Fraction(0), v))
    where = staticmethod(lambda cond, a, b: a if cond else b)
    exp = staticmethod(lambda a: a)
    smallest = staticmethod(lambda ws, n: sorted(ws)[:n])
    maximum = staticmethod(max)

    def __init__(self, k: int, d_head: int, tables: dict[str, Dyadic], weights: tuple[str, ...] = (),
                 **consts) -> None:
        """tables: name -> exact Dyadic table, read N.name[idx]; weights: the tables of arguments
        (read as the arguments themselves here); consts: Fractions and exact flags, as they are."""
        self.k, self.d = k, d_head
        for name, table in tables.items():
            setattr(self, name, Rationals(table))
        self.__dict__.update(consts)

    def holds(self, terms: list) -> bool:
        return expo.holds(terms, self.d)


class Float:
    """Float64 Intervals; a table named in `weights` holds arguments a and is read as exp(a / sqrt(d))."""
    max0 = staticmethod(Interval.max0)

    def __init__(self, k: int, d_head: int, tables: dict[str, Dyadic], weights: tuple[str, ...] = (),
                 **consts) -> None:
        """As Exact's; a Fraction constant is enclosed, flags (exact booleans) kept as they are."""
        self.k, self.rs = k, Interval(*inv_sqrt(d_head))
        for name, table in tables.items():
            x = Interval.of(table.n, table.e)
            setattr(self, name, self.exp(x) if name in weights else x)
        for name, value in consts.items():
            setattr(self, name, Interval.of_fraction(value) if isinstance(value, Fraction) else value)

    def exp(self, a) -> Interval:
        return (self.rs * a).exp()

    @staticmethod
    def where(cond, a, b) -> Interval:
        a, b = Interval.lift(a), Interval.lift(b)
        return Interval(np.where(cond, a.lo, b.lo), np.where(cond, a.hi, b.hi))

    @staticmethod
    def maximum(a, b) -> Interval:
        """max(x, y) for x in a, y in b lies in [max of lower ends, max of upper ends]."""
        a, b = Interval.lift(a), Interval.lift(b)
        return Interval(np.maximum(a.lo, b.lo), np.maximum(a.hi, b.hi))

    @staticmethod
    def smallest(ws: list[Interval], n: int) -> list[Interval]:
        """The n smallest values enclosed: the j-th smallest of the lower (upper) ends bounds the
        j-th smallest value from below (above), order statistics being monotone in every entry. A NaN
        end (nothing known) is read as -inf below and +inf above (fmax/fmin): sorted() cannot order NaN."""
        lo, hi = sorted(np.fmax(w.lo, -np.inf) for w in ws), sorted(np.fmin(w.hi, np.inf) for w in ws)
        return [Interval(a, b) for a, b in zip(lo[:n], hi[:n])]

    @staticmethod
    def holds(terms: list) -> np.ndarray:
        """Where the sum is proven > 0. A coefficient exactly 0 contributes 0 whatever its weight's
        enclosure (the weight itself is a finite real)."""
        total = Interval.lift(0)
        with np.errstate(all="ignore"):  # inf and NaN only ever leave a case undecided
            for coef, w in terms:
                coef = Interval.lift(coef)
                zero = (coef.lo == 0) & (coef.hi == 0)
                if isinstance(zero, np.ndarray) and zero.ndim:
                    total = total + Float.where(zero, 0, coef * w)
                elif not zero:
                    total = total + coef * w
        return total.lo > 0
