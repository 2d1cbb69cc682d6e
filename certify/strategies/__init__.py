"""Registry of proof strategies (one module each, one interface: strategies.base.Strategy)."""
from __future__ import annotations

from certify.strategies.base import Strategy


def all_strategies() -> dict[str, Strategy]:
    from certify.strategies import brute_force, cubic, hybrid, paper, subcubic
    found = [brute_force.STRATEGY, cubic.STRATEGY, *subcubic.STRATEGIES, *paper.STRATEGIES, hybrid.STRATEGY]
    return {s.name: s for s in found}


def get(name: str) -> Strategy:
    table = all_strategies()
    if name not in table:
        raise KeyError(f"unknown strategy {name!r}; `certify strategies` lists them")
    return table[name]
