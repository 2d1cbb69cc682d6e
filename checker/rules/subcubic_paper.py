"""The paper's algorithms as options of the subcubic rule (docs/soundness.md, "The paper's algorithms"):
the EQKE split by SVD (attn=svd) and the paper's logit reasoning (logit=paper-mean-query, paper-plain).

attn=svd. With hint vectors u, v in Q^V (the prover's top singular vectors of EQKE), bu = u.u > 0,
bv = v.v > 0 and M = EQKE = Q Km^T, exactly
    bu bv M = A + Qr Kr^T,  Qr = bu Q - u (u^T Q),  Kr = bv Km - v (v^T Km),
    A = bv u (M^T u)^T + bu (M v) v^T - (u^T M v) u v^T
(expand (bu I - u u^T) M (bv I - v v^T)). A is formed, V x V, from M v = Q (Km^T v) and
M^T u = Km (Q^T u) in O(V d + V^2); the residual Qr Kr^T is never formed: its row spans are bounded
by the err option from the chain [bu eq1 - u (u^T eq1), W_Q; b_Q, W_K^T, (bv E - v (v^T E))^T],
whose product is Qr Kr^T. So for x <= m - g:
    EQKE[q,x] - EQKE[q,m] <= (max_{x' <= m-g} A[q,x'] - A[q,m] + spread[q]) / (bu bv).

logit=paper-*. For an input of case (q, m, c, g) and any wrong output x != m, with a the total
attention on the positions holding m (the paper's "right attention"):
    logit_x - logit_m = D[q,x] - D[q,m] + sum_i a_i (EVOU[t_i,x] - EVOU[t_i,m]) + sum_i a_i (PVOU[i,x] - PVOU[i,m])
                     <= gap[q] + L[m,x] + a E[m,x] + (1 - a) Wn
with D[q,x] - D[q,m] <= L0[x] - L0[m] + gap[q] (eupu_parts), PV[m,x] = max_i PVOU[i,x] - PVOU[i,m]
(the a_i sum to 1), L[m,x] = L0[x] - L0[m] + PV[m,x], E[m,x] = EVOU[m,x] - EVOU[m,m], and Wn >= every
non-max token's max_x EVOU[t,x] - EVOU[t,m] (the prefix maximum over t <= m - g of eterm, and the
query's own eterm if q < m). With any abar (the certificate's mean_attention[m][cp], cp = c + [q < m];
0 for paper-plain), S = max_{x != m} L[m,x] + abar E[m,x], and E[m,x] in [Emin[m], R[m]] (min and max
over x != m), (a - abar) E[m,x] <= max over k in {R, Emin} of (a - abar) k, so the input is correct if
for both k:  C0 + a C1 < 0,  C0 = gap[q] + S - abar k + Wn,  C1 = k - Wn.
(The paper's code keeps only k = R, which is unsound where a < abar and the argmax x changes; with
both k it is sound.) If C1 > 0, C0 + C1 < 0 suffices (a <= 1). If C1 <= 0, a >= a_lb suffices, with
a_lb = N / (N + M) the softmax weight of the max positions in the pessimal arrangement: relative to
the max token's score, a non-max non-query token scores at most ax = the EQKE bound above, the query
(q < m) at most bq = EQKE[q,q] - EQKE[q,m]'s bound, so dividing by exp(score of m) every max position
i contributes exp(EQKP[q,i]/sqrt d), every non-max one at most exp((EQKP[q,j] + ax)/sqrt d); a =
1 / (1 + nonmax/max) is smallest when the K-1-c max copies sit on the non-query positions of lowest
EQKP (swapping a max copy to a higher position only raises max and lowers nonmax), and N, M are those
sums. Then C0 + a_lb C1 < 0 iff (C0 + C1) N + C0 M < 0: an obligation sum coeff exp(arg / sqrt d) > 0.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from checker import expo
from checker import interval as iv
from checker.certificate import rational
from checker.errors import Malformed
from checker.dyadic import Dyadic
from checker.rules import Reject
from checker.rules import subcubic_bounds as sb

ATTN = ("svd",)                                  # the paper's EQKE split (attn axis)
LOGIT = ("paper-mean-query", "paper-plain")      # the paper's logit reasoning (logit axis; absent: ours)


def vector(raw: object, n: int, name: str) -> Dyadic:
    """A certificate list of n dyadic rationals."""
    if not isinstance(raw, list) or len(raw) != n:
        raise Malformed(f"evidence.{name} must list {n} dyadic rationals")
    vals = [rational(x, f"evidence.{name}") for x in raw]
    if any(v.denominator & (v.denominator - 1) for v in vals):
        raise Malformed(f"evidence.{name} entries must have power-of-two denominators")
    e = -max(v.denominator.bit_length() - 1 for v in vals)
    out = np.empty(n, dtype=object)
    out[:] = [int(v * 2 ** -e) for v in vals]
    return Dyadic(out, e)


def mean_attention(raw: object, V: int, K: int) -> list[list[Fraction]]:
    """evidence.mean_attention: V rows of K rationals (any values are sound)."""
    if not isinstance(raw, list) or len(raw) != V or not all(isinstance(r, list) and len(r) == K for r in raw):
        raise Malformed(f"evidence.mean_attention must be {V} lists of {K} rationals")
    return [[rational(x, "evidence.mean_attention") for x in row] for row in raw]


def norm2(x: Dyadic) -> Fraction:
    value = (sb.vec(x) @ sb.tr(sb.vec(x))).fraction((0, 0))
    if value <= 0:
        raise Reject("a hint vector is zero")
    return value


def outer(a: Dyadic, b: Dyadic) -> Dyadic:
    return Dyadic(np.outer(a.n, b.n), a.e + b.e)


def scale(x: Dyadic, f: Fraction) -> Dyadic:
    """x * f for a dyadic f, exactly."""
    e = -(f.denominator.bit_length() - 1)
    return Dyadic(x.n * int(f * 2 ** -e), x.e + e)


def project_off(x: Dyadic, u: Dyadic, bu: Fraction) -> Dyadic:
    """bu x - u (u^T x): x's rows with the u-component (over rows) removed, times bu."""
    return scale(x, bu) - outer(u, (sb.vec(u) @ x)[0])


