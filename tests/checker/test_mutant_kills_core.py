"""Behaviour that surviving mutants of checker/'s core files (outside checker/rules/) showed untested
(benchmarks/mutate_checker.py, run2 at commit 13f16b2; the survivors and their classes:
docs/mutation.md). Each test kills the mutants named in its docstring (file:line at 13f16b2; applied
by hand to a copy of the checker: the test fails there and passes here). Checker-only: models built
here, no prover.
"""
from __future__ import annotations

import json
import struct
import warnings
from fractions import Fraction

import numpy as np
import pytest

from checker.dyadic import Dyadic
from checker.certificate import parse_certificate
from checker.errors import Malformed, OutOfBudget, Reject
from checker.float32 import _Work
from checker.safetensors import NAMES, parse_weights
from conftest import checker_shapes, safetensors_bytes


def _zeros(shapes: dict) -> bytes:
    """A safetensors file of zeros: the tensors in the given order, each F32 with its shape."""
    return safetensors_bytes({name: np.zeros(shape, dtype=np.float32) for name, shape in shapes.items()})


# ---------------------------------------------------------------- safetensors.py: the header and the tensors' entries

def test_weights_header_length_at_its_edges():
    """An 8-byte length, then a header of at most 1 MiB (docs/certificate.md#resource-caps) that must
    fit in the file, exactly filling it being fine. Kills safetensors.py:55 `len(data) < 8` -> `< 7`
    (7 bytes then reach struct.unpack) and -> `< 9`, :58 `8 + n` -> `8 - n` and -> `7 + n` and both
    `>` -> `>=`, :20 `1 << 20` -> `1 << 21`."""
    with pytest.raises(Reject, match="no header length"):
        parse_weights(bytes(7))
    with pytest.raises(Reject, match="not valid JSON"):  # 8 bytes: a length of 0, an empty header
        parse_weights(bytes(8))
    with pytest.raises(Reject, match="header length invalid"):
        parse_weights(struct.pack("<Q", 3) + b"{}")  # one byte short of the header it announces
    cap = 1 << 20
    with pytest.raises(Reject, match="unsupported architecture"):  # read: the header fills the file
        parse_weights(struct.pack("<Q", cap) + b"{}".ljust(cap))
    with pytest.raises(Reject, match="header length invalid"):
        parse_weights(struct.pack("<Q", cap + 1) + b"{}".ljust(cap + 1))


def test_parameter_cap_is_2_to_the_22_values():
    """docs/certificate.md#resource-caps: at most 2^22 float32 values, counted from the header before
    the shapes are checked (a 1-D W_E is then refused as such). Kills safetensors.py:21 MAX_PARAMETERS
    `1 << 22` -> `1 << 23` and :104 `raise -> pass` (the 1-D W_E then crashed unpacking its shape)."""
    shapes = {name: [1] for name in NAMES}
    shapes["embed.W_E"] = [(1 << 22) - (len(NAMES) - 1)]
    with pytest.raises(Reject, match="must be matrices"):  # past the cap check: exactly 2^22 values
        parse_weights(_zeros(shapes))
    shapes["embed.W_E"][0] += 1
    with pytest.raises(OutOfBudget, match="4,194,305 parameters"):
        parse_weights(_zeros(shapes))


@pytest.mark.parametrize("bad, message", [
    ({"shape": "x"}, "malformed shape"),                      # not a list
    ({"shape": [1, 1, 1, 1]}, "malformed shape"),             # four axes
    ({"data_offsets": [0, 8]}, "do not match shape"),         # 8 bytes for 6 values
    ({"data_offsets": [-1, 23]}, "do not match shape"),       # 24 bytes, from before the buffer
])
def test_a_tensor_entry_with_a_bad_shape_or_span_is_refused_as_such(bad, message):
    """_shape: a list of at most 3 non-negative ints and a span of 4 bytes per value, refused there
    (not by a later check with another reason, or a crash). Kills safetensors.py:92 `or -> and` and
    `3 -> 4`, :97 `or -> and` and `0 <= begin` -> `-1 <= begin`, :98 `raise -> pass`."""
    data = _zeros(checker_shapes(3, 2, 2, 2))
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    parse_weights(data)  # the model as written is one
    header["embed.W_E"].update(bad)
    h = json.dumps(header).encode()
    with pytest.raises(Reject, match=message):
        parse_weights(struct.pack("<Q", len(h)) + h + data[8 + n:])


