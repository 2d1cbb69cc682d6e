"""The hybrid rule with a subcubic compact part, and the prover's choice between cubic and subcubic.

Differential against brute force (the checker's own count and the mpmath oracle) on models whose
subcubic proof covers nothing, part, and everything; the subcubic cases' covered inputs checked by
explicit enumeration; known-bad certificates; mutants of the rule's subcubic part that must make
an honest certificate fail or a bad one pass (a test that can fail).
"""
from __future__ import annotations

import itertools
import json
from fractions import Fraction
from math import comb
from pathlib import Path

import numpy as np
import pytest

from certify.model import Config
from certify.paths import load_float_model
from certify.strategies import hybrid as hybrid_prover
from certify.strategies import subcubic as subcubic_prover
from certify.train import train
from checker.check import check_file
from checker.rules import hybrid, subcubic
from conftest import (checker_count, edited_copy, model_state, oracle_count, random_state, write_proof,
                      write_state)


def _write(weights: Path, proof, tmp_path: Path, name: str = "h.json") -> Path:
    write_proof(weights, proof, tmp_path / name)
    return tmp_path / name


def _trained(tmp: Path, k: int, v: int, d: int, seed: int, steps: int) -> Path:
    model, _ = train(Config(k, v, d, d), seed, steps=steps, progress=False, mode="ieee-v1")
    return write_state(model_state(model), tmp / f"k{k}v{v}s{seed}.safetensors")


def _parts(weights: Path) -> dict[str, hybrid_prover.Compact]:
    """Subcubic compact parts claiming every case of the best variant, the cases worth claiming, none."""
    m = load_float_model(weights)
    best = _best(m)
    cases = best.evidence["cases"]
    return {"all": hybrid_prover.subcubic_part(best, cases),
            "worth": hybrid_prover.subcubic_part(best, [c for c in cases if hybrid_prover._subcubic_worth(*c, m.k)]),
            "none": hybrid_prover.subcubic_part(best, [])}


def _best(m):
    return subcubic_prover.prove_best(m)


def _covered(part: hybrid_prover.Compact, k: int) -> int:
    return sum(comb(k - 1, c) * len(S) ** c for (_, _, c), S in part.sets.items())


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Models whose best subcubic proof covers nothing (random), part, and everything (trained)."""
    tmp = tmp_path_factory.mktemp("sub")
    return {"nothing": write_state(random_state(Config(3, 5, 8, 8), 2, biases=True), tmp / "r.safetensors"),
            "part": _trained(tmp, 4, 6, 8, 6, 300),
            "everything": _trained(tmp, 3, 4, 16, 0, 1500)}


@pytest.mark.parametrize("which", ["nothing", "part", "everything"])
def test_differential_against_brute_force(models, tmp_path, which):
    weights = models[which]
    m = load_float_model(weights)
    total = m.d_vocab ** m.k
    exact = checker_count(weights)
    if m.k * m.d_vocab ** m.k <= 500:  # the mpmath oracle, where it is quick
        from safetensors.numpy import load_file
        assert exact == oracle_count(load_file(str(weights)))
    parts = _parts(weights)
    covered = _covered(parts["all"], m.k)
    assert {"nothing": covered == 0, "part": 0 < covered < exact, "everything": covered == total}[which]
    for name, part in parts.items():
        proof = hybrid_prover.proof(m, part)
        assert proof.parameters["compact"] == "subcubic" and proof.evidence["correct_inputs"] == exact, name
        r = check_file(str(_write(weights, proof, tmp_path, f"{name}.json")))
        assert (r.verdict, r.bound) == ("accepted", Fraction(exact, total)), (name, r.reason)


@pytest.mark.parametrize("V,K", [(3, 2), (4, 3), (3, 4), (5, 3)])
def test_subcubic_cases_cover_exactly_what_the_rule_counts(V, K):
    _cover_by_definition(V, K)


def _cover_by_definition(V: int, K: int) -> None:
    """For random case lists (q, m, c, g): the inputs a subcubic case covers by its definition (the
    triple (q, m, c), every non-max value <= m - g) are as many as the subcubic rule counts, and
    the residue of the rule's sets (subcubic_covers) is exactly the other inputs."""
    rng = np.random.default_rng(V * 10 + K)
    for trial in range(4):
        cases = [(q, m, c, 0 if c == 0 else int(rng.integers(1, m + 1)))
                 for q in range(V) for m in range(q, V) for c in range(K if q == m else K - 1)
                 if rng.random() < 0.6 and (c == 0 or m > 0)]
        sets = {(q, m, c): hybrid.subcubic_covers(m, c, g) for q, m, c, g in cases}
        g_of = {(q, m, c): g for q, m, c, g in cases}
        covered = set()
        for t in itertools.product(range(V), repeat=K):
            q, m = t[-1], max(t)
            nonmax = [x for x in t[:-1] if x < m]
            g = g_of.get((q, m, len(nonmax)))
            if g is not None and all(x <= m - g for x in nonmax):
                covered.add(t)
        assert len(covered) == sum(comb(K - 1, c) * (m - g + 1) ** c if c else 1 for _, m, c, g in cases)
        rows = []
        for q, I, m, X in hybrid.residue(V, K, sets):
            toks = np.repeat(m[:, None], K, axis=1)
            toks[:, K - 1] = q
            toks[:, list(I)] = X
            rows += [tuple(int(x) for x in row) for row in toks]
        assert len(rows) == len(set(rows)) == hybrid.residue_size(V, K, sets)
        assert set(rows).isdisjoint(covered) and len(rows) + len(covered) == V ** K


