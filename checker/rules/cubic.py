"""Cubic rule: cases (query q, max m, c non-max copies); certified sets of non-max values.

For an input with query q, max m, and c non-query positions I holding values x_i < m (the other
K-1-c non-query positions J holding m), let G = J, plus the query position if q = m, and O = I, plus
the query position if q < m. With w_i = exp(score_i) > 0 and C[i, j] the logit gap contribution
(brute_force.py), for every j != m exactly
    Z * (logit_m - logit_j) = sum_{i in G} w_i C[i, j](m) + sum_{i in O} w_i C[i, j](t_i)
                           >= W_G * good - sum_{i in O} w_i * pen(t_i, i)
with good = min_{i in G, j != m} C[i, j](m)  (> 0, which W_G >= W_min needs: implied below),
     pen(t, i) = max(0, max_{j != m} (D[q, j] - D[q, m]) + max_{j != m} (OV[t, i, j] - OV[t, i, m]))
               >= max(0, -C[i, j](t)) for every j,
     W_G >= W_min = sum of the K-1-c smallest exp(score(q, m, i)), i < K-1, (+ exp(score(q, m, K-1)) if q = m),
since whichever positions hold m, their weights sum to at least that (exp is increasing in the score).
So the input is correct if  W_min * good - qpen - sum_{i in I} e(q, x_i, i) pen(x_i, i) > 0,
where qpen = e(q, q, K-1) pen(q, K-1) if q < m, else 0. Each summand over I is at most
P(x) = max_{i < K-1} e(q, x, i) pen(x, i); so if  W_min * good - qpen - c * P(x) > 0  holds for every
x in a set S, it holds for every mixture of values from S (convexity: the sum of c terms is at most c
times the largest). The pen terms are <= 0 and W_min > 0, so the sum can only be > 0 if
good > 0. The case then covers C(K-1, c) * |S|**c inputs (choose the positions of the
non-max values, then each value), and distinct (q, m, c) cover disjoint inputs.

Evidence: {"cases": [[q, m, c, n], ...]}: the case's set S has at least n values (n = 1 for c = 0,
claiming the single input). The checker evaluates the inequality for every x < m itself and takes S
= the values that pass, rejecting if fewer than n do. (S is re-derived rather than listed: listing it
would make certificates O(d_vocab^3 K) bytes.)

The inequality is written once (`_sums`), over the two number types of checker/numbers.py, as
CGAL's filtered predicates: Float (float64 intervals rounded outward: the filter, all x < m at once)
and Exact (rationals, the sign decided by expo.holds: the fallback where the filter cannot decide). Its ingredients good, maxdd and maxovd
are formed exactly from the integer path terms and only then rounded, so a large offset common to
the logits (e.g. on b_U) cancels before any rounding.
"""
from __future__ import annotations

from fractions import Fraction
from itertools import islice
from math import comb
from typing import Iterator

import numpy as np

from checker import expo
from checker.certificate import Certificate, fields
from checker.dyadic import Dyadic
from checker.interval import Interval, down, enclose_ints, up
from checker.numbers import Exact, Float
from checker.ops import counted
from checker.paths import Paths
from checker.rules import Case, Reject, parse_cases, semantic_paths
from checker.safetensors import Weights


def rule(cert: Certificate, w: Weights) -> Fraction:
    count = sum(comb(w.k - 1, c) * n ** c for _, _, c, n, _ in proven(cert, w))
    return Fraction(count, w.d_vocab ** w.k)


def proven(cert: Certificate, w: Weights, p: Paths | None = None, exp_w: tuple | None = None) -> Iterator[tuple]:
    """Each certificate case (q, m, c, n) with its passing values S, |S| >= n (else Reject): the
    rule's decisions, which the hybrid rule reuses (p: the semantic paths, if already formed; exp_w:
    float enclosures (lo, hi) [q, t, i] of the attention weights, brute_force.exp_table's, if formed)."""
    cases = _cases(cert, w)
    tables = _Tables(p or semantic_paths(cert, w), exp_w)
    for q, m, c, n in cases:
        S = tables.passing(q, m, c, n)
        if len(S) < n:
            raise Reject(f"case q={q}, m={m}, c={c}: fewer than the claimed {n} values pass")
        yield q, m, c, n, S


def obligations(cert: Certificate, w: Weights) -> Iterator[Case]:
    """The rule's proof as exact obligations, one Case per certificate case (q, m, c, n), named
    case_q{q}_m{m}_c{c}_n{n}: for each of the n values x in S (the n that pass first; if fewer pass,
    the first failing values fill up, so the Case is false) and each position i < K-1, the sum
    `_sums` of the module docstring, i.e. for c = 0 the single sum of the one input. The arguments
    are scores minus the query's top score (a common factor exp(top) > 0 dropped)."""
    cases = _cases(cert, w)
    tables = _Tables(semantic_paths(cert, w))
    for q, m, c, n in cases:
        xs = tables.passing(q, m, c, n)[:n] if c else [None]
        xs += [x for x in range(m) if x not in xs][:n - len(xs)]
        yield Case(f"case_q{q}_m{m}_c{c}_n{n}", [s for x in xs for s in tables.sums(q, m, c, x)])


