"""Every nudge to a valid certificate must be refused, with exit code 1 (false claim / weight mismatch)
or 2 (unreadable / malformed); lower claims with correct evidence are accepted."""
from __future__ import annotations

import copy
import json
from fractions import Fraction
from pathlib import Path

import pytest

import checker.rules.brute_force as bf
from checker.check import check_file

REJECT, ERROR = ("rejected", 1), ("error", 2)


def _check(cert_path: Path, **kw):
    r = check_file(str(cert_path), **kw)
    assert r.exit_code == {"accepted": 0, "rejected": 1, "error": 2}[r.verdict]
    return r


def _write(tmp_path: Path, obj=None, text: str | None = None, raw: bytes | None = None) -> Path:
    p = tmp_path / "mutant.json"
    if raw is None:
        raw = (text if text is not None else json.dumps(obj, indent=1)).encode()
    p.write_bytes(raw)
    return p


def _frac(f: Fraction) -> str:
    return f"{f.numerator}/{f.denominator}"


def test_valid_certificate_accepted(tiny_cert):
    path, cert = tiny_cert
    ev = cert["evidence"]
    assert 0 < ev["correct_inputs"] < ev["total_inputs"], "fixture must be neither 0% nor 100% accurate"
    assert not Path(cert["model"]["path"]).is_absolute()
    r = _check(path)
    assert (r.verdict, r.exit_code) == ("accepted", 0), r.reason
    assert r.bound == Fraction(ev["correct_inputs"], ev["total_inputs"])
    assert r.strategy == "brute-force"
    assert r.ops > 0


# ---------------------------------------------------------------- structured mutations

def _bump_bound(c):
    c["claim"]["accuracy_lower_bound"] = _frac(Fraction(c["claim"]["accuracy_lower_bound"])
                                               + Fraction(1, c["evidence"]["total_inputs"]))


def _bump_both(c):  # a consistent but false claim: bound and evidence both one higher
    _bump_bound(c)
    c["evidence"]["correct_inputs"] += 1


def _flip_sha(c):
    s = c["model"]["sha256"]
    c["model"]["sha256"] = ("0" if s[0] != "0" else "1") + s[1:]


def _set(path: str, value):
    def f(c):
        *head, last = path.split(".")
        obj = c
        for h in head:
            obj = obj[h]
        obj[last] = value(obj[last]) if callable(value) else value
    return f


def _delete(path: str):
    def f(c):
        *head, last = path.split(".")
        obj = c
        for h in head:
            obj = obj[h]
        del obj[last]
    return f


MUTATIONS = {
    "bound+1/q": (_bump_bound, REJECT),
    "bound+1/q and evidence+1": (_bump_both, REJECT),
    "correct_inputs+1": (_set("evidence.correct_inputs", lambda v: v + 1), REJECT),
    "correct_inputs-1": (_set("evidence.correct_inputs", lambda v: v - 1), REJECT),
    "total_inputs+1": (_set("evidence.total_inputs", lambda v: v + 1), REJECT),
    "total_inputs-1": (_set("evidence.total_inputs", lambda v: v - 1), REJECT),
    "sha256 one digit": (_flip_sha, REJECT),
    "k+1": (_set("claim.k", lambda v: v + 1), REJECT),
    "k-1": (_set("claim.k", lambda v: v - 1), REJECT),
    "d_vocab+1": (_set("claim.d_vocab", lambda v: v + 1), REJECT),
    "k=0": (_set("claim.k", 0), ERROR),
    "version 2": (_set("version", 2), ERROR),
    "version '1'": (_set("version", "1"), ERROR),
    "version true": (_set("version", True), ERROR),
    "version 0": (_set("version", 0), ERROR),
    "format": (_set("format", "certify-certificat"), ERROR),
    "strategy name": (_set("strategy.name", "brute_force"), ERROR),
    "strategy name case": (_set("strategy.name", "Brute-Force"), ERROR),
    "semantics": (_set("claim.semantics", "float16"), ERROR),
    "task": (_set("claim.task", "max-of-k2"), ERROR),
    "sha256 uppercase": (_set("model.sha256", lambda s: s.upper()), ERROR),
    "sha256 short": (_set("model.sha256", lambda s: s[:-1]), ERROR),
    "model path empty": (_set("model.path", ""), ERROR),
    "model path missing file": (_set("model.path", "nope.safetensors"), ERROR),
    "model path NUL": (_set("model.path", "tiny\0.safetensors"), ERROR),
    "model path lone surrogate": (_set("model.path", "tiny\ud800.safetensors"), ERROR),
    "model path /dev/zero": (_set("model.path", "/dev/zero"), ERROR),
    "model path a folder": (_set("model.path", "."), ERROR),
    "k float": (_set("claim.k", 3.0), ERROR),
    "k bool": (_set("claim.k", True), ERROR),
    "k string": (_set("claim.k", "3"), ERROR),
    "correct_inputs string": (_set("evidence.correct_inputs", lambda v: str(v)), ERROR),
    "correct_inputs negative": (_set("evidence.correct_inputs", -1), ERROR),
    "total_inputs float": (_set("evidence.total_inputs", lambda v: float(v)), ERROR),
    "bound float": (_set("claim.accuracy_lower_bound", 0.5), ERROR),
    "bound 1/0": (_set("claim.accuracy_lower_bound", "1/0"), ERROR),
    "bound -0/1": (_set("claim.accuracy_lower_bound", "-0/1"), ERROR),
    "bound 0/2": (_set("claim.accuracy_lower_bound", "0/2"), ERROR),
    "bound 2/4": (_set("claim.accuracy_lower_bound", "2/4"), ERROR),
    "bound 3/2": (_set("claim.accuracy_lower_bound", "3/2"), ERROR),
    "bound -1/2": (_set("claim.accuracy_lower_bound", "-1/2"), ERROR),
    "bound 2": (_set("claim.accuracy_lower_bound", 2), ERROR),
    "bound ' 1/2'": (_set("claim.accuracy_lower_bound", " 1/2"), ERROR),
    "bound 01/2": (_set("claim.accuracy_lower_bound", "01/2"), ERROR),
    "bound 0.5 string": (_set("claim.accuracy_lower_bound", "0.5"), ERROR),
    "bound null": (_set("claim.accuracy_lower_bound", None), ERROR),
    "parameters not object": (_set("strategy.parameters", []), ERROR),
    "evidence not object": (_set("evidence", []), ERROR),
    "claim not object": (_set("claim", "x"), ERROR),
    "producer version int": (_set("producer.version", 1), ERROR),
}
for where in ["", "claim.", "model.", "strategy.", "strategy.parameters.", "evidence.", "producer."]:
    MUTATIONS[f"extra field in {where or 'top'}"] = (_set(where + "zz_extra", 0), ERROR)
