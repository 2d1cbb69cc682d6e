"""Differential tests of the compact rules' case decisions, on every candidate case of tiny models.

For each model every candidate case is decided twice, by the float64 filter (falling back to the
exact decision where it cannot decide) and by the exact decision alone (the filter forced to decide
nothing), and checked against the truth:

* an accepted case must cover only inputs the model classifies correctly (per-input decisions from an
  independent float64 forward pass over the exact path terms, with checker.rules.brute_force's exact
  per-gap sign where the float margin is small);
* the filter may only accept what the exact decision accepts (both decide the same inequality, the
  filter with outward rounding), so the two modes must accept the same cubic values / the filter's
  subcubic cases must be exactly accepted;
* each exact obligation is checked as what docs/soundness.md says it is: a lower bound, for every
  input of its triple, of Z (logit_m - logit_j) (normalised as the obligation is), and with the
  penalty terms' coefficients <= 0 (they multiply upper bounds of attention weights);
* the cubic inequality is recomputed independently from the path terms (docs, "Cubic rule") and
  must give the same verdict on every value whose margin is not tiny.

Several models are made so that the rules' bounds are nearly tight: d_head = 2 with the subcubic
hint directions along the coordinate axes (the attention residual then has spread 0 under
err=maxdiff), sharp attention, large positional scores, a dominant direct path (negative penalty
values), so that the weakenings found by mutation testing (docs/soundness.md, "Mutation testing of
the checker") make a test fail.
"""
from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

import checker.rules.cubic as cubic_rule
import checker.rules.subcubic as subcubic_rule
from certify.model import Config
from checker.certificate import Certificate
from checker.dyadic import Dyadic
from checker.paths import Paths, exact_paths
from checker.rules import Reject
from checker.rules.brute_force import _exact_gap_sign
from checker.safetensors import read_weights

from conftest import model_state, random_state, write_state

REL = 1e-9  # relative float64 tolerance of the truth's normalised gaps


# ---------------------------------------------------------------- models

def _tweak(state: dict, **scale) -> dict:
    names = {"qk": ["blocks.0.attn.W_Q", "blocks.0.attn.W_K"], "pos": ["pos_embed.W_pos"],
             "ov": ["blocks.0.attn.W_O"], "unembed": ["unembed.W_U"], "bq": ["blocks.0.attn.b_Q"],
             "bk": ["blocks.0.attn.b_K"]}
    out = dict(state)
    for key, factor in scale.items():
        for name in names[key]:
            out[name] = (out[name] * factor).astype(np.float32)
    return out


def _trained(cfg: Config, seed: int, steps: int) -> dict:
    from certify.train import train
    model, _ = train(cfg, seed, steps=steps, progress=False, mode="torch")
    state = model_state(model)
    rng = np.random.default_rng(seed)
    for name in state:
        if ".b_" in name:  # trained biases stay at zero: perturb them
            state[name] = (state[name] + rng.normal(size=state[name].shape) * 0.3).astype(np.float32)
    return state


def _well_trained(cfg: Config, seed: int, steps: int, bias: float = 0.0) -> dict:
    """Trained long enough that the paper's (weaker) reasoning proves many cases; biases perturbed
    by `bias` (the trained ones stay at zero)."""
    from certify.train import train
    state = model_state(train(cfg, seed, steps=steps, progress=False, mode="torch")[0])
    rng = np.random.default_rng(seed)
    return {k: (v + rng.normal(size=v.shape) * bias).astype(np.float32) if ".b_" in k else v
            for k, v in state.items()}