def svd_split(Q: Dyadic, Km: Dyadic, eq1: Dyadic, wq: Dyadic, W_K: Dyadic, E: Dyadic, u: Dyadic, v: Dyadic):
    """(A, bu bv, Qr, Kr, chain) of the module docstring, all exact."""
    bu, bv = norm2(u), norm2(v)
    Mv = (Q @ (sb.tr(Km) @ sb.tr(sb.vec(v))))[:, 0]
    Mtu = (Km @ (sb.tr(Q) @ sb.tr(sb.vec(u))))[:, 0]
    uMv = (sb.vec(u) @ sb.tr(sb.vec(Mv))).fraction((0, 0))
    A = scale(outer(u, Mtu), bv) + scale(outer(Mv, v), bu) - scale(outer(u, v), uMv)
    qres, kres = project_off(Q, u, bu), project_off(Km, v, bv)
    chain = [project_off(eq1, u, bu), wq, sb.tr(W_K), sb.tr(project_off(E, v, bv))]
    return A, bu * bv, qres, kres, chain


def eupu_parts(how: str, w_ep: Dyadic, U: Dyadic, bias: Dyadic, c: Dyadic | None) -> tuple[Dyadic, Dyadic]:
    """(L0 [V], gap [V]) with D[q,x] - D[q,m] <= L0[x] - L0[m] + gap[q] for all q, x, m:
    factored options (any row c): D[q] = c U + bias + (w_ep[q] - c) U, so L0 = c U + bias and
    gap[q] = sum_k |w_ep[q,k] - c_k| rowspan(U)[k] (as in dpen_factored); options forming D: L0 = 0 and
    gap[q] = the row span of D (max-diff) or the largest row span (global-max-diff)."""
    V = len(w_ep.n)
    if c is None:
        D = w_ep @ U + sb.rows(bias, V)
        span = sb.rowspan(D)
        if how == "global-max-diff":
            span = Dyadic(np.full(V, span.n.max(), dtype=object), span.e)
        return Dyadic(np.zeros(V, dtype=object), 0), span
    L0 = (sb.vec(c) @ U)[0] + bias
    return L0, (sb.absd(w_ep - sb.rows(c, V)) @ sb.tr(sb.vec(sb.rowspan(U))))[:, 0]