@pytest.fixture(scope="module")
def partial(models, tmp_path_factory) -> tuple[Path, Path, Path]:
    """(weights, honest subcubic-hybrid certificate claiming every case, the same with one case's gap
    lowered to a value the rule refutes) on the model the subcubic proof covers in part."""
    weights = models["part"]
    tmp = tmp_path_factory.mktemp("partial")
    m = load_float_model(weights)
    part = _parts(weights)["all"]
    honest = _write(weights, hybrid_prover.proof(m, part), tmp)
    doc = json.loads(honest.read_text())
    for i, (q, mx, c, g) in enumerate(doc["evidence"]["cases"]):
        if c and g > 1:
            bad = edited_copy(honest, lambda d: d["evidence"]["cases"][i].__setitem__(3, g - 1))
            if check_file(str(bad)).verdict == "rejected":
                return weights, honest, bad
    raise AssertionError("no case whose lower gap the rule refutes")


def _claim(count: int, total: int):
    def change(d):
        f = Fraction(count, total)
        d["evidence"]["correct_inputs"] = count
        d["claim"]["accuracy_lower_bound"] = f"{f.numerator}/{f.denominator}"
    return change


@pytest.mark.parametrize("mutation,verdict", [
    (lambda d: _claim(d["evidence"]["correct_inputs"] + 1, d["evidence"]["total_inputs"])(d), "rejected"),
    (lambda d: _claim(d["evidence"]["correct_inputs"] - 1, d["evidence"]["total_inputs"])(d), "rejected"),
    (lambda d: d["strategy"]["parameters"].pop("eupu"), "error"),
    (lambda d: d["strategy"]["parameters"].__setitem__("err", "quartic"), "error"),
    (lambda d: d["strategy"]["parameters"].__setitem__("compact", "cubic"), "error"),  # cubic takes no variant
    (lambda d: d["strategy"].__setitem__("parameters", {"compact": "subcubic"}), "error"),
    (lambda d: d["strategy"]["parameters"].__setitem__("compact", ["subcubic"]), "error"),
    (lambda d: d["strategy"]["parameters"].__setitem__("attn", None), "error"),
    (lambda d: d["evidence"].__setitem__("cases", "all"), "error"),
    (lambda d: d["evidence"].pop("direction"), "error"),
    (lambda d: d["evidence"]["cases"].append(d["evidence"]["cases"][0]), "error"),
    (lambda d: d["evidence"]["cases"][0].__setitem__(3, d["evidence"]["cases"][0][1] + 1), "error"),
    (lambda d: d["claim"].__setitem__("semantics", "float32"), "rejected"),  # subcubic claims exact-real only
])
def test_known_bad_certificates(partial, mutation, verdict):
    _, honest, _ = partial
    r = check_file(str(edited_copy(honest, mutation)))
    assert r.verdict == verdict, r.reason


def test_false_case_is_rejected_not_moved_to_the_residue(partial):
    _, _, bad = partial
    r = check_file(str(bad))
    assert r.verdict == "rejected" and "does not hold" in r.reason


def test_dropping_cases_keeps_the_exact_bound(partial):
    _, honest, _ = partial
    bound = check_file(str(honest)).bound
    for keep in (lambda cs: cs[::2], lambda cs: cs[1::3], lambda cs: []):
        r = check_file(str(edited_copy(honest, lambda d: d["evidence"].__setitem__("cases", keep(d["evidence"]["cases"])))))
        assert (r.verdict, r.bound) == ("accepted", bound), r.reason


