"""The subcubic rule: every variant (the paper's 100 and ours, 234 in all) sound on tiny models (vs
exact enumeration) and on the default zoo model, agreeing with the prover; the per-option bounds of
subcubic_bounds checked against brute force on random matrices; nudged certificates refused; on the
zoo tight enough and far cheaper than cubic."""
from __future__ import annotations

import copy
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import checker.rules.subcubic as subcubic_rule
import checker.rules.subcubic_bounds as sb
from certify import zoo
from certify.certificate import certificate_dict, write_certificate
from certify.model import Config
from certify.paths import load_float_model
from certify.strategies import cubic, subcubic
from certify.strategies import subcubic_tables
from certify.train import train
from certify.weights import save_model
from checker.certificate import Certificate
from checker.errors import Malformed
from checker.dyadic import Dyadic
from checker.check import check_file
from checker.paths import exact_paths
from checker.rules import Reject
from checker.rules.brute_force import count_correct
from checker.safetensors import read_weights

from conftest import model_state, random_state, write_state

VARIANTS = subcubic.variants()


def _tiny(tmp_path, k: int, v: int, seed: int, bias: bool = False) -> Path:
    """A briefly trained model, its biases optionally perturbed (trained ones stay near zero)."""
    model, _ = train(Config(k, v, 8, 4), seed, steps=300, progress=False)
    if bias:
        torch.manual_seed(seed)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "b_" in name:
                    p.add_(torch.randn_like(p) * 0.3)
    path = tmp_path / f"m{k}{v}{seed}.safetensors"
    save_model(model, path)
    return path


def _cert(w, path, parameters, evidence, bound=Fraction(0), semantics="exact-real") -> Certificate:
    return Certificate(w.k, w.d_vocab, semantics, bound, w.sha256, str(path), "subcubic",
                       parameters, evidence)


def _exact(w) -> Fraction:
    return Fraction(count_correct(exact_paths(w)), w.d_vocab ** w.k)


def _all_variants_sound(path: Path, variants=None, exact: Fraction | None = None) -> list[Fraction]:
    """Every variant (or the given ones): the checker's bound equals the prover's and is <= the exact
    accuracy; the prover's tables are shared across the variants, as in its search."""
    m, w = load_float_model(path), read_weights(str(path))
    exact = _exact(w) if exact is None else exact
    shared = subcubic_tables.shared(m)
    bounds = []
    for eupu, attn, err in VARIANTS if variants is None else variants:
        proof = subcubic.prove_variant(m, eupu, attn, err, shared=shared)
        assert proof.parameters == {"eupu": eupu, "attn": attn, "err": err}
        checked = subcubic_rule.rule(_cert(w, path, proof.parameters, proof.evidence), w)
        assert checked == proof.bound, (eupu, attn, err)
        assert checked <= exact, (eupu, attn, err, checked, exact)
        bounds.append(checked)
    return bounds


def test_variant_family():
    """The paper's 5 x 2 x 10 = 100 variants plus ours: 6 x 3 x 13 = 234; prover and checker agree
    on the option names; the search excludes only the two exact-EQKE residuals."""
    paper = [v for v in VARIANTS if subcubic.is_paper(*v)]
    assert len(paper) == 100 and len(VARIANTS) == 234 == len(set(VARIANTS))
    assert (subcubic.EUPU, subcubic.ATTN, subcubic.ERR) == \
        (subcubic_rule.EUPU, subcubic_rule.ATTN, subcubic_rule.ERR)
    assert {v[2] for v in VARIANTS} - {v[2] for v in subcubic.variants(subcubic_only=True)} == \
        {"exact-eqke", "exact-maxdiff"}


# ---------------------------------------------------------------- differential soundness

@pytest.mark.parametrize("k,v,seed,bias", [
    (2, 5, 1, False), (3, 6, 2, False), (4, 8, 3, False), (3, 7, 4, True), (4, 6, 8, True)])
def test_trained_every_variant_matches_prover_and_is_sound(tmp_path, k, v, seed, bias):
    """Each model a fifth of the variants (together all of them), plus the usual best two."""
    idx = [(2, 5, 1), (3, 6, 2), (4, 8, 3), (3, 7, 4), (4, 6, 8)].index((k, v, seed))
    part = VARIANTS[idx::5] + [("exact", "rank2-query", "l2"), ("exact", "mean-query", "maxdiff")]
    bounds = _all_variants_sound(_tiny(tmp_path, k, v, seed, bias), part)
    assert max(bounds) > 0, "some variant should prove something (else the test is vacuous)"