# name -> a function building the float32 state (each tiny: at most 6**3 or 5**4 inputs)
MODELS = {
    "v6k3-long": lambda: _well_trained(Config(3, 6, 8, 4), 21, 800),
    "v5k4-long-bias": lambda: _well_trained(Config(4, 5, 8, 4), 22, 800, bias=0.05),
    # d_head = 2: rank-2 hints along the axes make the subcubic attention bound exact
    "v4k3-d2-sharp": lambda: _tweak(random_state(Config(3, 4, 4, 2), 11, biases=True), qk=2.5, pos=2.0),
    "v3k2-d2-pos": lambda: _tweak(random_state(Config(2, 3, 3, 2), 12, biases=True), qk=2.0, pos=3.0),
    "v5k3-d2-trained": lambda: _tweak(_trained(Config(3, 5, 6, 2), 13, 200), qk=1.5),
    "v6k3-trained": lambda: _trained(Config(3, 6, 6, 3), 14, 250),
    "v5k4-trained-pos": lambda: _tweak(_trained(Config(4, 5, 6, 2), 15, 250), pos=2.0),
    # the direct path dominates (tiny W_O): penalty values go negative
    "v4k3-direct": lambda: _tweak(random_state(Config(3, 4, 4, 2), 16, biases=True), ov=0.02, unembed=3.0, qk=2.0),
    "v5k2-d3": lambda: _tweak(random_state(Config(2, 5, 5, 3), 17, biases=True, bias_scale=1.0), qk=3.0),
}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """name -> (weights, path, Truth), each built once per module."""
    cache: dict = {}

    def get(name: str):
        if name not in cache:
            path = write_state(MODELS[name](), tmp_path_factory.mktemp("rule_exact") / f"{name}.safetensors")
            w = read_weights(str(path))
            cache[name] = (w, path, Truth(w))
        return cache[name]
    return get


def _f(x: Fraction | int) -> float:
    return float(Fraction(x))


class Truth:
    """Every input's verdict and its normalised logit gaps, from the exact path terms."""

    def __init__(self, w) -> None:
        p = self.p = exact_paths(w)
        V, K, d = w.d_vocab, w.k, w.d_head
        self.V, self.K, self.d = V, K, d
        self.tops = [int(max(p.qk.n[q].ravel())) for q in range(V)]
        # score relative to the query's top numerator, as both rules normalise: sigma * sqrt(d)
        self.sig = np.array([[[_f((int(p.qk.n[q, t, i]) - self.tops[q]) * Fraction(2) ** p.qk.e)
                               for i in range(K)] for t in range(V)] for q in range(V)])
        win = np.vectorize(lambda v: _f(Fraction(int(v)) * Fraction(2) ** p.win.e))(p.win.n).astype(float)
        rival = np.vectorize(lambda v: _f(Fraction(int(v)) * Fraction(2) ** p.rival.e))(p.rival.n).astype(float)
        ov = np.vectorize(lambda v: _f(Fraction(int(v)) * Fraction(2) ** p.ov.e))(p.ov.n).astype(float)
        self.toks = np.array(list(itertools.product(range(V), repeat=K)), dtype=np.int64)
        toks, pos = self.toks, np.arange(K)
        q, m = toks[:, K - 1], toks.max(axis=1)
        self.q, self.m = q, m
        nonq = toks[:, :K - 1]
        self.c = (nonq < m[:, None]).sum(axis=1)
        self.y = np.where(nonq < m[:, None], nonq, -1).max(axis=1)  # largest non-max value, -1 if none
        e = np.exp(self.sig[q[:, None], toks, pos] / math.sqrt(d))                       # [N, K]
        C = (win[q, m][:, None, None] - rival[q][:, None, :]
             + ov[toks, pos, m[:, None]][:, :, None] - ov[toks, pos])                     # [N, K, V]
        gap = (e[:, :, None] * C).sum(axis=1)
        scale = (e[:, :, None] * np.abs(C)).sum(axis=1)
        N = len(toks)
        gap[np.arange(N), m] = np.inf
        Cmin = C.copy()
        Cmin[np.arange(N), :, m] = np.inf
        self.cmin = Cmin.min(axis=2)                   # [N, K]: min_{j != m} C_ij
        self.cscale = np.abs(C).max(axis=2)
        self.gap, self.scale, self.e = gap, scale, e
        correct = (gap > REL * scale).all(axis=1)
        unsure = (np.abs(gap) <= REL * scale).any(axis=1)
        for n in np.flatnonzero(unsure):  # decide exactly (brute_force's exact per-gap sign)
            correct[n] = all(_exact_gap_sign(p, int(q[n]), toks[n], int(m[n]), j) > 0
                             for j in range(V) if j != m[n])
        self.correct = correct
        self.mingap = gap.min(axis=1)                  # min_j sum_i e_i C_ij (top-normalised)
        self.minscale = scale.max(axis=1)
        held = (toks == m[:, None])
        held[:, K - 1] = q == m                         # G: the non-query positions holding m, and the query if q = m
        self.held = held
        self.mu = np.where(held, e, np.inf).min(axis=1)  # min weight on G

    def triple(self, q: int, m: int, c: int) -> np.ndarray:
        return (self.q == q) & (self.m == m) & (self.c == c)


