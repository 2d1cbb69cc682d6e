"""Walk the verdict table of docs/certificate.md#verdicts: every row's input, built here under its
id, gets exactly the documented verdict and exit code; a row without a case (or a case without a
row) fails the test."""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import checker.paths as paths
import checker.rules.brute_force as brute_force
import checker.safetensors as safetensors
from checker import expo
from checker.check import check_file
from checker.cli import main
from conftest import REPO

DOC = REPO / "docs" / "certificate.md"


def _rows() -> dict[str, tuple[str, int]]:
    text = DOC.read_text().split("### Verdicts", 1)[1].split("\n\n")[2]
    rows = {}
    for line in text.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows[cells[0].strip("`")] = (cells[2].strip("`"), int(cells[3]))
    return rows


class Case:
    """The tiny model's valid brute-force certificate, to be bent into each row's input."""

    def __init__(self, tmp_path: Path, tiny_cert, state) -> None:
        self.dir, (self.path, self.cert), self.state = tmp_path, tiny_cert, state

    def check(self, change: Callable[[dict], None] | None = None, **kw) -> tuple[str, int]:
        c = copy.deepcopy(self.cert)
        if change:
            change(c)
        p = self.dir / "case.json"
        p.write_text(json.dumps(c))
        r = check_file(str(p), **kw)
        return r.verdict, r.exit_code

    def raw(self, data: bytes) -> tuple[str, int]:
        p = self.dir / "raw.json"
        p.write_bytes(data)
        r = check_file(str(p))
        return r.verdict, r.exit_code

    def cli(self, *args: str) -> tuple[str, int]:
        return "error", main([*args])

    def weights(self, data: bytes) -> dict:
        """A certificate naming these bytes as its weights, its SHA-256 matching."""
        import hashlib
        (self.dir / "w.safetensors").write_bytes(data)
        return {"sha256": hashlib.sha256(data).hexdigest(), "path": "w.safetensors"}


def _set(path: str, value) -> Callable[[dict], None]:
    def f(c: dict) -> None:
        *head, last = path.split(".")
        obj = c
        for h in head:
            obj = obj[h]
        obj[last] = value
    return f


def _fifo(case: Case) -> str:
    os.mkfifo(case.dir / "fifo")
    return str(case.dir / "fifo")


def _header(case: Case, header: bytes) -> dict:
    return case.weights(len(header).to_bytes(8, "little") + header + b"\0" * 4)  # 4 bytes of data


