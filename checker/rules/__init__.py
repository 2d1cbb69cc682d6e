"""The table of checker rules: one per strategy name, each returning a lower bound it has proven."""
from __future__ import annotations

from fractions import Fraction
from typing import Callable

from checker.certificate import Certificate
from checker.ops import Ops
from checker.paths import Paths, exact_paths
from checker.safetensors import Weights


class Reject(Exception):
    """The certificate's claim is not established (exit code 1)."""


Rule = Callable[[Certificate, Weights, Ops], Fraction]


def semantic_paths(cert: Certificate, w: Weights, ops: Ops) -> Paths:
    """The exact path terms, with the direct path widened by the float32 error bound if claimed."""
    from checker.float32 import Float32Error, float32_paths
    if cert.semantics == "exact-real":
        return exact_paths(w)
    try:
        return float32_paths(w, ops)
    except Float32Error as e:
        raise Reject(str(e)) from None


def rule_for(name: str) -> Rule | None:
    from checker.rules import brute_force, cubic, subcubic  # imported lazily: one module per rule
    table: dict[str, Rule] = {"brute-force": brute_force.rule, "cubic": cubic.rule,
                              "subcubic": subcubic.rule}
    return table.get(name)
