"""The cubic rule's float64 filter (`_Tables.filter`, via `passing`) on values whose inequality sits at 0.

The inequality of checker/rules/cubic.py (module docstring; docs/soundness.md, "Cubic rule") is
recomputed here independently from the exact path terms, with Fractions for good, pen and the scores
and the exact sign of the resulting sum of exponentials (checker.expo.sign_sum_exp, which merges
equal exponents, so an exact 0 is recognised as 0):

    value(q, m, c, x) = W_min * good - qpen - c * max_{i < K-1} e(q, x, i) pen(x, i),   need good > 0.

Models are built so that this value is as close to 0 as a float32 weight allows, on either side:

* random tiny models with sharp, position-dependent attention (distinct e(q, x, i) per position,
  so which K-1-c weights are the smallest matters), and for chosen (q, m, c, x) the logit bias
  unembed.b_U[m] bisected over float32 values (the value is non-decreasing in it) down to two
  neighbouring float32s: the largest non-positive value and the smallest positive one;
* hand-built models with tied scores (all weights exp(0)) whose value is exactly 0, and the same
  pushed by +-2**-60 through b_U or b_O, far below the float filter's resolution (only the exact
  fallback can decide them), including good itself exactly 0 and +-2**-60 (good is formed exactly
  and then rounded, so the filter decides those);
* a model with scores so spread that some exp(score) underflow the filter's enclosure (lower
  bound 0), so whole cases are true but undecided by the filter.

On every case of every model the filter alone (the exact fallback replaced by "refuse") may accept
only values whose exact value is > 0, `passing` with the fallback accepts exactly those, and the
filter alone accepts every value whose value is clearly positive (relative margin 1e-9), so a
stricter filter is seen too. These kill the filter's soundness-relevant mutants that the zoo and
tests/checker/test_rule_exact_paths.py leave alive (docs/soundness.md, "Mutation testing of the
checker"), e.g. the smallest-weights slice [:K - 1 - c] taking one more weight, and the
fail-closed ones that make the filter or the fallback miss passing values. What survives this file
alone is verdict-equivalent (a `> 0` after an outward `down` step read as `>= 0`; an index of a
1 x 1 array), one outward step of several dropped, or op counting.
"""
from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest

import checker.rules.cubic as cubic_rule
from certify.model import Config
from checker import expo
from checker.paths import exact_paths
from checker.safetensors import read_weights

from conftest import random_state, write_state, zero_state


# ---------------------------------------------------------------- the inequality, independently

def _sign(terms: list[tuple[Fraction, Fraction]], d: int) -> int:
    """Exact sign of sum c * exp(a / sqrt(d)) over (c, a) in terms."""
    terms = [(c, a) for c, a in terms if c != 0]
    if not terms:
        return 0
    cden = math.lcm(*(c.denominator for c, _ in terms))
    aden = math.lcm(*(a.denominator for _, a in terms))
    return expo.sign_sum_exp([int(c * cden) for c, _ in terms], [int(a * aden) for _, a in terms], 0, d, aden)


