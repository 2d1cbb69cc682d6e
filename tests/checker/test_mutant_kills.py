"""Behaviour that surviving mutants of checker/ showed untested (benchmarks/mutate_checker.py; the
survivors and their classes: docs/mutation.md). Each test kills the mutants named in its docstring
(applied by hand to a copy of the checker: the test fails there and passes here). Checker-only:
committed fixtures or models built here, no prover.
"""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from checker.certificate import parse_certificate
from checker.check import Result
from checker.cli import main, render_json, render_text
from checker.errors import Malformed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _cert(**changes) -> dict:
    """A well-formed brute-force certificate of the committed tiny model (tests/fixtures)."""
    doc = json.loads((FIXTURES / "tiny.brute-force.json").read_text())
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        obj = doc
        for key in path:
            obj = obj[key]
        obj[last] = value
    return doc


def _parse(doc: dict) -> object:
    return parse_certificate(json.dumps(doc).encode())


# ---------------------------------------------------------------- certificate.py: documented limits

def test_certificate_size_cap_is_64_mib():
    """docs/certificate.md: at most 64 MiB. A file of exactly 64 MiB passes the size check (it then
    fails for what it holds: not UTF-8); one byte more is refused for its size. Kills MAX_BYTES
    `64 << 20` read as 63/65 << 20 or 64 << 19/21."""
    cap = 64 * 1024 * 1024
    with pytest.raises(Malformed, match="not UTF-8"):
        parse_certificate(b"\xff" * cap)
    with pytest.raises(Malformed, match="larger than"):
        parse_certificate(b"\xff" * (cap + 1))


def _nested(depth: int) -> dict:
    """The certificate with `depth` levels of [ and { (the top-level object is level 1)."""
    doc, inner = _cert(), []
    for _ in range(depth - 4):  # top object, strategy, parameters: 3 levels; inner: 1 + this
        inner = [inner]
    doc["strategy"]["parameters"] = {"x": inner}
    return doc


def test_nesting_cap_is_32_levels():
    """docs/certificate.md: at most 32 levels. Kills MAX_DEPTH 32 -> 31/33."""
    assert _parse(_nested(32)).parameters["x"] is not None
    with pytest.raises(Malformed, match="nested deeper than 32"):
        _parse(_nested(33))


def test_integer_and_rational_digits_cap_is_400():
    """docs/certificate.md: JSON integers, and p and q of "p/q", of at most 400 digits (sign not
    counted). Kills MAX_INT_DIGITS 400 -> 399/401 and the `_RATIONAL` pattern's `- 1` bounds read as
    `- 0`, `- 2` or `+ 1`."""
    n400, n401 = "9" * 400, "9" * 401
    assert _parse(_cert(evidence={"correct_inputs": int(n400), "total_inputs": -int(n400)})).evidence[
        "correct_inputs"] == int(n400)
    with pytest.raises(Malformed, match="more than 400 digits"):
        _parse(_cert(evidence={"correct_inputs": int(n401), "total_inputs": 125}))
    p, q = "1" + "0" * 399, "3" * 400  # 400 digits each, in lowest terms, p/q in [0, 1]
    assert _parse(_cert(claim__accuracy_lower_bound=f"{p}/{q}")).bound == Fraction(int(p), int(q))
    for bad in (f"1{'0' * 400}/{q}", f"1/{q}3"):  # 401 digits
        with pytest.raises(Malformed, match="lowest terms"):
            _parse(_cert(claim__accuracy_lower_bound=bad))


def test_nesting_counts_only_brackets_outside_strings():
    """Brackets inside a string do not nest (docs/certificate.md), also right after an escaped
    quote; sibling containers do not add up. Kills `_nesting` with the string's closing quote test
    `==` -> `!=` and with `depth -= 1` -> `+=`."""
    brackets = "[{" * 40 + '\\"' + "[" * 40
    cert = _parse(_cert(producer={"name": brackets, "version": "]]"}))
    assert cert.strategy == "brute-force"
    siblings = _cert()
    siblings["strategy"]["parameters"] = {f"p{i}": [[{}]] for i in range(40)}  # depth 5 each, 40 times
    assert _parse(siblings).parameters["p39"] == [[{}]]


