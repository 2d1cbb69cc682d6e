"""Resource caps (issue #7): the checker never hangs and never crashes on oversized input.

Each cap of docs/certificate.md#resource-caps is tested at its boundary: the largest admitted value
passes the cap (the check goes on), one more is refused with a clear reason. The time limit
(`--time-limit`) makes a long check fail closed: verdict error, exit code 3.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

import checker.rules.brute_force as brute_force
import checker.safetensors as safetensors
from checker import expo
from checker.certificate import MAX_BYTES, MAX_DEPTH, MAX_INT_DIGITS, parse_certificate
from checker.check import check_file
from checker.errors import Malformed, OutOfBudget, Reject
from checker.cli import main
from conftest import REPO

DEFAULT = "k4-v64-s123"


def _default_brute_force_cert(tmp_path: Path) -> Path:
    """The default model's brute-force certificate, its exact count taken from the zoo manifest
    (proving it would take 10 s; checking it takes seconds)."""
    entry = next(m for m in json.loads((REPO / "certify/zoo/manifest.json").read_text())["models"]
                 if m["name"] == DEFAULT)
    total = entry["d_vocab"] ** entry["k"]
    correct = Fraction(entry["accuracy"]) * total  # the manifest's fraction is in lowest terms
    cert = {"format": "certify-certificate", "version": 1,
            "claim": {"task": "max-of-k", "k": 4, "d_vocab": 64, "semantics": "exact-real",
                      "accuracy_lower_bound": entry["accuracy"]},
            "model": {"sha256": entry["sha256"], "path": f"zoo:{DEFAULT}"},
            "strategy": {"name": "brute-force", "parameters": {}},
            "evidence": {"correct_inputs": int(correct), "total_inputs": total}}
    path = tmp_path / "default.brute-force.json"
    path.write_text(json.dumps(cert))
    return path


# ------------------------------------------------------------------ time limit


def test_time_limit_fails_closed_quickly(tmp_path):
    cert = _default_brute_force_cert(tmp_path)
    start = time.perf_counter()
    r = check_file(str(cert), time_limit=0.2)
    elapsed = time.perf_counter() - start
    assert (r.verdict, r.exit_code, r.bound) == ("error", 3, None)
    assert r.out_of_budget and "time limit of 0.2 s exceeded" in r.reason
    assert r.strategy == "brute-force"
    assert elapsed < 1.5, elapsed  # interrupted, not run to completion (~3 s)


def test_time_limit_restores_the_alarm_handler(tmp_path, tiny_cert):
    """A check that finishes in time is unaffected and leaves no timer or handler behind."""
    import signal
    before = signal.getsignal(signal.SIGALRM)
    path, _ = tiny_cert
    r = check_file(str(path), time_limit=60)
    assert (r.verdict, r.exit_code, r.out_of_budget) == ("accepted", 0, False)
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    r = check_file(str(_default_brute_force_cert(tmp_path)), time_limit=0.05)
    assert r.out_of_budget
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_time_limit_cli_exit_code_json_and_junit(tmp_path, tiny_cert, capsys):
    slow = _default_brute_force_cert(tmp_path)
    fast, _ = tiny_cert
    junit = tmp_path / "r.xml"
    code = main([str(fast), str(slow), "--time-limit", "0.3", "--json", "--junit", str(junit)])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 3
    assert [r["verdict"] for r in out] == ["accepted", "error"]
    assert "time limit" in out[1]["reason"] and out[1]["strategy"] == "brute-force"
    assert "<error" in junit.read_text() and "time limit" in junit.read_text()


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf", "abc"])
def test_time_limit_must_be_positive(tiny_cert, bad, capsys):
    path, _ = tiny_cert
    assert main([str(path), "--time-limit", bad]) == 2


def test_certify_check_has_time_limit(tmp_path):
    """`certify check` reuses the checker's arguments: same option, same exit code, no traceback."""
    cert = _default_brute_force_cert(tmp_path)
    r = subprocess.run([sys.executable, "-c", "import sys; from certify.cli import main; sys.exit(main())",
                        "check", str(cert), "--time-limit", "0.5"],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert r.stdout.startswith("ERROR") and "time limit of 0.5 s exceeded" in r.stdout
    assert "Traceback" not in r.stderr


# ------------------------------------------------------------------ certificate caps at their boundaries


def _minimal(extra: str = "", evidence: str = '{"correct_inputs": 0, "total_inputs": 8}') -> str:
    return ('{"format": "certify-certificate", "version": 1, "claim": {"task": "max-of-k", "k": 3, '
            '"d_vocab": 2, "semantics": "exact-real", "accuracy_lower_bound": 0}, "model": {"sha256": "'
            + "0" * 64 + '", "path": "m.safetensors"}, "strategy": {"name": "brute-force", "parameters": {}}, '
            '"evidence": ' + evidence + extra + "}")


def test_size_cap_boundary():
    text = _minimal()
    parse_certificate(text.encode() + b" " * (MAX_BYTES - len(text)))       # exactly MAX_BYTES
    with pytest.raises(Malformed, match="larger than"):
        parse_certificate(text.encode() + b" " * (MAX_BYTES - len(text) + 1))


def test_size_cap_boundary_through_check_file(tmp_path):
    """check_file reads at most MAX_BYTES + 1 bytes, so a huge file costs no more than that."""
    p = tmp_path / "big.json"
    with open(p, "wb") as f:
        f.write(_minimal().encode())
        f.seek(MAX_BYTES * 4)
        f.write(b" ")
    r = check_file(str(p))
    assert (r.verdict, r.exit_code) == ("error", 2) and "larger than" in r.reason


def _nested(depth: int) -> str:
    """A certificate whose evidence holds a list nested so the document has exactly `depth` levels."""
    inner = "[" * (depth - 2) + "]" * (depth - 2)  # top object = 1, evidence object = 2
    return _minimal(evidence='{"correct_inputs": 0, "total_inputs": 8, "x": ' + inner + "}")


def test_nesting_cap_boundary():
    # at MAX_DEPTH the parser reads the file (and the brute-force rule will refuse the unknown field)
    assert parse_certificate(_nested(MAX_DEPTH).encode()).evidence["x"] is not None
    with pytest.raises(Malformed, match="nested deeper"):
        parse_certificate(_nested(MAX_DEPTH + 1).encode())


def test_nesting_scan_is_linear_on_escaped_quotes():
    """A string of escaped quotes that is never closed: one linear pass (a string-matching regex that
    fails on an unclosed string restarts at every quote, quadratic: about 10 minutes for this 400 kB
    text; _STRING's `"?` lets it run to the end instead), then a clean error."""
    import time
    text = '{"a": "' + '\\"' * 200_000
    start = time.perf_counter()
    with pytest.raises(Malformed, match="not valid JSON"):
        parse_certificate(text.encode())
    assert time.perf_counter() - start < 20  # linear: well under a second; quadratic: minutes


def test_nesting_scan_keeps_no_state_per_character():
    """A 2 MiB string: the string pattern's possessive `*+` keeps no backtracking state (with a
    plain `*` the regex engine keeps about 140 bytes per character: 280 MiB here, gigabytes for a
    certificate at the 64 MiB cap)."""
    import tracemalloc
    text = '{"a": "' + "a" * (2 << 20) + '"}'
    tracemalloc.start()
    try:
        with pytest.raises(Malformed, match="missing field"):
            parse_certificate(text.encode())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20


def test_integer_digits_cap_boundary():
    ok = "9" * MAX_INT_DIGITS
    cert = parse_certificate(_minimal(evidence='{"correct_inputs": -' + ok + ', "total_inputs": 8}').encode())
    assert cert.evidence["correct_inputs"] == -int(ok)
    with pytest.raises(Malformed, match=f"more than {MAX_INT_DIGITS} digits"):
        parse_certificate(_minimal(evidence='{"correct_inputs": 9' + ok + ', "total_inputs": 8}').encode())


def test_rational_digits_cap_boundary():
    # a prime-free lowest-terms fraction with MAX_INT_DIGITS-digit numerator and denominator
    p, q = "1" + "0" * (MAX_INT_DIGITS - 1), "3" * MAX_INT_DIGITS
    assert parse_certificate(_minimal().replace('"accuracy_lower_bound": 0',
                                                f'"accuracy_lower_bound": "{p}/{q}"').encode()).bound == Fraction(int(p), int(q))
    with pytest.raises(Malformed, match="lowest terms"):
        parse_certificate(_minimal().replace('"accuracy_lower_bound": 0',
                                             f'"accuracy_lower_bound": "1/{q}33"').encode())


# ------------------------------------------------------------------ weights caps


def test_weights_file_size_cap(tmp_path, tiny_weights, monkeypatch):
    size = tiny_weights.stat().st_size
    monkeypatch.setattr(safetensors, "MAX_FILE_BYTES", size)
    assert safetensors.read_weights(str(tiny_weights)).d_vocab == 5   # exactly at the cap
    monkeypatch.setattr(safetensors, "MAX_FILE_BYTES", size - 1)
    with pytest.raises(OutOfBudget, match="larger than"):
        safetensors.read_weights(str(tiny_weights))


def test_weights_file_size_cap_is_64_mib(tmp_path):
    """A weights file of exactly 64 MiB passes the size check (then it is no model: Reject); one
    byte more is OutOfBudget. Sparse files: nothing is written to disk."""
    for size, error in [(1 << 26, Reject), ((1 << 26) + 1, OutOfBudget)]:
        path = tmp_path / f"{size}.safetensors"
        with open(path, "wb") as f:
            f.truncate(size)
        with pytest.raises(error):
            safetensors.read_weights(str(path))


def test_weights_header_cap(tiny_weights, monkeypatch):
    import struct
    data = tiny_weights.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    monkeypatch.setattr(safetensors, "MAX_HEADER_BYTES", n)
    safetensors.parse_weights(data)
    monkeypatch.setattr(safetensors, "MAX_HEADER_BYTES", n - 1)
    with pytest.raises(Reject, match="header length"):
        safetensors.parse_weights(data)


def test_weights_header_cap_real_value(tiny_weights):
    """A header padded to exactly 1 MiB (docs/certificate.md#resource-caps; the number written here,
    not read from the module, so a changed cap fails) is read; one byte more is refused."""
    import struct
    data = tiny_weights.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header, buf = data[8:8 + n], data[8 + n:]
    pad = lambda extra: header + b" " * ((1 << 20) - n + extra)
    ok = pad(0)
    safetensors.parse_weights(struct.pack("<Q", len(ok)) + ok + buf)
    bad = pad(1)
    with pytest.raises(Reject, match="header length"):
        safetensors.parse_weights(struct.pack("<Q", len(bad)) + bad + buf)


# ------------------------------------------------------------------ computation caps


def test_brute_force_input_cap(tiny_cert, monkeypatch):
    """tiny model: 5**3 = 125 inputs; at the cap it is counted, one below it is rejected."""
    path, _ = tiny_cert
    monkeypatch.setattr(brute_force, "MAX_INPUTS", 125)
    assert check_file(str(path)).verdict == "accepted"
    monkeypatch.setattr(brute_force, "MAX_INPUTS", 124)
    r = check_file(str(path))
    assert (r.verdict, r.exit_code) == ("error", 3)
    assert "125 inputs (cap MAX_INPUTS = 124)" in r.reason


def test_brute_force_input_cap_real_value(tmp_path):
    """The K = 10 zoo model (64**10 inputs) is refused at once, not enumerated."""
    cert = {"format": "certify-certificate", "version": 1,
            "claim": {"task": "max-of-k", "k": 10, "d_vocab": 64, "semantics": "exact-real",
                      "accuracy_lower_bound": 0},
            "model": {"sha256": next(m["sha256"] for m in json.loads(
                (REPO / "certify/zoo/manifest.json").read_text())["models"] if m["name"] == "k10-v64-s123"),
                "path": "zoo:k10-v64-s123"},
            "strategy": {"name": "brute-force", "parameters": {}},
            "evidence": {"correct_inputs": 0, "total_inputs": 64 ** 10}}
    p = tmp_path / "k10.json"
    p.write_text(json.dumps(cert))
    start = time.perf_counter()
    r = check_file(str(p))
    assert (r.verdict, r.exit_code) == ("error", 3) and "cap MAX_INPUTS = 2,147,483,648" in r.reason
    assert time.perf_counter() - start < 10


def test_exact_sign_precision_cap(monkeypatch):
    """sign_sum_exp doubles its precision up to MAX_PRECISION_BITS, then gives up (rejection)."""
    # e**(2**-300) - 1 > 0 but only ~2**-300: needs more than 300 bits
    assert expo.sign_sum_exp([1, -1], [1, 0], -100, 1) == 1
    monkeypatch.setattr(expo, "MAX_PRECISION_BITS", 128)
    with pytest.raises(OutOfBudget):
        expo.sign_sum_exp([1, -1], [1, 0], -300, 1)
    monkeypatch.setattr(expo, "MAX_PRECISION_BITS", 1 << 12)
    assert expo.sign_sum_exp([1, -1], [1, 0], -300, 1) == 1