class Inequality:
    """value(q, m, c, x) of the docstring, from the exact path terms (nothing of cubic.py is used)."""

    def __init__(self, p) -> None:
        self.p, self.V, self.K, self.d = p, p.d_vocab, p.k, p.d_head
        self.top = [max(int(v) for v in p.qk.n[q].ravel()) for q in range(self.V)]
        self.M = max(abs(float(p.direct.fraction(ix))) for ix in np.ndindex(self.V, self.V)) + \
            max(abs(float(p.ov.fraction(ix))) for ix in np.ndindex(self.V, self.K, self.V))

    def score(self, q: int, t: int, i: int) -> Fraction:  # sqrt(d) * (score - the query's top score)
        return (int(self.p.qk.n[q, t, i]) - self.top[q]) * Fraction(2) ** self.p.qk.e

    def parts(self, q: int, m: int, c: int):
        p, V, K = self.p, self.V, self.K
        js = [j for j in range(V) if j != m]
        win = p.win.fraction((q, m))
        O = lambda t, i, j: p.ov.fraction((t, i, j))
        G = list(range(K - 1)) + ([K - 1] if q == m else [])
        good = min(win - p.rival.fraction((q, j)) + O(m, i, m) - O(m, i, j) for i in G for j in js)
        maxdd = max(p.rival.fraction((q, j)) - win for j in js)
        pen = lambda t, i: max(Fraction(0), maxdd + max(O(t, i, j) - O(t, i, m) for j in js))
        by_weight = sorted(range(K - 1), key=lambda i: self.score(q, m, i))
        w_args = [self.score(q, m, i) for i in by_weight[:K - 1 - c]] + ([self.score(q, m, K - 1)] if q == m else [])
        common = [(good, a) for a in w_args] + ([(-pen(q, K - 1), self.score(q, q, K - 1))] if q < m else [])
        return good, common, pen

    def holds(self, q: int, m: int, c: int, x: int | None) -> bool:
        """Exactly: good > 0 and value > 0."""
        good, common, pen = self.parts(q, m, c)
        if good <= 0:
            return False
        if x is None:
            return _sign(common, self.d) > 0
        return all(_sign(common + [(-c * pen(x, i), self.score(q, x, i))], self.d) > 0 for i in range(self.K - 1))

    def margin(self, q: int, m: int, c: int, x: int | None) -> float:
        """value / scale in high precision (0 if |value| < 1e-280), where scale times 1e-15 or so
        bounds the filter's rounding errors (weights times the path terms' magnitude)."""
        with mpmath.workdps(50):
            good, common, pen = self.parts(q, m, c)
            ex = lambda a: mpmath.exp(mpmath.mpf(a.numerator) / a.denominator / mpmath.sqrt(self.d))
            value = mpmath.fsum(mpmath.mpf(cf.numerator) / cf.denominator * ex(a) for cf, a in common)
            scale = mpmath.fsum(ex(a) for _, a in common)
            if x is not None:
                worst = [mpmath.mpf(pen(x, i).numerator) / pen(x, i).denominator * ex(self.score(q, x, i))
                         for i in range(self.K - 1)]
                value -= c * max(worst)
                scale += c * max(ex(self.score(q, x, i)) for i in range(self.K - 1))
            if abs(value) < 1e-280:  # below float64's normal range: the filter cannot see it
                return 0.0
            return float(value / (scale * (self.M + 1e-300)))


def _cases(V: int, K: int):
    return [(q, m, c) for m in range(V) for q in range(m + 1) for c in range(K if q == m else K - 1)]


def _values(m: int, c: int):
    return list(range(m)) if c else [None]


# ---------------------------------------------------------------- models

def _state_paths(state: dict):
    """exact_paths of a float32 state without the file round trip (for the bisection)."""
    from checker.safetensors import Weights
    t = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}
    V, dm = t["embed.W_E"].shape
    return exact_paths(Weights("", t, t["pos_embed.W_pos"].shape[0], V, dm, t["blocks.0.attn.W_Q"].shape[-1]))


def _f32_key(v: float) -> int:
    b = int(np.array(v, dtype=np.float32).view(np.int32))
    return b if b >= 0 else -(b & 0x7FFFFFFF)


def _f32_of(k: int) -> np.float32:
    b = k if k >= 0 else (-k) | -0x80000000
    return np.array(b, dtype=np.int32).view(np.float32)[()]


def _bisect_bias(state: dict, q: int, m: int, c: int, x: int | None, lo: float = -64.0, hi: float = 64.0):
    """Neighbouring float32 b_U[m] values (below, above) with value <= 0 at below and > 0 at above."""
    def holds(key: int) -> bool:
        s = dict(state)
        s["unembed.b_U"] = state["unembed.b_U"].copy()
        s["unembed.b_U"][m] = _f32_of(key)
        return Inequality(_state_paths(s)).holds(q, m, c, x)
    a, b = _f32_key(lo), _f32_key(hi)
    if holds(a) or not holds(b):
        return None
    while b - a > 1:
        mid = (a + b) // 2
        if holds(mid):
            b = mid
        else:
            a = mid
    out = []
    for key in (a, b):
        s = dict(state)
        s["unembed.b_U"] = state["unembed.b_U"].copy()
        s["unembed.b_U"][m] = _f32_of(key)
        out.append(s)
    return out


