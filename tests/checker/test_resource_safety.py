"""Resource safety (issue #11): crafted weights, paths and certificates never make the checker hang,
blow up or misreport. Each test is one finding of the issue and failed on the code before the fix.
"""
from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest

import checker.rules.brute_force as brute_force
from checker import expo
from checker.check import DEFAULT_TIME_LIMIT, check_file
from checker.errors import OutOfBudget
from checker.ops import Ops
from checker.paths import exact_paths
from checker.safetensors import read_weights
from conftest import REPO, write_state, zero_state
from certify.model import Config
from test_resource_caps import _default_brute_force_cert

ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def _cert(weights: Path, k: int, v: int, strategy: str = "brute-force", evidence: dict | None = None,
          bound: str | int = 0, path: str | None = None) -> Path:
    c = {"format": "certify-certificate", "version": 1,
         "claim": {"task": "max-of-k", "k": k, "d_vocab": v, "semantics": "exact-real",
                   "accuracy_lower_bound": bound},
         "model": {"sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
                   "path": path or weights.name},
         "strategy": {"name": strategy, "parameters": {}},
         "evidence": evidence or {"correct_inputs": 0, "total_inputs": v ** k}}
    p = weights.with_suffix(f".{strategy}.json")
    p.write_text(json.dumps(c))
    return p


def _run(*args: str, cwd: Path = REPO, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=ENV, **kw)


# ------------------------------------------------------------------ 1. logit offset

def _exact_signs(monkeypatch) -> list:
    calls: list = []
    real = expo.sign_sum_exp
    monkeypatch.setattr(expo, "sign_sum_exp", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_brute_force_offset_decided_by_the_filter(tmp_path, tiny_trained_state, monkeypatch):
    """b_U = 2**60 everywhere shifts every logit alike: same count, and no more inputs left to the
    exact stage than without the shift (before the fix: every input went there, 9 ms each)."""
    plain = {**tiny_trained_state, "unembed.b_U": np.zeros(5, dtype=np.float32)}
    shifted = {**plain, "unembed.b_U": np.full(5, 2.0 ** 60, dtype=np.float32)}
    calls = _exact_signs(monkeypatch)
    counts = []
    for name, state in [("plain", plain), ("shifted", shifted)]:
        calls.clear()
        counts.append((brute_force.count_correct(exact_paths(read_weights(str(
            write_state(state, tmp_path / f"{name}.safetensors"))))), len(calls)))
    assert counts[0][0] == counts[1][0] and 0 < counts[0][0] < 125
    assert counts[1][1] <= counts[0][1], counts


def test_brute_force_ov_offset_decided_by_the_filter(tmp_path, tiny_trained_state, monkeypatch):
    """Row 0 of W_U at 2**60 for every logit adds (vals W_O)[0] * 2**60 to OV[t, i, j] alike for
    all j (and resid[0] * 2**60 to the direct path): the differences that decide are those of the
    model with that row zero, and so is the work left to the exact stage."""
    base = {**tiny_trained_state, "unembed.W_U": tiny_trained_state["unembed.W_U"].copy()}
    base["unembed.W_U"][0] = 0
    shifted = {**base, "unembed.W_U": base["unembed.W_U"].copy()}
    shifted["unembed.W_U"][0] = 2.0 ** 60
    calls = _exact_signs(monkeypatch)
    res = []
    for name, state in [("base", base), ("shifted", shifted)]:
        calls.clear()
        res.append((brute_force.count_correct(exact_paths(read_weights(str(
            write_state(state, tmp_path / f"{name}.safetensors"))))), len(calls)))
    assert res[0][0] == res[1][0] and res[1][1] <= res[0][1], res


@pytest.mark.parametrize("shift", ["b_U", "W_U row"])
def test_cubic_offset_decided_by_the_filter(tmp_path, tiny_trained_state, monkeypatch, shift):
    """The same for the cubic rule: the plain model's certificate holds for the shifted one (the
    cases depend on differences only), and no more values are left to the exact fallback (before
    the fix: every case's every value, 328 s instead of 0.5 s on the default model)."""
    from certify.paths import load_float_model
    from certify.strategies import cubic
    plain = {**tiny_trained_state, "unembed.b_U": np.zeros(5, dtype=np.float32),
             "unembed.W_U": tiny_trained_state["unembed.W_U"].copy()}
    plain["unembed.W_U"][0] = 0
    shifted = {**plain, "unembed.b_U": plain["unembed.b_U"].copy(), "unembed.W_U": plain["unembed.W_U"].copy()}
    (shifted["unembed.b_U"] if shift == "b_U" else shifted["unembed.W_U"][0])[:] = 2.0 ** 60
    proof = cubic.prove(load_float_model(write_state(plain, tmp_path / "plain.safetensors")))
    write_state(shifted, tmp_path / "shifted.safetensors")
    calls = _exact_signs(monkeypatch)
    seen = []
    for name in ("plain", "shifted"):
        calls.clear()
        cert = _cert(tmp_path / f"{name}.safetensors", 3, 5, "cubic", proof.evidence,
                     f"{proof.bound.numerator}/{proof.bound.denominator}")
        r = check_file(str(cert))
        seen.append((r.verdict, len(calls)))
    assert seen[0][0] == seen[1][0] == "accepted" and seen[1][1] <= seen[0][1], seen


# ------------------------------------------------------------------ 2. size caps before allocation

def _wide_model(tmp_path: Path, v: int = 1024, k: int = 2) -> Path:
    """The issue's 13 KB file: d_vocab = 1024, K = 2, d_model = d_head = 1."""
    rng = np.random.default_rng(0)
    state = {n: rng.normal(size=a.shape).astype(np.float32) for n, a in zero_state(Config(k, v, 1, 1)).items()}
    return write_state(state, tmp_path / f"v{v}.safetensors")


def _peak_rss_child(args: list[str]) -> tuple[subprocess.CompletedProcess, int, float]:
    code = ("import re, runpy, sys; sys.argv = ['checker'] + sys.argv[1:]\n"
            "try: runpy.run_module('checker', run_name='__main__')\n"
            "finally: print(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read())[1], file=sys.stderr)")
    t0 = time.perf_counter()
    # cap the address space at 4 GiB so that a regression fails instead of exhausting the machine
    r = _run("-c", code, *args, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)))
    return r, int(r.stderr.strip().splitlines()[-1]) * 1024, time.perf_counter() - t0