# ---------------------------------------------------------------- cubic

def _cubic_independent(tr: Truth, q: int, m: int, c: int) -> dict:
    """The cubic inequality's value per value x (None for c = 0), from the docs' formulas, in float64."""
    p, V, K, d = tr.p, tr.V, tr.K, tr.d
    D = lambda a, j: _f(p.win.fraction((a, j))) if j == m else _f(p.rival.fraction((a, j)))
    O = lambda t, i, j: _f(p.ov.fraction((t, i, j)))
    ee = lambda t, i: math.exp(tr.sig[q, t, i] / math.sqrt(d))
    js = [j for j in range(V) if j != m]
    good_pos = list(range(K - 1)) + ([K - 1] if q == m else [])
    good = min(_f(p.win.fraction((q, m))) - D(q, j) + O(m, i, m) - O(m, i, j) for i in good_pos for j in js)
    maxdd = max(D(q, j) - _f(p.win.fraction((q, m))) for j in js)
    pen = lambda t, i: max(0.0, maxdd + max(O(t, i, j) - O(t, i, m) for j in js))
    w_min = sum(sorted(ee(m, i) for i in range(K - 1))[:K - 1 - c]) + (ee(m, K - 1) if q == m else 0.0)
    qpen = ee(q, K - 1) * pen(q, K - 1) if q < m else 0.0
    base = w_min * good - qpen
    size = w_min * abs(good) + qpen
    if c == 0:
        return {None: (good, base, size)}
    return {x: (good, base - c * max(ee(x, i) * pen(x, i) for i in range(K - 1)),
                size + c * max(ee(x, i) * pen(x, i) for i in range(K - 1))) for x in range(m)}


def _ob_value(terms, d: int) -> float:
    return sum(_f(a) * math.exp(_f(b) / math.sqrt(d)) for a, b in terms)


def _cubic_cases(V: int, K: int):
    return [(q, m, c) for m in range(V) for q in range(m + 1) for c in range(K if q == m else K - 1)]


def _cubic_cert(w, path, cases) -> Certificate:
    return Certificate(w.k, w.d_vocab, "exact-real", Fraction(0), w.sha256, str(path), "cubic", {},
                       {"cases": [list(x) for x in cases]})


def _no_cubic_filter(self, q, m, c, xs):
    return np.zeros(len(xs) if c else (), bool)  # the filter decides nothing: every value goes to the exact decision


def _forced_cubic(t: cubic_rule._Tables) -> cubic_rule._Tables:
    t.filter = lambda *a: _no_cubic_filter(t, *a)
    return t


def _at_least(t: cubic_rule._Tables, q: int, m: int, c: int, n: int) -> bool:
    return len(t.passing(q, m, c, n)) >= n


CUBIC_MODELS = ["v4k3-d2-sharp", "v3k2-d2-pos", "v5k3-d2-trained", "v6k3-trained", "v5k4-trained-pos",
                "v4k3-direct", "v5k2-d3"]


