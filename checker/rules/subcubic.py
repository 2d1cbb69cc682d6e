"""Subcubic rules: per (query q, max m, copies c) a gap g; EQKE handled as a rank-1 term plus a
residual bounded from its factors, never formed. Cost O(d_vocab^2 d + d_vocab d^2) plus O(1) a case.

Notation as in cubic.py: for an input with query q, max m, and c non-query positions I holding values
x <= m - g (the other non-query positions hold m), G = positions holding m (the query's too if q = m).
For every j != m:  Z (logit_m - logit_j) >= W_G * good - w_q * qpen - sum_{i in I} w_i * PEN, so the input
is correct if  good > 0  and  n_G * good - qpen * r_q - c * PEN * r_x > 0,  where r bounds w_i / min_G w:
  * W_G >= n_G * min_{i' in G} exp(score(q, m, i')), n_G = |G| = K - 1 - c (+1 if q = m).
  * Attention (the hint: a direction b in query space, beta = b.b > 0). With Km = W_E W_K,
    u[q] = Q[q].b, v[t] = Km[t].b, Kres[t] = beta Km[t] - v[t] b (so b.Kres[t] = 0), exactly
        beta * EQKE[q, t] = u[q] v[t] + (Q[q] - o b).Kres[t]       (o = 1 for mean-query, 0 for plain)
    attn=rank2-query (ours) also splits the centred query: with a second hint b2, beta2 = b2.b2,
        beta2 (Q[q] - b) = u2[q] b2 + qres[q],  u2[q] = (Q[q] - b).b2,  w2[t] = b2.Kres[t],
    so beta beta2 EQKE[q, t] = beta2 u[q] v[t] + u2[q] w2[t] + qres[q].Kres[t], and the u2 w2 term is
    bounded like the v term (prefix max/min of w2), the residual by qres in place of Q[q] - o b.
    |(Q[q] - o b).(Kres[x] - Kres[m])| <= sum_k |Q[q,k] - o b_k| * (max_t Kres[t,k] - min_t Kres[t,k])
    = spread[q] (err=maxdiff; other err options in _spread). Hence for x <= m - g
        EQKE[q, x] - EQKE[q, m] <= A = (max_{x <= m-g} u[q] (v[x] - v[m]) + spread[q]) / beta
    and score(q, x, i) - score(q, m, i') <= (A + max_{i < K-1} EQKP[q, i] - min_i EQKP[q, i]) / sqrt(d_head),
    so r_x = exp of that; r_q likewise with x = q, position K-1. EQKP = Q (W_pos W_K + b_K)^T, exact.
  * OV and direct path, with OV[t, i] = EVOU[t] + PVOU[i] (b_V folded into PVOU):
        good = min_{j != m} (D[q,m] - D[q,j]) + min_{i in G} (OV[m,i,m] - max_{j != m} OV[m,i,j])
        PEN  = max(0, dpen[q,m] + max_{x <= m-g} (max_j EVOU[x,j] - EVOU[x,m]) + max_{i<K-1} (max_j PVOU[i,j] - PVOU[i,m]))
        qpen = max(0, dpen[q,m] + max_j EVOU[q,j] - EVOU[q,m] + max_j PVOU[K-1,j] - PVOU[K-1,m])
    with dpen[q,m] >= max_{j != m} D[q,j] - D[q,m] and -dpen <= min_{j != m} D[q,m] - D[q,j]
    per eupu: exact (row top-2), max-diff (row max - row min), global-max-diff (max over rows).
Each case then covers C(K-1, c) (m - g + 1)**c inputs (c = 0: one), disjoint across cases.
Every case's inequality is first tried with float64 intervals (outward rounding, interval.exp_bounds),
vectorised over all cases; any case the filter leaves undecided is decided exactly
(expo.sign_sum_exp on rational coefficients and exponents).
"""
from __future__ import annotations

from fractions import Fraction
from math import comb
from typing import Iterator

import numpy as np

from checker import expo
from checker.certificate import Certificate, fields
from checker.errors import Malformed
from checker.dyadic import Dyadic
from checker.numbers import Exact, Float
from checker.paths import Params, exact_weights
from checker.rules import Case, Reject, parse_cases
from checker.rules import subcubic_bounds as sb
from checker.rules import subcubic_paper as sp
from checker.safetensors import Weights

