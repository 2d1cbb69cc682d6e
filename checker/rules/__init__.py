"""The table of checker rules: one per strategy name, each returning a lower bound it has proven."""
from __future__ import annotations

from fractions import Fraction
from types import ModuleType
from typing import Callable, Iterator, NamedTuple

from checker.certificate import Certificate
from checker.ops import Ops
from checker.paths import Paths, exact_paths
from checker.safetensors import Weights


class Reject(Exception):
    """The certificate's claim is not established (exit code 1)."""


Rule = Callable[[Certificate, Weights, Ops], Fraction]


class Case(NamedTuple):
    """One case of a rule's proof, as the exporters (SMT, Coq) read it: it holds iff every sum in
    `sums` is > 0, a sum being a list of exact terms (c, a) (Fractions) that stands for
        sum_k c_k * exp(a_k / sqrt(d_head))      (expo.Obligation; expo.holds decides one).
    A rule module's `obligations(cert, weights) -> Iterator[Case]` yields its cases in certificate
    order, computed from the same text the rule decides; a case the rule would refuse is yielded
    false (some sum <= 0), so an export of a bad certificate is refuted too."""
    name: str
    sums: list


Obligations = Callable[[Certificate, Weights], Iterator[Case]]


def semantic_paths(cert: Certificate, w: Weights, ops: Ops) -> Paths:
    """The exact path terms, with the direct path widened by the float32 error bound if claimed."""
    from checker.float32 import Float32Error, float32_paths
    if cert.semantics == "exact-real":
        return exact_paths(w)
    try:
        return float32_paths(w, ops)
    except Float32Error as e:
        raise Reject(str(e)) from None


def table() -> dict[str, ModuleType]:
    """THE rule table: strategy name -> its module, with `rule` (and `obligations`, where the rule
    has a finite list of exact obligations; brute force has none: it decides every input)."""
    from checker.rules import brute_force, cubic, hybrid, subcubic  # imported lazily: one module per rule
    return {"brute-force": brute_force, "cubic": cubic, "subcubic": subcubic, "hybrid": hybrid}


def rule_for(name: str) -> Rule | None:
    module = table().get(name)
    return module.rule if module else None


def obligations_for(name: str) -> Obligations | None:
    return getattr(table().get(name), "obligations", None)