@pytest.mark.parametrize("name", CUBIC_MODELS)
def test_cubic_every_case_against_truth(name, model, monkeypatch):
    w, path, tr = model(name)
    V, K, d = w.d_vocab, w.k, w.d_head
    p = tr.p
    filt, exact = cubic_rule._Tables(p), _forced_cubic(cubic_rule._Tables(p))
    claims, refused_claim, checked_values, disagreements = [], None, 0, []
    for q, m, c in _cubic_cases(V, K):
        want = max(m, 1) if c else 1
        s_filt = filt.passing(q, m, c, want)
        s_exact = exact.passing(q, m, c, want)
        # the filter decides the same inequality, soundly: the same values pass
        assert sorted(s_filt, key=str) == sorted(s_exact, key=str), (q, m, c, s_filt, s_exact)
        # the same verdicts as the inequality recomputed from the docs (where not within rounding)
        for x, (good, value, size) in _cubic_independent(tr, q, m, c).items():
            checked_values += 1
            if good > 1e-9 * size and abs(value) > 1e-9 * size:
                if (x in s_exact) != (value > 0):
                    disagreements.append((q, m, c, x, value))
            elif good < -1e-9 * size:
                assert x not in s_exact
        # truth: every input the case covers is classified correctly
        tri = tr.triple(q, m, c)
        S = set(x for x in s_exact if x is not None)
        for n in np.flatnonzero(tri & ~tr.correct):
            nonmax = [int(t) for t in tr.toks[n, :K - 1] if t < m]
            covered = (c == 0 and s_exact == [None]) or (c > 0 and set(nonmax) <= S)
            assert not covered, f"case q={q} m={m} c={c} accepts S={sorted(S)} but misclassifies {tr.toks[n]}"
        # each obligation is a lower bound of the (top-normalised) gap of every input of the triple
        good_terms = exact.sums(q, m, c, None if c == 0 else 0)
        if good_terms[0][0][0] > 0:  # good > 0 (the first term's coefficient)
            for ob in good_terms:
                assert all(coef <= 0 for coef, _ in ob[len(ob) - (q < m) - (c > 0):]), ob
            for n in np.flatnonzero(tri):
                if c == 0:
                    bound = _ob_value(good_terms[0], d)
                else:
                    common = _ob_value(good_terms[0][:-1], d)
                    bound = common + sum(_ob_value([exact.sums(q, m, c, int(tr.toks[n, i]))[i][-1]], d) / c
                                         for i in range(K - 1) if tr.toks[n, i] < m)
                assert tr.mingap[n] >= bound - REL * tr.minscale[n], (q, m, c, tr.toks[n], tr.mingap[n], bound)
        # the largest n accepted is |S|; one more is refused
        n_pass = len(s_exact)
        if n_pass:
            claims.append((q, m, c, n_pass))
            assert _at_least(filt, q, m, c, n_pass) and _at_least(exact, q, m, c, n_pass)
        if c and n_pass < m:
            assert not _at_least(filt, q, m, c, n_pass + 1)
            assert not _at_least(exact, q, m, c, n_pass + 1)
            refused_claim = refused_claim or (q, m, c, n_pass + 1)
    assert not disagreements, disagreements
    # the rule itself, with the filter as is and with it forced to decide nothing
    expected = sum(math.comb(K - 1, c) * n ** c for q, m, c, n in claims)
    assert expected <= int(tr.correct.sum())
    for forced in (False, True):
        if forced:
            monkeypatch.setattr(cubic_rule._Tables, "filter", _no_cubic_filter)
        assert cubic_rule.rule(_cubic_cert(w, path, claims), w) == Fraction(expected, V ** K)
        if refused_claim:
            bad = [x for x in claims if x[:3] != refused_claim[:3]] + [refused_claim]
            with pytest.raises(Reject):
                cubic_rule.rule(_cubic_cert(w, path, bad), w)
    assert checked_values > 0


# ---------------------------------------------------------------- subcubic

def _decided(t, cases, flt, tr: Truth):
    """Each candidate case decided exactly, with the inputs it covers; asserts the filter is a sound
    approximation of the same inequality and that an accepted case covers only correct inputs."""
    for (q, m, c, g), f_ok in zip(cases, flt):
        ok = t.case_holds(q, m, c, g)
        assert ok or not f_ok, f"filter accepts case {(q, m, c, g)} that the exact decision refuses"
        covered = tr.triple(q, m, c) & (tr.y <= m - g)
        assert not ok or tr.correct[covered].all(), \
            f"case {(q, m, c, g)} accepted but misclassifies {tr.toks[covered & ~tr.correct][:3].tolist()}"
        yield (q, m, c, g), ok, covered