CASES: dict[str, Callable[[Case, pytest.MonkeyPatch], list[tuple[str, int]]]] = {
    "valid": lambda c, mp: [c.check()],
    "below-min-accuracy": lambda c, mp: [c.check(min_accuracy=1)],
    "cert-missing": lambda c, mp: [c.cli(str(c.dir / "nope.json"))],
    "cert-special-file": lambda c, mp: [c.cli(str(c.dir)), c.cli(_fifo(c)), c.cli("/dev/zero")],
    "cert-not-json": lambda c, mp: [c.raw(b"\xff{"), c.raw(b"{"),
                                    c.raw(c.path.read_bytes().replace(b'"version": 1', b'"version": 1.0')),
                                    c.raw(c.path.read_bytes().replace(b'"version": 1', b'"version": NaN')),
                                    c.raw(c.path.read_bytes().replace(b'"version": 1', b'"version": 1, "version": 1'))],
    "cert-format": lambda c, mp: [c.check(_set("format", "x")), c.check(_set("version", 2)),
                                  c.check(_set("claim.zz", 0)), c.check(lambda d: d.pop("model")),
                                  c.check(_set("claim.k", 0)), c.check(_set("claim.accuracy_lower_bound", "3/2"))],
    "cert-too-large": lambda c, mp: [c.raw(c.path.read_bytes() + b" " * (64 << 20))],
    "unknown-strategy": lambda c, mp: [c.check(_set("strategy.name", "magic"))],
    "evidence-malformed": lambda c, mp: [
        c.check(_set("evidence.correct_inputs", "7")), c.check(_set("evidence.correct_inputs", -1)),
        c.check(_set("evidence.zz", 0)), c.check(_set("strategy.parameters", {"x": 1})),
        c.check(lambda d: d.update(strategy={"name": "cubic", "parameters": {}}, evidence={"cases": [[0, 0]]})),
        c.check(lambda d: d.update(strategy={"name": "cubic", "parameters": {}},
                                   evidence={"cases": [[0, 9, 0, 1]]})),
        c.check(lambda d: d.update(strategy={"name": "subcubic", "parameters": {"eupu": "x", "attn": "plain",
                                                                                "err": "svd"}},
                                   evidence={"direction": [1], "cases": []}))],
    "weights-missing": lambda c, mp: [c.check(_set("model.path", "nope.safetensors")),
                                      c.check(weights=str(c.dir / "nope.safetensors"))],
    "weights-special-file": lambda c, mp: [c.check(_set("model.path", p)) for p in
                                           (".", _fifo(c), "/dev/stdin", "/dev/zero")],
    "weights-path-unencodable": lambda c, mp: [c.check(_set("model.path", "a\0b")),
                                               c.check(_set("model.path", "a\ud800b"))],
    "sha-mismatch": lambda c, mp: [c.check(_set("model.sha256", "0" * 64))],
    "weights-not-a-model": lambda c, mp: [
        c.check(_set("model", _header(c, b"{"))),
        c.check(_set("model", _header(c, b'{"x": ' + b"9" * 4301 + b"}"))),
        c.check(_set("model", _header(c, json.dumps({n: {"dtype": "F32", "shape": [2 ** 64], "data_offsets": [0, 4]}
                                                      for n in safetensors.NAMES}).encode()))),
        c.check(_set("model", c.weights(_state_bytes(c, nan=True)))),
        c.check(_set("model", c.weights(_state_bytes(c, extra=True))))],
    "k-mismatch": lambda c, mp: [c.check(_set("claim.k", 4)), c.check(_set("claim.d_vocab", 6))],
    "evidence-wrong": lambda c, mp: [c.check(lambda d: d["evidence"].update(correct_inputs=d["evidence"]["correct_inputs"] + 1)),
                                     c.check(_set("evidence.total_inputs", 126))],
    "bound-too-high": lambda c, mp: [c.check(_set("claim.accuracy_lower_bound", 1))],
    "weights-too-large": lambda c, mp: _patched(mp, [(safetensors, "MAX_FILE_BYTES", 100),
                                                     (safetensors, "MAX_PARAMETERS", 10)], c),
    "work-cap": lambda c, mp: _patched(mp, [(brute_force, "MAX_INPUTS", 124), (brute_force, "MAX_TABLE", 124),
                                            (paths, "MAX_PATH_ENTRIES", 10), (paths, "MAX_PATH_PRODUCTS", 10)], c),
    "precision-cap": lambda c, mp: _precision_cap(c, mp),
    "time-limit": lambda c, mp: [c.check(time_limit=1e-9)],
    "report-unwritable": lambda c, mp: [c.cli(str(c.path), "--junit", str(c.dir / "no" / "r.xml"))],
    "bad-command-line": lambda c, mp: [c.cli(str(c.path), "--frobnicate"), c.cli(str(c.path), "--time-limit", "0"),
                                       c.cli(str(c.path), "--min-accuracy", "2")],
    "float-environment": lambda c, mp: _flush_to_zero(c, mp),
    "internal-error": lambda c, mp: _internal_error(c, mp),
}


def _patched(mp: pytest.MonkeyPatch, patches: list, case: Case) -> list[tuple[str, int]]:
    """One check per cap, with only that cap lowered to below what the tiny model needs."""
    out = []
    for module, name, value in patches:
        with mp.context() as m:
            m.setattr(module, name, value)
            out.append(case.check())
    return out


def _state_bytes(case: Case, nan: bool = False, extra: bool = False) -> bytes:
    state = {k: v.copy() for k, v in case.state.items()}
    if nan:
        state["embed.W_E"][0, 0] = np.nan
    if extra:
        state["blocks.0.mlp.W_in"] = np.ones((6, 8), dtype=np.float32)
    save = pytest.importorskip("safetensors.numpy").save  # absent in the checker-only CI venv
    return save(state)


def _precision_cap(case: Case, mp: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Float filters that decide nothing send every input to the exact stage, where a precision
    cap below the first refinement (64 bits) leaves each sign undecided."""
    undecided = lambda c, wl, wh: np.full(np.shape(c), np.nan)
    mp.setattr(brute_force, "mul_lower", undecided)
    mp.setattr(brute_force, "mul_upper", undecided)
    mp.setattr(expo, "MAX_PRECISION_BITS", 32)
    return [case.check()]


def _flush_to_zero(case: Case, mp: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """float64 as under flush-to-zero: a subnormal quotient comes out 0 (numpy otherwise unchanged)."""
    from checker import interval

    class FlushToZero:
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def array(x, *a, **k):
            return np.zeros_like(np.array(x, *a, **k))
    mp.setattr(interval, "np", FlushToZero())
    return [case.check(), case.cli(str(case.path))]


def _internal_error(case: Case, mp: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    import checker.rules.brute_force as bf
    mp.setattr(bf, "count_correct", lambda p: 1 // 0)
    return [case.cli(str(case.path))]


@pytest.fixture()
def case(tmp_path, tiny_cert, tiny_trained_state) -> Case:
    return Case(tmp_path, tiny_cert, tiny_trained_state)


def test_every_row_has_a_case():
    assert set(_rows()) == set(CASES)


@pytest.mark.parametrize("row", sorted(CASES))
def test_row(case, monkeypatch, capsys, row):
    expected = _rows()[row]
    got = CASES[row](case, monkeypatch)
    assert got and all(g == expected for g in got), (row, got, expected)
