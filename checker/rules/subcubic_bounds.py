"""The subcubic rule's per-option bounds, each exact (Dyadic) or rounded upward, never formed from EQKE
except by the two exact-EQKE residual options. See docs/soundness.md, "Subcubic rules".

dpen_*: upper bounds dpen[q, m] >= max_{j != m} D[q, j] - D[q, m] of the direct path (eupu axis).
spread: upper bounds spread[q] >= max_{x, m} |qres[q].(kres[x] - kres[m])| = the row span of the
residual R = qres kres^T (err axis), from the factor chain R = eq1 @ wq @ wk2^T @ E^T.
"""
from __future__ import annotations

from fractions import Fraction
from functools import reduce
from math import isqrt
from operator import matmul

import numpy as np

from checker import interval as iv
from checker.dyadic import Dyadic
from checker.ops import counted
from checker.rules import Reject

SVD_POWER = 64  # k: sigma_1^2 <= tr((G H)^k)^(1/k); at most a factor d_head^(1/2k) loose on sigma_1


# ------------------------------------------------------------------ small exact helpers

def zeros(shape) -> Dyadic:
    return Dyadic(np.zeros(shape, dtype=object), 0)


def tr(x: Dyadic) -> Dyadic:
    return Dyadic(x.n.T, x.e)


def absd(x: Dyadic) -> Dyadic:
    return Dyadic(np.abs(x.n), x.e)


def rowspan(x: Dyadic) -> Dyadic:
    """max_j x[r, j] - min_j x[r, j] per row r (a vector: the span of the whole vector)."""
    return Dyadic(x.n.max(axis=-1) - x.n.min(axis=-1), x.e)


