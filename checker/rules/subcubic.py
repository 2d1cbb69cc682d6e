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
from checker import interval as iv
from checker.certificate import Certificate, CertificateError, fields, rational
from checker.dyadic import Dyadic
from checker.ops import Ops
from checker.rules import Case, Reject
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


def rule(cert: Certificate, w: Weights, ops: Ops) -> Fraction:
    t, cases = _setup(cert, w, ops)
    if t.paper is None:
        passed = t.filter(np.array(cases, dtype=np.int64).reshape(-1, 4), ops) if cases else []
    else:  # the paper's logit reasoning (subcubic_paper): its own filter, then exactly
        passed = sp.filter_cases(t, np.array(cases, dtype=np.int64).reshape(-1, 4))
        ops.add(40 * w.k * len(cases))
    count = 0
    for (q, m, c, g), ok in zip(cases, passed):
        if not (ok or t.case_holds(q, m, c, g, ops)):
            raise Reject(f"subcubic case q={q}, m={m}, c={c}, g={g}: the inequality does not hold")
        count += comb(w.k - 1, c) * (m - g + 1) ** c if c else 1
    return Fraction(count, w.d_vocab ** w.k)


def obligations(cert: Certificate, w: Weights) -> Iterator[Case]:
    """The rule's proof as exact obligations (rules.Case): per certificate case (q, m, c, g), named
    case_q{q}_m{m}_c{c}_g{g}, the one sum `_Tables.obligation` of the module docstring (the two sums
    of `_Tables.paper_obligations` under the paper's logit reasoning)."""
    t, cases = _setup(cert, w, Ops())
    for q, m, c, g in cases:
        sums = [t.obligation(q, m, c, g)] if t.paper is None else t.paper_obligations(q, m, c, g)
        yield Case(f"case_q{q}_m{m}_c{c}_g{g}", sums)


def _setup(cert: Certificate, w: Weights, ops: Ops) -> tuple["_Tables", list[tuple[int, int, int, int]]]:
    if cert.semantics != "exact-real":
        raise Reject("subcubic certificates claim exact-real semantics only")
    if w.k < 2:
        raise Reject("the subcubic rules need K >= 2 (K = 1 has no non-query positions)")
    t = tables(cert, w, ops)
    return t, _cases(cert.evidence["cases"], w.k, w.d_vocab)


def tables(cert: Certificate, w: Weights, ops: Ops) -> "_Tables":
    """Validate the variant and its evidence fields; the tables for it (also used by exporters)."""
    par = fields(cert.parameters, "strategy.parameters", {"eupu", "attn", "err"}, {"logit"})
    if par["eupu"] not in EUPU or par["attn"] not in ATTN + sp.ATTN or par["err"] not in ERR \
            or par.get("logit", sp.LOGIT[0]) not in sp.LOGIT:
        raise CertificateError(f"unknown subcubic variant {par!r:.120}")
    rank2, svdq, svd = par["attn"] == "rank2-query", par["eupu"] == "svd-query-max-diff", par["attn"] == "svd"
    averaged = par.get("logit") == "paper-mean-query"
    ev = fields(cert.evidence, "evidence", {"cases"} | ({"svd_left", "svd_right"} if svd else {"direction"})
                | ({"direction2"} if rank2 else set()) | ({"eupu_offset"} if svdq else set())
                | ({"mean_attention"} if averaged else set()))
    b2 = _direction(ev["direction2"], w.d_head, "direction2") if rank2 else None
    offset = _direction(ev["eupu_offset"], w.d_model, "eupu_offset") if svdq else None
    uv = (sp.vector(ev["svd_left"], w.d_vocab, "svd_left"), sp.vector(ev["svd_right"], w.d_vocab, "svd_right")) \
        if svd else None
    # attn=svd: the rank-1 tables below are built along a fixed unit direction and then replaced
    b = _direction(ev["direction"], w.d_head) if not svd else \
        Dyadic(np.array([1] + [0] * (w.d_head - 1), dtype=object), 0)
    abar = None
    if "logit" in par:
        abar = sp.mean_attention(ev["mean_attention"], w.d_vocab, w.k) if averaged else \
            [[Fraction(0)] * w.k for _ in range(w.d_vocab)]
    return _Tables(w, b, b2, par, ops, offset, uv, abar)