@pytest.mark.parametrize("k,v,seed,scale,biases", [
    (2, 8, 1, 0.5, True), (3, 6, 2, 1.0, False), (4, 8, 4, 0.5, True), (4, 7, 3, 1.0, True),
    (3, 5, 1, 1.0, True), (2, 6, 5, 1.0, False)])
def test_random_every_variant_matches_prover_and_is_sound(tmp_path, k, v, seed, scale, biases):
    """Each model a sixth of the variants (together all of them), plus the usual best two."""
    state = random_state(Config(k, v, 8, 4), seed, scale=scale, biases=biases)
    idx = [(2, 8, 1), (3, 6, 2), (4, 8, 4), (4, 7, 3), (3, 5, 1), (2, 6, 5)].index((k, v, seed))
    part = VARIANTS[idx::6] + [("exact", "rank2-query", "l2"), ("exact", "mean-query", "maxdiff")]
    bounds = _all_variants_sound(write_state(state, tmp_path / "r.safetensors"), part)
    assert max(bounds) > 0, "some variant should prove something (else the test is vacuous)"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k=st.integers(2, 4), v=st.integers(5, 8), seed=st.integers(0, 2 ** 31 - 1),
       scale=st.sampled_from([0.5, 1.0, 3.0]), biases=st.booleans(), boost=st.sampled_from([0.0, 2.0, 6.0]))
