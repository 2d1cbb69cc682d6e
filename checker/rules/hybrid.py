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
and A depends on (q, m, I) only, so a lower bound of it is formed once per (q, m, I), each set's
from the next larger set's by one addition. Stages:
 A. min_j A + sum_I T[m, x_i, i] > 0, T[m, x, i] <= w_i(x) (min_j dd[m, j] + min_j ovd[x, i, m, j])
    tabulated per query (C = dd + ovd; a min of a sum is at least the sum of the mins): correct.
 B. candidates J = the R smallest A[.], dd[m, .] and ovd[x_i, i, m, .] (each i in I), each distinct
    one by its own sum, every other j by A_R + sum_I w_i (dd_R + ovd_R) with A_R, dd_R, ovd_R the
    (R+1)-th smallest of their rows (selected only for the rows stage B reads): all > 0: correct.
 C. the rest: brute_force.per_logit (per-logit intervals, then exact signs), with the inputs'
    lower bounds of C from the same tables.
The attention weights' enclosures (brute_force.exp_table) are formed once, for the cubic part's
filter and the residue.
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction
from itertools import combinations, groupby
from math import comb
from typing import Iterator

import numpy as np

from checker.certificate import Certificate
from checker.dyadic import Dyadic
from checker.errors import Malformed, OutOfBudget
from checker.interval import down, enclose_ints, mul_lower, mul_upper, up
from checker.ops import counted
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
    weights = bf.exp_table(p)  # the attention weights' enclosures: the cubic part and the residue share them
    sets = COMPACT[par["compact"]](sub, w, p, weights)
    left = residue_size(V, K, sets)
    if left > MAX_RESIDUE:
        raise OutOfBudget(f"the compact proof leaves {left:,} inputs to enumerate (cap MAX_RESIDUE = {MAX_RESIDUE:,})")
    covered = sum(comb(K - 1, c) * len(S) ** c for (_, _, c), S in sets.items())
    return bf.settle(cert, w, claimed, covered + count_residue(p, sets, weights))


def _cubic_sets(sub: Certificate, w: Weights, p: Paths, exp_w: tuple) -> Sets:
    """The cubic rule's decisions: each claimed case with its proven set (rejects a false case);
    exp_w: the float enclosures of the attention weights, which its filter reads."""
    return {(q, m, c): sorted(S) if c else [None] for q, m, c, _, S in cubic.proven(sub, w, p, exp_w)}


def _subcubic_sets(sub: Certificate, w: Weights, p: Paths, exp_w: tuple) -> Sets:
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
            for m in range(q, V if c < K - 1 else q + 1):  # K - 1 non-max values: the query is the max
                S = sets.get((q, m, c))
                if c == 0:  # the triple's one input, unless its case is proven
                    pieces += [(m, np.zeros((1, 0), dtype=np.int64))] if S is None else []
                    continue
                inside = np.zeros(m, dtype=bool)
                inside[S or []] = True
                good, bad, every = np.flatnonzero(inside), np.flatnonzero(~inside), np.arange(m)
                for first in range(c):
                    lists = [good] * first + [bad] + [every] * (c - 1 - first)
                    pieces += [(m, X) for X in bf.product_rows(lists, CHUNK)]
            group: list[tuple[int, np.ndarray]] = []
            rows = 0
            for m, X in pieces:  # concatenated into blocks of about CHUNK rows
                if group and rows + len(X) > CHUNK:
                    yield from _blocks(q, c, K, group)
                    group, rows = [], 0
                group.append((m, X))
                rows += len(X)
            yield from _blocks(q, c, K, group)


def _blocks(q: int, c: int, K: int, group: list[tuple[int, np.ndarray]]) -> Iterator:
    """One block per choice of the c non-max positions, all holding the group's rows."""
    if not group:
        return
    ms = np.concatenate([np.full(len(X), m, dtype=np.int64) for m, X in group])
    Xs = np.concatenate([X for _, X in group])
    for I in combinations(range(K - 1), c):
        yield q, I, ms, Xs


