"""The hybrid rule: cubic cases + brute force on exactly the residue; the count must be exact.

Differential against brute force (the checker's own count and the mpmath oracle), on models whose
cubic proof covers nothing, part, and everything; the residue's combinatorics checked by explicit
enumeration; known-bad certificates; and mutants of the rule that must make an honest certificate
fail (a test that can fail).
"""
from __future__ import annotations

import inspect
import itertools
import json
import sys
from fractions import Fraction
from math import comb
from pathlib import Path

import numpy as np
import pytest

from certify.model import Config
from certify.paths import load_float_model
from certify.strategies import cubic as cubic_prover
from certify.strategies import hybrid as hybrid_prover
from certify.train import train
from checker.check import check_file
from checker.rules import hybrid
from conftest import (checker_count, edited_copy, model_state, oracle_count, random_state, write_proof,
                      write_state)


def _write(weights: Path, proof, tmp_path: Path, name: str = "h.json") -> Path:
    write_proof(weights, proof, tmp_path / name)
    return tmp_path / name


def _claim(count: int, total: int):
    """An edit claiming `count` correct inputs (evidence and bound)."""
    def change(d):
        f = Fraction(count, total)
        d["evidence"]["correct_inputs"] = count
        d["claim"]["accuracy_lower_bound"] = f"{f.numerator}/{f.denominator}"
    return change


def _proofs(weights: Path, semantics: str = "exact-real"):
    """The shipped prover's proof, and proofs claiming every cubic case and none."""
    import dataclasses
    m = dataclasses.replace(load_float_model(weights), semantics=semantics)
    found = cubic_prover.case_sets(m)
    return m, {"default": hybrid_prover.prove(m), "all": hybrid_prover.proof(m, hybrid_prover.cubic_part(found)),
               "none": hybrid_prover.proof(m, hybrid_prover.cubic_part([]))}


@pytest.fixture(scope="module")
def covered_all(tmp_path_factory) -> Path:
    """A trained K=2, vocab 4 model whose cubic proof covers every input."""
    model, _ = train(Config(2, 4, 8, 8), 0, steps=300, progress=False, mode="torch")
    return write_state(model_state(model), tmp_path_factory.mktemp("all") / "all.safetensors")


def test_compact_proof_covering_everything(covered_all, tmp_path):
    m, proofs = _proofs(covered_all)
    assert cubic_prover.prove(m).bound == 1
    sets = {(q, mx, c): xs for q, mx, c, xs in cubic_prover.case_sets(m)}
    assert hybrid.residue_size(m.d_vocab, m.k, sets) == 0
    assert list(hybrid.residue(m.d_vocab, m.k, sets)) == []
    for name, proof in proofs.items():
        r = check_file(str(_write(covered_all, proof, tmp_path, f"{name}.json")))
        assert (r.verdict, r.bound) == ("accepted", 1), (name, r.reason)


@pytest.mark.parametrize("k,v,biases,seed,steps", [
    (2, 6, False, 1, 0), (3, 5, True, 2, 0), (4, 4, False, 3, 0),       # random: cubic covers ~nothing
    (3, 5, False, 4, 600), (2, 6, False, 3, 600), (3, 4, True, 5, 400),  # trained: cubic covers part
])
def test_differential_against_brute_force(tmp_path, k, v, biases, seed, steps):
    cfg = Config(k, v, 8, 8)
    if steps:
        model, _ = train(cfg, seed, steps=steps, progress=False, mode="torch")
        state = model_state(model)
    else:
        state = random_state(cfg, seed, biases=biases)
    weights = write_state(state, tmp_path / "m.safetensors")
    exact = checker_count(weights)
    assert exact == oracle_count(state)
    _, proofs = _proofs(weights)
    for name, proof in proofs.items():
        assert proof.evidence["correct_inputs"] == exact, name
        r = check_file(str(_write(weights, proof, tmp_path, f"{name}.json")))
        assert (r.verdict, r.bound) == ("accepted", Fraction(exact, v ** k)), (name, r.reason)