def test_property_random_weights_every_variant_sound(k, v, seed, scale, biases, boost):
    cfg = Config(k, v, 8, 4)
    state = random_state(cfg, seed, scale=scale, biases=biases)
    # optionally make the direct path favour larger tokens, so that some cases actually hold
    rng = np.random.default_rng(seed + 1)
    U = rng.normal(size=(cfg.d_model, v)) / np.sqrt(cfg.d_model)
    state["unembed.W_U"] = (state["unembed.W_U"] + boost * U).astype(np.float32)
    state["embed.W_E"] = (state["embed.W_E"] + boost * (np.arange(v)[:, None] / v) * U.sum(1)[None]).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_state(state, Path(tmp) / "h.safetensors")
        _all_variants_sound(path, [VARIANTS[seed % len(VARIANTS)], VARIANTS[(seed // 7) % len(VARIANTS)]])


@pytest.fixture(scope="module")
def random_tiny(tmp_path_factory):
    """A tiny model with random weights and biases, its exact accuracy by enumeration."""
    state = random_state(Config(3, 7, 8, 4), 11, scale=1.0, biases=True)
    path = write_state(state, tmp_path_factory.mktemp("rt") / "r.safetensors")
    return path, _exact(read_weights(str(path)))


@pytest.mark.parametrize("eupu", subcubic.EUPU)
def test_random_tiny_model_every_variant(random_tiny, eupu):
    """All 234 variants on one random-weight model (bounds may be 0 there, never unsound)."""
    path, exact = random_tiny
    _all_variants_sound(path, [v for v in VARIANTS if v[0] == eupu], exact)


@pytest.mark.parametrize("eupu", subcubic.EUPU)
def test_default_model_every_variant(eupu):
    """All 234 variants on the default zoo model, split by direct-path option."""
    entry = zoo.lookup(zoo.DEFAULT_MODEL)
    bounds = _all_variants_sound(entry.path, [v for v in VARIANTS if v[0] == eupu], Fraction(entry.accuracy))
    assert max(bounds) > 0


# ---------------------------------------------------------------- the default zoo model

@pytest.fixture(scope="module")
def default():
    entry = zoo.lookup(zoo.DEFAULT_MODEL)
    w = read_weights(str(entry.path))
    proof = subcubic.prove_best(load_float_model(entry.path))
    return entry, w, proof


def _rule(default, parameters=None, evidence=None) -> Fraction:
    entry, w, proof = default
    cert = _cert(w, entry.path, proof.parameters if parameters is None else parameters,
                 proof.evidence if evidence is None else evidence)
    return subcubic_rule.rule(cert, w)


def _holds(default, case: list[int]) -> bool:
    """Does the rule accept the default proof's directions with this one case alone?"""
    ev = {**copy.deepcopy(default[2].evidence), "cases": [case]}
    try:
        _rule(default, evidence=ev)
    except Reject:
        return False
    return True


def test_default_model_tightness(default):
    entry, w, proof = default
    assert _rule(default) == proof.bound
    assert proof.bound / Fraction(entry.accuracy) >= Fraction(70, 100)


def test_default_model_ops_below_cubic(default, tmp_path):
    """The subcubic proof is the shorter one. Counted by construction (checker/ops.py) the default
    model's ratio is about 4.5 (docs/results.md); the README's target of 10 was met only under the
    earlier hand-written formulas, which charged 60 ops for a case's two exp enclosures."""
    entry, w, proof = default
    results = {}
    for name, p in (("subcubic", proof), ("cubic", cubic.prove(load_float_model(entry.path)))):
        cert_path = tmp_path / f"{name}.json"
        write_certificate(cert_path, certificate_dict(p, w.k, w.d_vocab, w.sha256, f"zoo:{entry.name}"))
        results[name] = check_file(str(cert_path))
        assert results[name].verdict == "accepted", results[name].reason
    assert results["subcubic"].bound == proof.bound
    assert results["subcubic"].ops * 3 <= results["cubic"].ops


def test_gap_one_smaller_is_rejected(default):
    entry, w, proof = default
    candidates = [i for i, (q, m, c, g) in enumerate(proof.evidence["cases"]) if c > 0 and g > 1]
    idx = next((i for i in candidates[:300] if not _holds(default, proof.evidence["cases"][i][:3]
                                                            + [proof.evidence["cases"][i][3] - 1])), None)
    assert idx is not None, "no case on the default model where g - 1 fails"
    ev = copy.deepcopy(proof.evidence)
    ev["cases"][idx][3] -= 1
    with pytest.raises(Reject):
        _rule(default, evidence=ev)


def test_adding_a_case_that_fails_is_rejected(default):
    entry, w, proof = default
    present = {tuple(case[:3]) for case in proof.evidence["cases"]}
    absent = [[q, m, c, 1 if c else 0] for q in range(w.d_vocab) for m in range(q, w.d_vocab)
              for c in range(w.k if q == m else w.k - 1) if (q, m, c) not in present and (c == 0 or m >= 1)]
    new = next((case for case in absent[:300] if not _holds(default, case)), None)
    assert new is not None, "every absent case holds?"
    ev = copy.deepcopy(proof.evidence)
    ev["cases"].append(new)
    with pytest.raises(Reject):
        _rule(default, evidence=ev)


def _first_with_copies(ev) -> list:
    return next(case for case in ev["cases"] if case[2] > 0)


def _gap_zero(ev):
    _first_with_copies(ev)[3] = 0


def _gap_above_max(ev):
    case = _first_with_copies(ev)
    case[3] = case[1] + 1


@pytest.mark.parametrize("mutate", [
    pytest.param(lambda ev: ev["cases"].append(list(ev["cases"][0])), id="duplicate"),
    pytest.param(lambda ev: ev["cases"][0].__setitem__(2, 99), id="c-out-of-range"),
    pytest.param(lambda ev: ev["cases"][0].__setitem__(2, -1), id="c-negative"),
    pytest.param(_gap_zero, id="g0-with-c"),
    pytest.param(_gap_above_max, id="g-above-m"),
    pytest.param(lambda ev: ev["cases"][0].__setitem__(0, ev["cases"][0][1] + 1), id="query-above-max"),
    pytest.param(lambda ev: ev["cases"][0].__setitem__(3, 1.0), id="float-gap"),
    pytest.param(lambda ev: ev["cases"][0].append(0), id="five-fields"),
    pytest.param(lambda ev: ev["direction"].__setitem__(0, "1/3"), id="direction-not-dyadic"),
    pytest.param(lambda ev: ev["direction"].pop(), id="direction-short"),
    pytest.param(lambda ev: ev["direction"].append("1/2"), id="direction-long"),
    pytest.param(lambda ev: ev.update(extra=1), id="unknown-evidence-field"),
    pytest.param(lambda ev: ev.pop("direction"), id="missing-direction"),
])
def test_malformed_evidence_is_refused(default, mutate):
    entry, w, proof = default
    ev = copy.deepcopy(proof.evidence)
    mutate(ev)
    with pytest.raises(Malformed):
        _rule(default, evidence=ev)


@pytest.fixture(scope="module")
def rank2(default):
    """The default model's rank-2 proof (two hint directions), whichever variant happens to be best."""
    entry, w, _ = default
    return entry, w, subcubic.prove_variant(load_float_model(entry.path), "exact", "rank2-query", "maxdiff")


@pytest.fixture(scope="module")
def rank1(default):
    entry, w, _ = default
    return entry, w, subcubic.prove_variant(load_float_model(entry.path), "exact", "mean-query", "maxdiff")


def test_rank2_and_rank1_proofs_check(rank2, rank1):
    assert "direction2" in rank2[2].evidence and "direction2" not in rank1[2].evidence
    for d in (rank2, rank1):
        assert 0 < _rule(d) == d[2].bound <= Fraction(d[0].accuracy)


@pytest.mark.parametrize("key", ["direction", "direction2"])
def test_zero_direction_is_rejected(rank2, key):
    entry, w, proof = rank2
    ev = copy.deepcopy(proof.evidence)
    ev[key] = [0] * w.d_head
    with pytest.raises((Reject, Malformed)):
        _rule(rank2, evidence=ev)


@pytest.mark.parametrize("mutate", [
    pytest.param(lambda ev: ev.pop("direction2"), id="missing-direction2"),
    pytest.param(lambda ev: ev["direction2"].__setitem__(1, "2/3"), id="direction2-not-dyadic"),
    pytest.param(lambda ev: ev["direction2"].pop(), id="direction2-short"),
    pytest.param(lambda ev: ev.__setitem__("direction2", "1/2"), id="direction2-not-a-list"),
])
def test_malformed_rank2_evidence_is_refused(rank2, mutate):
    ev = copy.deepcopy(rank2[2].evidence)
    mutate(ev)
    with pytest.raises(Malformed):
        _rule(rank2, evidence=ev)


def test_direction2_refused_for_rank1_variants(rank1):
    ev = {**copy.deepcopy(rank1[2].evidence), "direction2": list(rank1[2].evidence["direction"])}
    with pytest.raises(Malformed):
        _rule(rank1, evidence=ev)


@pytest.mark.parametrize("parameters", [
    {"eupu": "exactly", "attn": "mean-query", "err": "maxdiff"},
    {"eupu": "exact", "attn": "mean", "err": "maxdiff"},
    {"eupu": "exact", "attn": "mean-query", "err": "max-diff"},
    {"eupu": "exact", "attn": "mean-query"},
    {"eupu": "exact", "attn": "mean-query", "err": "maxdiff", "extra": 1},
    {},
])
def test_bad_parameters_are_refused(default, parameters):
    with pytest.raises(Malformed):
        _rule(default, parameters=parameters)


def test_bound_one_step_too_high_is_rejected_end_to_end(default, tmp_path):
    entry, w, proof = default
    d = certificate_dict(proof, w.k, w.d_vocab, w.sha256, str(entry.path))
    cert_path = tmp_path / "c.json"
    write_certificate(cert_path, d)
    ok = check_file(str(cert_path))
    assert ok.verdict == "accepted" and ok.bound == proof.bound, ok.reason
    b = proof.bound + Fraction(1, w.d_vocab ** w.k)
    d["claim"]["accuracy_lower_bound"] = f"{b.numerator}/{b.denominator}"
    write_certificate(cert_path, d)
    r = check_file(str(cert_path))
    assert (r.verdict, r.exit_code) == ("rejected", 1), r.reason


@pytest.mark.parametrize("key,entry_idx,factor", [
    ("direction", 0, 1 << 20), ("direction", 1, -(1 << 10)), ("direction", 2, Fraction(1, 1 << 30)),
    ("direction2", 0, 1 << 20), ("direction2", 3, -(1 << 12))])
def test_perturbed_direction_rejected_or_still_sound(rank2, key, entry_idx, factor):
    entry, w, proof = rank2
    ev = copy.deepcopy(proof.evidence)
    x = Fraction(ev[key][entry_idx]) * factor
    ev[key][entry_idx] = f"{x.numerator}/{x.denominator}"
    try:
        bound = _rule(rank2, evidence=ev)
    except (Reject, Malformed):
        return
    assert bound <= Fraction(entry.accuracy)


# ---------------------------------------------------------------- the whole zoo

@pytest.mark.slow
@pytest.mark.parametrize("variant", [("exact", "rank2-query", "l2"), ("exact", "mean-query", "maxdiff")])
def test_subcubic_on_whole_zoo_is_sound_and_tight(variant):
    """The search's usual choice and the paper-like single-direction variant, on all 151 models
    (the full search over every variant runs on the default and tiny models above)."""
    ratios = []
    for entry in (e for e in zoo.entries() if e.k == 4 and e.d_vocab == 64):
        proof = subcubic.prove_variant(load_float_model(entry.path), *variant)
        w = read_weights(str(entry.path))
        checked = subcubic_rule.rule(_cert(w, entry.path, proof.parameters, proof.evidence), w)
        assert checked == proof.bound <= Fraction(entry.accuracy), entry.name
        ratios.append(float(proof.bound / Fraction(entry.accuracy)))
    assert ratios
    assert np.mean(ratios) >= 0.70, ratios


# ---------------------------------------------------------------- regressions

def test_prover_certificate_accepted_when_mean_query_is_zero(tmp_path):
    """Was a bug (fixed in c4dfc2a): an all-zero mean query became an all-zero hint direction."""
    model, _ = train(Config(2, 5, 8, 4), 1, steps=300, progress=False)
    state = model_state(model)
    state["blocks.0.attn.W_Q"][:] = 0
    state["blocks.0.attn.b_Q"][:] = 0
    path = write_state(state, tmp_path / "noq.safetensors")
    w = read_weights(str(path))
    proof = subcubic.prove_variant(load_float_model(path), "exact", "mean-query", "maxdiff")
    assert proof.bound > 0
    assert subcubic_rule.rule(_cert(w, path, proof.parameters, proof.evidence), w) == proof.bound


# ---------------------------------------------------------------- the per-option bounds, directly

def _dy(a: np.ndarray, e: int = -6) -> Dyadic:
    out = np.empty(a.shape, dtype=object)
    out[...] = [[int(x) for x in row] for row in a] if a.ndim == 2 else [int(x) for x in a]
    return Dyadic(out, e)


def _true_spans(*ms: Dyadic) -> np.ndarray:
    prod = ms[0]
    for m in ms[1:]:
        prod = prod @ m
    return np.array([float(Fraction(int(v)) * Fraction(2) ** prod.e) for v in prod.n.max(1) - prod.n.min(1)])


def _floats(x: Dyadic) -> np.ndarray:
    return np.array([float(Fraction(int(v)) * Fraction(2) ** x.e) for v in np.ravel(x.n)])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), v=st.integers(2, 9), d=st.integers(1, 5), dm=st.integers(1, 5))
def test_residual_bounds_cover_the_true_row_spans(seed, v, d, dm):
    """Every err option's spread >= the exact row spans of the residual R = eq1 wq wk2^T E^T, on random
    integer-valued (dyadic) factors; and the svd bound is at most d^(1/2k) looser than sqrt(2) sigma_1."""
    rng = np.random.default_rng(seed)
    eq1, wq = _dy(rng.integers(-40, 41, (v, dm + 1))), _dy(rng.integers(-40, 41, (dm + 1, d)))
    wk2T, ET = _dy(rng.integers(-40, 41, (d, dm))), _dy(rng.integers(-40, 41, (dm, v)))
    qres, kres = eq1 @ wq, sb.tr(wk2T @ ET)
    true = _true_spans(qres, sb.tr(kres))
    for err in [e for e in subcubic_rule.ERR if e != "exact-eqke"]:
        got = _floats(sb.spread(err, qres, kres, [eq1, wq, wk2T, ET]))
        assert (got >= true * (1 - 1e-12)).all(), err
        if err == "exact-maxdiff":
            assert np.allclose(got, true)
    sigma = np.linalg.svd(_floats(qres).reshape(v, d) @ _floats(kres).reshape(v, d).T, compute_uv=False)[0]
    svd = _floats(sb.spread("svd", qres, kres, [eq1, wq, wk2T, ET]))[0]
    assert np.sqrt(2) * sigma * (1 - 1e-9) <= svd <= np.sqrt(2) * sigma * d ** (1 / (2 * sb.SVD_POWER)) * (1 + 1e-6) + 1e-9


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), v=st.integers(2, 9), dm=st.integers(1, 5))
def test_factored_dpen_covers_the_direct_path(seed, v, dm):
    """dpen_factored (any offset row c) >= max_{j != m} D[q, j] - D[q, m], and dpen_from_d exact is it."""
    rng = np.random.default_rng(seed)
    w_ep, U = _dy(rng.integers(-40, 41, (v, dm))), _dy(rng.integers(-40, 41, (dm, v)))
    bias, c = _dy(rng.integers(-40, 41, v)), _dy(rng.integers(-40, 41, dm))
    D = w_ep @ U + bias.rows(v)
    exact = sb.dpen_from_d(D, "exact")
    Df = _floats(D).reshape(v, v)
    want = np.array([[max(Df[q, j] for j in range(v) if j != m) - Df[q, m] if v > 1 else 0.0
                      for m in range(v)] for q in range(v)])
    assert np.allclose(_floats(exact).reshape(v, v), want)
    for off in (c, sb.floor_mean(w_ep), Dyadic(np.zeros(dm, dtype=object), 0)):
        got = _floats(sb.dpen_factored(w_ep, U, bias, off)).reshape(v, v)
        assert (got >= want - 1e-12).all()
    for how in ("max-diff", "global-max-diff"):
        assert (_floats(sb.dpen_from_d(D, how)).reshape(v, v) >= want - 1e-12).all()