def floor_mean(x: Dyadic) -> Dyadic:
    """A dyadic row near the mean of x's rows: the exact mean rounded down at x's exponent. The
    bounds below hold for ANY row c, so the rounding only affects tightness."""
    return Dyadic(np.array([int(s) // x.n.shape[0] for s in x.n.sum(axis=0)], dtype=object), x.e)


# ------------------------------------------------------------------ direct path (eupu)

def dpen_from_d(D: Dyadic, how: str) -> Dyadic:
    """From the exact direct path D [V, V] (eupu exact, max-diff, global-max-diff):
    exact: max_{j != m} D[q,j] - D[q,m] itself (the row's best, or its second best where m is the best);
    max-diff: the row span max_j D[q,j] - min_j D[q,j] >= D[q,j] - D[q,m] for all j, m;
    global-max-diff: the largest row span, >= the row's own."""
    n = D.n
    if how == "exact":
        out = np.empty_like(n)
        for r, row in enumerate(n):
            ranked = sorted(row, reverse=True)
            best, second = ranked[0], ranked[min(1, len(ranked) - 1)]
            out[r] = [(second if x == best else best) - x for x in row]
        return Dyadic(out, D.e)
    span = np.array([max(row) - min(row) for row in n], dtype=object)
    if how == "global-max-diff":
        span[:] = max(span)
    return Dyadic(np.repeat(span[:, None], n.shape[1], axis=1), D.e)


def eupu_parts(how: str, w_ep: Dyadic, U: Dyadic, bias: Dyadic, c: Dyadic | None) -> tuple[Dyadic, Dyadic]:
    """(L0 [V], gap [V]) with D[q,x] - D[q,m] <= L0[x] - L0[m] + gap[q] for all q, x, m:
    factored options (any row c): D[q] = c U + bias + (w_ep[q] - c) U, so L0 = c U + bias and
    gap[q] = sum_k |w_ep[q,k] - c_k| rowspan(U)[k] (dpen_factored's dm, rs); options forming D: L0 = 0 and
    gap[q] = the row span of D (max-diff) or the largest row span (global-max-diff)."""
    V = len(w_ep.n)
    if c is None:
        D = w_ep @ U + bias.rows(V)
        span = rowspan(D)
        if how == "global-max-diff":
            span = Dyadic(np.full(V, span.n.max(), dtype=object), span.e)
        return zeros(V), span
    return c @ U + bias, absd(w_ep - c.rows(V)) @ rowspan(U)


def dpen_factored(w_ep: Dyadic, U: Dyadic, bias: Dyadic, c: Dyadic) -> Dyadic:
    """From the factors, D never formed (eupu mean-query-max-diff, svd-query-max-diff, factored-max-diff):
    for ANY row c, D[q] = dm + (w_ep[q] - c) U with dm = c U + bias, so for j != m
        D[q,j] - D[q,m] = (dm[j] - dm[m]) + sum_k (w_ep[q,k] - c_k)(U[k,j] - U[k,m])
                       <= max_{j' != m}(dm[j'] - dm[m]) + sum_k |w_ep[q,k] - c_k| (max_j U[k,j] - min_j U[k,j]).
    dpen[q, m] = dmpen[m] + rs[q], both exact, (dm, rs) = eupu_parts' factored (L0, gap); cost O(V d)
    plus the V x V sum."""
    dm, rs = eupu_parts("factored", w_ep, U, bias, c)
    dmpen = dpen_from_d(dm.rows(1), "exact")[0]
    e = min(dmpen.e, rs.e)
    return Dyadic(rs.align(e)[:, None] + dmpen.align(e)[None, :], e)


# ------------------------------------------------------------------ EQKE residual (err)

def split_bound(L: Dyadic, R: Dyadic, mean: bool) -> Dyadic:
    """Row-span bound of L @ R from its two factors, per row r of L:
        |(LR)[r,x] - (LR)[r,m]| <= sum_k |L[r,k]| |R[k,x] - R[k,m]| <= sum_k |L[r,k]| rowspan(R)[k];
    with mean (c = floor_mean(L), any row is sound): LR = c R + (L - c) R and the span of a sum is at
    most the sum of the spans, so add span(c R) and use L - c in place of L."""
    return _factor_bound(L, rowspan(R), lambda c: rowspan(c @ R), mean)


def recursive_bound(ms: list[Dyadic], mean: bool, mean_rest: bool) -> Dyadic:
    """Row-span bound of ms[0] @ ms[1] @ ... from the factors, never multiplying two of them:
    if r bounds the row spans of ms[1] @ ..., then |(A rest)[i,x] - (A rest)[i,m]| <= sum_k |A[i,k]| r[k]
    (split_bound with the product's spans replaced by upper bounds); the mean row as in split_bound,
    at the top level (mean) and below it (mean_rest)."""
    if len(ms) == 1:
        return rowspan(ms[0])
    rest = ms[1:]
    return _factor_bound(ms[0], recursive_bound(rest, mean_rest, mean_rest),
                         lambda c: rowspan(reduce(matmul, rest, c)), mean)


def _factor_bound(A: Dyadic, spans: Dyadic, top, mean: bool) -> Dyadic:
    """sum_k |A[r,k]| spans[k] per row r; with mean, sum_k |A[r,k] - c_k| spans[k] + top(c), c = floor_mean(A)."""
    if not mean:
        return absd(A) @ spans
    c = floor_mean(A)
    return absd(A - c.rows(len(A.n))) @ spans + top(c)


def min_of(*xs: Dyadic) -> Dyadic:
    """The pointwise minimum of upper bounds of the same quantities is one."""
    e = min(x.e for x in xs)
    return Dyadic(np.minimum.reduce([x.align(e) for x in xs]), e)


def spread(err: str, qres: Dyadic, kres: Dyadic, chain: list[Dyadic]) -> Dyadic:
    """spread[q] >= max_{x,m} |qres[q].(kres[x] - kres[m])|, per err option; chain = [eq1, wq, wk2^T, E^T]
    with eq1 @ wq = qres and (wk2^T @ E^T)^T = kres exactly. Square roots and roots rounded up."""
    V = len(qres.n)
    kT = tr(kres)
    if err == "exact-maxdiff":  # the residual itself, V x V: the row span exactly
        return rowspan(qres @ kT)
    if err == "svd":
        return _svd_spread(qres, kres, V)
    mean = err.startswith("mean")
    if err in ("maxdiff", "mean-maxdiff"):
        return split_bound(qres, kT, mean)
    if err in ("global-maxdiff", "l2", "min-maxdiff-l2"):
        maxdiff = split_bound(qres, kT, False)
        if err == "global-maxdiff":
            return Dyadic(np.full(V, maxdiff.n.max(), dtype=object), maxdiff.e)
        l2 = l2_bound(qres, kres)
        return l2 if err == "l2" else min_of(l2, maxdiff)
    if err.endswith("subproduct"):
        return min_of(split_bound(chain[0], chain[1] @ chain[2] @ chain[3], mean), split_bound(qres, kT, mean),
                      split_bound(qres @ chain[2], chain[3], mean))
    if err.endswith("recursive"):
        return recursive_bound(chain, mean, err == "mean-recursive-maxdiff-recursive")
    raise Reject(f"no residual bound {err!r}")  # unreachable: the rule validates err first


def l2_bound(qres: Dyadic, kres: Dyadic) -> Dyadic:
    """|qres[q]|_2 * max_t |2 kres[t] - (max + min)|_2 (Cauchy-Schwarz about the bounding box's centre
    z: |kres[x] - kres[m]| <= 2 max_t |kres[t] - z|), square roots rounded up (sqrt_up)."""
    centre = Dyadic(kres.n.max(axis=0) + kres.n.min(axis=0), kres.e)
    dev = Dyadic(2 * kres.n, kres.e) - centre.rows(len(kres.n))
    radius = sqrt_up(Dyadic(np.array([max((dev.n * dev.n).sum(axis=1))], dtype=object), 2 * dev.e))
    norms = sqrt_up(Dyadic((qres.n * qres.n).sum(axis=1), 2 * qres.e))
    return Dyadic(norms.n * radius.n[0], norms.e + radius.e)


def sqrt_up(x: Dyadic, bits: int = 40) -> Dyadic:
    """Dyadic upper bounds of sqrt(x) for x >= 0: (isqrt(n 4^bits) + 1) 2^(e/2 - bits), e made even."""
    n, e = (x.n, x.e) if x.e % 2 == 0 else (x.n * 2, x.e - 1)
    roots = [isqrt(int(v) << (2 * bits)) + 1 for v in n]
    return Dyadic(counted(np.array(roots, dtype=object)), e // 2 - bits)


def root_up(num: int, e: int, r: int, bits: int = 40) -> Fraction:
    """A dyadic >= (num 2^e)^(1/r) for num >= 0: with e made a multiple of r (num shifted, value
    unchanged), (iroot(num 2^(r bits)) + 1) 2^(e/r - bits) where iroot is the exact integer floor root."""
    if num == 0:
        return Fraction(0)
    y = num << (e % r + r * bits)  # num 2^e = (num 2^(e % r)) 2^(r (e // r)), and 2^(r bits) for the bits
    x = 1 << -(-y.bit_length() // r)  # > y^(1/r): y < 2^bit_length <= x^r
    # Integer Newton from above ends at s = floor(y^(1/r)) >= 1 (y >= 1): nxt = floor(((r-1) x
    # + y / x^(r-1)) / r) (floor((a + floor(t)) / r) = floor((a + t) / r), a an integer) >= s by AM-GM,
    # so x >= s throughout;
    # while x > s, x^r > y gives y // x^(r-1) <= x - 1, so nxt <= x - 1 < x: it stops only at x = s.
    while (nxt := ((r - 1) * x + y // x ** (r - 1)) // r) < x:
        x = nxt
    return Fraction(x + 1) * Fraction(2) ** (e // r - bits)


def _imatmul(a: tuple, b: tuple) -> tuple:
    """Interval matrix product, outward rounded: each entry's exact sum of products lies inside."""
    acc = (np.zeros((a[0].shape[0], b[0].shape[1])), np.zeros((a[0].shape[0], b[0].shape[1])))
    for k in range(a[0].shape[1]):
        acc = iv.add(acc, iv.mul((a[0][:, k:k + 1], a[1][:, k:k + 1]), (b[0][k:k + 1, :], b[1][k:k + 1, :])))
    return acc


def _renorm(x: tuple) -> tuple[tuple, int]:
    """x = 2^s * x' with max|x'| about 1: exact scaling by a power of two, stepped outward."""
    big = float(max(np.abs(x[0]).max(), np.abs(x[1]).max()))
    if not np.isfinite(big):
        raise Reject("residual svd bound: interval overflow")
    s = int(np.frexp(big)[1])  # frexp(0.0) = (0.0, 0): s = 0 for an all-zero x
    return (iv.down(np.ldexp(x[0], -s)), iv.up(np.ldexp(x[1], -s))), s


def _svd_spread(qres: Dyadic, kres: Dyadic, V: int) -> Dyadic:
    """sqrt(2) sigma_1(R), R = qres kres^T, bounded above without forming R: |R[q,x] - R[q,m]| =
    |e_q^T R (e_x - e_m)| <= |R (e_x - e_m)|_2 <= sqrt(2) sigma_1. sigma_1^2 = lambda_max(R^T R), and
    R^T R = kres G kres^T (G = qres^T qres) has the nonzero eigenvalues of G H (H = kres^T kres; AB and
    BA share them), which are those of G^(1/2) H G^(1/2): real and >= 0. So tr((G H)^k) = sum_i
    lambda_i^k >= lambda_max^k, and sqrt(2) sigma_1 <= (2^k tr(M^k))^(1/2k), M = G H exact.
    M^k (k = SVD_POWER, a power of two) by repeated squaring in outward-rounded interval arithmetic,
    renormalised by exact powers of two; the trace's upper end, then an integer root rounded up."""
    Mx = (tr(qres) @ qres) @ (tr(kres) @ kres)  # M = G H
    top = max(int(abs(v)).bit_length() for v in Mx.n.ravel())
    if top == 0:
        return zeros(V)
    x = iv.enclose_ints(Mx.n, -top)  # M = 2^E x with E = top + Mx.e
    E, k = top + Mx.e, 1
    while k < SVD_POWER:
        x, s = _renorm(_imatmul(x, x))
        E, k = 2 * E + s, 2 * k
    hi = (np.float64(0.0), np.float64(0.0))
    for i in range(len(x[1])):
        hi = iv.add(hi, (x[0][i, i], x[1][i, i]))
    t_hi = Fraction(float(hi[1]))
    if not t_hi > 0:
        return zeros(V)  # tr >= 0 and its upper bound <= 0: R = 0
    bound = root_up(t_hi.numerator, E + k - (t_hi.denominator.bit_length() - 1), 2 * k)
    e = -(bound.denominator.bit_length() - 1)
    return Dyadic(np.full(V, int(bound * 2 ** -e), dtype=object), e)