def test_float32_semantics_matches_brute_force(tmp_path):
    """Under float32 both rules count the inputs whose gaps exceed the float32 error bound; the
    hybrid's count must be brute force's, and may be claimed lower but never higher."""
    from checker.rules import semantic_paths
    from checker.rules.brute_force import count_correct
    from checker.certificate import parse_certificate
    from checker.safetensors import read_weights
    model, _ = train(Config(3, 5, 8, 8), 4, steps=600, progress=False, mode="torch")
    weights = write_state(model_state(model), tmp_path / "f.safetensors")
    _, proofs = _proofs(weights, "float32")
    cert = _write(weights, proofs["all"], tmp_path)
    parsed = parse_certificate(cert.read_bytes())
    bf = count_correct(semantic_paths(parsed, read_weights(str(weights))))
    r = check_file(str(cert))
    assert r.verdict == "accepted" and proofs["all"].evidence["correct_inputs"] <= bf
    assert r.bound <= Fraction(checker_count(weights), 5 ** 3)
    assert check_file(str(edited_copy(cert, _claim(bf + 1, 125)))).verdict == "rejected"
    assert check_file(str(edited_copy(cert, _claim(bf - 3, 125)))).verdict == "accepted"
    exact_real = check_file(str(_write(weights, _proofs(weights)[1]["all"], tmp_path, "x.json")))
    assert exact_real.verdict == "accepted" and Fraction(bf, 125) <= exact_real.bound


@pytest.mark.parametrize("V,K", [(1, 2), (3, 2), (4, 3), (3, 4), (5, 3)])
def test_residue_is_exactly_the_uncovered_inputs(V, K):
    """Against explicit enumeration, for random case sets: the covered inputs and the residue are
    disjoint, together all V^K inputs, and the residue has no input twice."""
    rng = np.random.default_rng(V * 10 + K)
    for trial in range(4):
        sets = {}
        for q in range(V):
            for m in range(q, V):
                for c in range(K if q == m else K - 1):
                    if rng.random() < 0.6 and (c == 0 or m > 0):
                        sets[q, m, c] = [None] if c == 0 else \
                            sorted(rng.choice(m, size=rng.integers(1, m + 1), replace=False).tolist())
        covered = set()
        for t in itertools.product(range(V), repeat=K):
            q, m = t[-1], max(t)
            nonmax = [x for x in t[:-1] if x < m]
            S = sets.get((q, m, len(nonmax)))
            if S is not None and (not nonmax or all(x in S for x in nonmax)):
                covered.add(t)
        assert len(covered) == sum(comb(K - 1, c) * len(S) ** c for (_, _, c), S in sets.items())
        rows = []
        for q, I, m, X in hybrid.residue(V, K, sets):
            toks = np.repeat(m[:, None], K, axis=1)
            toks[:, K - 1] = q
            toks[:, list(I)] = X
            assert (X < m[:, None]).all() and (m >= q).all()
            rows += [tuple(int(x) for x in row) for row in toks]
        assert len(rows) == len(set(rows)) == hybrid.residue_size(V, K, sets)
        assert set(rows).isdisjoint(covered) and len(rows) + len(covered) == V ** K


@pytest.fixture(scope="module")
def partial(tmp_path_factory) -> tuple[Path, Path]:
    """(weights, honest hybrid certificate claiming every cubic case) of a model that has wrong
    inputs both inside the residue and decided in each stage."""
    tmp = tmp_path_factory.mktemp("partial")
    model, _ = train(Config(4, 6, 8, 8), 6, steps=300, progress=False, mode="torch")
    weights = write_state(model_state(model), tmp / "p.safetensors")
    m = load_float_model(weights)
    cert = _write(weights, hybrid_prover.proof(m, hybrid_prover.cubic_part(cubic_prover.case_sets(m))), tmp)
    return weights, cert