PAPER_EUPU = ("mean-query-max-diff", "svd-query-max-diff", "factored-max-diff", "max-diff", "global-max-diff")
PAPER_ATTN = ("mean-query", "plain")
PAPER_ERR = ("svd", "maxdiff", "maxdiff-subproduct", "maxdiff-recursive", "mean-maxdiff",
             "mean-maxdiff-subproduct", "mean-maxdiff-recursive", "mean-recursive-maxdiff-recursive",
             "exact-eqke", "exact-maxdiff")
EUPU = PAPER_EUPU + ("exact",)                                   # ours: exact
ATTN = PAPER_ATTN + ("rank2-query",)                             # ours: rank2-query
ERR = PAPER_ERR + ("global-maxdiff", "l2", "min-maxdiff-l2")     # ours: the last three
FROM_D = ("exact", "max-diff", "global-max-diff")                # eupu options that form D


def rule(cert: Certificate, w: Weights) -> Fraction:
    count = sum(comb(w.k - 1, c) * (m - g + 1) ** c for _, m, c, g in proven(cert, w))  # c = 0: one input
    return Fraction(count, w.d_vocab ** w.k)


def proven(cert: Certificate, w: Weights) -> Iterator[tuple[int, int, int, int]]:
    """Each certificate case (q, m, c, g), once its inequality is decided true (else Reject): the
    rule's decisions, which the hybrid rule reuses. Case (q, m, c, g) covers the inputs of triple
    (q, m, c) whose c non-max values all lie in [0, m - g] (c = 0: its one input)."""
    t, cases = _setup(cert, w)
    passed = t.filter(np.array(cases, dtype=np.int64).reshape(-1, 4)) if cases else []
    for (q, m, c, g), ok in zip(cases, passed, strict=True):  # one decision per case, or fail closed
        if not (ok or t.case_holds(q, m, c, g)):
            raise Reject(f"subcubic case q={q}, m={m}, c={c}, g={g}: the inequality does not hold")
        yield q, m, c, g


def obligations(cert: Certificate, w: Weights) -> Iterator[Case]:
    """The rule's proof as exact obligations (rules.Case): per certificate case (q, m, c, g), named
    case_q{q}_m{m}_c{c}_g{g}, its sums `_Tables.sums`: the one of the module docstring (the four of
    subcubic_paper.sums under the paper's logit reasoning)."""
    t, cases = _setup(cert, w)
    for q, m, c, g in cases:
        yield Case(f"case_q{q}_m{m}_c{c}_g{g}", t.sums(q, m, c, g))


def _setup(cert: Certificate, w: Weights) -> tuple["_Tables", list[tuple[int, int, int, int]]]:
    if cert.semantics != "exact-real":
        raise Reject("subcubic certificates claim exact-real semantics only")
    if w.k < 2:
        raise Reject("the subcubic rules need K >= 2 (K = 1 has no non-query positions)")
    return tables(cert, w), parse_cases(cert.evidence["cases"], "subcubic", w.k, w.d_vocab, "g", 0)


def tables(cert: Certificate, w: Weights) -> "_Tables":
    """Validate the variant and its evidence fields; the tables for it (also used by exporters)."""
    par = fields(cert.parameters, "strategy.parameters", {"eupu", "attn", "err"}, {"logit"})
    if par["eupu"] not in EUPU or par["attn"] not in ATTN + sp.ATTN or par["err"] not in ERR \
            or par.get("logit", sp.LOGIT[0]) not in sp.LOGIT:
        raise Malformed(f"unknown subcubic variant {par!r:.120}")
    svd = par["attn"] == "svd"
    sizes = {"direction2": w.d_head if par["attn"] == "rank2-query" else 0,  # the hint vectors it needs
             "eupu_offset": w.d_model if par["eupu"] == "svd-query-max-diff" else 0,
             "svd_left": w.d_vocab * svd, "svd_right": w.d_vocab * svd, "direction": 0 if svd else w.d_head}
    averaged = par.get("logit") == "paper-mean-query"
    ev = fields(cert.evidence, "evidence", {"cases", *(k for k, n in sizes.items() if n)}
                | ({"mean_attention"} if averaged else set()))
    hint = {k: sp.vector(ev[k], n, k) for k, n in sizes.items() if n}
    # attn=svd: the rank-1 tables are built along a fixed unit direction and then replaced
    b = hint.get("direction") or Dyadic(np.array([1] + [0] * (w.d_head - 1), dtype=object), 0)
    abar = None if "logit" not in par else \
        sp.mean_attention(ev["mean_attention"], w.d_vocab, w.k) if averaged else sb.zeros((w.d_vocab, w.k))
    return _Tables(w, b, hint.get("direction2"), par, hint.get("eupu_offset"),
                   (hint["svd_left"], hint["svd_right"]) if svd else None, abar)


