"""Hybrid rule: a compact proof's cases, plus brute force on exactly the inputs they leave uncovered.

Parameters {"compact": NAME} plus the compact rule's own parameters (NAME = "cubic": none;
"subcubic": its variant, eupu/attn/err); evidence = the compact rule's evidence plus
"correct_inputs" and "total_inputs" as for brute force. The compact rule decides its cases with its
own code, and each proven case gives the set S of non-max values it covers in its triple (q, m, c):
cubic.py's proven set, or subcubic.py's [0, m - g]; c = 0: the triple's one input (COMPACT). Every
other input, and only those, is then enumerated from the case structure
(`residue`, never from the certificate) and decided like brute force decides an input. The count
is covered + correct residue inputs: the exact number of correct inputs, which the evidence must
state exactly (exact-real) or at most (float32), as for brute force. Disjointness and coverage:
docs/soundness.md#hybrid-rule-checkerruleshybridpy.

Deciding a residue input (query q, max m, non-max positions I holding values x_i; the other
positions F, the query's included, hold fixed tokens). With C[i, j] and w_i as in brute_force.py,
  Z (logit_m - logit_j) = A[j] + sum_{i in I} w_i C[i, j],   A[j] = sum_{i in F} w_i C[i, j],
and A depends on (q, m, I) only, so a lower bound of it is formed once per (q, m, I). Stages:
 A. min_j A + sum_I w_i (min_j dd[m, j] + min_j ovd[x_i, i, m, j]) > 0  (C = dd + ovd; a min of
    a sum is at least the sum of the mins): correct.
 B. candidates J = the R smallest dd[m, .] and the R smallest ovd[x_i, i, m, .] (each i in I):
    every j in J by its own sum, every other j by min_j A + sum_I w_i (dd_R + ovd_R) with dd_R,
    ovd_R the (R+1)-th smallest of their rows: all > 0: correct.
 C. the rest: brute_force.per_logit (per-logit intervals, then exact signs), with the inputs'
    lower bounds of C from the same tables.
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction
from itertools import combinations
from math import comb, prod
from typing import Iterator

import numpy as np

from checker.certificate import Certificate
from checker.dyadic import Dyadic
from checker.errors import Malformed, OutOfBudget
from checker.interval import down, enclose_ints, mul_lower, mul_upper, up
from checker.paths import Paths
from checker.rules import brute_force as bf, cubic, semantic_paths, subcubic
from checker.safetensors import Weights

R = 2            # candidate competitors per row in stage B
MAX_RESIDUE = bf.MAX_INPUTS  # inputs left to enumerate, the same cap as brute force's
CHUNK = 1 << 16  # residue inputs per evaluated block

Sets = dict[tuple[int, int, int], list]  # (q, m, c) -> the proven non-max values (c = 0: [None])


def rule(cert: Certificate, w: Weights) -> Fraction:
    """Hybrid: (inputs the compact proof covers + correct inputs among the rest) / d_vocab**K.

    Soundness: every input has one triple (q, m, c); a covered input lies in a proven case, so it is
    correct; `residue` yields each input of every triple that no case covers exactly once, and
    `count_residue` decides each of them exactly (stages A-C). So the sum is the exact count."""
    par, ev = cert.parameters, cert.evidence
    if not isinstance(par, dict) or not isinstance(par.get("compact"), str) or par["compact"] not in COMPACT:
        raise Malformed(f"strategy.parameters.compact must be one of {sorted(COMPACT)}")
    if not isinstance(ev, dict) or not set(bf.COUNTS) <= set(ev):
        raise Malformed(f"evidence needs {list(bf.COUNTS)} beside the compact proof's fields")
    claimed = bf.claimed_count(ev, w)
    K, V = w.k, w.d_vocab
    if V ** 3 * K > bf.MAX_TABLE:
        raise OutOfBudget(f"the residue's gap table would have d_vocab^3 K = {V ** 3 * K:,} entries "
                          f"(cap brute_force.MAX_TABLE = {bf.MAX_TABLE:,})")
    sub = dataclasses.replace(cert, strategy=par["compact"],
                              parameters={k: v for k, v in par.items() if k != "compact"},
                              evidence={k: v for k, v in ev.items() if k not in bf.COUNTS})
    p = semantic_paths(cert, w)
    sets = COMPACT[par["compact"]](sub, w, p)
    left = residue_size(V, K, sets)
    if left > MAX_RESIDUE:
        raise OutOfBudget(f"the compact proof leaves {left:,} inputs to enumerate (cap MAX_RESIDUE = {MAX_RESIDUE:,})")
    covered = sum(comb(K - 1, c) * len(S) ** c for (_, _, c), S in sets.items())
    return bf.settle(cert, claimed, covered + count_residue(p, sets))


def _cubic_sets(sub: Certificate, w: Weights, p: Paths) -> Sets:
    """The cubic rule's decisions: each claimed case with its proven set (rejects a false case)."""
    return {(q, m, c): sorted(S) if c else [None] for q, m, c, _, S in cubic.proven(sub, w, p)}