def test_partial_model_is_a_real_test(partial):
    weights, cert = partial
    doc = json.loads(cert.read_text())
    n, total = doc["evidence"]["correct_inputs"], doc["evidence"]["total_inputs"]
    covered = Fraction(cubic_prover.prove(load_float_model(weights)).bound) * total
    assert 0 < covered < n < total   # some covered, some residue inputs right, some wrong
    assert check_file(str(cert)).verdict == "accepted"


@pytest.mark.parametrize("mutation,verdict", [
    (lambda d: _claim(d["evidence"]["correct_inputs"] + 1, d["evidence"]["total_inputs"])(d), "rejected"),
    (lambda d: _claim(d["evidence"]["correct_inputs"] - 1, d["evidence"]["total_inputs"])(d), "rejected"),
    (lambda d: d["evidence"].__setitem__("total_inputs", d["evidence"]["total_inputs"] + 1), "rejected"),
    (lambda d: d["evidence"]["cases"][-1].__setitem__(3, d["evidence"]["cases"][-1][1] + 1), "error"),
    (lambda d: d["evidence"]["cases"].append(d["evidence"]["cases"][0]), "error"),
    (lambda d: d["evidence"].pop("correct_inputs"), "error"),
    (lambda d: d["evidence"].__setitem__("extra", 1), "error"),
    (lambda d: d["strategy"]["parameters"].__setitem__("compact", "quartic"), "error"),
    (lambda d: d["strategy"]["parameters"].__setitem__("extra", 1), "error"),
    (lambda d: d["strategy"].__setitem__("parameters", {}), "error"),
    (lambda d: d["claim"].__setitem__("accuracy_lower_bound", "1/1"), "rejected"),
])
def test_known_bad_certificates(partial, mutation, verdict):
    _, cert = partial
    r = check_file(str(edited_copy(cert, mutation)))
    assert r.verdict == verdict, r.reason


def test_false_case_is_rejected(partial):
    """A case claiming more values than pass (here: every value) is refused, not moved to the residue."""
    weights, cert = partial
    m = load_float_model(weights)
    found = cubic_prover.case_sets(m)
    cases = {(q, mx, c) for q, mx, c, _ in found}
    extra = next([q, mx, c, mx] for q in range(m.d_vocab) for mx in range(q, m.d_vocab)
                 for c in range(1, m.k if q == mx else m.k - 1) if mx > 1 and (q, mx, c) not in cases)
    r = check_file(str(edited_copy(cert, lambda d: d["evidence"]["cases"].append(extra))))
    assert r.verdict == "rejected" and "fewer than the claimed" in r.reason


def test_dropping_cases_keeps_the_exact_bound(partial):
    """Any subset of the proven cases gives the same exact count: the residue absorbs the rest."""
    _, cert = partial
    bound = check_file(str(cert)).bound
    for keep in (lambda cs: cs[::2], lambda cs: cs[1::3], lambda cs: []):
        r = check_file(str(edited_copy(cert, lambda d: d["evidence"].__setitem__("cases", keep(d["evidence"]["cases"])))))
        assert (r.verdict, r.bound) == ("accepted", bound), r.reason


MUTANTS = {
    "residue drops a block": lambda orig: lambda *a: itertools.islice(orig(*a), 1, None),
    "residue repeats a block": lambda orig: lambda *a: (b for blk in orig(*a) for b in (blk, blk)),
    "residue drops a row": lambda orig: lambda *a: ((q, I, m[1:], X[1:]) for q, I, m, X in orig(*a)),
}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_residue_mutants_fail_the_honest_certificate(partial, monkeypatch, name):
    _, cert = partial
    monkeypatch.setattr(hybrid, "residue", MUTANTS[name](hybrid.residue))
    assert check_file(str(cert)).verdict == "rejected"


def _weaken(monkeypatch, stage: str) -> None:
    """Make stage A decide (nearly) nothing, or skip stage B, so that later stages see more."""
    if stage == "A":
        init = hybrid._Model.__init__

        def weak(self, p, weights=None):
            init(self, p, weights)
            self.ov_min = np.full_like(self.ov_min, -np.inf)
        monkeypatch.setattr(hybrid._Model, "__init__", weak)
    else:
        monkeypatch.setattr(hybrid, "R", 0)