def _sum(N, q, m, c, g) -> list[tuple]:
    """THE case inequality of the module docstring, as terms (coefficient, weight) whose sum must be
    > 0, over the number type N (checker/numbers.py); q, m, c, g are ints, or arrays (all cases)."""
    K, same = N.k, q == m
    good = N.where(same, N.gmin_all[m], N.gmin_nq[m]) - N.dpen[q, m]
    qpen = N.max0(N.dpen[q, m] + N.eterm[q, m] + N.pterm[K - 1, m])
    pen = N.max0(N.dpen[q, m] + N.pref[m - g, m] + N.ptmax[m])
    b_q, a_x = _eqke_bounds(N, q, m, g)
    return [((K - 1 - c + same) * good, N.exp(0)),
            (N.where(same, 0, -qpen), N.exp(b_q + N.eqkp[q, K - 1] - N.pmin[q])),
            (N.where(c > 0, -c * pen, 0), N.exp(a_x + N.pmax[q] - N.pmin[q]))]


def _case(N, q, m, c, g) -> list[list[tuple]]:
    """The case's sums, each to be > 0: `_sum`'s one, or the paper logit reasoning's four."""
    return sp.sums(N, q, m, c, g, *_eqke_bounds(N, q, m, g)) if N.paper else [_sum(N, q, m, c, g)]


def _eqke_bounds(N, q, m, g) -> tuple:
    """(b_q, a_x): upper bounds of EQKE[q,q] - EQKE[q,m] and of max_{x <= m-g} EQKE[q,x] - EQKE[q,m]."""
    if N.eqke_formed:  # err=exact-eqke, or attn=svd's formed rank-1 term (subcubic_paper) plus its residual
        return ((N.eqke[q, q] - N.eqke[q, m] + N.spread[q]) / N.eqbeta,
                (N.eqpref[q, m - g] - N.eqke[q, m] + N.spread[q]) / N.eqbeta)
    # the extreme of v (w2) over x <= m - g on the side u[q] (u2[q]) picks out
    ext = N.where(N.u_nonneg[q], N.vmax[m - g], N.vmin[m - g])
    ext2 = N.where(N.u2_nonneg[q], N.w2max[m - g], N.w2min[m - g])
    return ((N.u[q] * (N.v[q] - N.v[m]) + N.spread[q] + N.u2[q] * (N.w2[q] - N.w2[m])) / N.beta,
            (N.u[q] * (ext - N.v[m]) + N.spread[q] + N.u2[q] * (ext2 - N.w2[m])) / N.beta)