def test_d_vocab_1024_brute_force_refused_at_once(tmp_path):
    w = _wide_model(tmp_path)
    assert w.stat().st_size < 20_000
    r, rss, seconds = _peak_rss_child([str(_cert(w, 2, 1024)), "--json"])
    out = json.loads(r.stdout)
    assert r.returncode == 3 and out["verdict"] == "error", r
    assert "MAX_TABLE" in out["reason"]
    assert rss < 1 << 30 and seconds < 30, (rss, seconds)


@pytest.mark.parametrize("cases", [[], [[0, 1023, 0, 1], [5, 1023, 0, 1], [1023, 1023, 1, 1], [7, 700, 0, 1]]])
def test_d_vocab_1024_cubic_checked_under_a_gib(tmp_path, cases):
    """The same file with a cubic certificate: no [V, V, V] table and no whole-table work for a
    certificate that reads a few rows (before: 186 s at 1.2 GB with no cases at all)."""
    w = _wide_model(tmp_path)
    r, rss, seconds = _peak_rss_child([str(_cert(w, 2, 1024, "cubic", {"cases": cases})), "--json"])
    out = json.loads(r.stdout)
    assert (r.returncode, out["verdict"]) in ((0, "accepted"), (1, "rejected")), r
    assert rss < 1 << 30 and seconds < 60, (rss, seconds)