@pytest.mark.parametrize("weakened", [["A"], ["B"], ["A", "B"]])
def test_later_stages_alone_are_exact(partial, monkeypatch, weakened):
    """Stage B alone after a useless A, and stage C (brute force's per-logit stage) alone."""
    _, cert = partial
    bound = check_file(str(cert)).bound
    for stage in weakened:
        _weaken(monkeypatch, stage)
    r = check_file(str(cert))
    assert (r.verdict, r.bound) == ("accepted", bound), r.reason


@pytest.mark.parametrize("stage", ["A", "B", "C"])
def test_stage_that_accepts_everything_fails_the_honest_certificate(partial, monkeypatch, stage):
    """If any one stage called every input it sees correct, the count would be too high (stage C
    is shown every input stage A leaves, with stage B skipped)."""
    _, cert = partial
    if stage == "A":
        monkeypatch.setattr(hybrid.bf, "rounded_sum", lambda x, step=None: np.full(len(x), np.inf))
    elif stage == "B":
        monkeypatch.setattr(hybrid._Query, "_candidates",
                            lambda self, I, m, X: (np.ones(len(m), bool), np.zeros(len(m), bool)))
    else:
        _weaken(monkeypatch, "B")
        monkeypatch.setattr(hybrid._Query, "_per_logit", lambda self, toks, m: len(m))
    assert check_file(str(cert)).verdict == "rejected"


def _mpf(f: Fraction):
    import mpmath
    return mpmath.mpf(f.numerator) / f.denominator


def test_upper_bounds_of_gaps_are_upper_bounds(partial):
    """Stage B calls an input wrong when _upper <= 0: each value must bound the exact
    Z (logit_m - logit_j) from above (60-digit mpmath from the exact path terms), and closely."""
    import mpmath
    from checker.paths import exact_paths
    from checker.safetensors import read_weights
    weights, _ = partial
    p = exact_paths(read_weights(str(weights)))
    V, K = p.d_vocab, p.k
    md, rng = hybrid._Model(p), np.random.default_rng(0)
    mpmath.mp.dps = 60
    for q in range(V):
        query = hybrid._Query(md, q)
        toks = rng.integers(0, V, size=(40, K))
        toks[:, K - 1] = q
        m = toks.max(axis=1)
        j = (m + rng.integers(1, V, size=len(m))) % V
        upper = query._upper(toks, m, j)
        top = max(p.qk.n[q].ravel())
        for row, mm, jj, u in zip(toks, m, j, upper):
            exact = sum(mpmath.exp(mpmath.mpf(int(p.qk.n[q, t, i]) - top) * mpmath.mpf(2) ** p.qk.e
                                   / mpmath.sqrt(p.d_head))
                        * _mpf(p.win.fraction((q, mm)) - p.rival.fraction((q, jj)) + p.ov.fraction((t, i, mm))
                                - p.ov.fraction((t, i, jj)))
                        for i, t in enumerate(row))
            assert exact <= u <= exact + abs(exact) * 1e-12 + 1e-12


@pytest.mark.slow
def test_default_zoo_model_exact_accuracy():
    from certify import zoo
    from certify.strategies import get
    e = zoo.lookup(zoo.DEFAULT_MODEL)
    proof = get("hybrid").prove(load_float_model(e.path))
    assert proof.bound == Fraction(e.accuracy)


