"""Adversarial weights (issue #7): models crafted so that float32 or float64 evaluation misjudges the
argmax, checked against an independent exact oracle.

* huge magnitudes: weights up to 2**127 (float32 overflows; scores around 2**250 make every exp
  underflow in float64, so a float softmax is one-hot and the deciding terms vanish);
* subnormal float32 weights (2**-149 .. 2**-127): the decisive logit gaps are products of
  subnormals (~2**-420), next to ~2**-130 terms that cancel, and attention scores ~2**-290 (exp = 1
  in any float format) decide gaps whose path terms cancel exactly;
* catastrophic cancellation: +-2**125 direct-path logits cancelled by the attention output (the
  softmax weights sum to exactly 1), leaving 2**-20-sized gaps whose sign is decided by exp near-ties;
* models the compact rules can partly prove (attention on the max, OV favouring it) with the same
  cancellations, so the cubic and subcubic float filters straddle 0 and their exact fallbacks decide;
* random float32 values over the whole finite range (zero, subnormal to 2**127, both signs);
* NaN / +Inf / -Inf in any tensor: refused with a clear message, never a traceback.

The oracle (`exact_correct`) is independent of checker/ and certify/: a Fraction forward pass of the
model as written in docs/semantics.md (d_head in {1, 4} so 1/sqrt(d_head) is rational), and the sign
of each logit gap sum_i C_i exp(s_i) decided by merging equal scores exactly, then by mpmath at a
precision that represents every coefficient and argument exactly, accepting a sign only if the sum
exceeds 2**32 times the evaluation's error bound (otherwise it doubles the precision, and fails the
test rather than guess). On top of the brute-force count, the cubic and subcubic rules are run on
every single case of each model: whatever they accept must be true of the oracle's inputs.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import subprocess
import sys
from fractions import Fraction
from math import comb
from pathlib import Path

import mpmath
import numpy as np
import pytest
from safetensors.numpy import save

import checker.rules.cubic as cubic_rule
import checker.rules.subcubic as subcubic_rule
from certify.model import PARAM_SHAPES, Config
from checker.certificate import Certificate
from checker.check import check_file
from checker.errors import OutOfBudget
from checker.paths import exact_paths
from checker.rules import Reject
from checker.rules.brute_force import count_correct
from checker.safetensors import NAMES, read_weights
from conftest import REPO, float64_count, write_state, zero_state

# ------------------------------------------------------------------ the exact oracle


def _fractions(a: np.ndarray) -> list[list[Fraction]]:
    return [[Fraction(float(x)) for x in row] for row in np.atleast_2d(np.asarray(a, dtype=np.float32))]


def exact_sign(coeffs: list[Fraction], args: list[Fraction]) -> int:
    """The exact sign of sum_k coeffs[k] * exp(args[k]) for dyadic rationals."""
    merged: dict[Fraction, Fraction] = {}
    for c, a in zip(coeffs, args):
        merged[a] = merged.get(a, 0) + c
    terms = [(c, a) for a, c in merged.items() if c != 0]
    if not terms:
        return 0  # identically zero: an exact tie
    if len(terms) == 1:
        return 1 if terms[0][0] > 0 else -1
    top = max(a for _, a in terms)
    terms = [(c, a - top) for c, a in terms]  # multiply by exp(-top) > 0: arguments <= 0
    assert all(x.denominator & (x.denominator - 1) == 0 for t in terms for x in t), "not dyadic"
    bits = max(max(abs(x.numerator).bit_length(), x.denominator.bit_length()) for t in terms for x in t)
    prec = bits + 256  # every coefficient and argument is an exact mpf at this precision
    while prec <= 1 << 15:
        with mpmath.workprec(prec):
            exact = lambda x: mpmath.mpf(x.numerator) / x.denominator  # dyadic: exact
            vals = [exact(c) * mpmath.exp(exact(a)) for c, a in terms]
            total, scale = mpmath.fsum(vals), mpmath.fsum(abs(v) for v in vals)
            # each value is within a few ulps (2**-prec relative) of the exact term
            if abs(total) > scale * mpmath.mpf(2) ** (32 - prec):
                return 1 if total > 0 else -1
        prec *= 2
    raise AssertionError("oracle could not decide a sign: redesign the model")


def exact_correct(s: dict[str, np.ndarray]) -> dict[tuple[int, ...], bool]:
    """For every input, whether logit[max] > every other logit in exact real arithmetic."""
    V, dm = s["embed.W_E"].shape
    K, dh = s["pos_embed.W_pos"].shape[0], s["blocks.0.attn.W_Q"].shape[-1]
    root = {1: 1, 4: 2, 16: 4}[dh]
    E, P, U = _fractions(s["embed.W_E"]), _fractions(s["pos_embed.W_pos"]), _fractions(s["unembed.W_U"])
    WQ, WK, WV, WO = (_fractions(s[f"blocks.0.attn.W_{n}"][0]) for n in "QKVO")
    bQ, bK, bV = (_fractions(s[f"blocks.0.attn.b_{n}"])[0] for n in "QKV")
    bO, bU = _fractions(s["blocks.0.attn.b_O"])[0], _fractions(s["unembed.b_U"])[0]

    def vm(x, M, b=None):  # row vector times matrix (+ b)
        return [sum(x[r] * M[r][c] for r in range(len(x))) + (b[c] if b else 0) for c in range(len(M[0]))]

    resid = {(t, i): [E[t][c] + P[i][c] for c in range(dm)] for t in range(V) for i in range(K)}
    key = {ti: vm(r, WK, bK) for ti, r in resid.items()}
    val_out = {ti: vm(vm(vm(r, WV, bV), WO), U) for ti, r in resid.items()}   # val_i W_O U
    out = {}
    for toks in itertools.product(range(V), repeat=K):
        q, m = toks[-1], max(toks)
        query = vm(resid[(q, K - 1)], WQ, bQ)
        base = vm([resid[(q, K - 1)][c] + bO[c] for c in range(dm)], U, bU)
        scores = [sum(a * b for a, b in zip(query, key[(t, i)])) / root for i, t in enumerate(toks)]
        # softmax weights sum to 1: Z (logit_m - logit_j) = sum_i exp(s_i) C_i exactly
        out[toks] = all(exact_sign([base[m] - base[j] + val_out[(t, i)][m] - val_out[(t, i)][j]
                                    for i, t in enumerate(toks)], scores) > 0
                        for j in range(V) if j != m)
    return out


# ------------------------------------------------------------------ adversarial models


def saturated_huge(seed: int, V: int = 4, K: int = 3) -> dict[str, np.ndarray]:
    """Scores A * key(t) / 2 with A, key ~ 2**126: attention to the max token is one-hot up to
    exp(-2**250) terms. OV[m, j] = OV[m, m] for j < m, so the max positions contribute exactly 0 to
    those gaps and the sign is decided by the exp(-2**250)-weighted non-max positions (whose
    coefficients are +-2**90..2**126). A float softmax makes these gaps 0 (a tie, wrong)."""
    rng = np.random.default_rng(seed)
    s = zero_state(Config(K, V, 2 * V + 2, 4))
    for t in range(V):
        s["embed.W_E"][t, t] = 1.0
        s["embed.W_E"][t, 2 * V] = 1.0
        s["blocks.0.attn.W_K"][0, t, 0] = t * 2.0 ** 125
        s["blocks.0.attn.W_V"][0, t, t] = 1.0
        s["blocks.0.attn.W_O"][0, t, V + t] = 1.0
    s["pos_embed.W_pos"][:, 2 * V + 1] = rng.integers(-2, 3, K) * 2.0 ** 100
    s["blocks.0.attn.W_K"][0, 2 * V + 1, 0] = 1.0
    s["blocks.0.attn.W_Q"][0, 2 * V, 0] = 2.0 ** 127 * 1.5
    upper = np.triu(np.ones((V, V)), 1) > 0      # OV[t, y] nonzero only for y > t
    R = rng.choice([-1.0, 1.0], (V, V)) * np.ldexp(rng.uniform(1, 2, (V, V)), rng.integers(90, 127, (V, V)))
    s["unembed.W_U"][V:2 * V] = np.where(upper, R, 0.0)
    return s


def cancelling(seed: int, V: int, K: int, big_exp: int = 125) -> dict[str, np.ndarray]:
    """DIRECT[q, y] = (y+1) 2**big_exp, and every value vector carries -(y+1) 2**big_exp through a
    constant head coordinate: since the softmax weights sum to exactly 1 they cancel, leaving gaps
    built from +-3 * 2**-20 entries weighted by exp(score) ~ (t+1) (keys are float32(2 ln(t+1))):
    near-ties of relative size ~2**-24 between attention-weighted terms. float64 sees only the
    2**125 terms (and float32 overflows)."""
    rng = np.random.default_rng(seed)
    s = zero_state(Config(K, V, 2 * V + 3, 4))
    cB = 2 * V + 2
    for t in range(V):
        s["embed.W_E"][t, t] = 1.0
        s["embed.W_E"][t, 2 * V] = 1.0
        s["blocks.0.attn.W_K"][0, t, 0] = np.float32(2 * math.log(t + 1))
        s["blocks.0.attn.W_V"][0, t, t] = 1.0
        s["blocks.0.attn.W_O"][0, t, V + t] = 1.0
    s["blocks.0.attn.W_Q"][0, 2 * V, 0] = 1.0
    s["blocks.0.attn.W_V"][0, 2 * V, 3] = 1.0       # constant route: head dim 3 is 1 for every token
    s["blocks.0.attn.W_O"][0, 3, cB] = 1.0
    big = np.float32(2.0 ** big_exp) * (np.arange(V) + 1)
    s["unembed.W_U"][:V] = big[None, :]
    s["unembed.W_U"][cB] = -big
    s["unembed.W_U"][V:2 * V] = (rng.integers(-3, 4, (V, V)) + 2 * np.arange(V)[None, :]) * 2.0 ** -20
    return s


def subnormal(seed: int, V: int, K: int) -> dict[str, np.ndarray]:
    """Subnormal weights everywhere the decision happens: OV = 1 * 2**-140 * 2**-135 * r 2**-149
    (~2**-424), DIRECT[q, y] = s_y 2**-130 cancelled by the constant route, scores
    2**-149 * 2**-140 * k: exp(score) is 1 in float64, yet where the OV terms cancel exactly
    (C_0 = -C_1) the ~2**-290 score differences decide the sign."""
    rng = np.random.default_rng(seed)
    s = zero_state(Config(K, V, 2 * V + 3, 4))
    cB = 2 * V + 2
    for t in range(V):
        s["embed.W_E"][t, t] = 1.0
        s["embed.W_E"][t, 2 * V] = 1.0
        s["blocks.0.attn.W_K"][0, t, 0] = rng.integers(-7, 8) * 2.0 ** -140
        s["blocks.0.attn.W_V"][0, t, t] = 2.0 ** -140
        s["blocks.0.attn.W_O"][0, t, V + t] = 2.0 ** -135
    s["pos_embed.W_pos"][:, 2 * V + 1] = rng.integers(-3, 4, K) * 2.0 ** -149
    s["blocks.0.attn.W_K"][0, 2 * V + 1, 0] = 2.0 ** -140
    s["blocks.0.attn.W_Q"][0, 2 * V, 0] = 3 * 2.0 ** -149
    s["blocks.0.attn.W_V"][0, 2 * V, 3] = 1.0
    s["blocks.0.attn.W_O"][0, 3, cB] = 1.0
    small = rng.integers(1, 5, V) * 2.0 ** -130
    s["unembed.W_U"][:V] = small[None, :]
    s["unembed.W_U"][cB] = -small
    s["unembed.W_U"][V:2 * V] = (rng.integers(-2, 3, (V, V)) + np.arange(V)[None, :]) * 2.0 ** -149
    for a in s.values():  # every weight is 0, 1 or a subnormal float32
        mag = np.abs(a)
        assert np.all((mag == 0) | (mag == 1) | (mag < np.finfo(np.float32).tiny))
    return s


def attending(seed: int, V: int, K: int, mode: str) -> dict[str, np.ndarray]:
    """A model the compact rules can prove, with the cancellation of `cancelling` or the subnormals of
    `subnormal`: keys grow with the token (attention favours the max), the OV table favours the
    token itself, and DIRECT (+-2**125 or 2**-130) is cancelled exactly by the constant route, so
    every float64 interval of the cubic/subcubic "good" margin straddles 0 and the rules must fall
    back to their exact decisions."""
    rng = np.random.default_rng(seed)
    s = zero_state(Config(K, V, 2 * V + 3, 4))
    cB = 2 * V + 2
    big_unit, key_unit, ov_unit, route = {"cancel": (2.0 ** 125, 1.0, 2.0 ** -20, 1.0),
                                          "subnormal": (2.0 ** -130, 2.0 ** -130, 2.0 ** -149, 2.0 ** -140)}[mode]
    for t in range(V):
        s["embed.W_E"][t, t] = 1.0
        s["embed.W_E"][t, 2 * V] = 1.0
        s["blocks.0.attn.W_K"][0, t, 0] = 3 * t * key_unit
        s["blocks.0.attn.W_V"][0, t, t] = route
        s["blocks.0.attn.W_O"][0, t, V + t] = 1.0
    s["blocks.0.attn.W_Q"][0, 2 * V, 0] = 1.0 if mode == "cancel" else 2.0 ** 127
    s["blocks.0.attn.W_V"][0, 2 * V, 3] = 1.0
    s["blocks.0.attn.W_O"][0, 3, cB] = 1.0
    big = rng.integers(1, 5, V) * big_unit
    s["unembed.W_U"][:V] = big[None, :]
    s["unembed.W_U"][cB] = -big
    s["unembed.W_U"][V:2 * V] = (rng.integers(-2, 3, (V, V)) + 8 * np.eye(V)) * ov_unit
    return s


def wild(seed: int, V: int, K: int, d_model: int, d_head: int, lo: int = -149, hi: int = 127) -> dict[str, np.ndarray]:
    """Random float32 values of random binary exponent in [lo, hi] (subnormal to 2**127), random signs,
    a fifth of them exactly zero, in every tensor including the biases."""
    rng = np.random.default_rng(seed)
    cfg, out = Config(K, V, d_model, d_head), {}
    for name, shape in PARAM_SHAPES.items():
        shp = shape(cfg)
        v = rng.choice([-1.0, 1.0], shp) * np.ldexp(rng.uniform(1, 2, shp), rng.integers(lo, hi + 1, shp))
        v[rng.random(shp) < 0.2] = 0.0
        out[name] = v.astype(np.float32)
        assert np.all(np.isfinite(out[name]))
    return out


MODELS = {
    "huge-saturated-0": lambda: saturated_huge(0, V=4, K=3),
    "huge-saturated-1": lambda: saturated_huge(0, V=4, K=2),
    "huge-saturated-2": lambda: saturated_huge(2, V=3, K=3),
    "huge-saturated-3": lambda: saturated_huge(2, V=4, K=3),
    "cancel-0": lambda: cancelling(0, 3, 2),
    "cancel-1": lambda: cancelling(2, 4, 2),
    "cancel-2": lambda: cancelling(0, 3, 3),
    "cancel-3": lambda: cancelling(2, 4, 3),
    "subnormal-0": lambda: subnormal(1, 3, 2),
    "subnormal-1": lambda: subnormal(3, 4, 2),
    "subnormal-2": lambda: subnormal(0, 3, 3),
    "subnormal-3": lambda: subnormal(0, 4, 3),
    "attend-cancel-0": lambda: attending(0, 3, 2, "cancel"),
    "attend-cancel-1": lambda: attending(0, 3, 3, "cancel"),
    "attend-subnormal-0": lambda: attending(1, 3, 2, "subnormal"),
    "attend-subnormal-1": lambda: attending(0, 3, 3, "subnormal"),
    "attend-subnormal-2": lambda: attending(2, 3, 3, "subnormal"),
}
WILD = [(seed, V, K, dh, lo, hi) for seed, (V, K, dh, lo, hi) in enumerate([
    (3, 2, 1, -149, 127), (3, 3, 4, -149, 127), (4, 2, 4, -149, 127), (4, 3, 1, -149, 127),
    (3, 3, 4, 100, 127), (4, 2, 1, 100, 127), (3, 3, 4, -149, -127), (4, 2, 1, -149, -127)])]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, tuple[dict, Path, dict]]:
    """name -> (state, weights path, oracle verdict per input), built once per module."""
    root = tmp_path_factory.mktemp("adversarial")
    out = {}
    for name, make in MODELS.items():
        s = make()
        out[name] = (s, write_state(s, root / f"{name}.safetensors"), exact_correct(s))
    return out


# ------------------------------------------------------------------ brute force against the oracle


@pytest.mark.parametrize("name", list(MODELS))
def test_brute_force_count_is_exact(models, name):
    s, path, oracle = models[name]
    exact = sum(oracle.values())
    assert exact > 0, "degenerate model"
    assert count_correct(exact_paths(read_weights(str(path)))) == exact
    with np.errstate(all="ignore"):
        assert float64_count(s) != exact, "float64 must misjudge this model (else it is not adversarial)"


@pytest.mark.parametrize("seed,V,K,dh,lo,hi", WILD)
def test_random_full_range_weights(tmp_path, seed, V, K, dh, lo, hi):
    s = wild(seed, V, K, 3, dh, lo, hi)
    path = write_state(s, tmp_path / "wild.safetensors")
    assert count_correct(exact_paths(read_weights(str(path)))) == sum(exact_correct(s).values())


def _brute_force_cert(path: Path, correct: int, total: int, k: int, v: int) -> Path:
    bound = Fraction(correct, total)
    c = {"format": "certify-certificate", "version": 1,
         "claim": {"task": "max-of-k", "k": k, "d_vocab": v, "semantics": "exact-real",
                   "accuracy_lower_bound": f"{bound.numerator}/{bound.denominator}"},
         "model": {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "path": path.name},
         "strategy": {"name": "brute-force", "parameters": {}},
         "evidence": {"correct_inputs": correct, "total_inputs": total}}
    out = path.with_name(f"{path.stem}.bf{correct}.json")
    out.write_text(json.dumps(c))
    return out


def _cli(*args: str) -> tuple[int, list[dict], str]:
    r = subprocess.run([sys.executable, "-m", "checker", "--json", *args], capture_output=True,
                       text=True, cwd=REPO, timeout=300)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr
    return r.returncode, [json.loads(line) for line in r.stdout.splitlines()], r.stderr


def test_whole_check_accepts_exact_count_and_rejects_one_more(models):
    """End to end through `python -m checker`: the exact count is accepted, one more is rejected."""
    certs, false = [], []
    for s, path, oracle in models.values():
        V, K = s["embed.W_E"].shape[0], s["pos_embed.W_pos"].shape[0]
        n = sum(oracle.values())
        certs.append(str(_brute_force_cert(path, n, V ** K, K, V)))
        false.append(str(_brute_force_cert(path, n + 1 if n < V ** K else n - 1, V ** K, K, V)))
    code, results, _ = _cli(*certs)
    assert code == 0 and [r["verdict"] for r in results] == ["accepted"] * len(certs), results
    code, results, _ = _cli(*false)
    assert code == 1 and [r["verdict"] for r in results] == ["rejected"] * len(false), results
    assert all("exactly" in r["reason"] for r in results)


# ------------------------------------------------------------------ cubic and subcubic


def _triple(toks: tuple[int, ...]) -> tuple[int, int, int]:
    m = max(toks)
    return toks[-1], m, sum(t < m for t in toks[:-1])


def _triples(V: int, K: int):
    for q in range(V):
        for m in range(q, V):
            for c in range(0, (K - 1 if q == m else K - 2) + 1):
                yield q, m, c


def _run_rule(rule, w, strategy: str, parameters: dict, evidence: dict) -> Fraction | None:
    """The rule's bound, or None if it refuses; any other exception (a crash) propagates."""
    cert = Certificate(w.k, w.d_vocab, "exact-real", Fraction(0), w.sha256, "x", strategy, parameters, evidence)
    try:
        return rule(cert, w)
    except (Reject, OutOfBudget):
        return None