@pytest.mark.parametrize("n,e,r", [(0, 0, 2), (1, 0, 2), (2, -1, 3), (12345, -7, 128), (10 ** 40, 13, 128),
                                   (3, -200, 5), (7, 5, 1)])
def test_root_up_is_an_upper_bound(n, e, r):
    up = sb.root_up(n, e, r)
    x = Fraction(n) * Fraction(2) ** e
    assert up ** r >= x and up.denominator & (up.denominator - 1) == 0
    assert float(up) <= float(x) ** (1 / r) * (1 + 1e-9) + 2.0 ** -39 * 2.0 ** (e / r)


# ---------------------------------------------------------------- new evidence and variants, mutated

@pytest.fixture(scope="module")
def svdq(default):
    """The default model's proof with eupu=svd-query-max-diff (the one with an eupu_offset hint)."""
    entry, w, _ = default
    return entry, w, subcubic.prove_variant(load_float_model(entry.path), "svd-query-max-diff", "mean-query",
                                            "maxdiff-subproduct")


def test_svd_query_offset_proof_checks(svdq):
    entry, w, proof = svdq
    assert len(proof.evidence["eupu_offset"]) == w.d_model
    assert 0 < _rule(svdq) == proof.bound <= Fraction(entry.accuracy)


@pytest.mark.parametrize("mutate", [
    pytest.param(lambda ev: ev.pop("eupu_offset"), id="missing-eupu-offset"),
    pytest.param(lambda ev: ev["eupu_offset"].__setitem__(0, "1/3"), id="eupu-offset-not-dyadic"),
    pytest.param(lambda ev: ev["eupu_offset"].pop(), id="eupu-offset-short"),
    pytest.param(lambda ev: ev["eupu_offset"].append(0), id="eupu-offset-long"),
    pytest.param(lambda ev: ev.__setitem__("eupu_offset", 0), id="eupu-offset-not-a-list"),
])
def test_malformed_eupu_offset_is_refused(svdq, mutate):
    ev = copy.deepcopy(svdq[2].evidence)
    mutate(ev)
    with pytest.raises(Malformed):
        _rule(svdq, evidence=ev)


