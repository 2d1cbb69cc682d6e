"""Hybrid proof: a compact proof's cases, plus brute force on exactly the inputs they leave out.

The compact part is the cubic proof or the best subcubic variant (subcubic.prove_best; exact-real
only), whichever makes the whole certificate cheaper to check (`checker_ops`), recorded as
parameters.compact. Only cases worth their checking cost are claimed (_worth): a case covering a
handful of inputs costs the checker more than deciding those inputs one by one.

The certified bound is the exact accuracy. The residue is enumerated by the checker's own
`residue` (checker/rules/hybrid.py, pure combinatorics from the case structure) from this prover's
case sets, and counted by the brute-force prover's Counter. The checker recounts from its own sets.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import comb
from typing import Any

import numpy as np

from certify.paths import FloatModel
from certify.strategies import brute_force, cubic, subcubic
from certify.strategies.base import Proof, Strategy, needs_two_positions
from checker.certificate import Certificate
from checker.errors import CheckFailure
from checker.ops import Ops
from checker.rules import semantic_paths
from checker.rules.brute_force import exp_table
from checker.rules.hybrid import COMPACT, MAX_RESIDUE, Sets, residue, residue_size, residue_sizes, subcubic_covers
from checker.safetensors import Weights

MAX_INPUTS = 1 << 40   # beyond this even a few percent of the inputs is out of reach
SUBCUBIC_CASE_OPS = 1000  # a subcubic case's checking cost, roughly (default model: 4.1M ops for 4,001 cases); the totals are flat in it (640 to 2,560 moves them by 0.6%)


def stage_a_ops(c: int) -> int:
    """The residue's stage A per input with c non-max values: c additions of its tabulated terms
    and one comparison (checker/rules/hybrid.py, _Query.count), which every residue input pays."""
    return c + 1


@dataclass(frozen=True)
class Compact:
    """A compact part: its rule, the rule's parameters and evidence (the claimed cases), and per
    claimed triple (q, m, c) the non-max values it covers ([None] for c = 0)."""
    name: str
    parameters: dict[str, Any]
    evidence: dict[str, Any]
    sets: Sets


def applies(m: FloatModel) -> str | None:
    if m.d_vocab ** m.k > MAX_INPUTS:
        return (f"{m.d_vocab}^{m.k} inputs: the residue of a compact proof would still be too many "
                f"to enumerate; use cubic or subcubic")
    return needs_two_positions(m)


def prove(m: FloatModel) -> Proof:
    """The hybrid proof on the cheaper compact part (`checker_ops`; cubic only for float32)."""
    parts = compact_parts(m)
    costs = [(cost, i) for i, cost in enumerate(checker_ops(m, parts) if len(parts) > 1 else []) if cost is not None]
    return proof(m, parts[min(costs)[1] if costs else 0])


def compact_parts(m: FloatModel) -> list[Compact]:
    """The candidate compact parts, the cases worth claiming only: cubic, and under exact-real
    semantics the best subcubic variant."""
    parts = [cubic_part([case for case in cubic.case_sets(m) if _worth(*case, m.k, m.d_vocab)])]
    if m.semantics == "exact-real":
        best = subcubic.prove_best(m)
        parts.append(subcubic_part(best, [case for case in best.evidence["cases"] if _subcubic_worth(*case, m.k)]))
    return parts


def cubic_part(found: list[tuple[int, int, int, list]]) -> Compact:
    """The compact part claiming these cubic cases (q, max, c, passing values)."""
    return Compact("cubic", {}, {"cases": [[q, mx, c, len(xs)] for q, mx, c, xs in found]},
                   {(q, mx, c): xs for q, mx, c, xs in found})


def subcubic_part(best: Proof, cases: list[list[int]]) -> Compact:
    """The compact part claiming these cases (q, max, c, g) of a subcubic proof (its variant)."""
    return Compact("subcubic", best.parameters, {**best.evidence, "cases": cases},
                   {(q, mx, c): subcubic_covers(mx, c, g) for q, mx, c, g in cases})


def checker_ops(m: FloatModel, parts: list[Compact]) -> list[int | None]:
    """Per part, about the ops the checker counts for a hybrid certificate on it: exactly those of
    its compact rule inside the hybrid rule (checker/rules/hybrid.py's COMPACT, run here on the
    claimed cases), plus the residue's stage A (`stage_a_ops` per input), which every residue input
    pays. The exact path terms, the residue's tables and its later stages (the
    inputs near a tie, in either residue) cost about the same for every part. None for a part the
    checker's rule refuses (it is then not chosen)."""
    t = m.t
    w = Weights("", {name: a.astype(np.float32) for name, a in t.items()}, m.k, m.d_vocab,
                t["embed.W_E"].shape[1], m.d_head)
    certs = [Certificate(m.k, m.d_vocab, m.semantics, Fraction(0), "", "", part.name, part.parameters,
                         part.evidence) for part in parts]
    paths = semantic_paths(certs[0], w)  # shared by every part, as in the rule
    exp_w = exp_table(paths)            # likewise
    out: list[int | None] = []
    for part, cert in zip(parts, certs):
        try:
            with Ops() as ops:
                COMPACT[part.name](cert, w, paths, exp_w)
        except CheckFailure:
            out.append(None)
            continue
        out.append(ops.count + sum(stage_a_ops(c) * n for c, n in residue_sizes(m.d_vocab, m.k, part.sets).items()))
    return out


def proof(m: FloatModel, part: Compact) -> Proof:
    """The hybrid proof on this compact part: its cases, and the residue counted."""
    V, K = m.d_vocab, m.k
    left = residue_size(V, K, part.sets)
    if left > MAX_RESIDUE:
        raise ValueError(f"the {part.name} proof leaves {left:,} inputs, more than the limit of "
                         f"{MAX_RESIDUE:,} to enumerate")
    covered = sum(comb(K - 1, c) * len(xs) ** c for (_, _, c), xs in part.sets.items())
    counter = brute_force.Counter(m)
    correct = covered
    for q, I, mx, X in residue(V, K, part.sets):
        toks = np.repeat(mx[:, None], K, axis=1)
        toks[:, K - 1] = q
        toks[:, list(I)] = X
        correct += counter.count(q, toks)
    evidence = {**part.evidence, "correct_inputs": correct, "total_inputs": V ** K}
    return Proof("hybrid", Fraction(correct, V ** K), {"compact": part.name, **part.parameters}, evidence,
                 m.semantics)


def _worth(q: int, mx: int, c: int, xs: list, K: int, V: int) -> bool:
    """Whether claiming the cubic case costs the checker fewer ops than deciding its inputs as
    residue: its cubic check (about 3 K V + 5 m (K - 1) ops, the rule's per-case count before ops
    were counted by construction; the totals are flat in this threshold, from half to twice it) against
    the residue's stage A on its inputs (the bound is exact either way)."""
    return comb(K - 1, c) * len(xs) ** c * stage_a_ops(c) > 3 * K * V + 5 * mx * (K - 1)


def _subcubic_worth(q: int, mx: int, c: int, g: int, K: int) -> bool:
    """The same for a subcubic case (q, m, c, g), covering C(K-1, c) (m - g + 1)^c inputs."""
    return comb(K - 1, c) * len(subcubic_covers(mx, c, g)) ** c * stage_a_ops(c) > SUBCUBIC_CASE_OPS


STRATEGY = Strategy("hybrid", "O(V^3 K + residue K V)",
                    "cubic or best-subcubic cases (whichever is cheaper to check), then brute force on "
                    "exactly the inputs they leave; the bound is the exact accuracy", prove, default=False,
                    applies=applies, semantics=("exact-real", "float32"))