def _write_cert(path: Path, w, strategy: str, parameters: dict, evidence: dict, bound: Fraction) -> Path:
    c = {"format": "certify-certificate", "version": 1,
         "claim": {"task": "max-of-k", "k": w.k, "d_vocab": w.d_vocab, "semantics": "exact-real",
                   "accuracy_lower_bound": f"{bound.numerator}/{bound.denominator}"},
         "model": {"sha256": w.sha256, "path": path.name},
         "strategy": {"name": strategy, "parameters": parameters}, "evidence": evidence}
    out = path.with_name(f"{path.stem}.{strategy}.{len(parameters)}.json")
    out.write_text(json.dumps(c))
    return out


def _combined_check(path: Path, w, strategy: str, parameters: dict, evidence: dict, exact: Fraction) -> Fraction:
    """The whole check on one certificate of all accepted cases: accepted, and bound <= exact."""
    rule = {"cubic": cubic_rule.rule, "subcubic": subcubic_rule.rule}[strategy]
    bound = _run_rule(rule, w, strategy, parameters, evidence)
    assert bound is not None and bound <= exact, (bound, exact)
    r = check_file(str(_write_cert(path, w, strategy, parameters, evidence, bound)))
    assert r.verdict == "accepted", r.reason
    over = check_file(str(_write_cert(path, w, strategy, parameters, evidence,
                                      bound + Fraction(1, w.d_vocab ** w.k))))
    assert over.verdict == "rejected", over.reason
    return bound