def _subcubic_sets(sub: Certificate, w: Weights, p: Paths) -> Sets:
    """The subcubic rule's decisions (its own exact tables; exact-real only): case (q, m, c, g)
    covers the values [0, m - g] (rejects a false case)."""
    return {(q, m, c): subcubic_covers(m, c, g) for q, m, c, g in subcubic.proven(sub, w)}


def subcubic_covers(m: int, c: int, g: int) -> list:
    """The non-max values subcubic case (q, m, c, g) covers: [0, m - g] ([None] for c = 0)."""
    return list(range(m - g + 1)) if c else [None]


COMPACT = {"cubic": _cubic_sets, "subcubic": _subcubic_sets}


def residue_size(V: int, K: int, sets: Sets) -> int:
    """How many inputs `residue` yields."""
    return sum(residue_sizes(V, K, sets).values())


def residue_sizes(V: int, K: int, sets: Sets) -> dict[int, int]:
    """How many inputs `residue` yields per number c of non-max values: per triple, its inputs minus
    the covered ones."""
    out = dict.fromkeys(range(K), 0)
    for q in range(V):
        for m in range(q, V):
            for c in range(K if q == m else K - 1):
                out[c] += comb(K - 1, c) * (m ** c - len(sets.get((q, m, c), [])) ** c) if c else 1 - ((q, m, 0) in sets)
    return out


def residue(V: int, K: int, sets: Sets) -> Iterator[tuple[int, tuple[int, ...], np.ndarray, np.ndarray]]:
    """Blocks (q, I, m [n], X [n, |I|]): the inputs with query q, maxima m, values X at the
    non-max positions I and m at the other non-query positions, that no case of `sets` covers.

    Each input not covered occurs in exactly one block: per triple (q, m, c) the value tuples in
    [0, m)^c with some value outside S (all of them if (q, m, c) is not claimed), split by the first
    such position p (values in S before p, outside S at p, any value after), for each of the
    C(K-1, c) choices of I."""
    for q in range(V):
        for c in range(K):
            pieces: list[tuple[int, np.ndarray]] = []
            for m in range(q, V):
                if c > (K - 1 if q == m else K - 2):
                    continue
                S = sets.get((q, m, c))
                if c == 0:
                    if S is None:
                        pieces.append((m, np.zeros((1, 0), dtype=np.int64)))
                    continue
                inside = np.zeros(m, dtype=bool)
                inside[S or []] = True
                good, bad, every = np.flatnonzero(inside), np.flatnonzero(~inside), np.arange(m)
                for first in range(c):
                    pieces += [(m, X) for X in _product([good] * first + [bad] + [every] * (c - 1 - first))]
            group: list[tuple[int, np.ndarray]] = []
            for m, X in pieces:  # concatenated into blocks of about CHUNK rows
                if group and sum(len(Y) for _, Y in group) + len(X) > CHUNK:
                    yield from _blocks(q, c, K, group)
                    group = []
                group.append((m, X))
            yield from _blocks(q, c, K, group)


def _blocks(q: int, c: int, K: int, group: list[tuple[int, np.ndarray]]) -> Iterator:
    """One block per choice of the c non-max positions, all holding the group's rows."""
    if not group:
        return
    ms = np.concatenate([np.full(len(X), m, dtype=np.int64) for m, X in group])
    Xs = np.concatenate([X for _, X in group])
    for I in combinations(range(K - 1), c):
        yield q, I, ms, Xs


def _product(lists: list[np.ndarray]) -> Iterator[np.ndarray]:
    """The Cartesian product of the lists as rows (the last list varying fastest), CHUNK at a time."""
    sizes = [len(v) for v in lists]
    total = prod(sizes)
    for start in range(0, total, CHUNK):
        idx, cols = np.arange(start, min(total, start + CHUNK), dtype=np.int64), []
        for v, size in zip(lists[::-1], sizes[::-1]):
            idx, digit = np.divmod(idx, size)
            cols.append(v[digit])
        yield np.stack(cols[::-1], axis=1)