for field in ["format", "version", "claim", "model", "strategy", "evidence", "claim.task", "claim.k",
              "claim.d_vocab", "claim.semantics", "claim.accuracy_lower_bound", "model.sha256",
              "model.path", "strategy.name", "strategy.parameters", "evidence.correct_inputs",
              "evidence.total_inputs", "producer.name"]:
    MUTATIONS[f"missing {field}"] = (_delete(field), ERROR)


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutation_refused(tmp_path, tiny_cert, name):
    path, cert = tiny_cert
    mutate, (verdict, code) = MUTATIONS[name]
    c = copy.deepcopy(cert)
    mutate(c)
    assert json.dumps(c) != json.dumps(cert)
    r = _check(_write(tmp_path, c))
    assert (r.verdict, r.exit_code) == (verdict, code), r.reason
    assert r.reason


def test_producer_is_optional(tmp_path, tiny_cert):
    _, cert = tiny_cert
    c = copy.deepcopy(cert)
    del c["producer"]
    assert _check(_write(tmp_path, c)).verdict == "accepted"


# ---------------------------------------------------------------- textual mutations

def _text_mutations(text: str, cert: dict) -> dict[str, str | bytes]:
    k = cert["claim"]["k"]
    ki = text.index(f'"k": {k}')
    return {
        "duplicate key (same value)": text.replace(f'"k": {k},', f'"k": {k}, "k": {k},', 1),
        "duplicate key (top level)": text.replace('"version": 1,', '"version": 1, "version": 1,', 1),
        "NaN literal": text.replace(f'"k": {k}', '"k": NaN', 1),
        "Infinity literal": text.replace(f'"k": {k}', '"k": Infinity', 1),
        "-Infinity literal": text.replace(f'"k": {k}', '"k": -Infinity', 1),
        "exponent int": text.replace(f'"k": {k}', f'"k": {k}e0', 1),
        "huge integer": text.replace(f'"k": {k}', '"k": 1' + "0" * 100000, 1),
        "huge integer in evidence": text.replace('"total_inputs": ', '"total_inputs": 9' + "9" * 100000 + ", \"x\": ", 1),
        "huge p/q bound": text.replace(f'"{cert["claim"]["accuracy_lower_bound"]}"', '"1/' + "7" * 100000 + '"', 1),
        "deep nesting": text[:ki] + '"k": ' + "[" * 10000 + "]" * 10000 + text[ki + len(f'"k": {k}'):],
        "deep nesting unclosed": "[" * 10000,
        "deep nesting objects": '{"a":' * 10000 + "1" + "}" * 10000,
        "trailing garbage": text + "x",
        "two documents": text + text,
        "truncated": text[: len(text) // 2],
        "truncated by one": text.rstrip()[:-1],
        "empty": "",
        "whitespace only": "  \n",
        "json null": "null",
        "json list": "[]",
        "non-UTF-8 bytes": text.encode().replace(b'"max-of-k"', b'"max-of-k\xff"', 1),
        "latin-1 only": b'\xe9' + text.encode(),
        "UTF-16": text.encode("utf-16"),
        "NUL byte": text.encode() + b"\x00",
    }


_NAMES = ["duplicate key (same value)", "duplicate key (top level)", "NaN literal", "Infinity literal",
          "-Infinity literal", "exponent int", "huge integer", "huge integer in evidence", "huge p/q bound",
          "deep nesting", "deep nesting unclosed", "deep nesting objects", "trailing garbage",
          "two documents", "truncated", "truncated by one", "empty", "whitespace only", "json null",
          "json list", "non-UTF-8 bytes", "latin-1 only", "UTF-16", "NUL byte"]


@pytest.mark.parametrize("name", _NAMES)
def test_malformed_file_is_error(tmp_path, tiny_cert, name):
    path, cert = tiny_cert
    text = path.read_text()
    assert _check(path).verdict == "accepted"
    m = _text_mutations(text, cert)[name]
    assert m != text
    p = _write(tmp_path, raw=m if isinstance(m, bytes) else m.encode())
    r = _check(p)
    assert (r.verdict, r.exit_code) == ERROR, r.reason[:500]


def test_error_reason_is_bounded(tmp_path, tiny_cert):
    path, cert = tiny_cert
    text = _text_mutations(path.read_text(), cert)["huge p/q bound"]
    r = _check(_write(tmp_path, text=text))
    assert r.verdict == "error"
    assert len(r.reason) < 2000


def test_missing_certificate_file_is_error(tmp_path):
    r = _check(tmp_path / "does-not-exist.json")
    assert (r.verdict, r.exit_code) == ERROR


def test_directory_as_certificate_is_error(tmp_path):
    r = _check(tmp_path)
    assert (r.verdict, r.exit_code) == ERROR


def test_json_formatting_does_not_matter(tmp_path, tiny_cert):
    _, cert = tiny_cert
    p = tmp_path / "compact.json"
    p.write_text(json.dumps(cert, separators=(",", ":"), sort_keys=True))
    assert _check(p).verdict == "accepted"


# ---------------------------------------------------------------- lower bounds and false claims

def test_lower_bound_with_correct_evidence_accepted(tmp_path, tiny_cert):
    _, cert = tiny_cert
    ev = cert["evidence"]
    for bound in [Fraction(ev["correct_inputs"] - 1, ev["total_inputs"]), Fraction(1, 3), Fraction(0)]:
        c = copy.deepcopy(cert)
        c["claim"]["accuracy_lower_bound"] = _frac(bound) if bound else 0
        r = _check(_write(tmp_path, c))
        assert r.verdict == "accepted", r.reason
        assert r.bound == bound  # the certified claim, not the proven one


def test_min_accuracy(tiny_cert):
    path, cert = tiny_cert
    b = Fraction(cert["claim"]["accuracy_lower_bound"])
    assert _check(path, min_accuracy=b).verdict == "accepted"
    r = _check(path, min_accuracy=b + Fraction(1, 10 ** 9))
    assert (r.verdict, r.exit_code) == REJECT


def _false_certificate(tmp_path: Path, cert: dict) -> Path:
    """Internally consistent but false: claims every input correct."""
    c = copy.deepcopy(cert)
    total = c["evidence"]["total_inputs"]
    c["evidence"]["correct_inputs"] = total
    c["claim"]["accuracy_lower_bound"] = 1
    return _write(tmp_path, c)


def _assert_false_claim_refused(tmp_path, cert):
    r = _check(_false_certificate(tmp_path, cert))
    assert (r.verdict, r.exit_code) == REJECT, r.reason


def test_false_claim_rejected(tmp_path, tiny_cert):
    _assert_false_claim_refused(tmp_path, tiny_cert[1])


def test_accept_everything_stub_is_caught(tmp_path, tiny_cert, monkeypatch):
    """With count_correct stubbed to 'all correct', the false certificate is accepted, so the
    assertion of test_false_claim_rejected fails: the suite detects an accept-everything checker."""
    _, cert = tiny_cert
    monkeypatch.setattr(bf, "count_correct", lambda p: p.d_vocab ** p.k)
    assert _check(_false_certificate(tmp_path, cert)).verdict == "accepted"
    with pytest.raises(AssertionError):
        _assert_false_claim_refused(tmp_path, cert)


def test_weights_override_and_relative_path(tmp_path, tiny_cert):
    """The model path is resolved relative to the certificate, not the working directory."""
    path, cert = tiny_cert
    sub = tmp_path / "elsewhere"
    sub.mkdir()
    moved = sub / "cert.json"
    moved.write_text(path.read_text())
    r = _check(moved)
    assert (r.verdict, r.exit_code) == ("error", 2) and "cannot read weights" in r.reason
    r = _check(moved, weights=str(tmp_path / cert["model"]["path"]))
    assert r.verdict == "accepted", r.reason