@pytest.mark.parametrize("name", list(MODELS))
def test_cubic_cases_are_true(models, name):
    """Every single cubic case (q, m, c, n) the rule accepts, with n as large as it accepts, is true of
    the exact model: at least C(K-1, c) n**c inputs of that triple are correct."""
    s, path, oracle = models[name]
    w = read_weights(str(path))
    V, K = w.d_vocab, w.k
    per_triple: dict[tuple[int, int, int], int] = {}
    for toks, ok in oracle.items():
        per_triple[_triple(toks)] = per_triple.get(_triple(toks), 0) + ok
    accepted = []
    for q, m, c in _triples(V, K):
        for n in ([1] if c == 0 else range(m, 0, -1)):
            if _run_rule(cubic_rule.rule, w, "cubic", {}, {"cases": [[q, m, c, n]]}) is not None:
                assert per_triple[q, m, c] >= comb(K - 1, c) * n ** c, (q, m, c, n)
                accepted.append([q, m, c, n])
                break
    exact = Fraction(sum(oracle.values()), V ** K)
    if accepted:
        _combined_check(path, w, "cubic", {}, {"cases": accepted}, exact)


def _directions(s: dict[str, np.ndarray]) -> list[list[int]]:
    """Query-space directions: two unit vectors and the all-ones vector."""
    dh = s["blocks.0.attn.W_Q"].shape[-1]
    return [[int(k == i) for k in range(dh)] for i in range(min(dh, 2))] + [[1] * dh]