@pytest.mark.parametrize("kind", ["random", "b_U = 2^60", "zero", "K = 1"])
def test_cubic_good_enclosure_contains_the_exact_value(tmp_path, kind):
    """The float enclosure of good[q, m] (a max-plus product over exact differences) contains the
    exact min over G of C[i, j](m), formed here independently from the path terms (Fractions)."""
    from checker.rules import cubic
    V, K = (6, 1) if kind == "K = 1" else (7, 3)
    rng = np.random.default_rng(7)
    state = {n: rng.normal(size=a.shape).astype(np.float32) for n, a in zero_state(Config(K, V, 4, 2)).items()}
    if kind == "zero":
        state = {n: np.zeros_like(a) for n, a in state.items()}
    if kind == "b_U = 2^60":
        state["unembed.b_U"][:] = 2.0 ** 60
    p = exact_paths(read_weights(str(write_state(state, tmp_path / "m.safetensors"))))
    tables = cubic._Tables(p)
    for q in range(V):
        for m in range(q, V if K > 1 else q + 1):
            G = range(K if q == m else K - 1)
            exact = min(p.direct.fraction((q, m)) + p.ov.fraction((m, i, m))
                        - max(p.direct.fraction((q, j)) + p.ov.fraction((m, i, j)) for j in range(V) if j != m)
                        for i in G)
            g = tables.float.good[q, m]
            assert tables.exact.good[q, m] == exact
            assert Fraction(g.lo) <= exact <= Fraction(g.hi), (q, m, g.lo, exact, g.hi)
            assert kind != "zero" or g.hi - g.lo <= 2.0 ** -1073  # sign left open by rounding: formed exactly


def test_path_caps_before_allocation(tmp_path, monkeypatch):
    import checker.paths as paths
    w = read_weights(str(_wide_model(tmp_path, v=64, k=2)))
    monkeypatch.setattr(paths, "MAX_PATH_ENTRIES", 64 * 64 * 2 - 1)
    with pytest.raises(OutOfBudget, match="MAX_PATH_ENTRIES"):
        exact_paths(w)
    monkeypatch.setattr(paths, "MAX_PATH_ENTRIES", 64 * 64 * 2)
    monkeypatch.setattr(paths, "MAX_PATH_PRODUCTS", 1000)
    with pytest.raises(OutOfBudget, match="MAX_PATH_PRODUCTS"):
        exact_paths(w)


def test_parameter_cap(tmp_path, monkeypatch):
    import checker.safetensors as safetensors
    w = _wide_model(tmp_path, v=64, k=2)
    n = sum(a.size for a in read_weights(str(w)).tensors.values())
    monkeypatch.setattr(safetensors, "MAX_PARAMETERS", n - 1)
    r = check_file(str(_cert(w, 2, 64)))
    assert (r.verdict, r.exit_code) == ("error", 3) and "parameters" in r.reason


# ------------------------------------------------------------------ 3. a budget on the whole check

def test_default_time_limit_is_set():
    import inspect

    from checker.cli import add_arguments
    assert inspect.signature(check_file).parameters["time_limit"].default == DEFAULT_TIME_LIMIT
    import argparse
    p = argparse.ArgumentParser()
    add_arguments(p)
    assert p.parse_args(["c.json"]).time_limit == DEFAULT_TIME_LIMIT


def test_time_limit_holds_off_the_main_thread(tmp_path):
    """As on a Dask worker: no signals there, the ops counter polls the clock."""
    cert = _default_brute_force_cert(tmp_path)
    out = []
    start = time.perf_counter()
    t = threading.Thread(target=lambda: out.append(check_file(str(cert), time_limit=0.3)))
    t.start()
    t.join(60)
    assert out and (out[0].verdict, out[0].exit_code) == ("error", 3), out
    assert time.perf_counter() - start < 2.5


def test_time_limit_interrupts_one_hard_sign():
    """A sign that needs ~60,000 bits (seconds per exponential at that precision) stops in time."""
    mpmath.mp.prec = 60_100
    c = int(mpmath.nint(mpmath.e * mpmath.mpf(2) ** 60_000))
    start = time.perf_counter()
    with pytest.raises(OutOfBudget, match="time limit of 0.5 s"):
        with Ops(0.5):
            expo.sign_sum_exp([c, -(1 << 60_000)], [0, 1], 0, 1)
    assert time.perf_counter() - start < 1.5


def test_precision_cap_is_out_of_budget(monkeypatch):
    monkeypatch.setattr(expo, "MAX_PRECISION_BITS", 128)
    with pytest.raises(OutOfBudget, match="precision cap"):
        expo.sign_sum_exp([1, -1], [1, 0], -300, 1)


# ------------------------------------------------------------------ 4. special files