def test_logit_offset_cancels_before_rounding(partial, tmp_path):
    """A 2^60 offset on every b_U entry (trained b_U is 0, so exactly 2^60) changes no classification; the rebased enclosures cancel it
    exactly, so the count is unchanged and no more work reaches the later stages."""
    from checker.certificate import parse_certificate
    from checker.ops import Ops
    from checker.paths import exact_paths
    from checker.rules import cubic
    from checker.safetensors import read_weights
    from safetensors.numpy import load_file
    weights, cert = partial
    state = load_file(str(weights))
    state["unembed.b_U"] = (state["unembed.b_U"] + np.float32(2.0 ** 60)).astype(np.float32)
    shifted = write_state(state, tmp_path / "offset.safetensors")
    sub = parse_certificate(cert.read_bytes())
    import dataclasses
    sub = dataclasses.replace(sub, strategy="cubic", parameters={},
                              evidence={"cases": sub.evidence["cases"]})
    counts = []
    for path in (weights, shifted):
        w = read_weights(str(path))
        p = exact_paths(w)
        sets = {(q, m, c): sorted(S) if c else [None] for q, m, c, _, S in cubic.proven(sub, w, p)}
        covered = sum(comb(w.k - 1, c) * len(S) ** c for (_, _, c), S in sets.items())
        with Ops() as ops:
            counts.append((covered + hybrid.count_residue(p, sets), ops.count))
    assert counts[1][0] == counts[0][0] == json.loads(cert.read_text())["evidence"]["correct_inputs"]
    assert counts[1][1] <= counts[0][1] * 1.01


def test_residue_over_the_cap_is_out_of_budget(partial, monkeypatch):
    """A residue above MAX_RESIDUE is refused before enumeration: nothing established (exit 3)."""
    _, cert = partial
    monkeypatch.setattr(hybrid, "MAX_RESIDUE", 10)
    r = check_file(str(cert))
    assert (r.verdict, r.exit_code) == ("error", 3) and "MAX_RESIDUE" in r.reason



@pytest.fixture(scope="module")
def wider(tmp_path_factory) -> Path:
    """An honest hybrid certificate (the prover's) of a K=4, vocab 16 model: rows long enough that
    stage B's candidates leave competitors out."""
    tmp = tmp_path_factory.mktemp("wider")
    model, _ = train(Config(4, 16, 8, 8), 7, steps=200, progress=False, mode="torch")
    weights = write_state(model_state(model), tmp / "w.safetensors")
    return _write(weights, hybrid_prover.prove(load_float_model(weights)), tmp)


SOURCE_MUTANTS = {  # (class, method, text, replacement): each lets the residue count a wrong input correct
    "stage A's OV minima from the rows' means": (
        "_Model", "__init__", "self.ovd[:m, :K - 1, m].min(axis=-1)", "self.ovd[:m, :K - 1, m].mean(axis=-1)"),
    "stage A's fixed sums from their second smallest": (
        "_Query", "count", "self.sums(I).min(axis=1)", "np.partition(self.sums(I), 1, axis=1)[:, 1]"),
    "stage B evaluates only its first candidate": (
        "_Query", "_candidates", "new[:, 1:] = J[:, 1:] != J[:, :-1]", "new[:, 1:] = False"),
}


@pytest.mark.parametrize("name", sorted(SOURCE_MUTANTS))
def test_source_mutants_fail_the_honest_certificate(partial, wider, monkeypatch, name):
    """Mutants of the residue's stages (one edit of the rule's text each) must make an honest
    certificate fail: the count they give is not the exact one."""
    import inspect
    import textwrap
    cls, method, text, replacement = SOURCE_MUTANTS[name]
    owner = getattr(hybrid, cls)
    src = textwrap.dedent(inspect.getsource(getattr(owner, method)))
    assert src.count(text) == 1
    scope: dict = {}
    exec(compile(src.replace(text, replacement), hybrid.__file__, "exec"), vars(hybrid), scope)
    verdicts = [check_file(str(cert)).verdict for cert in (partial[1], wider)]
    monkeypatch.setattr(owner, method, scope[method])
    assert [check_file(str(cert)).verdict for cert in (partial[1], wider)] != verdicts == ["accepted"] * 2