SUBCUBIC_VARIANTS = [{"eupu": "exact", "attn": "mean-query", "err": "maxdiff"},
                     {"eupu": "max-diff", "attn": "plain", "err": "l2"},
                     {"eupu": "exact", "attn": "rank2-query", "err": "min-maxdiff-l2"}]


@pytest.mark.parametrize("name", list(MODELS))
def test_subcubic_cases_are_true(models, name):
    """Every single subcubic case (q, m, c, g) the rule accepts, g as small as it accepts, covers only
    inputs that are correct in exact arithmetic (all c non-query non-max values <= m - g)."""
    s, path, oracle = models[name]
    w = read_weights(str(path))
    V, K = w.d_vocab, w.k
    exact = Fraction(sum(oracle.values()), V ** K)
    dirs = _directions(s)
    for par in SUBCUBIC_VARIANTS:
        for b in dirs:
            ev0 = {"direction": b}
            if par["attn"] == "rank2-query":
                ev0["direction2"] = dirs[1] if b != dirs[1] else dirs[0]
            accepted = []
            for q, m, c in _triples(V, K):
                for g in ([0] if c == 0 else range(1, m + 1)):
                    if _run_rule(subcubic_rule.rule, w, "subcubic", par, {**ev0, "cases": [[q, m, c, g]]}) is None:
                        continue
                    covered = [t for t, ok in oracle.items() if _triple(t) == (q, m, c)
                               and all(x <= m - g for x in t[:-1] if x < m)]
                    assert covered and all(oracle[t] for t in covered), (par, b, q, m, c, g)
                    accepted.append([q, m, c, g])
                    break
            if accepted:
                _combined_check(path, w, "subcubic", par, {**ev0, "cases": accepted}, exact)


