"""The table of checker rules: one per strategy name, each returning a lower bound it has proven."""
from __future__ import annotations

from fractions import Fraction
from typing import Callable

from checker.certificate import Certificate
from checker.ops import Ops
from checker.safetensors import Weights


class Reject(Exception):
    """The certificate's claim is not established (exit code 1)."""


Rule = Callable[[Certificate, Weights, Ops], Fraction]


def rule_for(name: str) -> Rule | None:
    from checker.rules import brute_force, cubic, subcubic  # imported lazily: one module per rule
    table: dict[str, Rule] = {"brute-force": brute_force.rule, "cubic": cubic.rule,
                              "subcubic": subcubic.rule}
    return table.get(name)
