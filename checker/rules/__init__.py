"""The table of checker rules: one per strategy name, each returning a lower bound it has proven."""
from __future__ import annotations

from fractions import Fraction
from types import ModuleType
from typing import Callable, Iterator, NamedTuple

from checker.certificate import Certificate
from checker.errors import Malformed, Reject  # noqa: F401 (Reject re-exported: the rule modules raise it)
from checker.paths import Paths, exact_paths
from checker.safetensors import Weights


Rule = Callable[[Certificate, Weights], Fraction]


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


def semantic_paths(cert: Certificate, w: Weights) -> Paths:
    """The exact path terms, with the direct path widened by the float32 error bound if claimed."""
    from checker.float32 import float32_paths
    return exact_paths(w) if cert.semantics == "exact-real" else float32_paths(w)


def parse_cases(raw: object, rule: str, K: int, V: int, last: str, at_c0: int) -> list[tuple[int, int, int, int]]:
    """evidence.cases of a compact rule: distinct triples (q, m, c) with 0 <= q <= m < V and c non-max
    copies (at most K-1 if q = m, else K-2), each with a fourth int (named `last`: cubic's n, subcubic's
    g) that is at_c0 if c = 0, else in [1, m]. Anything else is malformed (Malformed)."""
    if not isinstance(raw, list):
        raise Malformed("evidence.cases must be a list")
    seen: set[tuple[int, int, int]] = set()
    for case in raw:
        if not isinstance(case, list) or len(case) != 4 or not all(type(v) is int for v in case):
            raise Malformed(f"malformed {rule} case {case!r:.80}")
        q, m, c, n = case
        if not (0 <= q <= m < V and 0 <= c <= (K - 1 if q == m else K - 2)):
            raise Malformed(f"{rule} case {case!r:.80} out of range")
        if not (n == at_c0 if c == 0 else 1 <= n <= m):
            raise Malformed(f"{rule} case {case!r:.80}: {last} must be {at_c0} for c = 0, else in [1, m]")
        if (q, m, c) in seen:
            raise Malformed(f"duplicate {rule} case {(q, m, c)}")
        seen.add((q, m, c))
    return [tuple(case) for case in raw]


def table() -> dict[str, ModuleType]:
    """THE rule table: strategy name -> its module, with `rule` (and `obligations`, where the rule
    has a finite list of exact obligations; brute force has none: it decides every input)."""
    from checker.rules import brute_force, cubic, hybrid, subcubic  # imported lazily: one module per rule
    return {"brute-force": brute_force, "cubic": cubic, "subcubic": subcubic, "hybrid": hybrid}


def rule_for(name: str) -> Rule | None:
    return getattr(table().get(name), "rule", None)


def obligations_for(name: str) -> Obligations | None:
    return getattr(table().get(name), "obligations", None)
