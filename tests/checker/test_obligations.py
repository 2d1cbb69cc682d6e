"""The rule table and each rule's public `obligations` (what the SMT and Coq exporters read).

The obligations are the rule's own sums, so they must agree with the rule's verdicts: on an honest
certificate every sum holds exactly; on a certificate claiming one value too many for a cubic case,
or a subcubic gap g one too wide where that is false, that case's obligations are false.
"""
from __future__ import annotations

from fractions import Fraction

import pytest

from certify.model import Config
from certify.paths import load_float_model
from certify.strategies import cubic, subcubic
from certify.train import train
from certify.weights import save_model
from checker import expo
from checker.certificate import Certificate
from checker.rules import Case, Reject, obligations_for, rule_for, table
from checker.safetensors import read_weights

@pytest.fixture(scope="module")
def model(tmp_path_factory):
    model, _ = train(Config(3, 6, 8, 4), 3, steps=300, progress=False)
    path = tmp_path_factory.mktemp("obligations") / "m.safetensors"
    save_model(model, path)
    return path, read_weights(str(path)), load_float_model(path)


def _cert(w, path, proof, evidence=None) -> Certificate:
    return Certificate(w.k, w.d_vocab, "exact-real", Fraction(0), w.sha256, str(path), proof.strategy,
                       proof.parameters, proof.evidence if evidence is None else evidence)


def _holds(case: Case, d: int) -> bool:
    return all(expo.holds(s, d) for s in case.sums)


def test_rule_table_names_every_rule():
    assert set(table()) >= {"brute-force", "cubic", "subcubic"}
    for name, module in table().items():
        assert rule_for(name) is module.rule
    assert obligations_for("cubic") is not None and obligations_for("subcubic") is not None
    assert obligations_for("brute-force") is None and rule_for("nonsense") is None


@pytest.mark.parametrize("strategy", ["cubic", "subcubic"])
def test_honest_obligations_hold(model, strategy):
    path, w, fm = model
    proof = cubic.prove(fm) if strategy == "cubic" else subcubic.prove_variant(fm, "exact", "rank2-query", "maxdiff")
    cert = _cert(w, path, proof)
    assert rule_for(strategy)(cert, w) == proof.bound > 0
    cases = list(obligations_for(strategy)(cert, w))
    assert len(cases) == len(proof.evidence["cases"]) > 0
    assert all(case.sums and _holds(case, w.d_head) for case in cases)
    assert len({case.name for case in cases}) == len(cases)


def test_cubic_overclaim_is_a_false_obligation(model):
    path, w, fm = model
    proof = cubic.prove(fm)
    cases = proof.evidence["cases"]
    idx = next(i for i, (q, m, c, n) in enumerate(cases) if c and n < m)
    q, m, c, n = cases[idx]
    forged = {"cases": cases[:idx] + [[q, m, c, n + 1]] + cases[idx + 1:]}
    cert = _cert(w, path, proof, forged)
    with pytest.raises(Reject):
        rule_for("cubic")(cert, w)
    verdicts = [_holds(case, w.d_head) for case in obligations_for("cubic")(cert, w)]
    assert verdicts == [i != idx for i in range(len(cases))]