def _subcubic_cases(V: int, K: int):
    return [(q, m, c, g) for m in range(V) for q in range(m + 1) for c in range(K if q == m else K - 1)
            for g in ([0] if c == 0 else range(1, m + 1))]


def _dyadic_str(x: float) -> str:
    f = Fraction(float(x))
    return f"{f.numerator}/{f.denominator}"


def _directions(kind: str, w, path, variant, seed: int) -> dict:
    d = w.d_head
    rank2 = variant[1] == "rank2-query"
    if kind == "prover":
        from certify.paths import load_float_model
        from certify.strategies import subcubic
        ev = subcubic.prove_variant(load_float_model(path), *variant).evidence
        return {k: v for k, v in ev.items() if k != "cases"}
    if kind == "axes":
        unit = lambda k: [1 if i == k else 0 for i in range(d)]
        return {"direction": unit(0), **({"direction2": unit(1)} if rank2 else {})}
    rng = np.random.default_rng(seed)
    rnd = lambda: [_dyadic_str(np.round(x * 64) / 64 or 1 / 64) for x in rng.normal(size=d)]
    return {"direction": rnd(), **({"direction2": rnd()} if rank2 else {})}


def _subcubic_cert(w, path, variant, dirs, cases) -> Certificate:
    return Certificate(w.k, w.d_vocab, "exact-real", Fraction(0), w.sha256, str(path), "subcubic",
                       dict(zip(("eupu", "attn", "err"), variant)), {**dirs, "cases": [list(x) for x in cases]})


def _check_subcubic(model, name: str, variant: tuple, kind: str, seed: int, monkeypatch) -> None:
    w, path, tr = model(name)
    V, K, d = w.d_vocab, w.k, w.d_head
    dirs = _directions(kind, w, path, variant, seed)
    t = subcubic_rule.tables(_subcubic_cert(w, path, variant, dirs, []), w)
    cases = _subcubic_cases(V, K)
    flt = t.filter(np.array(cases, dtype=np.int64))
    accepted, rejected = [], []
    for (q, m, c, g), ex_ok, covered in _decided(t, cases, flt, tr):
        (accepted if ex_ok else rejected).append((q, m, c, g))
        ob = t.sums(q, m, c, g)[0]
        if ob[0][0] <= 0:
            continue  # good <= 0: the sum cannot be > 0 (its other terms are <= 0)
        # penalty coefficients are <= 0 (they multiply upper bounds of attention ratios)
        assert ob[0][0] > 0 and ob[0][1] == 0 and all(coef <= 0 for coef, _ in ob[1:]), (q, m, c, g, ob)
        # the obligation is a lower bound of Z (logit_m - logit_j) / min_G w for every covered input
        bound = _ob_value(ob, d)
        idx = np.flatnonzero(covered)
        ratio = tr.mingap[idx] / tr.mu[idx]
        slack = REL * tr.minscale[idx] / tr.mu[idx] + 1e-12 * abs(bound)
        assert (ratio >= bound - slack).all(), (q, m, c, g, bound, ratio.min())
        # ... and so is each of its ingredients (docs, "Subcubic rules"), on every covered input:
        # good <= C_ij(m) on G; qpen >= -C_{K-1,j}(q) and w_{K-1} / mu <= exp(B / sqrt d) (q < m);
        # PEN >= -C_ij(x) and w_i / mu <= exp(A / sqrt d) on the non-max positions (c > 0)
        tol = lambda n: REL * (1 + tr.cscale[n].max())
        n_g = K - 1 - c + (q == m)
        rest = ob[1:]
        for n in idx:
            held = tr.held[n]
            assert tr.cmin[n][held].min() >= _f(ob[0][0]) / n_g - tol(n), ("good", q, m, c, g, tr.toks[n])
            if q < m:
                coef, arg = rest[0]
                assert -tr.cmin[n, K - 1] <= -_f(coef) + tol(n), ("qpen", q, m, c, g, tr.toks[n])
                assert tr.e[n, K - 1] / tr.mu[n] <= math.exp(_f(arg) / math.sqrt(d)) * (1 + 1e-9), \
                    ("r_q", q, m, c, g, tr.toks[n])
            if c:
                coef, arg = rest[-1]
                nonmax = [i for i in range(K - 1) if not held[i]]
                assert (-tr.cmin[n, nonmax] <= -_f(coef) / c + tol(n)).all(), ("PEN", q, m, c, g, tr.toks[n])
                assert (tr.e[n, nonmax] / tr.mu[n] <= math.exp(_f(arg) / math.sqrt(d)) * (1 + 1e-9)).all(), \
                    ("r_x", q, m, c, g, tr.toks[n])
    # the rule, with the filter as is and forced to decide nothing: accepts exactly the accepted cases
    best: dict = {}
    for q, m, c, g in accepted:  # one case per triple: its smallest accepted gap covers the most
        best.setdefault((q, m, c), g)
    claims = [(*key, g) for key, g in best.items()]
    count = sum(math.comb(K - 1, c) * (m - g + 1) ** c if c else 1 for q, m, c, g in claims)
    assert count <= int(tr.correct.sum())
    false_case = next((x for x in rejected if x[:3] not in best), rejected[0] if rejected else None)
    for forced in (False, True):
        if forced:
            monkeypatch.setattr(subcubic_rule._Tables, "filter",
                                lambda self, cs: np.zeros(len(cs), dtype=bool))
        assert subcubic_rule.rule(_subcubic_cert(w, path, variant, dirs, claims), w) \
            == Fraction(count, V ** K)
        if false_case is not None:
            bad = [x for x in claims if x[:3] != false_case[:3]] + [false_case]
            with pytest.raises(Reject):
                subcubic_rule.rule(_subcubic_cert(w, path, variant, dirs, bad), w)