def _cases(cert: Certificate, w: Weights) -> list[tuple[int, int, int, int]]:
    fields(cert.parameters, "strategy.parameters", set())
    if w.d_vocab < 2:
        raise Reject("the cubic rule needs d_vocab >= 2")
    raw = fields(cert.evidence, "evidence", {"cases"})["cases"]
    return parse_cases(raw, "cubic", w.k, w.d_vocab, "n", 1)


def _sums(N, q: int, m: int, c: int, x, i) -> list[tuple]:
    """THE inequality of the module docstring, for value x at position i (c = 0: no x term), as
    terms (coefficient, weight) whose sum must be > 0, over the number type N (checker/numbers.py)."""
    K, good = N.k, N.good[q, m]
    pen = lambda t, a: N.max0(N.maxdd[q, m] + N.maxovd[t, a, m])
    terms = [(good, w) for w in N.smallest([N.w[q, m, a] for a in range(K - 1)], K - 1 - c)]
    if q == m:
        terms.append((good, N.w[q, m, K - 1]))
    else:
        terms.append((-pen(q, K - 1), N.w[q, q, K - 1]))
    if c:
        terms.append((-c * pen(x, i), N.w[q, x, i]))
    return terms


class _Good:
    """good[q, m] (q <= m) exactly, formed on demand (O(V K) each): only the cases the filter
    leaves undecided, the entries whose float enclosure leaves the sign open, and the exporters
    read it."""

    def __init__(self, win: np.ndarray, rival: np.ndarray, ov: np.ndarray, e: int, K: int) -> None:
        self.win, self.rival, self.ov, self.e, self.k = win, rival, ov, e, K
        self.cache: dict[tuple[int, int], int] = {}

    def __getitem__(self, qm: tuple[int, int]) -> Fraction:
        return Fraction(self.numerator(int(qm[0]), int(qm[1]))) * Fraction(2) ** self.e

    def numerator(self, q: int, m: int) -> int:
        if (q, m) not in self.cache:
            others = np.arange(len(self.win)) != m
            positions = range(self.k if q == m else self.k - 1)  # G: the non-query positions (+ the query if q = m)
            self.cache[q, m] = min(self.win[q, m] + self.ov[m, i, m] - max(self.rival[q, others] + self.ov[m, i, others])
                                   for i in positions)
        return self.cache[q, m]


class _Lazy:
    """A float Interval table formed one slice (an index along `axis`) at a time, on first use: a
    case reads only its own query's row of w and its max's column of good, so the work and memory
    follow the certificate's cases, never more than the whole table."""

    def __init__(self, shape: tuple[int, ...], axis: int, fill) -> None:
        self.lo, self.hi = counted(np.full(shape, np.nan)), counted(np.full(shape, np.nan))
        self.axis, self.fill, self.done = axis, fill, np.zeros(shape[axis], dtype=bool)

    def __getitem__(self, idx: tuple) -> Interval:
        k = int(idx[self.axis])
        if not self.done[k]:
            at = (slice(None),) * self.axis + (k,)
            x = self.fill(k)
            self.lo[at], self.hi[at] = x.lo, x.hi
            self.done[k] = True
        return Interval(self.lo[idx], self.hi[idx])


class _GoodColumns:
    """Float64 enclosure of good[q, m], q <= m, one column m at a time (O(V^2 K) float work and
    O(V^2 K) memory each). The exact differences
        good[q, m] = min_{i in G} (win[q, m] - R[q]) - max_{j != m} (A[q, j] + B[m, i, j]),
        A[q, j] = rival[q, j] - R[q],  B[t, i, j] = ov[t, i, j] - ov[t, i, t],  R[q] = max_j rival[q, j],
    are formed exactly, then enclosed, so an offset common to the logits cancels first; the max of
    rounded-outward sums is rounded outward once more (nextafter is monotone). Where the enclosure
    leaves the sign open, the exact value is enclosed instead (tighter; an exact tie, good = 0, still
    leaves the filter undecided, and only the exact path decides that case)."""

    def __init__(self, win: np.ndarray, rival: np.ndarray, ov: np.ndarray, e: int, exact: _Good) -> None:
        R = np.array([max(row) for row in rival], dtype=object)[:, None]
        self.A, self.W = Interval.of(rival - R, e), Interval.of(win - R, e)
        self.ov, self.e, self.exact = ov, e, exact

    def __call__(self, m: int) -> Interval:
        K, V = self.exact.k, len(self.ov)
        B = Interval.of(self.ov[m] - self.ov[m, :, m][:, None], self.e)              # [i, j]
        with np.errstate(all="ignore"):  # inf and NaN only ever leave a case undecided (min, max keep NaN)
            gaps = self.W[:m + 1, m][:, None] - _max_sum(self.A[:m + 1], B[:K - 1], m)   # [q, i < K-1]
            last = self.W[m, m] - _max_sum(self.A[m:m + 1], B[K - 1:], m)[0, 0]          # q = m, i = K-1
            lo, hi, at_m = np.full(V, np.nan), np.full(V, np.nan), np.arange(m + 1) == m  # [q <= m]
            lo[:m + 1] = np.minimum(gaps.lo.min(axis=1, initial=np.inf), np.where(at_m, last.lo, np.inf))
            hi[:m + 1] = np.minimum(gaps.hi.min(axis=1, initial=np.inf), np.where(at_m, last.hi, np.inf))
        for q in np.flatnonzero(~(lo[:m + 1] > 0) & ~(hi[:m + 1] < 0)):  # sign left open: enclose the exact value
            lo[q], hi[q] = enclose_ints(np.array(self.exact.numerator(int(q), m), dtype=object), self.e)
        return Interval(lo, hi)