class PaperLogit:
    """The per-m tables of the paper's logit reasoning, exact."""

    def __init__(self, L0: Dyadic, gap: Dyadic, evou: Dyadic, pvou: Dyadic, abar: list[list[Fraction]]):
        V = len(L0.n)
        e = min(L0.e, pvou.e)
        pv = pvou.align(e)
        pvd = np.array([[max(pv[i, x] - pv[i, m] for i in range(len(pv))) for x in range(V)]
                        for m in range(V)], dtype=object)                      # [m, x]
        l0 = L0.align(e)
        self.L = Dyadic(pvd + (l0[None, :] - l0[:, None]), e)
        self.E = Dyadic(evou.n - np.diag(evou.n)[:, None], evou.e)
        off = [[x for x in range(V) if x != m] for m in range(V)]
        self.R = [max(self.E.n[m, x] for x in off[m]) for m in range(V)]
        self.Emin = [min(self.E.n[m, x] for x in off[m]) for m in range(V)]
        self.gap, self.abar = gap, abar
        fE, fL = Fraction(2) ** self.E.e, Fraction(2) ** self.L.e
        self.S = [[max(int(self.L.n[m, x]) * fL + ab * int(self.E.n[m, x]) * fE for x in off[m]) for ab in row]
                  for m, row in enumerate(abar)]
        self.fE = fE


def obligations(P: PaperLogit, K: int, eqkp: list[Fraction], ax: Fraction, bq: Fraction, wn: Fraction,
                q: int, m: int, c: int) -> list[expo.Obligation]:
    """The two obligations (k = R, Emin) of case (q, m, c, ...) given its EQKE bounds ax (non-query
    non-max tokens), bq (the query, used if q < m) and its non-max EVOU bound wn."""
    cp = c + (q < m)
    ab, S, gap = P.abar[m][cp], P.S[m][cp], P.gap.fraction(q)
    srt = sorted(eqkp[:K - 1])
    max_args = srt[:K - 1 - c] + ([eqkp[K - 1]] if q == m else [])
    non_args = [p + ax for p in srt[K - 1 - c:]] + ([eqkp[K - 1] + bq] if q < m else [])
    out = []
    for k in (P.R[m] * P.fE, P.Emin[m] * P.fE):
        c0, c1 = gap + S - ab * k + wn, k - wn
        if c1 > 0 or not non_args:  # a <= 1 (or a = 1 exactly: no non-max token)
            out.append([(-(c0 + c1), Fraction(0))])
        else:
            out.append([(-(c0 + c1), p) for p in max_args] + [(-c0, p) for p in non_args])
    return out


def _enclose(fracs) -> tuple[np.ndarray, np.ndarray]:
    """Float64 enclosures of exact rationals (int / int true division is correctly rounded)."""
    mid = np.array([f.numerator / f.denominator for f in fracs], dtype=np.float64)
    return iv.down(mid), iv.up(mid)


