"""Subcubic proofs: a gap g per (query, max, copies), EQKE as rank-1 + residual bounded from factors.

The prover evaluates the inequality of checker/rules/subcubic.py in float64 and searches, per case,
the smallest gap that passes with a relative margin (the search is the prover's; the chosen gaps
travel as hints). The direction b is the mean query vector (rounded to float64, so exactly dyadic).
Variants: eupu (direct path) x attn (centering) x err (residual bound), named
subcubic:eupu=...,attn=...,err=...; plain `subcubic` searches all variants and keeps the best bound.
"""
from __future__ import annotations

import itertools
from fractions import Fraction
from math import comb

import numpy as np

from certify.paths import FloatModel
from certify.strategies.base import Proof, Strategy

EUPU = ("exact", "max-diff", "global-max-diff")
ATTN = ("mean-query", "plain", "rank2-query")
ERR = ("maxdiff", "global-maxdiff", "l2", "min-maxdiff-l2")
MARGIN = 1e-9


def variant_name(eupu: str, attn: str, err: str) -> str:
    return f"subcubic:eupu={eupu},attn={attn},err={err}"


def prove_variant(m: FloatModel, eupu: str, attn: str, err: str) -> Proof:
    t, V, K = m.t, m.d_vocab, m.k
    E, P = t["embed.W_E"], t["pos_embed.W_pos"]
    last = E + P[-1]
    Q = last @ t["blocks.0.attn.W_Q"][0] + t["blocks.0.attn.b_Q"][0]
    Km = E @ t["blocks.0.attn.W_K"][0]
    eqkp = Q @ (P @ t["blocks.0.attn.W_K"][0] + t["blocks.0.attn.b_K"][0]).T
    b = _nonzero(Q.mean(axis=0))
    beta = b @ b
    u, v = Q @ b, Km @ b
    kres = beta * Km - np.outer(v, b)
    centred = Q if attn == "plain" else Q - b
    u2 = w2 = np.zeros(V)
    extra = {}
    if attn == "rank2-query":  # second query direction: the top principal axis of the centred queries
        b2 = _nonzero(np.linalg.svd(centred, full_matrices=False)[2][0])
        beta2 = b2 @ b2
        u2, w2 = centred @ b2, kres @ b2
        centred = beta2 * centred - np.outer(u2, b2)
        u, beta = u * beta2, beta * beta2
        extra = {"direction2": [_exact(x) for x in b2]}
    maxdiff = np.abs(centred) @ (kres.max(0) - kres.min(0))
    l2 = np.linalg.norm(centred, axis=1) * np.linalg.norm(2 * kres - (kres.max(0) + kres.min(0)), axis=1).max()
    spread = {"maxdiff": maxdiff, "global-maxdiff": np.full(V, maxdiff.max()), "l2": l2,
              "min-maxdiff-l2": np.minimum(maxdiff, l2)}[err] * (1 + 1e-12)  # the checker rounds sqrt up
    OU = t["blocks.0.attn.W_O"][0] @ t["unembed.W_U"]
    evou = E @ t["blocks.0.attn.W_V"][0] @ OU
    pvou = (P @ t["blocks.0.attn.W_V"][0] + t["blocks.0.attn.b_V"][0]) @ OU
    D = m.direct()
    dpen = _dpen(D, eupu)
    eterm = evou.max(1)[:, None] - evou                                  # [x, m]
    pterm = pvou.max(1)[:, None] - pvou                                  # [i, m]
    pref = np.maximum.accumulate(eterm, axis=0)
    ov = evou[:, None, :] + pvou[None, :, :]                             # [m, i, j]
    diag = np.arange(V)
    own = ov[diag, :, diag]                                              # [m, i]
    ov[diag, :, diag] = -np.inf
    good_ov = own - ov.max(axis=2)
    vmax, vmin = np.maximum.accumulate(v), np.minimum.accumulate(v)
    w2max, w2min = np.maximum.accumulate(w2), np.minimum.accumulate(w2)
    s = 1 / np.sqrt(m.d_head)
    cases, count = [], 0
    for q in range(V):
        p_min = eqkp[q].min()
        for mx in range(q, V):
            gpos = list(range(K - 1)) + ([K - 1] if q == mx else [])
            good = -dpen[q, mx] + good_ov[mx, gpos].min()
            if good <= 0:
                continue
            qterm = 0.0
            if q < mx:
                qpen = max(0.0, dpen[q, mx] + eterm[q, mx] + pterm[K - 1, mx])
                b_q = (u[q] * (v[q] - v[mx]) + u2[q] * (w2[q] - w2[mx]) + spread[q]) / beta
                qterm = qpen * np.exp(s * (b_q + eqkp[q, K - 1] - p_min))
            g = np.arange(1, mx + 1)
            ext = (vmax if u[q] >= 0 else vmin)[mx - g]
            ext2 = (w2max if u2[q] >= 0 else w2min)[mx - g]
            a_x = (u[q] * (ext - v[mx]) + u2[q] * (ext2 - w2[mx]) + spread[q]) / beta
            pen = np.maximum(0.0, dpen[q, mx] + pref[mx - g, mx] + pterm[:K - 1, mx].max())
            xterm = pen * np.exp(s * (a_x + eqkp[q, :K - 1].max() - p_min))
            for c in range(K if q == mx else K - 1):
                n_g = K - 1 - c + (q == mx)
                if c == 0:
                    if n_g * good - qterm > MARGIN * (n_g * good + qterm):
                        cases.append([q, mx, 0, 0])
                        count += 1
                    continue
                ok = n_g * good - qterm - c * xterm > MARGIN * (n_g * good + qterm + c * xterm)
                if ok.any():
                    gap = int(g[np.argmax(ok)])
                    cases.append([q, mx, c, gap])
                    count += comb(K - 1, c) * (mx - gap + 1) ** c
    direction = [_exact(x) for x in b]
    return Proof("subcubic", Fraction(count, V ** K), {"eupu": eupu, "attn": attn, "err": err},
                 {"direction": direction, **extra, "cases": cases})


