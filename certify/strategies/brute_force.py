"""Brute force prover: evaluate every input in float64; refine near-ties with 60-digit mpmath.

Untrusted: the checker recounts exactly. Most inputs are settled by a filter (per query a table
G[t, i, m] = min_{j != m} of the gap contribution C[i, j] at token t, position i, times the
unnormalised attention weight exp(score - the query's top score); a positive sum over positions,
with a relative margin, means every gap is positive); the rest are evaluated logit by logit. Near-ties are resolved in high
precision so that the claimed count normally matches the exact one; a gap below 1e-40 is treated as
a tie (wrong).
"""
from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np

from certify.paths import FloatModel
from certify.strategies.base import Proof, Strategy

MAX_INPUTS = 1 << 31
NEAR = 1e-9
CHUNK = 1 << 15


def too_large(m: FloatModel) -> str | None:
    """Why brute force does not apply: the checker's caps (checker/rules/brute_force.py), which also
    bound this prover's [V, K, V, V] table."""
    from checker.rules.brute_force import MAX_TABLE
    n, table = m.d_vocab ** m.k, m.d_vocab ** 3 * m.k
    if n > MAX_INPUTS:
        return (f"brute force would enumerate {n:,} = {m.d_vocab}^{m.k} inputs, more than the "
                f"limit of {MAX_INPUTS:,}; use a compact strategy (cubic, subcubic)")
    if table > MAX_TABLE:
        return (f"brute force would tabulate d_vocab^3 K = {table:,} gap bounds, more than the checker's "
                f"cap of {MAX_TABLE:,}; use a compact strategy (cubic, subcubic)")
    return None


def prove(m: FloatModel) -> Proof:
    reason = too_large(m)
    if reason:
        raise ValueError(reason)
    counter = Counter(m)
    V, K = m.d_vocab, m.k
    correct = 0
    for q in range(V):
        for start in range(0, V ** (K - 1), CHUNK):
            correct += counter.count(q, _inputs(V, K, q, start, min(start + CHUNK, V ** (K - 1))))
        m.tick(q + 1, V)
    total = V ** K
    return Proof("brute-force", Fraction(correct, total), {},
                 {"correct_inputs": correct, "total_inputs": total}, m.semantics)


class Counter:
    """Counts correct inputs of one query at a time (the filter's table is built once per query)."""

    def __init__(self, m: FloatModel) -> None:
        self.m, self.qk, self.ov = m, m.qk() / np.sqrt(m.d_head), m.ov()
        self.win, self.rival = m.direct_win_rival()
        diag = np.arange(m.d_vocab)
        self.ovd = self.ov[:, :, :, None] - self.ov[:, :, None, :]      # [t, i, m, j]
        self.ovd[:, :, diag, diag] = np.inf
        self.q, self.g = -1, None

    def count(self, q: int, toks: np.ndarray) -> int:
        if q != self.q:
            V = self.m.d_vocab
            dd = self.win[q][:, None] - self.rival[q][None, :]           # [m, j]
            g = (dd[None, None] + self.ovd).min(axis=3)                   # [t, i, m]
            rank = np.argsort(self.rival[q])
            rival = np.where(np.arange(V) == rank[-1], rank[-min(2, V)], rank[-1])  # [m]: the strongest direct rival
            ms = np.arange(V)
            h = dd[ms, rival] + self.ovd[:, :, ms, rival]                 # [t, i, m]: C[i, rival]
            size = (np.abs(self.win[q]) + np.abs(self.rival[q][rival]) + np.abs(self.ov)
                    + np.abs(self.ov[:, :, rival]))                         # [t, i, m]: the terms of h
            e = np.exp(self.qk[q] - self.qk[q].max())[:, :, None]         # [t, i, 1], unnormalised
            self.q, self.eg, self.eg_abs = q, e * g, e * np.abs(g)
            self.eh, self.eh_size, self.size = e * h, e * size, size
        pos = np.arange(toks.shape[1])
        at = (toks, pos, toks.max(axis=1)[:, None])
        sure = self.eg[at].sum(axis=1) > NEAR * self.eg_abs[at].sum(axis=1)
        # wrong at once: the gap to the strongest direct rival is negative by a margin relative to
        # the size of its terms, or 0 from terms all exactly 0 (a tie, e.g. all-zero weights)
        wrong = (self.eh[at].sum(axis=1) < -NEAR * self.eh_size[at].sum(axis=1)) | (self.size[at].sum(axis=1) == 0)
        rest = toks[~sure & ~wrong]
        return int(sure.sum()) + (_count(self.m, rest, self.qk[q], self.ov, (self.win[q], self.rival[q]))
                                  if len(rest) else 0)