def test_eupu_offset_refused_for_other_variants(rank1, svdq):
    ev = {**copy.deepcopy(rank1[2].evidence), "eupu_offset": svdq[2].evidence["eupu_offset"]}
    with pytest.raises(Malformed):
        _rule(rank1, evidence=ev)


@pytest.mark.parametrize("factor", [1 << 12, -(1 << 8), 0])
def test_nudged_eupu_offset_rejected_or_still_sound(svdq, factor):
    """Any offset is sound; a far-off one makes the claimed cases fail, so the certificate is rejected."""
    entry, w, proof = svdq
    ev = copy.deepcopy(proof.evidence)
    ev["eupu_offset"] = [f"{(Fraction(x) * factor).numerator}/{(Fraction(x) * factor).denominator}"
                         for x in ev["eupu_offset"]]
    try:
        bound = _rule(svdq, evidence=ev)
    except Reject:
        return
    assert bound <= Fraction(entry.accuracy)
    assert factor != 1 << 12, "a 4096-fold offset should break some claimed case"


@pytest.mark.parametrize("variant", [("exact", "mean-query", "svd"), ("max-diff", "plain", "maxdiff-subproduct"),
                                     ("mean-query-max-diff", "mean-query", "mean-maxdiff-subproduct"),
                                     ("exact", "rank2-query", "mean-maxdiff-recursive"),
                                     ("factored-max-diff", "plain", "mean-maxdiff"),
                                     ("global-max-diff", "mean-query", "exact-eqke"),
                                     ("exact", "plain", "exact-maxdiff")])