def _rebased(d: Dyadic, shift: np.ndarray, e: int) -> tuple[np.ndarray, np.ndarray]:
    """Enclosures of d - shift (exact, aligned at exponent e): differences of the results are those
    of d, with rounding errors relative to the row's spread instead of a common offset."""
    return enclose_ints(d.align(e) - shift, e)


class _Model:
    """Tables shared by all queries: attention weights, OV differences, their smallest entries."""

    def __init__(self, p: Paths) -> None:
        V, K = p.d_vocab, p.k
        self.p, self.r = p, max(0, min(R, V - 2))
        self.tops, (self.w_lo, self.w_hi) = bf.exp_table(p)
        self.o = _rebased(p.ov, p.ov.n[:, :, :1], p.ov.e)                     # [t, i, v]
        e = min(p.win.e, p.rival.e)
        base = p.rival.align(e)[:, :1]
        self.win, self.rival = _rebased(p.win, base, e), _rebased(p.rival, base, e)  # [q, v]
        self.ovd = down(self.o[0][:, :, :, None] - self.o[1][:, :, None, :])   # [t, i, m, j] <= OV[t,i,m] - OV[t,i,j]
        diag = np.arange(V)
        self.ovd[:, :, diag, diag] = np.inf
        self.ov_min, self.ov_rest = np.full((V, K - 1, V), np.inf), np.full((V, K - 1, V), np.inf)
        self.ov_top = np.zeros((V, K - 1, V, self.r), dtype=np.int64)                # [x, i, m, :r]
        for m in range(1, V):  # rows (x, i, m) with x < m: the only ones a residue input reads
            self.ov_min[:m, :, m], self.ov_rest[:m, :, m], self.ov_top[:m, :, m] = \
                _smallest(self.ovd[:m, :K - 1, m], self.r)


