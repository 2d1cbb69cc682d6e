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
    and |(Q[q] - o b).(Kres[x] - Kres[m])| <= sum_k |Q[q,k] - o b_k| * (max_t Kres[t,k] - min_t Kres[t,k])
    = spread[q] (err=maxdiff; err=global-maxdiff uses max_q spread[q]). Hence for x <= m - g
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
Every case's inequality is decided exactly (expo.sign_sum_exp on rational coefficients/exponents).
"""
from __future__ import annotations

from fractions import Fraction
from math import comb, lcm

import numpy as np

from checker import expo
from checker.certificate import Certificate, CertificateError, fields, rational
from checker.dyadic import Dyadic
from checker.ops import Ops
from checker.rules import Reject
from checker.safetensors import Weights

EUPU = ("exact", "max-diff", "global-max-diff")
ATTN = ("mean-query", "plain")
ERR = ("maxdiff", "global-maxdiff")


def rule(cert: Certificate, w: Weights, ops: Ops) -> Fraction:
    par = fields(cert.parameters, "strategy.parameters", {"eupu", "attn", "err"})
    if par["eupu"] not in EUPU or par["attn"] not in ATTN or par["err"] not in ERR:
        raise CertificateError(f"unknown subcubic variant {par!r:.120}")
    ev = fields(cert.evidence, "evidence", {"direction", "cases"})
    t = _Tables(w, _direction(ev["direction"], w.d_head), par, ops)
    count = 0
    for q, m, c, g in _cases(ev["cases"], w.k, w.d_vocab):
        if not t.case_holds(q, m, c, g, ops):
            raise Reject(f"subcubic case q={q}, m={m}, c={c}, g={g}: the inequality does not hold")
        count += comb(w.k - 1, c) * (m - g + 1) ** c if c else 1
    return Fraction(count, w.d_vocab ** w.k)


def _direction(raw: object, d: int) -> Dyadic:
    if not isinstance(raw, list) or len(raw) != d:
        raise CertificateError(f"evidence.direction must list {d} dyadic rationals")
    vals = [rational(x, "evidence.direction") for x in raw]
    if any(v.denominator & (v.denominator - 1) for v in vals):
        raise CertificateError("evidence.direction entries must have power-of-two denominators")
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
    def __init__(self, w: Weights, b: Dyadic, par: dict, ops: Ops) -> None:
        t = {name: Dyadic.from_floats(a) for name, a in w.tensors.items()}
        V, K, d = w.d_vocab, w.k, w.d_head
        self.K, self.d = K, d
        E, P = t["embed.W_E"], t["pos_embed.W_pos"]
        last = E + Dyadic(np.tile(P.n[K - 1], (V, 1)), P.e)
        Q = last @ t["blocks.0.attn.W_Q"][0] + Dyadic(np.tile(t["blocks.0.attn.b_Q"].n[0], (V, 1)), t["blocks.0.attn.b_Q"].e)
        Km = E @ t["blocks.0.attn.W_K"][0]
        Pk = P @ t["blocks.0.attn.W_K"][0] + Dyadic(np.tile(t["blocks.0.attn.b_K"].n[0], (K, 1)), t["blocks.0.attn.b_K"].e)
        self.eqkp = _frac_matrix(Q @ Dyadic(Pk.n.T, Pk.e))                             # [q, i]
        col = Dyadic(b.n.reshape(-1, 1), b.e)
        beta = (Dyadic(b.n.reshape(1, -1), b.e) @ col).fraction((0, 0))
        if beta <= 0:
            raise Reject("evidence.direction is zero")
        self.beta = beta
        self.u = _frac_vector(Q @ col)
        v = Km @ col                                                                 # [V, 1]
        kres = Dyadic(Km.n * int(beta * 2 ** -(2 * b.e)), Km.e + 2 * b.e) - v @ Dyadic(b.n.reshape(1, -1), b.e)
        spread_k = Dyadic(kres.n.max(axis=0) - kres.n.min(axis=0), kres.e)
        centred = Q - Dyadic(np.tile(b.n, (V, 1)), b.e) if par["attn"] == "mean-query" else Q
        spread = _frac_vector(Dyadic(np.abs(centred.n), centred.e) @ Dyadic(spread_k.n.reshape(-1, 1), spread_k.e))
        self.spread = [max(spread)] * V if par["err"] == "global-maxdiff" else spread
        self.v = _frac_vector(v)
        self.vmax = list(np.maximum.accumulate(np.array(self.v, dtype=object)))
        self.vmin = list(np.minimum.accumulate(np.array(self.v, dtype=object)))
        U, WO = t["unembed.W_U"], t["blocks.0.attn.W_O"][0]
        OU = WO @ U
        evou = _frac_matrix(E @ t["blocks.0.attn.W_V"][0] @ OU)
        bV = Dyadic(np.tile(t["blocks.0.attn.b_V"].n[0], (K, 1)), t["blocks.0.attn.b_V"].e)
        pvou = _frac_matrix((P @ t["blocks.0.attn.W_V"][0] + bV) @ OU)
        bO = Dyadic(t["blocks.0.attn.b_O"].n.reshape(1, -1), t["blocks.0.attn.b_O"].e) @ U
        bias = bO[0] + t["unembed.b_U"]
        D = _frac_matrix(last @ U + Dyadic(np.tile(bias.n, (V, 1)), bias.e))
        self.dpen = _dpen(D, par["eupu"])
        self.D = D
        self.eterm = [[max(row) - row[mm] for mm in range(V)] for row in evou]      # [x][m]
        self.pterm = [[max(row) - row[mm] for mm in range(V)] for row in pvou]      # [i][m]
        self.pref = np.maximum.accumulate(np.array(self.eterm, dtype=object), axis=0)  # [x][m]
        self.good_ov = [[evou[mm][mm] + pvou[i][mm] - max(evou[mm][j] + pvou[i][j] for j in range(V) if j != mm)
                         for i in range(K)] for mm in range(V)]
        ops.add(2 * V * d * d + 3 * V * V * d + 6 * V * d + V * K * d + 4 * V * V + V * K * V)

    def case_holds(self, q: int, m: int, c: int, g: int, ops: Ops) -> bool:
        K = self.K
        gpos = list(range(K - 1)) + ([K - 1] if q == m else [])
        good = -self.dpen[q][m] + min(self.good_ov[m][i] for i in gpos)
        ops.add(20)
        if good <= 0:
            return False
        n_g = K - 1 - c + (q == m)
        p_min = min(self.eqkp[q])
        terms = [(n_g * good, Fraction(0))]
        if q < m:
            qpen = max(0, self.dpen[q][m] + self.eterm[q][m] + self.pterm[K - 1][m])
            b_q = (self.u[q] * (self.v[q] - self.v[m]) + self.spread[q]) / self.beta
            terms.append((-qpen, b_q + self.eqkp[q][K - 1] - p_min))
        if c:
            pen = max(0, self.dpen[q][m] + self.pref[m - g][m] + max(self.pterm[i][m] for i in range(K - 1)))
            ext = (self.vmax if self.u[q] >= 0 else self.vmin)[m - g]
            a_x = (self.u[q] * (ext - self.v[m]) + self.spread[q]) / self.beta
            terms.append((-c * pen, a_x + max(self.eqkp[q][:K - 1]) - p_min))
        return _sign(terms, self.d) > 0


def _sign(terms: list[tuple[Fraction, Fraction]], d: int) -> int:
    """Sign of sum coeff * exp(arg / sqrt(d)) for rational coefficients and arguments."""
    cden = lcm(*(c.denominator for c, _ in terms))
    aden = lcm(*(a.denominator for _, a in terms))
    return expo.sign_sum_exp([int(c * cden) for c, _ in terms], [int(a * aden) for _, a in terms], 0, d, aden)


def _dpen(D: list[list[Fraction]], how: str) -> list[list[Fraction]]:
    """dpen[q][m] >= max_{j != m} D[q][j] - D[q][m], and -dpen[q][m] <= min_{j != m} D[q][m] - D[q][j]."""
    if how == "exact":
        out = []
        for row in D:
            top = sorted(range(len(row)), key=row.__getitem__)[-2:]
            out.append([row[top[-1] if top[-1] != mm else top[0]] - row[mm] for mm in range(len(row))])
        return out
    spans = [max(row) - min(row) for row in D]
    if how == "global-max-diff":
        spans = [max(spans)] * len(D)
    return [[s] * len(D[0]) for s in spans]


def _frac_matrix(x: Dyadic) -> list[list[Fraction]]:
    scale = Fraction(2) ** x.e
    return [[Fraction(int(v)) * scale for v in row] for row in x.n]


def _frac_vector(x: Dyadic) -> list[Fraction]:
    scale = Fraction(2) ** x.e
    return [Fraction(int(v)) * scale for v in x.n.ravel()]
