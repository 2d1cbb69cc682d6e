"""The checker alone, on committed fixtures (tests/fixtures/, made by make_fixtures.py): needs only
numpy, pytest, hypothesis and mpmath, so .ci/run also runs it in a venv without torch or the prover.

A tiny trained model (K = 3, d_vocab = 5) with one honest certificate per strategy: each is accepted
with its bound; the bound one step higher, a count one higher, a cubic case the prover left
out are refused; the exact fallbacks alone give the same verdicts; brute force's count agrees
with an independent mpmath enumeration; the rules' public obligations hold exactly.
"""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import checker.rules.cubic as cubic_rule
import checker.rules.subcubic as subcubic_rule
from checker import expo
from checker.certificate import parse_certificate
from checker.check import check_file
from checker.rules import obligations_for
from checker.safetensors import read_weights

from conftest import FIXTURES, oracle_count

STRATEGIES = ["brute-force", "cubic", "subcubic"]


def _cert(strategy: str) -> dict:
    return json.loads((FIXTURES / f"tiny.{strategy}.json").read_text())


def _write(tmp_path: Path, cert: dict) -> str:
    (tmp_path / "tiny.safetensors").write_bytes((FIXTURES / "tiny.safetensors").read_bytes())
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(cert))
    return str(path)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_honest_certificate_accepted_with_its_bound(strategy):
    result = check_file(str(FIXTURES / f"tiny.{strategy}.json"))
    assert result.verdict == "accepted", result.reason
    assert result.bound == Fraction(_cert(strategy)["claim"]["accuracy_lower_bound"]) > 0


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_bound_one_step_higher_is_refused(tmp_path, strategy):
    cert = _cert(strategy)
    cert["claim"]["accuracy_lower_bound"] = str(Fraction(cert["claim"]["accuracy_lower_bound"]) + Fraction(1, 5 ** 3))
    assert check_file(_write(tmp_path, cert)).exit_code == 1


def test_forged_counts_are_refused(tmp_path):
    cert = _cert("brute-force")
    cert["evidence"]["correct_inputs"] += 1
    assert check_file(_write(tmp_path, cert)).exit_code == 1
    cert = _cert("cubic")  # a case the prover left out because no value passes, claiming one
    cases = cert["evidence"]["cases"]
    q, m, c = next((q, m, c) for m in range(1, 5) for q in range(m + 1) for c in (1, 2)
                   if c < 2 + (q == m) and not any(x[:3] == [q, m, c] for x in cases))
    cases.append([q, m, c, 1])
    assert check_file(_write(tmp_path, cert)).exit_code == 1


def test_brute_force_count_matches_an_independent_enumeration():
    w = read_weights(str(FIXTURES / "tiny.safetensors"))
    assert _cert("brute-force")["evidence"]["correct_inputs"] == oracle_count(w.tensors)


def test_exact_fallbacks_alone_give_the_same_verdicts(monkeypatch):
    monkeypatch.setattr(cubic_rule._Tables, "filter", lambda self, q, m, c, xs: np.zeros(len(xs) if c else (), bool))
    monkeypatch.setattr(subcubic_rule._Tables, "filter", lambda self, cases: np.zeros(len(cases), bool))
    for strategy in ("cubic", "subcubic"):
        assert check_file(str(FIXTURES / f"tiny.{strategy}.json")).verdict == "accepted"


@pytest.mark.parametrize("strategy", ["cubic", "subcubic"])
def test_public_obligations_hold(strategy):
    cert = parse_certificate((FIXTURES / f"tiny.{strategy}.json").read_bytes())
    w = read_weights(str(FIXTURES / "tiny.safetensors"))
    cases = list(obligations_for(strategy)(cert, w))
    assert len(cases) == len(cert.evidence["cases"])
    assert all(case.sums and all(expo.holds(s, w.d_head) for s in case.sums) for case in cases)