class _Tables:
    """The exact tables of the module docstring (Dyadic), read through both number types."""

    def __init__(self, w: Weights, b: Dyadic, b2: Dyadic | None, par: dict,
                 offset: Dyadic | None = None, uv: tuple[Dyadic, Dyadic] | None = None,
                 abar: list | None = None) -> None:
        wt = exact_weights(w)
        tables = {**_attention(wt, w.k, b, b2, par, uv), **_ov(wt, w.k)}
        evou, pvou = tables.pop("evou"), tables.pop("pvou")
        self.paper = abar is not None  # the paper's logit reasoning (subcubic_paper), its own direct-path parts
        tables.update(_direct(wt, w.k, par["eupu"], offset, self.paper and (evou, pvou, abar, tables["eqkp"])))
        consts = {name: tables.pop(name) for name in ("beta", "eqbeta")}
        consts.update(u_nonneg=tables["u"].n >= 0, u2_nonneg=tables["u2"].n >= 0, eqke_formed="eqke" in tables,
                      paper=self.paper)
        self.exact = Exact(w.k, w.d_head, tables, **consts)
        self.float = Float(w.k, w.d_head, tables, **consts)

    def filter(self, cases: np.ndarray) -> np.ndarray:
        """Per case: True if float64 intervals prove every sum; False means 'decide exactly'."""
        return np.logical_and.reduce([self.float.holds(s) for s in _case(self.float, *cases.T)])

    def case_holds(self, q: int, m: int, c: int, g: int) -> bool:
        """The case's inequality decided exactly."""
        return all(self.exact.holds(s) for s in self.sums(q, m, c, g))

    def sums(self, q: int, m: int, c: int, g: int) -> list[expo.Obligation]:
        """The case as sums coeff * exp(arg / sqrt(d_head)) > 0 with exact rationals; `_sum`'s
        without the query term if q = m and the non-max term if c = 0 (both 0)."""
        if self.paper:
            return _case(self.exact, q, m, c, g)
        return [[t for t, used in zip(_sum(self.exact, q, m, c, g), (True, q < m, c > 0)) if used]]


def _attention(wt: Params, K: int, b: Dyadic, b2: Dyadic | None, par: dict, uv: tuple | None) -> dict[str, Dyadic]:
    """Attention: EQKP, the rank-1 (rank-2) split of EQKE along the hints and the residual's bound."""
    V, d = wt.W_E.n.shape[0], wt.W_Q.n.shape[1]
    last = wt.W_E + wt.W_pos[K - 1].rows(V)                                     # W_EP
    Q = last @ wt.W_Q + wt.b_Q.rows(V)
    Km = wt.W_E @ wt.W_K
    eqkp = Q @ sb.tr(wt.W_pos @ wt.W_K + wt.b_K.rows(K))                          # [q, i]
    beta = sp.norm2(b)
    u = Q @ b
    v, kres = _along(Km, b, beta)
    o = 0 if par["attn"] in ("plain", "svd") else 1  # svd: wq = [W_Q; b_Q] for its chain
    centred = Q if o == 0 else Q - b.rows(V)
    # chain factors of the residual: qres = eq1 @ wq, kres = E @ wk2 (exact identities)
    one = Dyadic(np.full((V, 1), 1 << max(-last.e, 0), dtype=object), min(last.e, 0))
    eq1 = Dyadic(np.hstack([last.align(one.e), one.n]), one.e)                   # [W_EP | 1]
    bq = wt.b_Q - (b if o else sb.zeros(d))
    eb = min(wt.W_Q.e, bq.e)
    wq = Dyadic(np.vstack([wt.W_Q.align(eb), bq.align(eb)[None, :]]), eb)          # [W_Q; b_Q - o b]
    wk2 = _along(wt.W_K, b, beta)[1]                                               # W_K (beta I - b b^T)
    if b2 is None:  # rank 1: no second term
        beta2, qres = Fraction(1), centred
        u2 = w2 = sb.zeros(V)
    else:  # rank 2: beta2 (Q[q] - b) = u2[q] b2 + qres[q] with b2.qres[q] = 0, and w2 = Kres b2
        beta2 = sp.norm2(b2)
        u2, qres = _along(centred, b2, beta2)
        w2 = kres @ b2
        wq = _along(wq, b2, beta2)[1]                                             # wq (beta2 I - b2 b2^T)
    prefix = lambda y, f: Dyadic(f.accumulate(y.n), y.e)
    out = {"beta": beta * beta2, "eqbeta": Fraction(1), "u": sp.scale(u, beta2), "v": v, "u2": u2, "w2": w2, "eqkp": eqkp,
           "pmin": Dyadic(eqkp.n.min(axis=1), eqkp.e), "pmax": Dyadic(eqkp.n[:, :K - 1].max(axis=1), eqkp.e),
           "vmax": prefix(v, np.maximum), "vmin": prefix(v, np.minimum),
           "w2max": prefix(w2, np.maximum), "w2min": prefix(w2, np.minimum)}
    if par["err"] == "exact-eqke":  # EQKE itself, V x V, and its prefix maxima along keys
        out.update(eqke=Q @ sb.tr(Km), spread=sb.zeros(V))
    elif uv is not None:  # attn=svd: the rank-1 SVD term formed, the residual bounded
        out["eqke"], out["eqbeta"], qres, kres, chain = sp.svd_split(Q, Km, eq1, wq, wt.W_K, wt.W_E, *uv)
        out["spread"] = sb.spread(par["err"], qres, kres, chain)
    else:
        out["spread"] = sb.spread(par["err"], qres, kres, [eq1, wq, sb.tr(wk2), sb.tr(wt.W_E)])
    if "eqke" in out:
        out["eqpref"] = Dyadic(np.maximum.accumulate(out["eqke"].n, axis=1), out["eqke"].e)
    return out