def _inputs(V: int, K: int, q: int, start: int, stop: int) -> np.ndarray:
    idx = np.arange(start, stop)
    digits = [(idx // V ** (K - 2 - i)) % V for i in range(K - 1)]
    return np.stack(digits + [np.full_like(idx, q)], axis=1)


def _count(m: FloatModel, toks: np.ndarray, qk_q: np.ndarray, ov: np.ndarray, direct_q: tuple) -> int:
    """Inputs whose gaps win[m] - rival[j] + attention part are all > 0 (direct_q = (win, rival))."""
    pos = np.arange(toks.shape[1])
    s = qk_q[toks, pos]
    a = np.exp(s - s.max(axis=1, keepdims=True))
    a /= a.sum(axis=1, keepdims=True)
    attn = np.einsum("nk,nkv->nv", a, ov[toks, pos])
    logits = direct_q[1] + attn
    mx = toks.max(axis=1)
    rows = np.arange(len(toks))
    right = direct_q[0][mx] + attn[rows, mx]
    logits[rows, mx] = -np.inf
    margin = right - logits.max(axis=1)
    # the size of everything summed into the margin bounds its float64 error (no absolute floor: a
    # margin of exactly 0 from terms all exactly 0, e.g. all-zero weights, is a tie, decided here)
    size = np.abs(direct_q[1]) + np.einsum("nk,nkv->nv", a, np.abs(ov[toks, pos]))
    scale = size[rows, mx] + np.abs(direct_q[0][mx]) + size.max(axis=1)
    near = np.abs(margin) <= NEAR * scale
    near &= scale > 0
    slack = (direct_q[1] - direct_q[0]) / 2
    return int((margin[~near] > 0).sum()) + sum(_exact_correct(m, t, slack) for t in toks[near])


def _exact_correct(m: FloatModel, toks: np.ndarray, slack: np.ndarray) -> bool:
    """Recompute one input at 60 digits through the whole model; gaps must exceed slack[m] + slack[j]."""
    with mpmath.workdps(60):
        t = {k: mpmath.matrix(v.reshape(-1, v.shape[-1]).tolist()) for k, v in m.t.items()}
        res = [t["embed.W_E"][int(x), :] + t["pos_embed.W_pos"][i, :] for i, x in enumerate(toks)]
        q = res[-1] * t["blocks.0.attn.W_Q"] + t["blocks.0.attn.b_Q"]
        scores = [(q * (r * t["blocks.0.attn.W_K"] + t["blocks.0.attn.b_K"]).T)[0] / mpmath.sqrt(m.d_head)
                  for r in res]
        top = max(scores)
        w = [mpmath.exp(x - top) for x in scores]
        z = sum(((wi / sum(w)) * (r * t["blocks.0.attn.W_V"] + t["blocks.0.attn.b_V"])
                 for wi, r in zip(w, res)), mpmath.zeros(1, m.d_head))
        logits = (res[-1] + z * t["blocks.0.attn.W_O"] + t["blocks.0.attn.b_O"]) * t["unembed.W_U"] + t["unembed.b_U"]
        best = int(max(toks))
        return all(logits[best] - logits[j] - mpmath.mpf(slack[best]) - mpmath.mpf(slack[j]) > mpmath.mpf(10) ** -40
                   for j in range(m.d_vocab) if j != best)


STRATEGY = Strategy("brute-force", "O(d_vocab^K * K * d_vocab)",
                    "evaluate every input; the bound is the exact accuracy", prove, applies=too_large,
                    semantics=("exact-real", "float32"))
