"""The interface every proof strategy implements, and the result it hands the certificate writer."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

from certify.paths import FloatModel


@dataclass(frozen=True)
class Proof:
    strategy: str
    bound: Fraction
    parameters: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    semantics: str = "exact-real"              # docs/semantics.md


@dataclass(frozen=True)
class Strategy:
    name: str
    cost: str                                  # asymptotic proof length, for `certify strategies`
    summary: str
    prove: Callable[[FloatModel], Proof]
    default: bool = True                       # run by `certify run` with no --strategy
    applies: Callable[[FloatModel], str | None] = lambda m: None  # reason it cannot run, if any
    semantics: tuple[str, ...] = ("exact-real",)  # the claims it can make


def needs_two_positions(m: FloatModel) -> str | None:
    """The compact strategies reason about non-query positions, so they need K >= 2."""
    return None if m.k >= 2 else f"needs K >= 2 (this model has K = {m.k})"


def fraction_str(x: Fraction) -> str:
    return f"{x.numerator}/{x.denominator}"