def _along(x: Dyadic, b: Dyadic, beta: Fraction) -> tuple[Dyadic, Dyadic]:
    """(x b, beta x - (x b) b^T): x's rows split along b (b.b = beta) and, times beta, orthogonally."""
    xb = x @ b
    return xb, sp.scale(x, beta) - sp.outer(xb, b)


def _direct(wt: Params, K: int, eupu: str, offset: Dyadic | None, paper: tuple | None) -> dict[str, Dyadic]:
    """The direct path's penalty dpen[q, m] >= max_{j != m} D[q, j] - D[q, m] (eupu option), from
    W_EP, the bias row b_O W_U + b_U and the option's row c (None: D is formed); under the paper's
    logit reasoning (paper = its other tables) its own direct-path parts instead (subcubic_paper)."""
    V, dm = wt.W_E.n.shape
    last, bias = wt.W_E + wt.W_pos[K - 1].rows(V), (wt.b_O.rows(1) @ wt.W_U)[0] + wt.b_U
    c = None if eupu in FROM_D else {"mean-query-max-diff": lambda: sb.floor_mean(last), "svd-query-max-diff":
                                     lambda: offset, "factored-max-diff": lambda: sb.zeros(dm)}[eupu]()
    if paper:
        return sp.tables(*sb.eupu_parts(eupu, last, wt.W_U, bias, c), *paper)
    if c is None:
        return {"dpen": sb.dpen_from_d(last @ wt.W_U + bias.rows(V), eupu)}
    return {"dpen": sb.dpen_factored(last, wt.W_U, bias, c)}


def _ov(wt: Params, K: int) -> dict[str, Dyadic]:
    """OV: OV[t, i] = EVOU[t] + PVOU[i] (b_V folded into PVOU); the non-max penalties and good's part."""
    V = len(wt.W_E.n)
    OU = wt.W_O @ wt.W_U
    evou = wt.W_E @ wt.W_V @ OU                                                     # [x, j]
    pvou = (wt.W_pos @ wt.W_V + wt.b_V.rows(K)) @ OU                             # [i, j]
    eterm, pterm = (Dyadic(x.n.max(axis=1)[:, None] - x.n, x.e) for x in (evou, pvou))  # [x, m], [i, m]
    e = min(evou.e, pvou.e)
    ov = evou.align(e)[:, None, :] + pvou.align(e)[None, :, :]                    # [m, i, j]
    diag = np.arange(V)
    own = ov[diag, :, diag].copy()                                                 # [m, i]
    ov[diag, :, diag] = ov[diag, :, (diag + 1) % V]  # drop j = m from the max (V = 1: j = m itself)
    good_ov = own - ov.max(axis=2)
    return {"evou": evou, "pvou": pvou, "eterm": eterm, "pterm": pterm,
            "pref": Dyadic(np.maximum.accumulate(eterm.n, axis=0), evou.e),
            "ptmax": Dyadic(pterm.n[:K - 1].max(axis=0), pvou.e),
            "gmin_nq": Dyadic(good_ov[:, :K - 1].min(axis=1), e), "gmin_all": Dyadic(good_ov.min(axis=1), e)}