MUTANTS = {  # name: (apply, what catches it)
    "covers every value below m": (lambda mp: mp.setattr(hybrid, "subcubic_covers",
                                                         lambda m, c, g: list(range(m)) if c else [None]), "definition"),
    "covers one more value": (lambda mp: mp.setattr(hybrid, "subcubic_covers",
                                                    lambda m, c, g: list(range(min(m, m - g + 2))) if c else [None]),
                              "definition"),
    "covers one value fewer": (lambda mp: mp.setattr(hybrid, "subcubic_covers",
                                                     lambda m, c, g: list(range(m - g)) if c else [None]), "definition"),
    "decides no case": (lambda mp: mp.setattr(subcubic, "proven", lambda cert, w: iter(
        [tuple(case) for case in cert.evidence["cases"]])), "certificates"),
}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutants_are_caught(partial, monkeypatch, name):
    """Each mutant fails a check that the honest rule passes: the covered inputs against their
    definition (a mutant covering more than the definition would count inputs never decided; on
    trained models the values just above m - g are nearly always right, so only this catches it),
    or the honest certificate accepted at the exact count and the bad one rejected."""
    weights, honest, bad = partial
    m = load_float_model(weights)
    exact = Fraction(checker_count(weights), m.d_vocab ** m.k)
    verdicts = lambda: ((check_file(str(honest)).verdict, check_file(str(honest)).bound),
                        check_file(str(bad)).verdict)
    apply, catcher = MUTANTS[name]
    assert verdicts() == (("accepted", exact), "rejected")
    _cover_by_definition(4, 3)
    apply(monkeypatch)
    if catcher == "definition":
        with pytest.raises(AssertionError):
            _cover_by_definition(4, 3)
    else:
        assert verdicts() != (("accepted", exact), "rejected")


def test_prover_records_the_cheaper_part(models, tmp_path, monkeypatch):
    """prove() keeps the part with the fewer estimated checker ops and records it; both choices
    give the exact bound; float32 has only the cubic part (subcubic claims exact-real only)."""
    weights = models["part"]
    m = load_float_model(weights)
    exact = Fraction(checker_count(weights), m.d_vocab ** m.k)
    parts = hybrid_prover.compact_parts(m)
    costs = dict(zip((p.name for p in parts), hybrid_prover.checker_ops(m, parts)))
    assert set(costs) == {"cubic", "subcubic"} and all(isinstance(c, int) and c > 0 for c in costs.values())
    assert hybrid_prover.prove(m).parameters["compact"] == min(costs, key=costs.get)
    for cheap in ("cubic", "subcubic"):
        monkeypatch.setattr(hybrid_prover, "checker_ops", lambda m, parts: [1 if p.name == cheap else 2 for p in parts])
        proof = hybrid_prover.prove(m)
        assert proof.parameters["compact"] == cheap
        r = check_file(str(_write(weights, proof, tmp_path, f"{cheap}.json")))
        assert (r.verdict, r.bound) == ("accepted", exact), r.reason
    monkeypatch.setattr(hybrid_prover, "checker_ops", lambda m, parts: [None] * len(parts))  # both refused: cubic, checked
    assert hybrid_prover.prove(m).parameters == {"compact": "cubic"}
    import dataclasses
    assert [p.name for p in hybrid_prover.compact_parts(dataclasses.replace(m, semantics="float32"))] == ["cubic"]


def test_checker_ops_counts_the_compact_rule(models, tmp_path):
    """The estimate's compact share is the checker's own count: the ops `certify check` reports for
    the compact part's cases as a plain subcubic certificate (its rule forms no path terms: the
    hybrid's are shared by both parts, so not compared), plus stage A per residue input; a part the
    rule refuses gives None."""
    from certify.strategies.base import Proof
    weights = models["part"]
    m = load_float_model(weights)
    part = _parts(weights)["all"]
    plain = Proof("subcubic", Fraction(_covered(part, m.k), m.d_vocab ** m.k), part.parameters, part.evidence)
    r = check_file(str(_write(weights, plain, tmp_path, "plain.json")))
    assert r.verdict == "accepted", r.reason
    stage_a = sum(hybrid_prover.stage_a_ops(c) * n for c, n in hybrid.residue_sizes(m.d_vocab, m.k, part.sets).items())
    assert hybrid_prover.checker_ops(m, [part]) == [r.ops + stage_a]
    q, mx, c, g = next(case for case in part.evidence["cases"] if case[2])
    malformed = hybrid_prover.subcubic_part(_best(m), [[q, mx, c, 0]])  # c > 0 needs g >= 1
    assert hybrid_prover.checker_ops(m, [malformed, part]) == [None, r.ops + stage_a]