RANK2 = ("exact", "rank2-query", "maxdiff")
SUBCUBIC_RUNS = [
    # (model, variant, direction source)
    ("v4k3-d2-sharp", RANK2, "axes"),
    ("v4k3-d2-sharp", RANK2, "prover"),
    ("v4k3-d2-sharp", ("exact", "plain", "maxdiff"), "random"),
    ("v3k2-d2-pos", RANK2, "axes"),
    ("v3k2-d2-pos", ("max-diff", "mean-query", "maxdiff"), "prover"),
    ("v5k3-d2-trained", RANK2, "axes"),
    ("v5k3-d2-trained", RANK2, "prover"),
    ("v5k3-d2-trained", ("exact", "mean-query", "maxdiff"), "random"),
    ("v5k3-d2-trained", ("global-max-diff", "rank2-query", "l2"), "random"),
    ("v6k3-trained", ("exact", "plain", "maxdiff"), "prover"),
    ("v6k3-trained", ("exact", "rank2-query", "min-maxdiff-l2"), "prover"),
    ("v6k3-trained", ("mean-query-max-diff", "mean-query", "maxdiff-subproduct"), "random"),
    ("v5k4-trained-pos", RANK2, "axes"),
    ("v5k4-trained-pos", ("exact", "plain", "maxdiff"), "prover"),
    ("v4k3-direct", RANK2, "axes"),
    ("v4k3-direct", ("exact", "plain", "maxdiff"), "prover"),
    ("v5k2-d3", ("exact", "rank2-query", "maxdiff"), "random"),
    ("v5k2-d3", ("exact", "plain", "exact-eqke"), "prover"),
]


@pytest.mark.parametrize("name,variant,kind", SUBCUBIC_RUNS,
                         ids=[f"{n}-{'/'.join(v)}-{k}" for n, v, k in SUBCUBIC_RUNS])
def test_subcubic_every_case_against_truth(name, variant, kind, model, monkeypatch):
    _check_subcubic(model, name, variant, kind, seed=len(name) * 31 + len(kind), monkeypatch=monkeypatch)


# ---------------------------------------------------------------- subcubic, the paper's algorithms