def _smallest(rows: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row (last axis): the smallest entry, the (r+1)-th smallest, and the indices of the r
    smallest (a selection of r + 1 order statistics, counted as r + 1 passes: checker/ops.py)."""
    part = np.argpartition(rows, [0, r] if r else [0], axis=-1)
    vals = np.take_along_axis(rows, part[..., [0, r]], axis=-1)
    return vals[..., 0], vals[..., 1], part[..., :r]


def count_residue(p: Paths, sets: Sets) -> int:
    """The number of correct inputs among those `residue` yields, each decided exactly."""
    md = _Model(p)
    V, K = p.d_vocab, p.k
    correct = 0
    query = None
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN only leave an input undecided
        for q, I, m, X in residue(V, K, sets):
            if query is None or query.q != q:
                query = _Query(md, q)
            correct += query.count(I, m, X)
    return correct


class _Query:
    """Per-query tables: direct-path differences and the fixed positions' sums A, per (m, I)."""

    def __init__(self, md: _Model, q: int) -> None:
        V, K = md.p.d_vocab, md.p.k
        self.md, self.q = md, q
        self.dd = down(md.win[0][q][:, None] - md.rival[1][q][None, :])      # [m, j] <= D[q,m] - D[q,j]
        self.dd[np.arange(V), np.arange(V)] = np.inf
        self.dd_min, self.dd_rest, self.dd_top = _smallest(self.dd, md.r)
        ms = np.arange(q, V)                  # every residue input of query q has its max m >= q
        toks = np.concatenate([np.repeat(ms[:, None], K - 1, axis=1), np.full((len(ms), 1), q)], axis=1)
        pos = np.arange(K)
        c_lo = down(self.dd[ms][:, None, :] + md.ovd[toks, pos, ms[:, None]])                      # [m - q, K, j]
        self.fixed = mul_lower(c_lo, md.w_lo[q][toks, pos][..., None], md.w_hi[q][toks, pos][..., None])
        self.A: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

    def sums(self, I: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Lower bounds A[m, j] of the fixed positions' sum for non-max positions I (+inf at j = m,
        no competitor), and their minima over j; rows indexed by m - q."""
        if I not in self.A:
            F = [i for i in range(self.md.p.k) if i not in I]
            acc = self.fixed[:, F[0]]
            for i in F[1:]:
                acc = down(acc + self.fixed[:, i])
            acc[np.arange(len(acc)), np.arange(self.q, self.md.p.d_vocab)] = np.inf
            self.A[I] = (acc,) + _smallest(acc, self.md.r)
        return self.A[I]

    def count(self, I: tuple[int, ...], m: np.ndarray, X: np.ndarray) -> int:
        md, q, n, c = self.md, self.q, len(m), len(I)
        A, A_min, A_rest, A_top = self.sums(I)   # rows m - q
        wl = md.w_lo[q][X, I] if c else np.zeros((n, 0))
        wh = md.w_hi[q][X, I] if c else np.zeros((n, 0))
        # stage A
        g = down(self.dd_min[m][:, None] + md.ov_min[X, I, m[:, None]]) if c else np.zeros((n, 0))
        ok = _total(A_min[m - q], mul_lower(g, wl, wh)) > 0
        wrong = np.zeros(n, dtype=bool)
        rows = np.flatnonzero(~ok)
        if rows.size and md.r:  # stage B
            ok[rows], wrong[rows] = self._candidates((A, A_rest, A_top), I, m[rows],
                                                     X[rows], wl[rows], wh[rows])
        rows = np.flatnonzero(~ok & ~wrong)
        return int(ok.sum()) + (self._per_logit(self._toks(I, m[rows], X[rows]), m[rows]) if rows.size else 0)

    def _toks(self, I: tuple[int, ...], m: np.ndarray, X: np.ndarray) -> np.ndarray:
        K = self.md.p.k
        toks = np.repeat(m[:, None], K, axis=1)
        toks[:, K - 1] = self.q
        toks[:, list(I)] = X
        return toks

    def _candidates(self, a: tuple, I, m, X, wl, wh) -> tuple[np.ndarray, np.ndarray]:
        """Stage B: (proven correct, proven wrong) per input; a wrong one has a candidate j whose
        upper bound of the gap is <= 0."""
        md, n, c = self.md, len(m), len(I)
        A, A_rest, A_top = a   # rows m - q
        row = m - self.q
        J = np.concatenate([A_top[row], self.dd_top[m]] + [md.ov_top[X[:, k], I[k], m] for k in range(c)], axis=1)
        terms = [mul_lower(down(self.dd[m[:, None], J] + md.ovd[X[:, k, None], I[k], m[:, None], J]),
                           wl[:, k, None], wh[:, k, None]) for k in range(c)]
        each = _total(A[row[:, None], J], np.stack(terms, axis=-1) if c else np.zeros(J.shape + (0,)))
        g = down(self.dd_rest[m][:, None] + md.ov_rest[X, I, m[:, None]]) if c else np.zeros((n, 0))
        rest = _total(A_rest[row], mul_lower(g, wl, wh))
        ok, wrong = (each > 0).all(axis=1) & (rest > 0), np.zeros(n, dtype=bool)
        r, k = np.nonzero(~(each > 0) & (J != m[:, None]))   # j = m is no competitor
        if r.size:
            wrong[r[self._upper(self._toks(I, m[r], X[r]), m[r], J[r, k]) <= 0]] = True
        return ok, wrong

    def _upper(self, toks: np.ndarray, m: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Upper bounds of Z (logit_m - logit_j), one competitor j per input row."""
        md, q = self.md, self.q
        pos = np.arange(toks.shape[1])
        dd = up(md.win[1][q][m] - md.rival[0][q][j])                                   # >= D[q,m] - D[q,j]
        ovd = up(md.o[1][toks, pos, m[:, None]] - md.o[0][toks, pos, j[:, None]])      # >= OV[t,i,m] - OV[t,i,j]
        c_hi = up(dd[:, None] + ovd)
        return bf.rounded_sum(mul_upper(c_hi, md.w_lo[q][toks, pos], md.w_hi[q][toks, pos]), up)

    def _per_logit(self, toks: np.ndarray, m: np.ndarray) -> int:
        md, q, K = self.md, self.q, self.md.p.k
        pos = np.arange(K)
        lo_c = down(self.dd[m][:, None, :] + md.ovd[toks, pos, m[:, None]])
        dd_hi = up(md.win[1][q][m][:, None] - md.rival[0][q][None, :])                 # [n, j]
        hi_c = up(dd_hi[:, None, :] + up(md.o[1][toks, pos, m[:, None]][:, :, None] - md.o[0][toks, pos]))
        hi_c[np.arange(len(m)), :, m] = np.inf                                           # j = m never decides
        return bf.per_logit(md.p, q, toks, m, lo_c, hi_c, md.w_lo[q][toks, pos],
                            md.w_hi[q][toks, pos], int(md.tops[q]))


def _total(base: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """Lower bound of base + the sum of terms over the last axis, each partial sum rounded down."""
    acc = base
    for k in range(terms.shape[-1]):
        acc = down(acc + terms[..., k])
    return acc
