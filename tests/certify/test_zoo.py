"""The shipped zoo: every manifest entry is present, hashed correctly, accurate, and exactly counted."""
from __future__ import annotations

import hashlib
import json
from fractions import Fraction

import pytest

from certify import zoo
from conftest import ZOO, checker_count

ENTRIES = zoo.entries()


def test_manifest_is_well_formed():
    doc = json.loads((ZOO / "manifest.json").read_text())
    names = [e["name"] for e in doc["models"]]
    assert len(names) == len(set(names)) > 0
    assert zoo.DEFAULT_MODEL in names
    for e in ENTRIES:
        assert e.name == zoo.zoo_name(e.k, e.d_vocab, e.seed)
        if e.accuracy is None:  # allowed only where brute force cannot enumerate the inputs
            assert e.d_vocab ** e.k > 1 << 31, e.name
            continue
        f = Fraction(e.accuracy)
        assert e.accuracy == f"{f.numerator}/{f.denominator}"  # exact, lowest terms
        assert (e.d_vocab ** e.k) % f.denominator == 0


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_zoo_entry(entry):
    assert entry.path.is_file(), f"{entry.path} missing"
    assert hashlib.sha256(entry.path.read_bytes()).hexdigest() == entry.sha256
    if entry.accuracy is None:
        assert entry.d_vocab ** entry.k > 1 << 31  # not enumerable: no exact accuracy recorded
    else:
        assert zoo.accuracy(entry) >= Fraction(98, 100)
    assert zoo.resolve(entry.name) == (entry.path, entry.name)
    assert zoo.lookup("zoo:" + entry.name) == entry


def test_no_unlisted_zoo_files():
    listed = {e.path.name for e in ENTRIES}
    assert {p.name for p in ZOO.glob("*.safetensors")} <= listed


def test_checker_resolves_zoo_paths():
    from checker.check import resolve_model_path, zoo_dir
    assert zoo_dir().resolve() == ZOO.resolve()
    assert resolve_model_path("zoo:k4-v64-s123", "/anywhere/c.json") == str(zoo_dir() / "k4-v64-s123.safetensors")


@pytest.mark.slow
def test_default_model_exact_accuracy_matches_manifest():
    entry = zoo.lookup(zoo.DEFAULT_MODEL)
    assert entry is not None
    assert Fraction(checker_count(entry.path), entry.d_vocab ** entry.k) == zoo.accuracy(entry)