# ------------------------------------------------------------------ NaN and infinities


def _raw_state() -> dict[str, np.ndarray]:
    return cancelling(0, 3, 2)


def _nonfinite(bits: int) -> np.float32:
    return np.array([bits], dtype=np.uint32).view(np.float32)[0]


NONFINITE = {"nan": 0x7FC00000, "negative-nan": 0xFFC00000, "signalling-nan": 0x7F800001,
             "nan-payload": 0x7FFFFFFF, "+inf": 0x7F800000, "-inf": 0xFF800000}


def _certs_for(tmp_path: Path, state: dict[str, np.ndarray], tag: str) -> list[Path]:
    """Bytes written raw (no writer that might refuse or canonicalise), one certificate per strategy."""
    data = save({k: np.ascontiguousarray(v) for k, v in state.items()})
    p = tmp_path / f"{tag}.safetensors"
    p.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    V, K = state["embed.W_E"].shape[0], state["pos_embed.W_pos"].shape[0]
    dh = state["blocks.0.attn.W_Q"].shape[-1]
    strategies = {"brute-force": ({}, {"correct_inputs": 0, "total_inputs": V ** K}),
                  "cubic": ({}, {"cases": [[0, 0, 0, 1]]}),
                  "subcubic": ({"eupu": "exact", "attn": "plain", "err": "maxdiff"},
                               {"direction": [1] * dh, "cases": [[0, 0, 0, 0]]})}
    out = []
    for strategy, (par, ev) in strategies.items():
        c = {"format": "certify-certificate", "version": 1,
             "claim": {"task": "max-of-k", "k": K, "d_vocab": V, "semantics": "exact-real",
                       "accuracy_lower_bound": 0},
             "model": {"sha256": sha, "path": p.name},
             "strategy": {"name": strategy, "parameters": par}, "evidence": ev}
        out.append(tmp_path / f"{tag}.{strategy}.json")
        out[-1].write_text(json.dumps(c))
    return out