# ---------------------------------------------------------------- certificate.py: refusals

@pytest.mark.parametrize("path", ["", 5, None, ["a"]])
def test_model_path_must_be_a_non_empty_string(path):
    """Kills `raise -> pass` on model.path (a non-string path would otherwise reach the file
    lookup: an AttributeError in check_file, an empty one a folder)."""
    with pytest.raises(Malformed, match="model.path must be a non-empty string"):
        _parse(_cert(model__path=path))


@pytest.mark.parametrize("strategy", [{"name": 3, "parameters": {}}, {"name": "brute-force", "parameters": []},
                                      {"name": None, "parameters": None}])
def test_strategy_needs_a_string_name_and_an_object_of_parameters(strategy):
    """Kills `raise -> pass` on the strategy's name and parameters types."""
    with pytest.raises(Malformed, match="strategy needs a string name"):
        _parse(_cert(strategy=strategy))


# ---------------------------------------------------------------- cli.py: what is printed

def test_help_exits_0_and_describes_the_checker(capsys):
    """`python -m checker --help`: exit 0 and the module's first docstring line. Kills
    `return 2 if e.code else 0` -> `else 1` and the description's `splitlines()[0]` -> `[1]`."""
    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Command line of the checker" in out and "(default 3600)" in out


def test_an_internal_error_is_reported_with_zero_ops(capsys, monkeypatch):
    """A checker crash is an error (exit 2) with no ops and no bound, never a traceback. Kills the
    internal-error Result's ops `0` -> `-1`."""
    import checker.cli as cli

    def crash(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(cli, "check_file", crash)
    assert main([str(FIXTURES / "tiny.brute-force.json"), "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert (out["verdict"], out["ops"], out["bound"]) == ("error", 0, None)
    assert out["reason"] == "internal checker error: RuntimeError: boom"


def test_junit_names_each_case_by_its_strategy(tmp_path):
    """JUnit classname certify.<strategy>, certify.unknown when the certificate could not be read.
    Kills `r.strategy or 'unknown'` -> `and`."""
    results = [("a.json", Result("accepted", Fraction(1, 2), "ok", "cubic", 0.1, 5)),
               ("b.json", Result("error", None, "unreadable", None, 0.0, 0))]
    from checker.cli import write_junit
    write_junit(str(tmp_path / "r.xml"), results)
    assert [case.get("classname") for case in ET.parse(tmp_path / "r.xml").getroot()] == \
        ["certify.cubic", "certify.unknown"]


def test_json_and_text_reports():
    """--json rounds seconds to milliseconds; the text report says `accepted: accuracy >= ...` for an
    accepted claim and `below --min-accuracy` for a verified one that is too low. Kills the
    `round(seconds, 3)` -> 2 and the accepted test `==` -> `!=`."""
    ok = Result("accepted", Fraction(1, 2), "claim holds", "cubic", 0.1236, 7, semantics="exact-real")
    low = Result("rejected", Fraction(1, 2), "too low", "cubic", 0.1, 7, semantics="exact-real")
    assert json.loads(render_json(ok, "c.json"))["seconds"] == 0.124
    assert render_text(ok, "c.json").startswith("ACCEPTED: accuracy >= 1/2 ~ 0.500000\n")
    assert render_text(low, "c.json").startswith("REJECTED: below --min-accuracy (the certified bound is 1/2 ~ 0.500000)\n")


# ---------------------------------------------------------------- errors.py: the one table of exit codes

def test_each_kind_of_failure_ends_with_its_verdict_and_exit_code(tmp_path):
    """errors.py's table (docs/certificate.md#verdicts): Malformed error/2, Reject rejected/1,
    OutOfBudget error/3, as check_file reports them. Kills each class's exit code +-1 (Reject's
    is the one the driver never read)."""
    from checker.check import check_file
    from checker.errors import OutOfBudget, Reject
    bad_count = tmp_path / "count.json"
    bad_count.write_text(json.dumps(_cert(model__path=str(FIXTURES / "tiny.safetensors"),
                                          evidence={"correct_inputs": 50, "total_inputs": 125})))
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps(_cert(model__path=str(FIXTURES / "tiny.safetensors"), extra=1)))
    good = str(FIXTURES / "tiny.brute-force.json")
    for result, kind, code in [(check_file(str(bad_count)), Reject, 1), (check_file(str(unknown)), Malformed, 2),
                               (check_file(good, time_limit=1e-9), OutOfBudget, 3)]:
        assert (result.verdict, result.exit_code) == (kind.verdict, kind.exit_code) == (result.verdict, code)
    assert check_file(good).exit_code == 0


# ---------------------------------------------------------------- expo.py: the exact sign

def test_an_exactly_zero_sum_does_not_hold():
    """An obligation is sum c exp(a / sqrt d) > 0: a sum that is exactly 0 (a tie) does not hold.
    Kills `holds`' `> 0` -> `>= 0`."""
    from checker import expo
    third = Fraction(1, 3)
    assert not expo.holds([(Fraction(1), third), (Fraction(-1), third)], 2)
    assert not expo.holds([(Fraction(1, 2), Fraction(0)), (Fraction(1, 4), Fraction(0)), (Fraction(-3, 4), Fraction(0))], 1)
    assert expo.holds([(Fraction(1), third), (Fraction(-1), Fraction(0))], 2)  # e^(1/(3 sqrt 2)) > 1


def test_exact_sign_precision_cap_is_2_to_the_16_bits():
    """docs/certificate.md: 2^16 bits of refinement per sign, the last round included. e^(2^-40000) - 1
    needs more than 2^15 bits and is decided; e^(2^-70000) - 1 needs more than 2^16: OutOfBudget.
    Kills MAX_PRECISION_BITS `1 << 16` -> `1 << 15`, `2 << 16`, `1 << 17` and the loop's `<=` -> `<`."""
    from checker import expo
    from checker.errors import OutOfBudget
    assert expo.sign_sum_exp([1, -1], [1, 0], -40000, 1) == 1
    with pytest.raises(OutOfBudget, match="precision cap"):
        expo.sign_sum_exp([1, -1], [1, 0], -70000, 1)


def test_an_exact_sign_round_charges_4n_plus_2_and_4_per_enclosure(monkeypatch):
    """docs/soundness.md#proof-length-ops: an n-term refinement round 4 n + 2 ops, each exp enclosure
    4 for its square root (plus its exp_fixed terms, counted apart here). Kills those constants +-1."""
    from checker import expo
    from checker.ops import Ops
    rounds, real = [], expo.exp_fixed

    def apart(a: int, p: int, upper: bool) -> int:  # the series' own charges go to a throwaway counter
        rounds.append(p)
        with Ops():
            return real(a, p, upper)
    monkeypatch.setattr(expo, "exp_fixed", apart)
    ops = Ops()
    with ops:
        assert expo.sign_sum_exp([1, 1, -2], [1, -1, 0], -120, 1) == 1  # 2 (cosh 2^-120 - 1) > 0
    n, enclosures = len(set(rounds)), len(rounds) // 2
    assert n > 1 and enclosures == 3 * n
    assert ops.count == n * (4 * 3 + 2) + 4 * enclosures


# ---------------------------------------------------------------- float32.py, files.py

def test_gamma_refuses_exactly_sums_longer_than_2_to_the_22_terms():
    """gamma(n) needs n u <= 1/4 (u = 2^-24): n = 2^22 is admitted (gamma about 1/3), 2^22 + 1 is not.
    Kills the refusal's `>` -> `>=`."""
    from checker.errors import Reject
    from checker.float32 import gamma
    assert Fraction(1, 3) < Fraction(gamma(1 << 22)) < Fraction(1, 3) + Fraction(1, 1 << 40)
    with pytest.raises(Reject, match="too long"):
        gamma((1 << 22) + 1)


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc")
def test_a_regular_file_that_cannot_be_read_is_malformed():
    """/proc/self/mem is a regular file whose read at offset 0 fails (EIO): Malformed, never an
    UnboundLocalError. Kills `raise -> pass` on read errors."""
    from checker.files import read_file
    with pytest.raises(Malformed, match="cannot read weights"):
        read_file("/proc/self/mem", 100, "weights")