@pytest.mark.parametrize("kind", ["fifo", "/dev/stdin", "/dev/zero", "folder"])
def test_model_path_special_file_is_an_error_at_once(tmp_path, tiny_cert, kind):
    path, cert = tiny_cert
    if kind == "fifo":
        os.mkfifo(tmp_path / "pipe")
        target = str(tmp_path / "pipe")
    else:
        target = str(tmp_path) if kind == "folder" else kind
    cert["model"]["path"] = target
    path.write_text(json.dumps(cert))
    start = time.perf_counter()
    r = _run("-m", "checker", str(path), "--json", timeout=30, stdin=subprocess.PIPE)  # stdin: open, never written
    out = json.loads(r.stdout)
    assert (r.returncode, out["verdict"]) == (2, "error") and "cannot read weights" in out["reason"], r
    assert "not a regular file" in out["reason"] and time.perf_counter() - start < 20
    assert "Traceback" not in r.stderr


def test_certificate_special_file_is_an_error(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    r = check_file(str(tmp_path / "pipe"))
    assert (r.verdict, r.exit_code) == ("error", 2) and "not a regular file" in r.reason


# ------------------------------------------------------------------ 5. reports and pipes

def test_junit_into_missing_folder_is_an_error(tmp_path, tiny_cert):
    path, _ = tiny_cert
    for cmd in (["-m", "checker"], ["-c", "import sys; from certify.cli import main; sys.exit(main())", "check"]):
        r = _run(*cmd, str(path), "--junit", str(tmp_path / "missing" / "dir" / "r.xml"))
        assert r.returncode == 2, r
        assert "Traceback" not in r.stderr and "cannot write report" in r.stderr or "No such file" in r.stderr
        assert r.stdout.startswith("ACCEPTED")  # the checks ran and were printed first


@pytest.mark.parametrize("cmd", [["-m", "checker"],
                                 ["-c", "import sys; from certify.cli import main; sys.exit(main())", "check"]])
def test_closed_stdout_is_no_traceback(tiny_cert, cmd):
    """`certify check A B C | head -1`: the reader leaves after one line."""
    path, _ = tiny_cert
    p = subprocess.Popen([sys.executable, *cmd, *[str(path)] * 30], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=REPO, env=ENV)
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(120) == 2
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err


# ------------------------------------------------------------------ 6. zoo lookup

def test_zoo_found_from_a_folder_holding_certify(tmp_path):
    """A directory named certify/ in the working directory must not shadow the installed zoo."""
    cert = _default_brute_force_cert(tmp_path)
    (tmp_path / "certify").mkdir()
    (tmp_path / "certify" / "__init__.py").write_text("")
    r = _run("-m", "checker", str(cert), cwd=tmp_path, timeout=300)  # sys.path: the folder, then REPO
    assert r.returncode == 0 and r.stdout.startswith("ACCEPTED"), (r.stdout, r.stderr)


# ------------------------------------------------------------------ 7. verdict classes of crafted weights

def _weights_with_header(tmp_path: Path, header: bytes) -> Path:
    p = tmp_path / "crafted.safetensors"
    p.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 4)  # 4 bytes of tensor data
    return p


@pytest.mark.parametrize("header", [
    b'{"x": ' + b"9" * 4301 + b"}",
    b'{"x": ' + b"9" * 5000 + b"}",
    json.dumps({n: {"dtype": "F32", "shape": [2 ** 64], "data_offsets": [0, 4]}
                for n in ["embed.W_E", "pos_embed.W_pos", "blocks.0.attn.W_Q", "blocks.0.attn.W_K",
                          "blocks.0.attn.W_V", "blocks.0.attn.W_O", "blocks.0.attn.b_Q", "blocks.0.attn.b_K",
                          "blocks.0.attn.b_V", "blocks.0.attn.b_O", "unembed.W_U", "unembed.b_U"]}).encode(),
])
def test_crafted_header_is_a_rejection(tmp_path, header):
    """The file reads and its SHA-256 matches, but it is no model: rejected (exit 1), not an internal error."""
    r = check_file(str(_cert(_weights_with_header(tmp_path, header), 2, 2)))
    assert (r.verdict, r.exit_code) == ("rejected", 1), r.reason
    assert "internal" not in r.reason