def _direction(raw: object, d: int, name: str = "direction") -> Dyadic:
    if not isinstance(raw, list) or len(raw) != d:
        raise CertificateError(f"evidence.{name} must list {d} dyadic rationals")
    vals = [rational(x, f"evidence.{name}") for x in raw]
    if any(v.denominator & (v.denominator - 1) for v in vals):
        raise CertificateError(f"evidence.{name} entries must have power-of-two denominators")
    e = -max(v.denominator.bit_length() - 1 for v in vals)
    n = np.empty(d, dtype=object)
    n[:] = [int(v * 2 ** -e) for v in vals]
    return Dyadic(n, e)


def _cases(raw: object, K: int, V: int) -> list[tuple[int, int, int, int]]:
    if not isinstance(raw, list):
        raise CertificateError("evidence.cases must be a list")
    seen: set[tuple[int, int, int]] = set()
    for case in raw:
        if not isinstance(case, list) or len(case) != 4 or not all(type(v) is int for v in case):
            raise CertificateError(f"malformed subcubic case {case!r:.80}")
        q, m, c, g = case
        if not (0 <= q <= m < V and 0 <= c <= (K - 1 if q == m else K - 2)
                and (g == 0 if c == 0 else 1 <= g <= m)) or (q, m, c) in seen:
            raise CertificateError(f"subcubic case {case!r:.80} out of range or duplicated")
        seen.add((q, m, c))
    return [tuple(case) for case in raw]