def test_new_variant_gap_one_smaller_is_rejected(default, variant):
    """For each new kind of bound: a claimed gap one too small (a case that fails) rejects."""
    entry, w, _ = default
    proof = subcubic.prove_variant(load_float_model(entry.path), *variant)
    t = subcubic_rule.tables(_cert(w, entry.path, proof.parameters, proof.evidence), w)
    bad = next((i for i, (q, m, c, g) in enumerate(proof.evidence["cases"])
                if c > 0 and g > 1 and not t.case_holds(q, m, c, g - 1)), None)
    assert bad is not None
    ev = copy.deepcopy(proof.evidence)
    ev["cases"][bad][3] -= 1
    with pytest.raises(Reject):
        _rule((entry, w, proof), evidence=ev)


def test_float32_semantics_refused(default):
    entry, w, proof = default
    cert = _cert(w, entry.path, proof.parameters, proof.evidence, semantics="float32")
    with pytest.raises(Reject, match="exact-real"):
        subcubic_rule.rule(cert, w)


def test_search_matches_full_enumeration_on_default(default):
    """The pruned search picks a variant whose bound equals the best over all subcubic variants."""
    entry, w, proof = default
    m = load_float_model(entry.path)
    shared = subcubic_tables.shared(m)
    counts = subcubic.search_all(m, shared=shared)
    best = max(c for c in counts.values() if c is not None)
    assert proof.bound == Fraction(best, w.d_vocab ** w.k)
    for v in [v for v, c in counts.items() if c is None][::9]:  # a sample of the skipped ones
        assert subcubic.prove_variant(m, *v, shared=shared).bound <= proof.bound