def _paper_hints(kind: str, w, path, name: str, seed: int) -> tuple[dict, dict]:
    """(parameters, evidence without cases) of a paper variant: the prover's hints, or random ones
    (any hint vectors and any averaged attention are sound)."""
    from certify.paths import load_float_model
    from certify.strategies import paper
    proof = paper.prove(load_float_model(path), name)
    ev = {k: v for k, v in proof.evidence.items() if k != "cases"}
    if kind == "random":
        rng = np.random.default_rng(seed)
        rnd = lambda n: [_dyadic_str(np.round(x * 64) / 64 or 1 / 64) for x in rng.normal(size=n)]
        ev["svd_left"], ev["svd_right"] = rnd(w.d_vocab), rnd(w.d_vocab)
        if "mean_attention" in ev:
            ev["mean_attention"] = [[_dyadic_str(np.round(x * 16) / 16) for x in rng.uniform(size=w.k)]
                                    for _ in range(w.d_vocab)]
    return proof.parameters, ev


def _paper_ingredients(t, tr: Truth, q: int, m: int, c: int, g: int, idx: np.ndarray) -> None:
    """On every covered input, what docs/soundness.md says the paper's reasoning relies on: the true
    attention on the max positions is >= a_lb (the pessimal arrangement, recomputed here from the
    EQKE bounds), and the true largest wrong-logit difference is <= gap + S + max_k (a - abar) k +
    (1 - a) Wn at the true a."""
    K, d, N_ = tr.K, tr.d, t.exact
    b_q, a_x = subcubic_rule._eqke_bounds(t.exact, q, m, g)  # a_x only read where c > 0, i.e. g >= 1
    p = [_f(t.exact.eqkp[q, i]) for i in range(K)]
    srt = sorted(p[:K - 1])
    N = sum(math.exp(x / math.sqrt(d)) for x in srt[:K - 1 - c] + ([p[K - 1]] if q == m else []))
    M = sum(math.exp((x + _f(a_x)) / math.sqrt(d)) for x in srt[K - 1 - c:]) if c else 0.0
    M += math.exp((p[K - 1] + _f(b_q)) / math.sqrt(d)) if q < m else 0.0
    a_lb = N / (N + M)
    cp = c + (q < m)
    ab, S, gap = _f(N_.p_ab[m, cp]), _f(N_.p_S[m, cp]), _f(N_.p_gap[q])
    wn = max([_f(t.exact.eterm[q, m])] * (q < m) + [_f(t.exact.pref[m - g, m])] * bool(c), default=0.0)
    ks = [_f(N_.p_R[m]), _f(N_.p_Emin[m])]
    # the obligations are C0 + a C1 < 0 at a = a_lb (times N + M) and at a = 1, for both k
    obs = t.sums(q, m, c, g)
    assert len(obs) == 4
    for i, k in enumerate(ks):
        c0, c1 = gap + S - ab * k + wn, k - wn
        for ob, want, scale in ((obs[2 * i], -((c0 + c1) * N + c0 * M), (abs(c0) + abs(c1)) * (N + M)),
                                (obs[2 * i + 1], -(c0 + c1), abs(c0) + abs(c1))):
            assert abs(_ob_value(ob, d) - want) <= 1e-9 * scale + 1e-12, ("obligation", q, m, c, g, k)
    for n in idx:
        z = tr.e[n].sum()
        a = tr.e[n][tr.held[n]].sum() / z
        assert a >= a_lb * (1 - 1e-9), ("a_lb", q, m, c, g, tr.toks[n], a, a_lb)
        worst = -tr.mingap[n] / z  # max_j logit_j - logit_m
        claim = gap + S + max((a - ab) * k for k in ks) + (1 - a) * wn
        assert worst <= claim + 1e-9 * (1 + abs(claim) + tr.minscale[n] / z), ("logit", q, m, c, g, tr.toks[n])


