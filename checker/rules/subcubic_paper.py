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
with D[q,x] - D[q,m] <= L0[x] - L0[m] + gap[q] (subcubic_bounds.eupu_parts), PV[m,x] = max_i PVOU[i,x] - PVOU[i,m]
(the a_i sum to 1), L[m,x] = L0[x] - L0[m] + PV[m,x], E[m,x] = EVOU[m,x] - EVOU[m,m], and Wn >= every
non-max token's max_x EVOU[t,x] - EVOU[t,m] (the prefix maximum over t <= m - g of eterm, and the
query's own eterm if q < m). With any abar (the certificate's mean_attention[m][cp], cp = c + [q < m];
0 for paper-plain), S = max_{x != m} L[m,x] + abar E[m,x], and E[m,x] in [Emin[m], R[m]] (min and max
over x != m), (a - abar) E[m,x] <= max over k in {R, Emin} of (a - abar) k, so the input is correct if
for both k:  C0 + a C1 < 0,  C0 = gap[q] + S - abar k + Wn,  C1 = k - Wn.
(The paper's code keeps only k = R, which is unsound where a < abar and the argmax x changes; with
both k it is sound.) C0 + a C1 is linear in a, so it is negative for every a in [a_lb, 1] iff it is at
both ends; a <= 1 always, and a >= a_lb, the softmax weight of the max positions in the pessimal
arrangement: relative to the max token's score, a non-max non-query token scores at most ax = the
EQKE bound above, the query (q < m) at most bq = EQKE[q,q] - EQKE[q,m]'s bound, so dividing by
exp(score of m) every max position i contributes exp(EQKP[q,i]/sqrt d), every non-max one at most
exp((EQKP[q,j] + ax)/sqrt d); a = 1 / (1 + nonmax/max) is smallest when the K-1-c max copies sit on
the non-query positions of lowest EQKP (swapping a max copy to a higher position only raises nonmax
and lowers max), and N, M are those sums. At a_lb: C0 + a_lb C1 < 0 iff (C0 + C1) N + C0 M < 0; at 1:
C0 + C1 < 0. Four sums (two per k) sum coeff exp(arg / sqrt d) > 0, written once (`sums`) over both
number types (checker/numbers.py): intervals for the vectorised filter, exact for the fallback and
the exporters.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

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
    return Dyadic(np.array([int(v * 2 ** -e) for v in vals], dtype=object), e)


def mean_attention(raw: object, V: int, K: int) -> Dyadic:
    """evidence.mean_attention: V rows of K dyadic rationals (any values are sound), as one [V, K] table."""
    if not isinstance(raw, list) or len(raw) != V or not all(isinstance(r, list) and len(r) == K for r in raw):
        raise Malformed(f"evidence.mean_attention must be {V} lists of {K} dyadic rationals")
    flat = vector([x for row in raw for x in row], V * K, "mean_attention")
    return Dyadic(flat.n.reshape(V, K), flat.e)


def norm2(x: Dyadic) -> Fraction:
    value = (x.rows(1) @ x).fraction(0)
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
    return scale(x, bu) - outer(u, u @ x)


def svd_split(Q: Dyadic, Km: Dyadic, eq1: Dyadic, wq: Dyadic, W_K: Dyadic, E: Dyadic, u: Dyadic, v: Dyadic):
    """(A, bu bv, Qr, Kr, chain) of the module docstring, all exact."""
    bu, bv = norm2(u), norm2(v)
    Mv = Q @ (sb.tr(Km) @ v)
    Mtu = Km @ (sb.tr(Q) @ u)
    uMv = (u.rows(1) @ Mv).fraction(0)
    A = scale(outer(u, Mtu), bv) + scale(outer(Mv, v), bu) - scale(outer(u, v), uMv)
    qres, kres = project_off(Q, u, bu), project_off(Km, v, bv)
    chain = [project_off(eq1, u, bu), wq, sb.tr(W_K), sb.tr(project_off(E, v, bv))]
    return A, bu * bv, qres, kres, chain


def tables(L0: Dyadic, gap: Dyadic, evou: Dyadic, pvou: Dyadic, abar: Dyadic, eqkp: Dyadic) -> dict[str, Dyadic]:
    """The exact tables of the paper's logit reasoning, read by `sums` through both number types:
    p_gap [q], p_S and p_ab [m, cp], p_R and p_Emin [m], p_eqkp_sorted [q, rank] (EQKP[q, :K-1] in
    ascending exact order)."""
    V = len(L0.n)
    e = min(L0.e, pvou.e)
    pv = pvou.align(e)
    pvd = np.array([[max(pv[i, x] - pv[i, m] for i in range(len(pv))) for x in range(V)]
                    for m in range(V)], dtype=object)                          # [m, x]
    l0 = L0.align(e)
    L = Dyadic(pvd + (l0[None, :] - l0[:, None]), e)                           # [m, x]
    E = Dyadic(evou.n - np.diag(evou.n)[:, None], evou.e)                      # [m, x]
    off = ~np.eye(V, dtype=bool)
    R, Emin = (np.array([f(E.n[m][off[m]]) for m in range(V)], dtype=object) for f in (max, min))
    es = min(L.e, abar.e + E.e)
    val = abar.n[:, :, None] * E.n[:, None, :] * (1 << (abar.e + E.e - es)) + L.align(es)[:, None, :]  # [m, cp, x]
    S = np.array([[max(val[m, j][off[m]]) for j in range(val.shape[1])] for m in range(V)], dtype=object)
    K1 = eqkp.n.shape[1] - 1
    srt = np.array([sorted(row[:K1]) for row in eqkp.n], dtype=object).reshape(V, K1)
    return {"p_gap": gap, "p_S": Dyadic(S, es), "p_ab": abar, "p_R": Dyadic(R, E.e), "p_Emin": Dyadic(Emin, E.e),
            "p_eqkp_sorted": Dyadic(srt, eqkp.e)}


def sums(N, q, m, c, g, b_q, a_x) -> list[list[tuple]]:
    """THE paper case inequality (module docstring) over the number type N (checker/numbers.py): four
    sums (coefficient, weight), each > 0: for k = R and k = Emin, C0 + a C1 < 0 at a = a_lb, i.e.
    -(C0 + C1) N - C0 M > 0, and at a = 1, -(C0 + C1) > 0; linear in a, it then holds on [a_lb, 1].
    q, m, c, g are ints or arrays (all cases); b_q, a_x the EQKE bounds of the case."""
    K = N.k
    cp = c + (q < m)
    gap, S, ab = N.p_gap[q], N.p_S[m, cp], N.p_ab[m, cp]
    wq = N.where(q < m, N.eterm[q, m], 0)
    wn = N.where(c > 0, N.maximum(wq, N.pref[m - g, m]), wq)
    out = []
    for k in (N.p_R[m], N.p_Emin[m]):
        c0 = gap + S - ab * k + wn
        c01 = c0 + (k - wn)
        lowest = [j < K - 1 - c for j in range(K - 1)]  # the max copies hold the lowest-EQKP positions
        terms = [(N.where(low, -c01, -c0), N.exp(N.p_eqkp_sorted[q, j] + N.where(low, 0, a_x)))
                 for j, low in enumerate(lowest)]
        terms.append((N.where(q == m, -c01, -c0), N.exp(N.eqkp[q, K - 1] + N.where(q == m, 0, b_q))))
        out += [terms, [(-c01, N.exp(0))]]
    return out