@pytest.mark.parametrize("shift", [540, 1100])
def test_direction_with_huge_denominator_never_lets_the_filter_accept_a_false_case(shift):
    """Regression (review finding): a direction whose squared norm's denominator overflows float64
    once made beta's enclosure reach below 0, and div_pos then dropped the EQKE term. With W_Q
    negated the model gets input (30, 30, 30, 23) wrong; case (23, 30, 0, 0) covers it."""
    import json
    from checker.certificate import parse_certificate
    from checker.safetensors import Weights
    w0 = read_weights(str(zoo.ZOO_DIR / "k4-v64-s123.safetensors"))
    t = dict(w0.tensors)
    for name in ("blocks.0.attn.W_Q", "blocks.0.attn.b_Q"):
        t[name] = (-t[name]).astype(np.float32)
    w = Weights("0" * 64, t, w0.k, w0.d_vocab, w0.d_model, w0.d_head)
    doc = {"format": "certify-certificate", "version": 1,
           "claim": {"task": "max-of-k", "k": 4, "d_vocab": 64, "semantics": "exact-real",
                     "accuracy_lower_bound": 0},
           "model": {"sha256": "0" * 64, "path": "x"},
           "strategy": {"name": "subcubic", "parameters": {"eupu": "exact", "attn": "plain", "err": "maxdiff"}},
           "evidence": {"direction": [f"1/{2 ** shift}"] * w.d_head, "cases": [[23, 30, 0, 0]]}}
    with pytest.raises(Reject):
        subcubic_rule.rule(parse_certificate(json.dumps(doc).encode()), w)


@pytest.mark.parametrize("e", range(-9, 9))
def test_sqrt_up_and_root_up_are_upper_bounds_and_tight(e):
    """sqrt_up / root_up (the l2 and svd residual bounds) for every exponent parity and residue:
    an upper bound (a mutated parity test once halved the exponent of an odd one the wrong way)."""
    for n in (1, 2, 3, 7, 10 ** 6 + 3, 2 ** 61 - 1):
        x = Fraction(n) * Fraction(2) ** e
        s = sb.sqrt_up(Dyadic(np.array([n], dtype=object), e))
        v = Fraction(int(s.n[0])) * Fraction(2) ** s.e
        assert v * v >= x and v * v <= x * (1 + Fraction(1, 2 ** 30))
        for r in (2, 3, 4, 128):
            root = sb.root_up(n, e, r)
            assert root ** r >= x and root ** r <= x * (1 + Fraction(r, 2 ** 30))