def _sharp(seed: int, cfg: Config, qk: float, pos: float, ov: float = 1.0) -> dict:
    """Random, with sharp attention and large positional scores (distinct e(q, x, i) per position)."""
    s = random_state(cfg, seed, biases=True, bias_scale=0.3)
    for name, f in (("blocks.0.attn.W_Q", qk), ("blocks.0.attn.W_K", qk), ("pos_embed.W_pos", pos),
                    ("blocks.0.attn.W_O", ov)):
        s[name] = (s[name] * f).astype(np.float32)
    return s


def _tie_state(bias2: float, out2: float = 0.0) -> dict:
    """V = 3, K = 3, all scores 0 (W_K = b_K = 0): every weight is exp(0) = 1, every value rational.

    One-hot embeddings (token 1 at half length), OV = 3 * identity, b_U = (0, -0.5, bias2). At
    bias2 = 0 the values of (q, m, c, x) = (1, 1, 1, 0), (0, 2, 0, -), (1, 2, 1, 1) and (2, 2, 2, 0)
    are exactly 0, e.g. (2, 2, 2, 0): W_min = 1 (the query), good = 3 + 3 = 6 against
    2 * pen(0, i) = 2 * (0 + 3) (while x = 1 passes clearly: pen(1, i) = 1.5). bias2 = +-2**-60
    moves them to about +-2.6e-18 (the first one the other way), far below float64 resolution.
    With bias2 = -4, good(2, 2) = 1 + bias2 + 3 = 0 (and good(0, 1) = 0) exactly; b_O = out2 * e_2
    adds out2 to every logit of token 2, so out2 = +-2**-60 makes good(2, 2) = +-2**-60; good is
    formed exactly before it is rounded, so the filter still decides (2, 2, c).
    """
    cfg = Config(k=3, d_vocab=3, d_model=3, d_head=3)
    s = zero_state(cfg)
    s["embed.W_E"] = np.diag([1, 0.5, 1]).astype(np.float32)
    s["blocks.0.attn.W_V"][0] = np.eye(3, dtype=np.float32)
    s["blocks.0.attn.W_O"][0] = 3 * np.eye(3, dtype=np.float32)
    s["unembed.W_U"] = np.eye(3, dtype=np.float32)
    s["unembed.b_U"] = np.array([0, -0.5, bias2], dtype=np.float32)
    s["blocks.0.attn.b_O"] = np.array([0, 0, out2], dtype=np.float32)
    return s



EPS = 2.0 ** -60
# name -> (base state, targets (q, m, c, x)): each target's value is put on the boundary by
# bisecting b_U[m], giving two models, "<name>-<target>-below" (value <= 0, the largest reachable)
# and "-above" (the smallest positive). Targets have 1 <= c and a choice of the K-1-c smallest
# weights (c <= K-2, or q = m), so taking one weight more or the wrong positions changes the answer.
BASES = {
    "v4k3": (lambda: _sharp(3, Config(3, 4, 4, 2), qk=2.5, pos=2.0),
             [(0, 2, 1, 1), (1, 2, 1, 0), (2, 2, 2, 0), (0, 3, 1, 2), (3, 3, 1, 0), (3, 3, 2, 1)]),
    "v4k4": (lambda: _sharp(5, Config(4, 4, 4, 2), qk=2.0, pos=2.5),
             [(0, 2, 2, 1), (1, 2, 1, 1), (2, 2, 3, 1), (0, 3, 2, 2), (1, 3, 1, 0), (3, 3, 3, 2),
              (3, 3, 2, 0), (2, 3, 2, 1)]),
}
MODELS = {
    "tie-zero": lambda: _tie_state(0.0),
    "tie-plus": lambda: _tie_state(EPS),
    "tie-minus": lambda: _tie_state(-EPS),
    "tie-good-zero": lambda: _tie_state(-4.0),
    "tie-good-plus": lambda: _tie_state(-4.0, EPS),
    "tie-good-minus": lambda: _tie_state(-4.0, -EPS),
    # scores up to thousands apart: many weights below exp(-740), whose float enclosure is [0, tiny]
    "underflow": lambda: _sharp(8, Config(3, 4, 4, 2), qk=40.0, pos=1.0),
}
for _name, (_base, _targets) in BASES.items():
    MODELS[_name] = _base
    for _t in _targets:
        for _side in (0, 1):
            MODELS[f"{_name}-{'-'.join(map(str, _t))}-{('below', 'above')[_side]}"] = \
                (lambda b=_base, t=_t, side=_side: _bisect_bias(b(), *t)[side])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """name -> (Paths read back from the written file, Inequality), each built once."""
    cache: dict = {}
    folder = tmp_path_factory.mktemp("cubic_boundary")

    def get(name: str):
        if name not in cache:
            path = write_state(MODELS[name](), folder / f"{name}.safetensors")
            p = exact_paths(read_weights(str(path)))
            cache[name] = (p, Inequality(p))
        return cache[name]
    return get


