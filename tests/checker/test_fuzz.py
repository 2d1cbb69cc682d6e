"""Property-based fuzzing: any leaf of a valid certificate replaced by an arbitrary JSON value, or the
bytes perturbed, is rejected, or accepted only with a bound still <= the exact accuracy. Never a crash."""
from __future__ import annotations

import json
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certify.certificate import certificate_dict, write_certificate
from certify.model import Config
from certify.paths import load_float_model
from certify.strategies import brute_force, cubic, subcubic
from certify.train import train
from certify.weights import save_model
from checker.check import check_file

JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.integers(-10**500, 10**500),
    st.text(max_size=12), st.sampled_from(["1/2", "0/1", "1/1", "-1/3", "2/4", "1/0", "-0/1", "99/100"]),
    st.lists(st.integers(-3, 70), max_size=5), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    model, _ = train(Config(3, 6, 8, 4), 5, steps=150, progress=False)  # imperfect: exact accuracy < 1
    digest = save_model(model, root / "m.safetensors")
    fm = load_float_model(root / "m.safetensors")
    exact = brute_force.prove(fm).bound
    assert 0 < exact < 1 and cubic.prove(fm).bound > 0
    docs = {}
    for proof in (brute_force.prove(fm), cubic.prove(fm), subcubic.prove_variant(fm, "exact", "rank2-query", "l2")):
        docs[proof.strategy] = certificate_dict(proof, 3, 6, digest, "m.safetensors")
    return root, docs, exact


def _leaves(doc, path=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(doc, list) and doc:
        for i, v in enumerate(doc):
            yield from _leaves(v, path + (i,))
    else:
        yield path


def _set(doc, path, value):
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _verdict_is_safe(root, text: bytes, exact: Fraction) -> None:
    cert = root / "fuzzed.json"
    cert.write_bytes(text)
    result = check_file(str(cert))  # raising here would be a crash: the test fails
    if result.verdict == "accepted":
        assert result.bound <= exact


@pytest.mark.parametrize("strategy", ["brute-force", "cubic", "subcubic"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_leaf_mutation_is_rejected_or_still_sound(certs, strategy, data):
    root, docs, exact = certs
    doc = json.loads(json.dumps(docs[strategy]))
    paths = list(_leaves(doc))
    header = [p for p in paths if p[0] != "evidence"]  # few but decisive: drawn half of the time
    path = data.draw(st.sampled_from(header) | st.sampled_from(paths))
    _set(doc, path, data.draw(JSON_LEAF))
    _verdict_is_safe(root, json.dumps(doc).encode(), exact)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_byte_level_mutation_never_crashes(certs, data):
    root, docs, exact = certs
    raw = bytearray(json.dumps(docs["cubic"]).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    _verdict_is_safe(root, bytes(raw), exact)


def test_unmutated_certificates_are_accepted(certs):
    root, docs, exact = certs
    for doc in docs.values():
        write_certificate(root / "ok.json", doc)
        assert check_file(str(root / "ok.json")).verdict == "accepted"


@pytest.mark.parametrize("strategy", ["brute-force", "cubic", "subcubic"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bound=st.fractions(0, 1, max_denominator=10**6))
def test_any_claimed_bound_is_accepted_only_if_sound(certs, strategy, bound):
    root, docs, exact = certs
    doc = json.loads(json.dumps(docs[strategy]))
    doc["claim"]["accuracy_lower_bound"] = f"{bound.numerator}/{bound.denominator}"
    _verdict_is_safe(root, json.dumps(doc).encode(), exact)
