"""Every rule's verdict, proven bound and op count on committed certificates, pinned
(tests/fixtures/pinned.json.gz, written by tests/fixtures/make_pinned.py): the tiny model under each
rule and float32, the trained default-size model under cubic, hybrid and 33 subcubic and paper variants.
Checker-only. A change of a rule's work or bound, however small, fails here: a mutant that only
moves a rounding step, a loop bound or a charge is seen (if the change is intended, regenerate and
say why in the commit)."""
from __future__ import annotations

import copy
import gzip
import json
import shutil
from fractions import Fraction
from pathlib import Path

import pytest

from checker.check import Result, check_file
from conftest import FIXTURES

PINNED = json.loads(gzip.decompress((FIXTURES / "pinned.json.gz").read_bytes()))


def check_beside_its_model(doc: dict, tmp_path: Path) -> Result:
    """check_file on doc, written beside a copy of the committed model it names."""
    shutil.copy(FIXTURES / doc["model"]["path"], tmp_path / doc["model"]["path"])
    (tmp_path / "cert.json").write_text(json.dumps(doc))
    return check_file(str(tmp_path / "cert.json"))


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_verdict_bound_and_ops(name, tmp_path):
    r = check_beside_its_model(PINNED[name]["certificate"], tmp_path)
    assert (r.verdict, r.bound, r.ops) == ("accepted", Fraction(PINNED[name]["bound"]), PINNED[name]["ops"]), r.reason


@pytest.mark.parametrize("name", [n for n in sorted(PINNED) if "hybrid" in n or "brute-force" in n])
def test_a_count_one_above_the_pinned_is_refused(name, tmp_path):
    """The count rules (brute force, hybrid) prove exactly their count: claiming one input more is
    rejected. Kills a stage that counts an input correct without proof (e.g. hybrid.py:312's
    `rest > 0` -> `rest <= 0`), which honest claims alone never show."""
    cert = copy.deepcopy(PINNED[name]["certificate"])
    n, total = cert["evidence"]["correct_inputs"] + 1, cert["evidence"]["total_inputs"]
    cert["evidence"]["correct_inputs"] = n
    bound = Fraction(n, total)
    cert["claim"]["accuracy_lower_bound"] = f"{bound.numerator}/{bound.denominator}"
    assert check_beside_its_model(cert, tmp_path).verdict == "rejected"