def _rebased(d: Dyadic, shift: np.ndarray, e: int) -> tuple[np.ndarray, np.ndarray]:
    """Enclosures of d - shift (exact, aligned at exponent e): differences of the results are those
    of d, with rounding errors relative to the row's spread instead of a common offset."""
    return enclose_ints(d.align(e) - shift, e)


class _Ranks:
    """Stage B's order statistics of a table's rows (all axes but the last, whose entries are the
    competitors j): per row the indices of the r smallest entries and the (r+1)-th smallest. A row
    is selected on first use and once (stage B reads few rows); one selection (argpartition at the
    (r+1)-th entry, which also gathers the r smallest before it), counted as such (checker/ops.py)."""

    def __init__(self, table: np.ndarray, r: int) -> None:
        self.rows, self.shape, self.r = table.reshape(-1, table.shape[-1]), table.shape[:-1], r
        self.rest = counted(np.full(len(self.rows), np.nan))
        self.top = np.zeros((len(self.rows), r), dtype=np.int64)
        self.done = np.zeros(len(self.rows), dtype=bool)

    def __call__(self, *idx) -> tuple[np.ndarray, np.ndarray]:
        """(the (r+1)-th smallest, the r smallest's indices) of the rows table[idx] (broadcast)."""
        flat = np.ravel_multi_index(np.broadcast_arrays(*idx), self.shape)
        new = np.unique(flat[~self.done[flat]])
        if new.size:
            part = np.argpartition(self.rows[new], self.r, axis=-1)
            self.rest[new] = np.take_along_axis(self.rows[new], part[:, self.r:self.r + 1], axis=-1)[:, 0]
            self.top[new], self.done[new] = part[:, :self.r], True
        return self.rest[flat], self.top[flat]


class _Model:
    """Tables shared by all queries: attention weights, OV differences, their row minima."""

    def __init__(self, p: Paths, weights: tuple | None = None) -> None:
        V, K = p.d_vocab, p.k
        self.p, self.r = p, max(0, min(R, V - 2))
        self.w_lo, self.w_hi = weights or bf.exp_table(p)
        self.o = _rebased(p.ov, p.ov.n[:, :, :1], p.ov.e)                     # [t, i, v]
        e = min(p.win.e, p.rival.e)
        base = p.rival.align(e)[:, :1]
        self.win, self.rival = _rebased(p.win, base, e), _rebased(p.rival, base, e)  # [q, v]
        self.ovd = down(self.o[0][:, :, :, None] - self.o[1][:, :, None, :])   # [t, i, m, j] <= OV[t,i,m] - OV[t,i,j]
        diag = np.arange(V)
        self.ovd[:, :, diag, diag] = np.inf
        self.ov_min = counted(np.full((V, K - 1, V), np.inf))                      # [x, i, m]
        for m in range(1, V):  # rows (x, i, m) with x < m: the only ones a residue input reads
            self.ov_min[:m, :, m] = self.ovd[:m, :K - 1, m].min(axis=-1)
        self.ov_ranks = _Ranks(self.ovd, self.r)                                   # rows [x, i, m]


def count_residue(p: Paths, sets: Sets, weights: tuple | None = None) -> int:
    """The number of correct inputs among those `residue` yields, each decided exactly (weights:
    brute_force.exp_table(p), if already formed)."""
    md = _Model(p, weights)
    correct = 0
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN only leave an input undecided
        for q, blocks in groupby(residue(p.d_vocab, p.k, sets), key=lambda block: block[0]):  # query by query
            query = _Query(md, q)
            correct += sum(query.count(I, m, X) for _, I, m, X in blocks)
    return correct