class _Tables:
    """The per-token and per-(q, m) quantities of the module docstring, exactly (Dyadic)."""

    def __init__(self, w: Weights, b: Dyadic, b2: Dyadic | None, par: dict, ops: Ops,
                 offset: Dyadic | None = None, uv: tuple[Dyadic, Dyadic] | None = None,
                 abar: list | None = None) -> None:
        t = {name: Dyadic.from_floats(a) for name, a in w.tensors.items()}
        V, K, d, dm = w.d_vocab, w.k, w.d_head, w.d_model
        self.K, self.d = K, d
        E, P, U = t["embed.W_E"], t["pos_embed.W_pos"], t["unembed.W_U"]
        W_Q, W_K = t["blocks.0.attn.W_Q"][0], t["blocks.0.attn.W_K"][0]
        last = E + sb.rows(P[K - 1], V)                                               # W_EP
        Q = last @ W_Q + sb.rows(t["blocks.0.attn.b_Q"][0], V)
        Km = E @ W_K
        Pk = P @ W_K + sb.rows(t["blocks.0.attn.b_K"][0], K)
        self.eqkp = Q @ sb.tr(Pk)                                                     # [q, i]
        beta = _norm2(b)
        u = (Q @ sb.tr(sb.rows(b, 1)))[:, 0]
        self.v = (Km @ sb.tr(sb.rows(b, 1)))[:, 0]
        kres = _scale(Km, beta) - Dyadic(np.outer(self.v.n, b.n), self.v.e + b.e)
        o = 0 if par["attn"] in ("plain", "svd") else 1  # svd: wq = [W_Q; b_Q] for its chain
        centred = Q if o == 0 else Q - sb.rows(b, V)
        # chain factors of the residual: qres = eq1 @ wq, kres = E @ wk2 (exact identities)
        one = Dyadic(np.full((V, 1), 1 << -last.e if last.e < 0 else 1, dtype=object), min(last.e, 0))
        eq1 = Dyadic(np.hstack([last.align(one.e), one.n]), one.e)                   # [W_EP | 1]
        bq = t["blocks.0.attn.b_Q"][0] - (b if o else Dyadic(np.zeros(d, dtype=object), 0))
        eb = min(W_Q.e, bq.e)
        wq = Dyadic(np.vstack([W_Q.align(eb), bq.align(eb)[None, :]]), eb)           # [W_Q; b_Q - o b]
        wk2 = _scale(W_K, beta) - Dyadic(np.outer((W_K @ sb.tr(sb.rows(b, 1)))[:, 0].n, b.n),
                                          W_K.e + b.e + b.e)                          # W_K (beta I - b b^T)
        if b2 is None:  # rank 1: no second term
            beta2, qres = Fraction(1), centred
            self.u2 = self.w2 = Dyadic(np.zeros(V, dtype=object), 0)
        else:  # rank 2: beta2 (Q[q] - b) = u2[q] b2 + qres[q] with b2.qres[q] = 0, and w2 = Kres b2
            beta2 = _norm2(b2)
            self.u2 = (centred @ sb.tr(sb.rows(b2, 1)))[:, 0]
            self.w2 = (kres @ sb.tr(sb.rows(b2, 1)))[:, 0]
            qres = _scale(centred, beta2) - Dyadic(np.outer(self.u2.n, b2.n), self.u2.e + b2.e)
            wq = _scale(wq, beta2) - Dyadic(np.outer((wq @ sb.tr(sb.rows(b2, 1)))[:, 0].n, b2.n),
                                            wq.e + b2.e + b2.e)                       # wq (beta2 I - b2 b2^T)
        self.beta = beta * beta2
        self.u = _scale(u, beta2)
        self.w2max = Dyadic(np.maximum.accumulate(self.w2.n), self.w2.e)
        self.w2min = Dyadic(np.minimum.accumulate(self.w2.n), self.w2.e)
        self.vmax = Dyadic(np.maximum.accumulate(self.v.n), self.v.e)
        self.vmin = Dyadic(np.minimum.accumulate(self.v.n), self.v.e)
        self.eqke = self.eqpref = None
        self.eqbeta = Fraction(1)  # the eqke path: EQKE[q,x] - EQKE[q,m] <= (eqke diff + spread) / eqbeta
        if par["err"] == "exact-eqke":  # EQKE itself, V x V, and its prefix maxima along keys
            self.eqke = Q @ sb.tr(Km)
            self.spread = Dyadic(np.zeros(V, dtype=object), 0)
            ops.add(V * V * d + V * V)
        elif uv is not None:  # attn=svd: the rank-1 SVD term formed, the residual bounded
            self.eqke, self.eqbeta, qres, kres, chain = sp.svd_split(Q, Km, eq1, wq, W_K, E, *uv)
            self.spread = sb.spread(par["err"], qres, kres, chain, ops)
            ops.add(4 * V * d + 2 * V * dm * d + 4 * V * V)
        else:
            self.spread = sb.spread(par["err"], qres, kres, [eq1, wq, sb.tr(wk2), sb.tr(E)], ops)
        if self.eqke is not None:
            self.eqpref = Dyadic(np.maximum.accumulate(self.eqke.n, axis=1), self.eqke.e)
        OU = t["blocks.0.attn.W_O"][0] @ U
        evou = E @ t["blocks.0.attn.W_V"][0] @ OU                                     # [x, j]
        pvou = (P @ t["blocks.0.attn.W_V"][0] + sb.rows(t["blocks.0.attn.b_V"][0], K)) @ OU  # [i, j]
        bias = (sb.rows(t["blocks.0.attn.b_O"], 1) @ U)[0] + t["unembed.b_U"]
        c = None if par["eupu"] in FROM_D else \
            {"mean-query-max-diff": lambda: sb.floor_mean(last), "svd-query-max-diff": lambda: offset,
             "factored-max-diff": lambda: Dyadic(np.zeros(dm, dtype=object), 0)}[par["eupu"]]()
        self.paper = None
        if abar is not None:  # the paper's logit reasoning (subcubic_paper): its own direct-path parts
            self.paper = sp.PaperLogit(*sp.eupu_parts(par["eupu"], last, U, bias, c), evou, pvou, abar)
            ops.add((V * V * dm if c is None else 4 * V * dm + dm * V) + V * V * K + 6 * V * V * K)
        elif c is None:
            self.dpen = sb.dpen_from_d(last @ U + sb.rows(bias, V), par["eupu"])
            ops.add(V * V * dm + 3 * V * V)
        else:
            self.dpen = sb.dpen_factored(last, U, bias, c)
            ops.add(4 * V * dm + dm * V + 4 * V + V * V)
        self.eterm = Dyadic(evou.n.max(axis=1)[:, None] - evou.n, evou.e)              # [x, m]
        self.pref = Dyadic(np.maximum.accumulate(self.eterm.n, axis=0), evou.e)
        self.pterm = Dyadic(pvou.n.max(axis=1)[:, None] - pvou.n, pvou.e)              # [i, m]
        self.ptmax = Dyadic(self.pterm.n[:K - 1].max(axis=0), pvou.e)                  # [m]
        e = min(evou.e, pvou.e)
        ov = evou.align(e)[:, None, :] + pvou.align(e)[None, :, :]                    # [m, i, j]
        diag = np.arange(V)
        own = ov[diag, :, diag].copy()                                                 # [m, i]
        ov[diag, :, diag] = ov[diag, :, (diag + 1) % V] if V > 1 else own  # drop j = m from the max
        good_ov = own - ov.max(axis=2)
        self.gmin_nq = Dyadic(good_ov[:, :K - 1].min(axis=1) if K > 1 else np.full(V, None), e)
        self.gmin_all = Dyadic(good_ov.min(axis=1), e)
        ops.add(2 * V * dm * d + 2 * V * V * dm + 6 * V * d + V * K * d + 3 * V * V + 2 * V * K * V + 3 * dm * d
                + (4 * V * d if b2 is not None else 0))

    def filter(self, cases: np.ndarray, ops: Ops) -> np.ndarray:
        """Per case: True if float64 intervals prove the inequality; False means 'decide exactly'."""
        q, m, c, g = cases.T
        K = self.K
        same = q == m
        f = lambda x: iv.enclose_ints(x.n, x.e)
        at = lambda x, *idx: (x[0][idx], x[1][idx])
        with np.errstate(all="ignore"):
            dpen = at(f(self.dpen), q, m)  # enclosed once, used by good, qpen and pen
            good = iv.add(iv.sub((0.0, 0.0), dpen),
                          _where(same, at(f(self.gmin_all), m), at(f(self.gmin_nq), np.where(same, 0, m))))
            n_g = (K - 1 - c + same).astype(np.float64)
            lhs = iv.mul((n_g, n_g), good)
            rs = iv.inv_sqrt(self.d)
            beta, eqbeta = (iv.div_pos(iv.enclose_ints(np.array([x.numerator], dtype=object), 0),
                                       iv.enclose_ints(np.array([x.denominator], dtype=object), 0))
                            for x in (self.beta, self.eqbeta))
            u, v, spread = f(self.u), f(self.v), f(self.spread)
            eqkp = f(self.eqkp)
            p_min = (eqkp[0].min(axis=1), eqkp[1].min(axis=1))
            zero = np.zeros(len(q))
            # query term (q < m)
            qpen = iv.add(iv.add(dpen, at(f(self.eterm), q, m)), at(f(self.pterm), K - 1, m))
            qpen = (np.maximum(qpen[0], 0.0), np.maximum(qpen[1], 0.0))
            u2, w2 = f(self.u2), f(self.w2)
            mg = np.maximum(m - g, 0)
            if self.eqke is not None:  # err=exact-eqke: the differences of EQKE itself
                eq, eqp = f(self.eqke), f(self.eqpref)
                b_q = iv.div_pos(iv.add(iv.sub(at(eq, q, q), at(eq, q, m)), at(spread, q)), eqbeta)
                a_x = iv.div_pos(iv.add(iv.sub(at(eqp, q, mg), at(eq, q, m)), at(spread, q)), eqbeta)
            else:
                b_q = iv.add(iv.mul(at(u, q), iv.sub(at(v, q), at(v, m))), at(spread, q))
                b_q = iv.div_pos(iv.add(b_q, iv.mul(at(u2, q), iv.sub(at(w2, q), at(w2, m)))), beta)
                positive_u = np.array([x >= 0 for x in self.u.n], dtype=bool)[q]
                ext = _where(positive_u, at(f(self.vmax), mg), at(f(self.vmin), mg))
                a_x = iv.add(iv.mul(at(u, q), iv.sub(ext, at(v, m))), at(spread, q))
                positive_u2 = np.array([x >= 0 for x in self.u2.n], dtype=bool)[q]
                ext2 = _where(positive_u2, at(f(self.w2max), mg), at(f(self.w2min), mg))
                a_x = iv.div_pos(iv.add(a_x, iv.mul(at(u2, q), iv.sub(ext2, at(w2, m)))), beta)
            b_q = iv.sub(iv.add(b_q, at(eqkp, q, K - 1)), at(p_min, q))
            qterm = self._pen_times_exp(qpen, iv.mul(b_q, rs))
            qterm = (np.where(same, zero, qterm[0]), np.where(same, zero, qterm[1]))
            # non-max term (c > 0)
            pen = iv.add(iv.add(dpen, at(f(self.pref), mg, m)), at(f(self.ptmax), m))
            pen = (np.maximum(pen[0], 0.0), np.maximum(pen[1], 0.0))
            p_max = (eqkp[0][:, :K - 1].max(axis=1), eqkp[1][:, :K - 1].max(axis=1))
            a_x = iv.sub(iv.add(a_x, at(p_max, q)), at(p_min, q))
            xterm = iv.mul((c.astype(np.float64),) * 2, self._pen_times_exp(pen, iv.mul(a_x, rs)))
            xterm = (np.where(c > 0, xterm[0], zero), np.where(c > 0, xterm[1], zero))
            low = iv.sub(iv.sub(lhs, qterm), xterm)[0]
        ops.add(60 * len(q))
        return (good[0] > 0) & (low > 0)

    @staticmethod
    def _pen_times_exp(pen: tuple, arg: tuple) -> tuple:
        """pen * exp(arg) with pen >= 0; arguments beyond the filter's range, or NaN, give +inf
        (undecided)."""
        big = ~((arg[1] <= 700) & (arg[0] <= arg[1]))
        lo, hi = iv.exp_bounds(np.where(big, 0.0, arg[0]), np.where(big, 0.0, arg[1]))
        prod = iv.mul(pen, (lo, hi))
        return prod[0], np.where(big, np.inf, prod[1])

    def case_holds(self, q: int, m: int, c: int, g: int, ops: Ops) -> bool:
        """The case's inequality decided exactly."""
        ops.add(20)
        if self.paper is not None:
            return all(expo.holds(ob, self.d, ops) for ob in self.paper_obligations(q, m, c, g))
        return expo.holds(self.obligation(q, m, c, g), self.d, ops)

    def eqke_bounds(self, q: int, m: int, g: int) -> tuple[Fraction, Fraction | None]:
        """(b_q, a_x): upper bounds of EQKE[q,q] - EQKE[q,m] and of max_{x <= m-g} EQKE[q,x] - EQKE[q,m]
        (a_x None for g = 0)."""
        fr = lambda x, *idx: x.fraction(idx)
        if self.eqke is not None:
            b_q = (fr(self.eqke, q, q) - fr(self.eqke, q, m) + fr(self.spread, q)) / self.eqbeta
            a_x = (fr(self.eqpref, q, m - g) - fr(self.eqke, q, m) + fr(self.spread, q)) / self.eqbeta if g else None
            return b_q, a_x
        b_q = (fr(self.u, q) * (fr(self.v, q) - fr(self.v, m)) + fr(self.spread, q)
               + fr(self.u2, q) * (fr(self.w2, q) - fr(self.w2, m))) / self.beta
        if not g:
            return b_q, None
        ext = fr(self.vmax if self.u.n[q] >= 0 else self.vmin, m - g)
        ext2 = fr(self.w2max if self.u2.n[q] >= 0 else self.w2min, m - g)
        return b_q, (fr(self.u, q) * (ext - fr(self.v, m)) + fr(self.spread, q)
                     + fr(self.u2, q) * (ext2 - fr(self.w2, m))) / self.beta

    def paper_obligations(self, q: int, m: int, c: int, g: int) -> list[expo.Obligation]:
        """The case under the paper's logit reasoning (subcubic_paper): every obligation must hold."""
        b_q, a_x = self.eqke_bounds(q, m, g)
        wn = [self.eterm.fraction((q, m))] if q < m else []
        wn += [self.pref.fraction((m - g, m))] if c else []
        return sp.obligations(self.paper, self.K, [self.eqkp.fraction((q, i)) for i in range(self.K)],
                              a_x, b_q, max(wn, default=Fraction(0)), q, m, c)

    def obligation(self, q: int, m: int, c: int, g: int) -> expo.Obligation:
        """The case as sum coeff * exp(arg / sqrt(d_head)) > 0 with exact rationals."""
        K = self.K
        fr = lambda x, *idx: x.fraction(idx)
        good = -fr(self.dpen, q, m) + fr(self.gmin_all if q == m else self.gmin_nq, m)
        if good <= 0:
            return [(good, Fraction(0))]  # cannot hold
        n_g = K - 1 - c + (q == m)
        p_min = min(fr(self.eqkp, q, i) for i in range(K))
        terms = [(n_g * good, Fraction(0))]
        b_q, a_x = self.eqke_bounds(q, m, g)
        if q < m:
            qpen = max(0, fr(self.dpen, q, m) + fr(self.eterm, q, m) + fr(self.pterm, K - 1, m))
            terms.append((-qpen, b_q + fr(self.eqkp, q, K - 1) - p_min))
        if c:
            pen = max(0, fr(self.dpen, q, m) + fr(self.pref, m - g, m) + fr(self.ptmax, m))
            terms.append((-c * pen, a_x + max(fr(self.eqkp, q, i) for i in range(K - 1)) - p_min))
        return terms


def _norm2(b: Dyadic) -> Fraction:
    value = (sb.rows(b, 1) @ sb.tr(sb.rows(b, 1))).fraction((0, 0))
    if value <= 0:
        raise Reject("a hint direction is zero")
    return value


def _scale(x: Dyadic, factor: Fraction) -> Dyadic:
    """x * factor for a dyadic factor (here a squared norm of a dyadic vector), exactly."""
    e = -(factor.denominator.bit_length() - 1)
    return Dyadic(x.n * int(factor * 2 ** -e), x.e + e)


def _where(mask: np.ndarray, a: tuple, b: tuple) -> tuple:
    return np.where(mask, a[0], b[0]), np.where(mask, a[1], b[1])
