"""Cubic rule: cases (query q, max m, c non-max copies); certified sets of non-max values.

For an input with query q, max m, and c non-query positions I holding values x_i < m (the other
K-1-c non-query positions J holding m), let G = J, plus the query position if q = m, and O = I, plus
the query position if q < m. With w_i = exp(score_i) > 0 and C[i, j] the logit gap contribution
(brute_force.py), for every j != m exactly
    Z * (logit_m - logit_j) = sum_{i in G} w_i C[i, j](m) + sum_{i in O} w_i C[i, j](t_i)
                           >= W_G * good - sum_{i in O} w_i * pen(t_i, i)
with good = min_{i in G, j != m} C[i, j](m)  (required > 0),
     pen(t, i) = max(0, max_{j != m} (D[q, j] - D[q, m]) + max_{j != m} (OV[t, i, j] - OV[t, i, m]))
               >= max(0, -C[i, j](t)) for every j,
     W_G >= W_min = sum of the K-1-c smallest exp(score(q, m, i)), i < K-1, (+ exp(score(q, m, K-1)) if q = m),
since whichever positions hold m, their weights sum to at least that (exp is increasing in the score).
So the input is correct if  W_min * good - qpen - sum_{i in I} e(q, x_i, i) pen(x_i, i) > 0,
where qpen = e(q, q, K-1) pen(q, K-1) if q < m, else 0. Each summand over I is at most
P(x) = max_{i < K-1} e(q, x, i) pen(x, i); so if  W_min * good - qpen - c * P(x) > 0  holds for every
x in a set S, it holds for every mixture of values from S (convexity: the sum of c terms is at most c
times the largest). The case then covers C(K-1, c) * |S|**c inputs (choose the positions of the
non-max values, then each value), and distinct (q, m, c) cover disjoint inputs.

Evidence: {"cases": [[q, m, c, n], ...]}: the case's set S has at least n values (n = 1 for c = 0,
claiming the single input). The checker evaluates the inequality for every x < m itself, with
float64 intervals and exactly (expo.sign_sum_exp) where the filter cannot decide, takes S = the
values that pass, and rejects if fewer than n do. (S is re-derived rather than listed: listing it
would make certificates O(d_vocab^3 K) bytes.)
"""
from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np

from checker import expo
from checker.certificate import Certificate, CertificateError, fields
from checker.interval import down, enclose_ints, exp_bounds, inv_sqrt, mul, up
from checker.ops import EXP_OPS, Ops
from checker.paths import Paths
from checker.rules import Reject, semantic_paths
from checker.safetensors import Weights

def rule(cert: Certificate, w: Weights, ops: Ops) -> Fraction:
    fields(cert.parameters, "strategy.parameters", set())
    cases = _cases(fields(cert.evidence, "evidence", {"cases"})["cases"], w.k, w.d_vocab)
    p = semantic_paths(cert, w, ops)
    tables = _Tables(p, ops)
    count = 0
    for q, m, c, n in cases:
        if not tables.at_least(q, m, c, n, ops):
            raise Reject(f"case q={q}, m={m}, c={c}: fewer than the claimed {n} values pass")
        count += comb(w.k - 1, c) * n ** c
    return Fraction(count, w.d_vocab ** w.k)


def _cases(raw: object, K: int, V: int) -> list[tuple[int, int, int, int]]:
    if not isinstance(raw, list):
        raise CertificateError("evidence.cases must be a list")
    seen: set[tuple[int, int, int]] = set()
    out = []
    for case in raw:
        if not isinstance(case, list) or len(case) != 4 or not all(type(v) is int for v in case):
            raise CertificateError(f"malformed cubic case {case!r:.80}")
        q, m, c, n = case
        if not (0 <= q <= m < V and 0 <= c <= (K - 1 if q == m else K - 2)):
            raise CertificateError(f"cubic case {case!r:.80} out of range")
        if not (n == 1 if c == 0 else 1 <= n <= m):
            raise CertificateError(f"cubic case {case!r:.80}: n must be 1 for c = 0, else in [1, m]")
        if (q, m, c) in seen:
            raise CertificateError(f"duplicate cubic case {(q, m, c)}")
        seen.add((q, m, c))
        out.append((q, m, c, n))
    return out