def _ranks_by_sorting(r: int, trials: int = 3) -> None:
    rng = np.random.default_rng(r)
    for _ in range(trials):
        table = rng.integers(-3, 4, size=(5, 4, 9)).astype(float)   # ties on purpose
        table[rng.random(table.shape) < 0.1] = np.inf
        ranks = hybrid._Ranks(table, r)
        idx = (rng.integers(0, 5, size=30), rng.integers(0, 4, size=30))
        for _ in range(2):  # the second call reads the rows selected by the first
            rest, top = ranks(*idx)
            for a, b, value, first in zip(*idx, rest, top):
                ordered = np.sort(table[a, b])
                assert value == ordered[r] and sorted(table[a, b][first]) == list(ordered[:r])


@pytest.mark.parametrize("r", [0, 1, 2])
def test_ranks_are_order_statistics(r):
    """Stage B's _Ranks against sorting: the (r+1)-th smallest entry and the r smallest's indices,
    also for rows read again; a mutant taking the largest entry instead is caught."""
    _ranks_by_sorting(r)
    if r:
        import inspect
        import textwrap
        src = textwrap.dedent(inspect.getsource(hybrid._Ranks.__call__))
        scope: dict = {}
        exec(compile(src.replace("part[:, self.r:self.r + 1]", "part[:, -1:]"), hybrid.__file__, "exec"),
             vars(hybrid), scope)
        real = hybrid._Ranks.__call__
        try:
            hybrid._Ranks.__call__ = scope["__call__"]
            with pytest.raises(AssertionError):
                _ranks_by_sorting(r)
        finally:
            hybrid._Ranks.__call__ = real


def test_residue_tables_are_lower_bounds(partial):
    """Stage A's terms T (x at non-max position i, max m) bound w_i C[i, j] from below for every
    j != m, and the fixed sums A[I] bound sum_{i not in I} w_i C[i, j] from below (60-digit mpmath
    from the exact path terms; Z = sum of the weights dropped, as in the rule)."""
    import mpmath
    from checker.paths import exact_paths
    from checker.safetensors import read_weights
    weights, _ = partial
    p = exact_paths(read_weights(str(weights)))
    V, K = p.d_vocab, p.k
    md = hybrid._Model(p)
    mpmath.mp.dps = 60
    for q in range(V):
        query, top = hybrid._Query(md, q), max(p.qk.n[q].ravel())
        w = {(t, i): mpmath.exp(mpmath.mpf(int(p.qk.n[q, t, i]) - top) * mpmath.mpf(2) ** p.qk.e / mpmath.sqrt(p.d_head))
             for t in range(V) for i in range(K)}
        gap = lambda t, i, m, j: w[t, i] * _mpf(p.win.fraction((q, m)) - p.rival.fraction((q, j))
                                                + p.ov.fraction((t, i, m)) - p.ov.fraction((t, i, j)))
        for m in range(q, V):
            for x in range(m):
                for i in range(K - 1):
                    assert query.T[query.start[m - q] + x, i] <= min(gap(x, i, m, j) for j in range(V) if j != m)
            for c in range(K):
                for I in itertools.combinations(range(K - 1), c):
                    A = query.sums(I)[m - q]
                    assert A[m] == np.inf
                    for j in range(V):
                        if j != m:
                            assert A[j] <= sum(gap(q if i == K - 1 else m, i, m, j) for i in range(K) if i not in I)


def test_a_long_chain_of_position_sets_needs_no_deep_recursion(tmp_path):
    """V = 2, K = 150, every cubic case claimed but (0, 1, 1): the residue's fixed-position sums
    form a chain of K - 2 nested position sets. With Python's stack cut to 100 frames above this
    test the check still finishes (formed recursively, one frame per set, K ~ 1,000 crashed it with
    a RecursionError under the default limit)."""
    weights = write_state(random_state(Config(150, 2, 4, 4), 8), tmp_path / "w.safetensors")
    m = load_float_model(weights)
    found = [case for case in cubic_prover.case_sets(m) if case[:3] != (0, 1, 1)]
    cert = _write(weights, hybrid_prover.proof(m, hybrid_prover.cubic_part(found)), tmp_path)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 100)
    try:
        result = check_file(str(cert))
    finally:
        sys.setrecursionlimit(limit)
    assert result.verdict == "accepted", result.reason
