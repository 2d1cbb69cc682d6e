"""Behaviour that surviving mutants of checker/ showed untested (benchmarks/mutate_checker.py; the
survivors and their classes: docs/mutation.md). Each test kills the mutants named in its docstring
(applied by hand to a copy of the checker: the test fails there and passes here). Checker-only:
committed fixtures or models built here, no prover.
"""
from __future__ import annotations

import json
import random
from fractions import Fraction
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from checker.certificate import parse_certificate
from checker.check import Result
from checker.cli import main, render_json, render_text
from checker.errors import Malformed
from conftest import checker_shapes, safetensors_bytes

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


def _near_zero_sums(seed: int, count: int):
    """sum c_i exp(num_i 2^e / sqrt d) with the last argument solved for cancellation and rounded to
    the 2^e grid: sums within about 2^e (relative) of 0, of either sign, mostly several coefficients
    of 1 (the cases where a lower end and an upper end are told apart only by the last units)."""
    import mpmath
    rng = random.Random(seed)
    while count:
        n, e, d = rng.randint(2, 4), -rng.randint(40, 90), rng.choice([1, 2, 3])
        coeffs = [rng.choice([1, 1, 1, 2, -1, -1, -2, 3]) for _ in range(n)]
        nums = [rng.randint(-(1 << 8), 1 << 8) << -e - 6 for _ in range(n - 1)]
        with mpmath.workdps(400):
            scale = mpmath.mpf(2) ** e / mpmath.sqrt(d)
            rest = -mpmath.fsum(c * mpmath.exp(x * scale) for c, x in zip(coeffs, nums))
            if rest / coeffs[-1] <= 0:
                continue
            nums.append(int(mpmath.nint(mpmath.log(rest / coeffs[-1]) / scale)) + rng.randint(-2, 2))
            total = mpmath.fsum(c * mpmath.exp(x * scale) for c, x in zip(coeffs, nums))
        merged = {}
        for c, x in zip(coeffs, nums):
            merged[x] = merged.get(x, 0) + c
        if any(merged.values()):
            count -= 1
            yield coeffs, nums, e, d, (total > 0) - (total < 0)


def test_the_sign_of_sums_cancelling_to_the_last_bits():
    """sign_sum_exp's sign of 300 sums within about 2^-40..2^-90 of zero equals mpmath's (400 digits).
    Kills the lower/upper ends swapped for c = 1 (expo.py:88-89 `c > 0` -> `c > 1`), the rounds'
    starts (`lo = hi = 0` -> -1) and their comparisons."""
    from checker import expo
    for coeffs, nums, e, d, want in _near_zero_sums(7, 300):
        assert want != 0 and expo.sign_sum_exp(coeffs, nums, e, d) == want, (coeffs, nums, e, d)


def test_exp_fixed_charges_a_term_per_series_step_and_per_squaring_plus_one():
    """docs/soundness.md#proof-length-ops: exp_fixed counts n + s + 1 (n series terms, s squarings);
    pinned for four arguments (no squaring; 5 and 6 squarings; p = 10). Kills `charge(n + s + 1)`'s
    +-1 and sign variants and the series' step and stop (`n += 1`, `term <= 1`) when they only change
    the work."""
    from checker import expo
    from checker.ops import Ops
    for a, p, upper, want in [(1, 64, False, 3), (1, 64, True, 3), (-(5 << 64), 64, False, 26),
                              (-(5 << 64), 64, True, 26), (3 << 70, 64, True, 32), (-7, 10, False, 7)]:
        with Ops() as ops:
            expo.exp_fixed(a, p, upper)
        assert ops.count == want, (a, p, upper)