def _filter_only(tables, q, m, c, want, monkeypatch) -> list:
    with monkeypatch.context() as mp:
        mp.setattr(cubic_rule._Tables, "exact_holds", lambda self, *a: False)
        return tables.passing(q, m, c, want)


@pytest.mark.parametrize("name", list(MODELS))
def test_filter_at_the_boundary(name, built, monkeypatch):
    p, ineq = built(name)
    V, K = p.d_vocab, p.k
    tables = cubic_rule._Tables(p)
    n_true = n_false = n_exact_only = 0
    for q, m, c in _cases(V, K):
        xs = _values(m, c)
        truth = {x for x in xs if ineq.holds(q, m, c, x)}
        n_true += len(truth)
        n_false += len(xs) - len(truth)
        filt = _filter_only(tables, q, m, c, len(xs), monkeypatch)
        # sound: the float filter alone accepts only values whose exact value is > 0
        assert set(filt) <= truth, f"filter accepts {sorted(set(filt) - truth, key=str)} of case {(q, m, c)}"
        # complete off the boundary: a clearly positive value is decided by the filter
        clear = {x for x in truth if ineq.margin(q, m, c, x) > 1e-9}
        assert clear <= set(filt), f"filter misses clearly passing {sorted(clear - set(filt), key=str)} of {(q, m, c)}"
        n_exact_only += len(truth - set(filt))
        # with the exact fallback: exactly the values whose value is > 0
        full = tables.passing(q, m, c, len(xs))
        assert sorted(full, key=str) == sorted(truth, key=str), (q, m, c, full, truth)
        assert len(set(full)) == len(full)
        # asked for fewer: the filter's values, then exactly decided ones only until `want` are found
        for want in range(1, len(xs) + 1):
            some = tables.passing(q, m, c, want)
            assert set(some) <= truth and len(some) == max(min(want, len(truth)), len(filt)), \
                (q, m, c, want, some, filt, truth)
            assert (len(tables.passing(q, m, c, want)) >= want) == (len(truth) >= want)
    assert n_true and n_false
    if name in ("tie-plus", "underflow"):
        assert n_exact_only  # values only the exact fallback decides
    if name == "tie-good-plus":  # good = 2**-60 is formed exactly before rounding: the filter sees it
        assert not n_exact_only


@pytest.mark.parametrize("name,target", [(n, t) for n, (_, ts) in BASES.items() for t in ts])
def test_bisection_reaches_neighbouring_floats(name, target, built):
    """The tuned pair really straddles 0 at neighbouring float32 values of b_U[m]."""
    q, m, c, x = target
    stem = f"{name}-{'-'.join(map(str, target))}"
    (_, lo), (_, hi) = built(stem + "-below"), built(stem + "-above")
    assert not lo.holds(q, m, c, x) and hi.holds(q, m, c, x)
    assert lo.parts(q, m, c)[0] > 0 and hi.parts(q, m, c)[0] > 0  # good > 0: the filter's branch
    assert -1e-7 < lo.margin(q, m, c, x) <= 0 < hi.margin(q, m, c, x) < 1e-7