# ---------------------------------------------------------------- certificate.py

def test_a_json_float_is_quoted_by_its_first_40_characters():
    """The refusal quotes at most 40 characters of the offending token. Kills certificate.py:153
    `token[:40]` -> `token[:39]`."""
    token = "0." + "1234567890" * 5
    text = '{"claim": ' + token + "}"
    with pytest.raises(Malformed) as e:
        parse_certificate(text.encode())
    assert repr(token[:40]) in str(e.value) and repr(token[:41]) not in str(e.value)


# ---------------------------------------------------------------- dyadic.py

def test_exact_floats_of_zeros_emit_no_numpy_warnings():
    """Zeros have no lowest set bit; their log2 is never taken (its RuntimeWarnings would reach the
    CLI's stderr on every model with a zero weight). Kills dyadic.py:29 `np.maximum(low, 1)` ->
    `np.maximum(low, 0)`."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = Dyadic.from_floats(np.array([0.0, 1.5, -0.0, 2.0 ** -149]))
    assert [d.fraction(i) for i in range(4)] == [0, Fraction(3, 2), 0, Fraction(1, 2 ** 149)]


# ---------------------------------------------------------------- float32.py: upward-rounded arithmetic

def test_float32_work_bounds_products_and_dot_products_from_above():
    """_Work's mul and dot are upper bounds of the exact results on non-negative operands, for one
    contraction index too (where no later upward step can hide a product rounded down). Kills
    float32.py:65's two `up -> down` (the product's and the partial sum's) and :75's `up -> down`."""
    rng = np.random.default_rng(5)
    exact = np.vectorize(Fraction, otypes=[object])
    for n in (1, 3):
        a, b = rng.random((4, n)), rng.random((n, 5))
        got = _Work().dot(a, b)
        assert (exact(got) >= exact(a) @ exact(b)).all(), n
    x, y = rng.random(20), rng.random(20)
    assert (exact(_Work().mul(x, y)) >= exact(x) * exact(y)).all()


# ---------------------------------------------------------------- ops.py: the charges of docs/soundness.md#proof-length-ops

def test_each_documented_operation_on_a_counted_array_charges_its_entries():
    """docs/soundness.md's table: element-wise arithmetic, maximum/minimum, ldexp, rint and comparisons
    charge one op per entry of the result, a reduction one per entry read. Kills ops.py:66's
    `np.minimum` -> `np.maximum` in _COUNTED (minimum then free)."""
    from checker.ops import Ops, counted
    x, i = counted(np.array([1.0, 2.0, 3.0])), counted(np.array([1, 2, 3]))
    ops_of = [lambda: x + 1, lambda: x - 1, lambda: x * 2, lambda: x / 2, lambda: x // 2, lambda: -x,
              lambda: abs(x), lambda: np.maximum(x, 2), lambda: np.minimum(x, 2), lambda: np.ldexp(x, 1),
              lambda: np.rint(x), lambda: i << 1, lambda: i >> 1, lambda: x < 2, lambda: x <= 2,
              lambda: x > 2, lambda: x >= 2, lambda: x == 2, lambda: x != 2, lambda: x.max(), lambda: x.min(),
              lambda: x.sum()]
    for k, op in enumerate(ops_of):
        with Ops() as ops:
            op()
        assert ops.count == 3, k


# ---------------------------------------------------------------- interval.py

def test_max0_is_taken_at_both_ends():
    """max(x, 0) of x in [lo, hi] is in [max(lo, 0), max(hi, 0)], at both ends. Kills interval.py:163's
    `np.maximum` -> `np.minimum` at the lower end (which widened [1, 2] to [0, 2])."""
    from checker.interval import Interval
    y = Interval(np.array([1.0, -1.0, -3.0]), np.array([2.0, 3.0, -2.0])).max0()
    assert list(y.lo) == [1.0, 0.0, 0.0] and list(y.hi) == [2.0, 3.0, 0.0]


# ---------------------------------------------------------------- cli.py and check.py: what the reports say

def test_a_time_limit_lies_strictly_between_0_and_1e9_seconds():
    """Kills cli.py:38's `0 < value` -> `<=` and `value < 1e9` -> `<=`."""
    import argparse
    from checker.cli import parse_seconds
    assert parse_seconds("1e-300") == 1e-300 and parse_seconds("999999999.5") == 999999999.5
    for bad in ("0", "1e9", "-1", "nan", "inf"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_seconds(bad)


def test_an_unwritable_report_names_the_file_and_the_os_reason(capsys):
    """Kills cli.py:62's `e.filename or ''` -> `and` and `e.strerror or e` -> `and`."""
    import errno
    from checker.cli import report_failure
    assert report_failure(OSError(errno.EISDIR, "Is a directory", "out/r.xml"), "certify") == 2
    assert capsys.readouterr().err == "certify: error: cannot write report out/r.xml: Is a directory\n"


def _result(**changes):
    from checker.check import Result
    fields = dict(verdict="rejected", bound=None, reason="r", strategy="cubic", seconds=0.5, ops=7,
                  semantics="exact-real")
    return Result(**(fields | changes))


def test_junit_messages_are_the_reasons_first_500_characters(tmp_path):
    """The failure's message attribute is cut at 500 characters, its text is the whole reason. Kills
    cli.py:92's `r.reason[:500]` -> `[:499]`."""
    from xml.etree import ElementTree as ET
    from checker.cli import write_junit
    reason = "".join(chr(ord("a") + i % 26) for i in range(600))
    write_junit(str(tmp_path / "j.xml"), [("c.json", _result(reason=reason))])
    failure = ET.parse(tmp_path / "j.xml").getroot().find("testcase/failure")
    assert failure.get("message") == reason[:500] and failure.text == reason


def test_the_text_report_shows_strategy_and_semantics_or_a_dash():
    """Kills cli.py:112's `r.strategy or '-'` -> `and` and `r.semantics or '-'` -> `and`."""
    from checker.cli import render_text
    shown = render_text(_result(), "c.json")
    assert "  strategy:    cubic\n  semantics:   exact-real\n" in shown
    assert "  strategy:    -\n  semantics:   -\n" in render_text(_result(strategy=None, semantics=None), "c.json")


def test_a_check_reports_the_seconds_it_took(tmp_path):
    """Result.seconds is the check's own wall time (the clock's reading minus the start). Kills
    check.py:54's `time.perf_counter() - start` -> `+ start`."""
    import time
    from checker.check import check_file
    path = tmp_path / "c.json"
    path.write_text("{}")
    t0 = time.perf_counter()
    r = check_file(str(path))
    assert r.verdict == "error" and 0 <= r.seconds <= time.perf_counter() - t0


# ---------------------------------------------------------------- expo.py

def test_a_sign_whose_upper_sum_is_minus_one_is_decided_in_the_first_round():
    """-1 + exp(-8 2^-66) < 0: at p = 64 the enclosures' upper sum is exactly -1 (< 0), so the sign is
    decided in the first round: 27 ops (a second round would cost 29 more). Kills expo.py:93
    `hi < 0` -> `hi < -1`."""
    from checker.expo import sign_sum_exp
    from checker.ops import Ops
    with Ops() as ops:
        assert sign_sum_exp([-1, 1], [0, -8], -66, 1) == -1
    assert ops.count == 27


# ---------------------------------------------------------------- float32.py: the softmax bound

def _alpha_exact(es: float, spread: float, k: int) -> Fraction:
    """attention_error's formula in exact arithmetic (its docstring): max(hi - 1, 1 - lo)."""
    u, eta, rel = Fraction(1, 2 ** 24), Fraction(1, 2 ** 149), Fraction(1, 2 ** 21)
    gamma = lambda n: n * u / (1 - n * u)
    x, es = u * Fraction(spread), Fraction(es)
    rho_hi, rho_lo = (1 + rel) / (1 - x), (1 - rel) * (1 - x)
    g = gamma(k - 1) if k > 1 else 0
    hi = rho_hi * (1 + gamma(2)) / ((rho_lo - k * eta) * (1 - g)) / (1 - 2 * es)
    lo = (1 - 2 * es) * rho_lo * (1 - gamma(2)) / ((rho_hi + k * eta) * (1 + g))
    return max(hi - 1, 1 - lo)


def test_attention_error_is_its_formula_rounded_outward_by_a_few_ulps():
    """alpha encloses its exact formula from above, within 16 units of 2^-52 (its steps round outward
    by one ulp each), for spreads and score errors from 0 to their caps and K from 1 to 2^20. Kills
    float32.py:117 `gamma(k - 1)` -> `gamma(k - 0)` and :123 `(1 + g)` -> `(2 + g)` (looser by far)."""
    from checker.float32 import attention_error
    cases = [(es, spread, k) for es in (0.0, 2.0 ** -40, 1e-9, 0.01, 0.125)
             for spread in (0.0, 1e-3, 3.0, 2.0 ** 21) for k in (1, 2, 5, 1 << 20)]
    for es, spread, k in cases:
        alpha = Fraction(float(attention_error(np.array([es]), np.array([spread]), k)[0]))
        exact = _alpha_exact(es, spread, k)
        assert exact <= alpha <= exact + Fraction(16, 2 ** 52), (es, spread, k, float((alpha - exact) * 2 ** 52))


# ---------------------------------------------------------------- interval.py: products with a bound, lift, huge numerators

def test_a_bounded_product_picks_the_end_of_w_by_the_sign_of_c():
    """mul_upper: c <= c_hi < 0 times w in [w_lo, w_hi] is at most c_hi w_lo; mul_lower: c >= c_lo
    times w is at least c_lo w_hi for c_lo < 0. Kills interval.py:84 `c_hi >= 0` -> `c_hi >= -1`."""
    from checker.interval import mul_lower, mul_upper
    w_lo, w_hi = np.array([1.0, 1.0]), np.array([2.0, 2.0])
    assert (mul_upper(np.array([-0.5, 0.5]), w_lo, w_hi) >= [-0.5, 1.0]).all()
    assert (mul_lower(np.array([-0.5, 0.5]), w_lo, w_hi) <= [-1.0, 0.5]).all()


def test_lift_refuses_an_array_with_any_entry_beyond_2_to_the_53():
    """The largest entry decides, not the smallest. Kills interval.py:136 `np.abs(v).max()` -> `.min()`."""
    from checker.interval import Interval
    with pytest.raises(TypeError):
        Interval.lift(np.array([1, (1 << 53) + 1]))


def test_a_numerator_beyond_the_float_range_at_exponent_minus_1_is_enclosed_by_infinity():
    """_nearest(n, -1) divides (no shift by a negative count); a quotient too large for a float is
    +-inf. Kills interval.py:72 `e >= 0` -> `e >= -1` (which raised ValueError)."""
    from checker.interval import enclose_ints
    lo, hi = enclose_ints(np.array([1 << 1100, -(1 << 1100)], dtype=object), -1)
    assert list(hi) == [np.inf, np.nextafter(-np.inf, 0)] and list(lo) == [np.nextafter(np.inf, 0), -np.inf]
