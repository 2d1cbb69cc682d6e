"""The cubic rule: sound on tiny models (vs exact enumeration), on the zoo, and it refuses nudged claims."""
from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np
import pytest
import torch

import checker.rules.cubic as cubic_rule
from certify import zoo
from certify.model import Config, MaxOfK
from certify.paths import load_float_model
from certify.strategies import cubic
from certify.train import train
from certify.weights import save_model
from checker.certificate import Certificate
from checker.errors import Malformed
from checker.paths import exact_paths
from checker.rules import Reject
from checker.rules.brute_force import count_correct
from checker.safetensors import read_weights


def _tiny(tmp_path, k: int, v: int, seed: int, trained: bool, bias: bool = False):
    cfg = Config(k, v, 8, 4)
    if trained:
        model, _ = train(cfg, seed, steps=300, progress=False)
    else:
        torch.manual_seed(seed)
        model = MaxOfK(cfg)
    if bias or not trained:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if bias or "b_" not in name:
                    p.add_(torch.randn_like(p) * 0.3)
    path = tmp_path / f"m{k}{v}{seed}.safetensors"
    save_model(model, path)
    return path


def _cert(path, evidence, bound) -> tuple[Certificate, object]:
    w = read_weights(str(path))
    return Certificate(w.k, w.d_vocab, "exact-real", bound, w.sha256, str(path), "cubic", {}, evidence), w


@pytest.mark.parametrize("k,v,seed,trained,bias", [
    (2, 5, 1, True, False), (3, 6, 2, True, False), (4, 8, 3, True, False), (3, 7, 4, True, True),
    (2, 6, 5, False, False), (3, 5, 6, False, True), (4, 6, 7, False, False)])
def test_cubic_bound_never_exceeds_exact_accuracy(tmp_path, k, v, seed, trained, bias):
    path = _tiny(tmp_path, k, v, seed, trained, bias)
    proof = cubic.prove(load_float_model(path))
    cert, w = _cert(path, proof.evidence, proof.bound)
    exact = Fraction(count_correct(exact_paths(w)), v ** k)
    assert cubic_rule.rule(cert, w) == proof.bound <= exact


def test_exact_fallback_agrees_with_float_filter(tmp_path, monkeypatch):
    path = _tiny(tmp_path, 3, 7, 11, True)
    proof = cubic.prove(load_float_model(path))
    cert, w = _cert(path, proof.evidence, proof.bound)
    assert proof.bound > 0
    monkeypatch.setattr(cubic_rule._Tables, "filter", lambda self, q, m, c, xs: np.zeros(len(xs) if c else (), bool))
    assert cubic_rule.rule(cert, w) == proof.bound


@pytest.fixture(scope="module")
def default_proof():
    path = zoo.lookup(zoo.DEFAULT_MODEL).path
    return path, cubic.prove(load_float_model(path))


def test_default_model_tightness(default_proof):
    path, proof = default_proof
    cert, w = _cert(path, proof.evidence, proof.bound)
    assert cubic_rule.rule(cert, w) == proof.bound
    assert proof.bound / Fraction(zoo.lookup(zoo.DEFAULT_MODEL).accuracy) >= Fraction(93, 100)


def test_claiming_one_value_too_many_is_rejected(default_proof):
    path, proof = default_proof
    ev = copy.deepcopy(proof.evidence)
    idx = next(k for k, (q, m, c, n) in enumerate(ev["cases"]) if c >= 1 and n < m)
    ev["cases"][idx][3] += 1
    cert, w = _cert(path, ev, Fraction(0))
    with pytest.raises(Reject):
        cubic_rule.rule(cert, w)


@pytest.mark.parametrize("mutate", [
    lambda cs: cs.append(list(cs[0])),                          # duplicate case
    lambda cs: cs[0].__setitem__(2, 99),                        # c out of range
    lambda cs: cs[0].__setitem__(3, "3"),                       # not an int
    lambda cs: cs[-1].__setitem__(3, cs[-1][1] + 1),            # more values than exist below m
    lambda cs: cs[0].__setitem__(0, cs[0][1] + 1),              # query above max
    lambda cs: cs[0].__setitem__(3, 0),                         # empty set claimed
])
def test_malformed_cases_are_refused(default_proof, mutate):
    path, proof = default_proof
    ev = copy.deepcopy(proof.evidence)
    mutate(ev["cases"])
    cert, w = _cert(path, ev, Fraction(0))
    with pytest.raises((Malformed, Reject)):
        cubic_rule.rule(cert, w)


def test_bound_one_step_too_high_is_rejected(default_proof, tmp_path):
    from checker.check import check_file
    from certify.certificate import certificate_dict, write_certificate
    path, proof = default_proof
    w = read_weights(str(path))
    d = certificate_dict(proof, w.k, w.d_vocab, w.sha256, str(path))
    cert_path = tmp_path / "c.json"
    write_certificate(cert_path, d)
    assert check_file(str(cert_path)).verdict == "accepted"
    b = proof.bound + Fraction(1, 64 ** 4)
    d["claim"]["accuracy_lower_bound"] = f"{b.numerator}/{b.denominator}"
    write_certificate(cert_path, d)
    assert check_file(str(cert_path)).verdict == "rejected"


@pytest.mark.slow
def test_cubic_on_whole_zoo_is_sound_and_tight():
    ratios = []
    for entry in (e for e in zoo.entries() if e.k == 4 and e.d_vocab == 64):
        proof = cubic.prove(load_float_model(entry.path))
        cert, w = _cert(entry.path, proof.evidence, proof.bound)
        assert cubic_rule.rule(cert, w) == proof.bound <= Fraction(entry.accuracy)
        ratios.append(float(proof.bound / Fraction(entry.accuracy)))
    assert np.mean(ratios) >= 0.953  # the paper's cubic mean, normalized