def filter_cases(t, cases: np.ndarray) -> np.ndarray:
    """Per case: True if float64 intervals prove every obligation of `obligations` (the same
    inequality, each quantity enclosed, the sum of exponentials bounded above); False means 'decide
    exactly'. Needs the EQKE tables (attn=svd or err=exact-eqke); otherwise decides nothing."""
    P, K = t.paper, t.K
    if t.eqke is None or not len(cases):
        return np.zeros(len(cases), dtype=bool)
    q, m, c, g = cases.T
    f = lambda x: iv.enclose_ints(x.n, x.e)
    at = lambda x, *idx: (x[0][idx], x[1][idx])
    cp = c + (q < m)
    with np.errstate(all="ignore"):
        eqbeta = _enclose([t.eqbeta])
        eq, eqp, sp = f(t.eqke), f(t.eqpref), at(f(t.spread), q)
        bq = iv.div_pos(iv.add(iv.sub(at(eq, q, q), at(eq, q, m)), sp), eqbeta)
        ax = iv.div_pos(iv.add(iv.sub(at(eqp, q, np.maximum(m - g, 0)), at(eq, q, m)), sp), eqbeta)
        gap = at(f(P.gap), q)
        S = at(_enclose([x for row in P.S for x in row]), m * K + np.minimum(cp, K - 1))
        ab = at(_enclose([x for row in P.abar for x in row]), m * K + np.minimum(cp, K - 1))
        eterm, pref = f(t.eterm), f(t.pref)
        wn = np.where(q < m, at(eterm, q, m)[0], -np.inf), np.where(q < m, at(eterm, q, m)[1], -np.inf)
        wp = at(pref, np.maximum(m - g, 0), m)
        wn = np.where(c > 0, np.maximum(wn[0], wp[0]), wn[0]), np.where(c > 0, np.maximum(wn[1], wp[1]), wn[1])
        wn = np.where(np.isinf(wn[0]), 0.0, wn[0]), np.where(np.isinf(wn[1]), 0.0, wn[1])  # q = m, c = 0
        # positions: the exact order of EQKP[q, :K-1] (ascending), then the query position
        order = np.array([sorted(range(K - 1), key=lambda i: t.eqkp.n[r, i]) for r in range(len(t.eqkp.n))])
        p = f(t.eqkp)
        ps = (np.take_along_axis(p[0], order, 1), np.take_along_axis(p[1], order, 1))
        j = np.arange(K - 1)[None, :]
        is_max = np.hstack([j < (K - 1 - c)[:, None], (q == m)[:, None]])         # [case, K]
        args = (np.hstack([ps[0][q], p[0][q, K - 1:]]), np.hstack([ps[1][q], p[1][q, K - 1:]]))
        add_lo = np.where(is_max, 0.0, np.hstack([np.repeat(ax[0][:, None], K - 1, 1), bq[0][:, None]]))
        add_hi = np.where(is_max, 0.0, np.hstack([np.repeat(ax[1][:, None], K - 1, 1), bq[1][:, None]]))
        args = iv.mul(iv.add(args, (add_lo, add_hi)), iv.inv_sqrt(t.d))
        shift = np.nanmax(np.where(np.isfinite(args[1]), args[1], np.nan), axis=1)[:, None]
        args = iv.sub(args, (shift, shift))
        big = ~(np.isfinite(args[0]) & np.isfinite(args[1]) & (args[1] <= 700))
        ex = iv.exp_bounds(np.where(big, 0.0, args[0]), np.where(big, 0.0, args[1]))
        some_non = ~is_max.all(axis=1)
        ok = np.ones(len(q), dtype=bool)
        for k in (P.R, P.Emin):
            kk = iv.mul(iv.enclose_ints(np.array(k, dtype=object)[m], 0), _enclose([P.fE]))
            c0 = iv.add(iv.sub(iv.add(gap, S), iv.mul(ab, kk)), wn)
            c1 = iv.sub(kk, wn)
            c01 = iv.add(c0, c1)
            coef = (np.where(is_max, c01[0][:, None], c0[0][:, None]), np.where(is_max, c01[1][:, None], c0[1][:, None]))
            terms = iv.mul(coef, ex)
            tot = (np.zeros(len(q)), np.zeros(len(q)))
            for i in range(K):  # outward-rounded sums
                tot = iv.add(tot, (terms[0][:, i], terms[1][:, i]))
            tot_hi = tot[1]
            exp_ok = (c1[1] <= 0) & some_non & ~big.any(axis=1) & (tot_hi < 0)
            const_ok = ((c1[0] > 0) | ~some_non) & (c01[1] < 0)
            ok &= exp_ok | const_ok
    return ok
