"""Tests added by mutation testing of the checker (benchmarks/mutate_checker.py): each pins behaviour
the checker must have and that no earlier test observed (see docs/soundness.md, "Mutation testing of
the checker")."""
from __future__ import annotations

from fractions import Fraction
import pytest

from certify.model import Config
from certify.paths import load_float_model
from certify.strategies import cubic
from checker.certificate import Certificate, positive_int, rational
from checker.errors import Malformed
from checker.ops import EXP_OPS, Ops
from checker.paths import exact_paths
from checker.rules import cubic as cubic_rule
from checker.rules.brute_force import count_correct
from checker.safetensors import read_weights

from conftest import write_state, zero_state


# ---------------------------------------------------------------- proof length (docs/soundness.md)

def test_brute_force_ops_follow_the_documented_formula(tmp_path):
    """All-zero weights: every logit ties, so every input passes stages 1 and 2 undecided and takes
    exactly one exact sign (the first competitor already ties). The count is then the documented
    formula with every stage charged for every input."""
    V, K = 4, 2
    path = write_state(zero_state(Config(K, V, 4, 4)), tmp_path / "zero.safetensors")
    ops = Ops()
    assert count_correct(exact_paths(read_weights(str(path))), ops) == 0
    n = V ** K
    tables = EXP_OPS * V * V * K + V * K * V * V + V * (V * K * V * V + V * V) + V * (V * K * V * V)
    assert EXP_OPS == 64
    assert ops.count == tables + 4 * K * n + 6 * K * V * n + 4 * K * n


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A briefly trained K = 3, vocab 6 model: (path, weights)."""
    from certify.train import train
    from certify.weights import save_model
    model, _ = train(Config(3, 6, 8, 4), 3, steps=300, progress=False)
    path = tmp_path_factory.mktemp("tiny") / "tiny.safetensors"
    save_model(model, path)
    return path, read_weights(str(path))


def _cert(w, path, strategy, parameters, evidence) -> Certificate:
    return Certificate(w.k, w.d_vocab, "exact-real", Fraction(0), w.sha256, str(path), strategy,
                       parameters, evidence)


def test_cubic_ops_follow_the_documented_formula(tiny):
    path, w = tiny
    V, K = w.d_vocab, w.k
    proof = cubic.prove(load_float_model(path))
    ops = Ops()
    assert cubic_rule.rule(_cert(w, path, "cubic", {}, proof.evidence), w, ops) == proof.bound > 0
    cases = proof.evidence["cases"]
    expected = 2 * V * V * (K + 1)
    expected += len({q for q, *_ in cases}) * V * K * 64  # each query's weight row, enclosed once
    expected += sum(4 * (m + 2) * K * V for m in {m for _, m, *_ in cases})  # each max's good column
    for q, m, c, _ in cases:  # every proven case has good_lo > 0
        expected += 3 * (K if q == m else K - 1) * V + 2 * K + 4 + (5 * m * (K - 1) if c else 0)
    assert ops.count == expected


# ---------------------------------------------------------------- certificate parsing boundaries

def test_rational_accepts_exactly_max_int_digits():
    """"p/q" with up to MAX_INT_DIGITS (400) digits each is accepted; 401 digits are refused."""
    big = "1" + "0" * 399  # 400 digits
    assert rational(f"1/{big}", "x") == Fraction(1, 10 ** 399)
    assert rational(f"-{int(big) - 1}/{big}", "x") == Fraction(-(10 ** 399 - 1), 10 ** 399)
    with pytest.raises(Malformed):
        rational(f"1/{big}0", "x")
    with pytest.raises(Malformed):
        rational(f"{big}1/{big}", "x")


def test_positive_int_boundary():
    """1 is a positive integer (a K = 1 or one-token claim is well-formed); 0 and bools are not."""
    assert positive_int(1, "claim.k") == 1
    for bad in (0, -1, True, "1"):
        with pytest.raises(Malformed):
            positive_int(bad, "claim.k")


# ---------------------------------------------------------------- exact dyadics

def test_dyadic_from_floats_is_exact_on_full_53_bit_mantissas():
    """Float64 inputs (e.g. the float32 error slack) can have odd 53-bit mantissas: no bit may be lost."""
    import numpy as np
    from checker.dyadic import Dyadic
    xs = np.array([1 + 2.0 ** -52, 0.1, -3.0, 0.0, 2.0 ** -1074, 1.5 * 2.0 ** 1000])
    d = Dyadic.from_floats(xs)
    assert [d.fraction(i) for i in range(len(xs))] == [Fraction(float(x)) for x in xs]


def test_dyadic_add_and_sub_are_exact():
    import numpy as np
    from checker.dyadic import Dyadic
    a, b = Dyadic.from_floats(np.array([0.75, -2.5])), Dyadic.from_floats(np.array([2.0 ** -30, 8.0]))
    assert [(a - b).fraction(i) for i in range(2)] == [Fraction(3, 4) - Fraction(1, 2 ** 30), Fraction(-21, 2)]
    assert [(a + b).fraction(i) for i in range(2)] == [Fraction(3, 4) + Fraction(1, 2 ** 30), Fraction(11, 2)]


# ---------------------------------------------------------------- command line

def test_min_accuracy_outside_unit_interval_or_not_a_number_is_refused():
    import argparse
    from checker.cli import parse_fraction
    assert parse_fraction("1") == 1 and parse_fraction("0") == 0 and parse_fraction("0.9") == Fraction(9, 10)
    for bad in ("1.5", "-1/2", "abc", "1/0"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_fraction(bad)


def test_bad_command_line_exits_2(capsys):
    from checker.cli import main
    assert main(["--no-such-option", "x.json"]) == 2
    assert main([]) == 2


def test_junit_counts_errors_and_failures(tmp_path):
    from xml.etree import ElementTree as ET
    from checker.check import Result
    from checker.cli import write_junit
    results = [("a.json", Result("accepted", Fraction(1, 2), "ok", "cubic", 0.1, 5)),
               ("b.json", Result("rejected", None, "no", "cubic", 0.1, 5)),
               ("c.json", Result("error", None, "unreadable", None, 0.0, 0)),
               ("d.json", Result("error", None, "unreadable", None, 0.0, 0))]
    write_junit(str(tmp_path / "r.xml"), results)
    suite = ET.parse(tmp_path / "r.xml").getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "2")
    assert [[child.tag for child in case] for case in suite] == [["system-out"], ["failure"], ["error"], ["error"]]


# ---------------------------------------------------------------- intervals and rule inputs

def test_interval_mul_and_div_contain_every_product_and_quotient():
    """Every corner matters: with mixed signs the extreme product can be at any of the four corners."""
    import itertools
    import numpy as np
    from checker import interval as iv
    ends = [(-2.0, 1.0), (-3.0, -0.5), (0.5, 4.0), (-1.0, 3.0)]
    for a, b in itertools.product(ends, repeat=2):
        A, B = (np.array([a[0]]), np.array([a[1]])), (np.array([b[0]]), np.array([b[1]]))
        lo, hi = iv.mul(A, B)
        for x, y in itertools.product(a, b):
            assert lo[0] < x * y < hi[0], (a, b, x, y)
        if b[0] > 0:
            lo, hi = iv.div_pos(A, B)
            for x, y in itertools.product(a, b):
                assert Fraction(lo[0]) < Fraction(x) / Fraction(y) < Fraction(hi[0]), (a, b, x, y)


def test_cubic_cases_must_be_a_list(tiny):
    path, w = tiny
    for cases in ({}, "", 3, None):
        with pytest.raises(Malformed):
            cubic_rule.rule(_cert(w, path, "cubic", {}, {"cases": cases}), w, Ops())


def test_exact_real_semantics_uses_the_exact_direct_path(tiny):
    """The float32 widening is only for float32 claims: an exact-real claim sees win = rival = DIRECT."""
    from checker.rules import semantic_paths
    path, w = tiny
    p = semantic_paths(_cert(w, path, "cubic", {}, {"cases": []}), w, Ops())
    exact = exact_paths(w)
    for side in (p.win, p.rival):
        assert side.e == exact.direct.e and (side.n == exact.direct.n).all()


@pytest.mark.parametrize("variant", [("exact", "rank2-query", "l2"), ("max-diff", "plain", "maxdiff")])
def test_subcubic_exact_fallback_agrees_with_float_filter(tiny, variant, monkeypatch):
    """On the test models the float filter decides every case, so force the exact decision
    (case_holds / obligation) instead: it must prove every case the filter proves."""
    import numpy as np
    from certify.strategies import subcubic
    from checker.rules import subcubic as subcubic_rule
    path, w = tiny
    proof = subcubic.prove_variant(load_float_model(path), *variant)
    cert = _cert(w, path, "subcubic", proof.parameters, proof.evidence)
    assert subcubic_rule.rule(cert, w, Ops()) == proof.bound > 0
    monkeypatch.setattr(subcubic_rule._Tables, "filter", lambda self, cases, ops: np.zeros(len(cases), bool))
    assert subcubic_rule.rule(cert, w, Ops()) == proof.bound


@pytest.mark.parametrize("case", [[-1, 2, 1, 1], [0, 2, 2, 1], [0, 6, 1, 1], [2, 2, 3, 1]])
def test_cubic_case_out_of_range_is_refused(tiny, case):
    """A negative query token (numpy would read it as V - 1) or too many copies is malformed."""
    path, w = tiny
    with pytest.raises(Malformed):
        cubic_rule.rule(_cert(w, path, "cubic", {}, {"cases": [case]}), w, Ops())