def _nonzero(b: np.ndarray) -> np.ndarray:
    """The checker needs b.b > 0; any direction is sound, a zero one is replaced by a unit vector."""
    if b @ b > 0:
        return b
    out = np.zeros_like(b)
    out[0] = 1.0
    return out


def _dpen(D: np.ndarray, how: str) -> np.ndarray:
    """dpen[q, m] >= max_{j != m} D[q, j] - D[q, m] (see checker/rules/subcubic.py)."""
    if how == "exact":  # the row's best, or its second best where m is the (unique) best
        ranked = np.sort(D, axis=1)
        best, second = ranked[:, -1:], ranked[:, -2:-1]
        return np.where(D == best, second, best) - D
    spans = D.max(1) - D.min(1)
    if how == "global-max-diff":
        spans = np.full_like(spans, spans.max())
    return np.repeat(spans[:, None], D.shape[1], axis=1)


def _exact(x: float) -> str:
    f = Fraction(float(x))
    return f"{f.numerator}/{f.denominator}"


def prove_best(m: FloatModel) -> Proof:
    """Search every variant; keep the best bound (ties: the first, i.e. the cheapest listed)."""
    best = None
    for eupu, attn, err in itertools.product(EUPU, ATTN, ERR):
        proof = prove_variant(m, eupu, attn, err)
        if best is None or proof.bound > best.bound:
            best = proof
    return best


COST = {"exact": "O(V^2 d)", "max-diff": "O(V^2 d)", "global-max-diff": "O(V^2 d)"}
STRATEGIES = [Strategy("subcubic", "O(V^2 (d + K))", "best subcubic variant, chosen by search",
                       prove_best)] + [
    Strategy(variant_name(e, a, r), "O(V^2 (d + K))", f"direct path {e}, attention {a}, residual {r}",
             lambda m, e=e, a=a, r=r: prove_variant(m, e, a, r), default=False)
    for e, a, r in itertools.product(EUPU, ATTN, ERR)]
