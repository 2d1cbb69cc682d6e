"""The rules' own refusals of models they do not cover, each by its reason (checker-only, tiny
hand-made weights). Each test kills the mutants named in its docstring (applied by hand)."""
from __future__ import annotations

import hashlib
import json

import numpy as np

from checker.check import check_file
from conftest import checker_shapes, safetensors_bytes
from test_mutant_kills import _cert

PARAMETERS = {"subcubic": {"eupu": "exact", "attn": "plain", "err": "maxdiff"}, "hybrid": {"compact": "cubic"}}


def _check(tmp_path, V: int, K: int, strategy: str, evidence: dict):
    """Check a certificate of this strategy on a constant model (d_model 2, d_head 1)."""
    shapes = checker_shapes(V, K, 2, 1)
    data = safetensors_bytes({n: np.full(shape, 0.25, dtype=np.float32) for n, shape in shapes.items()})
    (tmp_path / "w.safetensors").write_bytes(data)
    doc = _cert(claim__k=K, claim__d_vocab=V, claim__accuracy_lower_bound=0,
                model__path="w.safetensors", model__sha256=hashlib.sha256(data).hexdigest(),
                strategy__name=strategy, strategy__parameters=PARAMETERS[strategy],
                evidence=evidence)
    (tmp_path / "c.json").write_text(json.dumps(doc))
    return check_file(str(tmp_path / "c.json"))


def test_subcubic_refuses_a_one_position_model(tmp_path):
    """K = 1 has no non-query positions: the subcubic rule rejects it by name. Kills subcubic.py:92's
    raise -> pass."""
    r = _check(tmp_path, 4, 1, "subcubic", {"cases": []})
    assert r.verdict == "rejected" and "K >= 2" in r.reason, r.reason


def test_hybrid_names_the_gap_table_it_refuses(tmp_path):
    """The refusal gives the table's size, 204^3 * 2 = 16,979,328 entries. Kills hybrid.py:69's
    message `V ** 3` -> `V ** 2`."""
    r = _check(tmp_path, 204, 2, "hybrid",
               {"cases": [], "correct_inputs": 0, "total_inputs": 204 ** 2})
    assert "d_vocab^3 K = 16,979,328 entries" in r.reason, r.reason