PAPER_RUNS = [
    ("v4k3-d2-sharp", "mean_query+max_diff/mean_query+diff/max_diff", "prover"),
    ("v4k3-d2-sharp", "max_diff_exact/drop_average_query_per_output_logit_reasoning/svd", "random"),
    ("v6k3-long", "max_diff_exact/mean_query+diff/exact_EQKE+max_diff_exact", "prover"),
    ("v6k3-long", "max_diff_exact/drop_average_query_per_output_logit_reasoning/svd", "prover"),
    ("v6k3-long", "svd_query+max_diff/mean_query+diff/max_diff", "random"),
    ("v6k3-long", "max_diff/drop_average_query_per_output_logit_reasoning/max_diff_subproduct_recursive", "prover"),
    ("v5k4-long-bias", "global_max_diff_exact/mean_query+diff/mean+max_diff_subproduct", "prover"),
    ("v5k4-long-bias", "mean_query+max_diff/mean_query+diff/max_diff_exact", "prover"),
    ("v5k4-long-bias", "max_diff_exact/mean_query+diff/max_diff", "random"),
    ("v5k3-d2-trained", "mean_query+max_diff/mean_query+diff/mean_recursive+max_diff_subproduct_recursive", "prover"),
    ("v6k3-trained", "mean_query+max_diff/drop_average_query_per_output_logit_reasoning/exact_EQKE+max_diff_exact", "prover"),
    ("v5k2-d3", "max_diff_exact/mean_query+diff/mean+max_diff", "random"),
]


@pytest.mark.parametrize("name,variant,kind", PAPER_RUNS, ids=[f"{n}-{v}-{k}" for n, v, k in PAPER_RUNS])
def test_paper_variant_every_case_against_truth(name, variant, kind, model):
    """Every candidate case decided exactly under the paper's logit reasoning (attn=svd or exact EQKE):
    an accepted case covers only correctly classified inputs; the rule accepts exactly the accepted
    claims and rejects a certificate adding one refused case."""
    w, path, tr = model(name)
    V, K = w.d_vocab, w.k
    par, ev = _paper_hints(kind, w, path, "paper:" + variant, seed=len(name) * 7 + len(kind))
    cert = lambda cases: Certificate(w.k, w.d_vocab, "exact-real", Fraction(0), w.sha256, str(path), "subcubic",
                                     par, {**ev, "cases": [list(x) for x in cases]})
    t = subcubic_rule.tables(cert([]), w)
    accepted, rejected = [], []
    cands = _subcubic_cases(V, K)
    flt = t.filter(np.array(cands, dtype=np.int64))
    for (q, m, c, g), ok, covered in _decided(t, cands, flt, tr):
        (accepted if ok else rejected).append((q, m, c, g))
        _paper_ingredients(t, tr, q, m, c, g, np.flatnonzero(covered))
    assert accepted or kind == "random", "no case holds: the run tests nothing"
    assert flt.sum() >= 0.5 * len(accepted) or len(accepted) < 4, "the filter decides almost nothing"
    best: dict = {}
    for q, m, c, g in accepted:
        best.setdefault((q, m, c), g)
    claims = [(*key, g) for key, g in best.items()]
    count = sum(math.comb(K - 1, c) * (m - g + 1) ** c if c else 1 for q, m, c, g in claims)
    assert count <= int(tr.correct.sum())
    assert subcubic_rule.rule(cert(claims), w) == Fraction(count, V ** K)
    false_case = next((x for x in rejected if x[:3] not in best), rejected[0] if rejected else None)
    if false_case is not None:
        with pytest.raises(Reject):
            subcubic_rule.rule(cert([x for x in claims if x[:3] != false_case[:3]] + [false_case]), w)


def test_exact_gap_sign_aligns_win_and_rival_at_their_own_exponents():
    """win[0, 0] = 3 (exponent 0) and rival[0, 1] = 2 held as 4 * 2^-1: the gap is 3 - 2 = 1 > 0.
    Subtracting the numerators before aligning (as if rival had win's exponent) gives 3 - 4 < 0."""
    zeros = lambda *shape: np.zeros(shape, dtype=np.int64).astype(object)
    direct = Dyadic(zeros(2, 2), 0)
    win = Dyadic(np.array([[3, 0], [0, 0]], dtype=object), 0)
    rival = Dyadic(np.array([[0, 4], [0, 0]], dtype=object), -1)
    p = Paths(2, 2, 1, Dyadic(zeros(2, 2, 2), 0), Dyadic(zeros(2, 2, 2), 0), direct, win, rival)
    assert _exact_gap_sign(p, 0, np.array([0, 0]), 0, 1) == 1