def test_exp_enclosures_are_one_unit_wide_at_most_plus_rounding():
    """exp_enclosure encloses 2^p exp(x), |x| 2^p in [m, m + 1], by exp_fixed at m and m + 1: width at
    most exp(x) (one step of x) plus the two roundings, and exp(0) = 1 has its exact lower end 2^p.
    Kills the looser ends (`-m - 1` -> `-m - 2`, `m + 1` -> `m + 2`), `num >= 0` -> `num > 0`, and
    scaled_sqrt_floor's default denominator (1) changed."""
    import math
    import mpmath
    from checker import expo
    rng = random.Random(5)
    assert expo.exp_enclosure(0, 0, 1, 64)[0] == 1 << 64
    for _ in range(400):  # |x| <= 4 and p <= 32: exp_fixed's 40 guard bits keep its error below 2^-8 units
        num, e, d = rng.randint(-(1 << 20), 1 << 20), -rng.randint(18, 22), rng.choice([1, 2, 3, 5])
        p = rng.choice([8, 16, 24, 32])
        lo, hi = expo.exp_enclosure(num, e, d, p)
        with mpmath.workdps(60):
            x = mpmath.mpf(num) * mpmath.mpf(2) ** e / mpmath.sqrt(d)
            assert lo <= mpmath.exp(x) * mpmath.mpf(2) ** p <= hi
            assert hi - lo <= mpmath.exp(x) * (1 + mpmath.mpf(2) ** -4) + 2, (num, e, d, p)
        assert expo.scaled_sqrt_floor(num, e, d, p) == expo.scaled_sqrt_floor(num, e, d, p, 1) \
            == math.isqrt(num * num * 2 ** (2 * (e + p)) // d) if e + p >= 0 else True


def test_an_exact_sign_costs_what_it_cost():
    """The whole count of two sign decisions, the series included, pinned: each round's precision
    (64 bits first, then doubled) sets how many series terms there are (e^-56: 82). Kills `p = 64` -> 63, 65."""
    from checker import expo
    from checker.ops import Ops
    for coeffs, nums, e, d, want in [([1, 1, -2], [1, -1, 0], -120, 1, 121), ([3, -1], [5, 40], -6, 2, 65),
                                              ([1, -1], [7, 0], 3, 1, 82)]:
        with Ops() as ops:
            expo.sign_sum_exp(coeffs, nums, e, d)
        assert ops.count == want, (coeffs, nums)


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


# ---------------------------------------------------------------- interval.py: each primitive encloses

def _arr(*xs: float):
    import numpy as np
    return np.array(xs, dtype=np.float64)


def test_interval_primitives_enclose_exact_results():
    """On operands whose exact results are floats, each primitive's one outward step must keep them
    inside: a step the wrong way (down -> up) or a wrong end excludes them. Kills `add`/`sub` with
    a flipped step or the other end, `_times_point` with one end twice or its upper step down, and
    `mul` reading a corner twice."""
    from checker import interval as iv
    import itertools
    a, b = (_arr(1.0, -2.0), _arr(2.0, 0.5)), (_arr(3.0, 4.0), _arr(5.0, 8.0))
    for f, exact in [(iv.add, lambda x, y: x + y), (iv.sub, lambda x, y: x - y), (iv.mul, lambda x, y: x * y)]:
        lo, hi = f(a, b)
        for k in range(2):
            values = [exact(x, y) for x, y in itertools.product((a[0][k], a[1][k]), (b[0][k], b[1][k]))]
            assert lo[k] <= min(values) and max(values) <= hi[k], (f.__name__, k)
    for r in (3.0, -3.0):
        lo, hi = iv._times_point(a, _arr(r, r))
        for k in range(2):
            assert lo[k] <= min(a[0][k] * r, a[1][k] * r) and max(a[0][k] * r, a[1][k] * r) <= hi[k]


def test_division_by_an_enclosure_holding_zero_knows_nothing():
    """a / b with b's lower end <= 0: (-inf, inf). Kills div_pos's `b[0] > 0` -> `> -1`."""
    from checker import interval as iv
    lo, hi = iv.div_pos((_arr(1.0, 1.0, 1.0), _arr(2.0, 2.0, 2.0)), (_arr(-0.5, 0.0, 0.5), _arr(2.0, 2.0, 2.0)))
    assert list(lo[:2]) == [-float("inf")] * 2 and list(hi[:2]) == [float("inf")] * 2
    assert 0.5 >= lo[2] and hi[2] >= 4.0


def test_lift_takes_only_integers_exact_in_float64():
    """Interval.lift: integers up to 2^53 (exact in float64), nothing larger. Kills its bound's
    `<=` -> `<`, `1 << 53` -> `2 << 53` and the empty-array test `==` -> `!=`."""
    import numpy as np
    from checker.interval import Interval
    x = Interval.lift(np.array([1 << 53, -(1 << 53)]))
    assert list(x.lo) == [2.0 ** 53, -2.0 ** 53]
    assert Interval.lift(np.zeros(0, dtype=np.int64)).lo.shape == (0,)
    for bad in (np.array([(1 << 53) + 1]), (1 << 53) + 2, np.array([1 << 54])):
        with pytest.raises(TypeError):
            Interval.lift(bad)


def test_exp_bounds_refuse_arguments_above_700():
    """Kills `raise -> pass` on exp_bounds' range check."""
    from checker.errors import Reject
    from checker.interval import exp_bounds
    with pytest.raises(Reject, match="above 700"):
        exp_bounds(_arr(0.0, 701.0), _arr(0.0, 701.0))


def test_inv_sqrt_encloses_one_over_sqrt_d_for_large_d_too():
    """lo <= 1/sqrt(d) <= hi exactly; for d = 2^40, 1/sqrt(d) = 2^-20 is a float whose ulp is below the
    2^-60 of the integer root. Kills the upper end's `k + 1` -> `k - 1`."""
    from checker.interval import inv_sqrt
    for d in [1, 2, 3, 4, 5, 7, 64, 1000, 1 << 40, 3 << 41, (1 << 61) - 1]:
        lo, hi = (Fraction(float(x)) for x in inv_sqrt(d))
        assert lo * lo * d <= 1 <= hi * hi * d, d


def test_rounding_is_not_counted_and_keeps_an_array_uncounted():
    """docs/soundness.md#proof-length-ops: outward rounding is not counted; an array not derived from
    the weights stays uncounted after a step. Kills `_step`'s `type(x) is Counted` -> `is not`."""
    import numpy as np
    from checker.interval import down, up
    from checker.ops import Counted, Ops, counted
    ops = Ops()
    with ops:
        plain = down(np.array([1.0, 2.0]))
        plain + 1.0
        weights = up(counted(np.array([1.0, 2.0])))
    assert type(plain) is np.ndarray and type(weights) is Counted and ops.count == 0


# ---------------------------------------------------------------- caps on the work, at their documented values

def test_path_term_caps_are_2_to_the_23_entries_and_2_to_the_30_products():
    """docs/certificate.md#resource-caps: d_vocab^2 K <= 2^23 exact entries, at most 2^30 products
    (dh dm (2V + 2VK) + 2 V^2 K dh + dm V (V + 1)). Kills MAX_PATH_ENTRIES/MAX_PATH_PRODUCTS +-1 in
    either number, the comparisons' `>` -> `>=` and the product formula's constants and signs."""
    from checker.errors import OutOfBudget
    from checker.paths import _check_size
    _check_size(2048, 2, 1, 1)                  # 2^23 entries
    with pytest.raises(OutOfBudget, match="MAX_PATH_ENTRIES = 8,388,608"):
        _check_size(2048, 3, 1, 1)
    _check_size(1, 1, 2, 107374182)             # 10 * 107374182 + 4 = 2^30 products
    with pytest.raises(OutOfBudget, match="MAX_PATH_PRODUCTS = 1,073,741,824"):
        _check_size(1, 1, 2, 107374183)
    _check_size(3, 2, 5, 9)  # 5 * 9 * 18 + 2 * 18 * 9 + 5 * 12: far below both
    with pytest.raises(OutOfBudget, match="1,073,741,834 exact products"):
        _check_size(1, 1, 2, 107374183)


def test_brute_force_caps_are_2_to_the_31_inputs_and_2_to_the_24_table_entries():
    """docs/certificate.md#resource-caps: d_vocab^K <= 2^31 inputs, d_vocab^3 K <= 2^24 gap bounds.
    Kills MAX_INPUTS and MAX_TABLE +-1 in either number and their comparisons."""
    from checker.errors import OutOfBudget
    from checker.rules.brute_force import check_size
    check_size(2, 31)
    with pytest.raises(OutOfBudget, match="4,294,967,296 inputs"):
        check_size(2, 32)
    check_size(256, 1)
    with pytest.raises(OutOfBudget, match="33,554,432 gap bounds"):
        check_size(256, 2)


# ---------------------------------------------------------------- paths.py: the path terms, biases included

def _biased_weights(V: int = 3, K: int = 2, dm: int = 2, dh: int = 2, seed: int = 1):
    """A tiny model with every bias non-zero, its entries small dyadic rationals (exact in float32)."""
    import numpy as np
    from checker.safetensors import Weights
    rng = np.random.default_rng(seed)
    t = {name: (rng.integers(-8, 9, size=shape) / 4).astype(np.float32)
         for name, shape in checker_shapes(V, K, dm, dh).items()}
    return Weights("0" * 64, t, K, V, dm, dh)


def test_exact_paths_match_their_formulas_with_biases():
    """QK, OV and DIRECT of checker/paths.py's docstring, computed here entry by entry in Fractions on a
    model whose biases are all non-zero (the test models' b_Q and b_U are mostly zero). Kills the
    sign of b_Q in Q and of b_U in DIRECT."""
    import numpy as np
    from checker.paths import exact_paths
    w = _biased_weights()
    V, K = w.d_vocab, w.k
    t = {name.rsplit(".", 1)[1]: np.vectorize(Fraction)(a.astype(np.float64)) for name, a in w.tensors.items()}
    W_Q, W_K, W_V, W_O = (t[n][0] for n in ("W_Q", "W_K", "W_V", "W_O"))
    b_Q, b_K, b_V = (t[n][0] for n in ("b_Q", "b_K", "b_V"))
    resid = lambda tok, i: t["W_E"][tok] + t["W_pos"][i]
    Q = lambda q: resid(q, K - 1) @ W_Q + b_Q
    p = exact_paths(w)
    value = lambda d, idx: Fraction(int(d.n[idx])) * Fraction(2) ** d.e
    for q, tok, i in np.ndindex(V, V, K):
        assert value(p.qk, (q, tok, i)) == Q(q) @ (resid(tok, i) @ W_K + b_K)
        ov = (resid(tok, i) @ W_V + b_V) @ W_O @ t["W_U"]
        assert [value(p.ov, (tok, i, j)) for j in range(V)] == list(ov)
    for q in range(V):
        direct = resid(q, K - 1) @ t["W_U"] + t["b_O"] @ t["W_U"] + t["b_U"]
        assert [value(p.direct, (q, j)) for j in range(V)] == list(direct)


def test_the_cubic_rule_refuses_a_one_token_vocabulary():
    """Kills `_cases`' `d_vocab < 2` -> `< 1` (d_vocab = 1 then reaches the tables)."""
    from checker.certificate import Certificate
    from checker.errors import Reject
    from checker.rules import cubic
    w = _biased_weights(V=1)
    cert = Certificate(2, 1, "exact-real", Fraction(0), "0" * 64, "m", "cubic", {}, {"cases": []})
    with pytest.raises(Reject, match="d_vocab >= 2"):
        cubic.rule(cert, w)


# ---------------------------------------------------------------- rules/__init__.py: the cases' ranges

@pytest.mark.parametrize("case, ok", [
    ([0, 0, 0, 1], True), ([4, 4, 2, 1], True), ([1, 4, 1, 3], True), ([0, 4, 1, 4], True),  # the edges inside
    ([-1, 4, 1, 1], False), ([0, 5, 1, 1], False), ([3, 2, 1, 1], False),          # q, m outside 0 <= q <= m < V
    ([1, 4, -1, 1], False), ([4, 4, 3, 1], False), ([1, 4, 2, 1], False),          # c < 0, c > K-1 (q = m), c > K-2
    ([1, 4, 1, 0], False), ([1, 4, 1, 5], False), ([1, 4, 0, 2], False)])          # the fourth int
def test_a_case_outside_its_ranges_is_malformed(case, ok):
    """parse_cases for K = 3, V = 5: (q, m, c) with 0 <= q <= m < V, c <= K-1 if q = m else K-2 (the
    query is not a max copy), the fourth int 1 for c = 0 else in [1, m]. A case with too many non-max
    copies would count inputs that are in no case (c = K-1 with q != m leaves no position for m).
    Kills the range check's constants and comparisons (rules/__init__.py:48)."""
    from checker.rules import parse_cases
    if ok:
        assert parse_cases([case], "cubic", 3, 5, "n", 1) == [tuple(case)]
    else:
        with pytest.raises(Malformed):
            parse_cases([case], "cubic", 3, 5, "n", 1)


def test_an_unreadable_file_is_reported_by_its_os_error(tmp_path):
    """The reason names the OS's own words (strerror), not the exception's repr. Kills files.py:19's
    `or` -> `and`."""
    from checker.files import read_file
    with pytest.raises(Malformed) as e:
        read_file(str(tmp_path / "absent.json"), 100, "certificate")
    assert str(e.value) == f"cannot read certificate {str(tmp_path / 'absent.json')!r}: No such file or directory"


# ---------------------------------------------------------------- parsing: what a refusal says

def test_a_model_with_an_empty_dimension_is_refused():
    """d_model = 0 (every shape consistent with it) is no model: Reject "empty dimension". Kills
    safetensors.py:113's raise -> pass."""
    from checker.errors import Reject
    from checker.safetensors import parse_weights
    tensors = {n: np.zeros(shape, dtype=np.float32) for n, shape in checker_shapes(5, 3, 0, 4).items()}
    with pytest.raises(Reject, match="empty dimension"):
        parse_weights(safetensors_bytes(tensors))


def test_evidence_must_be_an_object_and_json_floats_are_refused_by_name():
    """Kills certificate.py:81's and :153's raise -> pass: the refusal is the parser's own, with its
    reason, not a later one."""
    with pytest.raises(Malformed, match="evidence must be an object"):
        _parse(_cert(evidence=[1]))
    text = json.dumps(_cert()).replace('"claim": {', '"claim": {"x": 0.5, ', 1)
    with pytest.raises(Malformed, match="JSON float or constant '0.5' not allowed"):
        parse_certificate(text.encode())


def test_exp_fixed_at_0_and_minus_1():
    """exp(0) = 1 is returned at once (no ops); exp(-2^-p) 2^p's lower bound is below 2^p. Kills
    expo.py:32 `a == 0` -> `a == -1` (which returned 2^p for a = -1: above the value)."""
    from checker import expo
    from checker.ops import Ops
    with Ops() as ops:
        assert expo.exp_fixed(0, 64, False) == expo.exp_fixed(0, 64, True) == 1 << 64
    assert ops.count == 0
    assert expo.exp_fixed(-1, 64, False) < 1 << 64 < expo.exp_fixed(1, 64, True)


def test_a_one_term_sign_is_its_coefficients():
    """A single merged term's sign is its coefficient's, with no refinement (0 ops). Kills expo.py:80
    `len(terms) == 1` -> `== 0`."""
    from checker import expo
    from checker.ops import Ops
    with Ops() as ops:
        assert expo.sign_sum_exp([2, 1], [7, 7], 0, 1) == 1 and expo.sign_sum_exp([-3], [5], -2, 2) == -1
    assert ops.count == 0


@pytest.mark.parametrize("n, e", [(3, -1075), (-5, -1074), (7, -1100), (1, -1023), ((1 << 60) + 1, -1100),
                                  (3, 1022), (1 << 1100, -200), (-(1 << 1030), 0), (9, 2000)])
def test_enclose_ints_outside_the_normal_range(n, e):
    """Subnormal, underflowing, overflowing and huge numerators go through _nearest: the enclosure
    holds n 2^e exactly (inf beyond the float range). Kills interval.py:72's `1 << -e` -> `2 << -e`
    and its `e >= 0` variants."""
    import warnings
    from checker.interval import enclose_ints
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no numpy warning reaches the user's terminal
        lo, hi = enclose_ints(np.array([n], dtype=object), e)
    exact = Fraction(n) * Fraction(2) ** e
    lo, hi = float(lo[0]), float(hi[0])
    assert (lo == -np.inf or Fraction(lo) <= exact) and (hi == np.inf or exact <= Fraction(hi))
    if abs(exact) < Fraction(2) ** 1000:  # finite and tight: within two steps of the value
        assert Fraction(hi) - Fraction(lo) <= 4 * max(Fraction(2) ** -1074, abs(exact) * Fraction(2) ** -52)


def test_hybrid_refuses_a_gap_table_above_2_to_the_24_entries(tmp_path):
    """d_vocab = 204, K = 2: the residue's gap table would have 204^3 * 2 > 2^24 entries, so the check
    ends OutOfBudget (exit 3) at once, naming the table. Kills hybrid.py:69's raise -> pass."""
    import hashlib
    from checker.check import check_file
    data = safetensors_bytes({n: np.full(shape, 0.5, dtype=np.float32) for n, shape in checker_shapes(204, 2, 2, 1).items()})
    (tmp_path / "w.safetensors").write_bytes(data)
    doc = _cert(claim__k=2, claim__d_vocab=204, claim__accuracy_lower_bound=0, model__path="w.safetensors",
                model__sha256=hashlib.sha256(data).hexdigest(), strategy__name="hybrid",
                strategy__parameters={"compact": "cubic"},
                evidence={"cases": [], "correct_inputs": 0, "total_inputs": 204 ** 2})
    (tmp_path / "c.json").write_text(json.dumps(doc))
    r = check_file(str(tmp_path / "c.json"), time_limit=60)
    assert (r.verdict, r.exit_code) == ("error", 3) and "d_vocab^3 K" in r.reason, r.reason
