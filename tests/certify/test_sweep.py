"""Sweeps on a Dask LocalCluster: results table, resumption, recorded failures, report."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from certify.sweep import read_table, sweep
from certify import zoo

CLI = [sys.executable, "-c", "import sys; from certify.cli import main; sys.exit(main())"]


def _models(n: int):
    return [(e.name, str(e.path), e.name, e.accuracy) for e in zoo.entries() if e.k == 4][:n]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    sweep(_models(2), ["cubic", "subcubic:eupu=exact,attn=mean-query,err=maxdiff"], str(out), workers=2,
          progress=False)
    return out


def test_two_by_two_sweep_on_local_cluster(swept):
    rows = read_table(swept)
    assert len(rows) == 4 and all(r["status"] == "accepted" for r in rows)
    for r in rows:
        assert 0 < float(r["normalized"]) <= 1 and int(r["ops"]) > 0
        assert (swept / r["certificate"]).exists()


def test_resume_skips_finished_pairs(swept):
    before = {p.name: p.stat().st_mtime_ns for p in (swept / "rows").iterdir()}
    sweep(_models(2), ["cubic", "subcubic:eupu=exact,attn=mean-query,err=maxdiff"], str(swept),
          progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in (swept / "rows").iterdir()} == before


def test_failure_is_recorded_and_sweep_goes_on(tmp_path):
    """A pair that fails (brute force on 64^10 inputs) is recorded; the tiny committed model's pair
    beside it is still proven and accepted."""
    big = zoo.lookup("k10-v64-s123")
    tiny = Path(__file__).resolve().parents[1] / "fixtures" / "tiny.safetensors"
    models = [("tiny", str(tiny), None, None), (big.name, str(big.path), big.name, None)]
    sweep(models, ["brute-force"], str(tmp_path), workers=1, progress=False)
    status = {r["model"]: r for r in read_table(tmp_path)}
    assert status["k10-v64-s123"]["status"] == "failed" and "inputs" in status["k10-v64-s123"]["error"]
    assert status["tiny"]["status"] == "accepted"
    assert not list(tmp_path.rglob("*.tmp"))


def test_report_writes_figure_and_table(swept):
    result = subprocess.run(CLI + ["report", str(swept)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (swept / "bound_vs_ops.png").read_bytes()[:4] == b"\x89PNG"
    table = (swept / "report.md").read_text()
    assert "| cubic | 2 |" in table and "0.953 ± 0.009" in table


def test_cli_sweep_splits_variant_names(tmp_path):
    result = subprocess.run(CLI + ["sweep", "--models", "k4-v64-s123", "--strategies",
                                   "cubic,subcubic:eupu=exact,attn=plain,err=maxdiff", "--out", str(tmp_path),
                                   "--workers", "1"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert {r["strategy"] for r in read_table(tmp_path)} == {"cubic", "subcubic:eupu=exact,attn=plain,err=maxdiff"}


def test_hybrid_dimension_and_exact_accuracy():
    """A hybrid point's dimension is cubic's plus V per residue input; its bound normalises others."""
    from certify.report import unexplained_dimension, with_exact_accuracy
    V, K = 5, 3
    none = unexplained_dimension("hybrid", {"compact": "cubic"}, K, V, 8, {"cases": []})
    assert none == 3 * V * V + 2 * V * K + V * V ** K
    some = unexplained_dimension("hybrid", {"compact": "cubic"}, K, V, 8, {"cases": [[4, 4, 2, 3]]})
    assert none - some == V * 1 * 3 ** 2      # C(2, 2) * 3^2 inputs covered
    variant = {"eupu": "max-diff", "attn": "mean-query", "err": "maxdiff"}
    sub = unexplained_dimension("hybrid", {"compact": "subcubic", **variant}, K, V, 8, {"cases": [[4, 4, 2, 2]]})
    assert sub == unexplained_dimension("subcubic", variant, K, V, 8) + V * (V ** K - 1 * 3 ** 2)  # [0, 4 - 2]
    rows = [{"model": "m", "strategy": "hybrid", "status": "accepted", "bound": "1/2",
             "exact_accuracy": "", "normalized": ""},
            {"model": "m", "strategy": "cubic", "status": "accepted", "bound": "1/4",
             "exact_accuracy": "", "normalized": ""}]
    assert [r["normalized"] for r in with_exact_accuracy(rows)] == ["1.000000", "0.500000"]
