"""Tests added by mutation testing of the checker (benchmarks/mutate_checker.py): each pins behaviour
the checker must have and that no earlier test observed (see docs/soundness.md, "Mutation testing of
the checker")."""
from __future__ import annotations

from fractions import Fraction
import numpy as np
import pytest

from certify.model import Config
from certify.paths import load_float_model
from certify.strategies import cubic
from checker.certificate import Certificate, positive_int, rational
from checker.errors import Malformed
from checker.ops import Counted, Ops, counted
from checker.paths import exact_paths
from checker.rules import cubic as cubic_rule
from checker.rules.brute_force import count_correct
from checker.safetensors import read_weights

from conftest import write_state, zero_state


# ---------------------------------------------------------------- proof length (docs/soundness.md)

def test_operations_count_themselves():
    """ops.Counted: one op per scalar result of arithmetic or a comparison, per entry read by a
    reduction, two per term of a product; rounding and selection are free; nothing is counted
    without an active counter, and everything computed from a Counted array is Counted."""
    x = counted(np.arange(6, dtype=object).reshape(2, 3))
    with Ops() as ops:
        y = x + 1                      # 6
        assert isinstance(y, Counted) and isinstance(np.where(y > 2, y, 0), Counted)   # 6 (>)
        y.max(axis=1)                  # 6
        np.dot(x, x.T)                 # 2 * 3 * 4
        np.nextafter(counted(np.ones(4)), np.inf)  # rounding: free
        np.argpartition(counted(np.ones((2, 5))), [0, 2], axis=-1)  # 2 order statistics of 10 entries
    assert ops.count == 6 + 6 + 6 + 24 + 20
    x + 1
    assert ops.count == 62


def test_zero_d_object_arithmetic_counts_without_error():
    """A 0-d object Counted array's arithmetic returns a bare Fraction; counting it must not fail."""
    from fractions import Fraction
    with Ops() as ops:
        assert counted(np.array(Fraction(1, 3), dtype=object)) + 1 == Fraction(4, 3)
    assert ops.count == 1


def test_out_argument_returns_the_out_array_itself():
    """As numpy: a ufunc with out= returns that very object (in place: x += 1 keeps x), counted."""
    x, o = counted(np.ones(3)), counted(np.zeros(3))
    with Ops() as ops:
        assert np.add(x, 1, out=o) is o and list(o) == [2, 2, 2]
        before = x
        x += 1
        assert x is before
        q, r = counted(np.zeros(3)), counted(np.zeros(3))
        assert np.divmod(x, 2, out=(q, r)) == (q, r) and np.divmod(x, 2, out=(q, r))[0] is q
    assert ops.count == 3 + 3


def test_brute_force_charges_every_stage(tmp_path):
    """All-zero weights: every logit ties, so every input passes stages 1 and 2 undecided and takes
    an exact sign; the count is deterministic and grows with the inputs (V**K) at least as the
    per-input work of the three stages does."""
    counts = {}
    for V in (3, 4):
        path = write_state(zero_state(Config(2, V, 4, 4)), tmp_path / f"zero{V}.safetensors")
        for _ in range(2):
            with Ops() as ops:
                assert count_correct(exact_paths(read_weights(str(path)))) == 0
            counts.setdefault(V, set()).add(ops.count)
    assert all(len(c) == 1 for c in counts.values()), counts  # deterministic
    (small,), (large,) = counts[3], counts[4]
    assert large > small + (4 ** 2 - 3 ** 2) * 4 * 2 * 4    # at least stage 2's V K per input


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


def test_cubic_ops_are_deterministic_and_grow_with_the_cases(tiny):
    """The cubic rule's count: the same on a second run, and a certificate with fewer cases costs
    fewer ops (every case's filter and exact work is charged)."""
    path, w = tiny
    proof = cubic.prove(load_float_model(path))
    cases = proof.evidence["cases"]
    counts = []
    for ev in (proof.evidence, proof.evidence, {"cases": cases[: len(cases) // 2]}):
        with Ops() as ops:
            assert cubic_rule.rule(_cert(w, path, "cubic", {}, ev), w) > 0
        counts.append(ops.count)
    assert counts[0] == counts[1] > counts[2] > 0


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
            cubic_rule.rule(_cert(w, path, "cubic", {}, {"cases": cases}), w)


def test_exact_real_semantics_uses_the_exact_direct_path(tiny):
    """The float32 widening is only for float32 claims: an exact-real claim sees win = rival = DIRECT."""
    from checker.rules import semantic_paths
    path, w = tiny
    p = semantic_paths(_cert(w, path, "cubic", {}, {"cases": []}), w)
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
    assert subcubic_rule.rule(cert, w) == proof.bound > 0
    monkeypatch.setattr(subcubic_rule._Tables, "filter", lambda self, cases: np.zeros(len(cases), bool))
    assert subcubic_rule.rule(cert, w) == proof.bound


@pytest.mark.parametrize("case", [[-1, 2, 1, 1], [0, 2, 2, 1], [0, 6, 1, 1], [2, 2, 3, 1]])
def test_cubic_case_out_of_range_is_refused(tiny, case):
    """A negative query token (numpy would read it as V - 1) or too many copies is malformed."""
    path, w = tiny
    with pytest.raises(Malformed):
        cubic_rule.rule(_cert(w, path, "cubic", {}, {"cases": [case]}), w)


def test_subcubic_refuses_a_filter_with_fewer_decisions_than_cases(tiny, monkeypatch):
    """One filter decision per case: a short answer fails closed instead of dropping cases."""
    from certify.strategies import subcubic
    from checker.rules import subcubic as subcubic_rule
    path, w = tiny
    proof = subcubic.prove_variant(load_float_model(path), "exact", "plain", "maxdiff")
    cert = _cert(w, path, "subcubic", proof.parameters, proof.evidence)
    original = subcubic_rule._Tables.filter
    monkeypatch.setattr(subcubic_rule._Tables, "filter", lambda self, cases: original(self, cases)[:-1])
    with pytest.raises(ValueError):
        subcubic_rule.rule(cert, w)