def _max_sum(A: Interval, B: Interval, m: int) -> Interval:
    """[q, i] -> enclosure of max_{j != m} (A[q, j] + B[i, j])."""
    def side(a: np.ndarray, b: np.ndarray, step) -> np.ndarray:
        b = b.copy()
        b[:, m] = -np.inf
        return step((a[:, None, :] + b[None, :, :]).max(axis=2))
    return Interval(side(A.lo, B.lo, down), side(A.hi, B.hi, up))


def _max_except(n: np.ndarray) -> np.ndarray:
    """out[..., m] = max_{j != m} n[..., j] (ints): the row's best, or its second best at the best."""
    best = n.argmax(axis=-1)[..., None]
    rest = n.copy()
    np.put_along_axis(rest, best, n.min(axis=-1)[..., None], axis=-1)
    out = np.repeat(n.max(axis=-1)[..., None], n.shape[-1], axis=-1)
    np.put_along_axis(out, best, rest.max(axis=-1)[..., None], axis=-1)
    return out


class _Tables:
    """The exact ingredients, from the integer path terms, read through both number types."""

    def __init__(self, p: Paths, exp_w: tuple | None = None) -> None:
        V, K = p.d_vocab, p.k
        e = min(p.win.e, p.rival.e, p.ov.e)
        win, ov = p.win.align(e), p.ov.align(e)
        rival = win if p.rival is p.win else p.rival.align(e)  # one table under exact-real semantics
        tops = p.qk.n.reshape(V, -1).max(axis=1)
        tables = {"maxdd": Dyadic(_max_except(rival) - win, e),                 # [q, m]
                  "maxovd": Dyadic(_max_except(ov) - ov, e),                    # [t, i, m]
                  "w": Dyadic(p.qk.n - tops[:, None, None], p.qk.e)}            # scores - top: [q, t, i]
        self.k = K
        self.exact = Exact(K, p.d_head, tables, weights=("w",))
        self.float = Float(K, p.d_head, {"maxdd": tables["maxdd"], "maxovd": tables["maxovd"]})
        self.float.w = Interval(*exp_w) if exp_w else \
            _Lazy((V, V, K), 0, lambda q: self.float.exp(Interval.of(tables["w"].n[q], p.qk.e)))
        self.exact.good = _Good(win, rival, ov, e, K)
        self.float.good = _Lazy((V, V), 1, _GoodColumns(win, rival, ov, e, self.exact.good))

    def sums(self, q: int, m: int, c: int, x: int | None) -> list[expo.Obligation]:
        """The exact sums for value x, one per position (c = 0: the one sum)."""
        return [_sums(self.exact, q, m, c, x, i) for i in (range(self.k - 1) if c else [None])]

    def filter(self, q: int, m: int, c: int, xs: np.ndarray) -> np.ndarray:
        """Per value in xs (c = 0: the one configuration, a 0-d array): True if float64 intervals
        prove the inequality at every position; False means 'decide exactly'."""
        ok = self.float.holds(_sums(self.float, q, m, c, xs[:, None], np.arange(self.k - 1)[None, :]))
        return ok.all(axis=-1) if c else ok

    def exact_holds(self, q: int, m: int, c: int, x: int | None) -> bool:
        return all(self.exact.holds(s) for s in self.sums(q, m, c, x))

    def passing(self, q: int, m: int, c: int, want: int) -> list[int | None]:
        """Values x < m that pass (None stands for the c = 0 configuration): all those the float
        filter proves, then exactly decided ones until `want` are found."""
        xs = np.arange(m if c else 1)
        ok = self.filter(q, m, c, xs)
        if not c:
            return [None] if ok or self.exact_holds(q, m, c, None) else []
        decided = [int(x) for x in xs[ok]]
        rest = (int(x) for x in xs[~ok] if self.exact_holds(q, m, c, int(x)))
        return decided + list(islice(rest, max(0, want - len(decided))))  # stops once enough are found