class _Query:
    """Per-query tables: direct-path differences, stage A's per-value terms, and the fixed
    positions' sums A per set I of non-max positions, rows m - q (m >= q: every residue input of
    query q has its max there)."""

    def __init__(self, md: _Model, q: int) -> None:
        V, K = md.p.d_vocab, md.p.k
        self.md, self.q = md, q
        self.dd = down(md.win[0][q][:, None] - md.rival[1][q][None, :])      # [m, j] <= D[q,m] - D[q,j]
        self.dd[np.arange(V), np.arange(V)] = np.inf
        self.dd_min, self.dd_ranks = self.dd.min(axis=1), _Ranks(self.dd, md.r)
        ms = np.arange(q, V)
        # stage A's term of value x < m at non-max position i, one row per (m, x): T[start[m - q] + x, i]
        self.start = np.concatenate([[0], np.cumsum(ms)[:-1]])
        mm, xx = np.repeat(ms, ms), np.arange(ms.sum()) - np.repeat(self.start, ms)
        self.T = mul_lower(down(self.dd_min[mm][:, None] + md.ov_min[xx, :, mm]),
                           md.w_lo[q][xx, :K - 1], md.w_hi[q][xx, :K - 1])
        toks = np.concatenate([np.repeat(ms[:, None], K - 1, axis=1), np.full((len(ms), 1), q)], axis=1)
        pos = np.arange(K)
        wl, wh = md.w_lo[q][toks, pos][..., None], md.w_hi[q][toks, pos][..., None]
        self.fixed = mul_lower(self._c_lo(toks, ms), wl, wh)                        # [m - q, K, j]
        self.A: dict[tuple[int, ...], np.ndarray] = {}
        self.A_min: dict[tuple[int, ...], np.ndarray] = {}
        self.A_ranks: dict[tuple[int, ...], _Ranks] = {}

    def sums(self, I: tuple[int, ...]) -> np.ndarray:
        """Lower bounds A[m - q, j] of the fixed positions' sum for non-max positions I (+inf at
        j = m, no competitor): the query position's term if I is every other position, else the
        sum for I plus the first position p not in I, plus p's term (one addition per entry a set).
        The chain I, I + {p}, ... is formed from its largest set down, in a loop (K - 1 sets deep)."""
        K = self.md.p.k
        chain, added = [I], []  # up to a set formed already, or one of every non-query position
        while chain[-1] not in self.A and len(chain[-1]) < K - 1:
            have = set(chain[-1])
            added.append(next(i for i in range(K - 1) if i not in have))
            chain.append(tuple(sorted(chain[-1] + (added[-1],))))
        if chain[-1] not in self.A:
            self._keep(chain[-1], self.fixed[:, K - 1].copy())
        for J, bigger, p in reversed(list(zip(chain, chain[1:], added))):
            self._keep(J, down(self.A[bigger] + self.fixed[:, p]))
        return self.A[I]

    def _keep(self, I: tuple[int, ...], acc: np.ndarray) -> None:
        acc[np.arange(len(acc)), np.arange(self.q, self.md.p.d_vocab)] = np.inf
        self.A[I] = acc
        self.A_ranks[I] = _Ranks(acc, self.md.r)  # its rows are ranked only if stage B reads them

    def count(self, I: tuple[int, ...], m: np.ndarray, X: np.ndarray) -> int:
        if I not in self.A_min:
            self.A_min[I] = self.sums(I).min(axis=1)
        row = m - self.q
        # stage A: min_j A + sum_I T > 0
        terms = self.T[self.start[row][:, None] + X, np.array(I, dtype=np.int64)]
        ok = bf.rounded_sum(np.column_stack([self.A_min[I][row], terms])) > 0
        wrong = np.zeros(len(m), dtype=bool)
        rows = np.flatnonzero(~ok)
        if rows.size and self.md.r:  # stage B
            ok[rows], wrong[rows] = self._candidates(I, m[rows], X[rows])
        rows = np.flatnonzero(~ok & ~wrong)
        return int(ok.sum()) + (self._per_logit(self._toks(I, m[rows], X[rows]), m[rows]) if rows.size else 0)

    def _toks(self, I: tuple[int, ...], m: np.ndarray, X: np.ndarray) -> np.ndarray:
        K = self.md.p.k
        toks = np.repeat(m[:, None], K, axis=1)
        toks[:, K - 1] = self.q
        toks[:, list(I)] = X
        return toks

    def _candidates(self, I: tuple[int, ...], m: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stage B: (proven correct, proven wrong) per input; a wrong one has a candidate j whose
        upper bound of the gap is <= 0. Each distinct candidate of an input is evaluated once."""
        md, q, n = self.md, self.q, len(m)
        row, A = m - q, self.sums(I)
        A_rest, A_top = self.A_ranks[I](row)
        dd_rest, dd_top = self.dd_ranks(m)
        at = np.array(I, dtype=np.int64)
        ov_rest, ov_top = md.ov_ranks(X, at, m[:, None])   # [n, c], [n, c, r]
        wl, wh = md.w_lo[q][X, at], md.w_hi[q][X, at]
        # every j outside the candidates at once
        rest = bf.rounded_sum(np.column_stack([A_rest, mul_lower(down(dd_rest[:, None] + ov_rest), wl, wh)]))
        # the candidates, each distinct (input, j) once
        J = np.sort(np.concatenate([A_top, dd_top, ov_top.reshape(n, -1)], axis=1), axis=1)
        new = np.ones(J.shape, dtype=bool)
        new[:, 1:] = J[:, 1:] != J[:, :-1]
        r, j = np.nonzero(new)
        j = J[r, j]
        mr = m[r]
        c_lo = down(self.dd[mr, j][:, None] + md.ovd[X[r], at, mr[:, None], j[:, None]])    # [len(r), c]
        each = bf.rounded_sum(np.column_stack([A[row[r], j], mul_lower(c_lo, wl[r], wh[r])]))
        failed = ~(each > 0)
        ok = (rest > 0) & (np.bincount(r[failed], minlength=n) == 0)
        wrong = np.zeros(n, dtype=bool)
        f = np.flatnonzero(failed & (j != mr))   # j = m is no competitor
        if f.size:
            wrong[r[f][self._upper(self._toks(I, m[r[f]], X[r[f]]), m[r[f]], j[f]) <= 0]] = True
        return ok, wrong

    def _c_lo(self, toks: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Lower bounds [n, K, V] of C[i, j] for the inputs toks [n, K] with maxima m (+inf at j = m)."""
        return down(self.dd[m][:, None, :] + self.md.ovd[toks, np.arange(toks.shape[1]), m[:, None]])

    def _c_hi(self, toks: np.ndarray, m: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Upper bounds [n, K, J] of C[i, j] for the inputs toks [n, K] with maxima m [n] and
        competitors j [n or 1, J]: the outer ends of the max's and the competitor's enclosures."""
        md, q, pos = self.md, self.q, np.arange(toks.shape[1])
        dd = up(md.win[1][q][m][:, None] - md.rival[0][q][j])                        # >= D[q,m] - D[q,j]
        ovd = up(md.o[1][toks, pos, m[:, None]][..., None] - md.o[0][toks[..., None], pos[:, None], j[:, None]])
        return up(dd[:, None] + ovd)                                  # ovd >= OV[t,i,m] - OV[t,i,j]

    def _upper(self, toks: np.ndarray, m: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Upper bounds of Z (logit_m - logit_j), one competitor j per input row."""
        md, q, pos = self.md, self.q, np.arange(toks.shape[1])
        c_hi = self._c_hi(toks, m, j[:, None])[..., 0]
        return bf.rounded_sum(mul_upper(c_hi, md.w_lo[q][toks, pos], md.w_hi[q][toks, pos]), up)

    def _per_logit(self, toks: np.ndarray, m: np.ndarray) -> int:
        md, q, pos = self.md, self.q, np.arange(self.md.p.k)
        hi_c = self._c_hi(toks, m, np.arange(md.p.d_vocab)[None, :])
        hi_c[np.arange(len(m)), :, m] = np.inf                                           # j = m never decides
        wl, wh = md.w_lo[q][toks, pos], md.w_hi[q][toks, pos]
        return bf.per_logit(md.p, q, toks, m, self._c_lo(toks, m), hi_c, wl, wh)