class _Tables:
    """Float64 enclosures of the per-(q, m) and per-(x, i, m) quantities, plus exact fallbacks."""

    def __init__(self, p: Paths, ops: Ops) -> None:
        self.p = p
        V, K = p.d_vocab, p.k
        self.win_lo, _ = enclose_ints(p.win.n, p.win.e)        # the answer's direct path
        _, self.rival_hi = enclose_ints(p.rival.n, p.rival.e)  # a rival's (paths.Paths)
        self.o_lo, self.o_hi = enclose_ints(p.ov.n, p.ov.e)
        self.tops = [max(p.qk.n[q].ravel()) for q in range(V)]
        self._cache_key: tuple[int, int] | None = None
        shifted = p.qk.n - np.array(self.tops, dtype=object)[:, None, None]   # <= 0, exact
        s_lo, s_hi = enclose_ints(shifted, p.qk.e)
        self.e_lo, self.e_hi = exp_bounds(*mul((s_lo, s_hi), inv_sqrt(p.d_head)))  # [q, t, i]
        diag = np.arange(V)
        with np.errstate(over="ignore", invalid="ignore"):
            dd = up(self.rival_hi[:, None, :] - self.win_lo[:, :, None])       # [q, m, j]
            dd[:, diag, diag] = -np.inf
            self.maxdd = dd.max(axis=2)                                       # [q, m]
            self.maxovd = np.empty((V, K, V))                                 # [x, i, m]
            for x in range(V):  # one token at a time keeps memory at O(K V^2)
                ovd = up(self.o_hi[x, :, None, :] - self.o_lo[x, :, :, None])  # [i, m, j]
                ovd[:, diag, diag] = -np.inf
                self.maxovd[x] = ovd.max(axis=2)
        ops.add(V * V * K * EXP_OPS + 2 * V ** 3 + 2 * V ** 3 * K)

    def good_lo(self, q: int, m: int, ops: Ops) -> float:
        K = self.p.k
        pos = list(range(K - 1)) + ([K - 1] if q == m else [])
        dd = down(self.win_lo[q, m] - self.rival_hi[q])                       # [j]
        ovd = down(self.o_lo[m, pos, m][:, None] - self.o_hi[m, pos])         # [i, j]
        g = down(dd[None, :] + ovd)
        g[:, m] = np.inf
        ops.add(3 * g.size)
        return float(g.min())

    def pen_hi(self, q: int, m: int, xs: list[int], pos: list[int]) -> np.ndarray:
        """Upper bounds of pen(x, i) for x in xs, i in pos: [len(xs), len(pos)]."""
        return np.maximum(0.0, up(self.maxdd[q, m] + self.maxovd[np.ix_(xs, pos, [m])][..., 0]))

    def at_least(self, q: int, m: int, c: int, n: int, ops: Ops) -> bool:
        """Whether at least n values x < m pass (for c = 0: whether the single configuration does)."""
        return len(self.passing(q, m, c, n, ops)) >= n

    def passing(self, q: int, m: int, c: int, want: int, ops: Ops) -> list[int | None]:
        """Values x < m that pass (None stands for the c = 0 configuration): all those the float
        filter proves, then exactly decided ones until `want` are found."""
        xs = list(range(m)) if c else []
        K = self.p.k
        good = self.good_lo(q, m, ops)
        if not good > 0:  # W_min * good is only bounded below by w_lo * good when good >= 0
            return _first((x for x in (xs or [None]) if self._exact(q, m, c, x, ops)), want)
        w_lo = 0.0
        for v in sorted(self.e_lo[q, m, :K - 1])[:K - 1 - c] + ([self.e_lo[q, m, K - 1]] if q == m else []):
            w_lo = float(down(np.float64(w_lo) + v))  # the j-th smallest lower bound <= the j-th smallest value
        qpen = 0.0 if q == m else float(up(self.e_hi[q, q, K - 1] * self.pen_hi(q, m, [q], [K - 1])[0, 0]))
        base = float(down(down(np.float64(w_lo) * good) - qpen))
        ops.add(2 * K + 4)
        if c == 0:
            return [None] if base > 0 or self._exact(q, m, c, None, ops) else []
        pos = list(range(K - 1))
        worst = up(self.e_hi[q, xs][:, pos] * self.pen_hi(q, m, xs, pos)).max(axis=1)  # [x]
        lhs = down(base - up(c * worst))
        ops.add(5 * len(xs) * (K - 1))
        decided = [x for x, ok in zip(xs, lhs > 0) if ok]
        rest = (x for x, ok in zip(xs, lhs > 0) if not ok and self._exact(q, m, c, x, ops))
        return decided + _first(rest, want - len(decided))

    def _exact_terms(self, q: int, m: int):
        """Exact good(q, m) and pen(t, i) for this (q, m), computed once per pair."""
        if self._cache_key != (q, m):
            p, K, V = self.p, self.p.k, self.p.d_vocab
            win = lambda a, j: p.win.fraction((a, j))
            rival = lambda a, j: p.rival.fraction((a, j))
            O = lambda t, i, j: p.ov.fraction((t, i, j))
            good_pos = list(range(K - 1)) + ([K - 1] if q == m else [])
            good = min(win(q, m) - rival(q, j) + O(m, i, m) - O(m, i, j) for i in good_pos for j in range(V) if j != m)
            maxdd = max(rival(q, j) - win(q, m) for j in range(V) if j != m)
            pens: dict[tuple[int, int], Fraction] = {}

            def pen(t: int, i: int) -> Fraction:
                if (t, i) not in pens:
                    pens[t, i] = max(0, maxdd + max(O(t, i, j) - O(t, i, m) for j in range(V) if j != m))
                return pens[t, i]
            self._cache_key, self._cache = (q, m), (good, pen)
        return self._cache

    def _exact(self, q: int, m: int, c: int, x: int | None, ops: Ops) -> bool:
        return all(expo.holds(ob, self.p.d_head, ops) for ob in self.obligations(q, m, c, x))

    def obligations(self, q: int, m: int, c: int, x: int | None) -> list[expo.Obligation]:
        """The inequality for value x (None for c = 0), one per position of x, as exact obligations
        sum coeff * exp(arg / sqrt(d_head)) > 0 (args relative to the query's top score)."""
        p, K = self.p, self.p.k
        good, pen = self._exact_terms(q, m)
        if good <= 0:
            return [[(good, Fraction(0))]]  # cannot hold
        score = lambda t, i: (int(p.qk.n[q, t, i]) - self.tops[q]) * Fraction(2) ** p.qk.e
        smallest = sorted(range(K - 1), key=lambda i: score(m, i))[:K - 1 - c]
        terms = [(good, score(m, i)) for i in smallest] + ([(good, score(m, K - 1))] if q == m else [])
        if q < m:
            terms.append((-pen(q, K - 1), score(q, K - 1)))
        if x is None:
            return [terms]
        return [terms + [(-c * pen(x, i), score(x, i))] for i in range(K - 1)]


def _first(values, n: int) -> list:
    """Up to n items of a lazy iterator (stops as soon as n are found)."""
    out: list = []
    if n <= 0:
        return out
    for v in values:
        out.append(v)
        if len(out) >= n:
            break
    return out