@pytest.mark.parametrize("kind", list(NONFINITE))
@pytest.mark.parametrize("tensor", NAMES)
def test_nonfinite_weight_is_rejected_clearly(tmp_path, tensor, kind):
    state = _raw_state()
    value = _nonfinite(NONFINITE[kind])
    assert not np.isfinite(value)
    flat = state[tensor].reshape(-1)
    flat[len(flat) // 2] = value
    for cert in _certs_for(tmp_path, state, "bad"):
        r = check_file(str(cert))
        assert (r.verdict, r.exit_code) == ("rejected", 1), r.reason
        assert tensor in r.reason and "NaN or infinite" in r.reason, r.reason


def test_nonfinite_weights_through_the_cli(tmp_path):
    """`python -m checker` on NaN / Inf weights: exit 1, a clear reason, no traceback."""
    certs = []
    for kind, bits in NONFINITE.items():
        state = _raw_state()
        state["unembed.W_U"][1, 2] = _nonfinite(bits)
        certs += _certs_for(tmp_path, state, kind)
    code, results, stderr = _cli(*map(str, certs))
    assert code == 1 and stderr == ""
    assert [r["verdict"] for r in results] == ["rejected"] * len(certs)
    assert all("unembed.W_U: contains NaN or infinite values" == r["reason"] for r in results), results


def test_extreme_finite_values_are_accepted_exactly(tmp_path):
    """The largest finite float32, the smallest subnormal and -0.0 are ordinary weights."""
    s = saturated_huge(5, V=3, K=2)
    s["unembed.W_U"][0, 0] = np.finfo(np.float32).max
    s["unembed.W_U"][1, 1] = -np.finfo(np.float32).max
    s["unembed.b_U"][:] = [2.0 ** -149, -(2.0 ** -149), -0.0]
    s["blocks.0.attn.b_O"][0] = -0.0
    path = write_state(s, tmp_path / "extreme.safetensors")
    oracle = exact_correct(s)
    n = sum(oracle.values())
    assert count_correct(exact_paths(read_weights(str(path)))) == n
    r = check_file(str(_brute_force_cert(path, n, 9, 2, 3)))
    assert r.verdict == "accepted", r.reason
